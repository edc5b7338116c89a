"""A lost callback does not leave a booking stuck: every 10 minutes the bookings still
under way whose last news is older than 30 minutes are asked about (the adapter's
``status``), and a newer state the partner reports is applied exactly as its callback
would have been (``apply_event``: recorded once per partner, booking and sequence)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from models.benefits import TERMINAL_STATES, BookingState, Partner, ServiceBooking
from workflows.benefits.callbacks import Event, apply_event
from workflows.benefits.partners import PartnerDirectory, PartnerError
from workflows.jobs import MINUTE, Job, JobDeps

log = logging.getLogger("anxin.benefits")
QUIET_FOR = timedelta(minutes=30)
LOOK_BACK = timedelta(days=30)
BATCH = 50


async def reconcile(directory: PartnerDirectory, now: datetime | None = None) -> int:
    """Ask partners about quiet open bookings; how many changed."""
    now = now or datetime.now(UTC)
    quiet = (
        await ServiceBooking.filter(
            requested_at__lt=now - QUIET_FOR, requested_at__gt=now - LOOK_BACK
        )
        .exclude(state__in=list(TERMINAL_STATES))
        .select_related("partner")
        .order_by("requested_at")
        .limit(BATCH)
    )
    changed = 0
    for booking in quiet:
        partner: Partner = booking.partner
        adapter = directory.adapter(partner.code, partner.base_url)
        if adapter is None:
            continue
        try:
            answer = await adapter.status(booking.number, booking.partner_reference)
        except PartnerError as exc:
            log.warning("status of booking %s not known: %s", booking.number, exc)
            continue
        if answer.state not in BookingState.__members__ or answer.sequence <= 0:
            continue
        event = Event(
            event_id=f"status:{booking.number}:{answer.sequence}",
            booking_number=booking.number,
            state=BookingState(answer.state),
            sequence=answer.sequence,
            occurred_at=now,  # the partner's status answer has no event time
            eta_minutes=None,
            scheduled_at=None,
        )
        raw = {"source": "status", "state": answer.state, "sequence": answer.sequence}
        reply = await apply_event(partner, event, raw, now)
        changed += bool(reply.body.get("applied"))
    return changed


async def _job(deps: JobDeps) -> int:
    return await reconcile(deps.partners) if deps.partners is not None else 0


JOBS = (Job("benefit-status", 10 * MINUTE, _job, first_after=2 * MINUTE),)
