"""Crisis response over GraphQL: a manager opens an incident about a customer's
complaint, assesses it, builds the team and checklist, drafts a customer statement that
a second manager approves and releases; the complaint's handler then sees the incident
and the approved statement on the complaint, the customer does not. Customers and
handlers are refused the list and the mutations; closing without a review is a typed
error; a rule is edited."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.auth import SubjectKind
from models.complaints import ComplaintChannel
from models.crisis import CrisisSeverity
from models.ids import global_id
from models.notifications import OutboxEvent
from models.staff import StaffRole
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from tests.sql_counter import counting_statements
from workflows.access import Actor
from workflows.complaints.intake import Subjects, file_complaint
from workflows.crisis import detect
from workflows.crisis.rules import MANAGERS

INCIDENT = """id version status customersAffected policiesAffected
  team { key name role } actions { key title done ownerName }
  statements { key status text approvedBy notified } review { causes }
  complaints { number } complaintCount timeline { action }"""
OPEN = f"""mutation($input: OpenCrisisIncidentInput!) {{ openCrisisIncident(input: $input) {{
  changed errors {{ code field }} complaints {{ id incident {{ number }} }}
  incident {{ {INCIDENT} }} }} }}"""


def step(name: str, input_type: str) -> str:
    return f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{
  changed errors {{ code field }} incident {{ {INCIDENT} }} }} }}"""


ASSESS = step("assessCrisisIncident", "AssessCrisisIncidentInput")
TEAM = step("addCrisisTeamMember", "AddCrisisTeamMemberInput")
ACTION = step("addCrisisAction", "AddCrisisActionInput")
COMPLETE = step("completeCrisisAction", "CompleteCrisisActionInput")
DRAFT = step("draftCrisisStatement", "DraftCrisisStatementInput")
APPROVE = step("approveCrisisStatement", "CrisisStatementInput")
RELEASE = step("releaseCrisisStatement", "CrisisStatementInput")
CLOSE = step("closeCrisisIncident", "CrisisVersionInput")
LIST = "{ crisisIncidents(filter: {open: true}) { totalCount edges { node { number } } } }"
COMPLAINT = """query($id: ID!) { node(id: $id) { ... on Complaint { number
  incident { number status customerStatement } } } }"""
RULES = "{ crisisRules { id code threshold version } }"
EDIT = """mutation($input: EditCrisisRuleInput!) { editCrisisRule(input: $input) {
  changed errors { code field } rule { code threshold windowHours version } } }"""


