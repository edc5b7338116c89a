"""DataLoaders cache what they read for the rest of a request; nothing they read before a
write may be served after it: not to the next mutation of the same request, nor to the
next event of a subscription."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from strawberry import relay

from api.services import Services
from push.outbox import OutboxRelay
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import customer_token, make_customer
from tests.graphql import gql
from tests.storage.samples import encode, photo

REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id timeline { action } } errors { code } } }"""
SUBMIT_THEN_WITHDRAW = """mutation($id: ID!) {
  submit: submitClaim(input: {claimId: $id, explanation: "稍后补交"}) {
    claim { status timeline { action } documents { fileName } } errors { code } }
  withdraw: withdrawClaim(input: {claimId: $id, reason: "已私了"}) {
    claim { status timeline { action } } errors { code } }
}"""
SUBMIT = """mutation($id: ID!) {
  submitClaim(input: {claimId: $id, explanation: "稍后补交"}) { errors { code } } }"""
LIVE = """subscription($id: ID!) { claimUpdated(claimId: $id) { status timeline { action } } }"""
TWO_UPLOADS = """mutation($a: UploadClaimDocumentsInput!, $b: UploadClaimDocumentsInput!) {
  first: uploadClaimDocuments(input: $a) {
    claim { missingDocuments documents { checklistCode } } errors { code } }
  second: uploadClaimDocuments(input: $b) {
    claim { missingDocuments documents { checklistCode } } errors { code } }
}"""


async def reported_claim(client: httpx.AsyncClient, services: Services) -> tuple[str, str]:
    holder = await make_customer(services)
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    body = await gql(client, REPORT, {"input": loss_input(policy)}, token=token)
    assert body["data"]["reportLoss"]["errors"] == []
    return token, body["data"]["reportLoss"]["claim"]["id"]


def actions(payload: dict[str, Any]) -> list[str]:
    return [step["action"] for step in payload["claim"]["timeline"]]


async def test_a_second_mutation_in_one_request_sees_the_first_ones_timeline_step(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, claim_id = await reported_claim(client, services)
    body = await gql(client, SUBMIT_THEN_WITHDRAW, {"id": claim_id}, token=token)
    submit, withdraw = body["data"]["submit"], body["data"]["withdraw"]
    assert submit["errors"] == withdraw["errors"] == []
    assert actions(submit)[-1] == "submit"
    assert withdraw["claim"]["status"] == "WITHDRAWN"
    assert actions(withdraw) == [*actions(submit), "withdraw"]


async def test_a_second_upload_in_one_request_sees_both_documents(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, claim_id = await reported_claim(client, services)
    operations = {
        "query": TWO_UPLOADS,
        "variables": {
            "a": {"claimId": claim_id, "files": [{"checklistCode": "D01", "file": None}]},
            "b": {"claimId": claim_id, "files": [{"checklistCode": "D02", "file": None}]},
        },
    }
    mapping = {"0": ["variables.a.files.0.file"], "1": ["variables.b.files.0.file"]}
    response = await client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
        files={
            "0": ("scene.jpg", encode(photo(1), "JPEG")),
            "1": ("licence.jpg", encode(photo(2), "JPEG")),
        },
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "true"},
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["data"]["first"], response.json()["data"]["second"]
    assert first["errors"] == second["errors"] == []
    assert [d["checklistCode"] for d in first["claim"]["documents"]] == ["D01"]
    assert [d["checklistCode"] for d in second["claim"]["documents"]] == ["D01", "D02"]
    assert len(second["claim"]["missingDocuments"]) == len(first["claim"]["missingDocuments"]) - 1


async def next_event(ws: AsyncWebSocketSession, wait: float) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.receive_json(), wait)
    assert message["type"] == "next", message
    return message["payload"]["data"]["claimUpdated"]


async def nudge(services: Services, channel: str, claim_id: str) -> None:
    while True:
        await services.bus.publish(channel, {"type": "nudge", "entityId": claim_id})
        await asyncio.sleep(0.05)


async def test_each_subscription_event_reads_the_claim_afresh(
    app: Starlette, services: Services
) -> None:
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token, claim_id = await reported_claim(client, services)
        channel = f"claim:{relay.GlobalID.from_id(claim_id).node_id}"
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": LIVE, "variables": {"id": claim_id}},
                }
            )
            # Nudge the channel until the subscription answers: it is registered then,
            # and its loaders have read the timeline once.
            nudging = asyncio.create_task(nudge(services, channel, claim_id))
            try:
                before = await next_event(ws, 5)
            finally:
                nudging.cancel()
            body = await gql(client, SUBMIT, {"id": claim_id}, token=token)
            assert body["data"]["submitClaim"]["errors"] == []
            await OutboxRelay(services.bus, services.queue).relay_once()
            event = before
            while event["status"] != "SUBMITTED":  # skips nudges still queued
                event = await next_event(ws, 5)
            assert [s["action"] for s in event["timeline"]] == [
                *(s["action"] for s in before["timeline"]),
                "submit",
            ]
