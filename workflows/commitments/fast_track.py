"""Fast track (快速通道): a claim the small-claims promise covers is marked when it is
submitted and comes first in the staff claim queue.

It qualifies when the customer declares what they ask for, that amount is within the
enabled CLAIM_DECISION promise's ceiling, and every required document is there (no
explanation of missing ones). Decided once, at submission: the queue's order then stays
put while staff page through it.
"""

from __future__ import annotations

from decimal import Decimal

from models.commitments import CommitmentRule, ServiceCommitment


async def small_claim_ceiling() -> Decimal | None:
    """The amount up to which the small-claims promise applies (None: no such promise)."""
    from workflows.commitments.cases import ensure_defaults

    await ensure_defaults()
    ceilings = await ServiceCommitment.filter(
        rule=CommitmentRule.CLAIM_DECISION, enabled=True, max_amount__not_isnull=True
    ).values_list("max_amount", flat=True)
    return max((Decimal(c) for c in ceilings if c is not None), default=None)


async def qualifies(claimed_amount: Decimal | None, documents_complete: bool) -> bool:
    if claimed_amount is None or not documents_complete:
        return False
    ceiling = await small_claim_ceiling()
    return ceiling is not None and claimed_amount <= ceiling
