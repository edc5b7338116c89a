"""Notification deliveries per channel in a period (by when the delivery was made):
sent, failed (retrying or given up), skipped (nothing to send to) and pending."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from models.notifications import Delivery, DeliveryStatus
from workflows.analytics.rules import Buckets, Ratio

S = DeliveryStatus


@dataclass(frozen=True)
class Deliveries:
    key: str
    channel: str
    total: int
    sent: int
    failed: int  # FAILED (another try is scheduled) and DEAD (given up)
    skipped: int
    pending: int

    @property
    def delivered(self) -> Ratio:
        return Ratio(self.sent, self.total - self.skipped)


async def deliveries(buckets: Buckets) -> list[Deliveries]:
    raw = await Delivery.filter(
        created_at__gte=buckets.start, created_at__lt=buckets.end
    ).values_list("created_at", "channel", "status")
    counts: Counter[tuple[int, str, str]] = Counter()
    for created, channel, status in raw:
        index = buckets.of(created)
        if index is not None:
            counts[(index, str(channel), str(status))] += 1
    keys = sorted({(i, c) for i, c, _ in counts})
    return [
        Deliveries(
            key=buckets.items[i].key,
            channel=c,
            total=sum(n for (j, d, _), n in counts.items() if (j, d) == (i, c)),
            sent=counts[(i, c, S.SENT)],
            failed=counts[(i, c, S.FAILED)] + counts[(i, c, S.DEAD)],
            skipped=counts[(i, c, S.SKIPPED)],
            pending=counts[(i, c, S.PENDING)],
        )
        for i, c in keys
    ]
