"""Waiting for a subscription to be registered on the event bus, bounded: a test that
publishes after this cannot be missed by its subscriber, and one whose subscriber never
registers fails in seconds instead of hanging."""

from __future__ import annotations

import asyncio

from push.bus import EventBus

REGISTER_SECONDS = 5.0


async def subscribed(bus: EventBus, channel: str, count: int = 1) -> None:
    async with asyncio.timeout(REGISTER_SECONDS):
        await bus.until_subscribed(channel, count)
