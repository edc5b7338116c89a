"""The life of a claim, from the report of a loss (报案) to closure: the only code that
changes a claim's state.

Every transition is checked against ``TRANSITIONS``, made by a conditional update on the
status and version the caller saw (two adjusters acting at once: one wins, the other
gets ``CONFLICT``), and writes a timeline event and an outbox event in the same
transaction.

Regulatory clocks (shown on the claim, checked by staff queries): a decision is due 30
days after a complete submission, payment 10 days after the decision, a rejection notice
within 3 days of deciding to reject (sent at once here).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.claims import (
    Claim,
    ClaimDocument,
    ClaimEvent,
    ClaimLine,
    ClaimStatus,
    DailySequence,
    InvestigationNote,
    RejectionReason,
    ReportChannel,
)
from models.clock import local_date
from models.ids import global_id
from models.payments import Payout
from models.pii import PHONE_PATTERN, normalize_phone
from models.policies import Coverage, Policy, PolicyStatus
from models.staff import StaffRole, StaffUser
from push.outbox import emit
from workflows import surveys
from workflows.access import Actor, Permission, visible_claims, visible_policies
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
    S.REJECTED: frozenset({S.CLOSED}),
    S.PAYING: frozenset({S.PAID}),
    S.PAID: frozenset({S.CLOSED}),
    S.WITHDRAWN: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
DECIDED = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.REJECTED})
CUSTOMER_CHANNELS = frozenset({ReportChannel.APP, ReportChannel.MINI_PROGRAM, ReportChannel.WEB})

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
    ASSIGN = "ASSIGN"
    REQUEST_INFO = "REQUEST_INFO"
    ADD_NOTE = "ADD_NOTE"
    DECIDE = "DECIDE"
    APPROVE_DECISION = "APPROVE_DECISION"
    REJECT = "REJECT"
    RECORD_PAYMENT = "RECORD_PAYMENT"
    START_PAYOUT = "START_PAYOUT"
    APPROVE_PAYOUT = "APPROVE_PAYOUT"  # four eyes: another account than the claimant's
    CLOSE = "CLOSE"
    ARCHIVE = "ARCHIVE"


class ClaimRole(StrEnum):
    """What a customer is to a claim they can see."""

    CLAIMANT = "CLAIMANT"  # reported it, and is paid by it
    HOLDER = "HOLDER"  # holds the policy the claim is on (sees it, acts only as claimant)


A = ClaimAction
CUSTOMER_MAY: dict[ClaimAction, frozenset[ClaimRole]] = {
    A.VIEW: frozenset({ClaimRole.CLAIMANT, ClaimRole.HOLDER}),
    A.SUBMIT: frozenset({ClaimRole.CLAIMANT}),
    A.WITHDRAW: frozenset({ClaimRole.CLAIMANT}),
    A.SUPPLEMENT: frozenset({ClaimRole.CLAIMANT}),
    A.UPLOAD_DOCUMENTS: frozenset({ClaimRole.CLAIMANT}),
    # Whose money it is says where it goes: never the holder of someone else's claim.
    A.CHOOSE_PAYOUT_ACCOUNT: frozenset({ClaimRole.CLAIMANT}),
}
STAFF_MAY: dict[ClaimAction, Permission] = {
    A.VIEW: Permission.CLAIM_READ,
    A.UPLOAD_DOCUMENTS: Permission.CLAIM_REPORT,  # documents brought to the counter
    A.ASSIGN: Permission.CLAIM_ASSIGN,
    A.REQUEST_INFO: Permission.CLAIM_REVIEW,
    A.ADD_NOTE: Permission.CLAIM_REVIEW,
    A.DECIDE: Permission.CLAIM_REVIEW,
    A.APPROVE_DECISION: Permission.CLAIM_APPROVE_ABOVE_LIMIT,
    A.REJECT: Permission.CLAIM_REVIEW,
    A.RECORD_PAYMENT: Permission.CLAIM_PAY,
    A.START_PAYOUT: Permission.CLAIM_PAY,
    A.APPROVE_PAYOUT: Permission.CLAIM_PAY,  # and never the proposer (payouts workflow)
    A.CLOSE: Permission.CLAIM_REVIEW,
    A.ARCHIVE: Permission.CLAIM_READ,
}


class ClaimWarning(StrEnum):
    """Accepted, but flagged: staff see it, and the customer is told where relevant."""

    LATE_REPORT = "LATE_REPORT"
    POSSIBLE_DUPLICATE = "POSSIBLE_DUPLICATE"


@dataclass(frozen=True)
class LossReport:
    policy_id: uuid.UUID
    loss_type: str
    loss_at: datetime
    location: str
    description: str
    channel: ReportChannel
    contact_name: str
    contact_phone: str
    late_reason: str | None = None


@dataclass
class ReportOutcome:
    claim: Claim | None  # None for a dry run
    warnings: list[ClaimWarning]
    checklist: list[dict[str, Any]]
    confirmation: str
    next_steps: list[str]


@dataclass(frozen=True)
class DecisionLine:
    coverage_id: uuid.UUID
    claimed_amount: Decimal
    approved_amount: Decimal
    reason: str


@dataclass
class Clocks:
    decision_due_at: datetime | None = None
    payment_due_at: datetime | None = None
    rejection_notice_due_at: datetime | None = None
    overdue: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _required(value: str, field_name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ClaimError(ClaimErrorCode.REQUIRED, "此项为必填项", field_name)
    if len(value) > limit:
        raise ClaimError(ClaimErrorCode.TOO_LONG, f"不能超过{limit}个字", field_name)
    return value


def clocks(claim: Claim, now: datetime | None = None) -> Clocks:
    now = now or _now()
    result = Clocks()
    if claim.submitted_at is not None:
        result.decision_due_at = claim.submitted_at + DECISION_DUE
        undecided = claim.decided_at is None and claim.status not in (S.WITHDRAWN, S.CLOSED)
        if undecided and now > result.decision_due_at:
            result.overdue.append("DECISION")
    if (
        claim.decided_at is not None
        and claim.status in (S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING, S.PAID, S.CLOSED)
        and claim.approved_amount > 0
    ):
        result.payment_due_at = claim.decided_at + PAYMENT_DUE
        if claim.paid_at is None and now > result.payment_due_at:
            result.overdue.append("PAYMENT")
    if claim.status is S.REJECTED or claim.rejection_reason is not None:
        assert claim.decided_at is not None
        result.rejection_notice_due_at = claim.decided_at + REJECTION_NOTICE_DUE
    return result


def _payload(claim: Claim, **extra: Any) -> dict[str, Any]:
    """Display values for notifications: numbers and amounts, never personal data."""
    return {
        "claim_id": global_id("Claim", claim.id),
        "claim_number": claim.report_number,
        "report_number": claim.report_number,
        "status": str(claim.status),
        "_staff_channels": [STAFF_QUEUE],
        **extra,
    }


async def next_number(prefix: str, now: datetime | None = None) -> str:
    """``BA20261129000042``: readable, unique, per-day sequence (Asia/Shanghai)."""
    day = local_date(now or _now()).strftime("%Y%m%d")
    with contextlib.suppress(IntegrityError):  # created concurrently: fine
        await DailySequence.get_or_create(prefix=prefix, day=day)
    async with in_transaction():  # the update holds the row until commit
        await DailySequence.filter(prefix=prefix, day=day).update(value=F("value") + 1)
        row = await DailySequence.get(prefix=prefix, day=day)
    return f"{prefix}{day}{row.value:06d}"


# ---------------------------------------------------------------- reporting a loss


async def _reportable_policy(actor: Actor, policy_id: uuid.UUID) -> Policy:
    policy = await visible_policies(actor).filter(id=policy_id).select_related("product").first()
    if policy is None:
        raise ClaimError(ClaimErrorCode.POLICY_NOT_FOUND, "未找到该保单", "policyId")
    return policy


def _loss_type(policy: Policy, code: str) -> dict[str, Any]:
    for loss_type in policy.product.loss_types:
        if loss_type["code"] == code:
            return loss_type
    raise ClaimError(ClaimErrorCode.LOSS_TYPE_NOT_COVERED, "该保单不承保此类事故", "lossType")


def checklist_of(loss_type: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(document) for document in loss_type.get("documents", [])]


async def report_loss(
    services: Services,
    actor: Actor,
    report: LossReport,
    *,
    on_behalf_of: uuid.UUID | None = None,
    dry_run: bool = False,
) -> ReportOutcome:
    """Check a report and, unless ``dry_run``, record it. Customers report through the
    app, mini-program or web; staff with CLAIM_REPORT record phone and counter reports
    for the customer named in ``on_behalf_of``."""
    now = _now()
    if actor.is_customer:
        if report.channel not in CUSTOMER_CHANNELS:
            raise ClaimError(
                ClaimErrorCode.CHANNEL_NOT_ALLOWED, "电话和柜面报案需由工作人员受理", "channel"
            )
        claimant = actor.subject_id
        policy = await _reportable_policy(actor, report.policy_id)
    else:
        if report.channel in CUSTOMER_CHANNELS:
            raise ClaimError(
                ClaimErrorCode.CHANNEL_NOT_ALLOWED, "工作人员只能受理电话或柜面报案", "channel"
            )
        if on_behalf_of is None:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请选择报案客户", "customerId")
        if not actor.can(Permission.CLAIM_REPORT):
            raise ClaimError(ClaimErrorCode.CHANNEL_NOT_ALLOWED, "没有代客报案的权限", "channel")
        claimant = on_behalf_of
        # The policy must be one the customer may claim on.
        policy = await _reportable_policy(
            Actor(kind=SubjectKind.CUSTOMER, subject_id=on_behalf_of), report.policy_id
        )
    assert claimant is not None
    loss_type = _loss_type(policy, report.loss_type)
    loss_at = report.loss_at.astimezone(UTC)
    if loss_at > now + timedelta(minutes=5):
        raise ClaimError(ClaimErrorCode.LOSS_IN_FUTURE, "出险时间不能晚于当前时间", "lossAt")
    in_force = policy.status in (PolicyStatus.ACTIVE, PolicyStatus.EXPIRED)
    if not (in_force and policy.starts_at <= loss_at <= policy.ends_at):
        raise ClaimError(ClaimErrorCode.NOT_IN_FORCE, "出险时保单不在有效保障期内", "lossAt")
    location = _required(report.location, "location", 255)
    description = _required(report.description, "description", 2000)
    contact_name = _required(report.contact_name, "contactName", 64)
    phone = normalize_phone(report.contact_phone)
    if not PHONE_PATTERN.match(phone):
        raise ClaimError(ClaimErrorCode.INVALID_PHONE, "请输入正确的联系电话", "contactPhone")
    warnings: list[ClaimWarning] = []
    late = now - loss_at > timedelta(hours=policy.product.report_time_limit_hours)
    late_reason = (report.late_reason or "").strip() or None
    if late:
        if late_reason is None:
            limit = policy.product.report_time_limit_hours
            raise ClaimError(
                ClaimErrorCode.LATE_REPORT_REASON_REQUIRED,
                f"已超过报案时限（{limit}小时），请说明延迟报案的原因",
                "lateReason",
            )
        warnings.append(ClaimWarning.LATE_REPORT)
    duplicate = (
        await Claim.filter(
            policy_id=policy.id,
            loss_type=report.loss_type,
            loss_at__gte=loss_at - timedelta(hours=12),
            loss_at__lte=loss_at + timedelta(hours=12),
        )
        .exclude(status=S.WITHDRAWN)
        .exists()
    )
    if duplicate:
        warnings.append(ClaimWarning.POSSIBLE_DUPLICATE)
    checklist = checklist_of(loss_type)
    next_steps = [
        "请在“我的理赔”中按清单上传理赔材料",
        "材料齐全后提交理赔申请，我们将在30日内作出核定",
        "如需帮助请致电客服热线95500",
    ]
    if dry_run:
        return ReportOutcome(None, warnings, checklist, "", next_steps)
    sealed = services.pii.seal_phone(phone)
    number = await next_number("BA", now)
    async with in_transaction():
        claim = await Claim.create(
            report_number=number,
            policy_id=policy.id,
            customer_id=claimant,
            loss_type=report.loss_type,
            loss_at=loss_at,
            loss_location=location,
            description=description,
            channel=report.channel,
            contact_name=contact_name,
            contact_phone_encrypted=sealed.encrypted,
            contact_phone_masked=sealed.masked,
            status=S.REPORTED,
            late_report=late,
            late_reason=late_reason if late else None,
            possible_duplicate=duplicate,
        )
        await _record(claim, actor, "report", None, S.REPORTED, "报案已受理")
        await emit(
            "claim.reported",
            entity_type="claim",
            entity_id=claim.id,
            customer_id=claim.customer_id,
            payload=_payload(claim),
        )
        if any(document["required"] for document in checklist):
            await Claim.filter(id=claim.id).update(status=S.DOCUMENTS_PENDING)
            claim.status = S.DOCUMENTS_PENDING
            missing = "、".join(d["name"] for d in checklist if d["required"])
            await _record(
                claim,
                None,
                "await_documents",
                S.REPORTED,
                S.DOCUMENTS_PENDING,
                f"请上传：{missing}",
            )
    confirmation = f"您的报案已受理，报案号{number}。" + (
        "因超过报案时限，我们会结合您说明的原因处理。" if late else ""
    )
    return ReportOutcome(claim, warnings, checklist, confirmation, next_steps)


# ---------------------------------------------------------------- transitions


async def _record(
    claim: Claim,
    actor: Actor | None,
    action: str,
    from_status: ClaimStatus | None,
    to_status: ClaimStatus,
    note: str,
) -> None:
    await ClaimEvent.create(
        claim_id=claim.id,
        actor_kind=str(actor.kind) if actor and actor.kind else "system",
        actor_id=actor.subject_id if actor else None,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


async def claim_roles(actor: Actor, claim: Claim) -> frozenset[ClaimRole]:
    """What the calling customer is to ``claim`` (nothing for staff)."""
    if not actor.is_customer or actor.subject_id is None:
        return frozenset()
    roles = set()
    if claim.customer_id == actor.subject_id:
        roles.add(ClaimRole.CLAIMANT)
    if await Policy.exists(id=claim.policy_id, holder_id=actor.subject_id):
        roles.add(ClaimRole.HOLDER)
    return frozenset(roles)


async def may(actor: Actor, claim: Claim, action: ClaimAction) -> bool:
    """The rule tables above, for one caller, claim and action."""
    if actor.is_customer:
        return bool(CUSTOMER_MAY.get(action, frozenset()) & await claim_roles(actor, claim))
    permission = STAFF_MAY.get(action)
    return actor.is_staff and permission is not None and actor.can(permission)


async def load_claim(actor: Actor, claim_id: uuid.UUID, action: ClaimAction) -> Claim:
    """The claim, if ``actor`` may see it (else NOT_FOUND, as if it did not exist) and
    may take ``action`` on it (else NOT_ALLOWED)."""
    claim = await visible_claims(actor).filter(id=claim_id).first()
    if claim is None:
        raise ClaimError(ClaimErrorCode.CLAIM_NOT_FOUND, "未找到该理赔案件", "claimId")
    if not await may(actor, claim, action):
        raise ClaimError(ClaimErrorCode.NOT_ALLOWED, "只有理赔申请人本人可以进行此操作", "claimId")
    return claim


async def _move(
    claim: Claim,
    to: ClaimStatus,
    actor: Actor | None,
    *,
    action: str,
    note: str,
    expected_version: int | None = None,
    event_type: str = "claim.updated",
    event_extra: dict[str, Any] | None = None,
    **updates: Any,
) -> Claim:
    """One transition: legal, not stale, recorded on the timeline and in the outbox."""
    # A stale version first: someone else acted since this caller looked (a conflict),
    # even if that action also made this one illegal.
    if expected_version is not None and expected_version != claim.version:
        raise _conflict()
    if to not in TRANSITIONS[claim.status]:
        raise ClaimError(
            ClaimErrorCode.ILLEGAL_TRANSITION,
            f"当前状态（{STATUS_NAMES[claim.status]}）不能进行此操作",
        )
    from_status = claim.status
    async with in_transaction():
        changed = await Claim.filter(id=claim.id, status=from_status, version=claim.version).update(
            status=to, version=F("version") + 1, **updates
        )
        if not changed:
            raise _conflict()
        await claim.refresh_from_db()
        await _record(claim, actor, action, from_status, to, note)
        await emit(
            event_type,
            entity_type="claim",
            entity_id=claim.id,
            customer_id=claim.customer_id,
            payload=_payload(claim, **(event_extra or {})),
        )
    return claim


async def record_change(
    claim: Claim,
    actor: Actor | None,
    action: str,
    note: str,
    *,
    event_type: str | None = None,
    event_extra: dict[str, Any] | None = None,
) -> None:
    """A change that keeps the status (a payout account chosen, a payout proposed) on the
    timeline, and announced to the claimant when ``event_type`` is given: in the
    caller's transaction, or in one of its own."""
    async with in_transaction():
        await _record(claim, actor, action, claim.status, claim.status, note)
        if event_type is not None:
            await emit(
                event_type,
                entity_type="claim",
                entity_id=claim.id,
                customer_id=claim.customer_id,
                payload=_payload(claim, **(event_extra or {})),
            )


