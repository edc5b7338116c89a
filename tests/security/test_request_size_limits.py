"""Request bodies bounded per route *before* they are read: a declared Content-Length
over the limit is answered 413 without reading a byte; a chunked body (no length) is
counted while it streams and cut off just past the limit, which the tests check by
counting how much of a generator body the server consumed. JSON to /graphql, multipart
in total and per part, provider callbacks, any other route (the default) and WebSocket
messages each have their limit; uploaded temp files are closed when the request ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.settings import Settings

KB = 1024
CHUNK = 16 * KB
BOUNDARY = "size-limit-boundary"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Small limits keep the test bodies small; the defaults are checked separately.
    return {
        "graphql_max_body_bytes": 64 * KB,
        "upload_max_bytes": 100 * KB,  # multipart: parts up to 200 KiB, 10 files
        "callback_max_body_bytes": 8 * KB,
        "default_max_body_bytes": 4 * KB,
        "websocket_max_message_bytes": 16 * KB,
    }


class Body:
    """A streamed request body that records how many bytes the server pulled."""

    def __init__(self, size: int, prefix: bytes = b"", suffix: bytes = b"") -> None:
        self.size, self.prefix, self.suffix = size, prefix, suffix
        self.consumed = 0

    @property
    def length(self) -> int:
        return len(self.prefix) + self.size + len(self.suffix)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            self.consumed += len(piece)
            yield piece

    def _pieces(self) -> Any:
        if self.prefix:
            yield self.prefix
        left = self.size
        while left > 0:
            n = min(CHUNK, left)
            left -= n
            yield b"a" * n
        if self.suffix:
            yield self.suffix


def json_body(size: int) -> Body:
    return Body(size, b'{"query": "{ __typename } #', b'"}')


def multipart_body(file_size: int) -> Body:
    operations = json.dumps({"query": "{ __typename }", "variables": {}})
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{operations}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{{}}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return Body(file_size, head, f"\r\n--{BOUNDARY}--\r\n".encode())


MULTIPART = {
    "content-type": f"multipart/form-data; boundary={BOUNDARY}",
    "apollo-require-preflight": "true",
}
JSON = {"content-type": "application/json"}


async def post(
    client: httpx.AsyncClient, path: str, body: Body, headers: dict[str, str], *, sized: bool
) -> httpx.Response:
    """``sized``: declare Content-Length; else the body goes chunked, length unknown."""
    headers = dict(headers)
    if sized:
        headers["content-length"] = str(body.length)
    return await client.post(path, content=body, headers=headers)


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert len(response.content) < 500


# --- /graphql, JSON -------------------------------------------------------------------


async def test_a_declared_oversized_json_body_is_refused_unread(client: httpx.AsyncClient) -> None:
    body = json_body(200 * 1024 * KB)  # "200 MB"
    assert_too_large(await post(client, "/graphql", body, JSON, sized=True))
    assert body.consumed == 0


async def test_a_chunked_json_body_is_cut_off_past_the_limit(client: httpx.AsyncClient) -> None:
    body = json_body(200 * 1024 * KB)
    assert_too_large(await post(client, "/graphql", body, JSON, sized=False))
    assert body.consumed <= 64 * KB + 2 * CHUNK


async def test_json_bodies_within_the_limit_pass(client: httpx.AsyncClient) -> None:
    for sized in (True, False):
        body = json_body(60 * KB)
        response = await post(client, "/graphql", body, JSON, sized=sized)
        assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_lying_content_length_does_not_help(client: httpx.AsyncClient) -> None:
    """A small declared length with a longer body: the count still stops it (servers
    normally refuse the mismatch themselves; this is the backstop)."""
    body = json_body(1024 * KB)
    response = await client.post(
        "/graphql", content=body, headers={**JSON, "content-length": "100"}
    )
    assert response.status_code in (400, 413)
    assert body.consumed <= 64 * KB + 2 * CHUNK


# --- /graphql, multipart ---------------------------------------------------------------


async def test_a_multipart_part_over_its_limit_is_cut_off(client: httpx.AsyncClient) -> None:
    body = multipart_body(1024 * KB)  # one 1 MiB part; parts may have 200 KiB
    assert_too_large(await post(client, "/graphql", body, MULTIPART, sized=False))
    assert body.consumed <= 200 * KB + 3 * CHUNK


async def test_a_declared_oversized_multipart_body_is_refused_unread(
    client: httpx.AsyncClient,
) -> None:
    body = multipart_body(1024 * 1024 * KB)  # "1 GiB"
    assert_too_large(await post(client, "/graphql", body, MULTIPART, sized=True))
    assert body.consumed == 0


async def test_multipart_within_the_limits_passes(client: httpx.AsyncClient) -> None:
    body = multipart_body(150 * KB)  # over the JSON limit, within a part's
    response = await post(client, "/graphql", body, MULTIPART, sized=False)
    assert response.json() == {"data": {"__typename": "Query"}}


# --- callbacks and other routes --------------------------------------------------------


@pytest.mark.parametrize("sized", [True, False])
async def test_provider_callbacks_are_limited(client: httpx.AsyncClient, sized: bool) -> None:
    body = Body(200 * 1024 * KB)
    response = await post(client, "/payments/sandbox/notify", body, JSON, sized=sized)
    assert_too_large(response)
    assert body.consumed <= (0 if sized else 8 * KB + 2 * CHUNK)


@pytest.mark.parametrize("path", ["/healthz", "/a-route-added-later", "/files/x"])
async def test_other_routes_get_the_default_limit(client: httpx.AsyncClient, path: str) -> None:
    body = Body(64 * KB)
    assert_too_large(await post(client, path, body, JSON, sized=True))
    assert body.consumed == 0


# --- WebSocket -------------------------------------------------------------------------


async def test_an_oversized_websocket_message_closes_the_connection(app: Starlette) -> None:
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json())["type"] == "connection_ack"
        small = "{ __typename }"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": small}})
        assert (await ws.receive_json())["type"] == "next"
        assert (await ws.receive_json())["type"] == "complete"
        big = "{ __typename } #" + "a" * (20 * KB)
        await ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": big}})
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json()
        assert closed.value.code == 1009


# --- defaults --------------------------------------------------------------------------


def test_default_limits() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.graphql_max_body_bytes == 1024 * KB
    assert settings.callback_max_body_bytes == 64 * KB
    assert settings.default_max_body_bytes == 64 * KB
    assert settings.websocket_max_message_bytes == 256 * KB
