"""Decisions: pricing what the adjuster approves against each coverage (deductible, what
remains of the sum insured), approval above the adjuster's authority by a supervisor,
and rejection with a reason the customer is shown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimLine, PayoutShare, RejectionReason
from models.policies import Coverage
from workflows.access import Actor, Permission
from workflows.claims.rules import (
    REJECTION_NAMES,
    STATUS_NAMES,
    A,
    ClaimError,
    ClaimErrorCode,
    S,
    payee_of,
    required_text,
    split_by_shares,
    utc_now,
)
from workflows.claims.state import announce, conflict, load_claim, lock_claim, transition


@dataclass(frozen=True)
class DecisionLine:
    coverage_id: uuid.UUID
    claimed_amount: Decimal
    approved_amount: Decimal
    reason: str


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
        reason = required_text(line.reason, f"lines.{index}.reason", 500)
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
    actor: Actor,
    claim_id: uuid.UUID,
    lines: list[DecisionLine],
    expected_version: int,
    *,
    authority_limit: Decimal,
) -> Claim:
    """Approve in full or in part. Above the authority limit an adjuster's decision waits
    for a supervisor (``pending_approval``); nothing is announced until then."""
    claim = await load_claim(actor, claim_id, A.DECIDE)
    if expected_version != claim.version:
        raise conflict()
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
    above_limit = approved > authority_limit
    # Lines, status, timeline and event in one transaction that first locks the claim at
    # the version the adjuster saw: a decision that loses a race writes nothing at all.
    async with in_transaction():
        claim = await lock_claim(claim.id, expected_version)
        await ClaimLine.filter(claim_id=claim.id).delete()
        await ClaimLine.bulk_create([ClaimLine(claim_id=claim.id, **p) for p in priced])
        if above_limit and not actor.can(Permission.CLAIM_APPROVE_ABOVE_LIMIT):
            return await transition(
                claim,
                actor,
                action="propose_decision",
                note="核定金额超出权限，已提交主管审批",
                event_type=None,  # announced when a supervisor approves it
                pending_approval=True,  # the amount stays 0 until approved: lines hold it
            )
        return await _finish_decision(claim, actor, priced, approved)


async def _finish_decision(
    claim: Claim, actor: Actor, priced: list[dict[str, Any]], approved: Decimal
) -> Claim:
    claimed = sum((p["claimed_amount"] for p in priced), Decimal(0))
    full = approved >= claimed - sum((p["deductible_applied"] for p in priced), Decimal(0))
    to = S.APPROVED if full else S.PARTIALLY_APPROVED
    decision = "同意赔付" if full else "部分赔付"
    claim = await transition(
        claim,
        actor,
        to=to,
        action="decide",
        note=f"{decision}，核定赔款{approved}元",
        event_type=None,  # announced once, below, with the status the customer will see
        decided_at=utc_now(),
        approved_amount=approved,
        pending_approval=False,
    )
    # Told once, as the claim the customer will see; whoever is paid is asked for an
    # account when none is on file (the claimant, or the payee when that is another).
    told = f"{decision}{approved}元"
    ask = "，请在App中选择收款账户"
    payees = {payee_of(claim): told + ("" if claim.payout_account_masked else ask)}
    if claim.pays_shares:
        payees = await _divide_into_shares(claim, approved, told, ask)
    claim = await transition(
        claim,
        None,
        to=S.PAYING,
        action="start_payout",
        note="赔款支付中",
        event_type="claim.decided",
        event_extra={"decision": payees.pop(claim.customer_id, told)},
    )
    for payee, text in payees.items():
        if payee is not None:
            await announce(claim, "claim.decided", {"decision": text}, to=payee)
    return claim


async def _divide_into_shares(
    claim: Claim, approved: Decimal, told: str, ask: str
) -> dict[uuid.UUID | None, str]:
    """Each beneficiary's part of the approved amount, and what each is told."""
    shares = await PayoutShare.filter(claim_id=claim.id).order_by("position")
    texts: dict[uuid.UUID | None, str] = {}
    parts = split_by_shares(approved, [share.share_percent for share in shares])
    for share, amount in zip(shares, parts, strict=True):
        await PayoutShare.filter(id=share.id).update(amount=amount)
        mine = f"，您的受益份额{share.share_percent.normalize():f}%，应得{amount}元"
        texts[share.customer_id] = told + mine + ("" if share.payout_account_masked else ask)
    return texts


async def approve_pending_decision(
    actor: Actor, claim_id: uuid.UUID, expected_version: int
) -> Claim:
    claim = await load_claim(actor, claim_id, A.APPROVE_DECISION)
    if not claim.pending_approval or claim.status is not S.UNDER_REVIEW:
        raise ClaimError(ClaimErrorCode.NO_PENDING_DECISION, "该案件没有待审批的核定")
    if expected_version != claim.version:
        raise conflict()
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
        approved = sum((r.approved_amount for r in rows), Decimal(0))
        return await _finish_decision(claim, actor, priced, approved)


async def discard_proposal(claim: Claim) -> None:
    """A proposal waiting for a supervisor ends when the claim leaves review otherwise
    (rejected, more information asked, withdrawn): its lines go, in the caller's
    transaction, and the caller's transition clears ``pending_approval``."""
    if claim.pending_approval:
        await ClaimLine.filter(claim_id=claim.id).delete()


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
    text = required_text(explanation, "explanation", 2000)
    async with in_transaction():
        await discard_proposal(claim)
        return await transition(
            claim,
            actor,
            to=S.REJECTED,
            action="reject",
            note=f"拒赔：{REJECTION_NAMES[reason]}。{text}",
            expected_version=expected_version,
            event_type="claim.decided",
            event_extra={"decision": f"不予赔付（{REJECTION_NAMES[reason]}）"},
            decided_at=utc_now(),
            rejection_reason=reason,
            rejection_explanation=text,
            approved_amount=Decimal(0),
            pending_approval=False,
        )
