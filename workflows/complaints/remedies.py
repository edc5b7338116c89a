"""Putting a complaint right before it is answered: a proposed resolution (an
explanation and its remedies) carried out through the domains that own each remedy.

- APOLOGY: stated in the answer.
- CLAIM_REREVIEW: the complaint's claim goes back to review (``claims.reopen_review``:
  rejected, or approved with none of its money moved).
- GOODWILL_PAYMENT: a payout to the account the customer chose on a claim of theirs,
  queued for the payout worker (``payouts.queue_goodwill_payout``: one per remedy by a
  unique live key, however many approvals race).
- FEE_REFUND: part or all of a premium payment of theirs, queued for the refund worker.

Approval: money remedies above ``approval_limit`` in total, and every claim re-review
(it overrides an adjuster's decision), wait for a complaint supervisor who is not the
proposer; anything else is within the handler's own authority and carried out at once,
as claim payouts to the payee's own chosen account need no second person. Approving
locks the complaint's row, then moves the resolution out of AWAITING_APPROVAL by a
conditional update: a double click carries it out once. The answer to the customer
states every remedy carried out since the previous answer (``statement``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.claims import Claim
from models.complaint_remedies import (
    ComplaintRemedy,
    ComplaintResolution,
    RemedyKind,
    ResolutionStatus,
)
from models.complaints import Complaint, ComplaintStatus
from models.payments import PaymentOrder, Payout
from models.pii import PiiCipher
from workflows import claims
from workflows.access import Actor, Permission
from workflows.complaints.rules import (
    REASON_LIMIT,
    TEXT_LIMIT,
    ComplaintAction,
    ComplaintError,
    ComplaintErrorCode,
)
from workflows.complaints.state import load_complaint, transition
from workflows.payments import payouts, refunds
from workflows.payments.orders import PaymentError

A = ComplaintAction
E = ComplaintErrorCode
S = ComplaintStatus
R = RemedyKind
MAX_REMEDIES = len(RemedyKind)  # one of each kind
MONEY = frozenset({R.GOODWILL_PAYMENT, R.FEE_REFUND})
# Before the answer, or before the review answer.
PROPOSABLE = frozenset({S.IN_PROGRESS, S.REVIEW_REQUESTED})
SUPERVISORS = "staff:complaint-supervisors"
KIND_NAMES = {
    R.APOLOGY: "致歉",
    R.CLAIM_REREVIEW: "理赔重新审核",
    R.GOODWILL_PAYMENT: "补偿款",
    R.FEE_REFUND: "退还保费",
}


@dataclass(frozen=True)
class RemedyInput:
    """One remedy as staff propose it: what the customer is told (``note``: the apology,
    the reason for a re-review), the amount of a money remedy, and what it applies to
    (the claim re-reviewed: the complaint's; the payment refunded: the complaint's or
    one of the customer's)."""

    kind: RemedyKind
    note: str = ""
    amount: Decimal | None = None
    payment_order_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Resolved:
    """What a remedy mutation changed: the resolution with its remedies, the complaint,
    and the claim put back to review (if one was)."""

    resolution: ComplaintResolution
    complaint: Complaint
    claims: list[Claim]


def _text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ComplaintError(E.REASON_REQUIRED, "请填写说明", field)
    if len(value) > limit:
        raise ComplaintError(E.TEXT_TOO_LONG, f"不能超过{limit}字", field)
    return value


def _money(amount: Decimal | None, field: str) -> Decimal:
    if amount is None or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ComplaintError(E.INVALID_AMOUNT, "金额须为正数，最多两位小数", field)
    return amount


def _handler_or_supervisor(actor: Actor, complaint: Complaint) -> None:
    if complaint.handler_id != actor.subject_id and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "只有承办人或主管可以处理该投诉", "complaintId")


async def account_claim(customer_id: uuid.UUID, preferred: uuid.UUID | None) -> Claim | None:
    """The claim whose chosen payout account is the customer's own (they are its single
    payee and chose the account): the complaint's claim when it is such a one, else
    their latest. A goodwill payment goes there, never to an account staff type."""
    candidates = await (
        Claim.filter(payout_account_encrypted__not_isnull=True, pays_shares=False)
        .filter(Q(payee_id=customer_id) | Q(customer_id=customer_id))
        .order_by("-created_at")
    )
    own = [claim for claim in candidates if claims.payee_of(claim) == customer_id]
    chosen = [claim for claim in own if claim.id == preferred] or own
    return chosen[0] if chosen else None


