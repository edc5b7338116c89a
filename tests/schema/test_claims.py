"""Claims over GraphQL: one claim walked through every state as the customer and staff,
the checks of a report, illegal moves, the authority limit, concurrent decisions, the
staff queue and live updates."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.notifications import OutboxEvent
from models.policies import Coverage, Policy, PolicyStatus
from models.staff import StaffRole
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.claims_helpers import auto_policy, gid, loss_input, upload
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.storage.samples import encode, heic, jpeg_with_gps, pdf, photo

CLAIM_FIELDS = """
  id reportNumber status statusName version lateReport lossType contactPhone
  missingDocuments checklist { name required }
  decisionDueAt paymentDueAt approvedAmount { amount } paidAmount { amount }
  rejection { reason reasonName explanation }
  moreInfoRequest { items reason }
  decisionLines { coverageName claimedAmount { amount } deductibleApplied { amount }
                  approvedAmount { amount } reason }
  timeline { action fromStatus toStatus note actorKind }
"""
REPORT = (
    "mutation($input: ReportLossInput!) { reportLoss(input: $input) { claim { "
    + CLAIM_FIELDS
    + " } warnings checklist { name } confirmation nextSteps errors { field message code } } }"
)


def action(name: str, input_type: str) -> str:
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ claim {{ {CLAIM_FIELDS} }} "
        "errors { field message code } } }"
    )


SUBMIT = action("submitClaim", "SubmitClaimInput")
WITHDRAW = action("withdrawClaim", "WithdrawClaimInput")
SUPPLEMENT = action("supplementDocuments", "SupplementDocumentsInput")
ASSIGN = action("assignClaim", "AssignClaimInput")
MORE_INFO = action("requestClaimInfo", "RequestClaimInfoInput")
NOTE = action("addInvestigationNote", "AddInvestigationNoteInput")
DECIDE = action("decideClaim", "DecideClaimInput")
APPROVE = action("approveClaimDecision", "ClaimVersionInput")
REJECT = action("rejectClaim", "RejectClaimInput")
PAY = action("recordClaimPayment", "RecordClaimPaymentInput")
CLOSE = action("closeClaim", "ClaimVersionInput")


@pytest.fixture
async def cast(services: Services) -> dict[str, Any]:
    holder = await make_customer(services, "张伟", phone="13800000001")
    policy, coverage = await auto_policy(services, holder)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    return {
        "holder": holder,
        "policy": policy,
        "coverage": coverage,
        "adjuster": adjuster,
        "supervisor": supervisor,
        "customer": await customer_token(services, holder),
        "adjuster_token": await staff_token(services, adjuster),
        "supervisor_token": await staff_token(services, supervisor),
        "agent_token": await staff_token(services, await make_staff(StaffRole.AGENT)),
    }


async def do(client: httpx.AsyncClient, mutation: str, token: str, **input: Any) -> dict[str, Any]:
    body = await gql(client, mutation, {"input": input}, token=token)
    return next(iter(body["data"].values()))


async def report(client: httpx.AsyncClient, cast: dict[str, Any], **overrides: Any) -> dict:
    result = await do(client, REPORT, cast["customer"], **loss_input(cast["policy"], **overrides))
    assert result["errors"] == [], result["errors"]
    return result


async def test_one_claim_through_every_state(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    customer, adjuster, supervisor = (
        cast["customer"],
        cast["adjuster_token"],
        cast["supervisor_token"],
    )
    reported = await report(client, cast)
    claim = reported["claim"]
    assert claim["reportNumber"].startswith("BA") and len(claim["reportNumber"]) == 16
    assert claim["status"] == "DOCUMENTS_PENDING"
    assert claim["contactPhone"] == "138****0001"
    assert "事故现场照片" in claim["missingDocuments"]
    assert reported["confirmation"].startswith("您的报案已受理，报案号BA")
    assert [t["toStatus"] for t in claim["timeline"]] == ["REPORTED", "DOCUMENTS_PENDING"]
    claim_id = claim["id"]

    missing = await do(client, SUBMIT, customer, claimId=claim_id)
    assert missing["errors"][0]["code"] == "DOCUMENTS_MISSING"
    uploaded = (
        await upload(
            client,
            customer,
            claim_id,
            [
                ("D01", "现场.jpg", jpeg_with_gps(photo(11))),
                ("D02", "驾驶证.heic", heic(photo(12))),
                ("D03", "行驶证.png", encode(photo(13), "PNG")),
                ("D04", "事故认定书.pdf", pdf()),
            ],
        )
    ).json()["data"]["uploadClaimDocuments"]
    assert uploaded["errors"] == []
    assert uploaded["claim"]["missingDocuments"] == ["维修发票"]
    assert {d["contentType"] for d in uploaded["claim"]["documents"]} == {
        "image/jpeg",
        "application/pdf",
    }
    submitted = await do(
        client, SUBMIT, customer, claimId=claim_id, explanation="维修发票待修理厂开具后补交"
    )
    assert submitted["claim"]["status"] == "SUBMITTED"
    assert submitted["claim"]["decisionDueAt"] is not None

    version = submitted["claim"]["version"]
    assigned = await do(
        client,
        ASSIGN,
        supervisor,
        claimId=claim_id,
        adjusterId=gid("StaffMember", cast["adjuster"].id),
        expectedVersion=version,
    )
    assert assigned["claim"]["status"] == "UNDER_REVIEW"
    version = assigned["claim"]["version"]

    asked = await do(
        client,
        MORE_INFO,
        adjuster,
        claimId=claim_id,
        items=["维修发票", "交警事故认定书"],
        reason="需核实维修金额与事故责任",
        expectedVersion=version,
    )
    assert asked["claim"]["status"] == "MORE_INFO_REQUESTED"
    assert asked["claim"]["moreInfoRequest"]["items"] == ["维修发票", "交警事故认定书"]
    invoice = (
        await upload(
            client,
            customer,
            claim_id,
            [
                ("D05", "维修发票.pdf", pdf()),
            ],
        )
    ).json()["data"]["uploadClaimDocuments"]
    # What the adjuster asked for stays listed until the customer answers the request.
    assert invoice["errors"] == []
    assert invoice["claim"]["missingDocuments"] == ["维修发票", "交警事故认定书"]
    supplemented = await do(
        client, SUPPLEMENT, customer, claimId=claim_id, note="已补充维修发票和事故认定书"
    )
    assert supplemented["claim"]["status"] == "UNDER_REVIEW"
    assert supplemented["claim"]["missingDocuments"] == []
    version = supplemented["claim"]["version"]
    again = await do(
        client,
        MORE_INFO,
        adjuster,
        claimId=claim_id,
        items=["照片"],
        reason="再看看",
        expectedVersion=version,
    )
    assert again["errors"][0]["code"] == "MORE_INFO_ALREADY_REQUESTED"

    noted = await do(client, NOTE, adjuster, claimId=claim_id, text="电话核实车主，情况属实")
    assert noted["errors"] == []
    decided = await do(
        client,
        DECIDE,
        adjuster,
        claimId=claim_id,
        expectedVersion=version,
        lines=[
            {
                "coverageId": gid("Coverage", cast["coverage"].id),
                "claimedAmount": "3500.00",
                "approvedAmount": "3500.00",
                "reason": "按维修发票核定",
            }
        ],
    )
    assert decided["errors"] == []
    final = decided["claim"]
    assert final["status"] == "PAYING"
    assert final["approvedAmount"] == {"amount": "3000.00"}  # 500 deductible applied
    [line] = final["decisionLines"]
    assert line["deductibleApplied"] == {"amount": "500.00"}
    assert "扣除免赔额500.00元" in line["reason"]
    assert final["paymentDueAt"] is not None

    paid = await do(
        client,
        PAY,
        supervisor,
        claimId=claim_id,
        payoutReference="BANK-20261129-0001",
        expectedVersion=final["version"],
    )
    assert paid["claim"]["status"] == "PAID"
    assert paid["claim"]["paidAmount"] == {"amount": "3000.00"}
    assert (await Coverage.get(id=cast["coverage"].id)).used_amount == 4000  # 1,000 + 3,000

    closed = await do(
        client, CLOSE, adjuster, claimId=claim_id, expectedVersion=paid["claim"]["version"]
    )
    assert closed["claim"]["status"] == "CLOSED"
    statuses = [t["toStatus"] for t in closed["claim"]["timeline"]]
    assert statuses == [
        "REPORTED",
        "DOCUMENTS_PENDING",
        "SUBMITTED",
        "UNDER_REVIEW",
        "MORE_INFO_REQUESTED",
        "UNDER_REVIEW",
        "APPROVED",
        "PAYING",
        "PAID",
        "CLOSED",
    ]
    # Closed claims are read-only.
    late = await do(client, WITHDRAW, customer, claimId=claim_id)
    assert late["errors"][0]["code"] == "ILLEGAL_TRANSITION"

    events = [e.event_type for e in await OutboxEvent.all().order_by("id")]
    assert events.count("claim.reported") == 1
    assert "claim.documents_missing" in events and "claim.decided" in events
    assert "claim.paid" in events and "claim.closed" in events
    assert "survey.invited" in set(events)
    archive = await gql(
        client,
        "query($id: ID!) { claimArchive(id: $id) { reportNumber manifest fileUrls } }",
        {"id": claim_id},
        token=adjuster,
    )
    manifest = json.loads(archive["data"]["claimArchive"]["manifest"])
    assert manifest["claim"]["reportNumber"] == claim["reportNumber"]
    assert [t["to"] for t in manifest["timeline"]][-1] == "CLOSED"
    assert manifest["decision"][0]["approved"] == "3000.00"
    assert len(manifest["files"]) == 5 == len(archive["data"]["claimArchive"]["fileUrls"])
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    noted = await do(client, NOTE, adjuster, claimId=claim_id, text="结案后补记")
    assert noted["errors"][0]["code"] == "ILLEGAL_TRANSITION"
    # The customer never sees investigation notes.
    body = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { investigationNotes { text } } }",
        {"id": claim_id},
        token=customer,
        allow_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_report_checks(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    customer, policy = cast["customer"], cast["policy"]

    async def errors(**overrides: Any) -> list[dict[str, Any]]:
        result = await do(client, REPORT, customer, **loss_input(policy, **overrides))
        return result["errors"]

    assert (await errors(lossType="FLIGHT_DELAY"))[0]["code"] == "LOSS_TYPE_NOT_COVERED"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await errors(lossAt=future))[0]["code"] == "LOSS_IN_FUTURE"
    before_cover = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    assert (await errors(lossAt=before_cover))[0]["code"] == "NOT_IN_FORCE"
    assert (await errors(channel="PHONE"))[0]["code"] == "CHANNEL_NOT_ALLOWED"
    assert (await errors(contactPhone="12345"))[0] == {
        "field": "contactPhone",
        "message": "请输入正确的联系电话",
        "code": "INVALID_PHONE",
    }
    assert (await errors(description="  "))[0]["code"] == "REQUIRED"
    stranger = await make_customer(services)
    theirs = await do(
        client, REPORT, await customer_token(services, stranger), **loss_input(policy)
    )
    assert theirs["errors"][0]["code"] == "POLICY_NOT_FOUND"
    await Policy.filter(id=policy.id).update(status=PolicyStatus.CANCELLED)
    assert (await errors())[0]["code"] == "NOT_IN_FORCE"
    assert await Claim.all().count() == 0


async def test_late_reports_need_a_reason_and_are_flagged(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()  # auto: 48 h
    refused = await do(
        client, REPORT, cast["customer"], **loss_input(cast["policy"], lossAt=three_days_ago)
    )
    assert refused["errors"][0]["code"] == "LATE_REPORT_REASON_REQUIRED"
    assert "48小时" in refused["errors"][0]["message"]
    accepted = await report(client, cast, lossAt=three_days_ago, lateReason="出差在外地")
    assert accepted["warnings"] == ["LATE_REPORT"]
    assert accepted["claim"]["lateReport"] is True


async def test_dry_run_and_duplicates(client: httpx.AsyncClient, cast: dict[str, Any]) -> None:
    dry = await report(client, cast, dryRun=True)
    assert dry["claim"] is None and dry["checklist"]
    assert await Claim.all().count() == 0
    await report(client, cast)
    second = await report(client, cast)
    assert second["warnings"] == ["POSSIBLE_DUPLICATE"]
    numbers = {c.report_number for c in await Claim.all()}
    assert len(numbers) == 2


async def test_staff_report_by_phone_for_a_customer(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    input = loss_input(
        cast["policy"], channel="PHONE", customerId=gid("Customer", cast["holder"].id)
    )
    by_agent = await do(client, REPORT, cast["agent_token"], **input)
    assert by_agent["errors"] == [] and by_agent["claim"]["status"] == "DOCUMENTS_PENDING"
    by_app = await do(client, REPORT, cast["agent_token"], **{**input, "channel": "APP"})
    assert by_app["errors"][0]["code"] == "CHANNEL_NOT_ALLOWED"
    by_adjuster = await do(client, REPORT, cast["adjuster_token"], **input)
    assert by_adjuster["errors"][0]["code"] == "CHANNEL_NOT_ALLOWED"
    mine = await gql(client, "{ myClaims { totalCount } }", token=cast["customer"])
    assert mine["data"]["myClaims"]["totalCount"] == 1


async def under_review(client: httpx.AsyncClient, cast: dict[str, Any]) -> dict[str, Any]:
    claim = (await report(client, cast))["claim"]
    submitted = await do(
        client, SUBMIT, cast["customer"], claimId=claim["id"], explanation="材料稍后补交"
    )
    assigned = await do(
        client,
        ASSIGN,
        cast["supervisor_token"],
        claimId=claim["id"],
        adjusterId=gid("StaffMember", cast["adjuster"].id),
        expectedVersion=submitted["claim"]["version"],
    )
    return assigned["claim"]


def line(cast: dict[str, Any], claimed: str, approved: str) -> list[dict[str, str]]:
    return [
        {
            "coverageId": gid("Coverage", cast["coverage"].id),
            "claimedAmount": claimed,
            "approvedAmount": approved,
            "reason": "按定损报告核定",
        }
    ]


async def test_above_the_authority_limit_a_supervisor_approves(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    claim = await under_review(client, cast)
    proposed = await do(
        client,
        DECIDE,
        cast["adjuster_token"],
        claimId=claim["id"],
        expectedVersion=claim["version"],
        lines=line(cast, "80000.00", "80000.00"),
    )
    assert proposed["claim"]["status"] == "UNDER_REVIEW"
    # Staff (the supervisor who approves) see the proposed lines; the customer none yet.
    [proposed_line] = proposed["claim"]["decisionLines"]
    assert proposed_line["approvedAmount"] == {"amount": "79500.00"}
    seen_by_customer = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { decisionLines { approvedAmount { amount } } } }",
        {"id": claim["id"]},
        token=cast["customer"],
    )
    assert seen_by_customer["data"]["claim"]["decisionLines"] == []
    assert await OutboxEvent.filter(event_type="claim.decided").count() == 0
    refused = await gql(
        client,
        APPROVE,
        {"input": {"claimId": claim["id"], "expectedVersion": proposed["claim"]["version"]}},
        token=cast["adjuster_token"],
        allow_errors=True,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    approved = await do(
        client,
        APPROVE,
        cast["supervisor_token"],
        claimId=claim["id"],
        expectedVersion=proposed["claim"]["version"],
    )
    assert approved["claim"]["status"] == "PAYING"
    assert approved["claim"]["approvedAmount"] == {"amount": "79500.00"}


async def test_remaining_cover_caps_a_line_and_partial_approval(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    await Coverage.filter(id=cast["coverage"].id).update(used_amount="98000.00")
    claim = await under_review(client, cast)
    decided = await do(
        client,
        DECIDE,
        cast["supervisor_token"],
        claimId=claim["id"],
        expectedVersion=claim["version"],
        lines=line(cast, "5000.00", "5000.00"),
    )
    assert decided["claim"]["approvedAmount"] == {"amount": "2000.00"}
    assert "以剩余保额2000.00元为限" in decided["claim"]["decisionLines"][0]["reason"]
    assert [t["toStatus"] for t in decided["claim"]["timeline"]][-2] == "PARTIALLY_APPROVED"


async def test_rejection_needs_a_reason_the_customer_sees(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    claim = await under_review(client, cast)
    zero = await do(
        client,
        DECIDE,
        cast["adjuster_token"],
        claimId=claim["id"],
        expectedVersion=claim["version"],
        lines=line(cast, "400.00", "400.00"),
    )
    assert zero["errors"][0]["code"] == "NOTHING_APPROVED"  # all below the deductible
    no_text = await do(
        client,
        REJECT,
        cast["adjuster_token"],
        claimId=claim["id"],
        reason="BELOW_DEDUCTIBLE",
        explanation=" ",
        expectedVersion=claim["version"],
    )
    assert no_text["errors"][0]["field"] == "explanation"
    rejected = await do(
        client,
        REJECT,
        cast["adjuster_token"],
        claimId=claim["id"],
        reason="BELOW_DEDUCTIBLE",
        explanation="损失400元，未超过免赔额500元",
        expectedVersion=claim["version"],
    )
    seen = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { status rejection { reasonName explanation } } }",
        {"id": claim["id"]},
        token=cast["customer"],
    )
    assert seen["data"]["claim"] == {
        "status": "REJECTED",
        "rejection": {
            "reasonName": "损失金额未超过免赔额",
            "explanation": "损失400元，未超过免赔额500元",
        },
    }
    assert rejected["claim"]["status"] == "REJECTED"


async def test_stale_versions_and_illegal_moves_are_typed_errors(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    claim = await under_review(client, cast)
    stale = await do(
        client,
        DECIDE,
        cast["adjuster_token"],
        claimId=claim["id"],
        expectedVersion=claim["version"] - 1,
        lines=line(cast, "900", "900"),
    )
    assert stale["errors"][0]["code"] == "CONFLICT"
    paid_early = await do(
        client,
        PAY,
        cast["supervisor_token"],
        claimId=claim["id"],
        payoutReference="X",
        expectedVersion=claim["version"],
    )
    assert paid_early["errors"][0]["code"] == "ILLEGAL_TRANSITION"
    assert paid_early["errors"][0]["message"] == "当前状态（审核中）不能进行此操作"


async def test_customers_cannot_touch_other_peoples_claims(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    claim = (await report(client, cast))["claim"]
    stranger = await customer_token(services, await make_customer(services))
    theirs = await do(client, WITHDRAW, stranger, claimId=claim["id"])
    assert theirs["errors"][0]["code"] == "CLAIM_NOT_FOUND"
    seen = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { id } node(id: $id) { id } }",
        {"id": claim["id"]},
        token=stranger,
    )
    assert seen["data"] == {"claim": None, "node": None}


async def test_staff_queue_filters(client: httpx.AsyncClient, cast: dict[str, Any]) -> None:
    reviewed = await under_review(client, cast)
    await report(client, cast)
    queue = """query($filter: ClaimQueueFilter) { claimQueue(filter: $filter) {
      totalCount edges { node { reportNumber overdue fraudFlag } } } }"""

    async def count(where: dict[str, Any]) -> int:
        body = await gql(client, queue, {"filter": where}, token=cast["adjuster_token"])
        return body["data"]["claimQueue"]["totalCount"]

    assert await count({}) == 2
    assert await count({"status": ["UNDER_REVIEW"]}) == 1
    assert await count({"productKind": ["AUTO"]}) == 2
    assert await count({"overdue": True}) == 0
    await Claim.filter(report_number=reviewed["reportNumber"]).update(
        submitted_at=datetime.now(UTC) - timedelta(days=31)
    )
    assert await count({"overdue": True}) == 1
    assert await count({"assigneeId": gid("StaffMember", cast["adjuster"].id)}) == 1
    assert await count({"unassigned": True}) == 1
    assert await count({"fraudFlag": True}) == 0
    customers = await gql(client, queue, {"filter": {}}, token=cast["customer"], allow_errors=True)
    assert customers["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@postgres_only
async def test_two_adjusters_deciding_at_once_one_wins(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    claim = await under_review(client, cast)
    other = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    results = await asyncio.gather(
        *[
            do(
                client,
                DECIDE,
                token,
                claimId=claim["id"],
                expectedVersion=claim["version"],
                lines=line(cast, "2000.00", "2000.00"),
            )
            for token in (cast["adjuster_token"], other, cast["adjuster_token"], other)
        ]
    )
    winners = [r for r in results if not r["errors"]]
    assert len(winners) == 1
    assert {r["errors"][0]["code"] for r in results if r["errors"]} == {"CONFLICT"}
    assert await OutboxEvent.filter(event_type="claim.decided").count() == 1
    assert (await Claim.get(id=claim_db_id(claim))).status is ClaimStatus.PAYING


@postgres_only
async def test_concurrent_submits_submit_once(
    client: httpx.AsyncClient, cast: dict[str, Any]
) -> None:
    claim = (await report(client, cast))["claim"]
    results = await asyncio.gather(
        *[
            do(client, SUBMIT, cast["customer"], claimId=claim["id"], explanation="稍后补交")
            for _ in range(5)
        ]
    )
    assert sum(not r["errors"] for r in results) == 1
    assert await OutboxEvent.filter(event_type="claim.updated").count() == 1


def claim_db_id(claim: dict[str, Any]) -> str:
    from strawberry import relay

    return relay.GlobalID.from_id(claim["id"]).node_id


async def test_claim_updated_live(app: Starlette, services: Services) -> None:
    holder = await make_customer(services)
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        reported = await do(client, REPORT, token, **loss_input(policy))
        claim_id = reported["claim"]["id"]
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription($id: ID!) { claimUpdated(claimId: $id) { status } }",
                        "variables": {"id": claim_id},
                    },
                }
            )
            await subscribed(services.bus, f"claim:{claim_db_id(reported['claim'])}")
            await do(client, SUBMIT, token, claimId=claim_id, explanation="稍后补交")
            await OutboxRelay(services.bus, services.queue).relay_once()
            statuses = set()
            while "SUBMITTED" not in statuses:
                message = await asyncio.wait_for(ws.receive_json(), 5)
                statuses.add(message["payload"]["data"]["claimUpdated"]["status"])

            stranger = await customer_token(services, await make_customer(services))
            await ws.send_json({"type": "connection_init"})  # ignored: already initialised
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {stranger}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "2",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription($id: ID!) { claimUpdated(claimId: $id) { status } }",
                        "variables": {"id": claim_id},
                    },
                }
            )
            refused = await asyncio.wait_for(ws.receive_json(), 5)
            assert refused["type"] == "error" or "errors" in refused.get("payload", {})
            assert "未找到该理赔案件" in str(refused)
