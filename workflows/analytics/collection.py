"""Premium collection: of the instalments that fell due in a period, how many were
paid on time, paid late, are overdue now, and how many ran past the 60-day grace
period unpaid (the policy lapses: ``workflows.policies.GRACE_DAYS``). A lapse counts
only once the grace period has ended, so the rate's total is the instalments whose
grace has run out by now. The premiums of policy changes (endorsements) never lapse a
policy and are left out, as the lapse rule leaves them out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from models.policies import PremiumInstallment
from workflows.analytics.rules import Buckets, Ratio, local_day
from workflows.policies import GRACE_DAYS


@dataclass(frozen=True)
class Collection:
    key: str
    due: int
    due_amount: Decimal
    paid_on_time: Ratio  # paid by the due day (local), of those due
    paid_late: int
    overdue: int  # unpaid and past the due day now
    overdue_amount: Decimal
    lapsed: Ratio  # unpaid at the grace's end, of those whose grace has ended


async def collection(buckets: Buckets, now: datetime) -> list[Collection]:
    today = local_day(now)
    grace = timedelta(days=GRACE_DAYS)
    raw = await PremiumInstallment.filter(
        due_date__gte=buckets.first, due_date__lte=buckets.last, endorsement_id=None
    ).values_list("due_date", "amount", "paid_at")
    grouped: defaultdict[int, list[tuple[date, Decimal, date | None]]] = defaultdict(list)
    for due, amount, paid in raw:
        index = buckets.of_day(due)
        if index is not None:
            grouped[index].append((due, Decimal(amount), local_day(paid) if paid else None))
    out = []
    for index, bucket in enumerate(buckets.items):
        rows = grouped[index]
        overdue = [(d, a) for d, a, p in rows if p is None and d < today]
        graced = [(d, p) for d, _, p in rows if d + grace < today]
        out.append(
            Collection(
                key=bucket.key,
                due=len(rows),
                due_amount=sum((a for _, a, _ in rows), Decimal("0.00")),
                paid_on_time=Ratio(sum(1 for d, _, p in rows if p and p <= d), len(rows)),
                paid_late=sum(1 for d, _, p in rows if p and p > d),
                overdue=len(overdue),
                overdue_amount=sum((a for _, a in overdue), Decimal("0.00")),
                lapsed=Ratio(sum(1 for d, p in graced if p is None or p > d + grace), len(graced)),
            )
        )
    return out
