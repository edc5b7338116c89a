"""A change whose premium is never paid expires (15 days): the customer told, its open
order closed, the one open change of its type freed, its premium no longer payable; a
payment that still arrives is refunded and changes nothing; a paid one never expires; a
payment racing the expiry has one outcome (PostgreSQL: real row locks)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from api.services import Services
from models.endorsements import Endorsement, EndorsementStatus
from models.notifications import OutboxEvent
from models.payments import OrderStatus, PaymentOrder, Refund, RefundReason
from models.policies import InsuredPerson, Policy
from models.staff import StaffRole
from payments.sandbox import SandboxProvider
from push.templates import render
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.schema.test_cover_changes import APPROVE, NODE, PAY, SON, ask, family_policy, gid, pay
from tests.schema.test_endorsements import MEMBER
from workflows.policy_service.expiry import expire_unpaid_changes

S = EndorsementStatus
T = TypeVar("T")


async def approved_increase(
    client: httpx.AsyncClient, services: Services, key: str
) -> tuple[str, Policy, dict[str, Any]]:
    """The holder's token, the policy, and the approved increase with its premium due."""
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    asked = await ask(client, token, policy, key, sumInsured={"sumInsured": "200000"})
    decision = {
        "endorsementId": asked["endorsement"]["id"],
        "expectedVersion": asked["endorsement"]["version"],
    }
    approved = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    endorsement = approved["data"]["approvePolicyChange"]["endorsement"]
    assert endorsement["status"] == "APPROVED" and endorsement["premiumDue"]
    return token, policy, endorsement


def days(n: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=n)


async def open_order(client: httpx.AsyncClient, token: str, installment_id: str, key: str) -> Any:
    answer = await gql(
        client,
        PAY,
        {"input": {"installmentId": installment_id, "method": "SANDBOX", "idempotencyKey": key}},
        token=token,
    )
    return answer["data"]["createPremiumPayment"]


