"""The rules of a claim's life, as data: which status may follow which, who may do what,
the error codes, and the regulatory clocks (a decision is due 30 days after a complete
submission, payment 10 days after the decision, a rejection notice within 3 days of
deciding to reject). ``overdue_claims`` and ``clocks`` are one definition of "overdue"
for the staff queue's filter and for the clocks shown on a claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from tortoise.expressions import Q

from models.claims import Claim, ClaimEvent, ClaimStatus, RejectionReason, ReportChannel
from workflows.access import Actor, Permission
from workflows.errors import DomainError

S = ClaimStatus
DECISION_DUE = timedelta(days=30)
PAYMENT_DUE = timedelta(days=10)
REJECTION_NOTICE_DUE = timedelta(days=3)
STAFF_QUEUE = "staff:claim-queue"

TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    S.REPORTED: frozenset({S.DOCUMENTS_PENDING, S.SUBMITTED, S.WITHDRAWN}),
    S.DOCUMENTS_PENDING: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.UNDER_REVIEW, S.WITHDRAWN}),
    S.UNDER_REVIEW: frozenset(
        {S.MORE_INFO_REQUESTED, S.APPROVED, S.PARTIALLY_APPROVED, S.REJECTED, S.WITHDRAWN}
    ),
    S.MORE_INFO_REQUESTED: frozenset({S.UNDER_REVIEW, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.PAYING}),
    S.PARTIALLY_APPROVED: frozenset({S.PAYING}),
    # Back to review (``reopen_review``): a decision put right on a complaint, before
    # any money moved.
    S.REJECTED: frozenset({S.CLOSED, S.UNDER_REVIEW}),
    S.PAYING: frozenset({S.PAID, S.UNDER_REVIEW}),
    S.PAID: frozenset({S.CLOSED}),
    S.WITHDRAWN: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Decided with money to pay: the payment clock runs (until paid) from the decision.
PAYABLE = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING, S.PAID, S.CLOSED})
# Decided with money still to pay: the payee is asked where it goes.
AWAITING_ACCOUNT = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING})
# Claims whose money is settled (paid) or will never be owed: no account to choose, no
# payee to change.
SETTLED = frozenset({S.PAID, S.CLOSED, S.WITHDRAWN, S.REJECTED})
CUSTOMER_CHANNELS = frozenset({ReportChannel.APP, ReportChannel.MINI_PROGRAM, ReportChannel.WEB})
STAFF_CHANNELS = frozenset({ReportChannel.PHONE, ReportChannel.COUNTER})

STATUS_NAMES = {
    S.REPORTED: "已报案",
    S.DOCUMENTS_PENDING: "待提交材料",
    S.SUBMITTED: "已提交",
    S.UNDER_REVIEW: "审核中",
    S.MORE_INFO_REQUESTED: "待补充材料",
    S.APPROVED: "审核通过",
    S.PARTIALLY_APPROVED: "部分通过",
    S.REJECTED: "拒赔",
    S.PAYING: "赔款支付中",
    S.PAID: "已支付",
    S.CLOSED: "已结案",
    S.WITHDRAWN: "已撤案",
}
REJECTION_NAMES = {
    RejectionReason.NOT_COVERED: "不属于保险责任",
    RejectionReason.OUTSIDE_POLICY_PERIOD: "事故不在保险期间内",
    RejectionReason.EXCLUSION_APPLIES: "属于责任免除情形",
    RejectionReason.INSUFFICIENT_EVIDENCE: "证明材料不足以确认损失",
    RejectionReason.FRAUD_SUSPECTED: "材料存在重大疑点",
    RejectionReason.BELOW_DEDUCTIBLE: "损失金额未超过免赔额",
}


class ClaimErrorCode(StrEnum):
    POLICY_NOT_FOUND = "POLICY_NOT_FOUND"
    INSURED_PERSON_NOT_FOUND = "INSURED_PERSON_NOT_FOUND"
    NOT_IN_FORCE = "NOT_IN_FORCE"
    LOSS_TYPE_NOT_COVERED = "LOSS_TYPE_NOT_COVERED"
    LOSS_IN_FUTURE = "LOSS_IN_FUTURE"
    LATE_REPORT_REASON_REQUIRED = "LATE_REPORT_REASON_REQUIRED"
    CHANNEL_NOT_ALLOWED = "CHANNEL_NOT_ALLOWED"
    INVALID_PHONE = "INVALID_PHONE"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    CLAIM_NOT_FOUND = "CLAIM_NOT_FOUND"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    CONFLICT = "CONFLICT"
    DOCUMENTS_MISSING = "DOCUMENTS_MISSING"
    MORE_INFO_ALREADY_REQUESTED = "MORE_INFO_ALREADY_REQUESTED"
    INVALID_LINES = "INVALID_LINES"
    NOTHING_APPROVED = "NOTHING_APPROVED"
    NO_PENDING_DECISION = "NO_PENDING_DECISION"
    NOT_AN_ADJUSTER = "NOT_AN_ADJUSTER"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    TOO_MANY_FILES = "TOO_MANY_FILES"
    INVALID_CHECKLIST_ITEM = "INVALID_CHECKLIST_ITEM"
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    NOT_A_PDF = "NOT_A_PDF"
    TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
    CORRUPT_IMAGE = "CORRUPT_IMAGE"
    NOT_ALLOWED = "NOT_ALLOWED"
    PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
    PAYOUT_ACCOUNT_MISSING = "PAYOUT_ACCOUNT_MISSING"
    PAYOUT_IN_PROGRESS = "PAYOUT_IN_PROGRESS"
    NO_PENDING_PAYOUT = "NO_PENDING_PAYOUT"
    SECOND_PERSON_REQUIRED = "SECOND_PERSON_REQUIRED"
    INVALID_CARD_NUMBER = "INVALID_CARD_NUMBER"
    ACCOUNT_NAME_MISMATCH = "ACCOUNT_NAME_MISMATCH"  # claim money goes to the payee's own
    SHARE_NOT_FOUND = "SHARE_NOT_FOUND"
    PAYEE_HAS_NO_ACCOUNT = "PAYEE_HAS_NO_ACCOUNT"
    PAYEE_UNCHANGED = "PAYEE_UNCHANGED"
    PAYEE_NAME_REQUIRED = "PAYEE_NAME_REQUIRED"  # WeChat from 2,000 yuan: the real name
    PRODUCT_NOT_FILED = "PRODUCT_NOT_FILED"  # WeChat reports the product's filing number


class ClaimError(DomainError):
    codes = ClaimErrorCode


class ClaimAction(StrEnum):
    """Everything anyone does to a claim; each names who may do it in the tables below."""

    VIEW = "VIEW"
    SUBMIT = "SUBMIT"
    WITHDRAW = "WITHDRAW"
    SUPPLEMENT = "SUPPLEMENT"
    UPLOAD_DOCUMENTS = "UPLOAD_DOCUMENTS"
    CHOOSE_PAYOUT_ACCOUNT = "CHOOSE_PAYOUT_ACCOUNT"
    CHANGE_PAYEE = "CHANGE_PAYEE"  # staff say whose money it is (see STAFF_MAY)
    ASSIGN = "ASSIGN"
    REQUEST_INFO = "REQUEST_INFO"
    ADD_NOTE = "ADD_NOTE"
    DECIDE = "DECIDE"
    APPROVE_DECISION = "APPROVE_DECISION"
    REJECT = "REJECT"
    RECORD_PAYMENT = "RECORD_PAYMENT"
    START_PAYOUT = "START_PAYOUT"
    APPROVE_PAYOUT = "APPROVE_PAYOUT"  # four eyes: another account than the payee's
    CLOSE = "CLOSE"
    ARCHIVE = "ARCHIVE"


class ClaimRole(StrEnum):
    """What a customer is to a claim they can see."""

    CLAIMANT = "CLAIMANT"  # reported it: submits, withdraws, supplements, uploads
    HOLDER = "HOLDER"  # holds the policy the claim is on (sees it; acts as claimant or payee)
    PAYEE = "PAYEE"  # the money is theirs: the insured, or the holder for a minor


class PayTo(StrEnum):
    """Whom staff may make a claim's payee: people the policy names, never anyone else."""

    INSURED = "INSURED"  # the claim's insured person, through their linked account
    POLICYHOLDER = "POLICYHOLDER"  # the policy's holder


