"""The event bus behind GraphQL subscriptions.

Redis pub/sub when Redis is configured, so that a change made through one API process
reaches subscribers on every other; an in-process fan-out otherwise. Each process holds
one pub/sub connection whatever its number of subscribers: a reader task dispatches
messages to the local subscribers' queues. The reader survives a lost connection (a
Redis restart, a killed client, a network cut): it backs off, opens a new pub/sub
connection and subscribes again to every channel that still has local subscribers, for
as long as it takes; its health (``bus-listener``) is reported to ``/readyz``.

``until_subscribed`` tells when a channel's subscribers are registered (on Redis: when
the server has confirmed the subscription), so that a publisher that must not be missed,
a test above all, waits for exactly that instead of sleeping a guessed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

from push.loops import Backoff, LoopHealth

log = logging.getLogger("anxin.bus")
PREFIX = "anxin:"


def channel_prefix(client: redis.Redis) -> str:
    """Redis scopes keys by database number but not pub/sub channels: a publish on db 10
    reaches a subscriber on db 11. Two deployments (or test workers) on one server and
    different dbs would hear each other's events, so a bus on db N > 0 prefixes its
    channels with ``anxin:N:``; db 0 keeps the plain ``anxin:`` of earlier releases."""
    db = int(client.connection_pool.connection_kwargs.get("db") or 0)
    return PREFIX if db == 0 else f"{PREFIX}{db}:"


SUBSCRIBER_BACKLOG = 100  # a subscriber that falls this far behind loses the oldest events
READER = "bus-listener"
RECONNECT_CAP_SECONDS = 5.0
REGISTER_SECONDS = 2.0  # how long a catch-up waits for Redis to confirm before reading

Event = dict[str, Any]
State = TypeVar("State")


class EventBus(Protocol):
    async def publish(self, channel: str, event: Event) -> None: ...

    async def publish_all(self, batch: Sequence[tuple[Sequence[str], Event]]) -> None:
        """Each event on each of its channels, in order (the relay's batch at once)."""
        ...

    def subscribe(self, channel: str) -> AsyncGenerator[Event, None]: ...

    async def until_subscribed(self, channel: str, count: int = 1) -> None: ...

    async def close(self) -> None: ...


class _Changes:
    """Wakes the coroutines waiting for a condition on the registrations when they change."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)


class _LocalFanOut:
    """Local subscribers per channel, each with a bounded queue."""

    def __init__(self) -> None:
        self.queues: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self.changes = _Changes()

    def count(self, channel: str) -> int:
        return len(self.queues.get(channel, ()))

    def deliver(self, channel: str, event: Event) -> None:
        for queue in list(self.queues.get(channel, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def add(self, channel: str) -> tuple[asyncio.Queue[Event], bool]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        first = channel not in self.queues
        self.queues[channel].add(queue)
        self.changes.notify()
        return queue, first

    def remove(self, channel: str, queue: asyncio.Queue[Event]) -> bool:
        """Forget a subscriber; True when it was the channel's last."""
        subscribers = self.queues.get(channel)
        if subscribers is None:
            return False
        subscribers.discard(queue)
        self.changes.notify()
        if subscribers:
            return False
        del self.queues[channel]
        return True


class InProcessBus:
    def __init__(self) -> None:
        self._local = _LocalFanOut()

    async def publish(self, channel: str, event: Event) -> None:
        self._local.deliver(channel, event)

    async def publish_all(self, batch: Sequence[tuple[Sequence[str], Event]]) -> None:
        for channels, event in batch:
            for channel in channels:
                await self.publish(channel, event)

    async def subscribe(self, channel: str) -> AsyncGenerator[Event, None]:
        queue, _ = self._local.add(channel)
        try:
            while True:
                yield await queue.get()
        finally:
            self._local.remove(channel, queue)

    async def until_subscribed(self, channel: str, count: int = 1) -> None:
        """Return once ``count`` subscribers listen on ``channel`` (bound the wait with
        ``asyncio.timeout``)."""
        await self._local.changes.until(lambda: self._local.count(channel) >= count)

    async def close(self) -> None:
        self._local.queues.clear()


class _Confirmations:
    """The channels Redis delivers to this process: every (un)subscribe asked for the
    channel has been answered (answers come in the order asked), the last a subscribe."""

    def __init__(self) -> None:
        self._unanswered: Counter[str] = Counter()
        self._subscribed: set[str] = set()

    def asked(self, channels: list[str]) -> None:
        self._unanswered.update(channels)

    def answered(self, channel: str, subscribed: bool) -> None:
        if self._unanswered[channel] > 1:
            self._unanswered[channel] -= 1
        else:
            self._unanswered.pop(channel, None)  # no entry left behind per channel ever seen
        if subscribed:
            self._subscribed.add(channel)
        else:
            self._subscribed.discard(channel)

    def confirmed(self, channel: str) -> bool:
        return self._unanswered[channel] == 0 and channel in self._subscribed

    def forget(self) -> None:
        """A new connection: nothing is confirmed on it yet."""
        self._unanswered.clear()
        self._subscribed.clear()


class RedisBus:
    def __init__(self, client: redis.Redis, health: LoopHealth | None = None) -> None:
        self._client = client
        self.prefix = channel_prefix(client)  # of every channel name on the server
        self._health = health if health is not None else LoopHealth()
        self._local = _LocalFanOut()
        # Subscription confirmations are read too: they tell until_subscribed when the
        # server delivers a channel's messages to this process.
        self._pubsub = client.pubsub(ignore_subscribe_messages=False)
        self._confirmations = _Confirmations()  # unprefixed channel names
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._broken = False  # the pub/sub connection needs rebuilding
        self._commands: set[asyncio.Task[None]] = set()  # (un)subscribes under way

    async def publish(self, channel: str, event: Event) -> None:
        await self._client.publish(self.prefix + channel, json.dumps(event, ensure_ascii=False))

    async def publish_all(self, batch: Sequence[tuple[Sequence[str], Event]]) -> None:
        """One round trip for the batch (a pipeline, not a transaction), each event
        serialized once for all its channels."""
        if not batch:
            return
        pipeline = self._client.pipeline(transaction=False)
        for channels, event in batch:
            data = json.dumps(event, ensure_ascii=False)
            for channel in channels:
                pipeline.publish(self.prefix + channel, data)
        await pipeline.execute()

    async def subscribe(self, channel: str) -> AsyncGenerator[Event, None]:
        queue, first = self._local.add(channel)
        try:
            if first:
                await self._command(self._subscribe_remote, channel)
            while True:
                yield await queue.get()
        finally:
            if self._local.remove(channel, queue):
                with contextlib.suppress(RedisError, ConnectionError, OSError, RuntimeError):
                    await self._command(self._unsubscribe_remote, channel)

    async def _command(
        self, command: Callable[[str], Coroutine[Any, Any, None]], channel: str
    ) -> None:
        """Run a (un)subscribe in a task of the bus's own, not in the subscriber's: redis-py
        swallowed a cancellation that reached it mid-command (measured: a WebSocket closed
        while its session watch subscribed left the watch waiting for ever, and the
        connection with it). The subscriber waits for the command unless it is cancelled
        itself, which now reaches it at once; the command still completes, in order (the
        lock is taken inside the task, and tasks start in the order they were made)."""
        task = asyncio.create_task(command(channel), context=contextvars.Context())
        self._commands.add(task)
        task.add_done_callback(self._command_done)
        await asyncio.shield(task)

    def _command_done(self, task: asyncio.Task[None]) -> None:
        self._commands.discard(task)
        if not task.cancelled():
            task.exception()  # the subscriber, if still waiting, has it; else it is moot

    async def _subscribe_remote(self, channel: str) -> None:
        async with self._lock:
            if not self._broken:
                self._confirmations.asked([channel])  # before the reader can answer
                try:
                    await self._pubsub.subscribe(self.prefix + channel)
                except (RedisError, OSError, RuntimeError) as exc:
                    log.warning("event bus: subscribe failed: %s", type(exc).__name__)
                    self._mark_broken()
                except BaseException:
                    self._mark_broken()  # cancelled half-way (the bus closing): start over
                    raise
            # When broken, the reader subscribes to every local channel on reconnecting.
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(
                    self._read(), name="redis-bus", context=contextvars.Context()
                )

    async def _unsubscribe_remote(self, channel: str) -> None:
        async with self._lock:
            if self._broken or self._local.count(channel):
                return  # reconnecting anyway, or subscribed to again meanwhile
            self._confirmations.asked([channel])
            try:
                await self._pubsub.unsubscribe(self.prefix + channel)
            except BaseException:
                self._mark_broken()  # unsure what the server got: start over
                raise

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
                    self._mark_broken()
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
                if message is None:
                    continue
                if message.get("type") == "message":
                    self._dispatch(message)
                elif message.get("type") in ("subscribe", "unsubscribe"):
                    self._confirm(message)
        finally:
            self._health.stop(READER)

    def _mark_broken(self) -> None:
        self._broken = True
        self._confirmations.forget()
        self._local.changes.notify()

    async def _reconnect(self) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            self._confirmations.forget()
            channels = list(self._local.queues)
            if channels:
                self._confirmations.asked(channels)
                await self._pubsub.subscribe(*(self.prefix + c for c in channels))
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
        self._local.deliver(channel.removeprefix(self.prefix), event)

    def _confirm(self, message: dict[str, Any]) -> None:
        """The server's answer to a (un)subscribe; answers come in the order asked."""
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str):
            return
        subscribed = message["type"] == "subscribe"
        self._confirmations.answered(channel.removeprefix(self.prefix), subscribed)
        self._local.changes.notify()

    async def until_subscribed(self, channel: str, count: int = 1) -> None:
        """Return once ``count`` subscribers of this process listen on ``channel`` and
        Redis has confirmed the subscription (bound the wait with ``asyncio.timeout``)."""

        def ready() -> bool:
            return self._confirmations.confirmed(channel) and self._local.count(channel) >= count

        await self._local.changes.until(ready)

    async def close(self) -> None:
        for task in list(self._commands):
            task.cancel()
        if self._commands:
            await asyncio.wait(self._commands)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, ConnectionError, OSError, RuntimeError):
            await self._pubsub.aclose()


def build_bus(redis_client: redis.Redis | None, health: LoopHealth | None = None) -> EventBus:
    return RedisBus(redis_client, health) if redis_client is not None else InProcessBus()


async def current_then_changes(
    bus: EventBus, channel: str, read: Callable[[], Awaitable[State | None]]
) -> AsyncGenerator[State, None]:
    """The state as it is now, then again after each event on ``channel``: what a client
    that was away (a reconnect after its token expired, a network gap) needs to catch up,
    since the events it missed are not replayed.

    It listens before it reads, so a change committed between the first read and the
    subscription is never lost; at worst one is read twice (each answer is the whole
    state). ``read`` answering None (no longer visible) skips that turn."""
    events = bus.subscribe(channel)

    async def next_event() -> Event:
        return await anext(events)

    waiting = asyncio.create_task(next_event())
    try:
        await asyncio.sleep(0)  # the task's first step registers this subscriber locally
        with contextlib.suppress(TimeoutError):  # a broken bus: read anyway, and retry
            async with asyncio.timeout(REGISTER_SECONDS):
                await bus.until_subscribed(channel)
        while True:
            state = await read()
            if state is not None:
                yield state
            await waiting
            waiting = asyncio.create_task(next_event())
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await waiting
        await events.aclose()
