"""The bus's registration signal: ``until_subscribed`` returns once a publisher can no
longer miss the channel's subscribers, so tests wait for that and not a guessed time."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from push.bus import EventBus, InProcessBus, RedisBus, channel_prefix
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
            assert dict(await redis_client.pubsub_numsub(bus.prefix + channel)) == {
                (bus.prefix + channel).encode(): 1
            }
            await redis_client.publish(bus.prefix + channel, '{"n": 1}')
            assert await asyncio.wait_for(waiting, 5) == {"n": 1}
            await subscription.aclose()
            await bus.close()


def test_channels_are_prefixed_with_the_redis_db_number_except_db_0() -> None:
    """Pub/sub ignores db numbers: the prefix is what keeps two dbs' events apart."""
    assert channel_prefix(redis.Redis.from_url("redis://127.0.0.1:6379/0")) == "anxin:"
    assert channel_prefix(redis.Redis.from_url("redis://127.0.0.1:6379")) == "anxin:"
    assert channel_prefix(redis.Redis.from_url("redis://127.0.0.1:6379/7")) == "anxin:7:"


@needs_redis
async def test_a_bus_on_another_redis_db_is_not_heard(redis_client: redis.Redis) -> None:
    """Two deployments (or test workers) on one Redis server, different dbs: a staff
    channel's event of one never reaches the other's subscribers."""
    assert TEST_REDIS_URL
    ours = RedisBus(redis_client)
    db = int(redis_client.connection_pool.connection_kwargs.get("db") or 0)
    other_url = TEST_REDIS_URL.rsplit("/", 1)[0] + f"/{(db + 1) % 16}"
    async with redis.Redis.from_url(other_url) as other_client:
        theirs = RedisBus(other_client)
        channel = f"staff:{uuid.uuid4()}"  # a fixed name in the app, as staff:claim-queue
        subscription = ours.subscribe(channel)
        waiting = asyncio.ensure_future(anext(subscription))
        try:
            await subscribed(ours, channel)
            await theirs.publish(channel, {"from": "theirs"})
            await ours.publish(channel, {"from": "ours"})
            assert await asyncio.wait_for(waiting, 5) == {"from": "ours"}
        finally:
            await subscription.aclose()
            await theirs.close()
            await ours.close()