async def test_an_unpaid_increase_expires_and_frees_the_policy_for_a_new_one(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, policy, endorsement = await approved_increase(client, services, "exp-up-0001")
    due = endorsement["premiumDue"]["id"]
    order = (await open_order(client, token, due, "exp-pay-0001"))["order"]
    assert await expire_unpaid_changes(services.payment_providers, days(14)) == 0
    again = await ask(client, token, policy, "exp-up-0002", sumInsured={"sumInsured": "300000"})
    assert again["errors"][0]["code"] == "CHANGE_PENDING"  # still waiting for its premium

    assert await expire_unpaid_changes(services.payment_providers, days(16)) == 1
    assert await expire_unpaid_changes(services.payment_providers, days(17)) == 0  # once
    row = await Endorsement.get(number=endorsement["number"])
    assert row.status is S.EXPIRED and row.open_key is None
    assert row.reason == "超过15天未缴纳保费"
    closed = await PaymentOrder.get(order_number=order["orderNumber"])
    assert closed.status is OrderStatus.CLOSED
    notice = await OutboxEvent.get(event_type="endorsement.expired")
    assert notice.customer_id == policy.holder_id
    assert "超过15天未缴纳保费，申请已失效" in render(notice.event_type, notice.payload).body
    seen = await gql(client, NODE, {"id": endorsement["id"]}, token=token)
    assert seen["data"]["node"]["status"] == "EXPIRED"
    assert seen["data"]["node"]["premiumDue"]["status"] == "CANCELLED"  # not owed any more
    refused = await open_order(client, token, due, "exp-pay-0002")
    assert refused["errors"] == [{"code": "NOT_PAYABLE"}]
    fresh = await ask(client, token, policy, "exp-up-0003", sumInsured={"sumInsured": "300000"})
    assert fresh["errors"] == [] and fresh["endorsement"]["status"] == "NEEDS_REVIEW"
    assert (await Policy.get(id=policy.id)).sum_insured == Decimal("100000.00")


async def test_a_payment_after_the_expiry_is_refunded_and_changes_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, policy, endorsement = await approved_increase(client, services, "exp-late-001")
    order = (await open_order(client, token, endorsement["premiumDue"]["id"], "exp-late-p1"))[
        "order"
    ]
    assert await expire_unpaid_changes(services.payment_providers, days(16)) == 1
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    headers, body = provider.paid_notification(
        order["orderNumber"], Decimal(order["amount"]["amount"])
    )
    reply = await client.post("/payments/sandbox/notify", content=body, headers=headers)
    assert reply.content == b"success"  # recorded: the money is booked, then given back
    refund = await Refund.get()
    assert refund.reason is RefundReason.PAID_IN_ERROR and refund.amount == Decimal("654.25")
    row = await Endorsement.get(number=endorsement["number"])
    assert row.status is S.EXPIRED
    assert (await Policy.get(id=policy.id)).sum_insured == Decimal("100000.00")


async def test_a_paid_increase_waiting_for_its_day_never_expires(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, _policy, endorsement = await approved_increase(client, services, "exp-paid-001")
    await pay(client, services, token, endorsement["premiumDue"]["id"], "exp-paid-p1")
    assert await expire_unpaid_changes(services.payment_providers, days(16)) == 0
    assert (await Endorsement.get(number=endorsement["number"])).status is S.APPROVED


async def later(delay: float, work: Awaitable[T]) -> T:
    await asyncio.sleep(delay)
    return await work


async def test_an_unpaid_member_addition_expires_and_the_member_is_never_insured(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    await InsuredPerson.filter(policy_id=policy.id, name="张小明").delete()
    token = await customer_token(services, holder)
    member = {"name": "张小明", "idNumber": SON, "relationToHolder": "CHILD"}
    variables = {"policyId": gid("Policy", policy.id), "idempotencyKey": "exp-member-01"}
    asked = await gql(client, MEMBER, {"input": variables | {"insuredMember": member}}, token=token)
    endorsement = asked["data"]["requestPolicyChange"]["endorsement"]
    assert endorsement["status"] == "APPROVED" and endorsement["premiumDue"]["status"] == "UNPAID"
    assert await expire_unpaid_changes(services.payment_providers, days(16)) == 1
    assert (await Endorsement.get(number=endorsement["number"])).status is S.EXPIRED
    assert not await InsuredPerson.exists(policy_id=policy.id, name="张小明")
    again = variables | {"idempotencyKey": "exp-member-02", "insuredMember": member}
    fresh = await gql(client, MEMBER, {"input": again}, token=token)
    assert fresh["data"]["requestPolicyChange"]["errors"] == []


@postgres_only
async def test_a_payment_racing_the_expiry_has_one_outcome(
    client: httpx.AsyncClient, services: Services
) -> None:
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    outcomes = set()
    for n, delay in enumerate((0.0, 0.005, 0.01, 0.02, 0.05, 0.1)):
        token, _policy, endorsement = await approved_increase(client, services, f"race-up-{n:04d}")
        order = (
            await open_order(client, token, endorsement["premiumDue"]["id"], f"race-pay-{n:04d}")
        )["order"]
        headers, body = provider.paid_notification(
            order["orderNumber"], Decimal(order["amount"]["amount"])
        )
        _, reply = await asyncio.gather(
            later(delay, expire_unpaid_changes(services.payment_providers, days(16))),
            client.post("/payments/sandbox/notify", content=body, headers=headers),
        )
        assert reply.content == b"success"
        row = await Endorsement.get(number=endorsement["number"])
        refunds = await Refund.filter(order__order_number=order["orderNumber"]).count()
        # Expired and refunded, or paid and waiting for its day: never both, never neither.
        assert (row.status, refunds) in {(S.EXPIRED, 1), (S.APPROVED, 0)}, (row.status, refunds)
        outcomes.add(row.status)
    print("race outcomes:", sorted(outcomes))  # which side wins is up to the scheduler
    assert outcomes
