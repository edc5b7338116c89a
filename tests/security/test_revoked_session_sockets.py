"""Live subscriptions of a session that ended: logout, a leaked refresh token reused,
an account disabled. Found: a subscription kept streaming the customer's notifications
until the access token expired (up to its lifetime after logout). The revocation is
announced on the event bus (an outbox event, so only a committed revocation is
announced) and every API process closes that session's sockets with 4401.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.auth import RefreshToken, SubjectKind
from push.outbox import OutboxRelay
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.factories import customer_token, make_customer
from tests.graphql import gql
from tests.push.test_two_processes import anxin_processes, free_port, log_tail, wait_ready
from workflows.auth import Channel, start_session

SUBSCRIPTION = "subscription { myNotifications { kind title } }"
CLOSE_SECONDS = 5  # relay poll + bus + close, with slack for a busy machine
REFRESH = """
mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { session { accessToken } errors { code } }
}"""


async def relay(services: Services) -> None:
    """What the worker's relay does next: publish the committed revocation."""
    await OutboxRelay(services.bus, services.queue).relay_once()


async def open_subscription(ws: AsyncWebSocketSession, token: str) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
    await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    await asyncio.sleep(0.2)  # the subscription is registered


async def closed_with(ws: AsyncWebSocketSession, seconds: float = CLOSE_SECONDS) -> int | None:
    """The close code, if the server closes the socket within ``seconds``."""
    try:
        while True:
            await ws.receive_json(timeout=seconds)
    except WebSocketDisconnect as closed:
        return closed.code
    except TimeoutError:
        return None


async def test_logout_closes_the_sessions_sockets_at_once(
    app: Starlette, services: Services
) -> None:
    customer = await make_customer(services, "退出用户")
    token = await customer_token(services, customer)
    other_token = await customer_token(services, customer)  # another device, stays in
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as other,
    ):
        await open_subscription(ws, token)
        await open_subscription(other, other_token)
        logout = await gql(client, "mutation { logout { loggedOut } }", token=token)
        assert logout["data"]["logout"]["loggedOut"] is True
        await relay(services)
        assert await closed_with(ws) == 4401
        assert await closed_with(other, 1) is None  # the other session's socket lives on


async def test_refresh_token_reuse_closes_the_sessions_sockets(
    app: Starlette, services: Services
) -> None:
    customer = await make_customer(services, "被盗用户")
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await open_subscription(ws, tokens.access_token)
        rotated = await gql(client, REFRESH, {"token": tokens.refresh_token})
        assert rotated["data"]["refreshToken"]["errors"] == []
        # Presented again minutes later: the old refresh token leaked.
        digest = hashlib.sha256(tokens.refresh_token.encode()).hexdigest()
        await RefreshToken.filter(token_hash=digest).update(
            rotated_at=datetime.now(UTC) - timedelta(minutes=2)
        )
        reuse = await gql(client, REFRESH, {"token": tokens.refresh_token})
        assert reuse["data"]["refreshToken"]["errors"] == [{"code": "REFRESH_TOKEN_REUSED"}]
        await relay(services)
        assert await closed_with(ws) == 4401


@pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="needs PostgreSQL and Redis: processes share revocations only through Redis",
)
async def test_logout_on_one_process_closes_the_socket_on_another(
    services: Services, tmp_path: Path
) -> None:
    """Two ``anxin serve`` and one ``anxin worker``, as an operator runs them."""
    customer = await make_customer(services, "多进程用户")
    token = await customer_token(services, customer)
    port_a, port_b = free_port(), free_port()
    commands = {
        "api-a": ["serve", "--port", str(port_a)],
        "api-b": ["serve", "--port", str(port_b)],
        "worker": ["worker"],
    }
    with anxin_processes(commands, tmp_path) as processes:
        await asyncio.gather(
            wait_ready(port_a, processes["api-a"], tmp_path, "api-a"),
            wait_ready(port_b, processes["api-b"], tmp_path, "api-b"),
        )
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as client_a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}") as client_b,
            aconnect_ws("/graphql", client_a, subprotocols=["graphql-transport-ws"]) as ws_a,
        ):
            await open_subscription(ws_a, token)
            logout = await gql(client_b, "mutation { logout { loggedOut } }", token=token)
            assert logout["data"]["logout"]["loggedOut"] is True
            assert await closed_with(ws_a) == 4401, log_tail(tmp_path, "api-a")
        for name, process in processes.items():
            assert process.poll() is None, f"{name} died:\n{log_tail(tmp_path, name)}"
