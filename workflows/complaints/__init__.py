"""Complaints (消费投诉): intake, classification, handling and clocks. ``rules`` holds
the state machine and clocks as data, ``state`` every write, ``intake`` and ``handling``
the operations; ``remedies`` (resolutions carried out through claims and payments),
``goodwill`` (a goodwill payout's outcome), ``root_causes`` (溯源整改), ``recovery`` (an
unhappy survey) and ``attachments``; ``JOBS`` the clock sweep."""

from workflows.complaints.handling import JOBS

__all__ = ["JOBS"]