def _conflict() -> ClaimError:
    return ClaimError(
        ClaimErrorCode.CONFLICT, "该案件已被他人更新，请刷新后重试", "expectedVersion"
    )


async def missing_documents(claim: Claim, checklist: list[dict[str, Any]]) -> list[str]:
    """Required checklist items with no document yet."""
    provided = set(
        await ClaimDocument.filter(claim_id=claim.id).values_list("checklist_code", flat=True)
    )
    return [d["name"] for d in checklist if d["required"] and d["code"] not in provided]


async def claim_checklist(claim: Claim) -> list[dict[str, Any]]:
    policy = await Policy.get(id=claim.policy_id).select_related("product")
    for loss_type in policy.product.loss_types:
        if loss_type["code"] == claim.loss_type:
            return checklist_of(loss_type)
    return []


async def submit_claim(actor: Actor, claim_id: uuid.UUID, explanation: str | None) -> Claim:
    """The customer submits: with the checklist complete, or explaining what is missing."""
    claim = await load_claim(actor, claim_id, A.SUBMIT)
    missing = await missing_documents(claim, await claim_checklist(claim))
    explanation = (explanation or "").strip() or None
    if missing and explanation is None:
        raise ClaimError(
            ClaimErrorCode.DOCUMENTS_MISSING,
            f"还缺少：{'、'.join(missing)}。请补齐材料，或说明暂时无法提供的原因",
            "explanation",
        )
    return await _move(
        claim,
        S.SUBMITTED,
        actor,
        action="submit",
        note="理赔申请已提交，等待审核",
        submitted_at=_now(),
        missing_documents_explanation=explanation,
    )


