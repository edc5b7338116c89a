"""Review: the customer submits, withdraws or supplements; staff assign the claim, ask
once for more information and keep investigation notes."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimLine, InvestigationNote, PayoutShare
from models.payments import Payout, PayoutStatus
from models.staff import StaffRole, StaffUser
from workflows.access import Actor
from workflows.claims.decisions import discard_proposal
from workflows.claims.reporting import claim_checklist, missing_documents
from workflows.claims.rules import (
    STAFF_CHANNELS,
    A,
    ClaimError,
    ClaimErrorCode,
    S,
    required_text,
    utc_now,
)
from workflows.claims.state import load_claim, lock_claim, transition
from workflows.commitments import fast_track

# A decided claim may go back to review while no money has moved: rejected, or waiting
# for its payout (APPROVED and PARTIALLY_APPROVED pass to PAYING in the deciding
# transaction, so they are never seen at rest). A paid or closed claim is not reopened:
# its money went, and a complaint about it is put right by a goodwill payment.
REOPENABLE = frozenset({S.REJECTED, S.PAYING})
MAX_CLAIMED = Decimal("100000000")  # what a customer may declare they ask for


async def submit_claim(
    actor: Actor,
    claim_id: uuid.UUID,
    explanation: str | None,
    consent: str | None = None,
    claimed_amount: Decimal | None = None,
) -> Claim:
    """The customer submits: with the checklist complete, or explaining what is missing.
    Staff who took a phone or counter report may submit for the customer, with the
    customer's spoken consent written down (``consent``: who agreed, when and how)."""
    claim = await load_claim(actor, claim_id, A.SUBMIT)
    note = "理赔申请已提交，等待审核"
    if actor.is_staff:
        if claim.channel not in STAFF_CHANNELS:
            raise ClaimError(
                ClaimErrorCode.NOT_ALLOWED, "客户自助报案的案件须由客户本人提交", "claimId"
            )
        agreed = required_text(consent or "", "customerConsent", 500)
        note = f"经客户同意，由工作人员代为提交（{agreed}），等待审核"
    if claimed_amount is not None and not Decimal(0) < claimed_amount <= MAX_CLAIMED:
        raise ClaimError(
            ClaimErrorCode.INVALID_AMOUNT, "申请金额应大于0且不超过1亿元", "claimedAmount"
        )
    missing = await missing_documents(claim, await claim_checklist(claim))
    explanation = (explanation or "").strip() or None
    if missing and explanation is None:
        raise ClaimError(
            ClaimErrorCode.DOCUMENTS_MISSING,
            f"还缺少：{'、'.join(missing)}。请补齐材料，或说明暂时无法提供的原因",
            "explanation",
        )
    return await transition(
        claim,
        actor,
        to=S.SUBMITTED,
        action="submit",
        note=note,
        submitted_at=utc_now(),
        missing_documents_explanation=explanation,
        claimed_amount=claimed_amount,
        fast_track=await fast_track.qualifies(claimed_amount, not missing),
    )


async def withdraw_claim(actor: Actor, claim_id: uuid.UUID, reason: str | None) -> Claim:
    claim = await load_claim(actor, claim_id, A.WITHDRAW)
    note = "客户已撤案" + (f"：{reason.strip()}" if reason and reason.strip() else "")
    async with in_transaction():
        await discard_proposal(claim)
        return await transition(
            claim, actor, to=S.WITHDRAWN, action="withdraw", note=note, pending_approval=False
        )


async def supplement_documents(actor: Actor, claim_id: uuid.UUID, note: str) -> Claim:
    """The customer answers a request for more information; review resumes."""
    claim = await load_claim(actor, claim_id, A.SUPPLEMENT)
    text = required_text(note, "note", 2000)
    return await transition(
        claim, actor, to=S.UNDER_REVIEW, action="supplement", note=f"客户已补充：{text}"
    )


