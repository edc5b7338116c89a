"""Follow-up visits in GraphQL: the staff list and its filters, assignment, attempts up to
the limit, outcomes (a complaint opens recovery), versions against double clicks, the
rules, and the customer's own visits with change requests and declines."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.policies import Policy
from models.staff import StaffRole, StaffUser
from models.surveys import RecoveryTask
from models.visits import FollowUpVisit, VisitAttempt, VisitChannel, VisitStatus, VisitTrigger
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql

VISIT_FIELDS = """id version status attempts dueAt changeRequested customerNote customerName
  customerPhone policyNumber assigneeName newPolicyInterest complaintRaised
  attemptLog { reached note }"""
LIST = f"""query($filter: VisitFilter) {{ followUpVisits(filter: $filter) {{
  totalCount edges {{ node {{ {VISIT_FIELDS} }} }} }} }}"""
RECORD = f"""mutation($input: RecordVisitOutcomeInput!) {{ recordVisitOutcome(input: $input) {{
  visit {{ {VISIT_FIELDS} }} errors {{ code field }} }} }}"""
ASSIGN = """mutation($input: AssignVisitInput!) { assignVisit(input: $input) {
  visit { assigneeName version } errors { code field } } }"""
RESCHEDULE = """mutation($input: RescheduleVisitInput!) { rescheduleVisit(input: $input) {
  visit { dueAt changeRequested version } errors { code field } } }"""
PHONE = "13712345678"
MINE = "{ myVisits { id purpose channel dueAt policyNumber changeRequested preferredTime } }"


def gid(visit: FollowUpVisit) -> str:
    return str(relay.GlobalID("FollowUpVisit", str(visit.id)))


@dataclass(frozen=True)
class Planned:
    """A phone visit due an hour ago, and the tokens of everyone who may ask about it."""

    visit: FollowUpVisit
    policy: Policy
    customer: str
    other: str  # another customer
    agent: str
    agent_user: StaffUser
    second_agent: str
    supervisor: str
    adjuster: str


@pytest.fixture
async def planned(services: Services) -> Planned:
    customer = await make_customer(services, name="周杰", phone=PHONE)
    other = await make_customer(services, name="林峰")
    policy = await make_policy(services, customer)
    visit = await FollowUpVisit.create(
        customer=customer,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{policy.id}:2027",
        purpose="保单周年回访",
        policy=policy,
        channel=VisitChannel.PHONE,
        due_at=datetime.now(UTC) - timedelta(hours=1),
        max_attempts=3,
        retry_after_days=2,
    )
    agent = await make_staff(StaffRole.AGENT)
    return Planned(
        visit=visit,
        policy=policy,
        customer=await customer_token(services, customer),
        other=await customer_token(services, other),
        agent=await staff_token(services, agent),
        agent_user=agent,
        second_agent=await staff_token(services, await make_staff(StaffRole.AGENT)),
        supervisor=await staff_token(services, await make_staff(StaffRole.SUPERVISOR)),
        adjuster=await staff_token(services, await make_staff(StaffRole.ADJUSTER)),
    )


async def record(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    body = await gql(client, RECORD, {"input": fields}, token=token)
    return body["data"]["recordVisitOutcome"]


async def test_unreachable_customers_are_retried_up_to_the_limit(
    client: httpx.AsyncClient, planned: Planned
) -> None:
    listed = await gql(client, LIST, {"filter": {"overdue": True}}, token=planned.agent)
    [edge] = listed["data"]["followUpVisits"]["edges"]
    visit = edge["node"]
    assert visit["customerName"] == "周杰" and "****" in visit["customerPhone"]
    assert visit["policyNumber"] == planned.policy.number and visit["assigneeName"] is None

    for attempt in (1, 2):
        result = await record(
            client,
            planned.agent,
            visitId=visit["id"],
            expectedVersion=visit["version"],
            reached=False,
            note=f"第{attempt}次无人接听",
        )
        assert result["errors"] == []
        visit = result["visit"]
        assert visit["status"] == "SCHEDULED" and visit["attempts"] == attempt
        assert datetime.fromisoformat(visit["dueAt"]) > datetime.now(UTC) + timedelta(days=1)
    # Recording takes the visit: it is now the agent's.
    assert visit["assigneeName"] == planned.agent_user.display_name
    listed = await gql(client, LIST, {"filter": {"overdue": True}}, token=planned.agent)
    assert listed["data"]["followUpVisits"]["totalCount"] == 0

    result = await record(
        client,
        planned.agent,
        visitId=visit["id"],
        expectedVersion=visit["version"],
        reached=False,
        note="第3次无人接听",
    )
    assert result["visit"]["status"] == "UNREACHABLE"
    assert [a["note"] for a in result["visit"]["attemptLog"]] == [
        "第1次无人接听",
        "第2次无人接听",
        "第3次无人接听",
    ]
    again = await record(
        client,
        planned.agent,
        visitId=visit["id"],
        expectedVersion=result["visit"]["version"],
        reached=True,
    )
    assert again["errors"] == [{"code": "NOT_SCHEDULED", "field": None}]


async def test_reached_with_needs_interest_and_a_complaint(
    client: httpx.AsyncClient, planned: Planned
) -> None:
    result = await record(
        client,
        planned.agent,
        visitId=gid(planned.visit),
        expectedVersion=1,
        reached=True,
        needs="孩子出生，想增加保额",
        nextAction="下周发送少儿险方案",
        newPolicyInterest=True,
        complaintRaised=True,
        note="客户对上次理赔速度不满",
    )
    assert result["errors"] == []
    visit = result["visit"]
    assert visit["status"] == "DONE" and visit["newPolicyInterest"] and visit["complaintRaised"]
    [task] = await RecoveryTask.all()
    assert task.source == "visit" and task.source_id == planned.visit.id
    interested = await gql(
        client,
        LIST,
        {"filter": {"status": None, "newPolicyInterest": True}},
        token=planned.supervisor,
    )
    assert interested["data"]["followUpVisits"]["totalCount"] == 1


async def test_double_clicks_and_stale_versions_have_one_effect(
    client: httpx.AsyncClient, planned: Planned
) -> None:
    fields = {"visitId": gid(planned.visit), "expectedVersion": 1, "reached": False}
    results = await asyncio.gather(*(record(client, planned.agent, **fields) for _ in range(5)))
    assert sum(not r["errors"] for r in results) == 1
    assert {e["code"] for r in results for e in r["errors"]} == {"CONFLICT"}
    visit = await FollowUpVisit.get(id=planned.visit.id)
    assert visit.attempts == 1 and await VisitAttempt.all().count() == 1


async def test_assignment_and_who_may_work_a_visit(
    client: httpx.AsyncClient, planned: Planned
) -> None:
    agent_id = str(relay.GlobalID("StaffMember", str(planned.agent_user.id)))
    adjuster = await StaffUser.get(role=StaffRole.ADJUSTER)
    adjuster_id = str(relay.GlobalID("StaffMember", str(adjuster.id)))
    refused = await gql(
        client,
        ASSIGN,
        {"input": {"visitId": gid(planned.visit), "expectedVersion": 1, "staffId": agent_id}},
        token=planned.agent,
        allow_errors=True,
    )
    assert refused["data"] is None  # agents do not assign
    cannot = await gql(
        client,
        ASSIGN,
        {"input": {"visitId": gid(planned.visit), "expectedVersion": 1, "staffId": adjuster_id}},
        token=planned.supervisor,
    )
    assert cannot["data"]["assignVisit"]["errors"] == [
        {"code": "INVALID_STAFF", "field": "staffId"}
    ]
    assigned = await gql(
        client,
        ASSIGN,
        {"input": {"visitId": gid(planned.visit), "expectedVersion": 1, "staffId": agent_id}},
        token=planned.supervisor,
    )
    assert assigned["data"]["assignVisit"]["visit"]["version"] == 2

    mine = await gql(client, LIST, {"filter": {"mine": True}}, token=planned.agent)
    assert mine["data"]["followUpVisits"]["totalCount"] == 1
    theirs = await record(
        client,
        planned.second_agent,
        visitId=gid(planned.visit),
        expectedVersion=2,
        reached=True,
    )
    assert theirs["errors"] == [{"code": "NOT_YOURS", "field": None}]
    adjusters = await gql(client, LIST, token=planned.adjuster, allow_errors=True)
    assert adjusters["data"] is None  # no VISIT_HANDLE


async def test_customers_see_their_visits_and_ask_for_another_time_or_decline(
    client: httpx.AsyncClient, planned: Planned
) -> None:
    [mine] = (await gql(client, MINE, token=planned.customer))["data"]["myVisits"]
    assert mine["purpose"] == "保单周年回访" and mine["channel"] == "PHONE"
    assert (await gql(client, MINE, token=planned.other))["data"]["myVisits"] == []

    change = """mutation($input: RequestVisitChangeInput!) { requestVisitChange(input: $input) {
      changed errors { code field } } }"""
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    stranger = await gql(
        client,
        change,
        {"input": {"visitId": mine["id"], "preferredTime": later}},
        token=planned.other,
    )
    assert stranger["data"]["requestVisitChange"]["errors"][0]["code"] == "NOT_FOUND"
    # The customer's handle is their MyVisit's id; the staff view's id is not theirs.
    staff_id = await gql(
        client,
        change,
        {"input": {"visitId": gid(planned.visit), "preferredTime": later}},
        token=planned.customer,
    )
    assert staff_id["data"]["requestVisitChange"]["errors"][0]["code"] == "NOT_FOUND"
    assert mine["id"] != gid(planned.visit)
    past = await gql(
        client,
        change,
        {"input": {"visitId": mine["id"], "preferredTime": "2020-01-01T10:00:00+08:00"}},
        token=planned.customer,
    )
    assert past["data"]["requestVisitChange"]["errors"][0]["code"] == "INVALID_TIME"
    naive = await gql(
        client,
        change,
        {"input": {"visitId": mine["id"], "preferredTime": later[:19]}},  # no offset
        token=planned.customer,
    )
    assert naive["data"]["requestVisitChange"]["errors"][0]["code"] == "INVALID_TIME"
    asked = await gql(
        client,
        change,
        {"input": {"visitId": mine["id"], "preferredTime": later, "note": "工作日晚上方便"}},
        token=planned.customer,
    )
    assert asked["data"]["requestVisitChange"] == {"changed": True, "errors": []}

    requested = await gql(client, LIST, {"filter": {"changeRequested": True}}, token=planned.agent)
    [edge] = requested["data"]["followUpVisits"]["edges"]
    assert edge["node"]["customerNote"] == "工作日晚上方便"
    moved = await gql(
        client,
        RESCHEDULE,
        {
            "input": {
                "visitId": edge["node"]["id"],
                "expectedVersion": edge["node"]["version"],
                "dueAt": later,
            }
        },
        token=planned.agent,
    )
    assert moved["data"]["rescheduleVisit"]["visit"]["changeRequested"] is False
    [mine] = (await gql(client, MINE, token=planned.customer))["data"]["myVisits"]
    assert datetime.fromisoformat(mine["dueAt"]) == datetime.fromisoformat(later)

    decline = """mutation($input: DeclineVisitInput!) { declineVisit(input: $input) {
      changed errors { code } } }"""
    declined = await gql(
        client,
        decline,
        {"input": {"visitId": mine["id"], "note": "不需要"}},
        token=planned.customer,
    )
    assert declined["data"]["declineVisit"]["changed"] is True
    assert (await gql(client, MINE, token=planned.customer))["data"]["myVisits"] == []
    assert (await FollowUpVisit.get(id=planned.visit.id)).status is VisitStatus.DECLINED


async def test_supervisors_change_the_rules(client: httpx.AsyncClient, planned: Planned) -> None:
    rules_query = (
        "{ visitRules { trigger version enabled channel days everyMonths "
        "minAnnualPremium { amount } maxAttempts } }"
    )
    rules = (await gql(client, rules_query, token=planned.supervisor))["data"]["visitRules"]
    assert [r["trigger"] for r in rules] == [
        "CLAIM_CLOSED",
        "POLICY_ANNIVERSARY",
        "BEFORE_RENEWAL",
        "HIGH_VALUE",
        "CALLBACK",  # call backs asked for in online service (never planned)
        "NEW_POLICY_INTEREST",  # interest in a service plan's product (never planned)
        "RETENTION_RISK",  # a risk signal's call before a lapse (never planned)
    ]
    high = rules[3]
    assert high["everyMonths"] == 6 and high["minAnnualPremium"]["amount"] == "20000.00"
    update = """mutation($input: UpdateVisitRuleInput!) { updateVisitRule(input: $input) {
      rule { version everyMonths minAnnualPremium { amount } } errors { code field } } }"""
    change = {
        "trigger": "HIGH_VALUE",
        "expectedVersion": high["version"],
        "enabled": True,
        "channel": "PHONE",
        "days": 7,
        "maxAttempts": 4,
        "retryAfterDays": 3,
        "everyMonths": 3,
        "minAnnualPremium": "50000",
    }
    saved = await gql(client, update, {"input": change}, token=planned.supervisor)
    assert saved["data"]["updateVisitRule"]["rule"]["everyMonths"] == 3
    stale = await gql(client, update, {"input": change}, token=planned.supervisor)
    assert stale["data"]["updateVisitRule"]["errors"] == [{"code": "CONFLICT", "field": "version"}]
    refused = await gql(client, update, {"input": change}, token=planned.agent, allow_errors=True)
    assert refused["data"] is None


async def test_the_caller_sees_the_full_phone_and_the_look_is_logged(
    client: httpx.AsyncClient, planned: Planned, caplog: pytest.LogCaptureFixture
) -> None:
    reveal = """mutation($input: RevealVisitPhoneInput!) { revealVisitPhone(input: $input) {
      phone errors { code } } }"""
    variables = {"input": {"visitId": gid(planned.visit), "purpose": "电话回访客户"}}
    caplog.set_level(logging.INFO, logger="anxin.security")
    shown = await gql(client, reveal, variables, token=planned.agent)
    assert shown["data"]["revealVisitPhone"] == {"phone": PHONE, "errors": []}
    assert any(str(planned.visit.id) in r.getMessage() for r in caplog.records)

    await FollowUpVisit.filter(id=planned.visit.id).update(assignee_id=planned.agent_user.id)
    other = await gql(client, reveal, variables, token=planned.second_agent)
    assert other["data"]["revealVisitPhone"]["errors"] == [{"code": "NOT_YOURS"}]
    refused = await gql(client, reveal, variables, token=planned.customer, allow_errors=True)
    assert refused["data"] is None
    await FollowUpVisit.filter(id=planned.visit.id).update(
        due_at=datetime.now(UTC) + timedelta(days=3)
    )
    early = await gql(client, reveal, variables, token=planned.agent)
    assert early["data"]["revealVisitPhone"]["errors"] == [{"code": "NOT_DUE"}]
    await FollowUpVisit.filter(id=planned.visit.id).update(status=VisitStatus.DONE)
    done = await gql(client, reveal, variables, token=planned.agent)
    assert done["data"]["revealVisitPhone"] == {
        "phone": None,
        "errors": [{"code": "NOT_SCHEDULED"}],
    }
