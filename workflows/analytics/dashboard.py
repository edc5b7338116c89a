"""``service_dashboard``: every figure of one request, for the GraphQL query, the
console page and the exports (one permission check and one range check for all)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from workflows.access import Actor
from workflows.analytics import claims, collection, deliveries, service
from workflows.analytics.rules import Period, check


@dataclass(frozen=True)
class Dashboard:
    period: Period
    first: date
    last: date
    generated_at: datetime
    periods: list[str]  # the first day of each period, in order
    funnel: list[claims.Funnel]
    breaches: list[claims.Breaches]
    overdue_now: int
    payouts: list[claims.Payouts]
    collection: list[collection.Collection]
    deliveries: list[deliveries.Deliveries]
    surveys: list[service.SurveyFigures]
    complaints: list[service.ComplaintFigures]
    root_causes: list[service.RootCause]
    conversations: list[service.Conversations]
    workload: list[service.Workload]


async def service_dashboard(
    actor: Actor, period: Period, first: date, last: date, now: datetime | None = None
) -> Dashboard:
    buckets = check(actor, period, first, last)
    now = now or datetime.now(UTC)
    breaches, overdue_now = await claims.breaches(buckets, now)
    complaint_rows, causes = await service.complaints(actor, buckets, now)
    return Dashboard(
        period=period,
        first=first,
        last=last,
        generated_at=now,
        periods=[b.key for b in buckets.items],
        funnel=await claims.funnel(buckets),
        breaches=breaches,
        overdue_now=overdue_now,
        payouts=await claims.payouts(buckets),
        collection=await collection.collection(buckets, now),
        deliveries=await deliveries.deliveries(buckets),
        surveys=await service.survey_figures(buckets),
        complaints=complaint_rows,
        root_causes=causes,
        conversations=await service.conversations(buckets),
        workload=await service.workload(now),
    )
