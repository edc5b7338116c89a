"""Service commitments (优质服务承诺): promises as data (``rules``), measured per case by
pluggable evaluators (``evaluators``) on the outbox events of claims, complaints and
conversations (``cases``), a broken one remedied with goodwill points and a call back,
summarised for staff (``figures``); the fast track of small claims (``fast_track``); the
staff's edits of the promises (``catalogue``, error codes in ``errors``)."""

from workflows.commitments.cases import (
    JOBS,
    active_commitments,
    cases_of,
    ensure_defaults,
    evaluate_events,
    evaluate_subject,
    sweep,
)
from workflows.commitments.catalogue import CommitmentChange, edit_commitment
from workflows.commitments.errors import CommitmentError, CommitmentErrorCode
from workflows.commitments.evaluators import Context, Verdict, register
from workflows.commitments.fast_track import qualifies

__all__ = [
    "JOBS",
    "CommitmentChange",
    "CommitmentError",
    "CommitmentErrorCode",
    "Context",
    "Verdict",
    "active_commitments",
    "cases_of",
    "edit_commitment",
    "ensure_defaults",
    "evaluate_events",
    "evaluate_subject",
    "qualifies",
    "register",
    "sweep",
]
