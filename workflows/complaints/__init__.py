"""Complaints (消费投诉): intake, classification, handling and clocks. ``rules`` holds
the state machine and clocks as data, ``state`` every write, ``intake`` and ``handling``
the operations; ``JOBS`` the clock sweep."""

from workflows.complaints.handling import JOBS

__all__ = ["JOBS"]