async def _check(complaint: Complaint, index: int, remedy: RemedyInput) -> dict[str, Any]:
    """One remedy, checked against what it applies to; the row's values."""
    field = f"remedies.{index}"
    row: dict[str, Any] = {"kind": remedy.kind, "position": index}
    if remedy.kind is R.APOLOGY:
        row["note"] = _text(remedy.note, f"{field}.note", REASON_LIMIT)
    elif remedy.kind is R.CLAIM_REREVIEW:
        row["note"] = _text(remedy.note, f"{field}.note", REASON_LIMIT)
        claim = await Claim.get_or_none(id=complaint.claim_id) if complaint.claim_id else None
        if claim is None:
            raise ComplaintError(E.INVALID_REMEDY, "该投诉未关联理赔案件", field)
        if claim.status not in claims.REOPENABLE:
            raise ComplaintError(
                E.REMEDY_NOT_POSSIBLE, "只有拒赔或尚未付款的已核定案件可以重新审核", field
            )
        row["claim_id"] = claim.id
    elif remedy.kind is R.GOODWILL_PAYMENT:
        row["amount"] = _money(remedy.amount, f"{field}.amount")
        row["note"] = remedy.note.strip()[:REASON_LIMIT]
        assert complaint.customer_id is not None
        claim = await account_claim(complaint.customer_id, complaint.claim_id)
        if claim is None:
            raise ComplaintError(
                E.NO_KNOWN_ACCOUNT, "客户没有本人选择的收款账户，无法支付补偿款", field
            )
        row["claim_id"] = claim.id
    else:
        amount = _money(remedy.amount, f"{field}.amount")
        order_id = remedy.payment_order_id or complaint.payment_order_id
        order = await PaymentOrder.get_or_none(id=order_id) if order_id else None
        if order is None or order.customer_id != complaint.customer_id:
            raise ComplaintError(
                E.INVALID_REMEDY, "请指明客户本人的一笔缴费", f"{field}.paymentOrderId"
            )
        if amount > await refunds.refundable(order):
            raise ComplaintError(E.INVALID_AMOUNT, "退款金额超过可退金额", f"{field}.amount")
        row.update(
            amount=amount, payment_order_id=order.id, note=remedy.note.strip()[:REASON_LIMIT]
        )
    return row


async def propose(
    actor: Actor,
    pii: PiiCipher,
    complaint_id: uuid.UUID,
    expected_version: int,
    explanation: str,
    remedies: list[RemedyInput],
    *,
    approval_limit: Decimal,
) -> Resolved:
    """The handler (or a supervisor) proposes how the complaint is put right, before
    the answer. Within the handler's authority it is carried out at once; otherwise it
    waits for a supervisor (``approve``), and the answer waits with it."""
    complaint = await load_complaint(actor, complaint_id, A.PROPOSE_REMEDY)
    _handler_or_supervisor(actor, complaint)
    if complaint.status not in PROPOSABLE:
        raise ComplaintError(E.ILLEGAL_TRANSITION, "只能在答复前提出处理方案")
    if complaint.customer_id is None:
        raise ComplaintError(E.REMEDY_NOT_POSSIBLE, "投诉人尚未确认身份，不能提出补救措施")
    if await pending(complaint.id):  # the unique open key settles a race
        raise ComplaintError(E.REMEDY_PENDING, "该投诉已有待审批的处理方案")
    explanation = _text(explanation, "explanation", TEXT_LIMIT)
    if not remedies:
        raise ComplaintError(E.INVALID_REMEDY, "请至少提出一项补救措施", "remedies")
    kinds = [r.kind for r in remedies]
    if len(remedies) > MAX_REMEDIES or len(set(kinds)) != len(kinds):
        raise ComplaintError(E.INVALID_REMEDY, "每种补救措施最多一项", "remedies")
    rows = [await _check(complaint, i, r) for i, r in enumerate(remedies)]
    total = sum((Decimal(str(row.get("amount", 0))) for row in rows), Decimal(0))
    waits = total > approval_limit or R.CLAIM_REREVIEW in kinds
    summary = "；".join(_describe_row(row) for row in rows)
    try:
        async with in_transaction():
            if not waits:
                await _lock_claims(row.get("claim_id") for row in rows)
            resolution = await ComplaintResolution.create(
                complaint_id=complaint.id,
                explanation=explanation,
                status=ResolutionStatus.AWAITING_APPROVAL
                if waits
                else ResolutionStatus.CARRIED_OUT,
                total_amount=total,
                proposed_by=actor.subject_id,
                open_key=str(complaint.id) if waits else None,
            )
            for row in rows:
                await ComplaintRemedy.create(
                    resolution_id=resolution.id, complaint_id=complaint.id, **row
                )
            complaint = await transition(
                complaint,
                actor,
                action="propose_resolution",
                note=f"提出处理方案（{'待主管审批' if waits else '在权限内'}）：{summary}",
                expected_version=expected_version,
                internal=True,
                event_type="complaint.remedy_proposed" if waits else None,
                event_extra={"_staff_channels": [SUPERVISORS]},
            )
            reopened: list[Claim] = []
            if not waits:
                complaint, reopened = await _carry_out(actor, pii, complaint, resolution)
    except IntegrityError:
        raise ComplaintError(E.REMEDY_PENDING, "该投诉已有待审批的处理方案") from None
    await resolution.refresh_from_db()
    return Resolved(resolution, complaint, reopened)


