"""Complaint remedies over GraphQL: a complaint filed with photos (bounded, all or none),
seen by its customer and handlers only; a resolution proposed and approved returns the
resolution, the complaint and the claim put back to review; the customer sees what was
carried out; root causes recorded, listed for supervisors, counted and completed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.services import Services
from models.claims import ClaimStatus
from models.complaint_remedies import ComplaintAttachment
from models.complaints import Complaint, ComplaintChannel
from models.ids import global_id
from models.payments import Payout, PayoutStatus
from models.staff import StaffRole
from models.surveys import SurveyInvitation
from tests.factories import (
    chosen_account,
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.schema.test_complaints import ANSWER, ASSIGN, RESPOND
from tests.storage.samples import jpeg_with_gps, pdf, photo
from tests.workflows.test_complaints import as_customer, as_staff
from workflows import surveys
from workflows.complaints import handling, intake, root_causes
from workflows.complaints.intake import Subjects

FILE = """mutation($input: FileComplaintInput!) { fileComplaint(input: $input) {
  changed errors { code field message }
  complaint { id version attachments { id fileName contentType url thumbnailUrl } } } }"""
SEE = """query($id: ID!) { node(id: $id) { ... on Complaint { id version status answer
  rootCauseMissing attachments { fileName }
  resolutions { status explanation totalAmount { amount } remedies { kind note claimNumber
    amount { amount } payoutStatus paidTo } }
  rootCause { category dueOn overdue doneAt } } } }"""
PROPOSE = """mutation($input: ProposeComplaintResolutionInput!) {
  proposeComplaintResolution(input: $input) { changed errors { code field }
    resolution { id status totalAmount { amount } remedies { kind payoutStatus } }
    complaint { id version } claims { id status } } }"""
APPROVE = """mutation($input: ApproveComplaintResolutionInput!) {
  approveComplaintResolution(input: $input) { changed errors { code }
    resolution { id status decidedAt remedies { kind payoutStatus paidTo claimNumber } }
    complaint { id version timeline { action } } claims { id status } } }"""
ROOT = """mutation($input: RecordComplaintRootCauseInput!) {
  recordComplaintRootCause(input: $input) { changed errors { code field }
    rootCause { id category categoryName dueOn overdue } complaint { id version } } }"""
DONE = """mutation($input: CompleteCorrectiveActionInput!) {
  completeCorrectiveAction(input: $input) { changed errors { code }
    rootCause { id doneAt doneNote } complaint { id version } } }"""
OPEN = """query($overdue: Boolean) { openCorrectiveActions(overdue: $overdue) {
  edges { node { id complaintNumber responsibleUnit } } } }"""
TOP = """query($since: Date!, $until: Date!) {
  topComplaintRootCauses(since: $since, until: $until) {
    category name complaints openActions } }"""


@pytest.fixture
def settings_overrides(tmp_path: Any) -> dict[str, Any]:
    return {"storage_root": tmp_path / "files", "upload_max_bytes": 3_000_000}


async def file_with(
    client: httpx.AsyncClient, token: str, files: list[tuple[str, bytes]], **extra: Any
) -> dict[str, Any]:
    operations = {
        "query": FILE,
        "variables": {
            "input": {
                "channel": "APP",
                "text": "理赔拒赔理由不成立",
                "files": [None] * len(files),
                **extra,
            }
        },
    }
    mapping = {str(i): [f"variables.input.files.{i}"] for i in range(len(files))}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={str(i): (name, data) for i, (name, data) in enumerate(files)},
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "true"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["fileComplaint"]


async def test_a_complaint_filed_with_photos_and_put_right(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_customer(services, "张伟")
    bob = await make_customer(services)
    policy = await make_policy(services, alice)
    claim = await make_claim(
        alice,
        policy,
        ClaimStatus.REJECTED,
        decided_at=datetime.now(UTC),
        **chosen_account(services, "sandbox", "2088000000000001"),
    )
    alice_token = await customer_token(services, alice)
    bob_token = await customer_token(services, bob)
    agent_user = await make_staff(StaffRole.AGENT)
    agent = await staff_token(services, agent_user)
    boss = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    other_boss = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))

    # Bounded: ten files, or one that is not a photo or PDF, file nothing at all.
    image = jpeg_with_gps(photo(1, (400, 300)))
    ten = await file_with(client, alice_token, [(f"{i}.jpg", image) for i in range(10)])
    assert ten["errors"][0]["code"] == "TOO_MANY_FILES" and ten["complaint"] is None
    bad = await file_with(
        client, alice_token, [("a.jpg", image), ("x.exe", b"\x7fELF" + b"0" * 64)]
    )
    assert bad["errors"][0]["code"] == "FILE_REJECTED" and bad["errors"][0]["field"] == "files.1"
    assert await Complaint.all().count() == 0 and await ComplaintAttachment.all().count() == 0

    filed = await file_with(
        client,
        alice_token,
        [("现场.jpg", image), ("病历.pdf", pdf())],
        claimId=global_id("Claim", claim.id),
    )
    assert filed["errors"] == [] and filed["changed"]
    complaint = filed["complaint"]
    shots = complaint["attachments"]
    assert [a["fileName"] for a in shots] == ["现场.jpg", "病历.pdf"]
    heic_named = await file_with(client, alice_token, [("IMG_4032.HEIC", image)])
    assert [a["fileName"] for a in heic_named["complaint"]["attachments"]] == ["IMG_4032.jpg"]
    assert shots[0]["contentType"] == "image/jpeg" and shots[0]["thumbnailUrl"]
    assert shots[1]["contentType"] == "application/pdf" and shots[0]["url"].startswith("/files/")
    # The handler sees them; another customer sees neither the complaint nor a file.
    staff_view = (await gql(client, SEE, {"id": complaint["id"]}, token=agent))["data"]["node"]
    assert [a["fileName"] for a in staff_view["attachments"]] == ["现场.jpg", "病历.pdf"]
    for node_id in (complaint["id"], shots[0]["id"]):
        body = await gql(
            client, "query($id: ID!) { node(id: $id) { id } }", {"id": node_id}, token=bob_token
        )
        assert body["data"]["node"] is None

    version = complaint["version"]
    assign = {
        "complaintId": complaint["id"],
        "expectedVersion": version,
        "handlerId": global_id("StaffMember", agent_user.id),
    }
    version = (await gql(client, ASSIGN, {"input": assign}, token=boss))["data"]["assignComplaint"][
        "complaint"
    ]["version"]
    contact = {"complaintId": complaint["id"], "expectedVersion": version, "text": "已致电"}
    version = (await gql(client, RESPOND, {"input": contact}, token=agent))["data"][
        "logComplaintContact"
    ]["complaint"]["version"]

    proposal = {
        "complaintId": complaint["id"],
        "expectedVersion": version,
        "explanation": "补充材料未被审核",
        "remedies": [
            {"kind": "APOLOGY", "note": "审核遗漏，向您致歉"},
            {"kind": "CLAIM_REREVIEW", "note": "补充病历未审核"},
            {"kind": "GOODWILL_PAYMENT", "amount": "200.00"},
        ],
    }
    proposed = (await gql(client, PROPOSE, {"input": proposal}, token=agent))["data"][
        "proposeComplaintResolution"
    ]
    assert proposed["errors"] == [] and proposed["claims"] == []
    resolution = proposed["resolution"]
    assert (
        resolution["status"] == "AWAITING_APPROVAL"
        and resolution["totalAmount"]["amount"] == "200.00"
    )
    # The customer does not see a proposal waiting; the handler cannot approve it.
    mine = (await gql(client, SEE, {"id": complaint["id"]}, token=alice_token))["data"]["node"]
    assert mine["resolutions"] == [] and mine["rootCause"] is None
    refused = await gql(
        client,
        APPROVE,
        {"input": {"resolutionId": resolution["id"]}},
        token=agent,
        allow_errors=True,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    approved = (
        await gql(client, APPROVE, {"input": {"resolutionId": resolution["id"]}}, token=other_boss)
    )["data"]["approveComplaintResolution"]
    assert approved["errors"] == []
    assert approved["resolution"]["status"] == "CARRIED_OUT" and approved["resolution"]["decidedAt"]
    assert approved["claims"] == [{"id": global_id("Claim", claim.id), "status": "UNDER_REVIEW"}]
    assert approved["complaint"]["version"] > version
    assert "carry_out_remedies" in [s["action"] for s in approved["complaint"]["timeline"]]
    goodwill = approved["resolution"]["remedies"][2]
    assert goodwill["payoutStatus"] == "QUEUED" and goodwill["claimNumber"] == claim.report_number
    assert (await Payout.get(remedy_id__not_isnull=True)).status is PayoutStatus.QUEUED
    again = (await gql(client, APPROVE, {"input": {"resolutionId": resolution["id"]}}, token=boss))[
        "data"
    ]["approveComplaintResolution"]
    assert again["errors"][0]["code"] == "ALREADY_DECIDED" and again["resolution"] is None

    version = approved["complaint"]["version"]
    answer = {"complaintId": complaint["id"], "expectedVersion": version, "text": "重新审核中"}
    answered = (await gql(client, ANSWER, {"input": answer}, token=agent))["data"][
        "answerComplaint"
    ]
    assert (
        "向您致歉" in answered["complaint"]["answer"]
        and "补偿款200.00元" in answered["complaint"]["answer"]
    )
    mine = (await gql(client, SEE, {"id": complaint["id"]}, token=alice_token))["data"]["node"]
    [carried] = mine["resolutions"]
    assert [r["kind"] for r in carried["remedies"]] == [
        "APOLOGY",
        "CLAIM_REREVIEW",
        "GOODWILL_PAYMENT",
    ]
    assert [a["fileName"] for a in mine["attachments"]] == ["现场.jpg", "病历.pdf"]

    # Root cause: recorded by the handler, listed for supervisors, counted, completed.
    due = (root_causes.today() + timedelta(days=14)).isoformat()
    cause_input = {
        "complaintId": complaint["id"],
        "expectedVersion": answered["complaint"]["version"],
        "category": "CLAIM_HANDLING",
        "responsibleUnit": "理赔部",
        "correctiveAction": "补充材料到达后提醒审核人",
        "dueOn": due,
    }
    recorded = (await gql(client, ROOT, {"input": cause_input}, token=agent))["data"][
        "recordComplaintRootCause"
    ]
    assert recorded["errors"] == [] and recorded["rootCause"]["categoryName"] == "理赔处理"
    assert recorded["rootCause"]["dueOn"] == due and not recorded["rootCause"]["overdue"]
    listed = (await gql(client, OPEN, {}, token=boss))["data"]["openCorrectiveActions"]["edges"]
    assert [e["node"]["id"] for e in listed] == [recorded["rootCause"]["id"]]
    assert (await gql(client, OPEN, {"overdue": True}, token=boss))["data"][
        "openCorrectiveActions"
    ]["edges"] == []
    denied = await gql(client, OPEN, {}, token=agent, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    today = root_causes.today().isoformat()
    top = (await gql(client, TOP, {"since": today, "until": today}, token=boss))["data"][
        "topComplaintRootCauses"
    ]
    assert top == [
        {"category": "CLAIM_HANDLING", "name": "理赔处理", "complaints": 1, "openActions": 1}
    ]
    finished = (
        await gql(
            client,
            DONE,
            {"input": {"rootCauseId": recorded["rootCause"]["id"], "note": "已上线"}},
            token=boss,
        )
    )["data"]["completeCorrectiveAction"]
    assert (
        finished["errors"] == []
        and finished["rootCause"]["doneAt"]
        and finished["complaint"]["version"]
    )
    assert (await gql(client, OPEN, {}, token=boss))["data"]["openCorrectiveActions"]["edges"] == []


MISSING = """{ complaintQueue(filter: {rootCauseMissing: true}) {
  edges { node { id rootCauseMissing } } } }"""


async def test_the_queue_shows_closures_without_a_root_cause(
    client: httpx.AsyncClient, services: Services
) -> None:

    customer = await make_customer(services)
    boss_user = await make_staff(StaffRole.SUPERVISOR)
    boss = as_staff(boss_user)
    closed = await intake.file_complaint(
        as_customer(customer), ComplaintChannel.APP, "回电太慢", Subjects()
    )
    await intake.file_complaint(as_customer(customer), ComplaintChannel.APP, "另一件事", Subjects())
    c = await handling.assign(boss, closed.id, closed.version, boss_user.id)
    c = await handling.respond(boss, c.id, c.version, "已联系")
    c = await handling.answer(boss, c.id, c.version, "已处理")
    await handling.sweep_clocks(datetime.now(UTC) + timedelta(days=8))
    token = await staff_token(services, boss_user)
    edges = (await gql(client, MISSING, token=token))["data"]["complaintQueue"]["edges"]
    assert edges == [{"node": {"id": global_id("Complaint", closed.id), "rootCauseMissing": True}}]


TASKS = """query($id: ID!) { node(id: $id) { ... on Complaint { status
  recoveryTasks { id reason doneAt } } } }"""


async def test_complaint_supervisors_see_the_recovery_task_of_a_poor_survey(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    boss_user = await make_staff(StaffRole.SUPERVISOR)
    agent_user = await make_staff(StaffRole.AGENT)
    boss = as_staff(boss_user)
    c = await intake.file_complaint(
        as_customer(customer), ComplaintChannel.APP, "回电慢", Subjects()
    )
    c = await handling.assign(boss, c.id, c.version, agent_user.id)
    c = await handling.respond(boss, c.id, c.version, "已联系")
    c = await handling.answer(boss, c.id, c.version, "已处理")
    await handling.sweep_clocks(datetime.now(UTC) + timedelta(days=8))
    invitation = await SurveyInvitation.get(subject_type="complaint", subject_id=str(c.id))
    await surveys.submit(
        invitation, [surveys.Answer("q1", 2), surveys.Answer("q2", None, ("slow",))], "APP"
    )
    complaint_id = global_id("Complaint", c.id)
    seen = await gql(
        client, TASKS, {"id": complaint_id}, token=await staff_token(services, boss_user)
    )
    node = seen["data"]["node"]
    assert node["status"] == "CLOSED"
    [task] = node["recoveryTasks"]
    assert "满意度评分2分" in task["reason"] and task["doneAt"] is None
    agent = await staff_token(services, agent_user)
    assert (await gql(client, TASKS, {"id": complaint_id}, token=agent))["data"]["node"][
        "recoveryTasks"
    ] == []
    mine = await customer_token(services, customer)
    assert (await gql(client, TASKS, {"id": complaint_id}, token=mine))["data"]["node"][
        "recoveryTasks"
    ] == []
