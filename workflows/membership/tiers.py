"""A customer's tier as stored (computed by the membership rules)."""

from __future__ import annotations

import uuid

from models.membership import Membership, MemberTier


async def tier_of(customer_id: uuid.UUID) -> MemberTier:
    """The tier the customer holds now; STANDARD until one is computed."""
    membership = await Membership.get_or_none(customer_id=customer_id).only("id", "tier")
    return MemberTier(membership.tier) if membership else MemberTier.STANDARD