async def withdraw_claim(actor: Actor, claim_id: uuid.UUID, reason: str | None) -> Claim:
    claim = await load_claim(actor, claim_id, A.WITHDRAW)
    note = "客户已撤案" + (f"：{reason.strip()}" if reason and reason.strip() else "")
    return await _move(claim, S.WITHDRAWN, actor, action="withdraw", note=note)


async def supplement_documents(actor: Actor, claim_id: uuid.UUID, note: str) -> Claim:
    """The customer answers a request for more information; review resumes."""
    claim = await load_claim(actor, claim_id, A.SUPPLEMENT)
    text = _required(note, "note", 2000)
    return await _move(
        claim, S.UNDER_REVIEW, actor, action="supplement", note=f"客户已补充：{text}"
    )


# ---------------------------------------------------------------- staff


async def assign_claim(
    actor: Actor, claim_id: uuid.UUID, adjuster_id: uuid.UUID, expected_version: int
) -> Claim:
    """Give a submitted claim to an adjuster; review starts."""
    claim = await load_claim(actor, claim_id, A.ASSIGN)
    adjuster = await StaffUser.get_or_none(id=adjuster_id, is_active=True)
    if adjuster is None or adjuster.role not in (StaffRole.ADJUSTER, StaffRole.SUPERVISOR):
        raise ClaimError(ClaimErrorCode.NOT_AN_ADJUSTER, "请选择理赔人员", "adjusterId")
    if claim.status is S.SUBMITTED:
        return await _move(
            claim,
            S.UNDER_REVIEW,
            actor,
            action="assign",
            note="案件已进入审核",
            expected_version=expected_version,
            assignee_id=adjuster.id,
        )
    if claim.status not in (S.UNDER_REVIEW, S.MORE_INFO_REQUESTED):
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "当前状态不能分配案件")
    if expected_version != claim.version:
        raise _conflict()
    changed = await Claim.filter(id=claim.id, version=claim.version).update(
        assignee_id=adjuster.id, version=F("version") + 1
    )
    if not changed:
        raise _conflict()
    await claim.refresh_from_db()
    return claim