def _describe_row(row: dict[str, Any]) -> str:
    kind = RemedyKind(str(row["kind"]))
    amount = row.get("amount")
    return KIND_NAMES[kind] + (f"{amount}元" if amount else "")


async def _resolution(resolution_id: uuid.UUID) -> ComplaintResolution:
    row = await ComplaintResolution.get_or_none(id=resolution_id)
    if row is None:
        raise ComplaintError(E.RESOLUTION_NOT_FOUND, "未找到该处理方案", "resolutionId")
    return row


async def approve(actor: Actor, pii: PiiCipher, resolution_id: uuid.UUID) -> Resolved:
    """A complaint supervisor other than the proposer approves: carried out once."""
    resolution = await _resolution(resolution_id)
    complaint = await load_complaint(actor, resolution.complaint_id, A.APPROVE_REMEDY)
    if resolution.proposed_by == actor.subject_id:
        raise ComplaintError(E.SECOND_PERSON_REQUIRED, "须由提出人以外的主管审批", "resolutionId")
    async with in_transaction():
        # The claims' rows first (as the payout worker, which then writes the complaint's
        # timeline), then the complaint's, then the resolution's conditional move: the
        # second of two clicks finds it decided.
        await _lock_claims(
            await ComplaintRemedy.filter(resolution_id=resolution.id).values_list(
                "claim_id", flat=True
            )
        )
        complaint = await Complaint.filter(id=complaint.id).select_for_update().get()
        if complaint.status not in PROPOSABLE:  # withdrawn meanwhile: refuse it instead
            raise ComplaintError(E.ILLEGAL_TRANSITION, "该投诉已撤回或已结束，不能执行处理方案")
        decided = await ComplaintResolution.filter(
            id=resolution.id, status=ResolutionStatus.AWAITING_APPROVAL
        ).update(
            status=ResolutionStatus.CARRIED_OUT,
            open_key=None,
            decided_by=actor.subject_id,
            decided_at=datetime.now(UTC),
        )
        if not decided:
            raise ComplaintError(E.ALREADY_DECIDED, "该处理方案已审批或已驳回", "resolutionId")
        complaint = await transition(
            complaint, actor, action="approve_resolution", note="主管批准处理方案", internal=True
        )
        complaint, reopened = await _carry_out(actor, pii, complaint, resolution)
    await resolution.refresh_from_db()
    return Resolved(resolution, complaint, reopened)


async def reject(actor: Actor, resolution_id: uuid.UUID, reason: str) -> Resolved:
    """A supervisor turns the proposal down with a reason; the handler may propose again."""
    resolution = await _resolution(resolution_id)
    complaint = await load_complaint(actor, resolution.complaint_id, A.APPROVE_REMEDY)
    why = _text(reason, "reason", REASON_LIMIT)
    async with in_transaction():
        complaint = await Complaint.filter(id=complaint.id).select_for_update().get()
        decided = await ComplaintResolution.filter(
            id=resolution.id, status=ResolutionStatus.AWAITING_APPROVAL
        ).update(
            status=ResolutionStatus.REJECTED,
            open_key=None,
            decided_by=actor.subject_id,
            decided_at=datetime.now(UTC),
            decision_note=why,
        )
        if not decided:
            raise ComplaintError(E.ALREADY_DECIDED, "该处理方案已审批或已驳回", "resolutionId")
        complaint = await transition(
            complaint,
            actor,
            action="reject_resolution",
            note=f"处理方案未获批准：{why}",
            internal=True,
        )
    await resolution.refresh_from_db()
    return Resolved(resolution, complaint, [])


