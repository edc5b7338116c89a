"""Changes of a policy (保全) through GraphQL, each through approval to effect: a
beneficiary change (the holder is the insured; the insured consents in the app; staff
check written consent), a surrender whose value the payouts job pays once; bad input
changes nothing; who may do what; races on PostgreSQL end with one effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.clock import local_today
from models.customers import Customer
from models.endorsements import Endorsement, EndorsementStatus, ProductServiceTerms
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Payout, PayoutStatus
from models.policies import (
    Beneficiary,
    InsuredPerson,
    Policy,
    PolicyStatus,
    PremiumInstallment,
    ProductKind,
)
from models.staff import StaffRole
from payments.sandbox import SandboxProvider
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
from workflows.payments.payouts import send_queued_payouts

FIELDS = """endorsement { id number version type status statusName consentRequired consentedAt
    reason effectiveDate amount { amount }
    beneficiariesBefore { name idNumber sharePercent }
    beneficiariesAfter { name idNumber relationToInsured sharePercent }
    surrender { amount { amount } premiumPaid { amount } policyYear percent account }
    timeline { action status note byStaff } }
  policy { id status beneficiaries { name idNumber sharePercent } }
  errors { field message code }"""
REQUEST = f"""mutation($input: RequestPolicyChangeInput!) {{ requestPolicyChange(input: $input) {{
  {FIELDS} }} }}"""
CONSENT = f"""mutation($input: ConsentToPolicyChangeInput!) {{
  consentToPolicyChange(input: $input) {{ {FIELDS} }} }}"""
CANCEL = f"""mutation($input: CancelPolicyChangeInput!) {{
  cancelPolicyChange(input: $input) {{ {FIELDS} }} }}"""
APPROVE = f"""mutation($input: PolicyChangeDecisionInput!) {{
  approvePolicyChange(input: $input) {{ {FIELDS} }} }}"""
REJECT = APPROVE.replace("approvePolicyChange", "rejectPolicyChange")
QUOTE = """query($id: ID!) { surrenderQuote(policyId: $id) {
  quote { amount { amount } premiumPaid { amount } policyYear percent }
  errors { code message } } }"""
QUEUE = (
    """{ endorsementReviewQueue(first: 10) { totalCount edges { node { id number status } } } }"""
)
HISTORY = """query($id: ID!) { node(id: $id) { ... on Policy { endorsements(first: 10) {
  totalCount edges { node { number type status } } } } } }"""

SON = id_number("310101", "20100203", "011")
DAUGHTER = id_number("310101", "20120405", "022")


def gid(type_name: str, value: Any) -> str:
    return str(relay.GlobalID(type_name, str(value)))


def two_children(son_share: str = "60.00", daughter_share: str = "40.00") -> dict[str, Any]:
    return {
        "beneficiaries": [
            {
                "name": "张小明",
                "idNumber": SON,
                "relationToInsured": "CHILD",
                "sharePercent": son_share,
            },
            {
                "name": "张小红",
                "idNumber": DAUGHTER,
                "relationToInsured": "CHILD",
                "sharePercent": daughter_share,
            },
        ]
    }


async def request(
    client: httpx.AsyncClient, token: str, policy: Policy, key: str, **change: Any
) -> dict[str, Any]:
    body = await gql(
        client,
        REQUEST,
        {"input": {"policyId": gid("Policy", policy.id), "idempotencyKey": key, **change}},
        token=token,
    )
    return body["data"]["requestPolicyChange"]


async def test_the_insured_holder_changes_beneficiaries_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    old = await make_customer(services, "李娜")
    policy = await make_policy(services, holder, beneficiaries=[old])
    token = await customer_token(services, holder)

    answer = await request(client, token, policy, "change-0001", beneficiaries=two_children())
    assert answer["errors"] == []
    endorsement = answer["endorsement"]
    assert endorsement["number"].startswith("PD")
    assert endorsement["type"] == "BENEFICIARIES" and endorsement["status"] == "EFFECTIVE"
    assert endorsement["consentRequired"] is False and endorsement["effectiveDate"]
    assert [step["status"] for step in endorsement["timeline"]] == [
        "REQUESTED",
        "APPROVED",
        "EFFECTIVE",
    ]
    assert endorsement["beneficiariesBefore"][0]["name"] == "李娜"
    assert endorsement["beneficiariesAfter"][0]["idNumber"] != SON  # masked
    assert SON[6:14] not in str(endorsement)  # the birth date is masked
    shown = answer["policy"]["beneficiaries"]
    assert [(b["name"], b["sharePercent"]) for b in shown] == [
        ("张小明", "60.00"),
        ("张小红", "40.00"),
    ]
    stored = await Endorsement.get(id=relay.GlobalID.from_id(endorsement["id"]).node_id)
    assert SON not in (stored.sealed_after or "") and SON not in str(stored.after)
    rows = await Beneficiary.filter(policy_id=policy.id).order_by("position")
    assert services.pii.decrypt(rows[0].id_number_encrypted, "id_number") == SON
    steps = await OutboxEvent.filter(entity_type="endorsement").values_list("event_type", flat=True)
    assert list(steps) == [
        "endorsement.requested",
        "endorsement.approved",
        "endorsement.effective",
    ]
    # The same key and input replays the answer; other input with it is refused.
    again = await request(client, token, policy, "change-0001", beneficiaries=two_children())
    assert again["endorsement"]["id"] == endorsement["id"]
    other = await request(
        client, token, policy, "change-0001", beneficiaries=two_children("50.00", "50.00")
    )
    assert other["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"
    history = await gql(client, HISTORY, {"id": gid("Policy", policy.id)}, token=token)
    assert history["data"]["node"]["endorsements"]["totalCount"] == 1


async def test_bad_input_changes_nothing(client: httpx.AsyncClient, services: Services) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    token = await customer_token(services, holder)
    cases = [
        ({"beneficiaries": two_children("60.00", "30.00")}, "SHARES_NOT_100"),
        ({"beneficiaries": two_children("100.00", "0.00")}, "INVALID_SHARE"),
        ({}, "ONE_CHANGE_REQUIRED"),
        (
            {
                "beneficiaries": two_children(),
                "surrender": {"confirmedAmount": "1.00", "provider": "SANDBOX", "account": "x"},
            },
            "ONE_CHANGE_REQUIRED",
        ),
    ]
    bad_id = two_children()
    bad_id["beneficiaries"][0]["idNumber"] = SON[:-1] + ("0" if SON[-1] != "0" else "1")
    cases.append(({"beneficiaries": bad_id}, "INVALID_ID_NUMBER"))
    bad_relation = two_children()
    bad_relation["beneficiaries"][1]["relationToInsured"] = "NEIGHBOUR"
    cases.append(({"beneficiaries": bad_relation}, "INVALID_RELATION"))
    for number, (change, code) in enumerate(cases):
        answer = await request(client, token, policy, f"bad-input-{number:04d}", **change)
        assert answer["errors"][0]["code"] == code, (change, answer)
        assert answer["endorsement"] is None
    assert await Endorsement.all().count() == 0
    assert await OutboxEvent.filter(entity_type="endorsement").count() == 0


async def test_the_insured_consents_in_the_app(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    insured = await make_customer(services, "王芳")
    stranger = await make_customer(services, "路人")
    policy = await make_policy(services, holder, insured=[insured])
    holder_token = await customer_token(services, holder)
    insured_token = await customer_token(services, insured)
    stranger_token = await customer_token(services, stranger)

    # Only the holder asks: the insured sees the policy but does not change it.
    refused = await request(client, insured_token, policy, "insured-0001", **two_people())
    assert refused["errors"][0]["code"] == "NOT_ALLOWED"
    theirs = await request(client, stranger_token, policy, "stranger-0001", **two_people())
    assert theirs["errors"][0]["code"] == "POLICY_NOT_FOUND"

    asked = await request(client, holder_token, policy, "consent-0001", **two_people())
    endorsement = asked["endorsement"]
    assert endorsement["status"] == "REQUESTED" and endorsement["consentRequired"] is True
    told = await OutboxEvent.get(event_type="endorsement.consent_requested")
    assert told.customer_id == insured.id
    assert await Beneficiary.filter(policy_id=policy.id).count() == 0  # not yet

    stranger_sees = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": endorsement["id"]},
        token=stranger_token,
    )
    assert stranger_sees["data"]["node"] is None
    consent_input = {"endorsementId": endorsement["id"], "agree": True}
    by_stranger = await gql(client, CONSENT, {"input": consent_input}, token=stranger_token)
    assert by_stranger["data"]["consentToPolicyChange"]["errors"][0]["code"] == (
        "ENDORSEMENT_NOT_FOUND"
    )
    by_holder = await gql(client, CONSENT, {"input": consent_input}, token=holder_token)
    assert by_holder["data"]["consentToPolicyChange"]["errors"][0]["code"] == "NOT_ALLOWED"

    agreed = await gql(client, CONSENT, {"input": consent_input}, token=insured_token)
    done = agreed["data"]["consentToPolicyChange"]
    assert done["errors"] == []
    assert done["endorsement"]["status"] == "EFFECTIVE"
    assert done["endorsement"]["consentedAt"] is not None
    assert [b["name"] for b in done["policy"]["beneficiaries"]] == ["张小明", "张小红"]
    row = await Endorsement.get(id=relay.GlobalID.from_id(endorsement["id"]).node_id)
    assert row.consented_by == insured.id
    twice = await gql(client, CONSENT, {"input": consent_input}, token=insured_token)
    assert twice["data"]["consentToPolicyChange"]["errors"][0]["code"] == "CONSENT_NOT_REQUIRED"


def two_people() -> dict[str, Any]:
    return {"beneficiaries": two_children()}


async def test_staff_check_written_consent_in_the_review_queue(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    other = await make_customer(services, "王芳")
    policy = await make_policy(services, holder, insured=[other])
    await InsuredPerson.filter(policy_id=policy.id).update(customer_id=None)  # no account
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))

    asked = await request(client, token, policy, "review-0001", **two_people())
    endorsement = asked["endorsement"]
    assert endorsement["status"] == "NEEDS_REVIEW"
    queue = await gql(client, QUEUE, token=reviewer)
    assert queue["data"]["endorsementReviewQueue"]["totalCount"] == 1
    refused = await gql(client, QUEUE, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Asked for again while open: one open change of a type per policy.
    pending = await request(client, token, policy, "review-0002", **two_people())
    assert pending["errors"][0]["code"] == "CHANGE_PENDING"

    decision = {"endorsementId": endorsement["id"], "expectedVersion": endorsement["version"]}
    no_reason = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    assert no_reason["data"]["approvePolicyChange"]["errors"][0]["code"] == "REQUIRED"
    stale = {**decision, "expectedVersion": 1, "reason": "已核验被保险人书面同意书"}
    conflict = await gql(client, APPROVE, {"input": stale}, token=reviewer)
    assert conflict["data"]["approvePolicyChange"]["errors"][0]["code"] == "CONFLICT"
    approved = await gql(
        client,
        APPROVE,
        {"input": {**decision, "reason": "已核验被保险人书面同意书"}},
        token=reviewer,
    )
    done = approved["data"]["approvePolicyChange"]
    assert done["errors"] == [] and done["endorsement"]["status"] == "EFFECTIVE"
    assert done["endorsement"]["reason"] == "已核验被保险人书面同意书"
    assert any(step["byStaff"] for step in done["endorsement"]["timeline"])
    assert await Beneficiary.filter(policy_id=policy.id).count() == 2
    # A decided one cannot be decided again.
    again = await gql(
        client,
        REJECT,
        {"input": {**decision, "expectedVersion": done["endorsement"]["version"], "reason": "x"}},
        token=reviewer,
    )
    assert again["data"]["rejectPolicyChange"]["errors"][0]["code"] == "ILLEGAL_TRANSITION"


async def test_rejected_and_cancelled_changes_change_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    other = await make_customer(services)
    policy = await make_policy(services, holder, insured=[other])
    await InsuredPerson.filter(policy_id=policy.id).update(customer_id=None)
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))

    first = (await request(client, token, policy, "reject-0001", **two_people()))["endorsement"]
    decision = {"endorsementId": first["id"], "expectedVersion": first["version"]}
    rejected = await gql(
        client, REJECT, {"input": {**decision, "reason": "未提供被保险人同意书"}}, token=reviewer
    )
    done = rejected["data"]["rejectPolicyChange"]
    assert done["endorsement"]["status"] == "REJECTED"
    event = await OutboxEvent.get(event_type="endorsement.rejected")
    assert event.payload["reason"] == "未提供被保险人同意书"

    second = (await request(client, token, policy, "cancel-0001", **two_people()))["endorsement"]
    cancelled = await gql(client, CANCEL, {"input": {"endorsementId": second["id"]}}, token=token)
    assert cancelled["data"]["cancelPolicyChange"]["endorsement"]["status"] == "CANCELLED"
    assert await Beneficiary.filter(policy_id=policy.id).count() == 0


async def surrenderable(services: Services, holder: Customer) -> Policy:
    product = await make_product(cooling_off_days=15)
    await ProductServiceTerms.create(
        product=product,
        surrender_values=[{"year": 1, "percent": "70"}, {"year": 2, "percent": "85"}],
    )
    return await make_policy(services, holder, product=product)  # 600.00 paid


async def test_surrender_quoted_confirmed_and_paid_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy = await surrenderable(services, holder)
    token = await customer_token(services, holder)

    quoted = await gql(client, QUOTE, {"id": gid("Policy", policy.id)}, token=token)
    quote = quoted["data"]["surrenderQuote"]["quote"]
    assert quote == {
        "amount": {"amount": "420.00"},
        "premiumPaid": {"amount": "600.00"},
        "policyYear": 1,
        "percent": "70",
    }
    account = {"provider": "SANDBOX", "account": "2088000000000009"}
    wrong = await request(
        client,
        token,
        policy,
        "surrender-0001",
        surrender={"confirmedAmount": "600.00", **account},
    )
    assert wrong["errors"][0]["code"] == "AMOUNT_CHANGED"
    assert await Endorsement.all().count() == 0

    done = await request(
        client,
        token,
        policy,
        "surrender-0002",
        surrender={"confirmedAmount": "420.00", **account},
    )
    assert done["errors"] == []
    assert done["endorsement"]["status"] == "EFFECTIVE"
    assert done["endorsement"]["surrender"]["account"] == "测试账户 208****0009"
    assert done["policy"]["status"] == "CANCELLED"
    payout = await Payout.get(
        endorsement_id=relay.GlobalID.from_id(done["endorsement"]["id"]).node_id
    )
    assert payout.claim_id is None and payout.status is PayoutStatus.QUEUED
    assert payout.amount == Decimal("420.00") and payout.live_key == f"surrender:{policy.id}"

    again = await request(
        client,
        token,
        policy,
        "surrender-0003",
        surrender={"confirmedAmount": "420.00", **account},
    )
    assert again["errors"][0]["code"] == "POLICY_NOT_IN_FORCE"

    providers, url = services.transfer_providers, "http://127.0.0.1"
    assert await send_queued_payouts(providers, services.pii, notify_base_url=url) == 1
    assert await send_queued_payouts(providers, services.pii, notify_base_url=url) == 0
    await payout.refresh_from_db()
    assert payout.status is PayoutStatus.SUCCESS
    assert await LedgerEntry.filter(reference=payout.transfer_number).count() == 1
    paid = await OutboxEvent.get(event_type="endorsement.surrender_paid")
    assert paid.customer_id == holder.id and paid.payload["amount"] == "420.00"
    history = await gql(client, HISTORY, {"id": gid("Policy", policy.id)}, token=token)
    edges = history["data"]["node"]["endorsements"]["edges"]
    assert [(e["node"]["type"], e["node"]["status"]) for e in edges] == [("SURRENDER", "EFFECTIVE")]


async def test_no_surrender_value_in_cooling_off_or_without_a_table(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    token = await customer_token(services, holder)
    plain = await make_policy(services, holder)
    answer = await gql(client, QUOTE, {"id": gid("Policy", plain.id)}, token=token)
    assert answer["data"]["surrenderQuote"]["errors"][0]["code"] == "NO_SURRENDER_VALUE"
    fresh = await surrenderable(services, holder)
    await Policy.filter(id=fresh.id).update(issued_at=fresh.starts_at.now(fresh.starts_at.tzinfo))
    answer = await gql(client, QUOTE, {"id": gid("Policy", fresh.id)}, token=token)
    assert answer["data"]["surrenderQuote"]["errors"][0]["code"] == "COOLING_OFF"
    stranger = await customer_token(services, await make_customer(services))
    answer = await gql(client, QUOTE, {"id": gid("Policy", plain.id)}, token=stranger)
    assert answer["data"]["surrenderQuote"]["errors"][0]["code"] == "POLICY_NOT_FOUND"


async def referred_change(
    client: httpx.AsyncClient, services: Services, key: str
) -> tuple[Policy, dict[str, Any]]:
    """A beneficiary change referred for review (the insured has no account to consent
    with), and the decision that approves it at its current version."""
    holder = await make_customer(services)
    other = await make_customer(services)
    policy = await make_policy(services, holder, insured=[other])
    await InsuredPerson.filter(policy_id=policy.id).update(customer_id=None)
    token = await customer_token(services, holder)
    endorsement = (await request(client, token, policy, key, **two_people()))["endorsement"]
    decision = {
        "endorsementId": endorsement["id"],
        "expectedVersion": endorsement["version"],
        "reason": "已核验书面同意",
    }
    return policy, decision


@postgres_only
async def test_a_double_approval_takes_effect_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    policy, decision = await referred_change(client, services, "race-00001")
    reviewers = [
        await staff_token(services, await make_staff(StaffRole.SUPERVISOR)) for _ in range(2)
    ]
    answers = await asyncio.gather(
        *[gql(client, APPROVE, {"input": decision}, token=t) for t in reviewers * 2]
    )
    outcomes = [a["data"]["approvePolicyChange"] for a in answers]
    assert sum(not o["errors"] for o in outcomes) == 1
    assert {o["errors"][0]["code"] for o in outcomes if o["errors"]} == {"CONFLICT"}
    assert await Beneficiary.filter(policy_id=policy.id).count() == 2
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1


async def test_an_approval_made_on_an_older_version_is_a_conflict(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The loser of a double approval that reads after the winner committed hears
    CONFLICT (someone else decided), not that approving is illegal now."""
    _, decision = await referred_change(client, services, "stale-0001")
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    first = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    assert first["data"]["approvePolicyChange"]["errors"] == []
    again = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    [error] = again["data"]["approvePolicyChange"]["errors"]
    assert (error["code"], error["field"]) == ("CONFLICT", "expectedVersion")
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1


