"""Value-added services: entitlement by tier or policy, the yearly quota used once and
given back on cancellation (one winner of two concurrent bookings for the last use, on
PostgreSQL), roadside requests bounded, events in the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api.services import Services
from models.benefits import BenefitUsage, BookingState, RoadsideNeed, ServiceBooking
from models.membership import MemberTier
from models.notifications import OutboxEvent
from models.policies import PolicyStatus, ProductKind
from tests.benefits_helpers import catalogue, make_member
from tests.conftest import postgres_only
from tests.factories import make_customer, make_policy, make_product
from workflows import benefits as flows
from workflows.benefits.errors import BenefitErrorCode
from workflows.benefits.partners import HttpPartner, SandboxPartner

SOON = timedelta(days=3)


async def test_a_gold_member_is_entitled_by_tier_and_sees_the_quota_left(
    services: Services,
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    before = {e.service.code: e for e in await flows.entitlements(customer.id)}
    assert not before["CHECK_UP"].entitled
    assert "金卡会员" in before["CHECK_UP"].reason  # what would entitle them
    await make_member(customer.id, MemberTier.GOLD)
    after = {e.service.code: e for e in await flows.entitlements(customer.id)}
    assert after["CHECK_UP"].entitled and after["CHECK_UP"].reason == "金卡会员权益"
    assert after["CHECK_UP"].left == 2
    await flows.book_service(
        services.bookings, customer.id, found["check_up"].id, preferred_at=datetime.now(UTC) + SOON
    )
    again = {e.service.code: e for e in await flows.entitlements(customer.id)}
    assert (again["CHECK_UP"].used, again["CHECK_UP"].left) == (1, 1)


async def test_a_policy_in_force_of_an_included_product_entitles_and_a_lapsed_one_does_not(
    services: Services,
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    health = await make_product(ProductKind.HEALTH)
    await make_policy(services, customer, product=health, status=PolicyStatus.LAPSED)
    with pytest.raises(flows.BenefitError) as refused:
        await flows.book_service(services.bookings, customer.id, found["doctor"].id)
    assert refused.value.code is BenefitErrorCode.NOT_ENTITLED
    assert await ServiceBooking.all().count() == 0  # refused: nothing written
    policy = await make_policy(services, customer, product=health)
    booking = await flows.book_service(services.bookings, customer.id, found["doctor"].id)
    assert booking.policy_id == policy.id and booking.state is BookingState.REQUESTED
    assert booking.partner_reference == f"SBX-{booking.number}"  # the sandbox took it


async def test_the_quota_is_used_once_and_given_back_on_cancellation(services: Services) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.PLATINUM)
    when = datetime.now(UTC) + SOON
    first = await flows.book_service(
        services.bookings, customer.id, found["check_up"].id, preferred_at=when
    )
    await flows.book_service(
        services.bookings, customer.id, found["check_up"].id, preferred_at=when
    )
    with pytest.raises(flows.BenefitError) as used_up:
        await flows.book_service(
            services.bookings, customer.id, found["check_up"].id, preferred_at=when
        )
    assert used_up.value.code is BenefitErrorCode.QUOTA_USED_UP
    assert await ServiceBooking.all().count() == 2  # the refused one left nothing
    cancelled = await flows.cancel_booking(services.bookings, customer.id, first.id, "改期")
    assert cancelled.state is BookingState.CANCELLED and cancelled.finished_at is not None
    assert await BenefitUsage.filter(booking_id=first.id).count() == 0
    third = await flows.book_service(
        services.bookings, customer.id, found["check_up"].id, preferred_at=when
    )
    assert await BenefitUsage.filter(booking_id=third.id).count() == 1
    with pytest.raises(flows.BenefitError) as twice:
        await flows.cancel_booking(services.bookings, customer.id, first.id)
    assert twice.value.code is BenefitErrorCode.NOT_CANCELLABLE
    types = await OutboxEvent.filter(entity_id=str(first.id)).values_list("event_type", flat=True)
    assert sorted(types) == ["booking.cancelled", "booking.requested"]


async def test_another_customer_cannot_cancel_my_booking(services: Services) -> None:
    found = await catalogue()
    me, other = await make_customer(services), await make_customer(services)
    await make_member(me.id, MemberTier.GOLD)
    booking = await flows.book_service(
        services.bookings, me.id, found["check_up"].id, preferred_at=datetime.now(UTC) + SOON
    )
    with pytest.raises(flows.BenefitError) as refused:
        await flows.cancel_booking(services.bookings, other.id, booking.id)
    assert refused.value.code is BenefitErrorCode.NOT_FOUND
    assert (await ServiceBooking.get(id=booking.id)).state is BookingState.REQUESTED


@pytest.mark.parametrize("when", [timedelta(hours=-1), timedelta(days=200), None])
async def test_an_appointment_needs_a_time_in_the_next_180_days(
    services: Services, when: timedelta | None
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    with pytest.raises(flows.BenefitError) as refused:
        await flows.book_service(
            services.bookings,
            customer.id,
            found["check_up"].id,
            preferred_at=datetime.now(UTC) + when if when else None,
        )
    assert refused.value.code is BenefitErrorCode.INVALID_TIME


def roadside(policy_id: object, **changes: object) -> flows.Roadside:
    values: dict[str, object] = {
        "policy_id": policy_id,
        "latitude": Decimal("31.230416"),
        "longitude": Decimal("121.473701"),
        "need": RoadsideNeed.TOW,
        "plate_number": "沪A12345",
        "address": "上海市黄浦区人民大道",
    }
    return flows.Roadside(**(values | changes))  # type: ignore[arg-type]


async def test_roadside_for_a_car_policy_in_force_records_place_need_and_car(
    services: Services,
) -> None:
    await catalogue()
    customer = await make_customer(services)
    car = await make_policy(services, customer)  # make_product's default kind: AUTO
    booking = await flows.request_roadside(services.bookings, customer.id, roadside(car.id))
    assert booking.need is RoadsideNeed.TOW and booking.plate_number == "沪A12345"
    assert booking.latitude == Decimal("31.230416") and booking.policy_id == car.id
    assert booking.requested_at is not None and booking.arrived_at is None
    event = await OutboxEvent.get(entity_id=str(booking.id))
    assert event.event_type == "booking.requested"
    assert event.payload["service_kind"] == "ROADSIDE" and event.payload["requested_at"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"latitude": Decimal("91")}, BenefitErrorCode.INVALID_LOCATION),
        ({"longitude": Decimal("-0.1")}, BenefitErrorCode.INVALID_LOCATION),
        ({"plate_number": "ABC"}, BenefitErrorCode.INVALID_INPUT),
        ({"address": "路" * 201}, BenefitErrorCode.INVALID_INPUT),
    ],
)
async def test_roadside_input_is_bounded(
    services: Services, changes: dict[str, object], code: BenefitErrorCode
) -> None:
    await catalogue()
    customer = await make_customer(services)
    car = await make_policy(services, customer)
    with pytest.raises(flows.BenefitError) as refused:
        await flows.request_roadside(services.bookings, customer.id, roadside(car.id, **changes))
    assert refused.value.code is code
    assert await ServiceBooking.all().count() == 0


async def test_roadside_needs_my_car_policy_in_force(services: Services) -> None:
    await catalogue()
    customer, stranger = await make_customer(services), await make_customer(services)
    health = await make_policy(services, customer, product=await make_product(ProductKind.HEALTH))
    lapsed = await make_policy(services, customer, status=PolicyStatus.LAPSED)
    theirs = await make_policy(services, stranger)
    # Named as a beneficiary of someone's car policy: not theirs to be served by.
    as_beneficiary = await make_policy(services, stranger, beneficiaries=[customer])
    expected = [
        (as_beneficiary.id, BenefitErrorCode.NOT_FOUND),
        (health.id, BenefitErrorCode.NOT_A_CAR_POLICY),
        (lapsed.id, BenefitErrorCode.POLICY_NOT_IN_FORCE),
        (theirs.id, BenefitErrorCode.NOT_FOUND),
    ]
    for policy_id, code in expected:
        with pytest.raises(flows.BenefitError) as refused:
            await flows.request_roadside(services.bookings, customer.id, roadside(policy_id))
        assert refused.value.code is code


@postgres_only
async def test_two_concurrent_bookings_for_the_last_use_one_wins(services: Services) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    when = datetime.now(UTC) + SOON
    await flows.book_service(
        services.bookings, customer.id, found["check_up"].id, preferred_at=when
    )

    async def book() -> object:
        return await flows.book_service(
            services.bookings, customer.id, found["check_up"].id, preferred_at=when
        )

    for _ in range(3):  # the race is real each round: both read one free slot
        results = await asyncio.gather(book(), book(), return_exceptions=True)
        won = [r for r in results if isinstance(r, ServiceBooking)]
        lost = [r for r in results if isinstance(r, flows.BenefitError)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].code is BenefitErrorCode.QUOTA_USED_UP
        assert await BenefitUsage.filter(customer_id=customer.id).count() == 2
        await flows.cancel_booking(services.bookings, customer.id, won[0].id)


def test_outside_development_a_partner_is_reached_over_https_only_and_never_the_sandbox(
    services: Services,
) -> None:
    secret = {"ROAD_CO": b"s" * 32}
    production = flows.PartnerDirectory(services.http, secret, development=False)
    assert production.adapter("ROAD_CO", "http://partner.example") is None
    assert production.adapter("ROAD_CO", None) is None  # no sandbox
    assert production.adapter("OTHER", "https://partner.example") is None  # no secret
    assert isinstance(production.adapter("ROAD_CO", "https://partner.example"), HttpPartner)
    development = flows.PartnerDirectory(services.http, {}, development=True, dev_key=b"k" * 32)
    assert isinstance(development.adapter("ROAD_CO", None), SandboxPartner)
    assert development.secret("ROAD_CO") != development.secret("HEALTH_CO")
