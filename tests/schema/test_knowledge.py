"""The knowledge base over GraphQL: an agent proposes, a supervisor publishes (an agent
may not), the list filters, figures need KB_MANAGE, customers rate their own answers."""

from __future__ import annotations

import httpx
from strawberry import relay

from api.services import Services
from models.auth import SubjectKind
from models.staff import StaffRole
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from workflows.access import Actor
from workflows.assistant.answer import reply

ENTRY = "entry { id code status version publishedVersion versions { version note } }"
PROPOSE = f"""mutation($input: ProposeKnowledgeInput!) {{
  proposeKnowledgeEntry(input: $input) {{ changed errors {{ code field }} {ENTRY} }} }}"""
PUBLISH = f"""mutation($input: KnowledgeEntryVersionInput!) {{
  publishKnowledgeEntry(input: $input) {{ changed errors {{ code }} {ENTRY} }} }}"""
LIST = """query($filter: KnowledgeEntryFilter) { knowledgeEntries(filter: $filter) {
  totalCount edges { node { code status } } } }"""
RATE = """mutation($input: RateAssistantAnswerInput!) {
  rateAssistantAnswer(input: $input) { changed errors { code } } }"""


async def test_propose_then_publish_and_permissions(
    client: httpx.AsyncClient, services: Services
) -> None:
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    proposed = await gql(
        client,
        PROPOSE,
        {"input": {"question": "宠物医疗能报销吗", "answer": "目前的产品不保障宠物医疗费用。"}},
        token=agent,
    )
    entry = proposed["data"]["proposeKnowledgeEntry"]["entry"]
    assert entry["status"] == "DRAFT" and entry["publishedVersion"] is None
    version = {"entryId": entry["id"], "expectedVersion": entry["version"]}
    refused = await gql(client, PUBLISH, {"input": version}, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    published = await gql(client, PUBLISH, {"input": version}, token=supervisor)
    saved = published["data"]["publishKnowledgeEntry"]["entry"]
    assert saved["status"] == "PUBLISHED" and saved["publishedVersion"] == 2
    assert [v["version"] for v in saved["versions"]] == [2, 1]
    stale = await gql(client, PUBLISH, {"input": version}, token=supervisor)
    assert stale["data"]["publishKnowledgeEntry"]["errors"] == [{"code": "ILLEGAL_TRANSITION"}]
    listed = await gql(client, LIST, {"filter": {"status": ["PUBLISHED"]}}, token=agent)
    assert listed["data"]["knowledgeEntries"]["totalCount"] == 1
    figures = await gql(client, "{ assistantFigures { answers } }", token=agent, allow_errors=True)
    assert figures["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_customers_rate_their_own_answers_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await make_customer(services), await make_customer(services)
    answer = await reply(Actor(SubjectKind.CUSTOMER, alice.id), "犹豫期是多久")
    assert answer.answer_id is not None
    answer_id = str(relay.GlobalID("AssistantAnswer", str(answer.answer_id)))
    rating = {"input": {"answerId": answer_id, "helpful": True}}
    others = await gql(client, RATE, rating, token=await customer_token(services, bob))
    assert others["data"]["rateAssistantAnswer"]["errors"] == [{"code": "NOT_FOUND"}]
    token = await customer_token(services, alice)
    first = await gql(client, RATE, rating, token=token)
    assert first["data"]["rateAssistantAnswer"] == {"changed": True, "errors": []}
    again = await gql(client, RATE, rating, token=token)
    assert again["data"]["rateAssistantAnswer"]["errors"] == [{"code": "ALREADY_RATED"}]