async def request_more_info(
    actor: Actor, claim_id: uuid.UUID, items: list[str], reason: str, expected_version: int
) -> Claim:
    """Once per claim, with one complete list and a reason, both shown to the customer."""
    claim = await load_claim(actor, claim_id, A.REQUEST_INFO)
    if claim.more_info_requested_at is not None:
        raise ClaimError(
            ClaimErrorCode.MORE_INFO_ALREADY_REQUESTED, "补充材料只能一次性提出", "items"
        )
    wanted = [item.strip() for item in items if item.strip()]
    if not wanted:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请列出需要补充的全部材料", "items")
    why = _required(reason, "reason", 1000)
    listed = "、".join(wanted)
    return await _move(
        claim,
        S.MORE_INFO_REQUESTED,
        actor,
        action="request_more_info",
        note=f"请补充：{listed}。原因：{why}",
        expected_version=expected_version,
        event_type="claim.documents_missing",
        event_extra={"missing": listed},
        more_info_requested_at=_now(),
        more_info_items=wanted,
        more_info_reason=why,
    )


async def add_note(actor: Actor, claim_id: uuid.UUID, text: str) -> InvestigationNote:
    claim = await load_claim(actor, claim_id, A.ADD_NOTE)
    if claim.status is S.CLOSED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "已结案的案件只读")
    assert actor.subject_id is not None
    return await InvestigationNote.create(
        claim_id=claim.id, author_id=actor.subject_id, text=_required(text, "text", 5000)
    )


