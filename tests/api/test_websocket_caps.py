"""WebSocket connections are capped per process and per client address, through a real
``anxin serve`` and the ``websockets`` client (issue 21, item 6: 15,000 un-initialised
connections opened in 18 s stalled the process for a second at a time). One more than a
cap is refused at once with 503 and ``Retry-After`` (an HTTP answer to its handshake);
a closed connection gives its place back; a connection that does not send
``connection_init`` within the (shortened) init timeout is closed with 4408.

Clients are told apart by their source address (127.0.0.2, 127.0.0.3, … are this host
too); ``X-Forwarded-For`` from a peer that is not a trusted proxy changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.api.asgi_calls import WebSocketCall
from tests.api.gateway_process import shared_gateway

PER_CLIENT = 2
PER_PROCESS = 3
INIT_SECONDS = 1.0
LIMITS: dict[str, Any] = {
    "websocket_max_connections": PER_PROCESS,
    "websocket_max_connections_per_client": PER_CLIENT,
    "websocket_init_timeout_seconds": INIT_SECONDS,
}
CAPS = {name: str(value) for name, value in LIMITS.items()}  # the gateway's environment


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """For the tests on the app itself (the gateway's tests set them in its environment)."""
    return LIMITS


@pytest.fixture(scope="module")
def gateway(
    migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """One gateway with the caps for the two tests on it (its URL and its log folder):
    each test uses client addresses of its own and closes every connection it opened,
    so neither needs the other to have run, or not."""
    logs = tmp_path_factory.mktemp("websocket-caps")
    with shared_gateway(migrated_template, logs, relay=False, **CAPS) as url:
        yield url, logs


async def _open(url: str, client: str, headers: dict[str, str] | None = None) -> ClientConnection:
    return await connect(
        url.replace("http://", "ws://"),
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers,
        local_addr=(client, 0),
        proxy=None,
        open_timeout=5,
    )


async def _initialised(
    url: str, client: str, headers: dict[str, str] | None = None
) -> ClientConnection:
    ws = await _open(url, client, headers)
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
    return ws


async def _refused(url: str, client: str, headers: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidStatus) as refusal:
        await _open(url, client, headers)
    assert time.monotonic() - started < 2  # at once (a busy machine), not accepted to wait
    response = refusal.value.response
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert json.loads(response.body or b"")["errors"][0]["extensions"]["code"] == "SERVICE_BUSY"


async def _accepted_soon(url: str, client: str, *, init: bool = True) -> ClientConnection:
    """The place of a connection the client has just closed is given back once the
    server has seen the close: a moment later at most. (Also how a test on the shared
    gateway opens its first connections: the other test's last ones may be closing.)"""
    for _ in range(20):
        try:
            return await (_initialised(url, client) if init else _open(url, client))
        except InvalidStatus:
            await asyncio.sleep(0.1)
    pytest.fail(f"{client}: still refused after its connections were closed")


async def test_connections_over_the_caps_are_refused_at_once_and_places_given_back(
    gateway: tuple[str, Path],
) -> None:
    url, logs = gateway
    first = [await _accepted_soon(url, "127.0.0.2") for _ in range(PER_CLIENT)]
    await _refused(url, "127.0.0.2")  # per client
    other = await _accepted_soon(url, "127.0.0.3")  # another client still gets in
    await _refused(url, "127.0.0.4")  # per process: PER_PROCESS open

    await first[0].close()
    third = await _accepted_soon(url, "127.0.0.4")
    await _refused(url, "127.0.0.5")

    for ws in (first[1], other, third):
        await ws.close()
    # Every count is back to zero: each client's cap and the process's are free.
    again = [await _accepted_soon(url, "127.0.0.2") for _ in range(PER_CLIENT)]
    again.append(await _initialised(url, "127.0.0.3"))
    for ws in again:
        await ws.close()

    # Not a trusted proxy: its X-Forwarded-For does not make it other clients.
    spoofed = [
        await _initialised(url, "127.0.0.1", {"X-Forwarded-For": f"10.0.0.{i}"})
        for i in range(PER_CLIENT)
    ]
    await _refused(url, "127.0.0.1", {"X-Forwarded-For": "10.0.0.9"})
    for ws in spoofed:
        await ws.close()
    # A refusal is one INFO line from uvicorn, not an ERROR each (its websockets
    # implementation calls a handshake answered with HTTP incomplete).
    log = (logs / "api.log").read_text()
    assert "connection rejected (503" in log
    assert " ERROR " not in log, log


async def test_a_connection_without_connection_init_is_closed_after_the_init_timeout(
    gateway: tuple[str, Path],
) -> None:
    url, _ = gateway
    silent = [await _accepted_soon(url, "127.0.0.7", init=False) for _ in range(PER_CLIENT)]
    opened = time.monotonic()
    for ws in silent:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), INIT_SECONDS + 5)
        assert ws.close_code == 4408
    waited = time.monotonic() - opened
    assert INIT_SECONDS - 0.2 <= waited <= INIT_SECONDS + 2.5, waited  # not 60 s
    # Their places were given back: this client may open as many again.
    again = [await _accepted_soon(url, "127.0.0.7") for _ in range(PER_CLIENT)]
    for ws in again:
        await ws.close()


async def test_a_server_without_http_answers_to_handshakes_closes_them_with_1013(
    app: Starlette,
) -> None:
    """An ASGI server without the ``websocket.http.response`` extension cannot answer
    a handshake 503: the refusal is a close before acceptance, 1013 (try again later)."""
    held = [WebSocketCall(app, client="10.0.0.1").open() for _ in range(PER_CLIENT)]
    for call in held:
        assert (await call.initialise())["type"] == "connection_ack"
    refused = WebSocketCall(app, client="10.0.0.1", denial=False).open()
    await refused.done(1)
    assert refused.sent == [{"type": "websocket.close", "code": 1013}]
    for call in held:
        await call.hang_up()
    again = WebSocketCall(app, client="10.0.0.1", denial=False).open()
    assert (await again.initialise())["type"] == "connection_ack"
    await again.hang_up()
