"""The event bus behind GraphQL subscriptions.

Redis pub/sub when Redis is configured, so that a change made through one API process
reaches subscribers on every other; an in-process fan-out otherwise. Each process holds
one pub/sub connection whatever its number of subscribers: a reader task dispatches
messages to the local subscribers' queues. The reader survives a lost connection (a
Redis restart, a killed client, a network cut): it backs off, opens a new pub/sub
connection and subscribes again to every channel that still has local subscribers, for
as long as it takes; its health (``bus-listener``) is reported to ``/readyz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncGenerator
from typing import Any, Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from push.loops import Backoff, LoopHealth

log = logging.getLogger("anxin.bus")
PREFIX = "anxin:"
SUBSCRIBER_BACKLOG = 100  # a subscriber that falls this far behind loses the oldest events
READER = "bus-listener"
RECONNECT_CAP_SECONDS = 5.0

Event = dict[str, Any]


class EventBus(Protocol):
    async def publish(self, channel: str, event: Event) -> None: ...

    def subscribe(self, channel: str) -> AsyncGenerator[Event, None]: ...

    async def close(self) -> None: ...


class _LocalFanOut:
    """Local subscribers per channel, each with a bounded queue."""

    def __init__(self) -> None:
        self.queues: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def deliver(self, channel: str, event: Event) -> None:
        for queue in list(self.queues.get(channel, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def add(self, channel: str) -> tuple[asyncio.Queue[Event], bool]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        first = channel not in self.queues
        self.queues[channel].add(queue)
        return queue, first

    def remove(self, channel: str, queue: asyncio.Queue[Event]) -> bool:
        """Forget a subscriber; True when it was the channel's last."""
        subscribers = self.queues.get(channel)
        if subscribers is None:
            return False
        subscribers.discard(queue)
        if subscribers:
            return False
        del self.queues[channel]
        return True


class InProcessBus:
    def __init__(self) -> None:
        self._local = _LocalFanOut()

    async def publish(self, channel: str, event: Event) -> None:
        self._local.deliver(channel, event)

    async def subscribe(self, channel: str) -> AsyncGenerator[Event, None]:
        queue, _ = self._local.add(channel)
        try:
            while True:
                yield await queue.get()
        finally:
            self._local.remove(channel, queue)

    async def close(self) -> None:
        self._local.queues.clear()


class RedisBus:
    def __init__(self, client: redis.Redis, health: LoopHealth | None = None) -> None:
        self._client = client
        self._health = health if health is not None else LoopHealth()
        self._local = _LocalFanOut()
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._broken = False  # the pub/sub connection needs rebuilding

    async def publish(self, channel: str, event: Event) -> None:
        await self._client.publish(PREFIX + channel, json.dumps(event, ensure_ascii=False))

    async def subscribe(self, channel: str) -> AsyncGenerator[Event, None]:
        queue, first = self._local.add(channel)
        try:
            if first:
                async with self._lock:
                    if not self._broken:
                        try:
                            await self._pubsub.subscribe(PREFIX + channel)
                        except (RedisError, OSError, RuntimeError) as exc:
                            log.warning("event bus: subscribe failed: %s", type(exc).__name__)
                            self._broken = True
                    # When broken, the reader subscribes to every local channel on reconnecting.
                    if self._reader is None or self._reader.done():
                        self._reader = asyncio.create_task(self._read(), name="redis-bus")
            while True:
                yield await queue.get()
        finally:
            if self._local.remove(channel, queue):
                with contextlib.suppress(RedisError, ConnectionError, OSError, RuntimeError):
                    async with self._lock:
                        if not self._broken:
                            await self._pubsub.unsubscribe(PREFIX + channel)

    async def _read(self) -> None:
        """Dispatch messages while anyone listens; on a lost connection, back off (capped,
        jittered), rebuild the pub/sub connection and subscribe again."""
        self._health.start(READER)
        backoff = Backoff(cap=RECONNECT_CAP_SECONDS)
        try:
            while self._local.queues:
                try:
                    if self._broken:
                        await self._reconnect()
                    message = await self._pubsub.get_message(timeout=1.0)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # RedisError, OSError, and redis-py's RuntimeError
                    self._broken = True
                    self._health.failed(READER, exc)
                    delay = backoff.next_delay()
                    log.warning(
                        "event bus connection lost (%s), reconnecting in %.1f s",
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                self._health.succeeded(READER)
                backoff.reset()
                if message is not None and message.get("type") == "message":
                    self._dispatch(message)
        finally:
            self._health.stop(READER)

    async def _reconnect(self) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            channels = [PREFIX + c for c in self._local.queues]
            if channels:
                await self._pubsub.subscribe(*channels)
            self._broken = False
            log.info("event bus reconnected, %d channels", len(channels))

    def _dispatch(self, message: dict[str, Any]) -> None:
        """One message to the local subscribers; a malformed one is dropped, not fatal."""
        try:
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            event = json.loads(message["data"])
        except (KeyError, ValueError) as exc:
            log.warning("event bus: dropped a malformed message: %s", type(exc).__name__)
            return
        self._local.deliver(channel.removeprefix(PREFIX), event)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, ConnectionError, OSError, RuntimeError):
            await self._pubsub.aclose()


def build_bus(redis_client: redis.Redis | None, health: LoopHealth | None = None) -> EventBus:
    return RedisBus(redis_client, health) if redis_client is not None else InProcessBus()
