"""Pure ASGI middleware: security headers on every HTTP response, and the CSRF guard of
GraphQL multipart uploads."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.media_types import CONTENT_TYPES, JSON, answer_type

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


PREFLIGHT_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")


def content_types(scope: Scope) -> list[bytes]:
    """Every Content-Type header of the request, lowercased."""
    return [value.lower() for name, value in scope["headers"] if name.lower() == b"content-type"]


class MultipartPreflightMiddleware:
    """A browser may send a multipart form to another site without a CORS preflight, so
    a logged-in user's cookies or a crafted page could upload on their behalf. As Apollo
    does, multipart requests must carry a header a plain form cannot set.

    The guard must judge the body the parser will read: a request with several
    Content-Type headers is refused (the guard and Starlette's parser could each pick a
    different one), and "multipart" anywhere in the one header, in any case or spacing,
    counts as multipart.

    On the ``bearer_only`` paths (the mini-program's plain upload, which authenticates by
    the Bearer token alone) an ``Authorization`` header does the same: a plain form cannot
    set it either, and ``wx.uploadFile`` need not send a header named after Apollo."""

    def __init__(self, app: ASGIApp, bearer_only: tuple[str, ...] = ()) -> None:
        self.app = app
        self.bearer_only = frozenset(bearer_only)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            types = content_types(scope)
            if len(types) > 1:
                await _refuse(
                    scope, send, "请求只能有一个 Content-Type 请求头", "AMBIGUOUS_CONTENT_TYPE"
                )
                return
            headers = dict(scope["headers"])
            guards: tuple[bytes, ...] = PREFLIGHT_HEADERS
            if scope["path"] in self.bearer_only:
                guards = (*PREFLIGHT_HEADERS, b"authorization")
            if (
                scope["method"] == "POST"
                and types
                and b"multipart" in types[0]
                and not any(headers.get(name) for name in guards)
            ):
                await _refuse(
                    scope,
                    send,
                    "上传请求缺少 apollo-require-preflight 请求头",
                    "CSRF_PREFLIGHT_REQUIRED",
                )
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, message: str, code: str, status: int = 400) -> None:
    await send_json_error(send, status, message, code, media_type=answer_type(scope))


def json_error_body(message: str, code: str, extra: dict[str, object] | None = None) -> bytes:
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **(extra or {})}}]},
        ensure_ascii=False,
    ).encode()


async def send_json_error(
    send: Send,
    status: int,
    message: str,
    code: str,
    extra: dict[str, object] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    start: str = "http.response.start",
    *,
    media_type: str = JSON,
) -> None:
    """A small JSON answer in the GraphQL error shape, for refusals made before any
    route runs (``media_type``: ``answer_type`` of the request; ``start``:
    ``websocket.http.response.start`` refuses a WebSocket handshake with it)."""
    body = json_error_body(message, code, extra)
    content_type = (
        "application/json; charset=utf-8" if media_type == JSON else CONTENT_TYPES[media_type]
    )
    await send(
        {
            "type": start,
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": start.removesuffix(".start") + ".body", "body": body})
