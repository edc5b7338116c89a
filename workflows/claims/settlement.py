"""Payment and closure: a payout made (recorded by staff, or reported by the provider
for a transfer the gateway made) moves the claim to PAID and uses up the coverages;
closing makes it read-only. Both ask the customer how it went."""

from __future__ import annotations

import uuid

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimLine
from models.payments import Payout
from models.policies import Coverage, Policy
from workflows import surveys
from workflows.access import Actor
from workflows.claims.rules import (
    A,
    ClaimError,
    ClaimErrorCode,
    S,
    payee_of,
    required_text,
    utc_now,
)
from workflows.claims.state import announce, load_claim, lock_claim, transition


async def record_payment(
    actor: Actor, claim_id: uuid.UUID, reference: str, expected_version: int
) -> Claim:
    """Staff record a payout made outside the gateway (e.g. a bank transfer); never while
    a gateway transfer of the claim is live (it would pay the claim a second time)."""
    claim = await load_claim(actor, claim_id, A.RECORD_PAYMENT)
    reference = required_text(reference, "payoutReference", 64)
    async with in_transaction():
        claim = await lock_claim(claim.id, expected_version)
        if await Payout.exists(claim_id=claim.id, remedy_id=None, live_key__not_isnull=True):
            raise ClaimError(ClaimErrorCode.PAYOUT_IN_PROGRESS, "该案件已有进行中的转账", "claimId")
        return await mark_paid(claim, actor, reference, expected_version)


async def mark_paid(
    claim: Claim, actor: Actor | None, reference: str, expected_version: int
) -> Claim:
    """PAYING → PAID: the payout happened (recorded by staff, or reported by the
    provider for a transfer the gateway made); coverages' used amounts grow."""
    async with in_transaction():
        claim = await transition(
            claim,
            actor,
            to=S.PAID,
            action="record_payment",
            note=f"赔款{claim.approved_amount}元已支付",
            expected_version=expected_version,
            event_type="claim.paid",
            event_extra={"amount": f"{claim.approved_amount:.2f}"},
            paid_at=utc_now(),
            paid_amount=claim.approved_amount,
            payout_reference=reference,
        )
        payee = payee_of(claim)
        if payee is not None and payee != claim.customer_id:  # the money was theirs
            await announce(
                claim, "claim.paid", {"amount": f"{claim.approved_amount:.2f}"}, to=payee
            )
        for line in await ClaimLine.filter(claim_id=claim.id):
            await Coverage.filter(id=line.coverage_id).update(
                used_amount=F("used_amount") + line.approved_amount
            )
        await _ask_about_the_service(claim, "payout.received")
    return claim


async def close_claim(actor: Actor, claim_id: uuid.UUID, expected_version: int) -> Claim:
    """Close a paid, rejected or withdrawn claim: read-only from now on."""
    claim = await load_claim(actor, claim_id, A.CLOSE)
    paid = claim.status is S.PAID
    async with in_transaction():
        claim = await transition(
            claim,
            actor,
            to=S.CLOSED,
            action="close",
            note="案件已结案",
            expected_version=expected_version,
            event_type="claim.closed",
            closed_at=utc_now(),
        )
        if not paid:  # a paid claim was asked about when the money arrived
            await _ask_about_the_service(claim, "claim.closed")
    return claim


async def _ask_about_the_service(claim: Claim, trigger: str) -> None:
    """One claim-service survey per claim, when its outcome reaches the customer: the
    money arrived, or the claim closed without payment (rejected, withdrawn)."""
    product = await Policy.get(id=claim.policy_id).select_related("product")
    await surveys.invite(
        claim.customer_id,
        trigger,
        "claim",
        str(claim.id),
        "CLAIM_SERVICE",
        product_kind=str(product.product.kind),
        staff_id=claim.assignee_id,
    )
