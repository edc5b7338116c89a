"""Changes of cover through GraphQL, each through approval to effect: a sum-insured
increase underwritten, paid and in force the next day; a decrease and a member removal
refunded through the refund path; limits and rules refused with typed errors that
change nothing; a concurrent double request makes one endorsement (PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus, ReportChannel
from models.clock import local_date, local_today
from models.customers import Customer
from models.endorsements import (
    Endorsement,
    EndorsementStatus,
    EndorsementType,
    ProductServiceTerms,
)
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Refund, RefundReason, RefundStatus
from models.policies import (
    Coverage,
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
    make_claim,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.workflows.test_policy_documents import pdf_bytes, pdf_text
from workflows import claims
from workflows.access import Actor
from workflows.payments.refunds import follow_up_refunds
from workflows.policies import GRACE_DAYS, refresh_policy_statuses
from workflows.policy_service import documents as docs
from workflows.policy_service.certificates import certificate
from workflows.policy_service.sum_insured import apply_due

FIELDS = """endorsement { id number version type typeName status amount { amount }
    effectiveDate
    sumInsured { sumInsuredBefore { amount } sumInsuredAfter { amount }
      termPremiumBefore { amount } difference { amount } effectiveDate daysLeft termDays
      coverages { code before { amount } after { amount } } refunds }
    removedMember { name idNumber relationToHolder refund { amount } effectiveDate refunds }
    premiumDue { id amount { amount } status }
    timeline { action status note byStaff } }
  policy { id sumInsured { amount } insuredPersons { id name coveredUntil } }
  errors { field message code }"""
REQUEST = f"""mutation($input: RequestPolicyChangeInput!) {{ requestPolicyChange(input: $input) {{
  {FIELDS} }} }}"""
APPROVE = f"""mutation($input: PolicyChangeDecisionInput!) {{
  approvePolicyChange(input: $input) {{ {FIELDS} }} }}"""
QUEUE = """{ endorsementReviewQueue(first: 10) { edges { node { number type } } } }"""
PAY = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { orderNumber amount { amount } } errors { code } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Endorsement { status effectiveDate
  sumInsured { refunds } premiumDue { status } timeline { action } } } }"""
URL = "http://127.0.0.1"
SON = id_number("310101", "20100203", "011")


def gid(type_name: str, value: Any) -> str:
    return str(relay.GlobalID(type_name, str(value)))


async def family_policy(
    services: Services, holder: Customer, *, limits: bool = True
) -> tuple[Policy, InsuredPerson]:
    """A family health policy of 365 days with 200 left, 100,000 insured for a term
    premium of 1,200; the holder insured first and a son added."""
    product = await make_product(ProductKind.HEALTH)
    await ProductServiceTerms.create(
        product=product,
        member_premium="730.00",
        sum_insured_min="50000.00" if limits else None,
        sum_insured_max="500000.00" if limits else None,
    )
    policy = await make_policy(services, holder, product=product)
    await Policy.filter(id=policy.id).update(
        starts_at=datetime.now(UTC) - timedelta(days=165),
        ends_at=datetime.now(UTC) + timedelta(days=200),
    )
    sealed = services.pii.seal_id_number(SON)
    son = await InsuredPerson.create(
        policy_id=policy.id,
        name="张小明",
        position=1,
        id_number_encrypted=sealed.encrypted,
        id_number_hash=sealed.lookup_hash,
        id_number_masked=sealed.masked,
        relation_to_holder="CHILD",
    )
    return await Policy.get(id=policy.id), son


async def pay(
    client: httpx.AsyncClient, services: Services, token: str, installment_id: str, key: str
) -> str:
    """Pay an installment through the premium payment path (sandbox callback)."""
    order = await gql(
        client,
        PAY,
        {"input": {"installmentId": installment_id, "method": "SANDBOX", "idempotencyKey": key}},
        token=token,
    )
    created = order["data"]["createPremiumPayment"]["order"]
    provider = services.payment_providers["sandbox"]
    assert isinstance(provider, SandboxProvider)
    headers, body = provider.paid_notification(
        created["orderNumber"], Decimal(created["amount"]["amount"])
    )
    reply = await client.post("/payments/sandbox/notify", content=body, headers=headers)
    assert reply.content == b"success"
    return str(created["orderNumber"])


async def pay_second_installment(
    client: httpx.AsyncClient, services: Services, token: str, policy: Policy
) -> None:
    """The policy's second premium (600) paid online: what a refund can take back."""
    second = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    await pay(client, services, token, gid("PremiumInstallment", second.id), "pay-second-1")


