"""Complaints over GraphQL: a customer files one about their claim and sees it in
`myComplaints`; staff find it in the queue, assign and answer; the customer accepts.
Reads by staff who neither handle it nor supervise are logged; typed errors change
nothing; another customer's claim is refused as not found."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.complaints import Complaint, ComplaintChannel
from models.ids import global_id
from models.staff import StaffRole
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows.access import Actor
from workflows.complaints.handling import withdraw
from workflows.complaints.intake import Subjects, file_complaint

FILE = """mutation($input: FileComplaintInput!) { fileComplaint(input: $input) {
  changed errors { code field message } complaint { id number version status urgency
  contentClass answerDueAt timeline { action note } } } }"""
QUEUE = """query($filter: ComplaintFilter) { complaintQueue(filter: $filter) {
  edges { node { id version status handledByMe proposedClass } } } }"""
ASSIGN = """mutation($input: AssignComplaintInput!) { assignComplaint(input: $input) {
  changed errors { code } complaint { version status hasHandler } } }"""
RESPOND = """mutation($input: ComplaintTextInput!) { logComplaintContact(input: $input) {
  changed errors { code } complaint { version status } } }"""
ANSWER = """mutation($input: ComplaintTextInput!) { answerComplaint(input: $input) {
  changed errors { code } complaint { version status answer } } }"""
ACCEPT = """mutation($input: ComplaintVersionInput!) { acceptComplaintAnswer(input: $input) {
  changed errors { code } complaint { version status } } }"""
MINE = "{ myComplaints { id status proposedClass timeline { action } } }"


async def test_a_complaint_over_graphql(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await make_customer(services)
    bob = await make_customer(services)
    policy = await make_policy(services, alice)
    claim = await make_claim(alice, policy, ClaimStatus.UNDER_REVIEW)
    alice_token = await customer_token(services, alice)
    bob_token = await customer_token(services, bob)
    agent = await make_staff(StaffRole.AGENT)
    other_agent = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    agent_token = await staff_token(services, agent)
    other_token = await staff_token(services, other_agent)
    boss_token = await staff_token(services, supervisor)
    claim_id = global_id("Claim", claim.id)

    text = {"channel": "APP", "text": "理赔审核太慢了", "claimId": claim_id}
    refused = await gql(client, FILE, {"input": text}, token=bob_token)
    assert refused["data"]["fileComplaint"]["errors"][0]["code"] == "SUBJECT_NOT_FOUND"
    empty = await gql(client, FILE, {"input": {**text, "text": "  "}}, token=alice_token)
    assert empty["data"]["fileComplaint"]["errors"][0]["field"] == "text"
    assert await Complaint.all().count() == 0

    filed = (await gql(client, FILE, {"input": text}, token=alice_token))["data"]["fileComplaint"]
    complaint = filed["complaint"]
    assert filed["changed"] and complaint["status"] == "RECEIVED"
    assert complaint["contentClass"] == "CLAIM" and complaint["number"].startswith("TS")
    mine = (await gql(client, MINE, token=alice_token))["data"]["myComplaints"]
    assert [c["id"] for c in mine] == [complaint["id"]] and mine[0]["proposedClass"] is None
    assert (await gql(client, MINE, token=bob_token))["data"]["myComplaints"] == []
    denied = await gql(client, QUEUE, token=alice_token, allow_errors=True)  # staff only
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    ref = {"complaintId": complaint["id"], "expectedVersion": complaint["version"]}
    assigned = await gql(
        client,
        ASSIGN,
        {"input": {**ref, "handlerId": global_id("StaffMember", agent.id)}},
        token=boss_token,
    )
    result = assigned["data"]["assignComplaint"]
    assert result["changed"] and result["complaint"]["status"] == "ASSIGNED"
    version = result["complaint"]["version"]

    with caplog.at_level(logging.INFO, logger="anxin.security"):
        caplog.clear()
        await gql(client, QUEUE, token=agent_token)  # the handler: not logged
        await gql(client, QUEUE, token=boss_token)  # a supervisor: not logged
        assert not [r for r in caplog.records if "complaint" in r.getMessage()]
        await gql(client, QUEUE, token=other_token)
        assert [r for r in caplog.records if "read complaint" in r.getMessage()]

    ref = {"complaintId": complaint["id"], "expectedVersion": version}
    stale = await gql(
        client, RESPOND, {"input": {**ref, "text": "x", "expectedVersion": 1}}, token=agent_token
    )
    assert stale["data"]["logComplaintContact"]["errors"] == [{"code": "CONFLICT"}]
    notmine = await gql(client, RESPOND, {"input": {**ref, "text": "已致电"}}, token=other_token)
    assert notmine["data"]["logComplaintContact"]["errors"] == [{"code": "NOT_ALLOWED"}]
    responded = await gql(client, RESPOND, {"input": {**ref, "text": "已致电"}}, token=agent_token)
    version = responded["data"]["logComplaintContact"]["complaint"]["version"]
    ref = {"complaintId": complaint["id"], "expectedVersion": version}
    answered = await gql(
        client, ANSWER, {"input": {**ref, "text": "已加急处理"}}, token=agent_token
    )
    answer = answered["data"]["answerComplaint"]["complaint"]
    assert answer["status"] == "ANSWERED" and "调解" in answer["answer"]
    ref = {"complaintId": complaint["id"], "expectedVersion": answer["version"]}
    accepted = await gql(client, ACCEPT, {"input": ref}, token=alice_token)
    assert accepted["data"]["acceptComplaintAnswer"]["complaint"]["status"] == "ACCEPTED"
    timeline = (await gql(client, MINE, token=alice_token))["data"]["myComplaints"][0]["timeline"]
    assert "assign" not in [t["action"] for t in timeline]  # internal lines: staff only


LIVE = "subscription($id: ID!) { complaintUpdated(complaintId: $id) { status } }"


async def test_complaint_updated_live(app: Starlette, services: Services) -> None:
    """The current state at once, then each change; another customer is refused."""
    alice = await make_customer(services)
    token = await customer_token(services, alice)
    stranger = await customer_token(services, await make_customer(services))
    row = await file_complaint(
        Actor(kind=SubjectKind.CUSTOMER, subject_id=alice.id),
        ComplaintChannel.APP,
        "客服态度差",
        Subjects(),
    )
    complaint_id = global_id("Complaint", row.id)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            payload = {"query": LIVE, "variables": {"id": complaint_id}}
            await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
            first = await asyncio.wait_for(ws.receive_json(), 10)
            assert first["payload"]["data"]["complaintUpdated"]["status"] == "RECEIVED"
            await subscribed(services.bus, f"complaint:{row.id}")
            await withdraw(Actor(kind=SubjectKind.CUSTOMER, subject_id=alice.id), row.id, 1, "")
            await OutboxRelay(services.bus, services.queue).relay_once()
            statuses = set()
            while "WITHDRAWN" not in statuses:
                message = await asyncio.wait_for(ws.receive_json(), 10)
                statuses.add(message["payload"]["data"]["complaintUpdated"]["status"])
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {stranger}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            payload = {"query": LIVE, "variables": {"id": complaint_id}}
            await ws.send_json({"id": "2", "type": "subscribe", "payload": payload})
            refused = await asyncio.wait_for(ws.receive_json(), 10)
            assert "未找到该投诉" in str(refused)
