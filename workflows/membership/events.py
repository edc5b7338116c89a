"""What moves a membership: the outbox events of policies, payments and claims, answered
surveys, and the nightly pass over every customer.

``membership-events`` (every 30 s) reads the watched outbox events not yet handled,
credits the points they earn (a premium paid: 1 point per ``yuan_per_point``; a renewal
issued: the renewal bonus), takes back those of a refunded premium (as far as unspent, one
entry per refund), recomputes the customers they concern and marks them handled
(``MembershipEventSeen``). Credits are unique per source event and recomputing is safe
to repeat, so a worker stopping between the two, or two workers on one event, change
nothing twice. A failed run (database gone) is retried by the job runner with backoff.

``membership-surveys`` (every 10 min) credits surveys answered in the last two days.
``membership-nightly`` (daily) recomputes every customer in batches (policies that
expired, years that passed, grace periods that ended) and writes off expired points.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import cast

from tortoise.expressions import Q, Subquery

from models.claims import Claim
from models.clock import local_date
from models.customers import Customer
from models.membership import MembershipEventSeen, PointsEntry
from models.notifications import OutboxEvent
from models.surveys import SurveyInvitation
from workflows.jobs import HOUR, MINUTE, Job, JobDeps
from workflows.membership.ledger import expire_due, reverse_payment_points
from workflows.membership.points import Credit, award_many
from workflows.membership.rules import Rules
from workflows.membership.standing import recompute
from workflows.membership.store import current_rules

log = logging.getLogger("anxin.membership")
WATCHED_EVENTS = (
    "policy.issued",
    "policy.cancelled",
    "policy.lapsed",
    "payment.received",
    "payment.refunded",
    "claim.paid",
    "claim.closed",
    "claim.reopened",
)
# Older events were handled. A week, not crisis/detect's two days: a payment's points are
# credited only from its event (the nightly pass recomputes tiers, not points).
LOOKBACK = timedelta(days=7)
BATCH = 200
MAX_BATCHES = 10  # per run: a backlog drains at up to 2,000 events per run
NIGHTLY_BATCH = 500
SURVEY_LOOKBACK = timedelta(days=2)


def _credit(event: OutboxEvent, rules: Rules) -> Credit | None:
    if event.customer_id is None:
        return None
    expires = rules.points_expire_on(local_date(event.created_at))
    if event.event_type == "payment.received":
        try:
            amount = Decimal(str(event.payload.get("amount", "0")))
        except InvalidOperation:
            return None
        points = int(amount // rules.points.yuan_per_point)
        number = event.payload.get("policy_number", "")
        return Credit(
            event.customer_id, points, f"payment:{event.entity_id}", f"缴纳保费{number}", expires
        )
    if event.event_type == "policy.issued" and event.payload.get("renewal") == "1":
        number = event.payload.get("policy_number", "")
        return Credit(
            event.customer_id,
            rules.points.renewal_bonus,
            f"renewal:{event.entity_id}",
            f"续保{number}",
            expires,
        )
    return None


async def _reverse(event: OutboxEvent, rules: Rules) -> None:
    """A premium refunded: the points its amount earned are taken back (as far as unspent)."""
    try:
        amount = Decimal(str(event.payload.get("amount", "0")))
    except InvalidOperation:
        return
    points = int(amount // rules.points.yuan_per_point)
    if points > 0 and event.customer_id is not None:
        await reverse_payment_points(
            event.customer_id, event.entity_id, str(event.event_id), points
        )


async def _holders_of_claims(claim_ids: list[str]) -> list[uuid.UUID]:
    """A claim moves the tier of its policy's holder (who may not be the claimant)."""
    ids = []
    for value in claim_ids:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    if not ids:
        return []
    rows = await Claim.filter(id__in=ids).values_list("policy__holder_id", flat=True)
    return [cast(uuid.UUID, r) for r in rows if r is not None]


async def handle_events(limit: int | None = None, now: datetime | None = None) -> int:
    """Handle up to ``limit`` (default ``BATCH``) watched events not handled yet; returns
    how many were."""
    now = now or datetime.now(UTC)
    limit = limit or BATCH
    seen = MembershipEventSeen.all().values("outbox_event_id")
    events = (
        await OutboxEvent.filter(
            event_type__in=list(WATCHED_EVENTS), created_at__gte=now - LOOKBACK
        )
        .filter(~Q(id__in=Subquery(seen)))
        .order_by("id")
        .limit(limit)
    )
    if not events:
        return 0
    rules = await current_rules()
    credits = [c for c in (_credit(e, rules) for e in events) if c is not None]
    await award_many(credits)
    for event in events:
        if event.event_type == "payment.refunded" and event.customer_id is not None:
            await _reverse(event, rules)
    customers = [e.customer_id for e in events if e.customer_id is not None]
    claims = [e.entity_id for e in events if e.entity_type == "claim"]
    customers += await _holders_of_claims(claims)
    await recompute(customers, now)
    await MembershipEventSeen.bulk_create(
        [MembershipEventSeen(outbox_event_id=e.id) for e in events], ignore_conflicts=True
    )
    return len(events)


async def credit_surveys(now: datetime | None = None) -> int:
    """Points for surveys answered lately, once per invitation (``survey:<id>``)."""
    now = now or datetime.now(UTC)
    answered = await SurveyInvitation.filter(answered_at__gte=now - SURVEY_LOOKBACK).values(
        "id", "customer_id", "answered_at"
    )
    if not answered:
        return 0
    credited = set(
        await PointsEntry.filter(source__in=[f"survey:{a['id']}" for a in answered]).values_list(
            "source", flat=True
        )
    )
    rules = await current_rules()
    credits = [
        Credit(
            a["customer_id"],
            rules.points.survey_points,
            f"survey:{a['id']}",
            "参与满意度调查",
            rules.points_expire_on(local_date(a["answered_at"])),
        )
        for a in answered
        if f"survey:{a['id']}" not in credited
    ]
    return await award_many(credits)


async def nightly(now: datetime | None = None, batch: int = NIGHTLY_BATCH) -> int:
    """Recompute every customer, a batch at a time (keyset by id), then expire points."""
    now = now or datetime.now(UTC)
    after: uuid.UUID | None = None
    done = 0
    while True:
        page = Customer.all().order_by("id").limit(batch)
        if after is not None:
            page = page.filter(id__gt=after)
        ids: list[uuid.UUID] = await page.values_list("id", flat=True)  # type: ignore[assignment]
        if not ids:
            break
        await recompute(ids, now)
        done += len(ids)
        after = ids[-1]
    expired = await expire_due(now)
    log.info("membership nightly: %s customers recomputed, %s points expired", done, expired)
    return done


async def _events_job(_deps: JobDeps) -> int:
    done = 0
    for _ in range(MAX_BATCHES):
        handled = await handle_events()
        done += handled
        if handled < BATCH:
            break
    return done


async def _surveys_job(_deps: JobDeps) -> int:
    return await credit_surveys()


async def _nightly_job(_deps: JobDeps) -> int:
    return await nightly()


JOBS = (
    Job("membership-events", 30.0, _events_job),
    Job("membership-surveys", 10 * MINUTE, _surveys_job),
    Job("membership-nightly", 24 * HOUR, _nightly_job, first_after=HOUR),
)
