"""Freed memory is handed back after a burst of WebSocket connections has closed (issue
21: after a flood the process stayed at 670 MB; the memory was free inside glibc's heap,
not held by our objects — api/memory.py). A fake ``release`` counts the calls."""

from __future__ import annotations

import asyncio

from api.memory import TrimAfterBursts, TrimWhenIdle


async def settle(bursts: TrimAfterBursts) -> None:
    if bursts.trimming is not None:
        await bursts.trimming


async def test_a_burst_that_closed_is_trimmed_once() -> None:
    calls: list[int] = []
    bursts = TrimAfterBursts(release=lambda: calls.append(1), closed_enough=100)
    for _ in range(300):
        bursts.opened()
    for _ in range(300):
        bursts.closed()
        await asyncio.sleep(0)
    await settle(bursts)
    # at 150 closed (half of the peak left), and at 250 once the first is done
    assert calls in ([1], [1, 1])
    assert bursts.open == 0


async def test_steady_traffic_is_never_trimmed() -> None:
    calls: list[int] = []
    bursts = TrimAfterBursts(release=lambda: calls.append(1), closed_enough=100)
    for _ in range(50):
        bursts.opened()
    for _ in range(5000):  # reconnects around a steady 50
        bursts.closed()
        bursts.opened()
    await settle(bursts)
    assert calls == []


async def test_a_burst_that_half_remains_is_not_trimmed_yet() -> None:
    calls: list[int] = []
    bursts = TrimAfterBursts(release=lambda: calls.append(1), closed_enough=100)
    for _ in range(1000):
        bursts.opened()
    for _ in range(400):
        bursts.closed()
    await settle(bursts)
    assert calls == []  # 600 of 1,000 still open


async def test_the_middleware_counts_its_websockets() -> None:
    from starlette.types import Receive, Scope, Send

    from api.shedding import LoadSheddingMiddleware, SheddingLimits

    end = asyncio.Event()

    async def accept_and_end(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await end.wait()

    limits = SheddingLimits(
        max_requests=4,
        latency_target=1.0,
        retry_after=1,
        request_timeout=1,
        body_timeout=1,
        max_websockets=10_000,
        max_websockets_per_client=10_000,
    )
    app = LoadSheddingMiddleware(accept_and_end, limits)
    calls: list[int] = []
    app.memory = TrimAfterBursts(release=lambda: calls.append(1), closed_enough=10)
    scope = {"type": "websocket", "path": "/graphql", "headers": [], "client": ("1.2.3.4", 1)}

    async def connect() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def ignore(message: object) -> None:
        pass

    connections = [asyncio.create_task(app(scope, connect, ignore)) for _ in range(20)]
    await asyncio.sleep(0.01)
    assert app.memory.open == 20
    end.set()
    await asyncio.gather(*connections)
    await settle(app.memory)
    assert app.memory.open == 0 and calls


async def test_a_burst_of_photo_decodes_is_trimmed_once_it_ends() -> None:
    from storage.decoding import DecodeGate

    calls: list[int] = []
    trim = TrimWhenIdle(release=lambda: calls.append(1))
    gate = DecodeGate(concurrency=2, budget_bytes=100, on_idle=trim)

    async def decode() -> None:
        async with gate.admit(10):
            await asyncio.sleep(0.01)

    await asyncio.gather(*(decode() for _ in range(6)))
    assert trim.trimming is not None
    await trim.trimming
    assert calls == [1]  # not once per decode: only when none runs and none waits
    await decode()
    await trim.trimming
    assert calls == [1, 1]


async def test_one_trim_at_a_time() -> None:
    started, finish = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        loop.call_soon_threadsafe(started.set)
        asyncio.run_coroutine_threadsafe(finish.wait(), loop).result()

    trim = TrimWhenIdle(release=slow)
    trim()
    await started.wait()
    trim()  # a second end of burst while the first trim runs: nothing more
    finish.set()
    assert trim.trimming is not None
    await trim.trimming
    assert calls == [1]
