"""The "due within a day" rule of the phone reveal under attack: staff moving a visit's
time (reschedule), assigning it (to themselves or others) or recording a complaint must
not make a customer's full number readable before the call the customer agreed to.

The rule (workflows/visits.py ``reveal_phone``): the number is shown only when both the
work-list time (which staff move) and the agreed time (planned by the rules, moved by
the retry rule or by the customer's own request) are within a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.staff import StaffRole
from models.surveys import RecoveryTask
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql

PHONE = "13712345679"
REVEAL = """mutation($input: RevealVisitPhoneInput!) { revealVisitPhone(input: $input) {
  phone errors { code } } }"""
RESCHEDULE = """mutation($input: RescheduleVisitInput!) { rescheduleVisit(input: $input) {
  visit { version } errors { code } } }"""
ASSIGN = """mutation($input: AssignVisitInput!) { assignVisit(input: $input) {
  visit { version } errors { code } } }"""
REQUEST = """mutation($input: RequestVisitChangeInput!) { requestVisitChange(input: $input) {
  changed errors { code } } }"""
RECORD = """mutation($input: RecordVisitOutcomeInput!) { recordVisitOutcome(input: $input) {
  visit { version } errors { code } } }"""
RECOVERY_REVEAL = """mutation($input: RevealRecoveryPhoneInput!) {
  revealRecoveryPhone(input: $input) { phone errors { code } } }"""


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
async def far(services: Services) -> dict[str, Any]:
    """An unassigned phone visit planned ten days ahead."""
    customer = await make_customer(services, name="孙丽", phone=PHONE)
    policy = await make_policy(services, customer)
    visit = await FollowUpVisit.create(
        customer=customer,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{policy.id}:2027",
        purpose="保单周年回访",
        policy=policy,
        channel=VisitChannel.PHONE,
        due_at=datetime.now(UTC) + timedelta(days=10),
        max_attempts=3,
        retry_after_days=2,
    )
    agent = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    return {
        "visit": visit,
        "id": gid("FollowUpVisit", visit.id),
        "customer": await customer_token(services, customer),
        "agent_user": agent,
        "agent": await staff_token(services, agent),
        "supervisor_user": supervisor,
        "supervisor": await staff_token(services, supervisor),
        "other_supervisor": await staff_token(services, await make_staff(StaffRole.SUPERVISOR)),
    }


async def reveal(client: httpx.AsyncClient, far: dict[str, Any], token: str) -> dict[str, Any]:
    body = await gql(
        client, REVEAL, {"input": {"visitId": far["id"], "purpose": "电话回访客户"}}, token=token
    )
    return body["data"]["revealVisitPhone"]


async def version(far: dict[str, Any]) -> int:
    return (await FollowUpVisit.get(id=far["visit"].id)).version


async def reschedule(client: httpx.AsyncClient, far: dict[str, Any], token: str, at: str) -> None:
    variables = {
        "input": {"visitId": far["id"], "expectedVersion": await version(far), "dueAt": at}
    }
    body = await gql(client, RESCHEDULE, variables, token=token)
    assert body["data"]["rescheduleVisit"]["errors"] == []


NOT_DUE = {"phone": None, "errors": [{"code": "NOT_DUE"}]}


async def test_rescheduling_to_now_does_not_reveal_the_phone(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    assert await reveal(client, far, far["agent"]) == NOT_DUE
    await reschedule(client, far, far["agent"], soon(minutes=5))
    assert await reveal(client, far, far["agent"]) == NOT_DUE
    await reschedule(client, far, far["supervisor"], soon(minutes=5))  # supervisors too
    assert await reveal(client, far, far["supervisor"]) == NOT_DUE
    # Moving it later is fine, and moving it back does not bring the plan forward.
    await reschedule(client, far, far["agent"], soon(days=20))
    await reschedule(client, far, far["agent"], soon(hours=1))
    assert await reveal(client, far, far["agent"]) == NOT_DUE


async def test_assigning_does_not_make_a_far_visit_revealable(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    to_self = {
        "visitId": far["id"],
        "expectedVersion": 1,
        "staffId": gid("StaffMember", far["agent_user"].id),
    }
    refused = await gql(client, ASSIGN, {"input": to_self}, token=far["agent"], allow_errors=True)
    assert refused["data"] is None  # agents do not assign, not even to themselves
    for staff in ("supervisor_user", "agent_user"):  # a supervisor to self, then to an agent
        assign = {
            "visitId": far["id"],
            "expectedVersion": await version(far),
            "staffId": gid("StaffMember", far[staff].id),
        }
        body = await gql(client, ASSIGN, {"input": assign}, token=far["supervisor"])
        assert body["data"]["assignVisit"]["errors"] == []
        assert await reveal(client, far, far[staff.removesuffix("_user")]) == NOT_DUE


async def test_the_customers_own_time_and_the_plan_make_it_revealable(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    asked = await gql(
        client,
        REQUEST,
        {"input": {"visitId": gid("MyVisit", far["visit"].id), "preferredTime": soon(hours=2)}},
        token=far["customer"],
    )
    assert asked["data"]["requestVisitChange"]["errors"] == []
    assert await reveal(client, far, far["agent"]) == NOT_DUE  # not moved yet
    await reschedule(client, far, far["agent"], soon(hours=2))  # answering the request
    assert await reveal(client, far, far["agent"]) == {"phone": PHONE, "errors": []}


async def test_a_planned_visit_due_today_and_its_retry_are_revealable(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    await FollowUpVisit.filter(id=far["visit"].id).update(
        due_at=datetime.now(UTC) + timedelta(hours=3)
    )  # as planned by the rules
    assert await reveal(client, far, far["agent"]) == {"phone": PHONE, "errors": []}
    record = {"visitId": far["id"], "expectedVersion": 1, "reached": False}
    body = await gql(client, RECORD, {"input": record}, token=far["agent"])
    assert body["data"]["recordVisitOutcome"]["errors"] == []
    # The retry rule moved it two days on: not revealable until then.
    assert await reveal(client, far, far["agent"]) == NOT_DUE


async def test_a_complaint_recorded_by_a_supervisor_does_not_reveal_the_phone_to_them(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    """The recovery queue's reveal: a task a staff member opened themselves (a visit
    complaint) is not their way to a number the visit would not show them."""
    record = {"visitId": far["id"], "expectedVersion": 1, "reached": True, "complaintRaised": True}
    body = await gql(client, RECORD, {"input": record}, token=far["supervisor"])
    assert body["data"]["recordVisitOutcome"]["errors"] == []
    task = await RecoveryTask.get(source="visit")
    variables = {"input": {"taskId": gid("RecoveryTask", task.id), "purpose": "投诉回访致歉"}}
    own = await gql(client, RECOVERY_REVEAL, variables, token=far["supervisor"])
    assert own["data"]["revealRecoveryPhone"] == {
        "phone": None,
        "errors": [{"code": "NOT_ALLOWED"}],
    }
    other = await gql(client, RECOVERY_REVEAL, variables, token=far["other_supervisor"])
    assert other["data"]["revealRecoveryPhone"] == {"phone": PHONE, "errors": []}


async def test_a_failed_attempt_logged_early_does_not_bring_the_call_forward(
    client: httpx.AsyncClient, far: dict[str, Any]
) -> None:
    """Logging a made-up "not reached" on a visit ten days away must not make the retry
    rule put it two days from now, within reach of the reveal."""
    for version in (1, 2):
        record = {"visitId": far["id"], "expectedVersion": version, "reached": False}
        body = await gql(client, RECORD, {"input": record}, token=far["agent"])
        assert body["data"]["recordVisitOutcome"]["errors"] == []
    visit = await FollowUpVisit.get(id=far["visit"].id)
    assert visit.due_at >= far["visit"].due_at - timedelta(hours=1)
    assert await reveal(client, far, far["agent"]) == NOT_DUE
