"""Premium payments end to end with the sandbox provider: idempotent orders, callbacks
checked before anything is recorded, and exactly one effect per payment."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, OrderStatus, PaymentOrder
from models.policies import Policy, PremiumInstallment
from payments.sandbox import SIGNATURE_HEADER, SandboxProvider
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_policy
from tests.graphql import gql

CREATE = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { id orderNumber status amount { amount } checkout { key value } policyNumber }
  errors { field message code } } }"""
COMPLETE = """mutation($id: ID!) { completeSandboxPayment(input: {orderId: $id}) {
  order { status paidAt } errors { code } } }"""


@dataclass(frozen=True)
class Payer:
    """A policyholder signed in, with an unpaid installment to pay."""

    token: str
    installment: PremiumInstallment
    installment_id: str  # its global ID
    policy: Policy


@pytest.fixture
async def payer(services: Services) -> Payer:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)  # installment 2 (600.00) is unpaid
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    return Payer(
        token=await customer_token(services, holder),
        installment=installment,
        installment_id=str(relay.GlobalID("PremiumInstallment", str(installment.id))),
        policy=policy,
    )


async def create(
    client: httpx.AsyncClient,
    payer: Payer,
    key: str,
    method: str = "SANDBOX",
    token: str | None = None,
) -> dict[str, Any]:
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "installmentId": payer.installment_id,
                "method": method,
                "idempotencyKey": key,
            }
        },
        token=token or payer.token,
    )
    return body["data"]["createPremiumPayment"]


