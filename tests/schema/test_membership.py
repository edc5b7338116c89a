"""Membership in GraphQL: `myMembership` (tier, progress with what is missing, points
history as a connection, rewards left this year), `redeemPoints` (balance never
negative; the last points spent once under two concurrent redemptions, on PostgreSQL),
health tasks once per period, the staff rules with their permission, FIFO expiry, and
other customers kept out by global ID."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.membership import HealthTask, PointsEntry, PointsKind, Reward
from models.staff import StaffRole
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from tests.schema.conftest import QueryCounter
from workflows.membership import award_points, ledger, points_balance
from workflows.membership.health import ensure_programmes
from workflows.membership.ledger import ensure_rewards, expire_points
from workflows.membership.rules import MembershipError, MembershipErrorCode
from workflows.membership.standing import membership_of

MY = """query MyMembershipTest($first: Int, $after: String) { myMembership {
  id tier tierName since pendingTier graceUntil pointsBalance version
  progress { nextTier nextTierName missing { criterion label required actual met }
             criteria { criterion met } toKeep { criterion } }
  privileges { code name } allowances { code name perYear }
  rewards { reward { id code pointsCost minTier perYear } usedThisYear remainingThisYear
            tierAllows affordable available }
  redemptionsThisYear { id voucherCode points reward { code } }
  dedicatedAgent { name team }
  pointsHistory(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id points kind reason expiresOn } } } } }"""

REDEEM = """mutation RedeemTest($input: RedeemPointsInput!) { redeemPoints(input: $input) {
  redemption { id points voucherCode reward { code } }
  membership { pointsBalance rewards { reward { code } usedThisYear } }
  errors { code field message } } }"""

COMPLETE = """mutation CompleteTest($input: CompleteHealthTaskInput!) {
  completeHealthTask(input: $input) {
    completion { id periodKey value points task { code doneThisPeriod } }
    task { id doneThisPeriod } membership { pointsBalance } errors { code field } } }"""


def gid(type_name: str, value: uuid.UUID) -> str:
    return str(relay.GlobalID(type_name, str(value)))


async def _reward(code: str) -> Reward:
    await ensure_rewards()
    return await Reward.get(code=code)


async def test_my_membership_shows_tier_progress_and_history(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    await make_policy(services, customer)  # 600 yuan paid: STANDARD, SILVER asks 1 000
    for n in range(3):
        await award_points(customer.id, 100, f"test:{n}", f"测试{n}")
    token = await customer_token(services, customer)
    body = await gql(client, MY, {"first": 2}, token=token)
    me = body["data"]["myMembership"]
    assert (me["tier"], me["tierName"], me["pendingTier"]) == ("STANDARD", "普通会员", None)
    assert me["progress"]["nextTier"] == "SILVER"
    missing = {m["criterion"]: m for m in me["progress"]["missing"]}
    assert set(missing) == {"YEARLY_PREMIUM"}
    assert (missing["YEARLY_PREMIUM"]["required"], missing["YEARLY_PREMIUM"]["actual"]) == (
        "1000",
        "600.00",
    )
    assert me["pointsBalance"] == 300
    history = me["pointsHistory"]
    assert history["totalCount"] == 3 and history["pageInfo"]["hasNextPage"]
    assert [e["node"]["reason"] for e in history["edges"]] == ["测试2", "测试1"]
    nxt = await gql(
        client, MY, {"first": 2, "after": history["pageInfo"]["endCursor"]}, token=token
    )
    assert len(nxt["data"]["myMembership"]["pointsHistory"]["edges"]) == 1
    car_wash = next(r for r in me["rewards"] if r["reward"]["code"] == "CAR_WASH")
    assert car_wash["available"] and car_wash["remainingThisYear"] == 6
    check_up = next(r for r in me["rewards"] if r["reward"]["code"] == "CHECK_UP")
    assert not check_up["tierAllows"] and not check_up["available"]
    # another customer cannot read it by global ID
    other = await customer_token(services, await make_customer(services))
    node = await gql(
        client, "query N($id: ID!) { node(id: $id) { id } }", {"id": me["id"]}, token=other
    )
    assert node["data"]["node"] is None
    entry = history["edges"][0]["node"]["id"]
    node = await gql(
        client, "query N($id: ID!) { node(id: $id) { id } }", {"id": entry}, token=other
    )
    assert node["data"]["node"] is None


async def test_redeem_debits_once_per_key_within_limits(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    await award_points(customer.id, 700, "test:lot", "测试")
    car_wash = await _reward("CAR_WASH")  # 300 points
    variables = {
        "input": {"rewardId": gid("MembershipReward", car_wash.id), "idempotencyKey": "key-00001"}
    }
    first = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert first["errors"] == [] and first["membership"]["pointsBalance"] == 400
    again = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert again["redemption"]["id"] == first["redemption"]["id"]  # the same answer
    assert await points_balance(customer.id) == 400
    variables["input"]["idempotencyKey"] = "key-00002"
    second = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert second["membership"]["pointsBalance"] == 100
    variables["input"]["idempotencyKey"] = "key-00003"
    poor = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert poor["errors"][0]["code"] == "INSUFFICIENT_POINTS" and poor["redemption"] is None
    assert await points_balance(customer.id) == 100
    check_up = await _reward("CHECK_UP")  # SILVER and above
    variables = {
        "input": {"rewardId": gid("MembershipReward", check_up.id), "idempotencyKey": "key-00004"}
    }
    refused = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert refused["errors"][0]["code"] == "REWARD_NOT_AVAILABLE"
    await Reward.filter(id=car_wash.id).update(per_year=2)
    variables = {
        "input": {"rewardId": gid("MembershipReward", car_wash.id), "idempotencyKey": "key-00005"}
    }
    await award_points(customer.id, 1000, "test:more", "测试")
    limited = (await gql(client, REDEEM, variables, token=token))["data"]["redeemPoints"]
    assert limited["errors"][0]["code"] == "YEARLY_LIMIT_REACHED"


@postgres_only
async def test_concurrent_redemptions_of_the_last_points_one_wins(services: Services) -> None:
    """Four redemptions of the last 300 points at once (distinct keys): without the
    Membership row lock all four pass and the balance is -900 (measured)."""
    customer = await make_customer(services)
    await award_points(customer.id, 300, "test:last", "测试")
    car_wash = await _reward("CAR_WASH")
    await membership_of(customer.id)  # the row exists (the app reads myMembership first)
    results = await asyncio.gather(
        *(ledger.redeem(customer.id, car_wash.id, f"race-{n:05d}") for n in range(4)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, MembershipError)]
    assert len(won) == 1 and len(lost) == 3
    assert {e.code for e in lost} == {MembershipErrorCode.INSUFFICIENT_POINTS}
    assert await points_balance(customer.id) == 0


async def test_expiry_writes_off_the_rest_of_old_lots_first(services: Services) -> None:
    customer = await make_customer(services)
    await award_points(customer.id, 100, "lot:old", "旧", expires_on=date(2025, 12, 31))
    await award_points(customer.id, 50, "lot:new", "新", expires_on=date(2027, 12, 31))
    await PointsEntry.create(
        customer_id=customer.id,
        points=-30,
        kind=PointsKind.REDEEMED,
        source="redeem:x",
        reason="兑换",
    )
    january = datetime(2026, 1, 5, 4, tzinfo=UTC)
    assert await expire_points(customer.id, january) == 70  # 30 of the old lot were spent
    assert await expire_points(customer.id, january) == 0  # once
    assert await points_balance(customer.id) == 50
    assert await expire_points(customer.id, datetime(2028, 1, 2, tzinfo=UTC)) == 50
    assert await points_balance(customer.id) == 0


async def test_a_health_task_counts_once_per_period_within_bounds(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    listed = await gql(
        client,
        "query HealthTest { healthProgrammes { code tasks { id code doneThisPeriod } } }",
        token=token,
    )
    programmes = {p["code"]: p for p in listed["data"]["healthProgrammes"]}
    steps = next(t for t in programmes["DAILY_STEPS"]["tasks"] if t["code"] == "STEPS_8000")
    cases = [
        (200000, "VALUE_OUT_OF_RANGE"),
        (3000, "VALUE_OUT_OF_RANGE"),
        (None, "VALUE_OUT_OF_RANGE"),
    ]
    for value, code in cases:
        answer = await gql(
            client, COMPLETE, {"input": {"taskId": steps["id"], "value": value}}, token=token
        )
        assert answer["data"]["completeHealthTask"]["errors"][0]["code"] == code
    done = await gql(
        client, COMPLETE, {"input": {"taskId": steps["id"], "value": 9000}}, token=token
    )
    result = done["data"]["completeHealthTask"]
    assert result["errors"] == [] and result["task"]["doneThisPeriod"]
    assert result["membership"]["pointsBalance"] == 10
    twice = await gql(
        client, COMPLETE, {"input": {"taskId": steps["id"], "value": 9500}}, token=token
    )
    assert twice["data"]["completeHealthTask"]["errors"][0]["code"] == "ALREADY_DONE"
    assert await points_balance(customer.id) == 10
    listed = await gql(
        client,
        "query HealthTest2 { healthProgrammes { tasks { code doneThisPeriod } } }",
        token=token,
    )
    flags = {
        t["code"]: t["doneThisPeriod"]
        for p in listed["data"]["healthProgrammes"]
        for t in p["tasks"]
    }
    assert flags["STEPS_8000"] and not flags["READ_REPORT"]


@postgres_only
async def test_a_task_declared_twice_at_once_earns_once(services: Services) -> None:
    from workflows.membership.health import complete_task

    await ensure_programmes()
    customer = await make_customer(services)
    task = await HealthTask.get(code="READ_REPORT")
    results = await asyncio.gather(
        *(complete_task(customer.id, task.id, None) for _ in range(4)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, MembershipError) for r in results if isinstance(r, BaseException))
    assert await points_balance(customer.id) == 50


RULES = """query RulesTest { membershipRules { id version graceDays
  points { yuanPerPoint renewalBonus surveyPoints validYears }
  standardPrivileges { code name description }
  tiers { tier
          thresholds { activePolicies yearlyPremium yearsAsCustomer claimsFreeYears familyMembers }
          privileges { code name description } allowances { code name perYear } } } }"""

UPDATE = """mutation UpdateRulesTest($input: UpdateMembershipRulesInput!) {
  updateMembershipRules(input: $input) {
  rules { version graceDays tiers { tier thresholds { yearlyPremium } } }
  errors { code field message } } }"""


def _as_input(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "expectedVersion": rules["version"],
        "graceDays": rules["graceDays"],
        "points": rules["points"],
        "standardPrivileges": rules["standardPrivileges"],
        "tiers": [
            {
                "tier": t["tier"],
                **t["thresholds"],
                "privileges": t["privileges"],
                "allowances": t["allowances"],
            }
            for t in rules["tiers"]
        ],
    }


async def test_staff_with_the_permission_change_the_rules(
    client: httpx.AsyncClient, services: Services
) -> None:
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    refused = await gql(client, RULES, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    rules = (await gql(client, RULES, token=supervisor))["data"]["membershipRules"]
    assert [t["tier"] for t in rules["tiers"]] == ["SILVER", "GOLD", "PLATINUM"]
    change = _as_input(rules)
    change["tiers"][1]["yearlyPremium"] = "500.00"  # gold below silver's 1 000
    bad = (await gql(client, UPDATE, {"input": change}, token=supervisor))["data"]
    assert bad["updateMembershipRules"]["errors"][0]["code"] == "RULES_INVALID"
    change["tiers"][1]["yearlyPremium"] = "8000.00"
    change["graceDays"] = 60
    good = (await gql(client, UPDATE, {"input": change}, token=supervisor))["data"]
    updated = good["updateMembershipRules"]["rules"]
    assert updated["version"] == rules["version"] + 1 and updated["graceDays"] == 60
    assert updated["tiers"][1]["thresholds"]["yearlyPremium"] == "8000.00"
    stale = (await gql(client, UPDATE, {"input": change}, token=supervisor))["data"]
    assert stale["updateMembershipRules"]["errors"][0]["code"] == "CONFLICT"
    as_agent = await gql(client, UPDATE, {"input": change}, token=agent, allow_errors=True)
    assert as_agent["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_points_last_until_the_end_of_the_next_calendar_year() -> None:
    from workflows.membership.rules import DEFAULT_RULES

    assert DEFAULT_RULES.points_expire_on(date(2026, 3, 1)) == date(2027, 12, 31)
    assert DEFAULT_RULES.points_expire_on(date(2026, 12, 31)) == date(2027, 12, 31)


async def test_my_membership_costs_the_same_statements_with_more_history(
    client: httpx.AsyncClient, services: Services, sql_counter: QueryCounter
) -> None:
    """Policies, ledger entries and redemptions do not add statements (one page of
    history, every reward and this year's redemptions read at once)."""
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    await make_policy(services, customer)
    await award_points(customer.id, 5000, "test:many", "测试")
    await gql(client, MY, {"first": 20}, token=token)  # computed and stored once

    async def statements() -> int:
        sql_counter.statements.clear()
        await gql(client, MY, {"first": 20}, token=token)
        return len(sql_counter.statements)

    few = await statements()
    for _ in range(3):
        await make_policy(services, customer)
    car_wash = await _reward("CAR_WASH")
    for n in range(3):
        await ledger.redeem(customer.id, car_wash.id, f"more-{n:05d}")
    for n in range(10):
        await award_points(customer.id, 10, f"test:more{n}", "测试")
    assert await statements() == few, few


async def test_staff_who_read_customers_see_a_customers_membership(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    query = """query CustomerMembershipTest($id: ID!) {
      customerMembership(customerId: $id) { tier pointsBalance } }"""
    variables = {"id": gid("Customer", customer.id)}
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    body = await gql(client, query, variables, token=agent)
    assert body["data"]["customerMembership"] == {"tier": "STANDARD", "pointsBalance": 0}
    unknown = await gql(client, query, {"id": gid("Customer", uuid.uuid4())}, token=agent)
    assert unknown["data"]["customerMembership"] is None
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    # adjusters read customers too; a customer may not use the staff field
    assert (await gql(client, query, variables, token=adjuster))["data"]["customerMembership"]
    own = await customer_token(services, customer)
    refused = await gql(client, query, variables, token=own, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
