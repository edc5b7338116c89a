"""Request size limits per route, enforced before a body is read.

One pure ASGI middleware and one table: each route (an exact path, or a prefix ending
in ``/``) has a limit for an ordinary body and, where uploads are allowed, a total and
a per-part limit for multipart bodies; a route missing from the table gets the default,
so a new route is bounded from its first day. A declared ``Content-Length`` over the
limit is answered 413 without reading a byte; otherwise (chunked, or a length that lies)
the bytes are counted as the application pulls them and the request is cut off just
past the limit. Multipart parts are measured while they stream, by a second, cheap
python-multipart parser that only counts, so a 1 GiB part is stopped at its limit
instead of being spooled to disk first. WebSocket messages over their limit close the
connection with 1009 (message too big).

Starlette's own ``max_body_size`` has one limit per route and a plain-text answer; the
GraphQL route needs a limit per content type and clients expect a JSON error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.media_types import answer_type
from api.middleware import send_json_error
from api.settings import Settings
from api.uploads import UPLOAD_PATH

TOO_LARGE = "PAYLOAD_TOO_LARGE"
TOO_LARGE_MESSAGE = "请求内容过大，请缩小后重试"
WS_MESSAGE_TOO_BIG = 1009


@dataclass(frozen=True)
class RouteLimit:
    """``body``: any body that is not multipart. ``multipart``/``part``: the total of a
    multipart body and each of its parts; ``None`` holds multipart to ``body``."""

    body: int
    multipart: int | None = None
    part: int | None = None


@dataclass(frozen=True)
class LimitTable:
    routes: Sequence[tuple[str, RouteLimit]]
    default: RouteLimit
    websocket_message: int

    def for_path(self, path: str) -> RouteLimit:
        for pattern, limit in self.routes:
            if path == pattern or (pattern.endswith("/") and path.startswith(pattern)):
                return limit
        return self.default


def limit_table(settings: Settings) -> LimitTable:
    """The limits of this gateway's routes, from the settings (README: request sizes)."""
    part = max(2 * settings.upload_max_bytes, settings.graphql_max_body_bytes)
    uploads = settings.upload_max_files * settings.upload_max_bytes
    return LimitTable(
        routes=[
            (
                "/graphql",
                RouteLimit(
                    body=settings.graphql_max_body_bytes,
                    multipart=uploads + settings.graphql_max_body_bytes,
                    part=part,
                ),
            ),
            ("/payments/", RouteLimit(body=settings.callback_max_body_bytes)),
            ("/partners/", RouteLimit(body=settings.callback_max_body_bytes)),
            (
                # One file and a few short fields (wx.uploadFile); a file up to twice the
                # limit reaches the workflow and gets its typed FILE_TOO_LARGE.
                UPLOAD_PATH,
                RouteLimit(
                    body=settings.default_max_body_bytes,
                    multipart=2 * settings.upload_max_bytes + settings.default_max_body_bytes,
                    part=2 * settings.upload_max_bytes,
                ),
            ),
        ],
        default=RouteLimit(body=settings.default_max_body_bytes),
        websocket_message=settings.websocket_max_message_bytes,
    )


class BodyTooLarge(Exception):
    """Raised from ``receive`` inside the application; turned into 413 here."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class _PartMeter:
    """Counts the bytes of each multipart part as the body streams past."""

    def __init__(self, boundary: bytes, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parser: MultipartParser | None = MultipartParser(
            boundary, {"on_part_begin": self._begin, "on_part_data": self._data}
        )

    def _begin(self) -> None:
        self.size = 0

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.size += end - start
        if self.size > self.limit:
            raise BodyTooLarge(self.limit)

    def feed(self, chunk: bytes) -> None:
        if self.parser is None:
            return
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            self.parser = None  # malformed: Starlette's own parser answers 400


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, table: LimitTable) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.table.for_path(scope["path"])
        content_type = (_header(scope, b"content-type") or b"").lower()
        limit, meter = route.body, None
        if b"multipart" in content_type and route.multipart is not None:
            limit = route.multipart
            _, options = parse_options_header(content_type)
            boundary = options.get(b"boundary")
            if route.part is not None and boundary:
                meter = _PartMeter(boundary, route.part)

        declared = _header(scope, b"content-length")
        if declared is not None and not declared.strip().isdigit():
            await send_json_error(
                send, 400, "Content-Length 无效", "BAD_REQUEST", media_type=answer_type(scope)
            )
            return
        if declared is not None and int(declared) > limit:
            await self._too_large(scope, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge(limit)
                if meter is not None and chunk:
                    meter.feed(chunk)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._too_large(scope, send, exc.limit)

    @staticmethod
    async def _too_large(scope: Scope, send: Send, limit: int) -> None:
        extra: dict[str, object] = {"maxBytes": limit}
        media_type = answer_type(scope)
        await send_json_error(send, 413, TOO_LARGE_MESSAGE, TOO_LARGE, extra, media_type=media_type)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.table.websocket_message
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and _ws_size(message, limit) > limit:
                closed = True
                await send(
                    {"type": "websocket.close", "code": WS_MESSAGE_TOO_BIG, "reason": "too big"}
                )
                return {"type": "websocket.disconnect", "code": WS_MESSAGE_TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:  # the application may still try to answer or close
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _ws_size(message: Message, limit: int) -> int:
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text") or ""
    # More characters than the limit is more bytes too: no need to encode a huge text.
    return len(text) if len(text) > limit else len(text.encode())
