"""A client that reconnects catches up: ``claimUpdated`` and ``paymentUpdated`` answer
with the current state first, so a change made while the socket was closed (the token
expired, the train went into a tunnel) is seen on resubscribing; events are not
replayed. Found: both only forwarded later changes, so a claim decided during the gap
stayed "submitted" in the app until the next change."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from strawberry import relay

from api.services import Services
from models.policies import PremiumInstallment
from push.bus import current_then_changes
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import customer_token, make_customer, make_policy
from tests.graphql import gql

REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id status } errors { code } } }"""
SUBMIT = """mutation($id: ID!) {
  submitClaim(input: {claimId: $id, explanation: "稍后补交"}) { errors { code } } }"""
CLAIM_LIVE = "subscription($id: ID!) { claimUpdated(claimId: $id) { id status } }"
CREATE = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { id status } errors { code } } }"""
COMPLETE = """mutation($id: ID!) { completeSandboxPayment(input: {orderId: $id}) {
  order { status } errors { code } } }"""
PAYMENT_LIVE = "subscription($id: ID!) { paymentUpdated(orderId: $id) { id status } }"


async def subscribe(
    ws: AsyncWebSocketSession, token: str, query: str, variables: dict[str, Any]
) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
    payload = {"query": query, "variables": variables}
    await ws.send_json({"id": "live", "type": "subscribe", "payload": payload})


async def next_data(ws: AsyncWebSocketSession, field: str) -> dict[str, Any]:
    message = await ws.receive_json(timeout=5)
    assert message["type"] == "next", message
    return dict(message["payload"]["data"][field])


async def test_claim_updated_starts_with_the_claims_current_state(
    app: Starlette, services: Services
) -> None:
    holder = await make_customer(services)
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        reported = await gql(client, REPORT, {"input": loss_input(policy)}, token=token)
        claim = reported["data"]["reportLoss"]["claim"]
        channel = f"claim:{relay.GlobalID.from_id(claim['id']).node_id}"
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await subscribe(ws, token, CLAIM_LIVE, {"id": claim["id"]})
            first = await next_data(ws, "claimUpdated")  # no event needed
            assert first == {"id": claim["id"], "status": claim["status"]}
            await subscribed(services.bus, channel)
        # While no one listens, the claim moves on; its event reaches nobody.
        submitted = await gql(client, SUBMIT, {"id": claim["id"]}, token=token)
        assert submitted["data"]["submitClaim"]["errors"] == []
        await OutboxRelay(services.bus, services.queue).relay_once()
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await subscribe(ws, token, CLAIM_LIVE, {"id": claim["id"]})
            caught_up = await next_data(ws, "claimUpdated")
            assert caught_up["status"] == "SUBMITTED" != claim["status"]


async def test_payment_updated_starts_with_the_orders_current_status(
    app: Starlette, services: Services
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)  # installment 2 is unpaid
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    token = await customer_token(services, holder)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        created = await gql(
            client,
            CREATE,
            {
                "input": {
                    "installmentId": str(relay.GlobalID("PremiumInstallment", str(installment.id))),
                    "method": "SANDBOX",
                    "idempotencyKey": f"catch-up-{uuid.uuid4()}",
                }
            },
            token=token,
        )
        order = created["data"]["createPremiumPayment"]["order"]
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await subscribe(ws, token, PAYMENT_LIVE, {"id": order["id"]})
            assert await next_data(ws, "paymentUpdated") == {"id": order["id"], "status": "CREATED"}
        paid = await gql(client, COMPLETE, {"id": order["id"]}, token=token)
        assert paid["data"]["completeSandboxPayment"]["order"]["status"] == "PAID"
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await subscribe(ws, token, PAYMENT_LIVE, {"id": order["id"]})
            assert (await next_data(ws, "paymentUpdated"))["status"] == "PAID"


async def test_a_change_announced_while_the_first_read_runs_is_not_lost(
    services: Services,
) -> None:
    """Listen, then read: an event published during the first read (another process
    committing a change just then) still brings a second read. On Redis when configured."""
    channel = f"claim:{uuid.uuid4()}"
    reads = 0

    async def read() -> int | None:
        nonlocal reads
        reads += 1
        if reads == 1:
            await services.bus.publish(channel, {"type": "claim.updated"})
        return None if reads == 2 else reads  # None: not visible this turn, skipped

    live = current_then_changes(services.bus, channel, read)
    try:
        assert await asyncio.wait_for(anext(live), 5) == 1
        waiting = asyncio.ensure_future(anext(live))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # the second read answered None: nothing yielded
        await services.bus.publish(channel, {"type": "claim.updated"})
        assert await asyncio.wait_for(waiting, 5) == 3
    finally:
        await live.aclose()
    with pytest.raises(TimeoutError):  # it stopped listening
        await asyncio.wait_for(services.bus.until_subscribed(channel), 0.1)
