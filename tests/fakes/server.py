"""Run an ASGI app under uvicorn on a free 127.0.0.1 port inside the test's event loop.

A real socket (not ``httpx.ASGITransport``) is the point: our provider clients are
tested with their own connection handling, timeouts and encoding, exactly as deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 5.0
SHUTDOWN_POLL_SECONDS = 0.005


class _NoAccessLogH11(H11Protocol):
    """HTTP/1.1 without an access log, whatever handlers are around.

    ``access_log=False`` is not enough under pytest: pytest attaches its capture handler
    to non-propagating loggers such as ``uvicorn.access``, and uvicorn then logs again.
    The fake's access log would print query strings (WeChat's secret travels there),
    and caplog tests are about *our* logs, not the fake's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = False


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    return sock


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``).

    The socket is bound here and handed to uvicorn, so the port is known and ours before
    the server starts (no pick-a-port-then-bind race).

    uvicorn's own ``serve`` polls for its exit every 0.1 s and then sleeps another 0.1 s
    before it waits for the connections: 0.1–0.2 s per fake per test, for ~300 tests.
    Here its steps run directly (startup, the header tick every second, the same
    shutdown), waiting only as long as a connection or request is still open.
    """
    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http=_NoAccessLogH11,
        lifespan="off",
        log_config=None,  # leave logging (and pytest's caplog) alone
        access_log=False,  # an access log would print query strings, secrets included
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_SECONDS,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            await server.startup(sockets=[sock])
        ticking = asyncio.create_task(_tick(server))
        try:
            yield f"http://{HOST}:{port}"
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
            await _shut_down(server)
    finally:
        sock.close()


async def _tick(server: uvicorn.Server) -> None:
    """The Date header, once a second, as uvicorn's main loop keeps it."""
    while True:
        await server.on_tick(0)
        await asyncio.sleep(1)


async def _shut_down(server: uvicorn.Server) -> None:
    """uvicorn's shutdown: stop accepting, close idle connections (a busy one closes
    after its answer), wait for the open ones and their requests (cancelled after the
    grace period), without its fixed pauses."""
    for listener in server.servers:
        listener.close()
    state = server.server_state
    for connection in list(state.connections):
        connection.shutdown()
    try:
        async with asyncio.timeout(SHUTDOWN_TIMEOUT_SECONDS):
            # uvicorn keeps no event for these: it polls too (every 0.1 s)
            while state.connections or state.tasks:  # noqa: ASYNC110
                await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
    except TimeoutError:
        for task in state.tasks:
            task.cancel("the fake server stopped")
    for listener in server.servers:
        await listener.wait_closed()


@contextmanager
def refused_url() -> Iterator[str]:
    """A 127.0.0.1 URL where connections are refused: a provider that is down.

    The port stays bound (but never listens) for the whole block, so no other server in
    the run can take it meanwhile.
    """
    sock = _bound_socket()
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        sock.close()


@cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def http_client(**options: Any) -> httpx.AsyncClient:
    """``httpx.AsyncClient(**options)`` with httpx's verifying TLS context made once per
    process, as the app's is: loading the CA bundle costs ~28 ms of CPU per client, and
    ~300 tests make one to call a fake (over plain HTTP at that)."""
    options.setdefault("verify", _tls_context())
    return httpx.AsyncClient(**options)
