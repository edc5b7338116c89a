"""Long-running loops that recover by themselves and say when they are stuck.

Every ``while True`` of a process (outbox relay, delivery worker, periodic jobs, the
event bus listener) runs its work one step at a time under ``supervise``:

- a step that fails (the database or Redis dropped, a provider down) is retried after
  a capped exponential backoff with full jitter, so a fleet of workers does not hammer
  a database that is coming back all at the same moment;
- each step runs in a fresh copy of the loop's original context: whatever a failed step
  leaves in a context variable (a library's transaction, a request id) dies with it;
- each step's outcome goes into ``LoopHealth``: the time of the last success and the
  failures in a row. A loop is *stuck* when it has failed ``max_failures`` times in a row
  or has not succeeded for ``stale_after`` seconds (a step that hangs fails no check,
  but stops succeeding). ``/readyz`` and the worker's health endpoint answer from it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("anxin.loops")
DEFAULT_MAX_FAILURES = 5
DEFAULT_STALE_SECONDS = 60.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0

# A step returns the pause before the next one (None: the loop's interval).
Step = Callable[[], Coroutine[Any, Any, float | None]]


@dataclass
class LoopState:
    name: str
    stale_after: float
    started_at: float
    last_success: float | None = None
    failures_in_a_row: int = 0
    last_error: str | None = None

    def problem(self, now: float, max_failures: int) -> str | None:
        """Why this loop is stuck, or None."""
        if self.failures_in_a_row >= max_failures:
            return f"failed {self.failures_in_a_row} times in a row ({self.last_error})"
        since = self.last_success if self.last_success is not None else self.started_at
        if now - since > self.stale_after:
            return f"no success for {now - since:.0f} s"
        return None


@dataclass
class LoopHealth:
    """The loops of this process, as ``supervise`` reports them."""

    max_failures: int = DEFAULT_MAX_FAILURES
    stale_seconds: float = DEFAULT_STALE_SECONDS
    clock: Callable[[], float] = time.monotonic
    loops: dict[str, LoopState] = field(default_factory=dict)

    def start(self, name: str, *, every: float = 0) -> LoopState:
        """Track a loop; one that runs every ``every`` seconds may be quiet that long."""
        state = LoopState(name, self.stale_seconds + 2 * every, self.clock())
        self.loops[name] = state
        return state

    def stop(self, name: str) -> None:
        self.loops.pop(name, None)

    def succeeded(self, name: str) -> None:
        state = self.loops.get(name) or self.start(name)
        if state.failures_in_a_row:
            log.info("%s recovered after %d failures", name, state.failures_in_a_row)
        state.last_success = self.clock()
        state.failures_in_a_row = 0
        state.last_error = None

    def failed(self, name: str, exc: BaseException) -> None:
        state = self.loops.get(name) or self.start(name)
        state.failures_in_a_row += 1
        state.last_error = type(exc).__name__

    def problems(self) -> dict[str, str]:
        now = self.clock()
        found = {}
        for name, state in list(self.loops.items()):
            problem = state.problem(now, self.max_failures)
            if problem is not None:
                found[name] = problem
        return found


class Backoff:
    """Capped exponential backoff with full jitter (the AWS architecture blog's)."""

    def __init__(
        self, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS
    ) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


def _cancelled_meanwhile(name: str) -> bool:
    """Whether this loop was cancelled while its step ran, and the step returned or
    failed instead of ending cancelled: some library swallowed the cancellation (seen:
    the delivery worker of a stopping ``anxin worker`` went on stepping for ever, its
    owner waiting). A cancelled loop must stop however its step ended."""
    task = asyncio.current_task()
    if task is None or not task.cancelling():
        return False
    log.warning("%s: its step swallowed the loop's cancellation; stopping anyway", name)
    return True


async def supervise(
    name: str,
    step: Step,
    health: LoopHealth,
    *,
    interval: float = 0,
    first_after: float = 0,
    backoff_base: float = BACKOFF_BASE_SECONDS,
    backoff_cap: float = BACKOFF_CAP_SECONDS,
) -> None:
    """Run ``step`` until cancelled, recovering from any error it raises."""
    health.start(name, every=max(interval, first_after))
    base_context = contextvars.copy_context()
    backoff = Backoff(backoff_base, backoff_cap)
    try:
        await asyncio.sleep(first_after)
        while True:
            try:
                # A task of its own: a fresh copy of the context for every step.
                pause: float | None = await asyncio.create_task(step(), context=base_context.copy())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _cancelled_meanwhile(name):
                    raise asyncio.CancelledError from exc
                health.failed(name, exc)
                delay = backoff.next_delay()
                log.warning(
                    "%s failed (%d in a row), retrying in %.1f s: %s: %s",
                    name,
                    health.loops[name].failures_in_a_row,
                    delay,
                    type(exc).__name__,
                    exc,
                )
                await asyncio.sleep(delay)
                continue
            if _cancelled_meanwhile(name):
                raise asyncio.CancelledError
            health.succeeded(name)
            backoff.reset()
            await asyncio.sleep(interval if pause is None else pause)
    finally:
        health.stop(name)
