"""The life of a claim, from the report of a loss (报案) to closure: the only code that
changes a claim's state.

- ``rules``: statuses and their order, who may do what, error codes, regulatory clocks;
- ``state``: the one transition function, row locks and per-action access;
- ``reporting``, ``review``, ``decisions``, ``payee``, ``settlement``, ``archive``: the steps.

Other modules import from here (``from workflows import claims``), never from the parts.
"""

from workflows.claims.archive import archive
from workflows.claims.decisions import (
    DecisionLine,
    approve_pending_decision,
    decide_claim,
    reject_claim,
)
from workflows.claims.payee import change_payee
from workflows.claims.reporting import (
    LossReport,
    checklist_for,
    claim_checklist,
    missing_documents,
    report_loss,
    still_missing,
)
from workflows.claims.review import (
    REOPENABLE,
    add_note,
    assign_claim,
    reopen_review,
    request_more_info,
    submit_claim,
    supplement_documents,
    withdraw_claim,
)
from workflows.claims.rules import (
    DECISION_DUE,
    PAYMENT_DUE,
    REJECTION_NAMES,
    SETTLED,
    STAFF_QUEUE,
    STATUS_NAMES,
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    ClaimRole,
    ClaimWarning,
    PayTo,
    clocks,
    overdue_claims,
    payee_of,
    payee_since,
    roles_of,
    sees_payee,
    timeline_for,
)
from workflows.claims.settlement import close_claim, mark_paid, record_payment
from workflows.claims.state import (
    flag_for_review,
    load_claim,
    lock_claim,
    record_change,
    transition,
)

__all__ = [
    "DECISION_DUE",
    "PAYMENT_DUE",
    "REJECTION_NAMES",
    "REOPENABLE",
    "SETTLED",
    "STAFF_QUEUE",
    "STATUS_NAMES",
    "ClaimAction",
    "ClaimError",
    "ClaimErrorCode",
    "ClaimRole",
    "ClaimWarning",
    "DecisionLine",
    "LossReport",
    "PayTo",
    "add_note",
    "approve_pending_decision",
    "archive",
    "assign_claim",
    "change_payee",
    "checklist_for",
    "claim_checklist",
    "clocks",
    "close_claim",
    "decide_claim",
    "flag_for_review",
    "load_claim",
    "lock_claim",
    "mark_paid",
    "missing_documents",
    "overdue_claims",
    "payee_of",
    "payee_since",
    "record_change",
    "record_payment",
    "reject_claim",
    "reopen_review",
    "report_loss",
    "request_more_info",
    "roles_of",
    "sees_payee",
    "still_missing",
    "submit_claim",
    "supplement_documents",
    "timeline_for",
    "transition",
    "withdraw_claim",
]
