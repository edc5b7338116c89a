"""Hand-written inserts for the outbox relay: a batch's inbox entries and deliveries as
tuples, one statement each (issue 19: the relay built ~2,000 model objects per 1,000
events, and PostgreSQL ran each row as a statement of its own).

PostgreSQL: ``INSERT … SELECT FROM unnest(...)``, one array per column; SQLite: one
``executemany``. The unique keys of both tables still make a second insert of the same
entry fail, as with the ORM.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models.notifications import Channel, Delivery, DeliveryStatus, Notification
from models.raw import write_many

_NOTIFICATIONS_POSTGRES = """
INSERT INTO notification (id, customer_id, event_id, kind, title, body, deep_link,
    mini_program_page, urgent, data, created_at)
SELECT u.id, u.customer_id, u.event_id, u.kind, u.title, u.body, u.deep_link,
    u.mini_program_page, u.urgent, u.data::jsonb, u.created_at
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::bool[], $10::text[], $11::timestamptz[])
    AS u(id, customer_id, event_id, kind, title, body, deep_link, mini_program_page,
         urgent, data, created_at)
"""
_NOTIFICATIONS_SQLITE = """
INSERT INTO notification (id, customer_id, event_id, kind, title, body, deep_link,
    mini_program_page, urgent, data, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_DELIVERIES_POSTGRES = """
INSERT INTO delivery (id, notification_id, channel, target, status, attempts,
    next_attempt_at, created_at)
SELECT u.id, u.notification_id, u.channel, u.target, u.status, 0, u.next_attempt_at,
    u.created_at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
            $7::timestamptz[])
    AS u(id, notification_id, channel, target, status, next_attempt_at, created_at)
"""
_DELIVERIES_SQLITE = """
INSERT INTO delivery (id, notification_id, channel, target, status, attempts,
    next_attempt_at, created_at)
VALUES (?, ?, ?, ?, ?, 0, ?, ?)
"""


@dataclass
class InboxRow:
    """An inbox entry to write: the attributes of a ``Notification`` the relay and its
    live message need, without building the model."""

    id: uuid.UUID
    customer_id: uuid.UUID
    event_id: uuid.UUID
    kind: str
    title: str
    body: str
    deep_link: str
    mini_program_page: str
    urgent: bool
    created_at: datetime
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class DeliveryRow:
    """A delivery to write (pending, no attempt yet)."""

    id: uuid.UUID
    notification_id: uuid.UUID
    channel: Channel
    target: str
    next_attempt_at: datetime | None


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


async def insert_inbox(rows: Sequence[InboxRow]) -> None:
    """Write ``rows`` in one statement. Call inside the relay's transaction."""
    await write_many(
        Notification,
        _NOTIFICATIONS_POSTGRES,
        _NOTIFICATIONS_SQLITE,
        [
            (
                r.id,
                r.customer_id,
                r.event_id,
                r.kind,
                r.title,
                r.body,
                r.deep_link,
                r.mini_program_page,
                r.urgent,
                _json(r.data),
                r.created_at,
            )
            for r in rows
        ],
    )


async def insert_deliveries(rows: Sequence[DeliveryRow], now: datetime) -> None:
    """Write ``rows`` (created ``now``, pending) in one statement."""
    pending = DeliveryStatus.PENDING.value
    await write_many(
        Delivery,
        _DELIVERIES_POSTGRES,
        _DELIVERIES_SQLITE,
        [
            (r.id, r.notification_id, r.channel.value, r.target, pending, r.next_attempt_at, now)
            for r in rows
        ],
    )