@postgres_only
async def test_a_double_surrender_pays_once(client: httpx.AsyncClient, services: Services) -> None:
    holder = await make_customer(services)
    policy = await surrenderable(services, holder)
    token = await customer_token(services, holder)
    wish = {"confirmedAmount": "420.00", "provider": "SANDBOX", "account": "2088000000000009"}
    answers = await asyncio.gather(
        *[
            request(client, token, policy, f"double-surrender-{n:02d}", surrender=wish)
            for n in range(6)
        ]
    )
    assert sum(not a["errors"] for a in answers) == 1
    assert {a["errors"][0]["code"] for a in answers if a["errors"]} <= {
        "POLICY_NOT_IN_FORCE",
        "CHANGE_PENDING",
    }
    assert await Payout.all().count() == 1
    assert await Endorsement.filter(status=EndorsementStatus.EFFECTIVE).count() == 1
    assert (await Policy.get(id=policy.id)).status is PolicyStatus.CANCELLED
    url = "http://127.0.0.1"
    sent = await asyncio.gather(
        *[
            send_queued_payouts(services.transfer_providers, services.pii, notify_base_url=url)
            for _ in range(3)
        ]
    )
    assert sum(sent) == 1
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1


SEND_CODE = """mutation($phone: String!) { requestLoginCode(input: {phone: $phone}) {
  errors { code } } }"""