async def _priced_lines(claim: Claim, lines: list[DecisionLine]) -> list[dict[str, Any]]:
    """Apply each coverage's deductible and remaining amount to what the adjuster
    approves; the customer sees the rule that bound each line."""
    if not lines:
        raise ClaimError(ClaimErrorCode.INVALID_LINES, "请至少填写一项保障责任", "lines")
    coverages = {c.id: c for c in await Coverage.filter(policy_id=claim.policy_id)}
    seen: set[uuid.UUID] = set()
    priced = []
    for index, line in enumerate(lines):
        coverage = coverages.get(line.coverage_id)
        if coverage is None or line.coverage_id in seen:
            raise ClaimError(
                ClaimErrorCode.INVALID_LINES, "保障责任不属于该保单或重复", f"lines.{index}"
            )
        seen.add(line.coverage_id)
        for amount in (line.claimed_amount, line.approved_amount):
            if amount < 0 or amount != amount.quantize(Decimal("0.01")):
                raise ClaimError(
                    ClaimErrorCode.INVALID_AMOUNT, "金额须为非负数，最多两位小数", f"lines.{index}"
                )
        deductible = min(coverage.deductible, line.claimed_amount)
        remaining = max(coverage.sum_insured - coverage.used_amount, Decimal(0))
        payable = min(line.claimed_amount - deductible, remaining)
        approved = min(line.approved_amount, payable)
        rules = []
        if deductible:
            rules.append(f"扣除免赔额{deductible}元")
        if approved == remaining and line.claimed_amount - deductible > remaining:
            rules.append(f"以剩余保额{remaining}元为限")
        reason = _required(line.reason, f"lines.{index}.reason", 500)
        priced.append(
            {
                "coverage_id": coverage.id,
                "claimed_amount": line.claimed_amount,
                "deductible_applied": deductible,
                "approved_amount": approved,
                "reason": "；".join([reason, *rules]),
            }
        )
    return priced


