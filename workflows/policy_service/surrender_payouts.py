"""A surrender value's payout as the payout workflow sees it: whom and what it pays
(the policy's holder, named by the policy's number) and what its outcome tells (on the
surrender's timeline; the customer when paid, staff when it failed). Kept apart from
``surrender`` so the payout workflow imports no more of the policy service than this."""

from __future__ import annotations

from dataclasses import dataclass

from models.customers import Customer
from models.endorsements import Endorsement
from models.payments import Payout, PayoutStatus
from models.policies import Policy, Product
from push.outbox import emit, emit_once
from workflows.policy_service.endorsement_rules import STAFF_QUEUE
from workflows.policy_service.endorsement_state import add_to_timeline, announce


@dataclass(frozen=True)
class SurrenderPayee:
    product: Product
    holder_name: str | None
    remark: str


async def surrender_of(payout: Payout) -> SurrenderPayee:
    endorsement = await Endorsement.get(id=payout.endorsement_id)
    policy = await Policy.get(id=endorsement.policy_id).select_related("product")
    holder = await Customer.get(id=policy.holder_id).only("id", "name")
    return SurrenderPayee(policy.product, holder.name or None, f"安心保险退保金 {policy.number}")


async def settled(payout: Payout, status: PayoutStatus, failure_reason: str | None) -> None:
    """In the payout's settling transaction (the caller saw it unsettled, under lock)."""
    endorsement = await Endorsement.get(id=payout.endorsement_id)
    if status is PayoutStatus.SUCCESS:
        await add_to_timeline(
            endorsement,
            None,
            "surrender_paid",
            endorsement.status,
            endorsement.status,
            f"退保金{payout.amount}元已支付至{payout.payee_masked}",
        )
        await announce(
            endorsement, "endorsement.surrender_paid", {"amount": f"{payout.amount:.2f}"}
        )
        return
    await add_to_timeline(
        endorsement,
        None,
        "surrender_payout_failed",
        endorsement.status,
        endorsement.status,
        f"退保金{payout.amount}元支付失败，客服将与您联系",
    )
    await emit(
        "endorsement.surrender_payout_failed",
        entity_type="endorsement",
        entity_id=endorsement.id,
        customer_id=None,  # staff act on it
        payload={
            "_staff_channels": [STAFF_QUEUE],
            "endorsement_number": endorsement.number,
            "transfer_number": payout.transfer_number,
            "failure_reason": (failure_reason or "")[:255],
        },
    )


async def mismatch(payout: Payout, fingerprint: str, differences: list[str]) -> None:
    """A signed transfer notice that contradicts a surrender payout: staff hear once."""
    endorsement = await Endorsement.get(id=payout.endorsement_id).only("id", "number")
    await emit_once(
        "endorsement.payout_mismatch",
        dedupe_key=f"payout-mismatch:{payout.id}:{fingerprint}",
        entity_type="endorsement",
        entity_id=endorsement.id,
        customer_id=None,
        payload={
            "_staff_channels": [STAFF_QUEUE],
            "endorsement_number": endorsement.number,
            "transfer_number": payout.transfer_number,
            "differences": differences,
        },
    )
