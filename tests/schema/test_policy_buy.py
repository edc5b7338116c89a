"""Buying online end to end through GraphQL: quote → apply → underwriter referral →
accept → pay (the sandbox callback) → the policy issued, visible, with its welcome
notification; declines, refused identities, beneficiaries' shares, expiry, and who may
see, pay and decide what."""

from __future__ import annotations

import asyncio
import contextvars
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from pypdf import PdfReader
from strawberry import relay
from tortoise.transactions import in_transaction

from api.services import Services
from models.clock import local_today
from models.notifications import Notification, OutboxEvent
from models.payments import OrderStatus, PaymentOrder, Refund, RefundReason
from models.policies import Policy, PolicyStatus
from models.policy_applications import ApplicationStatus, PolicyApplication
from models.staff import StaffRole
from payments.sandbox import SandboxProvider
from push.outbox import OutboxRelay
from tests.conftest import postgres_only
from tests.factories import (
    customer_token,
    id_number,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.policy_buy_helpers import accident_product, travel_product
from workflows.payments.orders import handle_callback
from workflows.policy_service.issuance import expire_applications
from workflows.reminders import expiry_reminders

HOLDER_ID = id_number("110101", "19900307", "123")  # male, born 1990-03-07
SPOUSE_ID = id_number("310104", "19920815", "246")  # female
CHILD_ID = id_number("310104", "20150101", "135")

QUOTE = """query($input: QuoteInput!) { quote(input: $input) {
  age plans { plan { code name } available premium { amount } reasons }
  errors { field code message } } }"""
APPLY = """mutation($input: ApplyForPolicyInput!) { applyForPolicy(input: $input) {
  application { id number status kind premium { amount } decisionReason planName
    insuredIdNumber beneficiariesByLaw beneficiaries { name idNumber sharePercent
    consentRecordedAt } payBy installmentToPay { id amount { amount } status }
    policy { id } underwritingNotes }
  errors { field code message } } }"""
QUEUE = """{ underwritingQueue { totalCount edges { node { id number status underwritingNotes
  insuredIdNumber } } } }"""
DECIDE = """mutation($input: DecideApplicationInput!) { decideApplication(input: $input) {
  application { id status decisionReason decidedByUnderwriter installmentToPay { id } }
  errors { field code } } }"""
PAY = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { id orderNumber amount { amount } } errors { code } } }"""
COMPLETE = """mutation($id: ID!) { completeSandboxPayment(input: {orderId: $id}) {
  order { status } errors { code } } }"""
MINE = "{ myPolicies { totalCount edges { node { id number status } } } }"
DOCUMENTS = """query($id: ID!) { policyDocuments(policyId: $id) {
  documents { kind downloadUrl } errors { code } } }"""
APPLICATION = """query($id: ID!) { node(id: $id) { ... on PolicyApplication { id status number
  policy { id number status issuedAt coverages { code sumInsured { amount } }
    insuredPersons { name idNumber relationToHolder }
    beneficiaries { name sharePercent } installments { status } } } } }"""


def gid(type_name: str, value: object) -> str:
    return str(relay.GlobalID(type_name, str(value)))


def start(days: int = 3) -> str:
    return (local_today() + timedelta(days=days)).isoformat()


async def holder(services: Services) -> tuple[Any, str]:
    customer = await make_customer(services, name="王小明", id_number_value=HOLDER_ID)
    return customer, await customer_token(services, customer)


def apply_input(product: Any, key: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "productId": gid("Product", product.id),
        "planCode": "BASIC",
        "startDate": start(),
        "occupationClass": 1,
        "healthAnswers": [
            {"key": "HOSPITAL", "answer": False},
            {"key": "CANCER", "answer": False},
        ],
        "idempotencyKey": key,
    }
    return values | overrides


async def apply(client: httpx.AsyncClient, token: str, values: dict[str, Any]) -> dict[str, Any]:
    body = await gql(client, APPLY, {"input": values}, token=token)
    return body["data"]["applyForPolicy"]


async def pay(client: httpx.AsyncClient, token: str, installment_id: str, key: str) -> str:
    body = await gql(
        client,
        PAY,
        {"input": {"installmentId": installment_id, "method": "SANDBOX", "idempotencyKey": key}},
        token=token,
    )
    answer = body["data"]["createPremiumPayment"]
    assert answer["errors"] == [], answer
    return str(answer["order"]["id"])


async def test_quote_prices_every_plan_with_the_rules_and_says_why_not(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    older = id_number("110101", "19800101", "111")  # 46 or so: PLUS priced at 41-50
    body = await gql(
        client,
        QUOTE,
        {
            "input": {
                "productId": gid("Product", product.id),
                "startDate": start(),
                "occupationClass": 2,
                "idNumber": older,
            }
        },
        token=token,
    )
    result = body["data"]["quote"]
    assert result["errors"] == []
    basic, plus = result["plans"]
    assert basic["available"] and basic["premium"] == {"amount": "180.00"}  # 150 × 1.2
    assert any("职业类别2类系数1.20" in r for r in basic["reasons"])
    assert plus["premium"] == {"amount": "360.00"}  # 300 × 1.2
    # Occupation class 3: PLUS insures only up to class 2.
    body = await gql(
        client,
        QUOTE,
        {
            "input": {
                "productId": gid("Product", product.id),
                "startDate": start(),
                "occupationClass": 3,
                "birthDate": "1975-01-01",
            }
        },
        token=token,
    )
    basic, plus = body["data"]["quote"]["plans"]
    assert basic["available"] and basic["premium"] == {"amount": "225.00"}
    assert not plus["available"] and plus["premium"] is None
    assert "周岁，本计划限18至50周岁" in plus["reasons"][0]  # age first
    travel = await travel_product()
    body = await gql(
        client,
        QUOTE,
        {
            "input": {
                "productId": gid("Product", travel.id),
                "startDate": start(),
                "idNumber": HOLDER_ID,
                "destination": "EUROPE",
                "travelDays": 10,
            }
        },
        token=token,
    )
    [trip] = body["data"]["quote"]["plans"]
    assert trip["premium"] == {"amount": "192.00"}  # ≤ 30 days 120 × Europe 1.6
    bad = await gql(
        client,
        QUOTE,
        {"input": {"productId": gid("Product", travel.id), "startDate": start(), "idNumber": "1"}},
        token=token,
    )
    assert bad["data"]["quote"]["errors"][0]["code"] == "INVALID_ID_NUMBER"


async def test_referral_accept_pay_and_the_policy_is_issued(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    customer, token = await holder(services)
    stranger = await customer_token(services, await make_customer(services))
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    underwriter = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    values = apply_input(
        product,
        "apply-0001-abcdef",
        healthAnswers=[{"key": "HOSPITAL", "answer": True}, {"key": "CANCER", "answer": False}],
    )
    answer = await apply(client, token, values)
    application = answer["application"]
    assert answer["errors"] == [] and application["status"] == "REFERRED"
    assert application["number"].startswith("TB")
    assert application["installmentToPay"] is None and application["underwritingNotes"] == []
    assert application["insuredIdNumber"] == f"110{'*' * 11}{HOLDER_ID[-4:]}"
    again = await apply(client, token, values)  # a retry: the same application
    assert again["application"]["id"] == application["id"]
    assert await PolicyApplication.all().count() == 1

    # Others see nothing; an agent without UNDERWRITE can neither list nor decide.
    hidden = await gql(client, APPLICATION, {"id": application["id"]}, token=stranger)
    assert hidden["data"]["node"] is None
    decide = {"applicationId": application["id"], "decision": "ACCEPT", "reason": "住院已痊愈"}
    refused = await gql(client, DECIDE, {"input": decide}, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await gql(client, QUEUE, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    refused = await gql(client, DECIDE, {"input": decide}, token=token, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    queue = (await gql(client, QUEUE, token=underwriter))["data"]["underwritingQueue"]
    assert queue["totalCount"] == 1
    assert queue["edges"][0]["node"]["underwritingNotes"] == ["两年内住院史"]
    decided = (await gql(client, DECIDE, {"input": decide}, token=underwriter))["data"]
    accepted = decided["decideApplication"]["application"]
    assert accepted["status"] == "ACCEPTED" and accepted["decidedByUnderwriter"]
    twice = (await gql(client, DECIDE, {"input": decide}, token=underwriter))["data"]
    assert twice["decideApplication"]["errors"][0]["code"] == "ALREADY_DECIDED"

    # Accepted, not paid: no policy in any list, and only the holder can pay.
    assert (await gql(client, MINE, token=token))["data"]["myPolicies"]["totalCount"] == 0
    installment_id = accepted["installmentToPay"]["id"]
    theirs = await gql(
        client,
        PAY,
        {
            "input": {
                "installmentId": installment_id,
                "method": "SANDBOX",
                "idempotencyKey": "k" * 9,
            }
        },
        token=stranger,
    )
    assert theirs["data"]["createPremiumPayment"]["errors"][0]["code"] == "INSTALLMENT_NOT_FOUND"
    order_id = await pay(client, token, installment_id, "pay-0001-abcdef")
    foreign = await gql(client, COMPLETE, {"id": order_id}, token=stranger)
    assert foreign["data"]["completeSandboxPayment"]["errors"][0]["code"] == "ORDER_NOT_FOUND"
    paid = await gql(client, COMPLETE, {"id": order_id}, token=token)
    assert paid["data"]["completeSandboxPayment"]["order"]["status"] == "PAID"

    node = (await gql(client, APPLICATION, {"id": application["id"]}, token=token))["data"]
    issued = node["node"]
    assert issued["status"] == "ISSUED"
    policy = issued["policy"]
    assert policy["number"].startswith("AX") and policy["status"] == "PENDING"
    assert [c["code"] for c in policy["coverages"]] == ["DEATH", "MEDICAL"]
    assert policy["insuredPersons"][0]["relationToHolder"] == "SELF"
    assert policy["installments"] == [{"status": "PAID"}]
    mine = (await gql(client, MINE, token=token))["data"]["myPolicies"]
    assert mine["totalCount"] == 1 and mine["edges"][0]["node"]["number"] == policy["number"]
    row = await Policy.get(number=policy["number"])
    assert row.holder_id == customer.id and row.issued_at > datetime.now(UTC) - timedelta(minutes=5)

    assert await OutboxEvent.filter(event_type="policy.issued").count() == 1
    await OutboxRelay(services.bus, services.queue).relay_once()
    [welcome] = await Notification.filter(customer_id=customer.id, kind="policy.issued")
    assert policy["number"] in welcome.body and "犹豫期至" in welcome.body

    # ... with its electronic policy (电子保单), the insured's ID number masked in it.
    listed = await gql(client, DOCUMENTS, {"id": policy["id"]}, token=token)
    documents = listed["data"]["policyDocuments"]["documents"]
    assert [d["kind"] for d in documents] == ["POLICY", "PREMIUM_RECEIPT"]
    pdf = await client.get(documents[0]["downloadUrl"])
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert policy["number"] in text and HOLDER_ID[-4:] in text and HOLDER_ID not in text


async def test_decline_by_rule_leaves_no_policy(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    answer = await apply(
        client,
        token,
        apply_input(
            product,
            "apply-0002-abcdef",
            healthAnswers=[{"key": "HOSPITAL", "answer": True}, {"key": "CANCER", "answer": True}],
        ),
    )
    application = answer["application"]
    assert application["status"] == "DECLINED"
    assert application["decisionReason"] == "恶性肿瘤病史"
    assert application["installmentToPay"] is None and application["policy"] is None
    assert await Policy.all().count() == 0
    assert await OutboxEvent.filter(event_type="application.declined").count() == 1


async def test_bad_identities_are_refused_and_nothing_is_written(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    wrong_check = CHILD_ID[:-1] + ("0" if CHILD_ID[-1] != "0" else "1")
    cases = [
        ({"name": "王小红", "idNumber": wrong_check}, "INVALID_ID_NUMBER"),
        ({"name": "王小红", "idNumber": "11010119920230123X"}, "INVALID_ID_NUMBER"),  # 2月30日
        ({"name": "王小红", "idNumber": SPOUSE_ID, "birthDate": "1992-08-16"}, "IDENTITY_MISMATCH"),
        ({"name": "王小红", "idNumber": SPOUSE_ID, "sex": "MALE"}, "IDENTITY_MISMATCH"),
        ({"name": "冒用者", "idNumber": SPOUSE_ID}, "REAL_NAME_FAILED"),
    ]
    for index, (insured, code) in enumerate(cases):
        answer = await apply(
            client,
            token,
            apply_input(product, f"apply-bad-{index:04d}", relation="SPOUSE", insured=insured),
        )
        assert answer["application"] is None
        assert answer["errors"][0]["code"] == code, (insured, answer)
    # The holder's own identity is checked too: a customer without an ID number cannot buy.
    assert await PolicyApplication.all().count() == 0
    assert await Policy.all().count() == 0


async def test_named_beneficiaries_need_full_shares_and_the_insureds_consent(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    child = {"name": "王小宝", "idNumber": CHILD_ID}
    parent = {"name": "王大山", "idNumber": id_number("110101", "19600101", "117")}
    spouse = {"name": "李小红", "idNumber": SPOUSE_ID, "sex": "FEMALE", "birthDate": "1992-08-15"}

    def named(*shares: str) -> list[dict[str, Any]]:
        people = [(child, "CHILD"), (parent, "PARENT")]
        return [
            {"person": person, "relationToInsured": relation, "sharePercent": share}
            for (person, relation), share in zip(people, shares, strict=False)
        ]

    short = await apply(
        client, token, apply_input(product, "apply-0010-abcdef", beneficiaries=named("60", "30"))
    )
    assert short["errors"][0]["code"] == "INVALID_BENEFICIARIES"
    no_consent = await apply(
        client,
        token,
        apply_input(
            product,
            "apply-0011-abcdef",
            relation="SPOUSE",
            insured=spouse,
            beneficiaries=named("60", "40"),
        ),
    )
    assert no_consent["errors"][0]["code"] == "CONSENT_REQUIRED"
    assert await PolicyApplication.all().count() == 0
    ok = await apply(
        client,
        token,
        apply_input(
            product,
            "apply-0012-abcdef",
            relation="SPOUSE",
            insured=spouse,
            beneficiaries=named("60", "40"),
            insuredConsent=True,
        ),
    )
    application = ok["application"]
    assert ok["errors"] == [] and application["status"] == "ACCEPTED"
    assert not application["beneficiariesByLaw"]
    assert [b["sharePercent"] for b in application["beneficiaries"]] == ["60.00", "40.00"]
    assert all(b["consentRecordedAt"] for b in application["beneficiaries"])
    assert CHILD_ID not in str(application)  # masked only
    order_id = await pay(client, token, application["installmentToPay"]["id"], "pay-0012-abcdef")
    await gql(client, COMPLETE, {"id": order_id}, token=token)
    node = (await gql(client, APPLICATION, {"id": application["id"]}, token=token))["data"]
    policy = node["node"]["policy"]
    assert [b["sharePercent"] for b in policy["beneficiaries"]] == ["60.00", "40.00"]
    assert policy["insuredPersons"][0]["relationToHolder"] == "SPOUSE"


async def test_an_unpaid_application_expires_without_a_policy_and_a_late_payment_is_refunded(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    customer, token = await holder(services)
    answer = await apply(client, token, apply_input(product, "apply-0020-abcdef"))
    application = answer["application"]
    assert application["status"] == "ACCEPTED" and application["payBy"]
    order_id = await pay(client, token, application["installmentToPay"]["id"], "pay-0020-abcdef")
    row = await PolicyApplication.get(number=application["number"])
    assert row.pay_by is not None
    assert (
        await expire_applications(services.payment_providers, row.pay_by - timedelta(seconds=1))
        == 0
    )
    assert await expire_applications(services.payment_providers, row.pay_by) == 1
    await row.refresh_from_db()
    assert row.status is ApplicationStatus.EXPIRED
    policy = await Policy.get(id=row.policy_id)
    assert policy.status is PolicyStatus.NOT_TAKEN_UP
    order = await PaymentOrder.get(policy_id=policy.id)
    assert order.status is OrderStatus.CLOSED
    assert (await gql(client, MINE, token=token))["data"]["myPolicies"]["totalCount"] == 0
    refused = await gql(
        client,
        PAY,
        {
            "input": {
                "installmentId": application["installmentToPay"]["id"],
                "method": "SANDBOX",
                "idempotencyKey": "pay-0021-abcdef",
            }
        },
        token=token,
    )
    assert refused["data"]["createPremiumPayment"]["errors"][0]["code"] == "NOT_PAYABLE"
    # The customer paid at the provider just before it closed: the money goes back.
    sandbox = services.payment_providers["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    headers, body = sandbox.paid_notification(order.order_number, order.amount)
    reply = await client.post("/payments/sandbox/notify", content=body, headers=headers)
    assert reply.status_code == 200
    [refund] = await Refund.filter(order_id=order.id)
    assert refund.reason is RefundReason.PAID_IN_ERROR and refund.amount == order.amount
    await row.refresh_from_db()
    assert row.status is ApplicationStatus.EXPIRED
    assert (await Policy.get(id=policy.id)).status is PolicyStatus.NOT_TAKEN_UP
    assert await OutboxEvent.filter(event_type="policy.issued").count() == 0
    del customer, order_id


@postgres_only
async def test_a_payment_racing_the_expiry_has_exactly_one_outcome(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    sandbox = services.payment_providers["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    outcomes = set()
    for round_ in range(6):
        answer = await apply(client, token, apply_input(product, f"race-{round_:04d}-abcdef"))
        application = answer["application"]
        installment_id = application["installmentToPay"]["id"]
        await pay(client, token, installment_id, f"rpay-{round_:04d}-abcdef")
        row = await PolicyApplication.get(number=application["number"])
        assert row.pay_by is not None
        order = await PaymentOrder.get(policy_id=row.policy_id)
        headers, body = sandbox.paid_notification(order.order_number, order.amount)
        expiry = expire_applications(services.payment_providers, row.pay_by)
        callback = handle_callback(sandbox, headers, body)  # as the callback route calls it
        if round_ % 2:  # either starts first: both orders of arrival are raced
            reply, expired = await asyncio.gather(callback, expiry)
        else:
            expired, reply = await asyncio.gather(expiry, callback)
        assert reply.status_code == 200, reply
        await row.refresh_from_db()
        policy = await Policy.get(id=row.policy_id)
        refunds = await Refund.filter(order_id=order.id).count()
        assert (await PaymentOrder.get(id=order.id)).status is OrderStatus.PAID
        if row.status is ApplicationStatus.ISSUED:
            assert expired == 0 and refunds == 0
            assert policy.status in (PolicyStatus.PENDING, PolicyStatus.ACTIVE)
        else:
            assert row.status is ApplicationStatus.EXPIRED
            assert expired == 1 and refunds == 1
            assert policy.status is PolicyStatus.NOT_TAKEN_UP
        outcomes.add(row.status)
    issued = await OutboxEvent.filter(event_type="policy.issued").count()
    expired_events = await OutboxEvent.filter(event_type="application.expired").count()
    assert issued + expired_events == 6  # one outcome per application, never both
    assert outcomes <= {ApplicationStatus.ISSUED, ApplicationStatus.EXPIRED}


async def _until_someone_waits_for_a_lock(database_url: str) -> None:
    """Until another session of the test database waits on a row lock (a condition,
    not a timing: it polls the server's own view of who waits)."""
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        while not await connection.fetchval(query):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.01)
    finally:
        await connection.close()