async def decide_claim(
    services: Services,
    actor: Actor,
    claim_id: uuid.UUID,
    lines: list[DecisionLine],
    expected_version: int,
) -> Claim:
    """Approve in full or in part. Above the authority limit an adjuster's decision waits
    for a supervisor (``pending_approval``); nothing is announced until then."""
    claim = await load_claim(actor, claim_id, A.DECIDE)
    if expected_version != claim.version:
        raise _conflict()
    if claim.status is not S.UNDER_REVIEW:
        raise ClaimError(
            ClaimErrorCode.ILLEGAL_TRANSITION,
            f"当前状态（{STATUS_NAMES[claim.status]}）不能作出核定",
        )
    priced = await _priced_lines(claim, lines)
    approved = sum((p["approved_amount"] for p in priced), Decimal(0))
    if approved <= 0:
        raise ClaimError(
            ClaimErrorCode.NOTHING_APPROVED, "核定金额为零，请作出拒赔决定并说明理由", "lines"
        )
    above_limit = approved > services.settings.adjuster_authority_limit
    # Lines, status, timeline and event in one transaction that first locks the claim at
    # the version the adjuster saw: a decision that loses a race writes nothing at all.
    async with in_transaction():
        claim = await lock_claim(claim.id, expected_version)
        await ClaimLine.filter(claim_id=claim.id).delete()
        await ClaimLine.bulk_create([ClaimLine(claim_id=claim.id, **p) for p in priced])
        if above_limit and not actor.can(Permission.CLAIM_APPROVE_ABOVE_LIMIT):
            await Claim.filter(id=claim.id, version=claim.version).update(
                pending_approval=True, approved_amount=approved, version=F("version") + 1
            )
            await claim.refresh_from_db()
            await _record(
                claim,
                actor,
                "propose_decision",
                S.UNDER_REVIEW,
                S.UNDER_REVIEW,
                "核定金额超出权限，已提交主管审批",
            )
            return claim
        return await _finish_decision(claim, actor, priced, approved)


