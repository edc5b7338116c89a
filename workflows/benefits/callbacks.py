"""Partner callbacks (``POST /partners/{code}/notify``): signed status events.

Checked in this order, each failure answered without a change: the partner exists and
has a secret (404), the HMAC-SHA256 over "<timestamp>." + body matches and the timestamp
is within 5 minutes (401), the body is a well-formed event (400), the booking is the
partner's (404). Then, in one transaction with the booking row locked: the event is
recorded unique per (partner, event id) — a replay finds it and changes nothing (200,
``duplicate``) — and applied only if it moves the booking forward: its sequence is
higher than the last applied one and the state is later in the state machine. An event
that arrives out of order is recorded and ignored (200, ``applied: false``), so the
partner does not retry it forever.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.benefits import (
    TERMINAL_STATES,
    BenefitService,
    BenefitUsage,
    BookingState,
    Partner,
    PartnerEvent,
    ServiceBooking,
    ServiceKind,
)
from workflows.benefits.bookings import emit_state
from workflows.benefits.partners import PartnerDirectory, signature_ok

MAX_BODY = 16 * 1024
ROADSIDE_ONLY = frozenset({BookingState.DISPATCHED, BookingState.EN_ROUTE, BookingState.ARRIVED})
RANK = {
    BookingState.REQUESTED: 0,
    BookingState.CONFIRMED: 1,
    BookingState.DISPATCHED: 2,
    BookingState.EN_ROUTE: 3,
    BookingState.ARRIVED: 4,
    BookingState.DONE: 5,
    BookingState.NO_SHOW: 5,
    BookingState.CANCELLED: 5,
}
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Event:
    event_id: str
    booking_number: str
    state: BookingState
    sequence: int
    occurred_at: datetime
    eta_minutes: int | None
    scheduled_at: datetime | None


def _error(status: int, code: str) -> Reply:
    return Reply(status, {"ok": False, "error": code})


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_event(body: bytes) -> Event | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    event_id, number = data.get("eventId"), data.get("bookingNumber")
    state, sequence, eta = data.get("state"), data.get("sequence"), data.get("etaMinutes")
    occurred = _time(data.get("occurredAt"))
    if not (isinstance(event_id, str) and 1 <= len(event_id) <= 64):
        return None
    if not (isinstance(number, str) and 1 <= len(number) <= 32):
        return None
    if state not in BookingState.__members__ or state == BookingState.REQUESTED:
        return None
    if not (isinstance(sequence, int) and not isinstance(sequence, bool)):
        return None
    if not 0 < sequence < 2**31 or occurred is None:
        return None
    if eta is not None and not (isinstance(eta, int) and 0 <= eta <= 24 * 60):
        return None
    scheduled = data.get("scheduledAt")
    scheduled_at = _time(scheduled) if scheduled is not None else None
    if scheduled is not None and scheduled_at is None:
        return None
    return Event(event_id, number, BookingState(str(state)), sequence, occurred, eta, scheduled_at)


def moves_forward(booking: ServiceBooking, kind: ServiceKind, event: Event) -> bool:
    """A later state than the booking's (or a new ETA while en route), in sequence."""
    if booking.state in TERMINAL_STATES or event.sequence <= booking.partner_sequence:
        return False
    if event.state in ROADSIDE_ONLY and kind is not ServiceKind.ROADSIDE:
        return False
    if event.state is BookingState.EN_ROUTE and booking.state is BookingState.EN_ROUTE:
        return True  # a new ETA
    return RANK[event.state] > RANK[booking.state]


def changes(booking: ServiceBooking, event: Event, now: datetime) -> dict[str, Any]:
    """The columns an applied event sets. A time is the partner's, kept within what is
    possible (not before the request, not in our future); each is set once."""
    at = min(max(event.occurred_at, booking.requested_at), now + CLOCK_SKEW).astimezone(UTC)
    values: dict[str, Any] = {"state": event.state, "partner_sequence": event.sequence}
    reached = RANK[event.state]
    if event.state not in (BookingState.CANCELLED, BookingState.NO_SHOW):
        if booking.confirmed_at is None and reached >= RANK[BookingState.CONFIRMED]:
            values["confirmed_at"] = at
        if booking.dispatched_at is None and event.state in ROADSIDE_ONLY:
            values["dispatched_at"] = at
    if event.state is BookingState.ARRIVED and booking.arrived_at is None:
        values["arrived_at"] = at
    if event.state is BookingState.EN_ROUTE and event.eta_minutes is not None:
        values["eta_at"] = at + timedelta(minutes=event.eta_minutes)
    if event.state in TERMINAL_STATES:
        values["finished_at"] = at
    if event.state is BookingState.CANCELLED:
        values["cancel_reason"] = "合作机构取消"
    if event.scheduled_at is not None and event.state is BookingState.CONFIRMED:
        values["scheduled_at"] = event.scheduled_at
    return values


async def handle_notification(
    directory: PartnerDirectory,
    code: str,
    headers: dict[str, str],
    body: bytes,
    now: datetime | None = None,
) -> Reply:
    now = now or datetime.now(UTC)
    partner = await Partner.get_or_none(code=code[:32])
    secret = directory.secret(partner.code) if partner else None
    if partner is None or secret is None:
        return _error(404, "UNKNOWN_PARTNER")
    if len(body) > MAX_BODY or not signature_ok(secret, headers, body, now.timestamp()):
        return _error(401, "BAD_SIGNATURE")
    event = parse_event(body)
    if event is None:
        return _error(400, "BAD_EVENT")
    return await apply_event(partner, event, json.loads(body), now)


async def apply_event(
    partner: Partner, event: Event, raw: dict[str, Any], now: datetime | None = None
) -> Reply:
    """Record ``event`` (unique per partner and event id) and apply it if it moves the
    booking forward: one transaction, the booking row locked. Callbacks and the status
    reconciliation both come here."""
    now = now or datetime.now(UTC)
    async with in_transaction():
        booking = (
            await ServiceBooking.filter(number=event.booking_number, partner_id=partner.id)
            .select_for_update()
            .first()
        )
        if booking is None:
            return _error(404, "UNKNOWN_BOOKING")
        service = await BenefitService.get(id=booking.service_id)
        applied = moves_forward(booking, service.kind, event)
        row_id = uuid.uuid4()
        await PartnerEvent.bulk_create(
            [
                PartnerEvent(
                    id=row_id,
                    partner_id=partner.id,
                    event_id=event.event_id,
                    booking_id=booking.id,
                    sequence=event.sequence,
                    state=event.state.value,
                    applied=applied,
                    body=raw,
                )
            ],
            ignore_conflicts=True,
        )
        if not await PartnerEvent.filter(id=row_id).exists():
            return Reply(200, {"ok": True, "duplicate": True, "applied": False})
        if applied:
            await ServiceBooking.filter(id=booking.id).update(
                **changes(booking, event, now), version=F("version") + 1
            )
            if event.state is BookingState.CANCELLED:  # not the customer's doing
                await BenefitUsage.filter(booking_id=booking.id).delete()
            await booking.refresh_from_db()
            await emit_state(booking, service)
    return Reply(200, {"ok": True, "duplicate": False, "applied": applied})
