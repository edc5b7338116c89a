"""The rate limiter on both backends: in-process memory, and Redis (with
``ANXIN_TEST_REDIS_URL``) shared by several limiters as by several API processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from tests.conftest import TEST_REDIS_URL
from workflows.limits import (
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RedisRateLimiter,
    build_limiter,
    wait_text,
)

needs_redis = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs ANXIN_TEST_REDIS_URL")


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    assert TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()  # the test db only
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=needs_redis)])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter()
        return
    assert TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    yield build_limiter(client)
    await client.aclose()


async def test_allows_the_count_then_says_how_long_to_wait(limiter: RateLimiter) -> None:
    rate = Rate(3, 60)
    decisions = [await limiter.hit("sms:ip", "203.0.113.9", rate) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.count for d in decisions] == [1, 2, 3, 4, 5]
    assert all(d.retry_after == 0 for d in decisions[:3])
    assert all(55 <= d.retry_after <= 60 for d in decisions[3:])


async def test_counters_are_per_action_and_key(limiter: RateLimiter) -> None:
    rate = Rate(1, 60)
    assert (await limiter.hit("sms:ip", "a", rate)).allowed
    assert not (await limiter.hit("sms:ip", "a", rate)).allowed
    assert (await limiter.hit("sms:ip", "b", rate)).allowed
    assert (await limiter.hit("login:ip", "a", rate)).allowed


async def test_reset_clears_a_counter(limiter: RateLimiter) -> None:
    rate = Rate(1, 60)
    await limiter.hit("staff_failures", "li.ming", rate)
    assert not (await limiter.hit("staff_failures", "li.ming", rate)).allowed
    await limiter.reset("staff_failures", "li.ming")
    assert (await limiter.hit("staff_failures", "li.ming", rate)).allowed


async def test_the_window_ends(limiter: RateLimiter) -> None:
    rate = Rate(1, 1)
    assert (await limiter.hit("x", "k", rate)).allowed
    denied = await limiter.hit("x", "k", rate)
    assert not denied.allowed and denied.retry_after == 1
    await asyncio.sleep(1.1)
    assert (await limiter.hit("x", "k", rate)).allowed


async def test_a_zero_count_switches_the_limit_off(limiter: RateLimiter) -> None:
    assert all([(await limiter.hit("x", "k", Rate(0, 60))).allowed for _ in range(50)])


async def test_concurrent_hits_never_overshoot(limiter: RateLimiter) -> None:
    rate = Rate(10, 60)
    decisions = await asyncio.gather(*[limiter.hit("sms:ip", "k", rate) for _ in range(60)])
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.count for d in decisions) == list(range(1, 61))


@needs_redis
async def test_processes_share_the_counters_through_redis(redis_client: redis.Redis) -> None:
    assert TEST_REDIS_URL
    other = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        first, second = RedisRateLimiter(redis_client), RedisRateLimiter(other)
        rate = Rate(4, 60)
        decisions = await asyncio.gather(
            *[(first if n % 2 else second).hit("sms:ip", "k", rate) for n in range(10)]
        )
        assert sum(d.allowed for d in decisions) == 4
    finally:
        await other.aclose()


@needs_redis
async def test_keys_hold_no_plain_values_and_expire(redis_client: redis.Redis) -> None:
    await RedisRateLimiter(redis_client).hit("staff_failures", "li.ming\n203.0.113.9", Rate(5, 900))
    keys = await redis_client.keys("*")
    assert len(keys) == 1
    assert b"li.ming" not in keys[0] and b"203.0.113" not in keys[0]
    assert 890_000 < await redis_client.pttl(keys[0]) <= 900_000


async def test_without_redis_each_process_still_counts(caplog: pytest.LogCaptureFixture) -> None:
    """Redis unreachable: limits hold per process; requests do not fail."""
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = RedisRateLimiter(down)
        rate = Rate(2, 60)
        decisions = [await limiter.hit("sms:ip", "k", rate) for _ in range(4)]
        await limiter.reset("sms:ip", "other")
    finally:
        await down.aclose()
    assert [d.allowed for d in decisions] == [True, True, False, False]
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1


async def test_memory_forgets_ended_windows() -> None:
    limiter = MemoryRateLimiter()
    limiter.SWEEP_AT = 10
    for n in range(10):
        await limiter.hit("x", str(n), Rate(1, 1))
    await asyncio.sleep(1.05)
    await limiter.hit("x", "last", Rate(1, 1))
    assert len(limiter._windows) == 1


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/10m", Rate(10, 600)),
        ("20/1h", Rate(20, 3600)),
        (" 5 / 900 ", Rate(5, 900)),
        ("3/2d", Rate(3, 172_800)),
        ("0/1m", Rate(0, 60)),
    ],
)
def test_rates_are_written_count_per_window(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["", "10", "ten/1m", "10/0", "10/1w", "-1/1m", "10/1m/2"])
def test_malformed_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"rate|window"):
        Rate.parse(text)


def test_waits_read_naturally() -> None:
    assert [wait_text(s) for s in (1, 59, 119, 120, 900, 7199, 7200)] == [
        "1秒",
        "59秒",
        "119秒",
        "2分钟",
        "15分钟",
        "120分钟",
        "2小时",
    ]


async def test_restart_runs_a_full_window_from_now(limiter: RateLimiter) -> None:
    rate = Rate(1, 2)
    await limiter.hit("staff_failures", "k", rate)
    await asyncio.sleep(1.2)
    await limiter.restart("staff_failures", "k", rate)
    denied = await limiter.hit("staff_failures", "k", rate)
    assert not denied.allowed and denied.count == 2 and denied.retry_after == 2
    await limiter.restart("staff_failures", "missing", rate)  # nothing to restart
    assert (await limiter.hit("staff_failures", "missing", rate)).count == 1
