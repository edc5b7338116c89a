"""The strawberry ASGI view: builds each request's context (who is calling) and serves
our vendored GraphiQL page instead of strawberry's CDN one."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from api.clients import client_of
from api.context import Context
from api.services import Services
from workflows.access import ANONYMOUS
from workflows.auth import authenticate

GRAPHIQL_PAGE = (Path(__file__).parent / "static" / "graphiql" / "index.html").read_text()


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def close_at_expiry(websocket: WebSocket, expires_at: datetime) -> None:
    """Close a WebSocket when its access token expires (4401): the client reconnects
    with a fresh token, as graphql-transport-ws clients do after a close."""
    await asyncio.sleep(max((expires_at - datetime.now(UTC)).total_seconds(), 0))
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code=4401, reason="token expired")


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: Services | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry's HTTP handling, plus closing the request at the end: strawberry
        never closes the Request it makes, so the files of a multipart upload (spooled
        to disk past 1 MiB) stayed open until a garbage collection found them."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            try:
                response = await self.run(request)
            except HTTPException as e:
                response = PlainTextResponse(e.reason, status_code=e.status_code)
            await response(scope, receive, send)
        finally:
            await request.close()

    @property
    def _services(self) -> Services:
        assert self.services is not None, "services are built in the app's lifespan"
        return self.services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = Context(
            services=self._services,
            request=request,
            response=response,
            client=client_of(request, self._services.settings.trusted_proxy_networks),
        )
        if isinstance(request, Request):
            token = bearer_token(request.headers.get("authorization"))
            if token:
                context.actor = await authenticate(self._services, token)
        return context

    async def on_ws_connect(self, context: Context) -> None:
        """WebSocket clients send their token in ``connection_init``:
        ``{"authorization": "Bearer <token>"}``. A bad token refuses the connection
        (close 4403); no token makes an anonymous connection."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        if raw is None:
            context.actor = ANONYMOUS
            return
        token = bearer_token(str(raw))
        actor = await authenticate(self._services, token) if token else ANONYMOUS
        if actor.kind is None:
            raise ConnectionRejectionError({"message": "登录已失效，请重新登录"})
        context.actor = actor
        if actor.expires_at is not None and isinstance(context.request, WebSocket):
            context.expiry_timer = asyncio.create_task(
                close_at_expiry(context.request, actor.expires_at)
            )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)
