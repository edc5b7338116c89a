"""A WebSocket connection's tasks and state end with it (issue 21, item 2): many
reconnects leave the task count and the memory where they were; the session watch of
a connection that is already gone at its token's expiry ends quietly (no "Task exception
was never retrieved", no traceback)."""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.websockets import WebSocketDisconnect

from api.graphql_view import close_when_session_ends
from api.services import Services
from push.bus import InProcessBus
from tests.api.asgi_calls import WebSocketCall
from tests.factories import customer_token, make_customer

RECONNECTS = 200
KB_PER_RECONNECT = 4  # a leaked connection held ~60 KB


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)
    gc.collect()


async def test_reconnects_leave_no_task_or_memory_behind(
    app: Starlette, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    token = await customer_token(services, await make_customer(services))

    async def reconnect() -> None:
        call = WebSocketCall(app).open()
        assert (await call.initialise(token))["type"] == "connection_ack"
        await call.hang_up()

    for _ in range(10):  # warm-up: caches, pools, lazily built state (the bus reader)
        await reconnect()
    await _settle()
    tasks = len(asyncio.all_tasks())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(RECONNECTS):
            await reconnect()
        await _settle()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(asyncio.all_tasks()) <= tasks
    assert grown < RECONNECTS * KB_PER_RECONNECT * 1024, f"{grown / RECONNECTS:.0f} B each"
    assert "never retrieved" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


class GoneSocket:
    """A WebSocket whose client has left: closing it raises, as Starlette's does."""

    def __init__(self) -> None:
        self.closes = 0

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closes += 1
        raise WebSocketDisconnect(code=1006)


async def test_the_watch_of_a_socket_already_gone_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    socket = GoneSocket()
    expires_at = datetime.now(UTC) + timedelta(milliseconds=50)
    watch = asyncio.create_task(
        close_when_session_ends(socket, InProcessBus(), uuid.uuid4(), expires_at)  # type: ignore[arg-type]
    )
    await asyncio.wait_for(watch, 2)  # before: WebSocketDisconnect escaped the task
    assert socket.closes == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
