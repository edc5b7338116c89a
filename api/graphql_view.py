"""The strawberry ASGI view: builds each request's context (who is calling), answers in
the media type the client accepts (``api.media_types``), resolves persisted queries
(``api.persisted_queries``: a hash for its query, by POST or GET) and serves our vendored
GraphiQL page instead of strawberry's CDN one."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import Schema
from strawberry.types import ExecutionResult

from api.clients import client_of
from api.context import Context
from api.media_types import CONTENT_TYPES, GRAPHQL_RESPONSE_JSON, JSON, is_request_error, negotiate
from api.persisted_queries import PersistedQueries, PersistedQueryError
from api.services import Services
from api.ws_delivery import direct_delivery_handler
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


# Close codes the reference graphql-ws client understands: it reconnects after 4403
# (calling its connectionParams again: the app hands it a refreshed token; graphql-ws's own
# recipe for token expiry) and gives up after 4401 (the user must log in again).
TOKEN_EXPIRED = 4403
SESSION_REVOKED = 4401


async def close_when_session_ends(
    websocket: WebSocket, bus: EventBus, session_id: uuid.UUID, expires_at: datetime | None
) -> None:
    """Close a WebSocket when its token expires (4403: reconnect with a fresh token) or,
    at once, when its session is revoked on any API process (4401: logout, refresh-token
    reuse, account disabled; a client must not silently carry on). Should the bus fail,
    the token's expiry still closes it."""
    delay = None if expires_at is None else (expires_at - datetime.now(UTC)).total_seconds()
    code, reason = TOKEN_EXPIRED, "token expired"
    try:
        async with asyncio.timeout(None if delay is None else max(delay, 0)):
            try:
                await wait_for_revocation(bus, session_id)
                code, reason = SESSION_REVOKED, "session revoked"
            except Exception:
                log.exception("watching session %s for revocation failed", session_id)
                await asyncio.sleep(math.inf if delay is None else delay)
    except TimeoutError:
        pass
    # The client may be gone already: Starlette says so with WebSocketDisconnect, which
    # escaped this task before ("Task exception was never retrieved", one per socket).
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        await websocket.close(code=code, reason=reason)


WATCH_END_SECONDS = 5.0


async def _end_watch(watch: asyncio.Task[None]) -> None:
    """Cancel a connection's session watch and wait (boundedly) for it to end: the
    connection's task, and all it holds, must not wait for ever on a watch that does not
    end (one did, when a library swallowed its cancellation)."""
    watch.cancel()
    done, _ = await asyncio.wait({watch}, timeout=WATCH_END_SECONDS)
    if not done:
        log.error("a session watch did not end %.0f s after its connection", WATCH_END_SECONDS)
        return
    if not watch.cancelled() and (error := watch.exception()) is not None:
        log.error("a session watch failed", exc_info=error)


def not_acceptable() -> Response:
    """406: the client accepts neither of our media types (the spec's recommended answer;
    a client could not read any other)."""
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "不支持请求的响应格式：请接受 application/graphql-response+json "
                    "或 application/json",
                    "extensions": {"code": "NOT_ACCEPTABLE"},
                }
            ]
        },
        status_code=HTTPStatus.NOT_ACCEPTABLE,
    )


def graphql_error(status: int, reason: str) -> Response:
    """A request strawberry refused before running it (unparsable JSON, missing query,
    wrong parameter types, a query sent by GET), as a GraphQL response without data."""
    body = {"errors": [{"message": reason, "extensions": {"code": HTTPStatus(status).name}}]}
    response = JSONResponse(body, status_code=status)
    response.headers["content-type"] = CONTENT_TYPES[GRAPHQL_RESPONSE_JSON]
    return response


# A persisted query sent with its text, stored once its request has validated; set and
# read within one request's task (parse_http_body, then process_result).
_TO_STORE: ContextVar[tuple[str, str] | None] = ContextVar("anxin_apq_to_store", default=None)


def persisted_query_error(error: PersistedQueryError, media_type: str) -> Response:
    """A persisted-query answer without execution: ``PersistedQueryNotFound`` at 200 (Apollo
    then sends the query), a malformed or mismatched hash at 400; always a GraphQL body."""
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}
    response = JSONResponse(body, status_code=error.status)
    response.headers["content-type"] = CONTENT_TYPES[media_type]
    return response