async def _lock_claims(claim_ids: Iterable[Any]) -> None:
    """Lock the claims a resolution touches, in one order, before the complaint."""
    for claim_id in sorted({c for c in claim_ids if c is not None}, key=str):
        await claims.lock_claim(claim_id)


async def _carry_out(
    actor: Actor, pii: PiiCipher, complaint: Complaint, resolution: ComplaintResolution
) -> tuple[Complaint, list[Claim]]:
    """Every remedy through its own domain, in the caller's transaction (any refusal
    undoes them all), then one line on the customer's timeline."""
    now = datetime.now(UTC)
    reopened: list[Claim] = []
    done: list[str] = []
    for remedy in await ComplaintRemedy.filter(resolution_id=resolution.id).order_by("position"):
        try:
            if remedy.kind is R.CLAIM_REREVIEW:
                assert remedy.claim_id is not None
                claim = await claims.reopen_review(
                    actor, remedy.claim_id, remedy.note, f"投诉{complaint.number}"
                )
                reopened.append(claim)
                done.append(f"理赔案件{claim.report_number}已重新进入审核")
            elif remedy.kind is R.GOODWILL_PAYMENT:
                assert remedy.claim_id is not None
                claim = await claims.lock_claim(remedy.claim_id)
                payout = await payouts.queue_goodwill_payout(
                    pii, claim, remedy.id, remedy.amount, actor
                )
                done.append(f"补偿款{remedy.amount}元将支付至{payout.payee_masked}")
            elif remedy.kind is R.FEE_REFUND:
                assert remedy.payment_order_id is not None
                refund = await refunds.queue_remedy_refund(
                    remedy.payment_order_id,
                    remedy.amount,
                    f"投诉{complaint.number}：{remedy.note}",
                    resolution.proposed_by,
                )
                await ComplaintRemedy.filter(id=remedy.id).update(refund_id=refund.id)
                done.append(f"退还保费{remedy.amount}元（原路退回）")
            else:
                done.append(f"致歉：{remedy.note}")
        except (claims.ClaimError, PaymentError) as error:
            raise ComplaintError(
                E.REMEDY_NOT_POSSIBLE, error.message, f"remedies.{remedy.position}"
            ) from None
        await ComplaintRemedy.filter(id=remedy.id).update(carried_out_at=now)
    await ComplaintResolution.filter(id=resolution.id).update(carried_out_at=now)
    complaint = await transition(
        complaint,
        actor,
        action="carry_out_remedies",
        note="补救措施已执行：" + "；".join(done),
        event_type=None,  # the customer reads them in the answer
    )
    return complaint, reopened


async def pending(complaint_id: uuid.UUID) -> bool:
    return await ComplaintResolution.exists(
        complaint_id=complaint_id, status=ResolutionStatus.AWAITING_APPROVAL
    )


async def statement(complaint: Complaint) -> str:
    """What the answer says about the remedies carried out since the previous answer
    (empty when none); refuses while a proposal waits for a supervisor."""
    if await pending(complaint.id):
        raise ComplaintError(E.REMEDY_PENDING, "处理方案尚待主管审批，审批后再答复", "complaintId")
    rows = ComplaintResolution.filter(
        complaint_id=complaint.id, status=ResolutionStatus.CARRIED_OUT
    ).order_by("carried_out_at")
    if complaint.answered_at is not None:
        rows = rows.filter(carried_out_at__gt=complaint.answered_at)
    parts = []
    for resolution in await rows:
        remedies = await ComplaintRemedy.filter(resolution_id=resolution.id).order_by("position")
        said = "；".join([await _tell(r) for r in remedies])
        parts.append(f"【处理方案】{resolution.explanation}\n补救措施：{said}。")
    return "\n".join(parts)


async def _tell(remedy: ComplaintRemedy) -> str:
    if remedy.kind is R.APOLOGY:
        return f"向您致歉：{remedy.note}"
    if remedy.kind is R.CLAIM_REREVIEW:
        claim = await Claim.get(id=remedy.claim_id).only("id", "report_number")
        return f"理赔案件{claim.report_number}已重新进入审核，新的审核结果将另行通知"
    if remedy.kind is R.GOODWILL_PAYMENT:
        payout = await Payout.filter(remedy_id=remedy.id).order_by("-created_at").first()
        where = f"至{payout.payee_masked}" if payout else ""
        return f"给予补偿款{remedy.amount}元，支付{where}"
    return f"退还保费{remedy.amount}元，原路退回"
