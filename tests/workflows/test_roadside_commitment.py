"""The roadside promise (承诺60分钟内到达救援现场) measured on real bookings: a case
opened from the request's outbox event, kept by the partner's signed arrival, broken by
the sweep when nobody arrived in 60 minutes (goodwill points, a call back, a notice
naming the booking), waived when the customer cancels, not waived when the partner does."""

from __future__ import annotations

import importlib
import uuid
from datetime import datetime, timedelta

from tortoise import connections

from api.services import Services
from models.benefits import BookingState, Partner, ServiceBooking
from models.commitments import CaseStatus, CommitmentCase, ServiceCommitment
from models.notifications import OutboxEvent
from models.policies import ProductKind
from push.templates import render
from tests.benefits_helpers import catalogue
from tests.factories import make_customer, make_policy, make_product
from tests.workflows.test_benefits import roadside
from workflows import benefits as flows
from workflows import commitments
from workflows.benefits.callbacks import Event, apply_event
from workflows.membership import points_balance

P = CaseStatus


async def requested(services: Services) -> ServiceBooking:
    await catalogue()
    customer = await make_customer(services)
    car = await make_policy(services, customer)  # AUTO by default
    return await flows.request_roadside(services.bookings, customer.id, roadside(car.id))


async def partner_says(booking: ServiceBooking, state: BookingState, at: datetime) -> None:
    """The partner's signed callback as the notify route applies it, received at ``at``."""
    partner = await Partner.get(id=booking.partner_id)
    fresh = await ServiceBooking.get(id=booking.id)
    event = Event(
        uuid.uuid4().hex, booking.number, state, fresh.partner_sequence + 1, at, None, None
    )
    reply = await apply_event(partner, event, {"state": state.value}, now=at)
    assert reply.body["applied"] is True


async def case_of(booking: ServiceBooking) -> CommitmentCase:
    return await CommitmentCase.get(subject_id=booking.id).select_related("commitment")


async def test_arrival_within_60_minutes_keeps_the_promise(services: Services) -> None:
    booking = await requested(services)
    assert await commitments.evaluate_events() >= 1  # booking.requested opens the case
    case = await case_of(booking)
    assert case.commitment.code == "ROADSIDE_ARRIVAL" and case.subject_type == "booking"
    assert case.status is P.PENDING
    assert case.deadline == booking.requested_at + timedelta(minutes=60)
    arrived = booking.requested_at + timedelta(minutes=45)
    await partner_says(booking, BookingState.EN_ROUTE, arrived - timedelta(minutes=20))
    await partner_says(booking, BookingState.ARRIVED, arrived)
    await commitments.evaluate_events(now=arrived)
    case = await case_of(booking)
    assert case.status is P.KEPT and case.met_at == arrived
    assert await commitments.sweep(now=arrived + timedelta(hours=2)) == 0


async def test_nobody_on_site_in_60_minutes_breaks_it_once(services: Services) -> None:
    booking = await requested(services)
    await commitments.evaluate_events()
    deadline = booking.requested_at + timedelta(minutes=60)
    assert await commitments.sweep(now=deadline - timedelta(minutes=1)) == 0
    assert await commitments.sweep(now=deadline + timedelta(minutes=1)) == 1
    case = await case_of(booking)
    assert case.status is P.BROKEN and case.remedied_at is not None
    assert await points_balance(booking.customer_id) == 200
    notice = await OutboxEvent.get(event_type="commitment.broken")
    assert notice.payload["deep_link"].startswith("anxin://bookings/")
    assert booking.number in render(notice.event_type, notice.payload).body
    # Arriving later does not mend it; the time is still recorded.
    late = deadline + timedelta(minutes=15)
    await partner_says(booking, BookingState.ARRIVED, late)
    await commitments.evaluate_events(now=late)
    case = await case_of(booking)
    assert case.status is P.BROKEN and case.met_at == late
    assert await points_balance(booking.customer_id) == 200


async def test_the_customer_cancelling_ends_it_without_a_verdict(services: Services) -> None:
    booking = await requested(services)
    await commitments.evaluate_events()
    await flows.cancel_booking(services.bookings, booking.customer_id, booking.id, "自己修好了")
    await commitments.evaluate_events()
    assert (await case_of(booking)).status is P.WAIVED
    assert await commitments.sweep(now=booking.requested_at + timedelta(hours=2)) == 0
    assert await points_balance(booking.customer_id) == 0


async def test_the_partner_cancelling_does_not_excuse_it(services: Services) -> None:
    booking = await requested(services)
    # A customer's reason that reads like the partner's is still the customer's.
    other = await requested_again(services, booking)
    await flows.cancel_booking(services.bookings, other.customer_id, other.id, "合作机构取消")
    at = booking.requested_at + timedelta(minutes=10)
    await partner_says(booking, BookingState.CANCELLED, at)
    await commitments.evaluate_events(now=at)
    assert (await case_of(booking)).status is P.PENDING
    assert (await case_of(other)).status is P.WAIVED
    assert await commitments.sweep(now=booking.requested_at + timedelta(minutes=61)) == 1
    assert (await case_of(booking)).status is P.BROKEN


async def requested_again(services: Services, _first: ServiceBooking) -> ServiceBooking:
    car = await make_policy(services, await make_customer(services))
    return await flows.request_roadside(services.bookings, car.holder_id, roadside(car.id))


async def test_other_bookings_carry_no_roadside_promise(services: Services) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_policy(services, customer, product=await make_product(ProductKind.HEALTH))
    booking = await flows.book_service(services.bookings, customer.id, found["doctor"].id)
    await commitments.evaluate_events()
    assert not await CommitmentCase.filter(subject_id=booking.id).exists()


async def test_the_migration_switches_on_the_row_written_disabled(db: str) -> None:
    migration = importlib.import_module("models.migrations.0030_wrapup")

    class Editor:
        client = connections.get("default")

    await commitments.ensure_defaults()
    await ServiceCommitment.filter(code="ROADSIDE_ARRIVAL").update(enabled=False)
    await ServiceCommitment.filter(code="AGENT_ANSWER").update(enabled=False)  # staff's choice
    await migration._enable_roadside(None, Editor())
    assert (await ServiceCommitment.get(code="ROADSIDE_ARRIVAL")).enabled
    assert not (await ServiceCommitment.get(code="AGENT_ANSWER")).enabled


async def test_the_migration_gives_existing_cases_their_promise_s_terms(
    services: Services,
) -> None:
    migration = importlib.import_module("models.migrations.0030_wrapup")

    class Editor:
        client = connections.get("default")

    booking = await requested(services)
    await commitments.evaluate_events()
    await CommitmentCase.filter(subject_id=booking.id).update(  # as a case before 0030
        title="", minutes=None, working_days=None, goodwill_points=0
    )
    await migration._case_terms(None, Editor())
    case = await CommitmentCase.get(subject_id=booking.id)
    assert (case.title, case.minutes, case.working_days, case.goodwill_points) == (
        "承诺60分钟内到达救援现场",
        60,
        None,
        200,
    )
