"""Risk signals (发现潜在风险和问题): ``rules`` the kinds, defaults, error codes and
bounds; ``detectors`` what each rule finds (set-based reads); ``signals`` opening signals
and the staff review; ``evaluate`` when they run (outbox events, nightly) and rule edits;
``JOBS`` the two runs."""

from workflows.risk.evaluate import JOBS

__all__ = ["JOBS"]
