"""The staff side of complaints over GraphQL: the queue live (`complaintQueueChanged`,
through the event bus: Redis in the PostgreSQL + Redis run), the team filter, the
first-response times from the settings, and the work calendar kept by supervisors."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimDocument, ClaimStatus
from models.complaints import Complaint, ComplaintChannel, ComplaintClass
from models.ids import global_id
from models.staff import StaffRole, StaffUser
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows.access import Actor
from workflows.complaints import handling
from workflows.complaints.intake import Subjects, file_complaint
from workflows.complaints.rules import STAFF_QUEUE

TEAM = "理赔投诉组"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "complaint_first_response_urgent_minutes": 30,
        "complaint_first_response_major_minutes": 15,
    }


def staff_actor(staff: StaffUser) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=staff.id, role=staff.role)


async def two_complaints(services: Services) -> tuple[Any, Any]:
    """A claim complaint (class CLAIM: the claims team's) and a service one."""
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW)
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
    about_claim = await file_complaint(
        me, ComplaintChannel.APP, "理赔审核太慢", Subjects(claim_id=claim.id)
    )
    service = await file_complaint(me, ComplaintChannel.APP, "客服态度差", Subjects())
    assert about_claim.content_class is ComplaintClass.CLAIM
    assert service.content_class is ComplaintClass.SERVICE
    return about_claim, service


LIVE = """subscription($team: String) { complaintQueueChanged(team: $team) {
  eventType complaintId number status urgency handlerId complaint { id status } } }"""


async def test_the_queue_live_for_all_and_for_one_team(app: Starlette, services: Services) -> None:
    member = await make_staff(StaffRole.AGENT)
    await StaffUser.filter(id=member.id).update(team=TEAM)
    boss = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, member)
    customer = await customer_token(services, await make_customer(services))
    relay = OutboxRelay(services.bus, services.queue)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            init = {"authorization": f"Bearer {customer}"}
            await ws.send_json({"type": "connection_init", "payload": init})
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json({"id": "c", "type": "subscribe", "payload": {"query": LIVE}})
            refused = await asyncio.wait_for(ws.receive_json(), 10)
            assert "FORBIDDEN" in str(refused)
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            init = {"authorization": f"Bearer {token}"}
            await ws.send_json({"type": "connection_init", "payload": init})
            assert (await ws.receive_json())["type"] == "connection_ack"
            for sub, variables in (("all", {}), ("team", {"team": TEAM})):
                payload = {"query": LIVE, "variables": variables}
                await ws.send_json({"id": sub, "type": "subscribe", "payload": payload})
            await subscribed(services.bus, STAFF_QUEUE, 2)

            async def until(want: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
                got: dict[str, list[dict[str, Any]]] = {"all": [], "team": []}
                while any(len(got[k]) < n for k, n in want.items()):
                    message = await asyncio.wait_for(ws.receive_json(), 10)
                    assert message["type"] == "next", message
                    got[message["id"]].append(message["payload"]["data"]["complaintQueueChanged"])
                return got

            about_claim, service = await two_complaints(services)
            await relay.relay_once()
            got = await until({"all": 2, "team": 1})
            assert {c["number"] for c in got["all"]} == {about_claim.number, service.number}
            [claims_team] = got["team"]
            assert claims_team["number"] == about_claim.number
            assert claims_team["eventType"] == "complaint.received"
            assert claims_team["status"] == "RECEIVED" and claims_team["handlerId"] is None
            assert claims_team["complaintId"] == global_id("Complaint", about_claim.id)

            # The service complaint handled by a team member joins the team's view.
            await handling.assign(staff_actor(boss), service.id, service.version, member.id)
            await relay.relay_once()
            got = await until({"all": 1, "team": 1})
            [change] = got["team"]
            assert change["number"] == service.number and change["status"] == "ASSIGNED"
            assert change["handlerId"] == global_id("StaffMember", member.id)
            assert change["complaint"]["status"] == "ASSIGNED"


QUEUE = """query($filter: ComplaintFilter) { complaintQueue(filter: $filter) {
  edges { node { number } } } }"""


async def test_the_team_filter(client: httpx.AsyncClient, services: Services) -> None:
    member = await make_staff(StaffRole.AGENT)
    await StaffUser.filter(id=member.id).update(team=TEAM)
    outsider = await make_staff(StaffRole.AGENT)
    boss = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, boss)
    about_claim, service = await two_complaints(services)
    _, other_service = await two_complaints(services)

    async def numbers(team: str) -> set[str]:
        body = await gql(client, QUEUE, {"filter": {"team": team}}, token=token)
        return {e["node"]["number"] for e in body["data"]["complaintQueue"]["edges"]}

    unassigned_claims = await numbers(TEAM)
    assert about_claim.number in unassigned_claims and service.number not in unassigned_claims
    await handling.assign(staff_actor(boss), service.id, service.version, member.id)
    await handling.assign(staff_actor(boss), about_claim.id, about_claim.version, outsider.id)
    team_work = await numbers(TEAM)
    assert service.number in team_work  # handled by a member
    assert about_claim.number not in team_work  # handled outside the team now
    assert other_service.number not in team_work
    assert await numbers("没有这个组") == set()