CONTACT_FIELDS = """endorsement { status contactBefore { phone email address }
  contactAfter { phone email address } } errors { field code message }"""
CONTACT = f"""mutation($input: RequestPolicyChangeInput!) {{
  requestPolicyChange(input: $input) {{ {CONTACT_FIELDS} }} }}"""


async def test_a_new_phone_is_verified_by_sms_code(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, phone="13900001111")
    other = await make_customer(services, phone="13900002222")
    policy = await make_policy(services, holder)
    token = await customer_token(services, holder)

    async def change(key: str, **contact: Any) -> dict[str, Any]:
        variables = {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": key,
                "contact": contact,
            }
        }
        body = await gql(client, CONTACT, variables, token=token)
        return body["data"]["requestPolicyChange"]

    no_code = await change("contact-0001", phone="13700003333")
    assert no_code["errors"][0]["code"] == "SMS_CODE_INVALID"
    await gql(client, SEND_CODE, {"phone": "13700003333"})
    wrong = await change("contact-0002", phone="13700003333", smsCode="000000")
    code = next(c for to, c in reversed(services.sms.sent) if to == "13700003333")  # type: ignore[attr-defined]
    if code == "000000":
        wrong = await change("contact-0002b", phone="13700003333", smsCode="111111")
    assert wrong["errors"][0]["code"] == "SMS_CODE_INVALID"
    bad_email = await change("contact-0003", email="not-an-email")
    assert bad_email["errors"][0]["code"] == "INVALID_EMAIL"
    assert await Endorsement.all().count() == 0
    assert (await Customer.get(id=holder.id)).phone_masked == "139****1111"

    done = await change(
        "contact-0004",
        phone="13700003333",
        smsCode=code,
        email="zhangwei@example.com",
        address="上海市浦东新区世纪大道100号",
    )
    assert done["errors"] == []
    assert done["endorsement"]["status"] == "EFFECTIVE"
    assert done["endorsement"]["contactBefore"]["phone"] == "139****1111"
    assert done["endorsement"]["contactAfter"] == {
        "phone": "137****3333",
        "email": "z***@example.com",
        "address": "上海市浦东新****",
    }
    me = await Customer.get(id=holder.id)
    assert services.pii.decrypt(me.phone_encrypted, "phone") == "13700003333"
    assert me.phone_hash == services.pii.phone_hash("13700003333")
    # Someone else's phone, even with a valid code, is refused and changes nothing.
    await gql(client, SEND_CODE, {"phone": "13900002222"})
    theirs = next(c for to, c in reversed(services.sms.sent) if to == "13900002222")  # type: ignore[attr-defined]
    taken = await change("contact-0005", phone="13900002222", smsCode=theirs)
    assert taken["errors"][0]["code"] == "PHONE_TAKEN"
    assert (await Customer.get(id=other.id)).phone_hash == services.pii.phone_hash("13900002222")
    assert (await Customer.get(id=holder.id)).phone_masked == "137****3333"


