"""Supervised loops: backoff with jitter, health (failures in a row, staleness), a fresh
context per step, and the worker's health endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

import pytest

from push.health_server import serve_health
from push.loops import Backoff, LoopHealth, supervise
from tests.fakes.server import http_client

LEFTOVER: contextvars.ContextVar[str] = contextvars.ContextVar("leftover", default="clean")


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(base=0.5, cap=4)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jitter: not all the same
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_a_loop_is_stuck_after_failures_in_a_row_or_without_success() -> None:
    now = [100.0]
    health = LoopHealth(max_failures=3, stale_seconds=10, clock=lambda: now[0])
    health.start("relay")
    assert health.problems() == {}
    for _ in range(3):
        health.failed("relay", OSError("down"))
    assert "3 times in a row (OSError)" in health.problems()["relay"]
    health.succeeded("relay")
    assert health.problems() == {}
    now[0] += 11  # a step that hangs: nothing fails, nothing succeeds
    assert "no success for 11 s" in health.problems()["relay"]
    health.start("hourly", every=3600)  # a periodic job may be quiet for its period
    now[0] += 3600
    assert "hourly" not in health.problems()


async def test_a_supervised_loop_recovers_and_each_step_has_a_fresh_context() -> None:
    health = LoopHealth(max_failures=2)
    seen: list[str] = []
    recovered = asyncio.Event()

    async def step() -> float:
        seen.append(LEFTOVER.get())
        LEFTOVER.set("poisoned")  # what a failed library call might leave behind
        if len(seen) <= 3:
            raise OSError("connection dropped")
        recovered.set()
        return 10

    loop = asyncio.create_task(supervise("chaos", step, health, backoff_base=0.01))
    try:
        await asyncio.wait_for(recovered.wait(), 5)
        assert seen == ["clean"] * 4
        assert health.problems() == {}
        assert health.loops["chaos"].failures_in_a_row == 0
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert "chaos" not in health.loops  # a stopped loop is forgotten


async def test_the_worker_answers_its_probes() -> None:
    health = LoopHealth(max_failures=1)
    health.start("outbox-relay")
    async with serve_health(health, 0) as server:
        assert server is not None
        port = server.sockets[0].getsockname()[1]
        async with http_client(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/readyz")).status_code == 200
            health.failed("outbox-relay", OSError("down"))
            answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert answer.json() == {
                "status": "unavailable",
                "loops": ["outbox-relay"],
                "stuck": ["outbox-relay"],
            }
            assert (await client.get("/other")).status_code == 404


@pytest.mark.parametrize("swallowed_as", ["a result", "an error"])
async def test_a_loop_stops_when_its_step_swallows_the_cancellation(swallowed_as: str) -> None:
    """Some libraries turn a cancellation into a result or another error (a timeout's
    scope firing at the same moment); the stopping worker's delivery loop then went on
    stepping for ever and ``anxin worker`` never ended."""
    health = LoopHealth()
    started = asyncio.Event()
    swallowed: list[bool] = []

    async def step() -> float:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if swallowed:  # once: a loop that went on can still be stopped after the test
                raise
            swallowed.append(True)
            if swallowed_as == "an error":
                raise TimeoutError("read timed out") from None
        return 0

    loop = asyncio.create_task(supervise("swallower", step, health, backoff_base=0.01))
    await asyncio.wait_for(started.wait(), 5)
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=5)
    assert done == {loop}, "the loop went on after it was cancelled"
    assert loop.cancelled()
    assert "swallower" not in health.loops
