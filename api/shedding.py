"""Load shedding: what one API process takes on, and for how long (issue 21).

Measured before this existed (bench/load.py): open-loop traffic at twice a process's
capacity made every request slow, clients gave up, and the requests they abandoned kept
running, so the process spent its time on answers nobody read (goodput a few percent of
capacity, memory growing, minutes to recover). So, per process:

- at most ``max_requests`` HTTP requests at once, and no more than the process can
  answer within ``latency_target`` at the rate it has been finishing them (``Admission``);
  one more is answered 503 with ``Retry-After`` at once, before its body is read
  (health probes are never refused). A request holds its place until its answer is
  sent, not until its task has unwound (a kept-alive client's next request would
  otherwise find its own previous one still counted);
- a request whose client went away is cancelled: its resolvers stop, its transaction
  rolls back, its connection to the database goes back to the pool;
- its body must arrive within ``body_timeout`` (else 408, connection closed; this one
  holds for the never-refused requests too), and its work must start answering within
  ``request_timeout`` of that (else cancelled, 503);
- a client that went away before its body was read is one INFO line, not an ERROR with
  a traceback (thousands of them under overload);
- WebSocket connections are capped per process and per client address; one more is
  refused at once with 503 (an HTTP answer to its handshake, where the server can send
  one) instead of being accepted and left waiting.

The work runs in a task of its own beside a watcher that, once the body is in, listens
for the client's disconnect (ASGI's ``http.disconnect``) and keeps the time.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.clients import Network, client_ip
from api.media_types import answer_type
from api.memory import TrimAfterBursts
from api.middleware import send_json_error
from api.settings import Settings

log = logging.getLogger("anxin.shedding")

BUSY = "SERVICE_BUSY"
BUSY_MESSAGE = "服务繁忙，请稍后重试"
TIMEOUT = "REQUEST_TIMEOUT"
TIMEOUT_MESSAGE = "请求处理超时，请稍后重试"
BODY_TIMEOUT_MESSAGE = "请求内容接收超时"
WS_TRY_AGAIN_LATER = 1013  # RFC 6455: the server is overloaded
# Set in the task that refused a handshake with an HTTP answer: uvicorn's websockets
# implementation then logs "ASGI callable returned without completing handshake." at
# ERROR for every refusal (Kludex/uvicorn#3138), 2,065 lines in the bench's flood.
_REFUSED_WITH_HTTP: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "refused_with_http", default=False
)
_UVICORN_INCOMPLETE_HANDSHAKE = "ASGI callable returned without completing handshake."


class RefusedHandshakeFilter(logging.Filter):
    """Drops uvicorn's spurious ERROR after a handshake we refused with 503 on purpose
    (only in the task that refused it: a real incomplete handshake is still logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            _REFUSED_WITH_HTTP.get() and record.getMessage() == _UVICORN_INCOMPLETE_HANDSHAKE
        )


SHED_REPORT_SECONDS = 10.0
# Served only with ANXIN_BENCH_COUNTS (refused in production): what bench/load.py reads
# to count good answers on the server's side, apart from its clients.
BENCH_COUNTS_PATH = "/bench/served"
LAG_PERIOD = 0.05  # seconds between readings of the event loop's lateness
ANSWERED_WITHIN = (0.5, 1.0, 2.0, 5.0, 10.0)  # seconds, for the counts of 2xx answers
NEVER_SHED = frozenset({"/healthz", "/readyz"})


def never_shed(path: str) -> bool:
    """Health probes, and the providers' payment callbacks: a paid order must not wait
    for a provider's retry minutes later because the app's own traffic is high (they are
    small and bounded by the request size limit)."""
    return path in NEVER_SHED or (path.startswith("/payments/") and path.endswith("/notify"))


@dataclass(frozen=True)
class SheddingLimits:
    max_requests: int
    latency_target: float
    retry_after: int
    request_timeout: float
    body_timeout: float
    max_websockets: int
    max_websockets_per_client: int
    trusted_proxies: tuple[Network, ...] = ()
    bench_counts: bool = False


def shedding_limits(settings: Settings) -> SheddingLimits:
    return SheddingLimits(
        max_requests=settings.max_concurrent_requests,
        latency_target=settings.request_latency_target_seconds,
        retry_after=settings.busy_retry_after_seconds,
        request_timeout=settings.request_timeout_seconds,
        body_timeout=settings.request_body_timeout_seconds,
        max_websockets=settings.websocket_max_connections,
        max_websockets_per_client=settings.websocket_max_connections_per_client,
        trusted_proxies=settings.trusted_proxy_networks,
        bench_counts=settings.bench_counts,
    )


