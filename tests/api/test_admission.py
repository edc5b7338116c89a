"""The shedding rule itself (issue 21's goodput goal): a request is admitted only when
the process can answer it within the latency target at the rate it has lately been
finishing requests (Little's law), under the cap; and a request gives its place back
as soon as its answer is sent. A fake clock: no timings.

Measured before the rule (bench/load.py, 2× the knee on a loaded 2-core machine): with
the fixed cap of 32 alone, answers took 1.3 s at the median and up to 4 s as the
process's share of the CPU fell, so a falling rate let latency run past the clients'
timeout; and a closed-loop client with as many connections as the cap was refused 503
for three requests in four, its next request finding its previous one still counted."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from api.shedding import Admission, LoadSheddingMiddleware, SheddingLimits
from tests.api.asgi_calls import HttpCall


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def busy_admission(max_requests: int, target: float, clock: Clock) -> Admission:
    """An Admission whose event loop runs late: the process is saturated."""
    admission = Admission(max_requests=max_requests, target=target, clock=clock)
    admission.observe_lag(1.0)
    assert admission.saturated
    return admission


def finish_in_series(admission: Admission, clock: Clock, count: int, each: float) -> None:
    for _ in range(count):
        admission.start()
        clock.now += each
        admission.finish()


def test_a_request_that_cannot_be_answered_within_the_target_is_refused() -> None:
    clock = Clock()
    admission = busy_admission(max_requests=32, target=1.5, clock=clock)
    finish_in_series(admission, clock, 10, 0.5)  # 2 requests per busy second
    assert admission.rate() == pytest.approx(2.0)
    admitted = 0
    while admission.admit():
        admission.start()
        admitted += 1
    # The third is answered after about 1.5 s (3 in flight at 2 per second); a fourth
    # would take 2 s.
    assert admitted == 3
    assert admission.in_flight == 3 < admission.max_requests


def test_the_cap_still_holds_when_requests_are_fast() -> None:
    clock = Clock()
    admission = busy_admission(max_requests=4, target=10.0, clock=clock)
    finish_in_series(admission, clock, 10, 0.001)
    for _ in range(4):
        assert admission.admit()
        admission.start()
    assert not admission.admit()


def test_an_idle_spell_does_not_make_the_process_look_slow() -> None:
    clock = Clock()
    admission = busy_admission(max_requests=32, target=1.0, clock=clock)
    finish_in_series(admission, clock, 10, 0.1)
    clock.now += 3600  # nothing in flight for an hour
    assert admission.rate() == pytest.approx(10.0)
    for _ in range(5):
        admission.start()
    assert admission.admit()  # 6 requests at 10 per second: 0.6 s


def test_a_stall_lowers_the_rate_until_requests_are_refused() -> None:
    clock = Clock()
    admission = busy_admission(max_requests=32, target=1.0, clock=clock)
    finish_in_series(admission, clock, 10, 0.1)
    admission.start()
    admission.start()
    assert admission.admit()
    clock.now += 5  # two requests in flight, nothing finishes
    assert not admission.admit()


def test_the_only_request_is_never_refused_and_the_rule_waits_for_samples() -> None:
    clock = Clock()
    admission = busy_admission(max_requests=32, target=0.1, clock=clock)
    finish_in_series(admission, clock, 3, 5.0)  # slow, but too few to judge
    admission.start()
    assert admission.admit()
    finish_in_series(admission, clock, 10, 5.0)
    admission.finish()
    assert admission.in_flight == 0
    assert admission.admit()  # nothing in flight: always
    admission.start()
    assert not admission.admit()


def test_slow_requests_on_an_idle_loop_are_not_refused_for_it() -> None:
    """Requests slow because they wait on a provider leave the loop idle: only the cap
    applies, so unrelated fast requests are still served."""
    clock = Clock()
    admission = Admission(max_requests=32, target=1.0, clock=clock)
    finish_in_series(admission, clock, 10, 3.0)  # 3 s each, waiting on a provider
    for _ in range(20):
        admission.start()
    admission.observe_lag(0.001)
    assert not admission.saturated
    assert admission.expected_seconds() > admission.target
    assert admission.admit()
    for _ in range(10):
        admission.observe_lag(0.2)  # the loop falls behind: now it is the queue
    assert not admission.admit()


def limits(max_requests: int, target: float) -> SheddingLimits:
    return SheddingLimits(
        max_requests=max_requests,
        latency_target=target,
        retry_after=2,
        request_timeout=30,
        body_timeout=30,
        max_websockets=10,
        max_websockets_per_client=10,
    )


class Toy:
    """An app that answers when told to, then optionally goes on working a while."""

    def __init__(self, clock: Clock, *, each: float = 0.0) -> None:
        self.clock = clock
        self.each = each
        self.go = asyncio.Event()
        self.after = asyncio.Event()  # work after the answer, until set
        self.linger = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await self.go.wait()
        self.clock.now += self.each
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        if self.linger:
            await self.after.wait()


def call(app: LoadSheddingMiddleware) -> HttpCall:
    return HttpCall(cast(Starlette, app), path="/graphql").start(b"{}")


async def test_the_middleware_refuses_at_once_what_it_cannot_answer_in_time() -> None:
    clock = Clock()
    toy = Toy(clock, each=1.0)
    app = LoadSheddingMiddleware(toy, limits(max_requests=32, target=1.5), clock=clock)
    app.admission.SATURATED_LAG = -1.0  # the loop counts as saturated throughout
    toy.go.set()
    for _ in range(10):  # one request per second
        one = call(app)
        await one.done()
        assert one.status == 200
    toy.go.clear()
    held = call(app)
    await asyncio.sleep(0)
    refused = call(app)  # 2 in flight at 1 per second: 2 s > 1.5 s
    await refused.done()
    assert refused.status == 503
    assert refused.headers[b"retry-after"] == b"2"
    assert app.counts.shed == app.counts.shed_by_target == 1
    toy.go.set()
    await held.done()
    assert held.status == 200


async def test_a_request_gives_its_place_back_when_its_answer_is_sent() -> None:
    clock = Clock()
    toy = Toy(clock)
    toy.linger = True
    app = LoadSheddingMiddleware(toy, limits(max_requests=1, target=10.0), clock=clock)
    toy.go.set()
    first = call(app)
    for _ in range(5):
        await asyncio.sleep(0)
    assert first.status == 200 and first.task is not None and not first.task.done()
    second = call(app)  # the first is answered, its task still unwinding
    for _ in range(5):
        await asyncio.sleep(0)
    assert second.status == 200
    toy.after.set()
    await first.done()
    await second.done()
    counts: dict[str, Any] = app.counts.snapshot()
    assert counts["shed"] == 0 and counts["statuses"] == {"200": 2}


async def test_the_bench_counts_are_served_only_when_the_setting_is_on() -> None:
    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    off = LoadSheddingMiddleware(not_found, limits(max_requests=4, target=1.0))
    asked = HttpCall(cast(Starlette, off), path="/bench/served").start(b"")
    await asked.done()
    assert asked.status == 404
    on = LoadSheddingMiddleware(
        not_found, replace(limits(max_requests=4, target=1.0), bench_counts=True)
    )
    asked = HttpCall(cast(Starlette, on), path="/bench/served").start(b"")
    await asked.done()
    assert asked.status == 200 and asked.json["shed"] == 0
