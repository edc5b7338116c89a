"""The points ledger credits each source event once, however often or concurrently it
arrives; the tier of a customer never computed is STANDARD."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from api.services import Services
from models.membership import Membership, MemberTier, PointsEntry, PointsKind
from tests.conftest import postgres_only
from tests.factories import make_customer
from workflows.membership import award_points, points_balance, tier_of


async def test_a_source_credits_once(services: Services) -> None:
    customer = await make_customer(services)
    assert await award_points(customer.id, 120, "payment:1", "保费缴纳") is True
    assert await award_points(customer.id, 120, "payment:1", "保费缴纳") is False
    assert await award_points(customer.id, 30, "survey:1", "满意度调查") is True
    assert await points_balance(customer.id) == 150
    other = await make_customer(services)
    assert await award_points(other.id, 120, "payment:1", "保费缴纳") is True  # per customer
    assert await points_balance(other.id) == 120


async def test_only_credits_are_awarded(services: Services) -> None:
    customer = await make_customer(services)
    with pytest.raises(ValueError):
        await award_points(customer.id, 0, "payment:2", "零")
    with pytest.raises(ValueError):
        await award_points(customer.id, 10, "x:1", "兑换", kind=PointsKind.REDEEMED)
    assert await PointsEntry.filter(customer_id=customer.id).count() == 0


async def test_tier_defaults_to_standard(services: Services) -> None:
    customer = await make_customer(services)
    assert await tier_of(customer.id) is MemberTier.STANDARD
    await Membership.create(
        customer=customer,
        tier=MemberTier.GOLD,
        tier_since=datetime.now(UTC),
        recomputed_at=datetime.now(UTC),
    )
    assert await tier_of(customer.id) is MemberTier.GOLD


@postgres_only
async def test_concurrent_duplicates_credit_once(services: Services) -> None:
    customer = await make_customer(services)
    results = await asyncio.gather(
        *(award_points(customer.id, 50, "payment:race", "保费缴纳") for _ in range(8))
    )
    assert results.count(True) == 1
    assert await points_balance(customer.id) == 50
