"""Pure ASGI middleware: security headers on every HTTP response, and the CSRF guard of
GraphQL multipart uploads."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class MultipartPreflightMiddleware:
    """A browser may send a multipart form to another site without a CORS preflight, so
    a logged-in user's cookies or a crafted page could upload on their behalf. As Apollo
    does, multipart requests must carry a header a plain form cannot set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").lower()
            if content_type.startswith(b"multipart/") and not any(
                headers.get(name) for name in PREFLIGHT_HEADERS
            ):
                await _refuse(send)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    body = json.dumps(
        {
            "errors": [
                {
                    "message": "上传请求缺少 apollo-require-preflight 请求头",
                    "extensions": {"code": "CSRF_PREFLIGHT_REQUIRED"},
                }
            ]
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
