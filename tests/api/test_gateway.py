"""The gateway's HTTP and WebSocket surface: GraphiQL without a CDN, limits, WebSocket
authentication, production masking and introspection."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.app import create_app
from api.services import Services
from api.settings import Settings
from schema.errors import should_mask_error
from tests.api.test_settings import REAL
from tests.factories import customer_token, make_customer
from tests.graphql import gql

ROOT = Path(__file__).resolve().parents[2]


async def test_graphiql_is_served_from_this_gateway_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assets = [a for a in assets if not a.startswith("data:")]
    assert len(assets) == 8
    for asset in assets:
        assert asset.startswith("/static/graphiql/"), asset
        response = await client.get(asset)
        assert response.status_code == 200, asset
        if asset.endswith(("index.html", "anxin-graphiql.js", "anxin-session.js")):
            assert "://" not in response.text.replace("window.location", "")
    script = (await client.get("/static/graphiql/anxin-graphiql.js")).text
    assert "myPolicies" in script and "requestLoginCode" in script


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


async def test_multipart_requests_need_a_preflight_header(client: httpx.AsyncClient) -> None:
    operations = '{"query": "{ me { permissions } }", "variables": {}}'
    form = {"operations": operations, "map": "{}"}
    refused = await client.post("/graphql", data=form, files={"x": ("a.txt", b"hi")})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
    allowed = await client.post(
        "/graphql",
        data=form,
        files={"x": ("a.txt", b"hi")},
        headers={"apollo-require-preflight": "true"},
    )
    assert allowed.status_code == 200
    assert allowed.json() == {"data": {"me": None}}


async def test_alias_and_token_limits(client: httpx.AsyncClient) -> None:
    aliases = "{ " + " ".join(f"a{i}: me {{ permissions }}" for i in range(31)) + " }"
    body = (await client.post("/graphql", json={"query": aliases})).json()
    assert "aliases" in body["errors"][0]["message"]
    tokens = "{ " + "me { permissions } " * 800 + "}"
    body = (await client.post("/graphql", json={"query": tokens})).json()
    assert "token" in body["errors"][0]["message"].lower()


async def test_query_depth_is_limited(client: httpx.AsyncClient) -> None:
    inner = "number"
    for _ in range(14):
        inner = f'node(id: "x") {{ ... on Policy {{ {inner} }} }}'
    body = (await client.post("/graphql", json={"query": "{ " + inner + " }"})).json()
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


@pytest.fixture
async def ws_app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def ws_exchange(app: Starlette, init: dict[str, Any], query: str) -> list[dict[str, Any]]:
    """Open a graphql-transport-ws connection, run one operation, return the messages."""
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": init})
        try:
            messages = [await ws.receive_json()]
        except WebSocketDisconnect as closed:
            return [{"type": "closed", "code": closed.code}]
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        while messages[-1]["type"] != "complete":
            messages.append(await ws.receive_json())
        return messages


async def test_websocket_authenticates_in_connection_init(ws_app: Starlette) -> None:
    services: Services = ws_app.state.services
    customer = await make_customer(services, "微信用户")
    token = await customer_token(services, customer)
    messages = await ws_exchange(
        ws_app, {"authorization": f"Bearer {token}"}, "{ me { customer { name } } }"
    )
    assert messages[0]["type"] == "connection_ack"
    assert messages[1]["payload"] == {"data": {"me": {"customer": {"name": "微信用户"}}}}
    anonymous = await ws_exchange(ws_app, {}, "{ me { customer { name } } }")
    assert anonymous[1]["payload"] == {"data": {"me": None}}


async def test_websocket_operations_after_logout_are_anonymous(ws_app: Starlette) -> None:
    services: Services = ws_app.state.services
    customer = await make_customer(services, "长连接用户")
    token = await customer_token(services, customer)
    me = "{ me { customer { name } } }"
    transport = ASGIWebSocketTransport(app=ws_app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert (await ws.receive_json())["type"] == "connection_ack"

        async def run(operation_id: str) -> dict[str, Any]:
            await ws.send_json({"id": operation_id, "type": "subscribe", "payload": {"query": me}})
            result = await ws.receive_json()
            assert (await ws.receive_json())["type"] == "complete"
            return result["payload"]

        assert await run("1") == {"data": {"me": {"customer": {"name": "长连接用户"}}}}
        logout = await client.post(
            "/graphql",
            json={"query": "mutation { logout { loggedOut } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert logout.json()["data"]["logout"]["loggedOut"] is True
        assert await run("2") == {"data": {"me": None}}


async def test_websocket_closes_when_the_token_expires() -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    from api.graphql_view import close_when_session_ends
    from push.bus import InProcessBus

    class FakeSocket:
        closed_with: tuple[int, str] | None = None

        async def close(self, code: int, reason: str) -> None:
            self.closed_with = (code, reason)

    socket = FakeSocket()
    expires_at = datetime.now(UTC) + timedelta(milliseconds=50)
    await asyncio.wait_for(
        close_when_session_ends(socket, InProcessBus(), uuid.uuid4(), expires_at),  # type: ignore[arg-type]
        5,
    )
    # 4403: graphql-ws reconnects, asking the app for a fresh token (4401 would be fatal).
    assert socket.closed_with == (4403, "token expired")


async def test_websocket_with_a_bad_token_is_refused(ws_app: Starlette) -> None:
    messages = await ws_exchange(
        ws_app, {"authorization": "Bearer forged"}, "{ me { permissions } }"
    )
    assert messages == [{"type": "closed", "code": 4403}]


async def test_production_hides_the_schema_and_keeps_deliberate_errors(database_url: str) -> None:
    # Production refuses SQLite; the test database may be one, so swap it in afterwards.
    production = Settings(**REAL).model_copy(update={"database_url": database_url})
    app = create_app(production)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        introspection = await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert "GraphiQL" not in ide.text
        # Deliberate errors stay readable in production.
        body = await gql(client, "{ myPolicies { totalCount } }", allow_errors=True)
        assert body["errors"][0]["message"] == "请先登录"


async def test_production_masks_unexpected_errors_end_to_end(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(actor: Any) -> None:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr("schema.auth.viewer_for", broken)
    production = Settings(**REAL).model_copy(update={"database_url": database_url})
    app = create_app(production)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        body = await gql(client, "{ me { permissions } }", allow_errors=True)
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in str(body)


def test_unexpected_exceptions_are_masked_deliberate_errors_are_not() -> None:
    from graphql import GraphQLError

    assert should_mask_error(GraphQLError("boom", original_error=KeyError("secret")))
    assert not should_mask_error(GraphQLError("bad", original_error=GraphQLError("bad")))
    assert not should_mask_error(GraphQLError("Cannot query field"))


async def test_identical_queries_are_validated_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser and validation caches really hit in the served schema (validation is
    ~20% of a request): a query text never sent before is validated once for three
    requests."""
    from schema import validation_cache

    calls = []
    original = validation_cache.validate_document

    def counting(*args: Any) -> Any:
        calls.append(args[1])
        return original(*args)

    monkeypatch.setattr(validation_cache, "validate_document", counting)
    query = "{ me { permissions } __typename validatedOnce: __typename }"
    for _ in range(3):
        assert (await client.post("/graphql", json={"query": query})).status_code == 200
    assert len(calls) == 1


async def test_a_browser_preflight_allows_the_headers_apollo_sends(settings: Settings) -> None:
    """What `@apollo/client` sends from a web page: its preflight and client-awareness
    headers, asked for in one CORS preflight, all allowed."""
    allowed_origin = "https://app.example.cn"
    app = create_app(settings.model_copy(update={"cors_origins": [allowed_origin]}))
    wanted = (
        "authorization,content-type,x-apollo-operation-name,apollo-require-preflight,"
        "apollographql-client-name,apollographql-client-version,x-anxin-installation"
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        preflight = await client.options(
            "/graphql",
            headers={
                "origin": allowed_origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": wanted,
            },
        )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == allowed_origin
    granted = preflight.headers["access-control-allow-headers"].lower()
    assert all(name in granted for name in wanted.split(","))
