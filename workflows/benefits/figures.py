"""Partner figures for staff (BENEFIT_MANAGE): how many bookings, how many completed,
the customers' ratings and how long the partner takes to confirm, so a bad partner
shows. Computed over the bookings requested in a period (at most a year of rows)."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from models.benefits import BookingState, Partner, ServiceBooking
from models.surveys import ServiceRating

RATED_AS = "BOOKING"


@dataclass(frozen=True)
class PartnerFigures:
    partner: Partner
    bookings: int
    done: int
    no_show: int
    cancelled_by_partner: int
    open: int  # not ended yet
    completion_rate: Decimal | None  # DONE of the bookings the partner ended (None: none)
    average_rating: Decimal | None  # stars, 1-5
    ratings: int
    median_minutes_to_confirm: Decimal | None


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001")) if whole else None


async def partner_figures(since: datetime, until: datetime) -> list[PartnerFigures]:
    """One line per partner, worst completion first (no bookings last). Cancellations by
    the customer do not count against the partner; its own do."""
    rows = await ServiceBooking.filter(requested_at__gte=since, requested_at__lt=until).values(
        "id", "partner_id", "state", "requested_at", "confirmed_at", "cancel_reason"
    )
    by_partner: dict[uuid.UUID, list[dict[str, object]]] = {}
    for row in rows:
        by_partner.setdefault(uuid.UUID(str(row["partner_id"])), []).append(row)
    ratings = await ServiceRating.filter(
        subject_type=RATED_AS, subject_id__in=[str(r["id"]) for r in rows]
    ).values_list("subject_id", "stars")
    stars_of = {str(subject): int(stars) for subject, stars in ratings}
    answer = []
    for partner in await Partner.all().order_by("code"):
        mine = by_partner.get(partner.id, [])
        states = [BookingState(str(r["state"])) for r in mine]
        done = states.count(BookingState.DONE)
        no_show = states.count(BookingState.NO_SHOW)
        by_partner_cancel = sum(
            1
            for r in mine
            if r["state"] == BookingState.CANCELLED
            and r["cancel_reason"] in ("合作机构取消", "合作机构未能受理")
        )
        ended_by_partner = done + no_show + by_partner_cancel
        stars = [stars_of[str(r["id"])] for r in mine if str(r["id"]) in stars_of]
        waits = [
            (r["confirmed_at"] - r["requested_at"]).total_seconds() / 60  # type: ignore[operator]
            for r in mine
            if r["confirmed_at"] is not None
        ]
        open_count = sum(
            1
            for s in states
            if s not in (BookingState.DONE, BookingState.NO_SHOW, BookingState.CANCELLED)
        )
        answer.append(
            PartnerFigures(
                partner=partner,
                bookings=len(mine),
                done=done,
                no_show=no_show,
                cancelled_by_partner=by_partner_cancel,
                open=open_count,
                completion_rate=_rate(done, ended_by_partner),
                average_rating=(Decimal(sum(stars)) / Decimal(len(stars))).quantize(Decimal("0.01"))
                if stars
                else None,
                ratings=len(stars),
                median_minutes_to_confirm=Decimal(str(statistics.median(waits))).quantize(
                    Decimal("0.1")
                )
                if waits
                else None,
            )
        )
    answer.sort(key=lambda f: (f.completion_rate is None, f.completion_rate or 0))
    return answer