async def lock_claim(claim_id: uuid.UUID, expected_version: int | None = None) -> Claim:
    """The claim's row, locked until the caller's transaction ends (decisions, payouts
    and payments recorded by hand all take it first); with ``expected_version``, only
    if it is still at the version the caller saw (else CONFLICT, before any write)."""
    claim = await Claim.filter(id=claim_id).select_for_update().get()
    if expected_version is not None and claim.version != expected_version:
        raise _conflict()
    return claim


async def _finish_decision(
    claim: Claim, actor: Actor, priced: list[dict[str, Any]], approved: Decimal
) -> Claim:
    claimed = sum((p["claimed_amount"] for p in priced), Decimal(0))
    full = approved >= claimed - sum((p["deductible_applied"] for p in priced), Decimal(0))
    to = S.APPROVED if full else S.PARTIALLY_APPROVED
    decision = "同意赔付" if full else "部分赔付"
    claim = await _move(
        claim,
        to,
        actor,
        action="decide",
        note=f"{decision}，核定赔款{approved}元",
        event_type="claim.decided",
        event_extra={"decision": f"{decision}{approved}元"},
        decided_at=_now(),
        approved_amount=approved,
        pending_approval=False,
    )
    return await _move(
        claim,
        S.PAYING,
        None,
        action="start_payout",
        note="赔款支付中",
    )


async def approve_pending_decision(
    actor: Actor, claim_id: uuid.UUID, expected_version: int
) -> Claim:
    claim = await load_claim(actor, claim_id, A.APPROVE_DECISION)
    if not claim.pending_approval or claim.status is not S.UNDER_REVIEW:
        raise ClaimError(ClaimErrorCode.NO_PENDING_DECISION, "该案件没有待审批的核定")
    if expected_version != claim.version:
        raise _conflict()
    async with in_transaction():  # the lines approved are the lines of this version
        claim = await lock_claim(claim.id, expected_version)
        rows = await ClaimLine.filter(claim_id=claim.id)
        priced = [
            {
                "claimed_amount": r.claimed_amount,
                "deductible_applied": r.deductible_applied,
                "approved_amount": r.approved_amount,
            }
            for r in rows
        ]
        return await _finish_decision(claim, actor, priced, claim.approved_amount)


async def reject_claim(
    actor: Actor,
    claim_id: uuid.UUID,
    reason: RejectionReason,
    explanation: str,
    expected_version: int,
) -> Claim:
    """Reject with a reason code and an explanation, both shown to the customer; the
    rejection notice goes out with the decision (well within the 3 days)."""
    claim = await load_claim(actor, claim_id, A.REJECT)
    text = _required(explanation, "explanation", 2000)
    return await _move(
        claim,
        S.REJECTED,
        actor,
        action="reject",
        note=f"拒赔：{REJECTION_NAMES[reason]}。{text}",
        expected_version=expected_version,
        event_type="claim.decided",
        event_extra={"decision": f"不予赔付（{REJECTION_NAMES[reason]}）"},
        decided_at=_now(),
        rejection_reason=reason,
        rejection_explanation=text,
        approved_amount=Decimal(0),
    )


async def record_payment(
    actor: Actor, claim_id: uuid.UUID, reference: str, expected_version: int
) -> Claim:
    """Staff record a payout made outside the gateway (e.g. a bank transfer); never while
    a gateway transfer of the claim is live (it would pay the claim a second time)."""
    claim = await load_claim(actor, claim_id, A.RECORD_PAYMENT)
    reference = _required(reference, "payoutReference", 64)
    async with in_transaction():
        claim = await lock_claim(claim.id, expected_version)
        if await Payout.exists(claim_id=claim.id, live_key__not_isnull=True):
            raise ClaimError(ClaimErrorCode.PAYOUT_IN_PROGRESS, "该案件已有进行中的转账", "claimId")
        return await mark_paid(claim, actor, reference, expected_version)


