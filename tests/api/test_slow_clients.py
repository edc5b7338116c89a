"""Slow clients against a real ``anxin serve`` (issue 21, item 5), over raw sockets: a
connection that sends nothing, or trickles its headers, is closed after the header
timeout (uvicorn alone held both forever, and a trickle after a kept-alive answer too);
a body that does not arrive is answered 408 after the body timeout (and the header
timeout, shorter, does not cut it); an idle kept-alive connection is closed after the
keep-alive timeout; a graceful stop waits for open requests at most the shutdown timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.gateway_process import _start, gateway_env, shared_gateway
from tests.push.test_two_processes import free_port, wait_ready

HEADER_SECONDS = 1.0
BODY_SECONDS = 2.0
KEEP_ALIVE_SECONDS = 1  # uvicorn's default is 5
SLACK = 2.0  # scheduling on a busy 2-core machine (uvicorn alone: never, or 5 s)
TIMEOUTS = {
    "request_header_timeout_seconds": str(HEADER_SECONDS),
    "request_body_timeout_seconds": str(BODY_SECONDS),
    "keep_alive_timeout_seconds": str(KEEP_ALIVE_SECONDS),
}
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PARTIAL_POST = (
    b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b'Content-Length: 200\r\n\r\n{"query": "{ __typename'
)


class Connection:
    """A raw TCP connection that notes when the server closed it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.opened = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def until_closed(self, seconds: float) -> tuple[float, bytes]:
        """Everything the server sent until it closed the connection, and when it closed
        it (seconds since ``opened``); fails if it is still open after ``seconds``."""
        received = b""
        async with asyncio.timeout(seconds):
            with contextlib.suppress(ConnectionResetError):
                while chunk := await self.reader.read(65536):
                    received += chunk
        return time.monotonic() - self.opened, received

    async def answer(self) -> bytes:
        """One answer to a request without a body (``/healthz``: a small JSON body)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return head + await asyncio.wait_for(self.reader.readexactly(length), 5)

    async def trickle(self, data: bytes, every: float) -> None:
        """``data`` a byte at a time, until it is sent or the connection is closed."""
        with contextlib.suppress(ConnectionError):
            for byte in data:
                self.writer.write(bytes([byte]))
                await self.writer.drain()
                await asyncio.sleep(every)

    def close(self) -> None:
        self.writer.close()


@pytest.fixture(scope="module")
def gateway(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One gateway with the short timeouts for the tests below: each opens its own
    connections, and a closed one leaves nothing behind."""
    logs = tmp_path_factory.mktemp("slow-clients")
    with shared_gateway(migrated_template, logs, relay=False, **TIMEOUTS) as url:
        yield url


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


async def test_connections_that_do_not_send_their_headers_are_closed(gateway: str) -> None:
    port = _port(gateway)
    silent = await Connection.open(port)
    trickling = await Connection.open(port)
    slow_but_in_time = await Connection.open(port)
    trickle = asyncio.create_task(trickling.trickle(HEALTHZ * 10, every=0.2))
    try:
        slow_but_in_time.writer.write(HEALTHZ[:10])
        await asyncio.sleep(HEADER_SECONDS / 2)
        slow_but_in_time.writer.write(HEALTHZ[10:])
        assert b" 200 OK" in await slow_but_in_time.answer()  # headers in time: served

        for connection in (silent, trickling):
            closed, sent = await connection.until_closed(HEADER_SECONDS + SLACK + 5)
            assert HEADER_SECONDS - 0.1 <= closed <= HEADER_SECONDS + SLACK, closed
            assert sent == b""  # closed without an answer: nobody is waiting for one
    finally:
        trickle.cancel()
        for connection in (silent, trickling, slow_but_in_time):
            connection.close()


async def test_keep_alive_then_a_trickled_request_and_a_body_that_does_not_come(
    gateway: str,
) -> None:
    port = _port(gateway)

    idle = await Connection.open(port)
    idle.writer.write(HEALTHZ)
    assert b" 200 OK" in await idle.answer()
    answered = time.monotonic()
    await idle.until_closed(KEEP_ALIVE_SECONDS + SLACK + 5)
    assert time.monotonic() - answered <= KEEP_ALIVE_SECONDS + SLACK  # not uvicorn's 5 s

    # The next request's first byte stops the keep-alive timer; its headers are timed
    # from that byte (uvicorn alone then held the connection forever).
    kept = await Connection.open(port)
    kept.writer.write(HEALTHZ)
    assert b" 200 OK" in await kept.answer()
    trickle = asyncio.create_task(kept.trickle(HEALTHZ * 10, every=0.2))
    started = time.monotonic()
    try:
        await kept.until_closed(HEADER_SECONDS + SLACK + 5)
        assert time.monotonic() - started <= HEADER_SECONDS + SLACK
    finally:
        trickle.cancel()
        kept.close()

    # Headers in time, body never complete: 408 after the body timeout, which the
    # (shorter) header timeout does not cut short.
    slow_body = await Connection.open(port)
    slow_body.writer.write(PARTIAL_POST)
    closed, sent = await slow_body.until_closed(BODY_SECONDS + SLACK + 5)
    assert sent.startswith(b"HTTP/1.1 408 "), sent
    assert b"REQUEST_TIMEOUT" in sent
    assert BODY_SECONDS - 0.1 <= closed <= BODY_SECONDS + SLACK, closed

    # The same for a route that is never refused (a payment callback).
    callback = await Connection.open(port)
    callback.writer.write(PARTIAL_POST.replace(b"/graphql", b"/payments/sandbox/notify"))
    closed, sent = await callback.until_closed(BODY_SECONDS + SLACK + 5)
    assert sent.startswith(b"HTTP/1.1 408 "), sent


async def test_a_graceful_stop_waits_for_open_requests_at_most_the_shutdown_timeout(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = gateway_env(
        database_url,
        tmp_path / "files",
        shutdown_timeout_seconds="1",
        request_body_timeout_seconds="60",  # the open request would keep it up a minute
    )
    api = _start(["serve", "--port", str(port)], env, tmp_path / "api.log")
    try:
        await wait_ready(port, api, tmp_path, "api")
        waiting = await Connection.open(port)
        waiting.writer.write(PARTIAL_POST)
        await asyncio.sleep(0.5)
        api.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(api.wait, 10)
        assert api.poll() is not None, "still serving the open request"
        assert time.monotonic() - stopped <= 1 + SLACK + 2  # the timeout, then shutdown
        waiting.close()
    finally:
        if api.poll() is None:
            api.kill()
        api.wait()