FREQUENCY = """mutation($input: RequestPolicyChangeInput!) { requestPolicyChange(input: $input) {
  endorsement { status paymentFrequency { previous frequency owed { amount }
    installments { dueDate amount { amount } } } }
  policy { paymentFrequency installments { sequence amount { amount } status } }
  errors { field code } } }"""


async def test_payment_frequency_recuts_only_the_unpaid_installments(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)  # semi-annual: 600 paid, 600 unpaid
    token = await customer_token(services, holder)

    async def change(key: str, frequency: str) -> dict[str, Any]:
        body = await gql(
            client,
            FREQUENCY,
            {
                "input": {
                    "policyId": gid("Policy", policy.id),
                    "idempotencyKey": key,
                    "paymentFrequency": {"frequency": frequency},
                }
            },
            token=token,
        )
        return body["data"]["requestPolicyChange"]

    same = await change("frequency-0001", "SEMI_ANNUAL")
    assert same["errors"][0]["code"] == "NOTHING_TO_CHANGE"
    done = await change("frequency-0002", "MONTHLY")
    assert done["errors"] == []
    recut = done["endorsement"]["paymentFrequency"]
    assert done["endorsement"]["status"] == "EFFECTIVE"
    assert recut["previous"] == "SEMI_ANNUAL" and recut["owed"] == {"amount": "600.00"}
    amounts = [Decimal(i["amount"]["amount"]) for i in recut["installments"]]
    assert sum(amounts) == Decimal("600.00") and len(amounts) > 1
    policy_now = done["policy"]
    assert policy_now["paymentFrequency"] == "MONTHLY"
    paid = [i for i in policy_now["installments"] if i["status"] == "PAID"]
    assert paid == [{"sequence": 1, "amount": {"amount": "600.00"}, "status": "PAID"}]
    unpaid = [Decimal(i["amount"]["amount"]) for i in policy_now["installments"][1:]]
    assert sum(unpaid) == Decimal("600.00") and len(unpaid) == len(amounts)


