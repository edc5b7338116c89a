"""The app driven at the ASGI level, as a server would drive it, so that a test decides
when a body arrives, when a client hangs up and what the server supports (a test client
library decides those for itself)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message

UNREAD = json.dumps({"query": "{ unreadNotificationCount }"}).encode()


@dataclass
class HttpCall:
    """One HTTP exchange with the app: the test feeds ``receive``, reads ``sent``."""

    app: Starlette
    path: str = "/graphql"
    token: str | None = None
    method: str | None = None  # POST to /graphql, GET elsewhere
    incoming: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    sent: list[Message] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(
        self, body: bytes = UNREAD, *, complete: bool = True, length: int | None = None
    ) -> HttpCall:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(length if length is not None else len(body)).encode()),
        ]
        if self.token:
            headers.append((b"authorization", f"Bearer {self.token}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.method or ("POST" if self.path == "/graphql" else "GET"),
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        self.incoming.put_nowait({"type": "http.request", "body": body, "more_body": not complete})

        async def send(message: Message) -> None:
            self.sent.append(message)

        self.task = asyncio.create_task(self.app(scope, self.incoming.get, send))
        return self

    def hang_up(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})

    async def done(self, seconds: float = 5) -> None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), seconds)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return int(starts[0]["status"]) if starts else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        return dict(start["headers"])

    @property
    def json(self) -> Any:
        return json.loads(
            b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        )


@dataclass
class WebSocketCall:
    """One graphql-transport-ws connection: opened, optionally initialised, closed by the
    client. ``denial``: the server can answer the handshake with HTTP (uvicorn can)."""

    app: Starlette
    client: str = "127.0.0.1"
    denial: bool = True
    incoming: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    sent: list[Message] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def open(self) -> WebSocketCall:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"sec-websocket-protocol", b"graphql-transport-ws")],
            "client": (self.client, 50000),
            "server": ("testserver", 80),
            "subprotocols": ["graphql-transport-ws"],
            "extensions": {"websocket.http.response": {}} if self.denial else {},
            "state": {},
        }
        self.incoming.put_nowait({"type": "websocket.connect"})

        async def send(message: Message) -> None:
            self.sent.append(message)
            self._changed.set()

        self.task = asyncio.create_task(self.app(scope, self.incoming.get, send))
        return self

    async def until(self, seconds: float, what: str) -> Message:
        """The first message sent whose type is ``what`` (waiting for it)."""
        async with asyncio.timeout(seconds):
            while True:
                for message in self.sent:
                    if message["type"] == what:
                        return message
                self._changed.clear()
                await self._changed.wait()

    async def texts(self, count: int, seconds: float = 5) -> list[str]:
        """The texts sent, once there are at least ``count`` (waiting for them)."""
        async with asyncio.timeout(seconds):
            while True:
                texts = [m["text"] for m in self.sent if m["type"] == "websocket.send"]
                if len(texts) >= count:
                    return texts
                self._changed.clear()
                await self._changed.wait()

    async def initialise(self, token: str | None = None, seconds: float = 5) -> dict[str, Any]:
        await self.until(seconds, "websocket.accept")
        payload = {"authorization": f"Bearer {token}"} if token else {}
        init = {"type": "connection_init", "payload": payload}
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(init)})
        answer: dict[str, Any] = json.loads((await self.until(seconds, "websocket.send"))["text"])
        return answer

    async def hang_up(self, seconds: float = 5) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await self.done(seconds)

    async def done(self, seconds: float = 5) -> None:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), seconds)
