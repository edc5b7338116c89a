"""Customised service plans in GraphQL: the questionnaire, a plan's gaps from the
customer's own in-force policies, suggestions only of products sold online of the
gap's kind, interest as exactly one follow-up visit (also when marked twice at once,
on PostgreSQL), staff reading the plan on that visit, other customers kept out, and
the bounds of the input."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.policies import PolicyStatus, Product, ProductKind
from models.service_plans import ServicePlan, ServicePlanInterest
from models.staff import StaffRole
from models.visits import FollowUpVisit, VisitRule, VisitTrigger
from tests.conftest import postgres_only
from tests.factories import (
    customer_token,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.schema.conftest import QueryCounter
from workflows.visits import current_rules

PLAN_FIELDS = """id ruleVersion questionnaireVersion
  answers { hasSpouse childrenAges parentsOver60 incomeBand riskAttitude }
  existingCover { policyNumber kind role covers }
  gaps { code kind priority reason facts { name label value } products { id code kind } }
  suggestedProducts { product { id code } gapCodes interested }
  serviceSuggestions { code title facts { name value } }"""
SUBMIT = f"""mutation($input: SubmitServiceQuestionnaireInput!) {{
  submitServiceQuestionnaire(input: $input) {{
    plan {{ {PLAN_FIELDS} }} errors {{ code field message retryAfterSeconds }} }} }}"""
MINE = f"{{ myServicePlan {{ {PLAN_FIELDS} }} }}"
INTEREST = """mutation($input: MarkServicePlanInterestInput!) {
  markServicePlanInterest(input: $input) {
    plan { id suggestedProducts { product { code } interested } }
    visit { id purpose status }
    errors { code field } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on ServicePlan {
  gaps { code } suggestedProducts { product { code } interested } } } }"""
VISITS = """{ followUpVisits(filter: {trigger: [NEW_POLICY_INTEREST]}) { edges { node {
  id trigger purpose newPolicyInterest customerName
  servicePlan { id gaps { code reason } suggestedProducts { product { code } interested } }
} } } }"""

FAMILY = {
    "hasSpouse": True,
    "childrenAges": [6, 3],
    "parentsOver60": 1,
    "incomeBand": "FROM_100K_TO_300K",
    "hasSocialMedicalInsurance": True,
    "ownsCar": False,
    "travelsAbroad": True,
    "riskAttitude": "BALANCED",
}


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


def answers(key: str = "plan-key-0001", **changes: Any) -> dict[str, Any]:
    return {"input": {"idempotencyKey": key, **FAMILY, **changes}}


@dataclass(frozen=True)
class Family:
    """A customer with a family and only a health policy (covering themselves), a lapsed
    accident policy that must not count, and a catalogue where some products of each
    kind are sold online and some are not."""

    customer: str
    other: str
    agent: str
    adjuster: str
    products: dict[str, Product]
    health_number: str


async def _family(services: Services, *, online: bool) -> Family:
    customer = await make_customer(services, name="王磊")
    other = await make_customer(services, name="赵云")
    products = {
        "ACC-ONLINE": await make_product(ProductKind.ACCIDENT, code="ACC-ONLINE"),
        "ACC-OFFLINE": await make_product(ProductKind.ACCIDENT, code="ACC-OFFLINE"),
        "HEALTH-ONLINE": await make_product(ProductKind.HEALTH, code="HEALTH-ONLINE"),
        "HEALTH-OFFLINE": await make_product(ProductKind.HEALTH, code="HEALTH-OFFLINE"),
        "TRAVEL-OFFLINE": await make_product(ProductKind.TRAVEL, code="TRAVEL-OFFLINE"),
        "AUTO-ONLINE": await make_product(ProductKind.AUTO, code="AUTO-ONLINE"),
    }
    if online:
        await Product.filter(code__in=["ACC-ONLINE", "HEALTH-ONLINE", "AUTO-ONLINE"]).update(
            sold_online=True
        )
    health = await make_policy(services, customer, product=products["HEALTH-OFFLINE"])
    await make_policy(
        services, customer, product=products["ACC-OFFLINE"], status=PolicyStatus.LAPSED
    )
    await make_policy(services, other, product=products["ACC-OFFLINE"])
    return Family(
        customer=await customer_token(services, customer),
        other=await customer_token(services, other),
        agent=await staff_token(services, await make_staff(StaffRole.AGENT)),
        adjuster=await staff_token(services, await make_staff(StaffRole.ADJUSTER)),
        products={p.code: await Product.get(id=p.id) for p in products.values()},
        health_number=health.number,
    )


@pytest.fixture
async def family(services: Services) -> Family:
    return await _family(services, online=True)


async def _submit(client: httpx.AsyncClient, token: str, **changes: Any) -> dict[str, Any]:
    body = await gql(client, SUBMIT, answers(**changes), token=token)
    return body["data"]["submitServiceQuestionnaire"]


async def test_the_questionnaire_is_data_with_chinese_texts_and_bounds(
    client: httpx.AsyncClient, family: Family
) -> None:
    query = """{ serviceQuestionnaire { version questions {
      key text kind hint options { key text } min max maxItems } } }"""
    data = (await gql(client, query, token=family.customer))["data"]["serviceQuestionnaire"]
    questions = {q["key"]: q for q in data["questions"]}
    assert set(questions) == set(FAMILY)  # every question is a field of the input
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in q["text"]) for q in questions.values())
    assert questions["childrenAges"] | {"text": None, "hint": None} == {
        "key": "childrenAges",
        "text": None,
        "hint": None,
        "kind": "AGES",
        "options": [],
        "min": 0,
        "max": 30,
        "maxItems": 6,
    }
    assert [o["key"] for o in questions["riskAttitude"]["options"]] == [
        "CONSERVATIVE",
        "BALANCED",
        "ADVENTUROUS",
    ]
    assert questions["parentsOver60"]["max"] == 4


async def test_a_family_with_only_a_health_policy_gets_its_gaps_and_online_products(
    client: httpx.AsyncClient, family: Family
) -> None:
    answer = await _submit(client, family.customer)
    assert answer["errors"] == []
    plan = answer["plan"]
    assert plan["ruleVersion"] and plan["questionnaireVersion"] == "1"
    # Existing cover: only the in-force health policy (the lapsed accident one is not).
    assert plan["existingCover"] == [
        {
            "policyNumber": family.health_number,
            "kind": "HEALTH",
            "role": "HOLDER",
            "covers": ["SELF"],
        }
    ]
    gaps = {g["code"]: g for g in plan["gaps"]}
    assert [g["code"] for g in plan["gaps"]] == [
        "BREADWINNER_NO_ACCIDENT",
        "CHILDREN_NO_HEALTH",
        "ABROAD_NO_TRAVEL",
        "SPOUSE_NO_HEALTH",
        "PARENTS_NO_ACCIDENT",
        "PARENTS_NO_HEALTH",
    ]
    # Explainable: the facts that fired the rule, with their values, and a Chinese reason.
    breadwinner = gaps["BREADWINNER_NO_ACCIDENT"]
    assert {f["name"]: f["value"] for f in breadwinner["facts"]} == {
        "dependents": "4",
        "self_accident_cover": "false",
    }
    assert "4位" in breadwinner["reason"]
    assert {f["name"]: f["value"] for f in gaps["CHILDREN_NO_HEALTH"]["facts"]} == {
        "children_without_health_cover": "2"
    }
    # Only products sold online, of each gap's kind; none for travel (not sold online).
    online = family.products
    for code, gap in gaps.items():
        expected = {"ACCIDENT": ["ACC-ONLINE"], "HEALTH": ["HEALTH-ONLINE"], "TRAVEL": []}
        assert [p["code"] for p in gap["products"]] == expected[gap["kind"]], code
        assert all(p["kind"] == gap["kind"] for p in gap["products"])
    assert plan["suggestedProducts"] == [
        {
            "product": {"id": gid("Product", online["ACC-ONLINE"].id), "code": "ACC-ONLINE"},
            "gapCodes": ["BREADWINNER_NO_ACCIDENT", "PARENTS_NO_ACCIDENT"],
            "interested": False,
        },
        {
            "product": {"id": gid("Product", online["HEALTH-ONLINE"].id), "code": "HEALTH-ONLINE"},
            "gapCodes": ["CHILDREN_NO_HEALTH", "SPOUSE_NO_HEALTH", "PARENTS_NO_HEALTH"],
            "interested": False,
        },
    ]
    services = [s["code"] for s in plan["serviceSuggestions"]]
    assert services == [
        "PARENTS_HEALTH_CHECKUP",
        "TRAVEL_ASSISTANCE",
        "CHILD_HEALTH",
        "ANNUAL_REVIEW",
    ]
    # Stored with the rule version; myServicePlan answers the latest.
    stored = await ServicePlan.get(id=relay.GlobalID.from_id(plan["id"]).node_id)
    assert stored.rule_version == plan["ruleVersion"]
    assert stored.facts["dependents"] == 4
    mine = (await gql(client, MINE, token=family.customer))["data"]["myServicePlan"]
    assert mine == plan
    newer = await _submit(client, family.customer, key="plan-key-0002", ownsCar=True)
    assert "CAR_NO_AUTO" in [g["code"] for g in newer["plan"]["gaps"]]
    mine = (await gql(client, MINE, token=family.customer))["data"]["myServicePlan"]
    assert mine["id"] == newer["plan"]["id"]


async def test_nothing_is_suggested_when_nothing_is_sold_online(
    client: httpx.AsyncClient, services: Services
) -> None:
    family = await _family(services, online=False)
    plan = (await _submit(client, family.customer))["plan"]
    assert len(plan["gaps"]) == 6
    assert all(gap["products"] == [] for gap in plan["gaps"])
    assert plan["suggestedProducts"] == []


async def test_interest_creates_one_visit_and_staff_see_the_plan_on_it(
    client: httpx.AsyncClient, family: Family, caplog: pytest.LogCaptureFixture
) -> None:
    plan = (await _submit(client, family.customer))["plan"]
    product = gid("Product", family.products["ACC-ONLINE"].id)
    # Before any interest, the plan is the customer's alone.
    for token in (family.agent, family.adjuster, family.other):
        node = await gql(client, NODE, {"id": plan["id"]}, token=token)
        assert node["data"]["node"] is None
    variables = {"input": {"planId": plan["id"], "productId": product}}
    first = (await gql(client, INTEREST, variables, token=family.customer))["data"]
    again = (await gql(client, INTEREST, variables, token=family.customer))["data"]
    marked = first["markServicePlanInterest"]
    assert marked["errors"] == []
    assert marked["visit"]["status"] == "SCHEDULED"
    assert marked["visit"]["purpose"].startswith("新保单意向回访")
    assert again["markServicePlanInterest"]["visit"] == marked["visit"]
    assert {p["product"]["code"]: p["interested"] for p in marked["plan"]["suggestedProducts"]} == {
        "ACC-ONLINE": True,
        "HEALTH-ONLINE": False,
    }
    assert await FollowUpVisit.filter(trigger=VisitTrigger.NEW_POLICY_INTEREST).count() == 1
    # The agent finds it on the visit list, with the plan; the look is logged.
    caplog.set_level(logging.INFO, "anxin.security")
    edges = (await gql(client, VISITS, token=family.agent))["data"]["followUpVisits"]["edges"]
    assert len(edges) == 1
    visit = edges[0]["node"]
    assert visit["trigger"] == "NEW_POLICY_INTEREST" and visit["newPolicyInterest"] is True
    assert visit["customerName"] == "王磊"
    assert visit["servicePlan"]["id"] == plan["id"]
    assert visit["servicePlan"]["gaps"][0]["code"] == "BREADWINNER_NO_ACCIDENT"
    assert "viewed service plan" in caplog.text
    node = (await gql(client, NODE, {"id": plan["id"]}, token=family.agent))["data"]["node"]
    assert node["id"] == plan["id"]
    # Still nobody else: not the other customer, not staff without the visit permission.
    for token in (family.adjuster, family.other):
        node = await gql(client, NODE, {"id": plan["id"]}, token=token)
        assert node["data"]["node"] is None
    refused = await gql(client, VISITS, token=family.adjuster, allow_errors=True)  # no VISIT_HANDLE
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_interest_only_in_my_plans_products(
    client: httpx.AsyncClient, family: Family
) -> None:
    plan = (await _submit(client, family.customer))["plan"]
    for who, product, code, field in (
        (family.other, "ACC-ONLINE", "NOT_FOUND", "planId"),  # not theirs
        (family.customer, "AUTO-ONLINE", "NOT_SUGGESTED", "productId"),  # online, not suggested
        (family.customer, "ACC-OFFLINE", "NOT_SUGGESTED", "productId"),
    ):
        variables = {
            "input": {
                "planId": plan["id"],
                "productId": gid("Product", family.products[product].id),
            }
        }
        answer = (await gql(client, INTEREST, variables, token=who))["data"]
        assert answer["markServicePlanInterest"]["errors"] == [{"code": code, "field": field}]
    assert await FollowUpVisit.all().count() == 0
    # Another customer's view: their own (no) plan; staff are refused the customer field.
    assert (await gql(client, MINE, token=family.other))["data"]["myServicePlan"] is None
    staff = await gql(client, MINE, token=family.agent, allow_errors=True)
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_interest_needs_the_visit_rule_switched_on(
    client: httpx.AsyncClient, family: Family
) -> None:
    plan = (await _submit(client, family.customer))["plan"]
    await current_rules()
    await VisitRule.filter(trigger=VisitTrigger.NEW_POLICY_INTEREST).update(enabled=False)
    variables = {
        "input": {
            "planId": plan["id"],
            "productId": gid("Product", family.products["ACC-ONLINE"].id),
        }
    }
    answer = (await gql(client, INTEREST, variables, token=family.customer))["data"]
    assert answer["markServicePlanInterest"]["errors"] == [
        {"code": "FOLLOW_UP_UNAVAILABLE", "field": None}
    ]
    assert await ServicePlanInterest.all().count() == 0  # nothing half-done


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"childrenAges": [1, 2, 3, 4, 5, 6, 7]}, "childrenAges"),
        ({"childrenAges": [31]}, "childrenAges"),
        ({"childrenAges": [-1]}, "childrenAges"),
        ({"parentsOver60": 5}, "parentsOver60"),
        ({"parentsOver60": -1}, "parentsOver60"),
    ],
)
async def test_answers_out_of_bounds_are_refused(
    client: httpx.AsyncClient, family: Family, changes: dict[str, Any], field: str
) -> None:
    answer = await _submit(client, family.customer, **changes)
    assert answer["plan"] is None
    assert [(e["code"], e["field"]) for e in answer["errors"]] == [("INVALID_ANSWER", field)]
    assert await ServicePlan.all().count() == 0


async def test_idempotency_key_replays_and_refuses_other_answers(
    client: httpx.AsyncClient, family: Family
) -> None:
    first = await _submit(client, family.customer)
    again = await _submit(client, family.customer)
    assert again["plan"]["id"] == first["plan"]["id"]
    other = await _submit(client, family.customer, ownsCar=True)
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    short = await _submit(client, family.customer, key="short")
    assert [e["code"] for e in short["errors"]] == ["INVALID_IDEMPOTENCY_KEY"]
    assert await ServicePlan.all().count() == 1


@pytest.mark.parametrize("settings_overrides", [{"limit_service_plans_per_customer": "2/1h"}])
async def test_questionnaires_are_rate_limited_per_customer(
    client: httpx.AsyncClient, family: Family
) -> None:
    for n in range(2):
        assert (await _submit(client, family.customer, key=f"plan-key-{n:04d}"))["errors"] == []
    # A retry of an answered request replays its plan and is not counted.
    replayed = await _submit(client, family.customer, key="plan-key-0001")
    assert replayed["errors"] == [] and replayed["plan"] is not None
    refused = await _submit(client, family.customer, key="plan-key-0099")
    assert refused["errors"][0]["code"] == "THROTTLED"
    assert refused["errors"][0]["retryAfterSeconds"] > 0
    # Per customer: another customer still may.
    assert (await _submit(client, family.other, key="plan-key-0100"))["errors"] == []


@postgres_only
async def test_interest_marked_twice_at_once_makes_one_visit(
    client: httpx.AsyncClient, family: Family
) -> None:
    """Real concurrent requests on PostgreSQL, for each of the two suggested products:
    one interest and one visit each, and both answers name the same visit."""
    plan = (await _submit(client, family.customer))["plan"]
    for code in ("ACC-ONLINE", "HEALTH-ONLINE"):
        variables = {
            "input": {"planId": plan["id"], "productId": gid("Product", family.products[code].id)}
        }
        answers_ = await asyncio.gather(
            *(gql(client, INTEREST, variables, token=family.customer) for _ in range(4))
        )
        visits = {a["data"]["markServicePlanInterest"]["visit"]["id"] for a in answers_}
        assert len(visits) == 1, code
    assert await ServicePlanInterest.all().count() == 2
    assert await FollowUpVisit.filter(trigger=VisitTrigger.NEW_POLICY_INTEREST).count() == 2


async def test_my_plan_costs_the_same_statements_with_more_products(
    client: httpx.AsyncClient, family: Family, sql_counter: QueryCounter
) -> None:
    """Products and interests are read once per plan, not once per gap or product."""

    async def statements() -> int:
        sql_counter.statements.clear()
        await gql(client, MINE, token=family.customer)
        return len(sql_counter.statements)

    await _submit(client, family.customer)
    few = await statements()
    for n in range(4):
        for kind in (ProductKind.ACCIDENT, ProductKind.HEALTH):
            await make_product(kind, code=f"MORE-{kind.value}-{n}", sold_online=True)
    plan = (await _submit(client, family.customer, key="plan-key-0002"))["plan"]
    assert len(plan["suggestedProducts"]) == 10
    assert await statements() == few, few