async def mark_paid(
    claim: Claim, actor: Actor | None, reference: str, expected_version: int
) -> Claim:
    """PAYING → PAID: the payout happened (recorded by staff, or reported by the
    provider for a transfer the gateway made); coverages' used amounts grow."""
    async with in_transaction():
        claim = await _move(
            claim,
            S.PAID,
            actor,
            action="record_payment",
            note=f"赔款{claim.approved_amount}元已支付",
            expected_version=expected_version,
            event_type="claim.paid",
            event_extra={"amount": f"{claim.approved_amount:.2f}"},
            paid_at=_now(),
            paid_amount=claim.approved_amount,
            payout_reference=reference,
        )
        for line in await ClaimLine.filter(claim_id=claim.id):
            await Coverage.filter(id=line.coverage_id).update(
                used_amount=F("used_amount") + line.approved_amount
            )
        # Asked right after the money arrives; closure asks about the whole claim.
        await surveys.invite(
            claim.customer_id,
            "payout.received",
            "claim",
            str(claim.id),
            "CLAIM_SERVICE",
            staff_id=claim.assignee_id,
        )
    return claim


async def close_claim(actor: Actor, claim_id: uuid.UUID, expected_version: int) -> Claim:
    """Close a paid, rejected or withdrawn claim: read-only from now on. Asks the
    customer for a rating and a follow-up visit (consumed by the surveys issue)."""
    claim = await load_claim(actor, claim_id, A.CLOSE)
    async with in_transaction():
        claim = await _move(
            claim,
            S.CLOSED,
            actor,
            action="close",
            note="案件已结案",
            expected_version=expected_version,
            event_type="claim.closed",
            closed_at=_now(),
        )
        product = await Policy.get(id=claim.policy_id).select_related("product")
        await surveys.invite(
            claim.customer_id,
            "claim.closed",
            "claim",
            str(claim.id),
            "CLAIM_SERVICE",
            product_kind=str(product.product.kind),
            staff_id=claim.assignee_id,
        )
    return claim


async def archive(actor: Actor, claim_id: uuid.UUID) -> dict[str, Any]:
    """The archive of a closed claim: the claim, its timeline, the decision and a manifest
    of its files with their hashes (so the file set can be verified later)."""
    claim = await load_claim(actor, claim_id, A.ARCHIVE)
    if claim.status is not S.CLOSED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "只有已结案的案件可以导出归档")
    policy = await Policy.get(id=claim.policy_id)
    events = await ClaimEvent.filter(claim_id=claim.id).order_by("created_at")
    lines = await ClaimLine.filter(claim_id=claim.id).select_related("coverage")
    documents = await ClaimDocument.filter(claim_id=claim.id).order_by("created_at")
    return {
        "claim": {
            "reportNumber": claim.report_number,
            "policyNumber": policy.number,
            "status": str(claim.status),
            "lossType": claim.loss_type,
            "lossAt": claim.loss_at.isoformat(),
            "lossLocation": claim.loss_location,
            "description": claim.description,
            "channel": str(claim.channel),
            "lateReport": claim.late_report,
            "approvedAmount": f"{claim.approved_amount:.2f}",
            "paidAmount": f"{claim.paid_amount:.2f}",
            "payoutReference": claim.payout_reference,
            "rejectionReason": str(claim.rejection_reason) if claim.rejection_reason else None,
            "closedAt": claim.closed_at.isoformat() if claim.closed_at else None,
        },
        "timeline": [
            {
                "at": e.created_at.isoformat(),
                "actor": e.actor_kind,
                "action": e.action,
                "from": str(e.from_status) if e.from_status else None,
                "to": str(e.to_status),
                "note": e.note,
            }
            for e in events
        ],
        "decision": [
            {
                "coverage": line.coverage.name,
                "claimed": f"{line.claimed_amount:.2f}",
                "deductible": f"{line.deductible_applied:.2f}",
                "approved": f"{line.approved_amount:.2f}",
                "reason": line.reason,
            }
            for line in lines
        ],
        "files": [
            {
                "checklistCode": d.checklist_code,
                "fileName": d.file_name,
                "contentType": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
                "originalSha256": d.original_sha256,
                "storageKey": d.storage_key,
            }
            for d in documents
        ],
    }
