"""permessage-deflate is the server's choice (RFC 7692): off unless configured, so a
client that offers it (browsers and the ``websockets`` client always do) gets plain
frames; with ``ANXIN_WEBSOCKET_COMPRESSION`` it is negotiated. Through a real
``anxin serve``: the negotiation is uvicorn's."""

from __future__ import annotations

import json
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.api.gateway_process import running_gateway


async def _negotiated_extensions(url: str) -> str | None:
    async with connect(
        url.replace("http://", "ws://"),
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression="deflate",  # offered
        proxy=None,
        open_timeout=5,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert ws.response is not None
        return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_offered_compression_is_declined_unless_configured(
    database_url: str, tmp_path: Path
) -> None:
    for logs in ("plain", "deflate"):
        (tmp_path / logs).mkdir()
    async with running_gateway(database_url, tmp_path / "plain", relay=False) as url:
        assert await _negotiated_extensions(url) is None
    async with running_gateway(
        database_url, tmp_path / "deflate", relay=False, websocket_compression="true"
    ) as url:
        extensions = await _negotiated_extensions(url)
        assert extensions is not None and "permessage-deflate" in extensions
