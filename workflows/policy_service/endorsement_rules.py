"""The rules of an endorsement's life (批单), as data: which status may follow which,
the names shown to customers, the error codes, and the bounds of every input.

REQUESTED → (NEEDS_REVIEW) → APPROVED → EFFECTIVE, or REJECTED by staff; CANCELLED by
the customer before approval. REQUESTED waits for the insured's consent when the law
asks for it (a beneficiary change by a holder who is not the insured); NEEDS_REVIEW is
the staff queue (POLICY_SERVICE); APPROVED waits for what makes it effective (applied at
once, or a premium paid).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from models.endorsements import EndorsementStatus, EndorsementType
from workflows.errors import DomainError

S = EndorsementStatus
STAFF_QUEUE = "staff:policy-service-queue"
MAX_BENEFICIARIES = 10
NAME_LIMIT = 64
REASON_LIMIT = 500
HUNDRED = Decimal("100")

TRANSITIONS: dict[EndorsementStatus, frozenset[EndorsementStatus]] = {
    S.REQUESTED: frozenset({S.NEEDS_REVIEW, S.APPROVED, S.REJECTED, S.CANCELLED, S.EXPIRED}),
    S.NEEDS_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    S.APPROVED: frozenset({S.EFFECTIVE, S.EXPIRED}),
    S.EFFECTIVE: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
# Not ended: the policy's open change of its type (``open_key``) is held.
OPEN = frozenset({S.REQUESTED, S.NEEDS_REVIEW, S.APPROVED})
# The customer may still withdraw it.
CANCELLABLE = frozenset({S.REQUESTED, S.NEEDS_REVIEW})

STATUS_NAMES = {
    S.REQUESTED: "已申请",
    S.NEEDS_REVIEW: "待审核",
    S.APPROVED: "已批准",
    S.EFFECTIVE: "已生效",
    S.REJECTED: "未通过",
    S.CANCELLED: "已撤销",
    S.EXPIRED: "已失效",
}
TYPE_NAMES = {
    EndorsementType.BENEFICIARIES: "变更受益人",
    EndorsementType.SURRENDER: "退保",
    EndorsementType.CONTACT: "变更联系方式",
    EndorsementType.PAYMENT_FREQUENCY: "变更缴费方式",
    EndorsementType.REINSTATEMENT: "保单复效",
    EndorsementType.INSURED_MEMBER: "增加被保险人",
    EndorsementType.SUM_INSURED: "变更保额",
    EndorsementType.MEMBER_REMOVAL: "减少被保险人",
    EndorsementType.PAYMENT_ACCOUNT: "变更缴费/领款账户",
}
# Outbox event per step; the customer is told through push/templates.py.
EVENTS = {
    S.REQUESTED: "endorsement.requested",
    S.NEEDS_REVIEW: "endorsement.needs_review",
    S.APPROVED: "endorsement.approved",
    S.EFFECTIVE: "endorsement.effective",
    S.REJECTED: "endorsement.rejected",
    S.CANCELLED: "endorsement.cancelled",
    S.EXPIRED: "endorsement.expired",
}
RELATIONS = frozenset({"SPOUSE", "CHILD", "PARENT", "OTHER"})


class EndorsementErrorCode(StrEnum):
    POLICY_NOT_FOUND = "POLICY_NOT_FOUND"
    ENDORSEMENT_NOT_FOUND = "ENDORSEMENT_NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"  # e.g. only the holder asks for a change
    ONE_CHANGE_REQUIRED = "ONE_CHANGE_REQUIRED"  # exactly one sub-input
    POLICY_NOT_IN_FORCE = "POLICY_NOT_IN_FORCE"
    CHANGE_PENDING = "CHANGE_PENDING"  # an open change of this type exists
    CONFLICT = "CONFLICT"  # stale expectedVersion, or someone else acted first
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    INVALID_ID_NUMBER = "INVALID_ID_NUMBER"
    INVALID_RELATION = "INVALID_RELATION"
    SHARES_NOT_100 = "SHARES_NOT_100"
    INVALID_SHARE = "INVALID_SHARE"
    CONSENT_NOT_REQUIRED = "CONSENT_NOT_REQUIRED"
    NO_SURRENDER_VALUE = "NO_SURRENDER_VALUE"
    AMOUNT_CHANGED = "AMOUNT_CHANGED"  # the confirmed surrender value is not the quote's
    COOLING_OFF = "COOLING_OFF"  # within 犹豫期: the cancellation refunds everything
    INVALID_ACCOUNT = "INVALID_ACCOUNT"
    PROVIDER_NOT_CONFIGURED = "PROVIDER_NOT_CONFIGURED"
    SMS_CODE_INVALID = "SMS_CODE_INVALID"  # the new phone's code: wrong, expired, missing
    INVALID_EMAIL = "INVALID_EMAIL"
    PHONE_TAKEN = "PHONE_TAKEN"  # another account logs in with that phone
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"  # e.g. the same frequency, nothing unpaid
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"  # an installment to re-cut has an open order
    REINSTATEMENT_PERIOD_OVER = "REINSTATEMENT_PERIOD_OVER"
    NOT_FAMILY_POLICY = "NOT_FAMILY_POLICY"
    SUM_INSURED_NOT_ADJUSTABLE = "SUM_INSURED_NOT_ADJUSTABLE"  # the product has no limits
    SUM_INSURED_OUT_OF_RANGE = "SUM_INSURED_OUT_OF_RANGE"  # outside the product's limits
    BELOW_AMOUNT_PAID = "BELOW_AMOUNT_PAID"  # a coverage would fall under what it paid
    REFUND_NOT_POSSIBLE = "REFUND_NOT_POSSIBLE"  # the premium was not paid online
    INSURED_PERSON_NOT_FOUND = "INSURED_PERSON_NOT_FOUND"
    MAIN_INSURED = "MAIN_INSURED"  # the policy's main insured is not removed
    OPEN_CLAIM = "OPEN_CLAIM"  # the member has a claim not yet settled
    NO_AGREEMENT_ON_FILE = "NO_AGREEMENT_ON_FILE"  # auto-renewal needs a withholding agreement
    NOT_RENEWABLE = "NOT_RENEWABLE"  # auto-renewal: the product or the policy does not renew


class EndorsementError(DomainError):
    codes = EndorsementErrorCode