async def test_an_incident_over_graphql(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_customer(services)
    policy = await make_policy(services, alice)
    complaint = await file_complaint(
        Actor(kind=SubjectKind.CUSTOMER, subject_id=alice.id),
        ComplaintChannel.APP,
        "理赔审核太慢了",
        Subjects(policy_id=policy.id),
    )
    lead, second = await make_staff(StaffRole.SUPERVISOR), await make_staff(StaffRole.ADMIN)
    agent = await make_staff(StaffRole.AGENT)
    a, b = await staff_token(services, lead), await staff_token(services, second)
    handler, customer = await staff_token(services, agent), await customer_token(services, alice)
    complaint_id = global_id("Complaint", complaint.id)

    opened = await gql(
        client,
        OPEN,
        {
            "input": {
                "title": "理赔时效集中投诉",
                "severity": "HIGH",
                "complaintIds": [complaint_id],
            }
        },
        token=a,
    )
    body = opened["data"]["openCrisisIncident"]
    assert body["errors"] == [] and body["complaints"][0]["id"] == complaint_id
    incident: dict[str, Any] = body["incident"]
    assert body["complaints"][0]["incident"]["number"].startswith("WJ")
    assert incident["complaintCount"] == 1 and incident["status"] == "IDENTIFIED"

    async def run(query: str, token: str, **fields: Any) -> dict[str, Any]:
        nonlocal incident
        variables = {"incidentId": incident["id"], "expectedVersion": incident["version"], **fields}
        answer = await gql(client, query, {"input": variables}, token=token)
        payload: dict[str, Any] = next(iter(answer["data"].values()))
        if payload["incident"] is not None:
            incident = payload["incident"]
        return payload

    assessed = await run(
        ASSESS, a, severity="HIGH", spreadRisk="MEDIUM", scope="COMPLAINANTS", note="评估"
    )
    assert assessed["errors"] == []
    assert (incident["customersAffected"], incident["policiesAffected"]) == (1, 1)
    await run(TEAM, a, staffId=global_id("StaffMember", agent.id), role="CUSTOMER_CARE")
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    added = await run(
        ACTION, a, title="致电客户", ownerId=global_id("StaffMember", agent.id), dueAt=due
    )
    assert added["incident"]["status"] == "RESPONDING"
    [action] = incident["actions"]
    # The owner (a handler without CRISIS_MANAGE) completes their item.
    done = await run(COMPLETE, handler, actionKey=action["key"], note="已联系")
    assert done["errors"] == [] and incident["actions"][0]["done"] is True

    await run(DRAFT, a, audience="CUSTOMERS", text="我们已成立专项小组，将在3个工作日内联系您。")
    [statement] = incident["statements"]
    same = await run(APPROVE, a, statementKey=statement["key"])
    assert same["errors"] == [{"code": "SECOND_PERSON_REQUIRED", "field": None}]
    assert same["incident"] is None
    await run(APPROVE, b, statementKey=statement["key"])
    released = await run(RELEASE, a, statementKey=statement["key"])
    assert released["errors"] == [] and incident["status"] == "COMMUNICATING"
    assert incident["statements"][0]["notified"] == 1
    assert await OutboxEvent.filter(event_type="crisis.notice", customer_id=alice.id).count() == 1

    # The handler answers consistently: the statement is on the complaint; not for Alice.
    seen = await gql(client, COMPLAINT, {"id": complaint_id}, token=handler)
    assert seen["data"]["node"]["incident"]["customerStatement"].startswith("我们已成立")
    mine = await gql(client, COMPLAINT, {"id": complaint_id}, token=customer)
    assert mine["data"]["node"]["incident"] is None

    refused = await run(CLOSE, a)
    assert refused["errors"] == [{"code": "REVIEW_REQUIRED", "field": None}]

    listed = await gql(client, LIST, token=a)
    assert listed["data"]["crisisIncidents"]["totalCount"] == 1
    for token in (handler, customer):
        answer = await gql(client, LIST, token=token, allow_errors=True)
        assert answer["data"] is None
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        forbidden = await gql(
            client,
            OPEN,
            {"input": {"title": "x", "severity": "LOW"}},
            token=token,
            allow_errors=True,
        )
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A customer completing an action: the incident answers as missing.
    stranger = await run(COMPLETE, customer, actionKey=action["key"], note="x")
    assert stranger["errors"][0]["code"] == "ACTION_NOT_FOUND"


async def test_a_manager_edits_a_rule(client: httpx.AsyncClient, services: Services) -> None:
    manager = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    rules = (await gql(client, RULES, token=manager))["data"]["crisisRules"]
    spike = next(r for r in rules if r["code"] == "CLASS_SPIKE")
    assert spike["threshold"] == 5
    edit = {
        "ruleId": spike["id"],
        "expectedVersion": spike["version"],
        "name": "同类投诉激增",
        "severity": "HIGH",
        "enabled": True,
        "threshold": 3,
        "windowHours": 12,
    }
    body = (await gql(client, EDIT, {"input": edit}, token=manager))["data"]["editCrisisRule"]
    assert body["errors"] == [] and body["rule"]["threshold"] == 3
    stale = (await gql(client, EDIT, {"input": edit}, token=manager))["data"]["editCrisisRule"]
    assert stale["errors"] == [{"code": "CONFLICT", "field": "expectedVersion"}]
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    denied = await gql(client, EDIT, {"input": edit}, token=agent, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


LIVE = """subscription { crisisIncidentsChanged { eventType
  incident { id number status title } } }"""


async def test_managers_are_told_of_every_change_live(app: Starlette, services: Services) -> None:
    """Each step of an incident reaches the managers' subscription through the outbox and
    the event bus (Redis in the PostgreSQL + Redis run); a customer may not listen."""
    manager = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, manager)
    customer = await customer_token(services, await make_customer(services))
    relay = OutboxRelay(services.bus, services.queue)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {customer}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json({"id": "c", "type": "subscribe", "payload": {"query": LIVE}})
            assert "FORBIDDEN" in str(await asyncio.wait_for(ws.receive_json(), 10))
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json({"id": "m", "type": "subscribe", "payload": {"query": LIVE}})
            await subscribed(services.bus, MANAGERS, 1)

            lead = Actor(kind=SubjectKind.STAFF, subject_id=manager.id, role=manager.role)
            incident = await detect.open_incident(lead, "官网费率错误", CrisisSeverity.MEDIUM, [])
            await relay.relay_once()
            message = await asyncio.wait_for(ws.receive_json(), 10)
            change = message["payload"]["data"]["crisisIncidentsChanged"]
            assert change["eventType"] == "crisis.opened"
            assert change["incident"] == {
                "id": global_id("CrisisIncident", incident.id),
                "number": incident.number,
                "status": "IDENTIFIED",
                "title": "官网费率错误",
            }


async def test_the_incident_list_costs_the_same_statements_whatever_its_length(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Each incident on the page used to cost nine queries of its own."""
    lead = await make_staff(StaffRole.SUPERVISOR)
    token = await staff_token(services, lead)
    page = """{ crisisIncidents(first: 20) { edges { node { number team { name }
      actions { ownerName } statements { draftedBy } complaints { number timeline { action } }
      complaintCount timeline { action } } } } }"""

    async def statements_for(incidents: int) -> int:
        for n in range(incidents):
            someone = await make_customer(services, f"危机列表{incidents}-{n}")
            complaint = await file_complaint(
                Actor(kind=SubjectKind.CUSTOMER, subject_id=someone.id),
                ComplaintChannel.APP,
                "理赔审核太慢了",
                Subjects(policy_id=(await make_policy(services, someone)).id),
            )
            staff = Actor(kind=SubjectKind.STAFF, subject_id=lead.id, role=StaffRole.SUPERVISOR)
            await detect.open_incident(staff, f"事件{n}", CrisisSeverity.HIGH, [complaint.id])
        with counting_statements() as counter:
            answer = await gql(client, page, token=token)
        assert "errors" not in answer
        assert len(answer["data"]["crisisIncidents"]["edges"]) >= incidents
        return len(counter.statements)

    one, five = await statements_for(1), await statements_for(4)
    assert five == one, f"1 incident: {one} statements, 5 incidents: {five}"