A = ClaimAction
CUSTOMER_MAY: dict[ClaimAction, frozenset[ClaimRole]] = {
    A.VIEW: frozenset({ClaimRole.CLAIMANT, ClaimRole.HOLDER, ClaimRole.PAYEE}),
    A.SUBMIT: frozenset({ClaimRole.CLAIMANT}),
    A.WITHDRAW: frozenset({ClaimRole.CLAIMANT}),
    A.SUPPLEMENT: frozenset({ClaimRole.CLAIMANT}),
    A.UPLOAD_DOCUMENTS: frozenset({ClaimRole.CLAIMANT}),
    # Whose money it is says where it goes: never whoever else reported or holds it.
    A.CHOOSE_PAYOUT_ACCOUNT: frozenset({ClaimRole.PAYEE}),
}
STAFF_MAY: dict[ClaimAction, Permission] = {
    A.VIEW: Permission.CLAIM_READ,
    A.UPLOAD_DOCUMENTS: Permission.CLAIM_REPORT,  # documents brought to the counter
    A.SUBMIT: Permission.CLAIM_REPORT,  # for the customer, with their consent recorded
    A.ASSIGN: Permission.CLAIM_ASSIGN,
    A.REQUEST_INFO: Permission.CLAIM_REVIEW,
    A.ADD_NOTE: Permission.CLAIM_REVIEW,
    A.DECIDE: Permission.CLAIM_REVIEW,
    A.APPROVE_DECISION: Permission.CLAIM_APPROVE_ABOVE_LIMIT,
    A.REJECT: Permission.CLAIM_REVIEW,
    A.RECORD_PAYMENT: Permission.CLAIM_PAY,
    A.START_PAYOUT: Permission.CLAIM_PAY,
    A.APPROVE_PAYOUT: Permission.CLAIM_PAY,  # and never the proposer (payouts workflow)
    # Whose money it is decides where it goes: those who may send it, not those who
    # decide the amount (an adjuster cannot steer what they approved).
    A.CHANGE_PAYEE: Permission.CLAIM_PAY,
    A.CLOSE: Permission.CLAIM_REVIEW,
    A.ARCHIVE: Permission.CLAIM_READ,
}


