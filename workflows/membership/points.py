"""The points ledger: append-only entries, one per customer and source event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from tortoise.functions import Sum

from models.membership import PointsEntry, PointsKind


async def award_points(
    customer_id: uuid.UUID,
    points: int,
    source: str,
    reason: str,
    *,
    kind: PointsKind = PointsKind.EARNED,
    expires_on: date | None = None,
) -> bool:
    """Credit ``points`` for the event ``source`` (e.g. ``payment:<id>``); True if credited,
    False if that source had credited this customer already. The unique (customer, source)
    decides with ON CONFLICT DO NOTHING, so duplicate or concurrent events credit once and
    the caller's transaction is never aborted by the conflict."""
    if points <= 0:
        raise ValueError("award_points credits a positive number of points")
    if kind not in (PointsKind.EARNED, PointsKind.GOODWILL):
        raise ValueError(f"{kind} is not a credit")
    entry_id = uuid.uuid4()
    await PointsEntry.bulk_create(
        [
            PointsEntry(
                id=entry_id,
                customer_id=customer_id,
                points=points,
                kind=kind,
                source=source[:160],
                reason=reason[:200],
                expires_on=expires_on,
            )
        ],
        ignore_conflicts=True,
    )
    return await PointsEntry.filter(id=entry_id).exists()


async def points_balance(customer_id: uuid.UUID) -> int:
    """The sum of the ledger (never negative: debits are checked against it under a lock)."""
    rows = await (
        PointsEntry.filter(customer_id=customer_id)
        .annotate(total=Sum("points"))
        .group_by("customer_id")
        .values("total")
    )
    return int(rows[0]["total"]) if rows else 0


@dataclass(frozen=True)
class Credit:
    """One credit for ``award_many``."""

    customer_id: uuid.UUID
    points: int
    source: str
    reason: str
    expires_on: date | None


async def award_many(credits: list[Credit]) -> int:
    """Credit many events in one INSERT … ON CONFLICT DO NOTHING (the same unique
    (customer, source) as ``award_points``); returns how many were new."""
    rows = [
        PointsEntry(
            id=uuid.uuid4(),
            customer_id=c.customer_id,
            points=c.points,
            kind=PointsKind.EARNED,
            source=c.source[:160],
            reason=c.reason[:200],
            expires_on=c.expires_on,
        )
        for c in credits
        if c.points > 0
    ]
    if not rows:
        return 0
    await PointsEntry.bulk_create(rows, ignore_conflicts=True)
    return await PointsEntry.filter(id__in=[r.id for r in rows]).count()
