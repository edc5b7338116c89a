"""A small catalogue for the benefits tests: one partner per kind of service used."""

from __future__ import annotations

from datetime import UTC, datetime

from models.benefits import (
    BenefitService,
    BookingMethod,
    Partner,
    PartnerKind,
    ServiceKind,
)
from models.membership import Membership, MemberTier
from models.policies import ProductKind


async def catalogue(base_url: str | None = None) -> dict[str, BenefitService]:
    """Check-ups (GOLD and up, 2 a year, by appointment), online doctors (health
    policies, 1 a year) and roadside assistance (car policies, 3 a year)."""
    health = await Partner.create(
        code="HEALTH_CO", name="康宁体检", kind=PartnerKind.HEALTH, base_url=base_url
    )
    auto = await Partner.create(
        code="ROAD_CO", name="畅行救援", kind=PartnerKind.AUTO, base_url=base_url
    )
    check_up = await BenefitService.create(
        code="CHECK_UP",
        name="年度体检",
        kind=ServiceKind.CHECK_UP,
        partner=health,
        tiers=["GOLD", "PLATINUM"],
        yearly_quota=2,
        booking_method=BookingMethod.APPOINTMENT,
    )
    doctor = await BenefitService.create(
        code="ONLINE_DOCTOR",
        name="在线问诊",
        kind=ServiceKind.ONLINE_DOCTOR,
        partner=health,
        product_kinds=[ProductKind.HEALTH.value],
        yearly_quota=1,
        booking_method=BookingMethod.ON_DEMAND,
    )
    roadside = await BenefitService.create(
        code="ROADSIDE",
        name="道路救援",
        kind=ServiceKind.ROADSIDE,
        partner=auto,
        product_kinds=[ProductKind.AUTO.value],
        yearly_quota=3,
        booking_method=BookingMethod.ON_DEMAND,
    )
    return {"check_up": check_up, "doctor": doctor, "roadside": roadside}


async def make_member(customer_id: object, tier: MemberTier) -> None:
    now = datetime.now(UTC)
    await Membership.create(customer_id=customer_id, tier=tier, tier_since=now, recomputed_at=now)