@postgres_only
async def test_the_expiry_waits_for_a_payment_holding_the_lock_and_then_leaves_it_issued(
    client: httpx.AsyncClient, services: Services, database_url: str
) -> None:
    """The other order of the race, pinned: the payment's transaction holds the
    application's lock when the expiry job reaches it; the job waits, then finds the
    application issued and changes nothing (no refund, no second outcome)."""
    product = await accident_product()
    _, token = await holder(services)
    sandbox = services.payment_providers["sandbox"]
    assert isinstance(sandbox, SandboxProvider)
    answer = await apply(client, token, apply_input(product, "race-lock-abcdef"))
    application = answer["application"]
    await pay(client, token, application["installmentToPay"]["id"], "rpay-lock-abcdef")
    row = await PolicyApplication.get(number=application["number"])
    assert row.pay_by is not None
    order = await PaymentOrder.get(policy_id=row.policy_id)
    headers, body = sandbox.paid_notification(order.order_number, order.amount)
    outside = contextvars.copy_context()  # the job runs outside the payment's transaction
    async with in_transaction():
        await PolicyApplication.filter(id=row.id).select_for_update().first()
        job = asyncio.create_task(
            expire_applications(services.payment_providers, row.pay_by), context=outside
        )
        await _until_someone_waits_for_a_lock(database_url)
        reply = await handle_callback(sandbox, headers, body)  # the payment, in this transaction
        assert reply.status_code == 200
    assert await job == 0
    await row.refresh_from_db()
    assert row.status is ApplicationStatus.ISSUED
    assert (await Policy.get(id=row.policy_id)).status is PolicyStatus.PENDING
    assert await Refund.filter(order_id=order.id).count() == 0
    assert await OutboxEvent.filter(event_type="application.expired").count() == 0


