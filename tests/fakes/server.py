"""Run an ASGI app under uvicorn on a free 127.0.0.1 port inside the test's event loop.

A real socket (not ``httpx.ASGITransport``) is the point: our provider clients are
tested with their own connection handling, timeouts and encoding, exactly as deployed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 10.0


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
    """
    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http=_NoAccessLogH11,
        lifespan="off",
        log_config=None,  # leave logging (and pytest's caplog) alone
        access_log=False,  # an access log would print query strings, secrets included
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not server.started:
                if task.done():
                    task.result()  # surface a startup failure
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


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
