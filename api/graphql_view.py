"""The strawberry ASGI view: builds each request's context (who is calling) and serves
our vendored GraphiQL page instead of strawberry's CDN one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
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
from push.bus import EventBus
from push.sessions import wait_for_revocation
from workflows.access import ANONYMOUS
from workflows.auth import authenticate

log = logging.getLogger("anxin.graphql")
GRAPHIQL_PAGE = (Path(__file__).parent / "static" / "graphiql" / "index.html").read_text()


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def close_when_session_ends(
    websocket: WebSocket, bus: EventBus, session_id: uuid.UUID, expires_at: datetime | None
) -> None:
    """Close a WebSocket (4401, as at expiry) when its token expires or, at once, when its
    session is revoked on any API process (logout, refresh-token reuse, account disabled).
    Should the bus fail, the token's expiry still closes it."""
    delay = None if expires_at is None else (expires_at - datetime.now(UTC)).total_seconds()
    reason = "token expired"
    try:
        async with asyncio.timeout(None if delay is None else max(delay, 0)):
            try:
                await wait_for_revocation(bus, session_id)
                reason = "session revoked"
            except Exception:
                log.exception("watching session %s for revocation failed", session_id)
                await asyncio.sleep(math.inf if delay is None else delay)
    except TimeoutError:
        pass
    with contextlib.suppress(RuntimeError, OSError):
        await websocket.close(code=4401, reason=reason)


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: Services | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry's handling, plus what it leaves open: it never closes the HTTP
        Request it makes (the files of a multipart upload, spooled to disk past 1 MiB,
        stayed open until a garbage collection found them), and a WebSocket's session
        watch must end with its connection (no task or bus subscription outlives it)."""
        if scope["type"] == "http":
            request = Request(scope=scope, receive=receive)
            try:
                try:
                    response = await self.run(request)
                except HTTPException as e:
                    response = PlainTextResponse(e.reason, status_code=e.status_code)
                await response(scope, receive, send)
            finally:
                await request.close()
        elif scope["type"] == "websocket":
            websocket = WebSocket(scope, receive=receive, send=send)
            context = await self.get_context(websocket, websocket)
            try:
                await self.run(websocket, context=context)
            finally:
                if context.session_watch is not None:
                    context.session_watch.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await context.session_watch
        else:
            await super().__call__(scope, receive, send)

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
        if actor.session_id is not None and isinstance(context.request, WebSocket):
            context.session_watch = asyncio.create_task(
                close_when_session_ends(
                    context.request, self._services.bus, actor.session_id, actor.expires_at
                )
            )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(GRAPHIQL_PAGE)
