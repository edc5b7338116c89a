"""Hand-written statements for the delivery worker: a batch of deliveries claimed in one
statement and their outcomes written in one (issue 19: ~6 statements per push, and two
model objects built for each, made the worker the busiest process of a 1,000-customer
fan-out, beside the relay it shares a loop with).

PostgreSQL takes each row's lock (``FOR UPDATE OF d SKIP LOCKED``): a delivery in another
worker's hands is skipped, not waited for, and stays locked until this worker's
transaction ends. SQLite has one writer at a time anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.notifications import Channel, Delivery, DeliveryStatus, Notification
from models.raw import column, fetch, on_postgres, write_many

_CLAIM = """
SELECT d.id, d.channel, d.target, d.attempts, d.next_attempt_at, d.provider_message_id,
       n.id AS notification_id, n.customer_id, n.event_id, n.kind, n.title, n.body,
       n.deep_link, n.mini_program_page, n.urgent, n.data
FROM delivery d JOIN notification n ON n.id = d.notification_id
WHERE d.id = ANY(:ids) AND d.status IN ('PENDING', 'FAILED')
  AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= :now)
"""
_LOCK = " FOR UPDATE OF d SKIP LOCKED"
_EXISTING = "SELECT id FROM delivery WHERE id = ANY(:ids)"
_RECORD_POSTGRES = """
UPDATE delivery AS d SET status = u.status, attempts = u.attempts,
    last_error = u.last_error, next_attempt_at = u.next_attempt_at, sent_at = u.sent_at,
    provider_message_id = u.provider_message_id
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
            $6::timestamptz[], $7::text[])
    AS u(id, status, attempts, last_error, next_attempt_at, sent_at, provider_message_id)
WHERE d.id = u.id
"""
_RECORD_SQLITE = """
UPDATE delivery SET status = ?2, attempts = ?3, last_error = ?4,
    next_attempt_at = ?5, sent_at = ?6, provider_message_id = ?7
WHERE id = ?1
"""


@dataclass
class ClaimedDelivery:
    """A due delivery whose row lock this transaction holds, with its inbox entry."""

    id: uuid.UUID
    channel: Channel
    target: str
    attempts: int
    next_attempt_at: datetime | None
    provider_message_id: str | None
    notification_id: uuid.UUID
    customer_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    title: str
    body: str
    deep_link: str
    mini_program_page: str
    urgent: bool
    data: dict[str, Any]


@dataclass
class DeliveryChange:
    """A delivery's columns after a try (every one written, changed or not: the row is
    locked, so what was read is what is there)."""

    id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    provider_message_id: str | None


def _claimed(row: dict[str, Any]) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=column(Delivery, "id", row["id"]),
        channel=column(Delivery, "channel", row["channel"]),
        target=row["target"],
        attempts=row["attempts"],
        next_attempt_at=column(Delivery, "next_attempt_at", row["next_attempt_at"]),
        provider_message_id=row["provider_message_id"],
        notification_id=column(Notification, "id", row["notification_id"]),
        customer_id=column(Notification, "customer_id", row["customer_id"]),
        event_id=column(Notification, "event_id", row["event_id"]),
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        deep_link=row["deep_link"],
        mini_program_page=row["mini_program_page"],
        urgent=column(Notification, "urgent", row["urgent"]),
        data=column(Notification, "data", row["data"]),
    )


async def claim_due(ids: Sequence[uuid.UUID], now: datetime) -> list[ClaimedDelivery]:
    """The deliveries of ``ids`` that are due, unsent and in no one else's hands, locked
    until the transaction ends, in the order of ``ids``. Call inside a transaction."""
    if not ids:
        return []
    sql = _CLAIM + (_LOCK if on_postgres(Delivery) else "")
    rows = await fetch(Delivery, sql, ids=list(ids), now=now)
    order = {delivery_id: index for index, delivery_id in enumerate(ids)}
    claimed = [_claimed(row) for row in rows]
    claimed.sort(key=lambda c: order[c.id])
    return claimed


async def existing(ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` have a row this connection can read."""
    if not ids:
        return set()
    rows = await fetch(Delivery, _EXISTING, ids=list(ids))
    return {column(Delivery, "id", row["id"]) for row in rows}


async def record(changes: Sequence[DeliveryChange]) -> None:
    """Write every change in one statement (PostgreSQL) or one ``executemany`` (SQLite)."""
    await write_many(
        Delivery,
        _RECORD_POSTGRES,
        _RECORD_SQLITE,
        [
            (
                c.id,
                c.status.value,
                c.attempts,
                c.last_error,
                c.next_attempt_at,
                c.sent_at,
                c.provider_message_id,
            )
            for c in changes
        ],
    )
