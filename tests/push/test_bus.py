"""The bus's registration signal: ``until_subscribed`` returns once a publisher can no
longer miss the channel's subscribers, so tests wait for that and not a guessed time."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from push.bus import PREFIX, EventBus, InProcessBus, RedisBus
from tests.bus import subscribed
from tests.conftest import TEST_REDIS_URL

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis (ANXIN_TEST_REDIS_URL)")


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    assert TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


async def until_subscribed_counts_subscribers(bus: EventBus) -> None:
    channel = f"customer:{uuid.uuid4()}"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bus.until_subscribed(channel), 0.05)  # nobody listens yet
    first, second = bus.subscribe(channel), bus.subscribe(channel)
    waiting = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
    try:
        await subscribed(bus, channel, 2)
        await bus.publish(channel, {"n": 1})
        assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == [{"n": 1}, {"n": 1}]
    finally:
        for task in waiting:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await first.aclose()
        await second.aclose()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bus.until_subscribed(channel), 0.05)  # both left


async def test_in_process_bus_signals_its_subscribers() -> None:
    bus = InProcessBus()
    await until_subscribed_counts_subscribers(bus)
    await bus.close()


@needs_redis
async def test_redis_bus_signals_subscribers_once_redis_confirmed(
    redis_client: redis.Redis,
) -> None:
    bus = RedisBus(redis_client)
    try:
        await until_subscribed_counts_subscribers(bus)
    finally:
        await bus.close()


@needs_redis
async def test_a_signalled_redis_subscription_hears_another_connection_at_once(
    redis_client: redis.Redis,
) -> None:
    """Signalled means the server itself counts the subscriber: a publisher on another
    connection (another process) reaches it without any wait."""
    assert TEST_REDIS_URL
    channel = f"claim:{uuid.uuid4()}"
    for _ in range(10):  # each round a new process's bus: connect, subscribe, publish at once
        async with redis.Redis.from_url(TEST_REDIS_URL) as subscriber_client:
            bus = RedisBus(subscriber_client)
            subscription = bus.subscribe(channel)
            waiting = asyncio.ensure_future(anext(subscription))
            await subscribed(bus, channel)
            assert dict(await redis_client.pubsub_numsub(PREFIX + channel)) == {
                (PREFIX + channel).encode(): 1
            }
            await redis_client.publish(PREFIX + channel, '{"n": 1}')
            assert await asyncio.wait_for(waiting, 5) == {"n": 1}
            await subscription.aclose()
            await bus.close()
