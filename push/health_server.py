"""The worker's own health endpoint: ``GET /healthz`` (alive) and ``GET /readyz``
(every loop of the process succeeding), for an orchestrator's probes.

A worker serves no other HTTP, so this is a few lines of asyncio rather than a web
framework; it answers on ``ANXIN_WORKER_HEALTH_PORT`` (off when unset), on loopback
unless ``ANXIN_WORKER_HEALTH_HOST`` says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from push.loops import LoopHealth

MAX_REQUEST_LINE = 1024
REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


def health_answer(health: LoopHealth, path: str) -> tuple[int, dict[str, object]]:
    if path == "/healthz":
        return 200, {"status": "ok"}
    if path == "/readyz":
        stuck = health.problems()
        body: dict[str, object] = {
            "status": "unavailable" if stuck else "ok",
            "loops": sorted(health.loops),
        }
        if stuck:
            body["stuck"] = sorted(stuck)
        return (503 if stuck else 200), body
    return 404, {"status": "not found"}


async def _answer(
    health: LoopHealth, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        async with asyncio.timeout(5):
            request_line = await reader.readline()
            parts = request_line[:MAX_REQUEST_LINE].decode("latin-1").split()
            status, body = health_answer(health, parts[1] if len(parts) >= 2 else "")
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (TimeoutError, OSError, ValueError):  # ValueError: a line over the read limit
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_health(
    health: LoopHealth, port: int | None, host: str = "127.0.0.1"
) -> AsyncIterator[asyncio.Server | None]:
    """Serve the probes while the block runs (nothing when ``port`` is None)."""
    if port is None:
        yield None
        return
    server = await asyncio.start_server(lambda r, w: _answer(health, r, w), host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()
