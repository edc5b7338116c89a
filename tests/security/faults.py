"""Shared by the fault tests (dropped database connections, Redis restarts): the
worker's loops running in the test's process, an event that must reach the customer
by SMS, and waiting for it while connections come and go."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from api.jobs import run_jobs
from api.services import Services
from models.customers import Customer
from models.notifications import Channel, Delivery, DeliveryStatus, OutboxEvent, QuietHours
from models.policies import Policy
from tests.factories import emit_premium_event, make_customer

# The relay hands a delivery to the queue before its transaction commits: a worker that
# is quicker than the commit finds nothing yet, and the sweep (every 15 s, for deliveries
# 15 s old) sends it.
DELIVERY_SECONDS = 40


@pytest.fixture
async def background_jobs(services: Services) -> AsyncIterator[asyncio.Task[None]]:
    """The worker's long-running loops, in this process, reporting to ``/readyz``."""
    jobs = asyncio.create_task(run_jobs(services))
    yield jobs
    jobs.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await jobs


@pytest.fixture
async def customer(services: Services) -> Customer:
    """A customer without quiet hours: messages go out at once."""
    customer = await make_customer(services, "故障用户")
    await QuietHours.create(customer=customer, start_minute=0, end_minute=0)  # off
    return customer


async def emit_overdue(customer: Customer, policy: Policy) -> OutboxEvent:
    """An event with an SMS delivery (the console SMS channel is always on)."""
    return await emit_premium_event(customer, policy, "premium.overdue")


def sms_sent(event: OutboxEvent) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        sms = await Delivery.filter(channel=Channel.SMS, notification__event_id=event.event_id)
        return bool(sms) and all(d.status is DeliveryStatus.SENT for d in sms)

    return check


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Poll ``check`` until it holds; a check failing on the test's own dropped
    connection counts as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await check():
                return
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}")
