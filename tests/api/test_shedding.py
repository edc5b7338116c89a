"""Load shedding on the real app, driven at the ASGI level so that a test can hold a
request open, send half a body or hang up exactly when it wants (issue 21, items 1 and
4): one request over the cap is answered 503 with Retry-After at once; a client that
hangs up stops its request's work (its transaction rolls back, the pool stays whole); a
request that runs too long is stopped and answered 503; a body that does not arrive is
answered 408; a hang-up before the body is read is one INFO line without a traceback.

A slow resolver is made by replacing ``unreadNotificationCount``'s workflow function
with one that waits (optionally inside a transaction that has written a row)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from tests.api.asgi_calls import HttpCall as Call
from tests.factories import customer_token, make_customer
from workflows import notifications


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_concurrent_requests": 2, "busy_retry_after_seconds": 3}


@dataclass
class Slow:
    """The stand-in for ``unread_count``: waits until cancelled (or released)."""

    write: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: int = 0
    names: list[str] = field(default_factory=list)

    async def __call__(self, customer_id: uuid.UUID) -> int:
        try:
            if self.write:
                async with in_transaction():
                    name = f"回滚客户{uuid.uuid4().hex[:8]}"
                    self.names.append(name)
                    await Customer.filter(id=customer_id).update(name=name)
                    self.started.set()
                    await self.release.wait()
            else:
                self.started.set()
                await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return 0


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[Slow]:
    stand_in = Slow()
    monkeypatch.setattr(notifications, "unread_count", stand_in)
    yield stand_in
    stand_in.release.set()


@pytest.fixture
async def token(services: Services) -> str:
    return await customer_token(services, await make_customer(services))


async def test_a_request_over_the_cap_is_answered_503_at_once(
    app: Starlette, token: str, slow: Slow
) -> None:
    held = [Call(app, token=token).start() for _ in range(2)]
    await asyncio.wait_for(slow.started.wait(), 5)
    await asyncio.sleep(0.05)  # both are inside

    refused = Call(app, token=token).start()
    await refused.done(1)
    assert refused.status == 503
    assert refused.headers[b"retry-after"] == b"3"
    assert refused.json["errors"][0]["extensions"]["code"] == "SERVICE_BUSY"
    probe = Call(app, path="/healthz").start(b"")
    await probe.done(2)
    assert probe.status == 200  # health probes are never refused

    slow.release.set()
    for call in held:
        await call.done()
        assert call.status == 200 and call.json == {"data": {"unreadNotificationCount": 0}}
    after = Call(app, token=token).start()
    await after.done()
    assert after.status == 200  # the places were given back


async def test_a_client_that_hangs_up_stops_its_request(
    app: Starlette, token: str, slow: Slow, services: Services
) -> None:
    slow.write = True
    for _ in range(12):  # more than the database pool holds: each must give its connection back
        slow.started.clear()
        call = Call(app, token=token).start()
        await asyncio.wait_for(slow.started.wait(), 5)
        call.hang_up()
        await call.done(2)
        assert call.status is None  # nobody is listening
    assert slow.cancelled == 12
    assert not await Customer.filter(name__in=slow.names).exists()  # rolled back
    slow.release.set()
    slow.write = False
    after = Call(app, token=token).start()
    await after.done()
    assert after.status == 200


@pytest.mark.parametrize("settings_overrides", [{"request_timeout_seconds": 0.2}])
async def test_a_request_that_runs_too_long_is_stopped(
    app: Starlette, token: str, slow: Slow, caplog: pytest.LogCaptureFixture
) -> None:
    call = Call(app, token=token).start()
    await call.done(3)
    assert call.status == 503
    assert call.json["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert b"retry-after" in call.headers
    assert slow.cancelled == 1
    assert [r.levelno for r in caplog.records if r.name == "anxin.shedding"] == [logging.WARNING]


@pytest.mark.parametrize("settings_overrides", [{"request_body_timeout_seconds": 0.2}])
async def test_a_body_that_does_not_arrive_is_answered_408(app: Starlette) -> None:
    call = Call(app).start(b'{"query": "{ __typename', complete=False, length=200)
    await call.done(3)
    assert call.status == 408
    assert call.headers[b"connection"] == b"close"
    assert call.json["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


@pytest.mark.parametrize("settings_overrides", [{"request_body_timeout_seconds": 0.2}])
async def test_a_callback_body_that_does_not_arrive_is_answered_408_too(app: Starlette) -> None:
    """Payment callbacks are never refused, but their bodies are timed like any other."""
    call = Call(app, path="/payments/sandbox/notify", method="POST")
    call.start(b'{"order": "', complete=False, length=200)
    await call.done(3)
    assert call.status == 408
    assert call.headers[b"connection"] == b"close"


async def test_a_hang_up_before_the_body_is_read_is_one_info_line(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    call = Call(app).start(b'{"query": "{ __typename', complete=False, length=200)
    await asyncio.sleep(0.05)
    call.hang_up()
    await call.done(2)  # before: starlette's ClientDisconnect escaped the app (ERROR + traceback)
    assert call.status is None
    lines = [r for r in caplog.records if r.name == "anxin.shedding"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO and lines[0].exc_info is None
    assert "went away before its request was read" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
