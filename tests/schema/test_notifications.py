"""The inbox, devices, preferences, quiet hours and WeChat grants through GraphQL, and
``myNotifications`` live over WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from models.notifications import Delivery, Device, WechatConsent
from models.staff import StaffRole
from push.outbox import OutboxRelay, emit
from tests.bus import subscribed
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql

TEMPLATES = {"claim.decided": {"template_id": "TPL-DECIDED", "data": {"thing1": "{title}"}}}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"wechat_message_templates": TEMPLATES}


async def announce(customer: Customer, number: str = "LP20261129001") -> None:
    async with in_transaction():
        await emit(
            "claim.decided",
            entity_type="claim",
            entity_id="c1",
            customer_id=customer.id,
            payload={"claim_id": "Q2xhaW06MQ==", "claim_number": number, "decision": "通过"},
        )


INBOX = """
query($unread: Boolean!) {
  unreadNotificationCount
  notifications(unreadOnly: $unread, first: 10) {
    totalCount edges { node { id kind title body deepLink miniProgramPage urgent read } }
  }
}"""


async def test_inbox_read_marks_and_counts(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    for number in ("LP1", "LP2", "LP3"):
        await announce(customer, number)
    await OutboxRelay(services.bus, services.queue).relay_once()
    inbox = (await gql(client, INBOX, {"unread": False}, token=token))["data"]
    assert inbox["unreadNotificationCount"] == 3
    first = inbox["notifications"]["edges"][0]["node"]
    assert first["title"] == "理赔审核结果" and "LP3" in first["body"]  # newest first
    assert first["miniProgramPage"] == "pages/claim/detail?id=Q2xhaW06MQ=="

    mark = """mutation($ids: [ID!]) {
      markNotificationsRead(input: {ids: $ids}) { unreadCount errors { code } } }"""
    marked = await gql(client, mark, {"ids": [first["id"]]}, token=token)
    assert marked["data"]["markNotificationsRead"] == {"unreadCount": 2, "errors": []}
    nothing = await gql(client, mark, {"ids": []}, token=token)
    assert nothing["data"]["markNotificationsRead"]["errors"] == [{"code": "NOTHING_SELECTED"}]
    unread = (await gql(client, INBOX, {"unread": True}, token=token))["data"]
    assert unread["notifications"]["totalCount"] == 2
    everything = await gql(
        client,
        "mutation { markNotificationsRead(input: {all: true}) { unreadCount } }",
        token=token,
    )
    assert everything["data"]["markNotificationsRead"]["unreadCount"] == 0


async def test_someone_elses_inbox_entry_cannot_be_marked(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner, other = await make_customer(services), await make_customer(services)
    await announce(owner)
    await OutboxRelay(services.bus, services.queue).relay_once()
    owner_token = await customer_token(services, owner)
    entry = (await gql(client, INBOX, {"unread": False}, token=owner_token))["data"][
        "notifications"
    ]["edges"][0]["node"]["id"]
    mark = "mutation($id: ID!) { markNotificationsRead(input: {ids: [$id]}) { unreadCount } }"
    await gql(client, mark, {"id": entry}, token=await customer_token(services, other))
    after = (await gql(client, INBOX, {"unread": True}, token=owner_token))["data"]
    assert after["unreadNotificationCount"] == 1


async def test_devices(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    register = """mutation($token: String!) {
      registerDevice(input: {platform: IOS, token: $token}) {
        device { platform } errors { field code } } }"""
    ok = await gql(client, register, {"token": "f" * 64}, token=token)
    assert ok["data"]["registerDevice"] == {"device": {"platform": "IOS"}, "errors": []}
    bad = await gql(client, register, {"token": "x y"}, token=token)
    assert bad["data"]["registerDevice"]["errors"] == [{"field": "token", "code": "INVALID_TOKEN"}]
    # The same installation logged in by someone else moves to them.
    other = await make_customer(services)
    await gql(client, register, {"token": "f" * 64}, token=await customer_token(services, other))
    assert (await Device.get(token="f" * 64)).customer_id == other.id
    unregister = 'mutation { unregisterDevice(input: {token: "%s"}) { errors { code } } }'
    await gql(client, unregister % ("f" * 64), token=await customer_token(services, other))
    assert not await Device.exists(token="f" * 64)


async def test_preferences_and_quiet_hours(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    listing = (
        await gql(
            client,
            "{ notificationPreferences { kind title channels availableChannels } "
            "quietHours { start end } }",
            token=token,
        )
    )["data"]
    decided = next(p for p in listing["notificationPreferences"] if p["kind"] == "claim.decided")
    assert decided["title"] == "理赔审核结果" and "SMS" in decided["availableChannels"]
    assert listing["quietHours"] == {"start": "22:00", "end": "08:00"}

    choose = """mutation($channels: [Channel!]!) {
      setNotificationPreference(input: {kind: "claim.decided", channels: $channels}) {
        preference { channels } errors { field code } } }"""
    chosen = await gql(client, choose, {"channels": ["SMS", "APNS"]}, token=token)
    assert chosen["data"]["setNotificationPreference"]["preference"]["channels"] == ["APNS", "SMS"]
    refused = await gql(
        client, choose.replace("claim.decided", "premium.due"), {"channels": ["SMS"]}, token=token
    )
    assert refused["data"]["setNotificationPreference"]["errors"] == [
        {"field": "channels", "code": "CHANNEL_NOT_AVAILABLE"}
    ]
    quiet = """mutation($start: String, $end: String) {
      setQuietHours(input: {start: $start, end: $end}) {
        quietHours { start end } errors { field code } } }"""
    assert (await gql(client, quiet, {"start": "23:30", "end": "07:00"}, token=token))["data"][
        "setQuietHours"
    ] == {"quietHours": {"start": "23:30", "end": "07:00"}, "errors": []}
    assert (await gql(client, quiet, {"start": "25:00", "end": "07:00"}, token=token))["data"][
        "setQuietHours"
    ]["errors"] == [{"field": "start", "code": "INVALID_TIME"}]
    assert (await gql(client, quiet, {"start": None, "end": None}, token=token))["data"][
        "setQuietHours"
    ]["quietHours"] is None


async def test_wechat_grants_are_counted(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    grant = """mutation($ids: [String!]!) {
      reportWechatSubscription(input: {acceptedTemplateIds: $ids}) { recorded errors { code } } }"""
    for _ in range(2):
        result = await gql(client, grant, {"ids": ["TPL-DECIDED"]}, token=token)
        assert result["data"]["reportWechatSubscription"] == {"recorded": 1, "errors": []}
    assert (await WechatConsent.get(customer_id=customer.id)).remaining == 2
    unknown = await gql(client, grant, {"ids": ["NOPE"]}, token=token)
    assert unknown["data"]["reportWechatSubscription"]["errors"] == [{"code": "UNKNOWN_TEMPLATE"}]


async def test_staff_see_delivery_status(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    await announce(customer)
    await OutboxRelay(services.bus, services.queue).relay_once()
    query = """query($id: ID!) { customerNotifications(customerId: $id) {
      edges { node { title deliveries { channel status attempts } } } } }"""
    from strawberry import relay

    customer_gid = str(relay.GlobalID("Customer", str(customer.id)))
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    body = await gql(client, query, {"id": customer_gid}, token=agent)
    node = body["data"]["customerNotifications"]["edges"][0]["node"]
    assert node["title"] == "理赔审核结果"
    assert node["deliveries"] == [
        {"channel": d.channel.value, "status": "PENDING", "attempts": 0}
        for d in await Delivery.all().order_by("created_at")
    ]
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    refused = await gql(client, query, {"id": customer_gid}, token=adjuster, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mine = await gql(
        client,
        query,
        {"id": customer_gid},
        token=await customer_token(services, customer),
        allow_errors=True,
    )
    assert mine["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_my_notifications_arrive_live(app: Starlette, services: Services) -> None:
    customer, stranger = await make_customer(services), await make_customer(services)
    token = await customer_token(services, customer)
    transport = ASGIWebSocketTransport(app=app)
    subscription = "subscription { myNotifications { kind title body } }"
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert (await ws.receive_json())["type"] == "connection_ack"
        await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": subscription}})
        await subscribed(services.bus, f"customer:{customer.id}")
        await announce(stranger, "LP-NOT-MINE")
        await announce(customer, "LP-MINE")
        await OutboxRelay(services.bus, services.queue).relay_once()
        message = await asyncio.wait_for(ws.receive_json(), 5)
        assert message["type"] == "next"
        assert message["payload"]["data"]["myNotifications"]["kind"] == "claim.decided"
        assert "LP-MINE" in message["payload"]["data"]["myNotifications"]["body"]
        await ws.send_json({"id": "s", "type": "complete"})