CLASSIFY = """mutation($input: ClassifyComplaintInput!) { classifyComplaint(input: $input) {
  complaint { receivedAt firstResponseDueAt } } }"""
RECORD = """mutation($input: RecordComplaintInput!) { recordComplaint(input: $input) {
  errors { code } complaint { urgency receivedAt firstResponseDueAt } } }"""


async def test_first_response_times_come_from_the_settings(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert services.complaint_clocks.urgent == timedelta(minutes=30)
    boss = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, boss)
    _, service = await two_complaints(services)
    variables = {
        "input": {
            "complaintId": global_id("Complaint", service.id),
            "expectedVersion": service.version,
            "contentClass": "SERVICE",
            "urgency": "URGENT",
        }
    }
    body = await gql(client, CLASSIFY, variables, token=token)
    clocks = body["data"]["classifyComplaint"]["complaint"]
    due = datetime.fromisoformat(clocks["firstResponseDueAt"])
    assert due - datetime.fromisoformat(clocks["receivedAt"]) == timedelta(minutes=30)

    text = {"channel": "PHONE", "text": "你们的业务员误导销售，我要向银保监投诉"}
    recorded = (await gql(client, RECORD, {"input": text}, token=token))["data"]
    major = recorded["recordComplaint"]["complaint"]
    assert major["urgency"] == "MAJOR"
    due = datetime.fromisoformat(major["firstResponseDueAt"])
    assert due - datetime.fromisoformat(major["receivedAt"]) == timedelta(minutes=15)


SET_DAY = """mutation($input: SetWorkCalendarDayInput!) { setWorkCalendarDay(input: $input) {
  changed errors { code field } day { day kind name seeded } } }"""
REMOVE_DAY = """mutation($day: Date!) { removeWorkCalendarDay(day: $day) {
  changed errors { code } } }"""
CALENDAR = """query($from: Date!, $to: Date!) { workCalendar(from: $from, to: $to) {
  day kind name seeded } }"""


