"""Service partners over real HTTP: our requests reach a fake partner on 127.0.0.1 that
checks their signatures; its signed callbacks to ``/partners/{code}/notify`` move the
booking — valid, tampered, stale, replayed and out-of-order events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.services import Services
from models.benefits import (
    BenefitUsage,
    BookingState,
    PartnerEvent,
    RoadsideNeed,
    ServiceBooking,
)
from models.customers import Customer
from models.notifications import OutboxEvent
from tests.benefits_helpers import catalogue
from tests.conftest import postgres_only
from tests.factories import make_customer, make_policy
from tests.fakes.partner import FakePartner, running_partner
from tests.fakes.server import refused_url
from workflows import benefits as flows
from workflows.benefits.errors import BenefitErrorCode
from workflows.benefits.reconcile import reconcile

SECRET = b"road-partner-shared-secret-0123456789"
SECRETS = {"ROAD_CO": SECRET.decode(), "HEALTH_CO": "health-partner-shared-secret-0123456789"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"partner_secrets": SECRETS}


@pytest.fixture
async def partner(client: httpx.AsyncClient) -> AsyncIterator[tuple[FakePartner, str]]:
    async with running_partner("ROAD_CO", SECRET) as running:
        yield running


async def _roadside(services: Services, customer: Customer) -> ServiceBooking:
    car = await make_policy(services, customer)
    request = flows.Roadside(
        policy_id=car.id,
        latitude=Decimal("31.2304"),
        longitude=Decimal("121.4737"),
        need=RoadsideNeed.BATTERY,
        plate_number="沪A12345",
        address="人民广场",
    )
    return await flows.request_roadside(services.bookings, customer.id, request)


async def test_a_roadside_request_reaches_the_partner_signed_with_place_need_and_car(
    services: Services, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    customer = await make_customer(services, name="张伟")
    booking = await _roadside(services, customer)
    [seen] = fake.seen
    assert seen.refused is None and seen.path == "/bookings"
    assert seen.body["bookingNumber"] == booking.number
    assert seen.body["roadside"] == {
        "need": "BATTERY",
        "latitude": "31.230400",
        "longitude": "121.473700",
        "address": "人民广场",
        "plateNumber": "沪A12345",
    }
    assert seen.body["policyNumber"] and seen.body["customerName"] == "张伟"
    assert booking.partner_reference == fake.bookings[booking.number]["reference"]
    await flows.cancel_booking(services.bookings, customer.id, booking.id)
    assert fake.seen[-1].path == "/bookings/cancel" and fake.seen[-1].refused is None
    assert fake.bookings[booking.number]["state"] == "CANCELLED"


@pytest.mark.parametrize(
    ("sabotage", "code"),
    [
        ("reject", BenefitErrorCode.PARTNER_REJECTED),
        ("fail", BenefitErrorCode.PARTNER_UNAVAILABLE),
        ("tamper", BenefitErrorCode.PARTNER_UNAVAILABLE),
    ],
)
async def test_a_partner_that_does_not_take_it_cancels_the_booking_and_gives_the_use_back(
    services: Services, partner: tuple[FakePartner, str], sabotage: str, code: BenefitErrorCode
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    customer = await make_customer(services)
    {"reject": fake.reject_next, "fail": lambda: fake.fail_next(503), "tamper": fake.tamper_next}[
        sabotage
    ]()
    with pytest.raises(flows.BenefitError) as refused:
        await _roadside(services, customer)
    assert refused.value.code is code
    booking = await ServiceBooking.get(customer_id=customer.id)
    assert booking.state is BookingState.CANCELLED
    assert await BenefitUsage.filter(customer_id=customer.id).count() == 0


async def test_a_partner_that_is_down_is_unavailable(services: Services, db: str) -> None:
    with refused_url() as down:
        await catalogue(down)
        customer = await make_customer(services)
        with pytest.raises(flows.BenefitError) as refused:
            await _roadside(services, customer)
    assert refused.value.code is BenefitErrorCode.PARTNER_UNAVAILABLE


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, code: str = "ROAD_CO"
) -> httpx.Response:
    return await client.post(f"/partners/{code}/notify", content=body, headers=headers)


async def test_signed_events_move_a_roadside_request_to_done_and_record_the_arrival(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    customer = await make_customer(services)
    booking = await _roadside(services, customer)
    arrived = datetime.now(UTC) + timedelta(seconds=1)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("CONFIRMED", {}),
        ("DISPATCHED", {}),
        ("EN_ROUTE", {"eta_minutes": 25}),
        ("EN_ROUTE", {"eta_minutes": 10}),
        ("ARRIVED", {"occurred_at": arrived}),
        ("DONE", {}),
    ]
    for sequence, (state, extra) in enumerate(steps, start=1):
        response = await _post(client, *fake.callback(booking.number, state, sequence, **extra))
        assert response.status_code == 200, response.text
        assert response.json() == {"ok": True, "duplicate": False, "applied": True}
    done = await ServiceBooking.get(id=booking.id)
    assert done.state is BookingState.DONE
    assert done.arrived_at is not None and abs((done.arrived_at - arrived).total_seconds()) < 1
    assert done.requested_at < done.confirmed_at <= done.dispatched_at <= done.arrived_at  # type: ignore[operator]
    assert done.eta_at is not None and done.finished_at is not None
    events = await OutboxEvent.filter(entity_id=str(booking.id)).order_by("id")
    assert [e.event_type for e in events] == [
        "booking.requested",
        "booking.confirmed",
        "booking.dispatched",
        "booking.en_route",
        "booking.en_route",
        "booking.arrived",
        "booking.done",
    ]
    assert events[-2].payload["arrived_at"] == done.arrived_at.isoformat()
    assert await BenefitUsage.filter(booking_id=booking.id).count() == 1  # used, once


async def test_tampered_forged_and_stale_callbacks_are_refused_and_change_nothing(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    headers, body = fake.callback(booking.number, "CONFIRMED", 1)
    tampered = body.replace(b"CONFIRMED", b"DONE")
    forged = fake.callback(booking.number, "DONE", 1, secret=b"x" * 32)
    stale = fake.callback(booking.number, "DONE", 1, ts=time.time() - 301)
    future = fake.callback(booking.number, "DONE", 1, ts=time.time() + 301)
    for attempt in [(headers, tampered), forged, stale, future, ({}, body)]:
        response = await _post(client, *attempt)
        assert response.status_code == 401, response.text
    unknown_partner = await _post(client, headers, body, code="NOBODY")
    assert unknown_partner.status_code == 404
    health_secret = SECRETS["HEALTH_CO"].encode()
    wrong_partner = fake.callback(booking.number, "DONE", 1, secret=health_secret)
    assert (await _post(client, *wrong_partner, code="HEALTH_CO")).status_code == 404
    assert (await ServiceBooking.get(id=booking.id)).state is BookingState.REQUESTED
    assert await PartnerEvent.all().count() == 0


async def test_a_malformed_event_is_a_bad_request(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    for state, sequence in [("FLYING", 1), ("REQUESTED", 1), ("DONE", 0), ("DONE", -3)]:
        response = await _post(client, *fake.callback(booking.number, state, sequence))
        assert response.status_code == 400, (state, sequence)
    assert (await _post(client, *fake.callback("FW00000000000000", "DONE", 1))).status_code == 404


async def test_a_replayed_event_is_answered_again_and_applied_once(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    signed = fake.callback(booking.number, "CONFIRMED", 1, event_id="evt-1")
    first = await _post(client, *signed)
    again = await _post(client, *signed)
    assert first.json()["applied"] is True
    assert again.status_code == 200 and again.json() == {
        "ok": True,
        "duplicate": True,
        "applied": False,
    }
    # The same event id re-signed later (a partner retrying) is still the same event.
    resent = fake.callback(booking.number, "DONE", 2, event_id="evt-1")
    assert (await _post(client, *resent)).json()["duplicate"] is True
    assert (await ServiceBooking.get(id=booking.id)).state is BookingState.CONFIRMED
    assert await OutboxEvent.filter(event_type="booking.confirmed").count() == 1


async def test_events_out_of_order_are_recorded_and_ignored(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    arrived = await _post(client, *fake.callback(booking.number, "ARRIVED", 4))
    late_eta = await _post(client, *fake.callback(booking.number, "EN_ROUTE", 3, eta_minutes=5))
    older_confirm = await _post(client, *fake.callback(booking.number, "CONFIRMED", 5))
    assert arrived.json()["applied"] is True
    assert late_eta.json() == {"ok": True, "duplicate": False, "applied": False}
    assert older_confirm.json()["applied"] is False  # a later sequence, an earlier state
    row = await ServiceBooking.get(id=booking.id)
    assert row.state is BookingState.ARRIVED and row.eta_at is None and row.partner_sequence == 4
    assert await PartnerEvent.filter(applied=False).count() == 2
    done = await _post(client, *fake.callback(booking.number, "DONE", 6))
    after_done = await _post(client, *fake.callback(booking.number, "CANCELLED", 7))
    assert done.json()["applied"] is True and after_done.json()["applied"] is False


async def test_a_cancellation_by_the_partner_gives_the_use_back(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    response = await _post(client, *fake.callback(booking.number, "CANCELLED", 1))
    assert response.json()["applied"] is True
    row = await ServiceBooking.get(id=booking.id)
    assert row.state is BookingState.CANCELLED and row.cancel_reason == "合作机构取消"
    assert await BenefitUsage.filter(booking_id=booking.id).count() == 0


@postgres_only
async def test_the_same_event_delivered_twice_at_once_applies_once(
    services: Services, client: httpx.AsyncClient, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    signed = fake.callback(booking.number, "CONFIRMED", 1, event_id="evt-race")
    answers = await asyncio.gather(
        flows.handle_notification(services.partners, "ROAD_CO", *signed),  # type: ignore[arg-type]
        flows.handle_notification(services.partners, "ROAD_CO", *signed),  # type: ignore[arg-type]
    )
    assert sorted(a.body["duplicate"] for a in answers) == [False, True]
    assert await OutboxEvent.filter(event_type="booking.confirmed").count() == 1
    assert await PartnerEvent.filter(event_id="evt-race").count() == 1


async def test_a_lost_callback_is_made_good_by_asking_the_partner(
    services: Services, partner: tuple[FakePartner, str]
) -> None:
    fake, base_url = partner
    await catalogue(base_url)
    booking = await _roadside(services, await make_customer(services))
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert await reconcile(services.partners, later) == 0  # nothing new at the partner
    fake.advance(booking.number, "DISPATCHED", 2)  # its callback never arrives
    assert await reconcile(services.partners, datetime.now(UTC)) == 0  # not quiet yet
    assert await reconcile(services.partners, later) == 1
    row = await ServiceBooking.get(id=booking.id)
    assert row.state is BookingState.DISPATCHED and row.partner_sequence == 2
    assert row.dispatched_at is not None
    assert fake.seen[-1].path == "/bookings/status" and fake.seen[-1].refused is None
    assert await reconcile(services.partners, later) == 0  # asked again: once
    assert await OutboxEvent.filter(event_type="booking.dispatched").count() == 1
    late_callback = fake.callback(booking.number, "DISPATCHED", 2)
    reply = await flows.handle_notification(services.partners, "ROAD_CO", *late_callback)  # type: ignore[arg-type]
    assert reply.body["applied"] is False  # the callback arriving after all: stale