@functools.lru_cache(maxsize=1024)
def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    """A GET's operation kind (only queries go by GET). Cached by text: a persisted
    query by GET is the same text every time, and parsing it cost more than running
    its compiled plan's fields."""
    try:
        document = parse(query)
    except GraphQLError:
        return None  # strawberry answers the syntax error
    operation = get_operation_ast(document, operation_name)
    return None if operation is None else operation.operation


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, services: Services | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        # Subscription answers shared by many sockets go to them directly (api.ws_delivery).
        self.graphql_transport_ws_handler_class = direct_delivery_handler(cast(Schema, self.schema))
        self.persisted: PersistedQueries | None = None  # built in the app's lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """strawberry's handling, plus what it leaves open: it never closes the HTTP
        Request it makes (the files of a multipart upload, spooled to disk past 1 MiB,
        stayed open until a garbage collection found them), and a WebSocket's session
        watch must end with its connection (no task or bus subscription outlives it)."""
        if scope["type"] == "http":
            request = Request(scope=scope, receive=receive)
            try:
                response = await self._answer(request)
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
                    await _end_watch(context.session_watch)
        else:
            await super().__call__(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        """strawberry's answer, in the media type the client prefers. Under
        ``application/json`` (and without ``Accept``) it is strawberry's, unchanged:
        request errors answer 200 with ``data: null``, malformed requests a plain-text
        400. Under ``application/graphql-response+json`` request errors answer 400
        without ``data``, malformed requests 4xx with a GraphQL error body."""
        response = await self._negotiated(request)
        response.headers.add_vary_header("Accept")  # the answer depends on it
        return response

    async def _negotiated(self, request: Request) -> Response:
        media_type = negotiate(request.headers.getlist("accept"))
        if media_type is None:
            if request.method == "POST":
                return not_acceptable()
            media_type = JSON  # GET: the GraphiQL page (text/html) and refusals, as before
        request.state.media_type = media_type
        try:
            response = await self.run(request)
        except PersistedQueryError as e:
            return persisted_query_error(e, media_type)
        except HTTPException as e:
            if media_type == JSON:
                return PlainTextResponse(e.reason, status_code=e.status_code)
            return graphql_error(e.status_code, e.reason)
        if media_type != JSON and getattr(request.state, "graphql_result", False):
            response.headers["content-type"] = CONTENT_TYPES[media_type]
            if request.state.request_error:
                response.status_code = HTTPStatus.BAD_REQUEST
        return response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """The GraphQL response body; a request error has no ``data`` entry under
        ``application/graphql-response+json`` (under ``application/json`` it keeps the
        ``data: null`` that clients have always had)."""
        body = await super().process_result(request, result)
        request.state.graphql_result = True
        request.state.request_error = is_request_error(result)
        if (pending := _TO_STORE.get(None)) is not None and self.persisted is not None:
            _TO_STORE.set(None)
            if not request.state.request_error:  # it parsed and validated
                await self.persisted.store.put(*pending)
        if request.state.request_error and request.state.media_type == GRAPHQL_RESPONSE_JSON:
            body.pop("data", None)
        return body

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET that carries a persisted query's hash (and no ``query``)."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """strawberry's parsing, plus persisted queries: a hash is replaced by its query
        (or answered ``PersistedQueryNotFound``). By GET only a query sent by its hash."""
        _TO_STORE.set(None)
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            await self._resolve_persisted(item, request.method)
        return data

    async def _resolve_persisted(self, data: GraphQLRequestData, method: str) -> None:
        hashed = bool(data.extensions and "persistedQuery" in data.extensions)
        if method == "GET" and (data.query is not None or not hashed):
            # Queries in URLs end up in access logs; a hash and variables only.
            raise HTTPException(400, "queries are not allowed when using GET")
        if self.persisted is None:
            return
        data.query, digest = await self.persisted.resolve(data.query, data.extensions)
        if digest is not None and data.query is not None:
            _TO_STORE.set((digest, data.query))  # once it has validated (process_result)
        if method == "GET" and data.query is not None:
            kind = operation_type(data.query, data.operation_name)
            if kind is not None and kind is not OperationType.QUERY:
                raise HTTPException(405, f"{kind.value}s are not allowed when using GET")

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
        ``{"authorization": "Bearer <token>"}``. A bad or expired token refuses the
        connection (close 4403, strawberry's: graphql-ws retries with connectionParams
        asked again, so an app that refreshes its token there gets in); no token makes an
        anonymous connection."""
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
