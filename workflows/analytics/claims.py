"""Claim figures: the funnel (reported → complete → decided → paid) with its
conversions and cycle times, the regulatory clocks that ran out, and the payouts by
loss type.

A claim counts in the period it was reported in (its funnel cohort); a clock counts
in the period it fell due (``workflows.claims.rules.clocks`` says when); a payout in
the period it was paid. Plain ORM reads of a few columns, bucketed here: the same
code on SQLite and PostgreSQL, no dialect date functions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.expressions import Q

from models.claims import Claim, ClaimStatus
from workflows.analytics.rules import Buckets, Durations, Ratio, aware, seconds_between
from workflows.claims.rules import DECISION_DUE, PAYMENT_DUE, clocks, overdue_claims

ALL = "ALL"


@dataclass(frozen=True)
class _Row:
    reported_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    paid_at: datetime | None
    kind: str
    channel: str


@dataclass(frozen=True)
class Funnel:
    """One cohort of reported claims and how far they have come."""

    key: str  # the period's first day
    segment: str  # ALL, KIND:<product kind> or CHANNEL:<report channel>
    reported: int
    complete: int  # documents complete, submitted for review
    decided: int
    paid: int
    to_complete: Durations  # reported → complete
    to_decision: Durations  # complete → decided
    to_payment: Durations  # decided → paid

    @property
    def complete_ratio(self) -> Ratio:
        return Ratio(self.complete, self.reported)

    @property
    def decided_ratio(self) -> Ratio:
        return Ratio(self.decided, self.complete)

    @property
    def paid_ratio(self) -> Ratio:
        return Ratio(self.paid, self.decided)


def _funnel(key: str, segment: str, rows: list[_Row]) -> Funnel:
    def spans(pairs: list[tuple[datetime | None, datetime | None]]) -> Durations:
        return Durations.of(s for a, b in pairs if (s := seconds_between(a, b)) is not None)

    return Funnel(
        key=key,
        segment=segment,
        reported=len(rows),
        complete=sum(1 for r in rows if r.submitted_at),
        decided=sum(1 for r in rows if r.decided_at),
        paid=sum(1 for r in rows if r.paid_at),
        to_complete=spans([(r.reported_at, r.submitted_at) for r in rows]),
        to_decision=spans([(r.submitted_at, r.decided_at) for r in rows]),
        to_payment=spans([(r.decided_at, r.paid_at) for r in rows]),
    )


async def funnel(buckets: Buckets) -> list[Funnel]:
    """Per period: every claim reported, then per product kind and per channel."""
    raw = await Claim.filter(created_at__gte=buckets.start, created_at__lt=buckets.end).values_list(
        "created_at", "submitted_at", "decided_at", "paid_at", "policy__product__kind", "channel"
    )
    grouped: defaultdict[int, list[_Row]] = defaultdict(list)
    for created, submitted, decided, paid, kind, channel in raw:
        index = buckets.of(created)
        if index is not None:
            grouped[index].append(_Row(created, submitted, decided, paid, str(kind), str(channel)))
    out = []
    for index, bucket in enumerate(buckets.items):
        rows = grouped[index]
        out.append(_funnel(bucket.key, ALL, rows))
        for label, attr in (("KIND", "kind"), ("CHANNEL", "channel")):
            for value in sorted({getattr(r, attr) for r in rows}):
                these = [r for r in rows if getattr(r, attr) == value]
                out.append(_funnel(bucket.key, f"{label}:{value}", these))
    return out


@dataclass(frozen=True)
class Breaches:
    """The regulatory clocks (decision in 30 days, payment in 10) that fell due in a
    period: how many ran out before the step was taken."""

    key: str
    decision: Ratio  # breached, of the decision clocks due in the period
    payment: Ratio  # breached, of the payment clocks due in the period


_STOPPED = (ClaimStatus.WITHDRAWN, ClaimStatus.CLOSED)


async def breaches(buckets: Buckets, now: datetime) -> tuple[list[Breaches], int]:
    """Per period, and the claims overdue right now (the staff's list)."""
    start, end = buckets.start, buckets.end
    candidates = await Claim.filter(
        Q(submitted_at__gte=start - DECISION_DUE, submitted_at__lt=end - DECISION_DUE)
        | Q(decided_at__gte=start - PAYMENT_DUE, decided_at__lt=end - PAYMENT_DUE)
    ).only(
        "id",
        "status",
        "submitted_at",
        "decided_at",
        "paid_at",
        "approved_amount",
        "rejection_reason",
    )
    decision: defaultdict[int, list[bool]] = defaultdict(list)
    payment: defaultdict[int, list[bool]] = defaultdict(list)
    for claim in candidates:
        clock = clocks(claim, now)
        due = clock.decision_due_at
        if due is not None and (index := buckets.of(due)) is not None:
            done = aware(claim.decided_at) if claim.decided_at else None
            if done is not None or (due < now and claim.status not in _STOPPED):
                decision[index].append((done or now) > due)
        due = clock.payment_due_at
        if due is not None and (index := buckets.of(due)) is not None:
            done = aware(claim.paid_at) if claim.paid_at else None
            if done is not None or due < now:
                payment[index].append((done or now) > due)
    out = [
        Breaches(
            key=b.key,
            decision=Ratio(sum(decision[i]), len(decision[i])),
            payment=Ratio(sum(payment[i]), len(payment[i])),
        )
        for i, b in enumerate(buckets.items)
    ]
    return out, await Claim.filter(overdue_claims(now)).count()


@dataclass(frozen=True)
class Payouts:
    """Claims paid in a period for one loss type: how many, how much, on average."""

    key: str
    loss_type: str
    count: int
    total: Decimal

    @property
    def average(self) -> Decimal | None:
        return (self.total / self.count).quantize(Decimal("0.01")) if self.count else None


async def payouts(buckets: Buckets) -> list[Payouts]:
    raw = await Claim.filter(
        paid_at__gte=buckets.start, paid_at__lt=buckets.end, approved_amount__gt=0
    ).values_list("paid_at", "loss_type", "approved_amount")
    sums: defaultdict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for paid, loss_type, amount in raw:
        index = buckets.of(paid)
        if index is not None:
            sums[(index, str(loss_type))].append(Decimal(amount))
    return [
        Payouts(buckets.items[i].key, loss, len(amounts), sum(amounts, Decimal("0.00")))
        for (i, loss), amounts in sorted(sums.items())
    ]
