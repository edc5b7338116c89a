"""The transactional outbox: ``emit`` inside a workflow's transaction, ``OutboxRelay`` after.

The relay takes committed events in order, and for each writes the customer's inbox
entry and one ``Delivery`` per channel and target, and commits. Only then does it publish
the event on the bus (live subscriptions) and hand the deliveries to the delivery queue:
whoever reads a message finds the rows it names (a delivery worker that looked before the
commit found nothing, dropped the message, and the push waited for the 15 s sweep).
Then the events are marked published. If Redis is down the events stay unpublished and
go out again on the next round: the inbox entries and deliveries are unique, so the
second fan-out writes nothing and hands over what is still unsent. A relay that stops
between publishing and marking publishes again: subscribers see the same ``eventId``
twice (and may drop it), deliveries are sent once. One relay works at a time (a
PostgreSQL advisory lock held from the read to the marking), which keeps events of one
entity in order.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.notifications import OutboxEvent
from models.session_state import holds_session_state
from push.bus import EventBus
from push.fanout import fan_out, notification_message
from push.loops import LoopHealth, supervise
from push.queue import DeliveryQueue

log = logging.getLogger("anxin.outbox")
RELAY_LOCK_ID = 0x616E78696E  # "anxin": one relay at a time across processes
RELAY_LOOP = "outbox-relay"


async def emit(
    event_type: str,
    *,
    entity_type: str,
    entity_id: str | uuid.UUID,
    customer_id: uuid.UUID | None,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> OutboxEvent:
    """Record an event. Call it inside the transaction that makes the change."""
    return await OutboxEvent.create(
        event_type=event_type,
        entity_type=entity_type,
        entity_id=str(entity_id),
        customer_id=customer_id,
        payload=payload,
        dedupe_key=dedupe_key,
    )


async def emit_once(event_type: str, *, dedupe_key: str, **kwargs: Any) -> bool:
    """Record an event unless one with ``dedupe_key`` exists (scheduled reminders)."""
    try:
        async with in_transaction():
            await emit(event_type, dedupe_key=dedupe_key, **kwargs)
    except IntegrityError:
        return False
    return True


def bus_message(event: OutboxEvent) -> dict[str, Any]:
    return {
        "eventId": str(event.event_id),
        "type": event.event_type,
        "entityType": event.entity_type,
        "entityId": event.entity_id,
        "payload": event.payload,
        "at": event.created_at.isoformat(),
    }


def bus_channels(event: OutboxEvent) -> list[str]:
    """Where subscribers listen: the entity, its owner, and staff queues."""
    channels = [f"{event.entity_type}:{event.entity_id}"]
    if event.customer_id is not None:
        channels.append(f"customer:{event.customer_id}")
    channels.extend(event.payload.get("_staff_channels", []))
    return channels


class OutboxRelay:
    def __init__(self, bus: EventBus, queue: DeliveryQueue, *, batch_size: int = 250) -> None:
        self.bus = bus
        self.queue = queue
        self.batch_size = batch_size

    async def relay_once(self) -> int:
        """Publish one batch of committed events; return how many went out."""
        async with _relay_lock() as mine:
            if not mine:
                return 0
            async with in_transaction():
                events = (
                    await OutboxEvent.filter(published_at=None)
                    .order_by("id")
                    .limit(self.batch_size)
                )
                fanned_out = list(zip(events, await fan_out(events), strict=True))
            # Committed: what the messages below name can be read by every process.
            delivery_ids: list[uuid.UUID] = []
            messages: list[tuple[list[str], dict[str, Any]]] = []
            for event, result in fanned_out:
                delivery_ids.extend(result.due_deliveries)
                message = bus_message(event)
                if result.notification is not None:
                    message["notification"] = notification_message(result.notification)
                messages.append((bus_channels(event), message))
            await self.bus.publish_all(messages)
            if delivery_ids:
                await self.queue.enqueue(delivery_ids)
            if events:
                await OutboxEvent.filter(id__in=[e.id for e in events]).update(
                    published_at=datetime.now(UTC)
                )
            return len(events)

    async def run(self, health: LoopHealth | None = None, *, interval: float = 0.05) -> None:
        """Relay until cancelled; errors (Redis or the database down) are retried with
        backoff, and reported to ``health`` (``outbox-relay``)."""

        async def step() -> float:
            sent = await self.relay_once()
            return 0 if sent >= self.batch_size else interval

        await supervise(RELAY_LOOP, step, health or LoopHealth(), interval=interval)


@contextlib.asynccontextmanager
async def _relay_lock() -> AsyncIterator[bool]:
    """PostgreSQL: a session advisory lock on a connection of its own, held across the
    fan-out's commit and the publishing after it (a transaction's lock would end at the
    commit); True when this relay may work. It conflicts with the transaction-scoped lock
    of earlier versions (same key), so a rolling upgrade runs one relay too. Should the
    unlock fail, asyncpg's reset of the connection (``pg_advisory_unlock_all``; the
    connection is marked for it, ``models.session_state``) or its end frees the lock.
    SQLite: one writer at a time anyway."""
    client = connections.get("default")
    if client.capabilities.dialect != "postgres":
        yield True
        return
    async with client.acquire_connection() as connection:
        holds_session_state(connection)  # so the pool resets it (the lock) when given back
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_ID):
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(Exception):
                await connection.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_ID)