# Timeline steps that name the payee's account, who the payee is or staff's reasons about
# either: the payee's and staff's to read, not a claimant's or policyholder's who is not
# the payee (see ``timeline_for``).
PAYEE_STEPS = frozenset(
    {
        "choose_payout_account",
        "propose_payout",
        "approve_payout",
        "cancel_payout",
        "send_payout",
        "share_paid",
        "change_payee",
    }
)


def payee_of(claim: Claim) -> uuid.UUID | None:
    """Whom the claim's money is for: its payee; the claimant on claims that name no
    insured person (from before payees); None while staff find out (then staff choose
    where the money goes, four eyes, as for any account the payee did not choose), and
    for a claim paid to beneficiaries in shares (each share has its own payee)."""
    if claim.payee_id is not None or claim.pays_shares:
        return claim.payee_id
    return claim.customer_id if claim.insured_person_id is None else None


def split_by_shares(amount: Decimal, percents: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` split by ``percents`` to the fen, each part rounded down and what is
    left (a few fen at most) to the first: the parts always add up to ``amount``."""
    total = sum(percents, Decimal(0))
    if not percents or total <= 0:
        return []
    fen = Decimal("0.01")
    parts = [(amount * p / total).quantize(fen, rounding=ROUND_DOWN) for p in percents]
    parts[0] += amount - sum(parts, Decimal(0))
    return parts


def roles_of(
    actor: Actor,
    claim: Claim,
    holder_id: uuid.UUID | None,
    share_payees: Collection[uuid.UUID | None] = (),
) -> frozenset[ClaimRole]:
    """What a customer is to ``claim`` (``holder_id``: its policy's holder;
    ``share_payees``: the customers its shares are paid to); nothing for staff. Pure, so
    a page of claims needs no query per claim."""
    if not actor.is_customer or actor.subject_id is None:
        return frozenset()
    roles = set()
    if claim.customer_id == actor.subject_id:
        roles.add(ClaimRole.CLAIMANT)
    if payee_of(claim) == actor.subject_id or actor.subject_id in share_payees:
        roles.add(ClaimRole.PAYEE)
    if holder_id == actor.subject_id:
        roles.add(ClaimRole.HOLDER)
    return frozenset(roles)


def sees_payee(actor: Actor, claim: Claim) -> bool:
    """Whether ``actor`` may see where the claim's money goes: staff and the payee."""
    payee = payee_of(claim)
    return actor.is_staff or (actor.is_customer and payee is not None and actor.subject_id == payee)


def payee_since(events: Iterable[ClaimEvent]) -> datetime | None:
    """When the claim's payee became its payee: its last ``change_payee`` step (None:
    since the report). The accounts and payouts before it were a former payee's."""
    return max((e.created_at for e in events if e.action == "change_payee"), default=None)


def timeline_for(actor: Actor, claim: Claim, events: Sequence[ClaimEvent]) -> list[ClaimEvent]:
    """The steps of ``events`` (the claim's, oldest first) ``actor`` may read: every one
    for staff; those naming the payee or their account (``PAYEE_STEPS``) only for the
    payee, and only since they became the payee, so a new payee never reads the former
    one's account. Pure, so a page of claims needs no query per claim."""
    if actor.is_staff:
        return list(events)
    if not sees_payee(actor, claim):
        return [e for e in events if e.action not in PAYEE_STEPS]
    since = payee_since(events)
    return [
        e for e in events if e.action not in PAYEE_STEPS or since is None or e.created_at >= since
    ]


class ClaimWarning(StrEnum):
    """Accepted, but flagged: staff see it, and the customer is told where relevant."""

    LATE_REPORT = "LATE_REPORT"
    POSSIBLE_DUPLICATE = "POSSIBLE_DUPLICATE"


@dataclass
class Clocks:
    decision_due_at: datetime | None = None
    payment_due_at: datetime | None = None
    rejection_notice_due_at: datetime | None = None
    overdue: list[str] = field(default_factory=list)


def utc_now() -> datetime:
    return datetime.now(UTC)


def required_text(value: str, field_name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ClaimError(ClaimErrorCode.REQUIRED, "此项为必填项", field_name)
    if len(value) > limit:
        raise ClaimError(ClaimErrorCode.TOO_LONG, f"不能超过{limit}个字", field_name)
    return value


def clocks(claim: Claim, now: datetime | None = None) -> Clocks:
    now = now or utc_now()
    result = Clocks()
    if claim.submitted_at is not None:
        result.decision_due_at = claim.submitted_at + DECISION_DUE
        undecided = claim.decided_at is None and claim.status not in (S.WITHDRAWN, S.CLOSED)
        if undecided and now > result.decision_due_at:
            result.overdue.append("DECISION")
    if claim.decided_at is not None and claim.status in PAYABLE and claim.approved_amount > 0:
        result.payment_due_at = claim.decided_at + PAYMENT_DUE
        if claim.paid_at is None and now > result.payment_due_at:
            result.overdue.append("PAYMENT")
    if claim.status is S.REJECTED or claim.rejection_reason is not None:
        assert claim.decided_at is not None
        result.rejection_notice_due_at = claim.decided_at + REJECTION_NOTICE_DUE
    return result


def overdue_claims(now: datetime | None = None) -> Q:
    """Claims with a clock run out: the filter form of ``clocks(claim).overdue``."""
    now = now or utc_now()
    decision = Q(
        submitted_at__lt=now - DECISION_DUE,
        decided_at=None,
        status__not_in=[S.WITHDRAWN, S.CLOSED],
    )
    payment = Q(
        decided_at__lt=now - PAYMENT_DUE,
        paid_at=None,
        approved_amount__gt=0,
        status__in=list(PAYABLE),
    )
    return decision | payment
