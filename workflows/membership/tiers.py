"""A customer's tier as stored (computed by the membership rules)."""

from __future__ import annotations

import uuid

from models.membership import Membership, MemberTier


async def tier_of(customer_id: uuid.UUID) -> MemberTier:
    """The tier the customer holds now; STANDARD until one is computed."""
    tier = await Membership.filter(customer_id=customer_id).first().values_list("tier", flat=True)
    return MemberTier(tier) if tier else MemberTier.STANDARD
