"""The PII reveal mechanism: each full phone number read by staff is logged with who,
whose, through what, when and the stated purpose; auditors (AUDIT_READ, admins) read the
log with filters; one staff member past the hourly limit raises one alert per window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.privacy import PiiAccess, PiiField, PiiRevealAlert, PiiSubjectKind
from models.staff import StaffRole
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from workflows.access import Actor
from workflows.privacy import reveal
from workflows.privacy.rules import PrivacyError

PHONE = "13712340001"
REVEAL = """mutation($input: RevealVisitPhoneInput!) { revealVisitPhone(input: $input) {
  phone errors { field code } } }"""
LOG = """query($filter: PiiAccessFilter, $first: Int, $after: String) {
  piiAccessLog(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id staffId customerId subjectKind subjectId field purpose accessedAt } } } }"""
ALERTS = """query { piiRevealAlerts { totalCount edges { node {
  id staffId revealCount threshold acknowledgedAt } } } }"""
ACK = """mutation($input: AcknowledgePiiRevealAlertInput!) {
  acknowledgePiiRevealAlert(input: $input) { alert { acknowledgedAt } errors { code } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"pii_reveal_alert_per_hour": 3}


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


async def _due_visit(services: Services) -> tuple[Any, FollowUpVisit]:
    customer = await make_customer(services, name="周敏", phone=PHONE)
    policy = await make_policy(services, customer)
    visit = await FollowUpVisit.create(
        customer=customer,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{policy.id}:2027",
        purpose="保单周年回访",
        policy=policy,
        channel=VisitChannel.PHONE,
        due_at=datetime.now(UTC),
        max_attempts=3,
        retry_after_days=2,
    )
    return customer, visit


async def test_a_reveal_needs_a_purpose_and_is_logged_for_auditors_only(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer, visit = await _due_visit(services)
    agent = await make_staff(StaffRole.AGENT)
    agent_token = await staff_token(services, agent)
    variables: dict[str, Any] = {"input": {"visitId": gid("FollowUpVisit", visit.id)}}

    for purpose, code in (("", "PURPOSE_REQUIRED"), ("看看", "PURPOSE_REQUIRED")):
        variables["input"]["purpose"] = purpose
        body = await gql(client, REVEAL, variables, token=agent_token)
        assert body["data"]["revealVisitPhone"] == {
            "phone": None,
            "errors": [{"field": "purpose", "code": code}],
        }
    variables["input"]["purpose"] = "长" * 201
    body = await gql(client, REVEAL, variables, token=agent_token)
    assert body["data"]["revealVisitPhone"]["errors"][0]["code"] == "PURPOSE_TOO_LONG"
    assert await PiiAccess.all().count() == 0  # refused: nothing read, nothing logged

    variables["input"]["purpose"] = "  周年回访   电话联系 "
    body = await gql(client, REVEAL, variables, token=agent_token)
    assert body["data"]["revealVisitPhone"] == {"phone": PHONE, "errors": []}

    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))
    page = (await gql(client, LOG, token=admin))["data"]["piiAccessLog"]
    assert page["totalCount"] == 1
    entry = page["edges"][0]["node"]
    assert entry["staffId"] == gid("StaffMember", agent.id)
    assert entry["customerId"] == gid("Customer", customer.id)
    assert entry["subjectKind"] == "FOLLOW_UP_VISIT"
    assert entry["subjectId"] == gid("FollowUpVisit", visit.id)
    assert entry["field"] == "PHONE"
    assert entry["purpose"] == "周年回访 电话联系"
    node = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": entry["id"]}, token=admin
    )
    assert node["data"]["node"] == {"id": entry["id"]}

    for role in (StaffRole.AGENT, StaffRole.SUPERVISOR):  # separation of duties
        token = await staff_token(services, await make_staff(role))
        refused = await gql(client, LOG, token=token, allow_errors=True)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        hidden = await gql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": entry["id"]}, token=token
        )
        assert hidden["data"]["node"] is None