REINSTATED = (
    "reinstatement { premiums { amount } interest { amount } total { amount } "
    "healthySinceLapse } premiumDue { id amount { amount } } timeline {"
)
REINSTATE = REQUEST.replace("timeline {", REINSTATED)
PAY = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { orderNumber amount { amount } } errors { code } } }"""
ENDORSEMENT = """query($id: ID!) { node(id: $id) { ... on Endorsement { status
  premiumDue { id amount { amount } status } timeline { action note } } } }"""


async def test_a_lapsed_policy_is_reinstated_when_its_premium_is_paid(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    product = await make_product()
    await ProductServiceTerms.create(product=product, reinstatement_interest_rate="0.0365")
    policy = await make_policy(services, holder, product=product, status=PolicyStatus.LAPSED)
    today = local_today()
    await PremiumInstallment.filter(policy_id=policy.id, sequence=2).update(
        due_date=today - timedelta(days=70)
    )
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))

    unhealthy = await gql(
        client,
        REINSTATE,
        {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": "reinstate-0001",
                "reinstatement": {"healthySinceLapse": False},
            }
        },
        token=token,
    )
    assert unhealthy["data"]["requestPolicyChange"]["errors"][0]["code"] == "REQUIRED"
    asked = await gql(
        client,
        REINSTATE,
        {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": "reinstate-0002",
                "reinstatement": {"healthySinceLapse": True},
            }
        },
        token=token,
    )
    endorsement = asked["data"]["requestPolicyChange"]["endorsement"]
    assert endorsement["status"] == "NEEDS_REVIEW"
    assert endorsement["reinstatement"]["premiums"] == {"amount": "600.00"}
    assert endorsement["reinstatement"]["interest"] == {"amount": "4.20"}  # 600 × 3.65 % × 70/365
    assert endorsement["premiumDue"] is None  # nothing to pay before approval

    decision = {
        "endorsementId": endorsement["id"],
        "expectedVersion": endorsement["version"],
        "reason": "健康告知无异常",
    }
    approved = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    assert approved["data"]["approvePolicyChange"]["endorsement"]["status"] == "APPROVED"
    assert approved["data"]["approvePolicyChange"]["policy"]["status"] == "LAPSED"
    seen = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=token)
    due = seen["data"]["node"]["premiumDue"]
    assert due["amount"] == {"amount": "604.20"} and due["status"] == "UNPAID"

    order = await gql(
        client,
        PAY,
        {
            "input": {
                "installmentId": due["id"],
                "method": "SANDBOX",
                "idempotencyKey": "pay-reinst-1",
            }
        },
        token=token,
    )
    number = order["data"]["createPremiumPayment"]["order"]["orderNumber"]
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    headers, body = provider.paid_notification(number, Decimal("604.20"))
    for _ in range(2):  # a provider's retry changes nothing more
        reply = await client.post("/payments/sandbox/notify", content=body, headers=headers)
        assert reply.content == b"success"

    after = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=token)
    assert after["data"]["node"]["status"] == "EFFECTIVE"
    assert (await Policy.get(id=policy.id)).status is PolicyStatus.ACTIVE
    assert await PremiumInstallment.filter(policy_id=policy.id, paid_at=None).count() == 0
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1
    assert await LedgerEntry.filter(kind="PREMIUM_RECEIVED").count() == 1


MEMBER = REQUEST.replace(
    "timeline {",
    "insuredMember { name idNumber relationToHolder premium { amount } } "
    "premiumDue { id amount { amount } status } timeline {",
)
INSURED = """query($id: ID!) { node(id: $id) { ... on Policy { insuredPersons { name } } } }"""


async def test_a_family_member_is_insured_when_the_premium_difference_is_paid(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    product = await make_product(ProductKind.HEALTH)
    await ProductServiceTerms.create(product=product, member_premium="730.00")
    policy = await make_policy(services, holder, product=product)
    await Policy.filter(id=policy.id).update(
        starts_at=datetime.now(UTC) - timedelta(days=165),
        ends_at=datetime.now(UTC) + timedelta(days=200),
    )
    token = await customer_token(services, holder)
    member = {"name": "张小明", "idNumber": SON, "relationToHolder": "CHILD"}

    async def add(key: str, policy_id: Any, **changes: str) -> dict[str, Any]:
        variables = {
            "input": {
                "policyId": gid("Policy", policy_id),
                "idempotencyKey": key,
                "insuredMember": member | changes,
            }
        }
        return (await gql(client, MEMBER, variables, token=token))["data"]["requestPolicyChange"]

    not_family = await make_policy(services, holder)
    refused = await add("member-0001", not_family.id)
    assert refused["errors"][0]["code"] == "NOT_FAMILY_POLICY"
    neighbour = await add("member-0002", policy.id, relationToHolder="NEIGHBOUR")
    assert neighbour["errors"][0]["code"] == "INVALID_RELATION"
    assert await Endorsement.all().count() == 0

    asked = await add("member-0003", policy.id)
    assert asked["errors"] == []
    endorsement = asked["endorsement"]
    assert endorsement["status"] == "APPROVED"
    premium = endorsement["insuredMember"]["premium"]["amount"]
    assert premium == "400.00"  # 730 a year × 200 of 365 days left
    due = endorsement["premiumDue"]
    assert due["amount"] == {"amount": "400.00"} and due["status"] == "UNPAID"
    assert SON not in str(await Endorsement.get(number=endorsement["number"]).values())

    order = await gql(
        client,
        PAY,
        {
            "input": {
                "installmentId": due["id"],
                "method": "SANDBOX",
                "idempotencyKey": "pay-member-1",
            }
        },
        token=token,
    )
    number = order["data"]["createPremiumPayment"]["order"]["orderNumber"]
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    headers, body = provider.paid_notification(number, Decimal("400.00"))
    for _ in range(2):
        reply = await client.post("/payments/sandbox/notify", content=body, headers=headers)
        assert reply.content == b"success"

    seen = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=token)
    assert seen["data"]["node"]["status"] == "EFFECTIVE"
    assert seen["data"]["node"]["premiumDue"]["status"] == "PAID"
    insured = await gql(client, INSURED, {"id": gid("Policy", policy.id)}, token=token)
    assert [p["name"] for p in insured["data"]["node"]["insuredPersons"]] == ["张伟", "张小明"]
    person = await InsuredPerson.get(policy_id=policy.id, name="张小明")
    assert services.pii.decrypt(person.id_number_encrypted, "id_number") == SON
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1