async def test_supervisors_keep_the_work_calendar(
    client: httpx.AsyncClient, services: Services
) -> None:
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    boss = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    day = {"day": "2027-02-06", "kind": "WORKDAY", "name": "春节调休上班"}
    denied = await gql(client, SET_DAY, {"input": day}, token=agent, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    blank = await gql(client, SET_DAY, {"input": {**day, "name": " "}}, token=boss)
    assert blank["data"]["setWorkCalendarDay"]["errors"] == [
        {"code": "REASON_REQUIRED", "field": "name"}
    ]
    saved = (await gql(client, SET_DAY, {"input": day}, token=boss))["data"]["setWorkCalendarDay"]
    assert saved["changed"] and saved["day"] == {**day, "seeded": False}
    window = {"from": "2027-02-01", "to": "2027-02-28"}
    listed = (await gql(client, CALENDAR, window, token=agent))["data"]["workCalendar"]
    assert listed == [{**day, "seeded": False}]
    removed = await gql(client, REMOVE_DAY, {"day": "2027-02-06"}, token=boss)
    assert removed["data"]["removeWorkCalendarDay"]["changed"]
    again = await gql(client, REMOVE_DAY, {"day": "2027-02-06"}, token=boss)
    assert again["data"]["removeWorkCalendarDay"]["errors"] == [{"code": "DAY_NOT_FOUND"}]
    assert (await gql(client, CALENDAR, window, token=agent))["data"]["workCalendar"] == []


ASK = """mutation($input: RequestComplaintInfoInput!) { requestComplaintInfo(input: $input) {
  changed errors { code field message } complaint { status version timeline { note } } } }"""
HELD = """query($id: ID!) { complaintHeldDocuments(complaintId: $id) {
  id checklistCode fileName } }"""


async def test_never_ask_for_material_already_held(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await make_customer(services)
    documents = [
        {"code": "INVOICE", "name": "维修发票", "required": True},
        {"code": "PHOTOS", "name": "现场照片", "required": True},
    ]
    product = await make_product(
        loss_types=[{"code": "COLLISION", "name": "碰撞", "documents": documents}]
    )
    policy = await make_policy(services, customer, product=product)
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW)
    held = await ClaimDocument.create(
        claim=claim,
        checklist_code="INVOICE",
        storage_key=f"claims/{uuid.uuid4()}.jpg",
        content_type="image/jpeg",
        size=1024,
        sha256="a" * 64,
        original_sha256="b" * 64,
        file_name="发票.jpg",
        uploaded_by_kind="customer",
        uploaded_by_id=customer.id,
    )
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
    complaint = await file_complaint(
        me, ComplaintChannel.APP, "理赔审核太慢", Subjects(claim_id=claim.id)
    )
    boss = await make_staff(StaffRole.SUPERVISOR)
    complaint = await handling.assign(staff_actor(boss), complaint.id, complaint.version, boss.id)
    complaint = await handling.respond(staff_actor(boss), complaint.id, complaint.version, "已致电")
    token = await staff_token(services, boss)
    ref = {
        "complaintId": global_id("Complaint", complaint.id),
        "expectedVersion": complaint.version,
    }

    by_code = await gql(
        client, ASK, {"input": {**ref, "text": "请补充材料", "documents": ["invoice"]}}, token=token
    )
    [error] = by_code["data"]["requestComplaintInfo"]["errors"]
    assert error["code"] == "MATERIAL_HELD" and error["field"] == "documents"
    assert "维修发票" in error["message"] and claim.report_number in error["message"]
    by_name = await gql(
        client, ASK, {"input": {**ref, "text": "请再提供一次维修发票的照片"}}, token=token
    )
    [error] = by_name["data"]["requestComplaintInfo"]["errors"]
    assert error["code"] == "MATERIAL_HELD" and error["field"] == "text"
    assert (await Complaint.get(id=complaint.id)).version == complaint.version  # unchanged

    with caplog.at_level(logging.INFO, logger="anxin.security"):
        linked = await gql(client, HELD, {"id": ref["complaintId"]}, token=token)
    assert linked["data"]["complaintHeldDocuments"] == [
        {
            "id": global_id("ClaimDocument", held.id),
            "checklistCode": "INVOICE",
            "fileName": "发票.jpg",
        }
    ]
    assert [r for r in caplog.records if "read documents of claim" in r.getMessage()]

    asked = await gql(
        client,
        ASK,
        {"input": {**ref, "text": "请补充现场照片", "documents": ["PHOTOS"]}},
        token=token,
    )
    result = asked["data"]["requestComplaintInfo"]
    assert result["changed"] and result["complaint"]["status"] == "INFO_REQUESTED"
    assert "所需材料：现场照片" in result["complaint"]["timeline"][-1]["note"]
    stranger = await customer_token(services, await make_customer(services))
    refused = await gql(client, HELD, {"id": ref["complaintId"]}, token=stranger, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
