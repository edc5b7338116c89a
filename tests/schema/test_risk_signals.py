"""Risk signals over GraphQL: RISK_REVIEW staff list, open and decide them with their
evidence; everyone else is refused or gets null; a page costs the same statements
whatever its size."""

from __future__ import annotations

from typing import Any

import httpx

from api.services import Services
from models.claims import ClaimStatus
from models.ids import global_id
from models.risk import RiskRule, RiskSignal
from models.staff import StaffRole
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.sql_counter import counting_statements
from workflows.risk import evaluate
from workflows.risk.detectors import Scope

SIGNALS = """query($filter: RiskSignalFilter, $first: Int) {
  riskSignals(filter: $filter, first: $first) { totalCount edges { node {
    id number kind kindName ruleCode severity status subjectKind summary customerId version
    evidence { typeName objectId label } timeline { action toStatus note staffId } } } } }"""
MOVE = """mutation($input: RiskSignalActionInput!) { %s(input: $input) {
  changed errors { code field } signal { status version decisionNote reviewerId
  timeline { action } } } }"""
RULES = "{ riskRules { id code threshold thresholdMeans minimum windowDays enabled version } }"
EDIT = """mutation($input: EditRiskRuleInput!) { editRiskRule(input: $input) {
  changed errors { code field } rule { code threshold version } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on RiskSignal { number } } }"


async def early_claims(services: Services, count: int) -> None:
    await evaluate.ensure_default_rules()
    await RiskRule.exclude(code="EARLY_CLAIM").update(enabled=False)
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    for _ in range(count):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    await evaluate.run_rules(Scope())


async def test_a_reviewer_decides_a_signal(client: httpx.AsyncClient, services: Services) -> None:
    await early_claims(services, 1)
    reviewer = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, reviewer)
    listed = await gql(client, SIGNALS, {"filter": {"status": ["NEW"]}}, token=token)
    [edge] = listed["data"]["riskSignals"]["edges"]
    signal: dict[str, Any] = edge["node"]
    assert signal["kind"] == "EARLY_CLAIM" and signal["kindName"] == "生效后短期出险"
    assert signal["number"].startswith("FX") and signal["ruleCode"] == "EARLY_CLAIM"
    assert [e["typeName"] for e in signal["evidence"]] == ["Claim", "Policy"]
    assert signal["timeline"] == [
        {"action": "opened", "toStatus": "NEW", "note": signal["summary"], "staffId": None}
    ]
    claim_id = signal["evidence"][0]["objectId"]
    opened = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": claim_id}, token=token
    )
    assert opened["data"]["node"]["id"] == claim_id  # the evidence opens

    def action(name: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        variables = {"signalId": signal["id"], "expectedVersion": signal["version"], **fields}
        return MOVE % name, {"input": variables}

    refused = await gql(client, *action("dismissRiskSignal"), token=token)
    assert refused["data"]["dismissRiskSignal"]["errors"] == [
        {"code": "REASON_REQUIRED", "field": "note"}
    ]
    started = (await gql(client, *action("startRiskReview"), token=token))["data"][
        "startRiskReview"
    ]
    assert started["changed"] and started["signal"]["status"] == "REVIEWING"
    assert started["signal"]["reviewerId"] == global_id("StaffMember", reviewer.id)
    stale = await gql(client, *action("confirmRiskSignal", note="核实"), token=token)
    assert stale["data"]["confirmRiskSignal"]["errors"][0]["code"] == "CONFLICT"
    signal["version"] = started["signal"]["version"]
    confirmed = (await gql(client, *action("confirmRiskSignal", note="已移交调查"), token=token))[
        "data"
    ]["confirmRiskSignal"]
    assert confirmed["signal"]["status"] == "CONFIRMED"
    assert confirmed["signal"]["decisionNote"] == "已移交调查"
    assert [t["action"] for t in confirmed["signal"]["timeline"]] == [
        "opened",
        "review_started",
        "confirmed",
    ]
    row = await RiskSignal.get(number=signal["number"])
    assert row.open_key is None


async def test_only_risk_reviewers_see_signals(
    client: httpx.AsyncClient, services: Services
) -> None:
    await early_claims(services, 1)
    row = await RiskSignal.get()
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    customer = await customer_token(services, await make_customer(services))
    for token in (adjuster, customer):
        answer = await gql(client, SIGNALS, token=token, allow_errors=True)
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        node = await gql(client, NODE, {"id": global_id("RiskSignal", row.id)}, token=token)
        assert node["data"]["node"] is None
    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))
    node = await gql(client, NODE, {"id": global_id("RiskSignal", row.id)}, token=admin)
    assert node["data"]["node"]["number"] == row.number


async def test_rules_are_listed_and_edited(client: httpx.AsyncClient, services: Services) -> None:
    token = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    rules = (await gql(client, RULES, token=token))["data"]["riskRules"]
    assert len(rules) == 8 and all(r["thresholdMeans"] for r in rules)
    rule = next(r for r in rules if r["code"] == "FREQUENT_CLAIMS")
    variables = {
        "ruleId": rule["id"],
        "expectedVersion": rule["version"],
        "enabled": True,
        "severity": "HIGH",
        "threshold": 5,
        "minimum": 1,
        "windowDays": 4000,
    }
    refused = await gql(client, EDIT, {"input": variables}, token=token)
    assert refused["data"]["editRiskRule"]["errors"] == [
        {"code": "OUT_OF_RANGE", "field": "windowDays"}
    ]
    edited = await gql(client, EDIT, {"input": variables | {"windowDays": 180}}, token=token)
    assert edited["data"]["editRiskRule"]["rule"] == {
        "code": "FREQUENT_CLAIMS",
        "threshold": 5,
        "version": rule["version"] + 1,
    }


async def test_a_page_of_signals_costs_the_same_statements(
    client: httpx.AsyncClient, services: Services
) -> None:
    token = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    await early_claims(services, 1)
    with counting_statements() as one:
        await gql(client, SIGNALS, token=token)
    await early_claims(services, 4)
    with counting_statements() as five:
        answer = await gql(client, SIGNALS, token=token)
    assert answer["data"]["riskSignals"]["totalCount"] == 5
    assert len(five.statements) == len(one.statements)
