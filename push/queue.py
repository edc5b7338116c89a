"""The delivery queue: delivery ids waiting for a worker.

Redis Streams with a consumer group when Redis is configured: several workers share the
stream, each message goes to one of them, and messages a crashed worker held are claimed
by another after a while (``XAUTOCLAIM``). In-process otherwise. The database row is the
truth (status, next attempt); a message is only a wake-up, so seeing one twice is harmless.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import ResponseError

STREAM = "anxin:deliveries"
GROUP = "delivery-workers"
STREAM_MAX_LENGTH = 100_000

Message = tuple[str, uuid.UUID]  # (queue message id, delivery id)


class DeliveryQueue(Protocol):
    async def enqueue(self, delivery_ids: list[uuid.UUID]) -> None: ...

    async def receive(self, consumer: str, count: int, block_ms: int) -> list[Message]: ...

    async def claim_stale(self, consumer: str, idle_ms: int, count: int) -> list[Message]: ...

    async def ack(self, message_ids: list[str]) -> None: ...


class InProcessQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()

    async def enqueue(self, delivery_ids: list[uuid.UUID]) -> None:
        for delivery_id in delivery_ids:
            self._queue.put_nowait(delivery_id)

    async def receive(self, consumer: str, count: int, block_ms: int) -> list[Message]:
        try:
            first = await asyncio.wait_for(self._queue.get(), block_ms / 1000)
        except TimeoutError:
            return []
        messages = [("", first)]
        while len(messages) < count and not self._queue.empty():
            messages.append(("", self._queue.get_nowait()))
        return messages

    async def claim_stale(self, consumer: str, idle_ms: int, count: int) -> list[Message]:
        return []  # nothing survives the process that held it; the sweeper re-enqueues

    async def ack(self, message_ids: list[str]) -> None:
        return None


class RedisStreamQueue:
    """The stream and its consumer group live in Redis, which may lose them (a restart
    without persistence, a failover to an empty replica, a flush): a ``NOGROUP`` answer
    (or a blocked read cut by the key's deletion) means "create them again", once per
    call, so nothing about Redis's state is trusted from memory for long."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _with_group(self, command: Callable[[], Awaitable[Any]]) -> Any:
        await self._ensure_group()
        try:
            return await command()
        except ResponseError as exc:
            if not _group_lost(exc):
                raise
        self._group_ready = False
        await self._ensure_group()
        return await command()

    async def enqueue(self, delivery_ids: list[uuid.UUID]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                pipe.xadd(
                    STREAM,
                    {"delivery": str(delivery_id)},
                    maxlen=STREAM_MAX_LENGTH,
                    approximate=True,
                )
            await pipe.execute()

    async def receive(self, consumer: str, count: int, block_ms: int) -> list[Message]:
        answer: Any = await self._with_group(
            lambda: self._client.xreadgroup(
                GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms
            )
        )
        return [_message(entry) for _, entries in answer or [] for entry in entries]

    async def claim_stale(self, consumer: str, idle_ms: int, count: int) -> list[Message]:
        answer: Any = await self._with_group(
            lambda: self._client.xautoclaim(
                STREAM, GROUP, consumer, min_idle_time=idle_ms, start_id="0-0", count=count
            )
        )
        return [_message(entry) for entry in answer[1] if entry and entry[1]]

    async def ack(self, message_ids: list[str]) -> None:
        if message_ids:
            await self._client.xack(STREAM, GROUP, *message_ids)


def _group_lost(exc: ResponseError) -> bool:
    """Redis lost the stream or the group (``UNBLOCKED``: deleted under a blocked read)."""
    text = str(exc)
    return text.startswith(("NOGROUP", "UNBLOCKED")) or "NOGROUP" in text


def _message(entry: tuple[bytes | str, dict[bytes | str, bytes | str]]) -> Message:
    message_id, fields = entry
    raw = fields.get(b"delivery") or fields.get("delivery") or b""
    text = raw.decode() if isinstance(raw, bytes) else raw
    mid = message_id.decode() if isinstance(message_id, bytes) else message_id
    return mid, uuid.UUID(text)


def build_queue(redis_client: redis.Redis | None) -> DeliveryQueue:
    return RedisStreamQueue(redis_client) if redis_client is not None else InProcessQueue()