async def test_pay_an_installment_with_the_sandbox(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> None:
    started = await create(client, payer, "key-0001-abcdef")
    order = started["order"]
    assert started["errors"] == [] and order["status"] == "CREATED"
    assert order["amount"] == {"amount": "600.00"}  # from the installment, not the client
    assert order["orderNumber"].startswith("PO")
    assert order["checkout"] == [{"key": "sandboxOrder", "value": order["orderNumber"]}]
    again = await create(client, payer, "key-0001-abcdef")
    assert again["order"]["id"] == order["id"]
    other = await create(client, payer, "key-0001-abcdef", method="WECHAT_JSAPI")
    assert other["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"

    paid = await gql(client, COMPLETE, {"id": order["id"]}, token=payer.token)
    assert paid["data"]["completeSandboxPayment"]["order"]["status"] == "PAID"
    assert (await PremiumInstallment.get(id=payer.installment.id)).paid_at is not None
    assert await LedgerEntry.all().count() == 1
    assert await OutboxEvent.filter(event_type="payment.received").count() == 1
    paid_again = await create(client, payer, "key-0002-abcdef")
    assert paid_again["errors"][0]["code"] == "ALREADY_PAID"
    mine = await gql(
        client, "{ myPayments { totalCount edges { node { status } } } }", token=payer.token
    )
    assert mine["data"]["myPayments"]["edges"][0]["node"]["status"] == "PAID"


async def test_only_the_holder_pays_and_only_what_is_payable(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> None:
    stranger = await customer_token(services, await make_customer(services))
    theirs = await create(client, payer, "key-0003-abcdef", token=stranger)
    assert theirs["errors"][0]["code"] == "INSTALLMENT_NOT_FOUND"
    unavailable = await create(client, payer, "key-0004-abcdef", method="ALIPAY_APP")
    assert unavailable["errors"][0]["code"] == "METHOD_NOT_AVAILABLE"
    short = await create(client, payer, "short")
    assert short["errors"][0]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await PaymentOrder.all().count() == 0


async def notify(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> httpx.Response:
    return await client.post("/payments/sandbox/notify", content=body, headers=headers)


@pytest.fixture
async def open_order(client: httpx.AsyncClient, payer: Payer) -> PaymentOrder:
    started = await create(client, payer, "key-0005-abcdef")
    return await PaymentOrder.get(order_number=started["order"]["orderNumber"])


def sandbox(services: Services) -> SandboxProvider:
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    return provider


async def test_bad_callbacks_change_nothing(
    client: httpx.AsyncClient,
    services: Services,
    open_order: PaymentOrder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = sandbox(services)
    headers, body = provider.paid_notification(open_order.order_number, open_order.amount)
    forged = await notify(client, {SIGNATURE_HEADER: "0" * 64}, body)
    assert (forged.status_code, forged.content) == (400, b"fail")

    def resigned(**changes: str) -> tuple[dict[str, str], bytes]:
        data = json.loads(body) | changes
        raw = json.dumps(data).encode()
        return {SIGNATURE_HEADER: provider._sign(raw)}, raw

    for changes in (
        {"amount": "0.01"},
        {"app_id": "someone-else"},
        {"merchant_id": "other"},
        {"order_number": "PO-NOT-OURS"},
    ):
        reply = await notify(client, *resigned(**changes))
        assert reply.content == b"fail", changes
    assert (await PaymentOrder.get(id=open_order.id)).status is OrderStatus.CREATED
    assert await LedgerEntry.all().count() == 0
    assert await OutboxEvent.filter(event_type="payment.received").count() == 0
    security = [r for r in caplog.records if r.name == "anxin.security"]
    assert len(security) == 5
    ok = await notify(client, headers, body)
    assert (ok.status_code, ok.content) == (200, b"success")
    repeat = await notify(client, headers, body)
    assert repeat.content == b"success"  # acknowledged again, recorded once
    assert await LedgerEntry.all().count() == 1


@postgres_only
async def test_a_hundred_copies_of_one_callback_have_one_effect(
    client: httpx.AsyncClient, services: Services, open_order: PaymentOrder, payer: Payer
) -> None:
    headers, body = sandbox(services).paid_notification(open_order.order_number, open_order.amount)
    replies = await asyncio.gather(*[notify(client, headers, body) for _ in range(100)])
    assert {r.content for r in replies} == {b"success"}
    assert await LedgerEntry.all().count() == 1
    assert await OutboxEvent.filter(event_type="payment.received").count() == 1
    assert (await PaymentOrder.get(id=open_order.id)).status is OrderStatus.PAID
    installment = await PremiumInstallment.get(id=payer.installment.id)
    assert installment.paid_at is not None


@postgres_only
async def test_concurrent_requests_with_one_key_make_one_order(
    client: httpx.AsyncClient, payer: Payer
) -> None:
    answers = await asyncio.gather(*[create(client, payer, "key-0006-abcdef") for _ in range(10)])
    ids = {a["order"]["id"] for a in answers if a["order"]}
    assert len(ids) == 1
    assert await PaymentOrder.all().count() == 1


async def test_payment_updated_is_refused_for_someone_elses_order(
    client: httpx.AsyncClient, services: Services, open_order: PaymentOrder
) -> None:
    stranger = await customer_token(services, await make_customer(services))
    order_id = str(relay.GlobalID("PaymentOrder", str(open_order.id)))
    seen = await gql(
        client,
        "query($id: ID!) { paymentOrder(id: $id) { id } node(id: $id) { id } }",
        {"id": order_id},
        token=stranger,
    )
    assert seen["data"] == {"paymentOrder": None, "node": None}
    logging.getLogger(__name__).debug("checked")


async def test_silent_orders_are_queried_then_closed(
    client: httpx.AsyncClient, services: Services, open_order: PaymentOrder
) -> None:
    from datetime import UTC, datetime, timedelta

    from payments.base import TradeState, TradeStatus
    from workflows.payments.orders import settle_silent_orders

    now = datetime.now(UTC)
    assert await settle_silent_orders(services.payment_providers, now) == {
        "recorded": 0,
        "closed": 0,
    }  # too young to ask about
    await PaymentOrder.filter(id=open_order.id).update(created_at=now - timedelta(minutes=5))
    later = now + timedelta(hours=1)  # past the 30-minute expiry
    assert await settle_silent_orders(services.payment_providers, later) == {
        "recorded": 0,
        "closed": 1,
    }
    assert (await PaymentOrder.get(id=open_order.id)).status is OrderStatus.CLOSED

    # An order the customer paid although no callback came: the query records it.
    await PaymentOrder.filter(id=open_order.id).update(status=OrderStatus.CREATED)
    sandbox(services)._trades[open_order.order_number] = TradeStatus(
        open_order.order_number, TradeState.PAID, open_order.amount, "SBX-QUERY-1", now
    )
    assert await settle_silent_orders(services.payment_providers, later) == {
        "recorded": 1,
        "closed": 0,
    }
    assert (await PaymentOrder.get(id=open_order.id)).status is OrderStatus.PAID
    assert await LedgerEntry.filter(provider_txn_id="SBX-QUERY-1").count() == 1


REFUND = """mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
  order { status refunds { refundNumber amount { amount } reason status } }
  errors { field code } } }"""


async def test_refunds_full_or_partial_never_more_than_paid(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> None:
    from models.staff import StaffRole
    from tests.factories import make_staff, staff_token

    started = await create(client, payer, "key-0007-abcdef")
    order_id = started["order"]["id"]
    await gql(client, COMPLETE, {"id": order_id}, token=payer.token)
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))

    async def refund(amount: str, key: str, token: str = supervisor) -> dict[str, Any]:
        body = await gql(
            client,
            REFUND,
            {
                "input": {
                    "orderId": order_id,
                    "amount": amount,
                    "reason": "PAID_IN_ERROR",
                    "idempotencyKey": key,
                }
            },
            token=token,
            allow_errors=True,
        )
        return body

    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    refused = await refund("100.00", "refund-key-0000", token=agent)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    first = (await refund("200.00", "refund-key-0001"))["data"]["refundPayment"]
    assert first["errors"] == []
    assert first["order"]["refunds"][0]["status"] == "SUCCESS"
    again = (await refund("200.00", "refund-key-0001"))["data"]["refundPayment"]
    assert len(again["order"]["refunds"]) == 1  # the same key: the same refund
    too_much = (await refund("400.01", "refund-key-0002"))["data"]["refundPayment"]
    assert too_much["errors"] == [{"field": "amount", "code": "INVALID_AMOUNT"}]
    rest = (await refund("400.00", "refund-key-0003"))["data"]["refundPayment"]
    assert [r["amount"]["amount"] for r in rest["order"]["refunds"]] == ["200.00", "400.00"]
    ledger = [e.amount for e in await LedgerEntry.all().order_by("id")]
    assert [str(a) for a in ledger] == ["600.00", "-200.00", "-400.00"]
    assert await OutboxEvent.filter(event_type="payment.refunded").count() == 2


@postgres_only
async def test_a_callback_racing_an_active_query_records_once(
    client: httpx.AsyncClient, services: Services, open_order: PaymentOrder
) -> None:
    from datetime import UTC, datetime, timedelta

    from payments.base import TradeState, TradeStatus
    from workflows.payments.orders import settle_silent_orders

    provider = sandbox(services)
    headers, body = provider.paid_notification(open_order.order_number, open_order.amount)
    trade_no = json.loads(body)["trade_no"]
    provider._trades[open_order.order_number] = TradeStatus(
        open_order.order_number,
        TradeState.PAID,
        open_order.amount,
        trade_no,
        datetime.now(UTC),
    )
    await PaymentOrder.filter(id=open_order.id).update(
        created_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    await asyncio.gather(
        *[notify(client, headers, body) for _ in range(20)],
        *[settle_silent_orders(services.payment_providers) for _ in range(5)],
    )
    assert await LedgerEntry.all().count() == 1
    assert await OutboxEvent.filter(event_type="payment.received").count() == 1


async def test_reconciliation_lists_differences_with_the_provider(
    client: httpx.AsyncClient, services: Services, open_order: PaymentOrder
) -> None:
    from models.clock import local_date
    from payments.base import TradeState, TradeStatus
    from workflows.payments.reconcile import reconcile

    provider = sandbox(services)
    day = local_date(open_order.created_at)
    providers = services.payment_providers
    both = {"transfer_providers": services.transfer_providers}
    assert await reconcile(providers, day, **both) == []  # waiting on both sides
    # The customer paid but no callback came and no query ran yet: money not recorded.
    provider._trades[open_order.order_number] = TradeStatus(
        open_order.order_number, TradeState.PAID, open_order.amount, "SBX-REC-1"
    )
    [missing] = await reconcile(providers, day, **both)
    assert (missing.kind, missing.reference) == ("MISSING_PAYMENT", open_order.order_number)
    headers, body = provider.paid_notification(open_order.order_number, open_order.amount)
    await notify(client, headers, body)
    assert await reconcile(providers, day, **both) == []
    # The provider says otherwise (say, reversed): we recorded a payment it does not have.
    provider._trades[open_order.order_number] = TradeStatus(
        open_order.order_number, TradeState.CLOSED
    )
    [unconfirmed] = await reconcile(providers, day, **both)
    assert unconfirmed.kind == "UNCONFIRMED_PAYMENT"


async def test_cooling_off_cancellation_refunds_everything_paid(
    client: httpx.AsyncClient, services: Services, payer: Payer
) -> None:
    from datetime import UTC, datetime, timedelta

    from models.policies import Policy, PolicyStatus, Product
    from models.staff import StaffRole
    from tests.factories import make_staff, staff_token

    started = await create(client, payer, "key-0008-abcdef")
    await gql(client, COMPLETE, {"id": started["order"]["id"]}, token=payer.token)
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    policy_id = str(relay.GlobalID("Policy", str(payer.policy.id)))
    cancel = """mutation($input: CancelPolicyInCoolingOffInput!) {
      cancelPolicyInCoolingOff(input: $input) { cancelled refunds { amount { amount }
        reason status } errors { code } } }"""

    async def run(key: str) -> dict[str, Any]:
        body = await gql(
            client,
            cancel,
            {"input": {"policyId": policy_id, "idempotencyKey": key}},
            token=supervisor,
        )
        return body["data"]["cancelPolicyInCoolingOff"]

    # The test product has no cooling-off period; then one of 15 days, issued 31 days ago.
    assert (await run("cool-off-0001"))["errors"] == [{"code": "COOLING_OFF_OVER"}]
    await Product.filter(id=payer.policy.product_id).update(cooling_off_days=15)
    assert (await run("cool-off-0002"))["errors"] == [{"code": "COOLING_OFF_OVER"}]
    await Policy.filter(id=payer.policy.id).update(issued_at=datetime.now(UTC) - timedelta(days=3))
    done = await run("cool-off-0003")
    assert done["cancelled"] is True
    assert done["refunds"] == [
        {"amount": {"amount": "600.00"}, "reason": "COOLING_OFF_CANCELLATION", "status": "SUCCESS"}
    ]
    assert (await Policy.get(id=payer.policy.id)).status is PolicyStatus.CANCELLED
    again = await run("cool-off-0003")  # a retried request: no second refund
    assert again["cancelled"] is True and len(again["refunds"]) == 1
