"""The decode gate: photos decode while their estimated bytes fit the budget, by count
too, first come first served; a photo bigger than the budget decodes alone."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from storage.decoding import DecodeGate


class Trace:
    """Decodes of given costs through one gate, recording the bytes and count in flight."""

    def __init__(self, gate: DecodeGate) -> None:
        self.gate = gate
        self.started: list[str] = []
        self.peak_bytes = 0
        self.peak_running = 0
        self.release: dict[str, anyio.Event] = {}

    async def decode(self, name: str, cost: int) -> None:
        self.release[name] = anyio.Event()
        async with self.gate.admit(cost):
            self.started.append(name)
            self.peak_bytes = max(self.peak_bytes, self.gate.in_use)
            self.peak_running = max(self.peak_running, self.gate.running)
            await self.release[name].wait()


async def settle() -> None:
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


async def test_decodes_run_while_their_bytes_fit_the_budget() -> None:
    trace = Trace(DecodeGate(concurrency=8, budget_bytes=100))
    async with anyio.create_task_group() as group:
        for index in range(5):
            group.start_soon(trace.decode, f"p{index}", 40)
        await settle()
        assert trace.started == ["p0", "p1"]  # a third 40 would make 120 > 100
        trace.release["p0"].set()
        await settle()
        assert trace.started == ["p0", "p1", "p2"]
        for event in trace.release.values():
            event.set()
    assert trace.started == ["p0", "p1", "p2", "p3", "p4"]
    assert trace.peak_bytes == 80 and trace.gate.in_use == 0 and trace.gate.running == 0


async def test_the_count_bounds_cheap_decodes() -> None:
    trace = Trace(DecodeGate(concurrency=2, budget_bytes=10**9))
    async with anyio.create_task_group() as group:
        for index in range(4):
            group.start_soon(trace.decode, f"p{index}", 1)
        await settle()
        assert trace.started == ["p0", "p1"]
        for event in trace.release.values():
            event.set()
        await settle()
        for event in trace.release.values():
            event.set()
    assert trace.peak_running == 2 and len(trace.started) == 4


async def test_a_photo_bigger_than_the_budget_decodes_alone() -> None:
    trace = Trace(DecodeGate(concurrency=4, budget_bytes=100))
    async with anyio.create_task_group() as group:
        group.start_soon(trace.decode, "huge", 500)
        await settle()
        group.start_soon(trace.decode, "small", 10)
        await settle()
        assert trace.started == ["huge"]  # admitted, alone
        trace.release["huge"].set()
        await settle()
        assert trace.started == ["huge", "small"]
        trace.release["small"].set()


async def test_a_waiting_big_photo_is_not_overtaken() -> None:
    trace = Trace(DecodeGate(concurrency=4, budget_bytes=100))
    async with anyio.create_task_group() as group:
        group.start_soon(trace.decode, "first", 60)
        await settle()
        group.start_soon(trace.decode, "big", 90)  # waits: 150 > 100
        await settle()
        group.start_soon(trace.decode, "small", 10)  # would fit, but comes after "big"
        await settle()
        assert trace.started == ["first"]
        trace.release["first"].set()
        await settle()
        assert trace.started == ["first", "big", "small"]  # 90 + 10 fit together
        trace.release["big"].set()
        trace.release["small"].set()


async def test_a_cancelled_wait_gives_its_turn_away() -> None:
    gate = DecodeGate(concurrency=1, budget_bytes=100)
    trace = Trace(gate)
    async with anyio.create_task_group() as group:
        group.start_soon(trace.decode, "running", 50)
        await settle()
        with anyio.move_on_after(0.05) as scope:
            async with gate.admit(50):
                pytest.fail("admitted while the only slot is taken")
        assert scope.cancelled_caught
        group.start_soon(trace.decode, "next", 50)
        await settle()
        trace.release["running"].set()
        await settle()
        assert trace.started == ["running", "next"]
        trace.release["next"].set()
    assert gate.running == 0 and gate.in_use == 0


async def test_the_end_of_a_burst_is_reported_once() -> None:
    idle: list[int] = []
    trace = Trace(DecodeGate(concurrency=2, budget_bytes=100, on_idle=lambda: idle.append(1)))
    async with anyio.create_task_group() as group:
        for index in range(5):
            group.start_soon(trace.decode, f"p{index}", 10)
        await settle()
        for _ in range(3):
            for event in trace.release.values():
                event.set()
            await settle()
    assert idle == [1]


def test_a_gate_needs_room_for_one_decode() -> None:
    with pytest.raises(ValueError):
        DecodeGate(concurrency=0, budget_bytes=100)
    with pytest.raises(ValueError):
        DecodeGate(concurrency=1, budget_bytes=0)