RENEWAL_OFFER = """query($id: ID!) { renewalOffer(policyId: $id) { available unavailableReason
  startsAt endsAt premium { amount } reRated changes application { id status } } }"""
RENEW = """mutation($input: RenewPolicyInput!) { renewPolicy(input: $input) {
  application { id kind status premium { amount } changes installmentToPay { id }
    renewalOf { id } }
  policy { id } errors { code message } } }"""
LINKS = """query($id: ID!) { node(id: $id) { ... on Policy { id number startsAt endsAt status
  renewedFrom { id } renewedBy { id } } } }"""


async def test_renewal_re_rated_one_tap_paid_and_no_gap(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    # 40 on the first start date, 41 when the renewal starts: the next age band.
    birth = local_today().replace(year=local_today().year - 41) + timedelta(days=10)
    customer = await make_customer(
        services, name="赵续保", id_number_value=id_number("110101", f"{birth:%Y%m%d}", "153")
    )
    token = await customer_token(services, customer)
    stranger = await customer_token(services, await make_customer(services))
    answer = await apply(client, token, apply_input(product, "apply-0030-abcdef"))
    first = answer["application"]
    assert first["premium"] == {"amount": "100.00"}
    order_id = await pay(client, token, first["installmentToPay"]["id"], "pay-0030-abcdef")
    await gql(client, COMPLETE, {"id": order_id}, token=token)
    old = await Policy.get(id=(await PolicyApplication.get(id=_uuid(first["id"]))).policy_id)
    # A year on: the policy ends in 20 days.
    now = datetime.now(UTC)
    await Policy.filter(id=old.id).update(
        status=PolicyStatus.ACTIVE,
        starts_at=now - timedelta(days=345),
        ends_at=now + timedelta(days=20),
    )
    old = await Policy.get(id=old.id)
    old_id = gid("Policy", old.id)

    assert (await gql(client, RENEWAL_OFFER, {"id": old_id}, token=stranger))["data"][
        "renewalOffer"
    ] is None
    offer = (await gql(client, RENEWAL_OFFER, {"id": old_id}, token=token))["data"]["renewalOffer"]
    assert offer["available"] and offer["reRated"]
    assert offer["premium"] == {"amount": "150.00"}
    assert "被保险人年龄由40周岁变为41周岁" in offer["changes"]
    assert "保费由100.00元调整为150.00元" in offer["changes"]

    def renew(premium: str, key: str) -> dict[str, Any]:
        return {"input": {"policyId": old_id, "premium": premium, "idempotencyKey": key}}

    stale = (await gql(client, RENEW, renew("100.00", "renew-0001-abcdef"), token=token))["data"]
    assert stale["renewPolicy"]["errors"][0]["code"] == "PREMIUM_CHANGED"
    theirs = await gql(client, RENEW, renew("150.00", "renew-0002-abcdef"), token=stranger)
    assert theirs["data"]["renewPolicy"]["errors"][0]["code"] == "POLICY_NOT_FOUND"
    done = (await gql(client, RENEW, renew("150.00", "renew-0003-abcdef"), token=token))["data"]
    application = done["renewPolicy"]["application"]
    assert application["kind"] == "RENEWAL" and application["status"] == "ACCEPTED"
    assert application["renewalOf"] == {"id": old_id}
    twice = (await gql(client, RENEW, renew("150.00", "renew-0004-abcdef"), token=token))["data"]
    assert twice["renewPolicy"]["errors"][0]["code"] == "RENEWAL_EXISTS"
    offer = (await gql(client, RENEWAL_OFFER, {"id": old_id}, token=token))["data"]["renewalOffer"]
    assert offer["application"]["id"] == application["id"]

    order_id = await pay(client, token, application["installmentToPay"]["id"], "pay-0031-abcdef")
    await gql(client, COMPLETE, {"id": order_id}, token=token)
    renewed = await PolicyApplication.get(id=_uuid(application["id"]))
    assert renewed.status is ApplicationStatus.ISSUED
    new = await Policy.get(id=renewed.policy_id)
    assert new.starts_at == old.ends_at  # no gap, no overlap
    assert new.status is PolicyStatus.PENDING and new.premium == 150
    new_view = (await gql(client, LINKS, {"id": gid("Policy", new.id)}, token=token))["data"]
    assert new_view["node"]["renewedFrom"] == {"id": old_id}
    old_view = (await gql(client, LINKS, {"id": old_id}, token=token))["data"]
    assert old_view["node"]["renewedBy"] == {"id": gid("Policy", new.id)}
    assert (await gql(client, MINE, token=token))["data"]["myPolicies"]["totalCount"] == 2


async def test_a_policy_without_rating_tables_renews_at_its_premium_and_reminders_link(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer, token = await holder(services)
    policy = await make_policy(services, customer)
    offer = await gql(client, RENEWAL_OFFER, {"id": gid("Policy", policy.id)}, token=token)
    assert offer["data"]["renewalOffer"]["available"] is False  # ends in 335 days
    assert "续保将于" in offer["data"]["renewalOffer"]["unavailableReason"]
    now = datetime.now(UTC)
    await Policy.filter(id=policy.id).update(ends_at=now + timedelta(days=6, hours=12))
    offer = await gql(client, RENEWAL_OFFER, {"id": gid("Policy", policy.id)}, token=token)
    answer = offer["data"]["renewalOffer"]
    assert answer["available"] and not answer["reRated"]
    assert answer["premium"] == {"amount": "1200.00"}
    ending = await make_policy(services, customer, product=await make_product(renewable=False))
    await Policy.filter(id=ending.id).update(ends_at=now + timedelta(days=6, hours=12))
    assert await expiry_reminders(local_today()) == 2
    kinds = {str(e.entity_id): e.event_type for e in await OutboxEvent.filter(entity_type="policy")}
    assert kinds == {str(policy.id): "policy.expiring", str(ending.id): "policy.ending"}
    await OutboxRelay(services.bus, services.queue).relay_once()
    [link] = await Notification.filter(customer_id=customer.id, kind="policy.expiring")
    assert link.deep_link.endswith("/renewal") and "App内续保" in link.body


def _uuid(global_id: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


async def test_a_referral_undecided_when_cover_would_start_cannot_be_accepted_and_expires(
    client: httpx.AsyncClient, services: Services
) -> None:
    product = await accident_product()
    _, token = await holder(services)
    underwriter = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    answer = await apply(
        client,
        token,
        apply_input(
            product,
            "apply-0040-abcdef",
            healthAnswers=[{"key": "HOSPITAL", "answer": True}, {"key": "CANCER", "answer": False}],
        ),
    )
    application = answer["application"]
    row = await PolicyApplication.get(number=application["number"])
    await PolicyApplication.filter(id=row.id).update(
        starts_at=datetime.now(UTC) - timedelta(hours=1)
    )
    decide = {"applicationId": application["id"], "decision": "ACCEPT", "reason": "可承保"}
    late = (await gql(client, DECIDE, {"input": decide}, token=underwriter))["data"]
    assert late["decideApplication"]["errors"][0]["code"] == "INVALID_START_DATE"
    assert await expire_applications(services.payment_providers) == 1
    await row.refresh_from_db()
    assert row.status is ApplicationStatus.EXPIRED and row.policy_id is None
    assert await Policy.all().count() == 0
