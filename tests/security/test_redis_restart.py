"""Redis restarted empty, or our connections to it killed, while events flow.

Found by a chaos test: after Redis came back empty the outbox caught up, but the
delivery worker looped on ``NOGROUP`` for ever, because the queue remembered that it
had created the consumer group. Only our own Redis database is flushed (``FLUSHDB``)
and only its clients killed: other test runs share the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as redis

from api.services import Services
from models.customers import Customer
from push.bus import RedisBus
from push.loops import LoopHealth
from tests.bus import subscribed
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_policy
from tests.fakes.tcp_proxy import TcpProxy
from tests.security.faults import (
    DELIVERY_SECONDS,
    background_jobs,
    customer,
    emit_overdue,
    eventually,
    sms_sent,
)

__all__ = ["background_jobs", "customer"]  # fixtures

pytestmark = pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis (ANXIN_TEST_REDIS_URL)")


@pytest.fixture
async def admin() -> AsyncIterator[redis.Redis]:
    """Our own connection to the test Redis database, to flush it and kill its clients."""
    assert TEST_REDIS_URL
    client = redis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


async def kill_our_clients(admin: redis.Redis) -> int:
    """CLIENT KILL every client of our database number, except this admin connection."""
    own_id = str(await admin.client_id())
    db = str(admin.connection_pool.connection_kwargs.get("db", 0))
    killed = 0
    for client in await admin.client_list():
        if client.get("db") == db and str(client["id"]) != own_id:
            killed += await admin.client_kill_filter(_id=client["id"])
    return killed


async def test_deliveries_go_on_after_redis_comes_back_empty(
    services: Services,
    admin: redis.Redis,
    customer: Customer,
    background_jobs: asyncio.Task[None],
) -> None:
    policy = await make_policy(services, customer)
    first = await emit_overdue(customer, policy)
    await eventually(sms_sent(first), DELIVERY_SECONDS, "the first message was sent")

    await admin.flushdb()  # Redis restarted without its data: no stream, no group
    second = await emit_overdue(customer, policy)
    await eventually(sms_sent(second), DELIVERY_SECONDS, "a message after the flush was sent")
    assert "delivery-worker" not in services.loops.problems()


async def test_the_bus_listener_comes_back_after_its_connection_is_killed(
    services: Services, admin: redis.Redis
) -> None:
    subscription = services.bus.subscribe("customer:chaos")
    waiting = asyncio.ensure_future(anext(subscription))
    try:
        await subscribed(services.bus, "customer:chaos")
        assert await kill_our_clients(admin) >= 1
        await asyncio.sleep(0.3)
        await admin.flushdb()  # and the server forgot everything else too

        async def arrived() -> bool:
            await services.bus.publish("customer:chaos", {"n": 1})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), 0.3)
            return waiting.done()

        await eventually(arrived, 15, "an event published after the kill arrived")
        assert waiting.result() == {"n": 1}
    finally:
        waiting.cancel()
        await subscription.aclose()


async def test_the_bus_listener_outlives_a_redis_outage(admin: redis.Redis) -> None:
    """Redis unreachable for a few seconds (a restart, a network cut): the listener's
    reconnection attempts fail too, and it must keep trying, not die."""
    assert TEST_REDIS_URL
    url = urlsplit(TEST_REDIS_URL)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 6379)
    port = await proxy.start()
    client = redis.Redis.from_url(
        urlunsplit(url._replace(netloc=f"127.0.0.1:{port}")),
        socket_connect_timeout=1,
        socket_timeout=2,
    )
    health = LoopHealth(max_failures=3)
    bus = RedisBus(client, health)
    subscription = bus.subscribe("customer:outage")
    waiting = asyncio.ensure_future(anext(subscription))
    try:
        await subscribed(bus, "customer:outage")  # through the proxy
        proxy.cut()

        async def reported_stuck() -> bool:
            return "bus-listener" in health.problems()

        await eventually(reported_stuck, 15, "the listener reports its failures")
        proxy.restore()

        async def arrived() -> bool:
            await admin.publish(bus.prefix + "customer:outage", '{"n": 2}')  # straight to Redis
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), 0.3)
            return waiting.done()

        await eventually(arrived, 20, "an event published after the outage arrived")
        assert waiting.result() == {"n": 2}
        assert health.problems() == {}
    finally:
        waiting.cancel()
        with contextlib.suppress(BaseException):
            await subscription.aclose()
        await bus.close()
        await client.aclose()
        await proxy.close()
