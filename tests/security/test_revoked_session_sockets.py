"""Live subscriptions of a session that ended: logout, a leaked refresh token reused,
an account disabled. Found: a subscription kept streaming the customer's notifications
until the access token expired (up to its lifetime after logout). The revocation is
announced on the event bus (an outbox event, so only a committed revocation is
announced) and every API process closes that session's sockets with 4401.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.auth import RefreshToken, SubjectKind
from models.customers import Customer
from push.outbox import OutboxRelay
from push.sessions import session_channel
from tests.bus import subscribed
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.factories import make_customer
from tests.graphql import gql
from tests.push.test_two_processes import (
    anxin_processes,
    free_port,
    log_tail,
    wait_ready,
    wait_subscribed,
)
from workflows.auth import Channel, IssuedTokens, start_session

SUBSCRIPTION = "subscription { myNotifications { kind title } }"
CLOSE_SECONDS = 5  # relay poll + bus + close, with slack for a busy machine
REFRESH = """
mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { session { accessToken } errors { code } }
}"""


async def relay(services: Services) -> None:
    """What the worker's relay does next: publish the committed revocation."""
    await OutboxRelay(services.bus, services.queue).relay_once()


async def open_subscription(
    ws: AsyncWebSocketSession,
    tokens: IssuedTokens,
    until_subscribed: Callable[[str], Awaitable[None]],
) -> None:
    """Subscribe, and return once the server watches the session's revocations (on the
    bus this test can see: ``until_subscribed`` of a channel)."""
    token = tokens.access_token
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
    await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
    assert tokens.actor.session_id is not None
    await until_subscribed(session_channel(tokens.actor.session_id))


async def new_session(services: Services, customer: Customer) -> IssuedTokens:
    return await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)


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
    tokens = await new_session(services, customer)
    other_tokens = await new_session(services, customer)  # another device, stays in
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as other,
    ):
        await open_subscription(ws, tokens, partial(subscribed, services.bus))
        await open_subscription(other, other_tokens, partial(subscribed, services.bus))
        logout = await gql(client, "mutation { logout { loggedOut } }", token=tokens.access_token)
        assert logout["data"]["logout"]["loggedOut"] is True
        await relay(services)
        assert await closed_with(ws) == 4401
        assert await closed_with(other, 1) is None  # the other session's socket lives on


async def test_refresh_token_reuse_closes_the_sessions_sockets(
    app: Starlette, services: Services
) -> None:
    customer = await make_customer(services, "被盗用户")
    tokens = await new_session(services, customer)
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await open_subscription(ws, tokens, partial(subscribed, services.bus))
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
    tokens = await new_session(services, customer)
    assert TEST_REDIS_URL
    port_a, port_b = free_port(), free_port()
    commands = {
        "api-a": ["serve", "--port", str(port_a)],
        "api-b": ["serve", "--port", str(port_b)],
        "worker": ["worker"],
    }
    async with redis.Redis.from_url(TEST_REDIS_URL) as observer:
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
                await open_subscription(
                    ws_a, tokens, lambda channel: wait_subscribed(observer, [channel])
                )
                logout = await gql(
                    client_b, "mutation { logout { loggedOut } }", token=tokens.access_token
                )
                assert logout["data"]["logout"]["loggedOut"] is True
                assert await closed_with(ws_a) == 4401, log_tail(tmp_path, "api-a")
            for name, process in processes.items():
                assert process.poll() is None, f"{name} died:\n{log_tail(tmp_path, name)}"