class Admission:
    """Whether one more request may start: the cap, and Little's law while the event loop
    is saturated. Requests in flight share one event loop, so when it is busy a request
    admitted now is answered after about ``in flight ÷ the rate requests finish``; when
    that is over ``target``, it would come back after its client has given up (the
    bench, past the knee on a machine whose other work took our share of the CPU: with
    the fixed cap alone answers took 1.2-1.6 s at the median and up to 4 s, and a
    falling rate lets them grow further). Refusing it at once costs the client one round
    trip and the process almost nothing.

    The rule applies only while the loop is *saturated* (its callbacks run late by more
    than ``SATURATED_LAG`` on average: ``observe_lag``, fed by a timer): requests that
    are slow because they wait on a provider or the database leave the loop idle and
    must not make the process refuse unrelated fast requests.

    The rate is measured over the last ``SAMPLES`` completions against *busy* time (time
    with at least one request in flight), so an idle spell does not make a fast process
    look slow; a stall with nothing finishing lowers it as it goes on. Until
    ``MIN_SAMPLES`` requests have finished, and whenever nothing is in flight, only the
    cap applies: the rule can never refuse the only request."""

    SAMPLES = 32
    MIN_SAMPLES = 8
    SATURATED_LAG = 0.025  # seconds, the loop's lateness (smoothed) that counts as busy
    LAG_WEIGHT = 0.3  # of each new lag reading in the smoothed lag

    def __init__(
        self, max_requests: int, target: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_requests = max_requests
        self.target = target
        self.clock = clock
        self.in_flight = 0
        self._busy = 0.0  # seconds with a request in flight, since the start
        self._mark = clock()
        self._finished: deque[float] = deque(maxlen=self.SAMPLES + 1)  # busy clock at each
        self.lag = 0.0  # the event loop's lateness, smoothed (seconds)

    def observe_lag(self, seconds: float) -> None:
        self.lag += self.LAG_WEIGHT * (seconds - self.lag)

    @property
    def saturated(self) -> bool:
        return self.lag > self.SATURATED_LAG

    def _busy_now(self) -> float:
        now = self.clock()
        if self.in_flight:
            self._busy += now - self._mark
        self._mark = now
        return self._busy

    def rate(self) -> float | None:
        """Requests finished per busy second, lately (None: too few seen yet)."""
        busy = self._busy_now()
        if len(self._finished) < self.MIN_SAMPLES:
            return None
        span = busy - self._finished[0]
        return (len(self._finished) - 1) / span if span > 0 else None

    def expected_seconds(self) -> float:
        """About how long a request admitted now would take to be answered."""
        rate = self.rate()
        return 0.0 if rate is None else (self.in_flight + 1) / rate

    def admit(self) -> bool:
        if self.in_flight >= self.max_requests:
            return False
        return self.in_flight == 0 or not self.saturated or self.expected_seconds() <= self.target

    def start(self) -> None:
        self._busy_now()
        self.in_flight += 1

    def finish(self) -> None:
        busy = self._busy_now()
        self.in_flight -= 1
        self._finished.append(busy)


class BodyTimeout(Exception):
    """Raised from ``receive`` inside the application: the body did not arrive in time."""


class _ShedReport:
    """One WARNING per ``SHED_REPORT_SECONDS`` while refusing, with the count: an
    overload is visible in the log without a line per refused request."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.since = time.monotonic()

    def refused(self, what: str) -> None:
        self.counts[what] += 1
        now = time.monotonic()
        if now - self.since >= SHED_REPORT_SECONDS:
            summary = ", ".join(f"{count} {name}" for name, count in sorted(self.counts.items()))
            log.warning("overloaded: refused %s in the last %.0f s", summary, now - self.since)
            self.counts.clear()
            self.since = now


@dataclass
class ServedCounts:
    """What the process did with the requests it may shed, since it started: the
    server's side of a load test (a client's count cannot tell a slow server from a
    starved client). ``answered_within``: 2xx answers complete within so many seconds
    of reaching this middleware."""

    shed: int = 0  # refused at once, 503
    shed_by_target: int = 0  # ... of them under the cap, by the latency target
    admitted: int = 0
    gone: int = 0  # the client went away while its request ran; the work was stopped
    timed_out: int = 0  # stopped by the request timeout, 503
    statuses: Counter[int] = field(default_factory=Counter)
    answered_within: Counter[float] = field(default_factory=Counter)

    def answered(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        if 200 <= status < 300:
            for limit in ANSWERED_WITHIN:
                if seconds <= limit:
                    self.answered_within[limit] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "shed": self.shed,
            "shed_by_target": self.shed_by_target,
            "admitted": self.admitted,
            "gone": self.gone,
            "timed_out": self.timed_out,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "answered_within": {str(k): self.answered_within[k] for k in ANSWERED_WITHIN},
        }


class LoadSheddingMiddleware:
    def __init__(
        self, app: ASGIApp, limits: SheddingLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limits = limits
        self.admission = Admission(limits.max_requests, limits.latency_target, clock)
        self._beating = False
        self.websockets = 0
        self.websockets_by_client: Counter[str] = Counter()
        self.memory = TrimAfterBursts()
        self.report = _ShedReport()
        self.counts = ServedCounts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.limits.bench_counts
            and scope["type"] == "http"
            and scope["path"] == BENCH_COUNTS_PATH
        ):
            await JSONResponse(self.counts.snapshot())(scope, receive, send)
        elif scope["type"] == "http" and not never_shed(scope["path"]):
            await self._http(scope, receive, send)
        elif scope["type"] == "http":
            # Never refused, never cut short, but a body that does not arrive is not
            # waited for forever either (a trickled callback body held its connection).
            exchange = _Exchange(self.app, scope, receive, send, self.limits, watched=False)
            await exchange.run(self._retry_after())
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _retry_after(self) -> list[tuple[bytes, bytes]]:
        return [(b"retry-after", str(self.limits.retry_after).encode())]

    def _beat(self, due: float) -> None:
        """A timer every ``LAG_PERIOD`` s: how late the loop ran it is how long any
        callback waits for the loop (the queue a request's work sits in)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.admission.observe_lag(max(now - due, 0.0))
        loop.call_at(now + LAG_PERIOD, self._beat, now + LAG_PERIOD)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._beating:
            self._beating = True
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time() + LAG_PERIOD, self._beat, loop.time() + LAG_PERIOD)
        if not self.admission.admit():
            self.counts.shed += 1
            if self.admission.in_flight < self.admission.max_requests:
                self.counts.shed_by_target += 1
            self.report.refused("requests")
            await send_json_error(
                send,
                503,
                BUSY_MESSAGE,
                BUSY,
                headers=self._retry_after(),
                media_type=answer_type(scope),
            )
            return
        self.admission.start()
        self.counts.admitted += 1
        exchange = _Exchange(
            self.app, scope, receive, send, self.limits, on_answered=self.admission.finish
        )
        try:
            await exchange.run(self._retry_after())
        finally:
            exchange.release()
            self._count(exchange)

    def _count(self, exchange: _Exchange) -> None:
        if exchange.stopped == "gone":
            self.counts.gone += 1
        elif exchange.stopped == "timeout":
            self.counts.timed_out += 1
        elif exchange.answered and exchange.status is not None:
            seconds = asyncio.get_running_loop().time() - exchange.arrived
            self.counts.answered(exchange.status, seconds)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_ip(HTTPConnection(scope), self.limits.trusted_proxies) or "unknown"
        if (
            self.websockets >= self.limits.max_websockets
            or self.websockets_by_client[client] >= self.limits.max_websockets_per_client
        ):
            self.report.refused("WebSocket connections")
            await self._refuse_websocket(scope, receive, send)
            return
        self.websockets += 1
        self.websockets_by_client[client] += 1
        self.memory.opened()
        try:
            await self.app(scope, receive, send)
        finally:
            self.memory.closed()
            self.websockets -= 1
            self.websockets_by_client[client] -= 1
            if self.websockets_by_client[client] <= 0:
                del self.websockets_by_client[client]

    async def _refuse_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """503 to the handshake where the server can answer it with HTTP (uvicorn can);
        otherwise closed before it is accepted."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            _REFUSED_WITH_HTTP.set(True)
            await send_json_error(
                send,
                503,
                BUSY_MESSAGE,
                BUSY,
                headers=self._retry_after(),
                start="websocket.http.response.start",
            )
        else:
            await send({"type": "websocket.close", "code": WS_TRY_AGAIN_LATER})


class _Exchange:
    """One HTTP request under the watch of the shedding middleware; ``watched=False``
    (requests never shed): only its body is timed."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        limits: SheddingLimits,
        *,
        watched: bool = True,
        on_answered: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self._on_answered = on_answered  # called once: answered, or the exchange over
        self.watched = watched
        self.scope = scope
        self._receive = receive
        self._send = send
        self.limits = limits
        loop = asyncio.get_running_loop()
        self.arrived = loop.time()
        self.body_deadline = self.arrived + limits.body_timeout
        self.status: int | None = None  # of the answer, once it has started
        self.stopped: str | None = None  # why the work was stopped: gone, timeout
        self.body_read = asyncio.Event()  # the application has the whole body
        self.gone = asyncio.Event()  # the client disconnected before the answer was sent
        self.answering = asyncio.Event()  # the answer has started
        self.answered = False  # the answer is complete

    async def receive(self) -> Message:
        if self.body_read.is_set() and not self.watched:
            return await self._receive()
        if self.body_read.is_set():
            # Asked again (a streaming response listens for the disconnect): the watcher
            # owns the server's receive now.
            await self.gone.wait()
            return {"type": "http.disconnect"}
        try:
            async with asyncio.timeout_at(self.body_deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            self.gone.set()
        elif not message.get("more_body", False):
            self.body_read.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.answering.set()
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.answered = True
        await self._send(message)
        if self.answered:
            self.release()

    def release(self) -> None:
        """Give the request's place back (once): its answer is sent, or it is over."""
        on_answered = self._on_answered
        if on_answered is not None:
            self._on_answered = None
            on_answered()

    async def _until_disconnect(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass

    async def _watch(self) -> str:
        """Why the work must stop: ``gone`` (the client disconnected) or ``timeout``;
        returns only then (or once the answer is complete)."""
        await self.body_read.wait()
        if not self.watched:
            await asyncio.Event().wait()  # until the work is done (and this cancelled)
        disconnect = asyncio.ensure_future(self._until_disconnect())
        answering = asyncio.ensure_future(self.answering.wait())
        try:
            done, _ = await asyncio.wait(
                {disconnect, answering},
                timeout=self.limits.request_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                return "timeout"
            await disconnect  # answering in time: from now on only a disconnect matters
            self.gone.set()
            return "gone"
        finally:
            await _cancel(disconnect, answering)

    async def _work(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    async def run(self, retry_after: list[tuple[bytes, bytes]]) -> None:
        work = asyncio.create_task(self._work())
        watch = asyncio.create_task(self._watch())
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and not self.answered:
                await self._stop(work, watch.result(), retry_after)
                return
            await work
        except ClientDisconnect:
            self._went_away("before its request was read")
        except BodyTimeout:
            log.info("%s %s: body not received in %.0f s", *self._line(), self.limits.body_timeout)
            if not self.answering.is_set():
                close = [(b"connection", b"close")]  # the rest of the body is not read
                await send_json_error(
                    self._send,
                    408,
                    BODY_TIMEOUT_MESSAGE,
                    TIMEOUT,
                    headers=close,
                    media_type=answer_type(self.scope),
                )
        finally:
            await _cancel(work, watch)

    async def _stop(
        self, work: asyncio.Task[None], why: str, retry_after: list[tuple[bytes, bytes]]
    ) -> None:
        await _cancel(work)
        self.stopped = why
        if why == "gone":
            self._went_away("while its request ran; the request was stopped")
            return
        log.warning(
            "%s %s: no answer after %.0f s; the request was stopped",
            *self._line(),
            self.limits.request_timeout,
        )
        if not self.answering.is_set():
            await send_json_error(
                self._send,
                503,
                TIMEOUT_MESSAGE,
                TIMEOUT,
                headers=retry_after,
                media_type=answer_type(self.scope),
            )

    def _line(self) -> tuple[str, str]:
        return self.scope.get("method", ""), self.scope.get("path", "")

    def _went_away(self, when: str) -> None:
        log.info("%s %s: the client went away %s", *self._line(), when)


async def _cancel(*tasks: asyncio.Future[Any]) -> None:
    """Cancel and wait for ``tasks``; what they raise on the way out was already dealt
    with (or does not matter any more), and is retrieved so asyncio does not report it.
    Our own cancellation still propagates."""
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()
