"""A customer's tier as stored (computed by the membership rules)."""

from __future__ import annotations

import uuid

from models.membership import Membership, MemberTier


async def tier_of(customer_id: uuid.UUID) -> MemberTier:
    """The tier the customer holds now; STANDARD until one is computed."""
    membership = await Membership.get_or_none(customer_id=customer_id).only("id", "tier")
    return MemberTier(membership.tier) if membership else MemberTier.STANDARD


async def has_privilege(customer_id: uuid.UUID, code: str) -> bool:
    """Whether the customer's tier lists a privilege (e.g. ``FAST_TRACK_CLAIMS`` for the
    claim queue's order), by the rules as they stand."""
    from workflows.membership.store import current_rules

    return (await current_rules()).lists(await tier_of(customer_id), code)
