"""One installment is paid once: many createPremiumPayment calls with distinct keys get
the one open order (enforced by a unique key), a replaced order is closed at the
provider first, and money that arrives for an installment already paid is booked and
refunded automatically, with staff told; never silently kept twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from strawberry import relay

from api.services import Services
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, OrderStatus, PaymentOrder, Refund, RefundStatus
from models.staff import StaffRole
from payments.sandbox import SandboxProvider
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.conftest import postgres_only
from tests.factories import make_staff, staff_token
from tests.graphql import gql
from tests.workflows.payments.test_orders import COMPLETE, Payer, create, payer
from workflows.payments.orders import PAYMENT_ALERTS, handle_callback
from workflows.payments.refunds import follow_up_refunds

__all__ = ["payer"]  # the fixture


async def test_repeated_creates_with_distinct_keys_give_one_open_order(
    client: httpx.AsyncClient, payer: Payer
) -> None:
    answers = [await create(client, payer, f"premium-key-{n:04d}") for n in range(10)]
    assert {a["order"]["id"] for a in answers} == {answers[0]["order"]["id"]}
    assert await PaymentOrder.filter(installment_id=payer.installment.id).count() == 1


@postgres_only
async def test_ten_concurrent_creates_give_one_open_order(
    client: httpx.AsyncClient, payer: Payer
) -> None:
    answers = await asyncio.gather(
        *[create(client, payer, f"premium-race-{n:04d}") for n in range(10)]
    )
    # Each tap gets the one order with what the app pays with, or is asked to retry
    # while that order is still being opened at the provider; nothing else.
    ids = {a["order"]["id"] for a in answers if a["order"]}
    assert len(ids) == 1
    assert all(a["order"]["checkout"] for a in answers if a["order"])
    codes = {e["code"] for a in answers for e in a["errors"]}
    assert codes <= {"PAYMENT_IN_PROGRESS"}
    open_orders = PaymentOrder.filter(
        installment_id=payer.installment.id, status=OrderStatus.CREATED
    )
    assert await open_orders.count() == 1


async def test_an_order_about_to_expire_is_closed_and_replaced(
    client: httpx.AsyncClient, payer: Payer
) -> None:
    first = await create(client, payer, "premium-old-0001")
    old_id = relay.GlobalID.from_id(first["order"]["id"]).node_id
    await PaymentOrder.filter(id=old_id).update(expires_at=datetime.now(UTC) + timedelta(minutes=1))
    second = await create(client, payer, "premium-new-0001")
    assert second["order"]["id"] != first["order"]["id"]
    old = await PaymentOrder.get(id=old_id)
    assert old.status is OrderStatus.CLOSED and old.open_key is None


async def test_money_for_an_installment_already_paid_is_refunded(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> None:
    first = await create(client, payer, "premium-dup-0001")
    old_id = relay.GlobalID.from_id(first["order"]["id"]).node_id
    await PaymentOrder.filter(id=old_id).update(expires_at=datetime.now(UTC) + timedelta(minutes=1))
    second = await create(client, payer, "premium-dup-0002")
    paid = await gql(client, COMPLETE, {"id": second["order"]["id"]}, token=payer.token)
    assert paid["data"]["completeSandboxPayment"]["order"]["status"] == "PAID"
    # The customer had also paid the old order in another window: its callback arrives.
    sandbox = services.payment_providers["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    old = await PaymentOrder.get(id=old_id)
    headers, body = sandbox.paid_notification(old.order_number, old.amount)
    assert (await handle_callback(sandbox, headers, body)).status_code == 200
    assert (await PaymentOrder.get(id=old_id)).status is OrderStatus.PAID
    received = await LedgerEntry.filter(kind="PREMIUM_RECEIVED").count()
    assert received == 2  # the money came in twice: both are on the books
    refund = await Refund.get(order_id=old_id)
    assert (refund.status, refund.amount, refund.reason) == (
        RefundStatus.QUEUED,
        old.amount,
        "DUPLICATE_PAYMENT",
    )
    assert await OutboxEvent.filter(event_type="payment.duplicate").exists()
    # A provider retry of the same callback changes nothing more.
    assert (await handle_callback(sandbox, headers, body)).status_code == 200
    assert await Refund.filter(order_id=old_id).count() == 1
    # The worker sends it; the money goes back once.
    settled = await follow_up_refunds(
        services.payment_providers, notify_base_url="http://127.0.0.1"
    )
    assert settled == 1
    assert (await Refund.get(id=refund.id)).status is RefundStatus.SUCCESS
    assert await LedgerEntry.filter(kind="REFUND").count() == 1
    assert await follow_up_refunds(services.payment_providers, notify_base_url="x") == 0


async def test_staff_watching_payment_alerts_see_the_duplicate(
    app: Starlette, services: Services, payer: Payer
) -> None:
    staff = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        first = await create(client, payer, "premium-alert-01")
        old_id = relay.GlobalID.from_id(first["order"]["id"]).node_id
        soon = datetime.now(UTC) + timedelta(minutes=1)
        await PaymentOrder.filter(id=old_id).update(expires_at=soon)
        second = await create(client, payer, "premium-alert-02")
        await gql(client, COMPLETE, {"id": second["order"]["id"]}, token=payer.token)
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {staff}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            query = "subscription { paymentAlerts { eventType order { orderNumber } } }"
            await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
            await subscribed(services.bus, PAYMENT_ALERTS)
            sandbox = services.payment_providers["sandbox"]
            assert isinstance(sandbox, SandboxProvider)
            old = await PaymentOrder.get(id=old_id)
            headers, body = sandbox.paid_notification(old.order_number, old.amount)
            await handle_callback(sandbox, headers, body)
            while await OutboxRelay(services.bus, services.queue).relay_once():
                pass
            message = await asyncio.wait_for(ws.receive_json(), 5)
            alert = message["payload"]["data"]["paymentAlerts"]
            assert alert == {
                "eventType": "payment.duplicate",
                "order": {"orderNumber": old.order_number},
            }