async def assign_claim(
    actor: Actor, claim_id: uuid.UUID, adjuster_id: uuid.UUID, expected_version: int
) -> Claim:
    """Give a submitted claim to an adjuster; review starts."""
    claim = await load_claim(actor, claim_id, A.ASSIGN)
    adjuster = await StaffUser.get_or_none(id=adjuster_id, is_active=True)
    if adjuster is None or adjuster.role not in (StaffRole.ADJUSTER, StaffRole.SUPERVISOR):
        raise ClaimError(ClaimErrorCode.NOT_AN_ADJUSTER, "请选择理赔人员", "adjusterId")
    if claim.status is S.SUBMITTED:
        return await transition(
            claim,
            actor,
            to=S.UNDER_REVIEW,
            action="assign",
            note="案件已进入审核",
            expected_version=expected_version,
            assignee_id=adjuster.id,
        )
    if claim.status not in (S.UNDER_REVIEW, S.MORE_INFO_REQUESTED):
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "当前状态不能分配案件")
    return await transition(
        claim,
        actor,
        action="reassign",
        note="案件已转交其他理赔人员",
        expected_version=expected_version,
        event_type=None,  # an internal hand-over: on the timeline, not a notification
        assignee_id=adjuster.id,
    )


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
    why = required_text(reason, "reason", 1000)
    listed = "、".join(wanted)
    async with in_transaction():
        await discard_proposal(claim)
        return await transition(
            claim,
            actor,
            to=S.MORE_INFO_REQUESTED,
            action="request_more_info",
            note=f"请补充：{listed}。原因：{why}",
            expected_version=expected_version,
            event_type="claim.documents_missing",
            event_extra={"missing": listed},
            more_info_requested_at=utc_now(),
            more_info_items=wanted,
            more_info_reason=why,
            pending_approval=False,
        )


async def add_note(actor: Actor, claim_id: uuid.UUID, text: str) -> InvestigationNote:
    claim = await load_claim(actor, claim_id, A.ADD_NOTE)
    if claim.status is S.CLOSED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "已结案的案件只读")
    assert actor.subject_id is not None
    return await InvestigationNote.create(
        claim_id=claim.id, author_id=actor.subject_id, text=required_text(text, "text", 5000)
    )


async def reopen_review(actor: Actor, claim_id: uuid.UUID, reason: str, source: str) -> Claim:
    """Back to review after a decision (a complaint's re-review remedy, approved by a
    complaint supervisor: the caller checked who may ask; the claims workflow checks
    that it may happen). Only a REJECTED claim, or a PAYING one none of whose money has
    moved: no payout of the claim's own money started (other than failed or turned
    down) and no beneficiary's share paid. The decision is undone (amount, lines,
    rejection) under the claim's row lock, which every payout path takes first, so a
    payout cannot start in between; the claimant is told."""
    why = required_text(reason, "reason", 500)
    async with in_transaction():
        claim = await lock_claim(claim_id)
        if claim.status not in REOPENABLE:
            raise ClaimError(
                ClaimErrorCode.ILLEGAL_TRANSITION,
                "只有拒赔或尚未付款的已核定案件可以重新审核",
                "claimId",
            )
        if claim.status is S.PAYING:
            moving = (
                Payout.filter(claim_id=claim.id, remedy_id=None)
                .exclude(status__in=[PayoutStatus.FAILED, PayoutStatus.CANCELLED])
                .exists()
            )
            shares_paid = PayoutShare.filter(claim_id=claim.id, paid_at__not_isnull=True).exists()
            if await moving or await shares_paid:
                raise ClaimError(
                    ClaimErrorCode.PAYOUT_IN_PROGRESS,
                    "该案件赔款已在支付中，不能重新审核",
                    "claimId",
                )
            await PayoutShare.filter(claim_id=claim.id).update(amount=0)
        await ClaimLine.filter(claim_id=claim.id).delete()
        return await transition(
            claim,
            actor,
            to=S.UNDER_REVIEW,
            action="reopen_review",
            note=f"因{source}重新审核：{why}",
            event_type="claim.reopened",
            decided_at=None,
            approved_amount=0,
            rejection_reason=None,
            rejection_explanation=None,
            pending_approval=False,
        )