async def test_the_log_filters_and_pages(client: httpx.AsyncClient, services: Services) -> None:
    customer, visit = await _due_visit(services)
    other, _ = await _due_visit_for(services, "13712340002")
    alice = await make_staff(StaffRole.AGENT)
    bob = await make_staff(StaffRole.SUPERVISOR)
    limits = reveal.RevealLimits(1000)
    for i in range(5):
        subject = reveal.Subject(PiiSubjectKind.FOLLOW_UP_VISIT, visit.id, customer.id)
        await reveal.record(_actor(alice), subject, PiiField.PHONE, f"回访第{i}次", limits)
    subject = reveal.Subject(PiiSubjectKind.RECOVERY_TASK, visit.id, other.id)
    await reveal.record(_actor(bob), subject, PiiField.PHONE, "投诉回访", limits)
    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))

    by_alice = {"staffId": gid("StaffMember", alice.id)}
    first = await gql(client, LOG, {"filter": by_alice, "first": 3}, token=admin)
    page = first["data"]["piiAccessLog"]
    assert page["totalCount"] == 5 and len(page["edges"]) == 3
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await gql(
        client,
        LOG,
        {"filter": by_alice, "first": 3, "after": page["pageInfo"]["endCursor"]},
        token=admin,
    )
    purposes = [e["node"]["purpose"] for e in page["edges"]] + [
        e["node"]["purpose"] for e in rest["data"]["piiAccessLog"]["edges"]
    ]
    assert sorted(purposes) == [f"回访第{i}次" for i in range(5)]
    by_customer = {"customerId": gid("Customer", other.id)}
    only = (await gql(client, LOG, {"filter": by_customer}, token=admin))["data"]["piiAccessLog"]
    assert [e["node"]["subjectKind"] for e in only["edges"]] == ["RECOVERY_TASK"]
    kind = {"subjectKind": ["RECOVERY_TASK"], "staffId": gid("StaffMember", alice.id)}
    assert (await gql(client, LOG, {"filter": kind}, token=admin))["data"]["piiAccessLog"][
        "totalCount"
    ] == 0
    future = {"since": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
    assert (await gql(client, LOG, {"filter": future}, token=admin))["data"]["piiAccessLog"][
        "totalCount"
    ] == 0


async def _due_visit_for(services: Services, phone: str) -> tuple[Any, None]:
    return await make_customer(services, name="吴昊", phone=phone), None


def _actor(staff: Any) -> Actor:
    from models.auth import SubjectKind

    return Actor(SubjectKind.STAFF, staff.id, None, staff.role)


async def test_past_the_hourly_limit_one_alert_per_staff_member_and_window(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The limit is 3 an hour here: the 4th read raises the alert, the 5th does not raise
    another; another staff member's reads are counted apart; the next hour is new."""
    customer, visit = await _due_visit(services)
    agent = await make_staff(StaffRole.AGENT)
    agent_token = await staff_token(services, agent)
    variables = {"input": {"visitId": gid("FollowUpVisit", visit.id), "purpose": "电话回访客户"}}
    for _ in range(3):
        await gql(client, REVEAL, variables, token=agent_token)
    assert await PiiRevealAlert.all().count() == 0
    await gql(client, REVEAL, variables, token=agent_token)
    await gql(client, REVEAL, variables, token=agent_token)
    [alert] = await PiiRevealAlert.all()
    assert alert.staff_id == agent.id and alert.reveal_count == 4 and alert.threshold == 3
    assert alert.window_start == reveal.window_start(datetime.now(UTC))

    other = await make_staff(StaffRole.AGENT)
    subject = reveal.Subject(PiiSubjectKind.FOLLOW_UP_VISIT, visit.id, customer.id)
    for _ in range(3):
        await reveal.record(
            _actor(other), subject, PiiField.PHONE, "电话回访客户", services.reveal_limits
        )
    assert await PiiRevealAlert.all().count() == 1

    # Reads of an earlier hour do not count towards this one.
    last_hour = datetime.now(UTC) - timedelta(hours=1)
    await PiiAccess.filter(staff_id=other.id).update(created_at=last_hour)
    await reveal.record(
        _actor(other), subject, PiiField.PHONE, "电话回访客户", services.reveal_limits
    )
    assert await PiiRevealAlert.all().count() == 1

    admin = await staff_token(services, await make_staff(StaffRole.ADMIN))
    alerts = (await gql(client, ALERTS, token=admin))["data"]["piiRevealAlerts"]
    assert alerts["totalCount"] == 1
    node = alerts["edges"][0]["node"]
    assert node["staffId"] == gid("StaffMember", agent.id) and node["revealCount"] == 4
    acked = await gql(client, ACK, {"input": {"alertId": node["id"]}}, token=admin)
    assert acked["data"]["acknowledgePiiRevealAlert"]["errors"] == []
    assert acked["data"]["acknowledgePiiRevealAlert"]["alert"]["acknowledgedAt"]
    open_only = "query { piiRevealAlerts(openOnly: true) { totalCount } }"
    assert (await gql(client, open_only, token=admin))["data"]["piiRevealAlerts"] == {
        "totalCount": 0
    }
    refused = await gql(client, ALERTS, token=agent_token, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_staff_reveal(services: Services, db: str) -> None:
    customer = await make_customer(services, name="郑洁", phone="13712340009")
    subject = reveal.Subject(PiiSubjectKind.CUSTOMER, customer.id, customer.id)
    with pytest.raises(PrivacyError):
        await reveal.record(
            _actor(await make_staff(StaffRole.AGENT)),
            subject,
            PiiField.PHONE,
            "x",
            reveal.RevealLimits(),
        )
    with pytest.raises(PermissionError):
        await reveal.record(Actor(), subject, PiiField.PHONE, "查看号码用途", reveal.RevealLimits())


async def test_staff_reads_of_documents_are_logged_too(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A policy's documents carry names and ID numbers: each one a staff member opens
    is a logged read (the holder's own reads are not)."""
    holder = await make_customer(services, name="何静")
    policy = await make_policy(services, holder)
    agent = await make_staff(StaffRole.AGENT)
    token = await staff_token(services, agent)
    query = """query($id: ID!) { policyDocuments(policyId: $id) {
      documents { id number } errors { code } } }"""
    body = await gql(client, query, {"id": gid("Policy", policy.id)}, token=token)
    documents = body["data"]["policyDocuments"]["documents"]
    assert documents
    rows = await PiiAccess.filter(staff_id=agent.id).order_by("created_at")
    assert len(rows) == len(documents)
    assert {r.subject_kind for r in rows} == {PiiSubjectKind.POLICY_DOCUMENT}
    assert {r.field for r in rows} == {PiiField.DOCUMENT}
    assert all(r.customer_id == holder.id for r in rows)
    assert documents[0]["number"] in rows[0].purpose
    node = "query($id: ID!) { node(id: $id) { id } }"
    await gql(client, node, {"id": documents[0]["id"]}, token=token)
    assert await PiiAccess.filter(staff_id=agent.id).count() == len(documents) + 1
    own = await customer_token(services, holder)
    await gql(client, query, {"id": gid("Policy", policy.id)}, token=own)
    assert await PiiAccess.all().count() == len(documents) + 1


async def test_concurrent_reveals_raise_one_alert(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Ten reveals at once past a limit of 3: one alert (the unique key, not a check)."""
    _customer, visit = await _due_visit(services)
    agent = await make_staff(StaffRole.AGENT)
    token = await staff_token(services, agent)
    variables = {"input": {"visitId": gid("FollowUpVisit", visit.id), "purpose": "电话回访客户"}}
    answers = await asyncio.gather(
        *(gql(client, REVEAL, variables, token=token) for _ in range(10))
    )
    assert all(a["data"]["revealVisitPhone"]["phone"] == PHONE for a in answers)
    assert await PiiAccess.filter(staff_id=agent.id).count() == 10
    [alert] = await PiiRevealAlert.filter(staff_id=agent.id)
    assert alert.reveal_count > 3