async def ask(
    client: httpx.AsyncClient, token: str, policy: Policy, key: str, **change: Any
) -> dict[str, Any]:
    variables = {"input": {"policyId": gid("Policy", policy.id), "idempotencyKey": key, **change}}
    body = await gql(client, REQUEST, variables, token=token)
    return body["data"]["requestPolicyChange"]


async def test_an_increase_is_underwritten_paid_and_in_force_the_next_day(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    tomorrow = local_today() + timedelta(days=1)

    asked = await ask(client, token, policy, "sum-up-0001", sumInsured={"sumInsured": "200000"})
    assert asked["errors"] == []
    endorsement = asked["endorsement"]
    assert endorsement["type"] == "SUM_INSURED" and endorsement["typeName"] == "变更保额"
    assert endorsement["status"] == "NEEDS_REVIEW"
    change = endorsement["sumInsured"]
    assert change["sumInsuredBefore"] == {"amount": "100000.00"}
    assert change["sumInsuredAfter"] == {"amount": "200000.00"}
    # 1,200 for 100,000 over 365 days: +100,000 for the 199 days from tomorrow.
    assert change["difference"] == {"amount": "654.25"}
    assert (change["daysLeft"], change["termDays"]) == (199, 365)
    assert change["coverages"] == [
        {"code": "MAIN", "before": {"amount": "100000.00"}, "after": {"amount": "200000.00"}}
    ]
    assert endorsement["premiumDue"] is None  # nothing to pay before underwriting
    queue = await gql(client, QUEUE, token=reviewer)
    assert [e["node"]["number"] for e in queue["data"]["endorsementReviewQueue"]["edges"]] == [
        endorsement["number"]
    ]

    decision = {"endorsementId": endorsement["id"], "expectedVersion": endorsement["version"]}
    approved = (await gql(client, APPROVE, {"input": decision}, token=reviewer))["data"][
        "approvePolicyChange"
    ]
    assert approved["errors"] == []
    assert approved["endorsement"]["status"] == "APPROVED"
    due = approved["endorsement"]["premiumDue"]
    assert due["amount"] == {"amount": "654.25"} and due["status"] == "UNPAID"
    assert approved["policy"]["sumInsured"] == {"amount": "100000.00"}  # not before paid

    await pay(client, services, token, due["id"], "pay-sum-up-1")
    seen = (await gql(client, NODE, {"id": endorsement["id"]}, token=token))["data"]["node"]
    assert seen["status"] == "APPROVED" and seen["premiumDue"]["status"] == "PAID"
    assert seen["effectiveDate"] == tomorrow.isoformat()
    assert await apply_due(local_today()) == 0  # today's losses: today's sum
    assert (await Coverage.get(policy_id=policy.id)).sum_insured == Decimal("100000.00")

    assert await apply_due(tomorrow) == 1
    assert await apply_due(tomorrow) == 0  # once
    seen = (await gql(client, NODE, {"id": endorsement["id"]}, token=token))["data"]["node"]
    assert seen["status"] == "EFFECTIVE"
    assert [line["action"] for line in seen["timeline"]] == [
        "request",
        "refer",
        "approve",
        "premium_due",
        "paid",
        "effect",
    ]
    policy = await Policy.get(id=policy.id)
    assert policy.sum_insured == Decimal("200000.00")
    assert policy.premium == Decimal("1854.25")
    assert (await Coverage.get(policy_id=policy.id)).sum_insured == Decimal("200000.00")
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1
    assert await Refund.all().count() == 0


async def test_an_increase_paid_late_refunds_the_days_it_did_not_cover(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    asked = await ask(client, token, policy, "sum-late-001", sumInsured={"sumInsured": "200000"})
    decision = {
        "endorsementId": asked["endorsement"]["id"],
        "expectedVersion": asked["endorsement"]["version"],
    }
    approved = await gql(client, APPROVE, {"input": decision}, token=reviewer)
    due = approved["data"]["approvePolicyChange"]["endorsement"]["premiumDue"]
    # As if approved yesterday: the difference was rated from today, one day ago.
    row = await Endorsement.get(number=asked["endorsement"]["number"])
    row.after = row.after | {"effectiveDate": local_today().isoformat(), "daysLeft": 200}
    await row.save(update_fields=["after"])

    await pay(client, services, token, due["id"], "pay-late-001")
    refund = await Refund.get()
    assert refund.reason is RefundReason.ENDORSEMENT and refund.status is RefundStatus.QUEUED
    assert refund.amount == Decimal("3.27")  # 654.25 over 200 days: one day not covered
    await row.refresh_from_db()
    assert row.effective_date == local_today() + timedelta(days=1)
    assert row.after["difference"] == "650.98" and row.after["refunds"] == [refund.refund_number]


async def test_a_decrease_is_refunded_when_it_takes_effect(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    token = await customer_token(services, holder)
    await pay_second_installment(client, services, token, policy)

    asked = await ask(client, token, policy, "sum-down-001", sumInsured={"sumInsured": "50000"})
    assert asked["errors"] == []
    endorsement = asked["endorsement"]
    assert endorsement["status"] == "APPROVED"  # no underwriting for less cover
    assert endorsement["sumInsured"]["difference"] == {"amount": "-327.12"}  # 600 × 199/365
    assert endorsement["amount"] == {"amount": "327.12"}
    assert endorsement["premiumDue"] is None
    assert await Refund.all().count() == 0  # the money moves with the change

    tomorrow = local_today() + timedelta(days=1)
    assert await apply_due(tomorrow) == 1
    seen = (await gql(client, NODE, {"id": endorsement["id"]}, token=token))["data"]["node"]
    assert seen["status"] == "EFFECTIVE"
    refund = await Refund.get()
    assert (refund.amount, refund.reason) == (Decimal("327.12"), RefundReason.ENDORSEMENT)
    assert seen["sumInsured"]["refunds"] == [refund.refund_number]
    assert (await Coverage.get(policy_id=policy.id)).sum_insured == Decimal("50000.00")
    policy = await Policy.get(id=policy.id)
    assert (policy.sum_insured, policy.premium) == (Decimal("50000.00"), Decimal("872.88"))

    await follow_up_refunds(services.payment_providers, notify_base_url=URL)
    await refund.refresh_from_db()
    assert refund.status is RefundStatus.SUCCESS
    assert await LedgerEntry.filter(kind="REFUND", amount=Decimal("-327.12")).count() == 1


async def test_a_member_is_removed_from_the_next_day_and_refunded(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    token = await customer_token(services, holder)
    await pay_second_installment(client, services, token, policy)

    asked = await ask(
        client,
        token,
        policy,
        "remove-son-01",
        memberRemoval={"insuredPersonId": gid("InsuredPerson", son.id)},
    )
    assert asked["errors"] == []
    endorsement = asked["endorsement"]
    assert endorsement["type"] == "MEMBER_REMOVAL" and endorsement["status"] == "EFFECTIVE"
    tomorrow = local_today() + timedelta(days=1)
    assert endorsement["effectiveDate"] == tomorrow.isoformat()
    removed = endorsement["removedMember"]
    assert removed["name"] == "张小明" and SON not in str(removed)
    assert removed["refund"] == {"amount": "398.00"}  # 730 a year × 199 of 365 days
    refund = await Refund.get()
    assert (refund.amount, refund.reason) == (Decimal("398.00"), RefundReason.ENDORSEMENT)
    assert removed["refunds"] == [refund.refund_number]
    # Covered through today: still listed today, with the last day.
    people = asked["policy"]["insuredPersons"]
    assert [(p["name"], p["coveredUntil"]) for p in people] == [
        ("张伟", None),
        ("张小明", local_today().isoformat()),
    ]
    await son.refresh_from_db()
    assert son.covered_until == local_today()
    assert (await Policy.get(id=policy.id)).premium == Decimal("802.00")
    assert [line["action"] for line in endorsement["timeline"]] == ["request", "approve", "effect"]
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1

    again = await ask(
        client,
        token,
        policy,
        "remove-son-02",
        memberRemoval={"insuredPersonId": gid("InsuredPerson", son.id)},
    )
    assert again["errors"][0]["code"] == "NOTHING_TO_CHANGE"
    await follow_up_refunds(services.payment_providers, notify_base_url=URL)
    await refund.refresh_from_db()
    assert refund.status is RefundStatus.SUCCESS


async def snapshot(policy: Policy) -> tuple[Any, ...]:
    row = await Policy.get(id=policy.id)
    coverages = await Coverage.filter(policy_id=policy.id).values_list("sum_insured", flat=True)
    people = await InsuredPerson.filter(policy_id=policy.id).values_list("covered_until", flat=True)
    return (
        row.sum_insured,
        row.premium,
        sorted(coverages),
        sorted(str(p) for p in people),
        await Endorsement.all().count(),
        await Refund.all().count(),
        await PremiumInstallment.filter(policy_id=policy.id).count(),
    )


async def test_limits_and_rules_are_refused_with_typed_errors_changing_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    token = await customer_token(services, holder)
    main = await InsuredPerson.get(policy_id=policy.id, position=0)
    unlimited, _ = await family_policy(services, holder, limits=False)
    before = await snapshot(policy)
    stranger = await make_customer(services, "王五")

    async def code(key: str, target: Policy = policy, who: str = token, **change: Any) -> str:
        answer = await ask(client, who, target, key, **change)
        assert answer["endorsement"] is None
        return str(answer["errors"][0]["code"])

    low, high, same = ("10000", "600000", "100000")
    assert await code("limit-0001", sumInsured={"sumInsured": low}) == "SUM_INSURED_OUT_OF_RANGE"
    assert await code("limit-0002", sumInsured={"sumInsured": high}) == "SUM_INSURED_OUT_OF_RANGE"
    assert await code("limit-0003", sumInsured={"sumInsured": same}) == "NOTHING_TO_CHANGE"
    assert (
        await code("limit-0004", unlimited, sumInsured={"sumInsured": "200000"})
        == "SUM_INSURED_NOT_ADJUSTABLE"
    )
    # A decrease of a policy whose premium was not paid online cannot be refunded.
    assert await code("limit-0005", sumInsured={"sumInsured": "60000"}) == "REFUND_NOT_POSSIBLE"
    await Coverage.filter(policy_id=policy.id).update(used_amount=Decimal("70000"))
    assert await code("limit-0006", sumInsured={"sumInsured": "60000"}) == "BELOW_AMOUNT_PAID"
    await Coverage.filter(policy_id=policy.id).update(used_amount=Decimal("1000"))
    both = {
        "sumInsured": {"sumInsured": "200000"},
        "memberRemoval": {"insuredPersonId": gid("InsuredPerson", son.id)},
    }
    assert await code("limit-0007", **both) == "ONE_CHANGE_REQUIRED"
    assert (
        await code(
            "limit-0008",
            who=await customer_token(services, stranger),
            sumInsured={"sumInsured": "200000"},
        )
        == "POLICY_NOT_FOUND"
    )

    def removal(person: InsuredPerson) -> dict[str, Any]:
        return {"memberRemoval": {"insuredPersonId": gid("InsuredPerson", person.id)}}

    assert await code("remove-0001", **removal(main)) == "MAIN_INSURED"
    assert await code("remove-0002", **removal(son)) == "REFUND_NOT_POSSIBLE"
    other = await InsuredPerson.get(policy_id=unlimited.id, position=1)
    assert await code("remove-0003", **removal(other)) == "INSURED_PERSON_NOT_FOUND"
    claim = await make_claim(holder, policy, ClaimStatus.UNDER_REVIEW, insured_person_id=son.id)
    assert await code("remove-0004", **removal(son)) == "OPEN_CLAIM"
    await claim.filter(id=claim.id).update(status=ClaimStatus.REJECTED)  # may be appealed
    assert await code("remove-0005", **removal(son)) == "OPEN_CLAIM"
    not_family = await make_policy(services, holder)
    person = await InsuredPerson.get(policy_id=not_family.id)
    assert await code("remove-0006", not_family, **removal(person)) == "NOT_FAMILY_POLICY"

    assert await snapshot(policy) == before
    assert await OutboxEvent.filter(event_type__startswith="endorsement.").count() == 0


@postgres_only
async def test_a_double_request_makes_one_endorsement(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    token = await customer_token(services, holder)
    await pay_second_installment(client, services, token, policy)

    ups = await asyncio.gather(
        *(
            ask(client, token, policy, f"double-up-{n:04d}", sumInsured={"sumInsured": "200000"})
            for n in range(4)
        )
    )
    assert sum(1 for answer in ups if answer["endorsement"]) == 1
    assert {a["errors"][0]["code"] for a in ups if a["errors"]} == {"CHANGE_PENDING"}

    removals = await asyncio.gather(
        *(
            ask(
                client,
                token,
                policy,
                f"double-rm-{n:04d}",
                memberRemoval={"insuredPersonId": gid("InsuredPerson", son.id)},
            )
            for n in range(4)
        )
    )
    assert sum(1 for answer in removals if answer["endorsement"]) == 1
    assert {a["errors"][0]["code"] for a in removals if a["errors"]} <= {
        "CHANGE_PENDING",
        "NOTHING_TO_CHANGE",
    }
    assert await Endorsement.all().count() == 2
    assert await Refund.all().count() == 1  # one member, refunded once
    assert (await Refund.get()).amount == Decimal("398.00")
    assert await Endorsement.filter(status=EndorsementStatus.NEEDS_REVIEW).count() == 1


async def test_a_removed_member_is_named_only_for_losses_up_to_the_last_covered_day(
    services: Services,
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    loss_at = datetime.now(UTC) - timedelta(hours=2)
    report = claims.LossReport(
        policy_id=policy.id,
        loss_type="COLLISION",
        loss_at=loss_at,
        location="上海市浦东新区",
        description="住院",
        channel=ReportChannel.APP,
        contact_name="张伟",
        contact_phone="13800000001",
        insured_person_id=son.id,
    )
    await InsuredPerson.filter(id=son.id).update(covered_until=local_date(loss_at))
    covered = await claims.report_loss(services.pii, me, report, dry_run=True)
    assert covered.claim is None  # a dry run: the report passed its checks
    await InsuredPerson.filter(id=son.id).update(
        covered_until=local_date(loss_at) - timedelta(days=1)
    )
    with pytest.raises(claims.ClaimError) as refused:
        await claims.report_loss(services.pii, me, report, dry_run=True)
    assert refused.value.code == "INSURED_PERSON_NOT_FOUND"
    # The policy's only insured left needs no choosing.
    alone = await claims.report_loss(
        services.pii, me, replace(report, insured_person_id=None), dry_run=True
    )
    assert alone.claim is None


async def test_the_certificates_show_the_amounts_before_and_after(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    token = await customer_token(services, holder)
    await pay_second_installment(client, services, token, policy)
    await ask(client, token, policy, "cert-down-01", sumInsured={"sumInsured": "80000"})
    await apply_due(local_today() + timedelta(days=1))
    removal = {"insuredPersonId": gid("InsuredPerson", son.id)}
    await ask(client, token, policy, "cert-remove-1", memberRemoval=removal)

    lower = await Endorsement.get(type=EndorsementType.SUM_INSURED)
    assert certificate(lower, policy.number).lines == [
        ("保险金额", "100000.00元", "80000.00元"),
        ("主险", "100000.00元", "80000.00元"),
        ("退还保费", "—", "130.85元"),  # 1,200 × 20 % × 199/365
    ]
    removed = await Endorsement.get(type=EndorsementType.MEMBER_REMOVAL)
    lines = certificate(removed, policy.number).lines
    assert lines[0] == ("被保险人人数", "2", "1")
    assert lines[1][0] == "减少被保险人" and "张小明" in lines[1][1] and SON not in lines[1][1]
    assert lines[2] == ("退还保费", "—", "398.00元")  # 730 × 199/365, from what the order has left


async def test_the_e_policy_lists_a_removed_member_through_the_last_covered_day(
    services: Services,
) -> None:
    holder = await make_customer(services, "张伟")
    policy, son = await family_policy(services, holder)
    await InsuredPerson.filter(id=son.id).update(covered_until=local_today())
    first = await docs.issue_policy_document(services.documents, policy.id)
    assert "张小明" in pdf_text(await pdf_bytes(services, first))
    await InsuredPerson.filter(id=son.id).update(covered_until=local_today() - timedelta(days=1))
    second = await docs.issue_policy_document(services.documents, policy.id)
    assert second.version == first.version + 1
    assert "张小明" not in pdf_text(await pdf_bytes(services, second))


async def test_an_unpaid_increase_does_not_lapse_the_policy(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy, _ = await family_policy(services, holder)
    await PremiumInstallment.filter(policy_id=policy.id).update(paid_at=datetime.now(UTC))
    token = await customer_token(services, holder)
    reviewer = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    asked = await ask(client, token, policy, "unpaid-up-01", sumInsured={"sumInsured": "200000"})
    decision = {
        "endorsementId": asked["endorsement"]["id"],
        "expectedVersion": asked["endorsement"]["version"],
    }
    await gql(client, APPROVE, {"input": decision}, token=reviewer)
    await PremiumInstallment.filter(policy_id=policy.id, paid_at=None).update(
        due_date=local_today() - timedelta(days=GRACE_DAYS + 5)
    )
    await refresh_policy_statuses()
    assert (await Policy.get(id=policy.id)).status is PolicyStatus.ACTIVE
    row = await Endorsement.get(number=asked["endorsement"]["number"])
    assert row.status is EndorsementStatus.APPROVED and row.effective_date is None
