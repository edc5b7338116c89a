"""Online customer service over GraphQL: a customer asks, the assistant (a test double at
the seam, ``workflows.conversations.brain.reply``) answers with citations and actions,
hands off; an agent on another connection accepts and answers, and the customer sees it
over ``conversationUpdated``; closing and rating; another customer sees nothing; the
per-agent limit; outside agents' hours; and, on PostgreSQL, two agents accepting at once
(one wins) and one agent at its limit accepting two at once (one passes)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from strawberry import relay

from api.services import Services
from models.claims import ClaimStatus
from models.clock import SHANGHAI
from models.conversations import Conversation, ConversationStatus
from models.ids import global_id
from models.staff import StaffRole
from models.visits import FollowUpVisit, VisitTrigger
from push.outbox import OutboxRelay
from tests.bus import subscribed
from tests.conftest import postgres_only
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
from workflows.assistant.contract import (
    ActionKind,
    Citation,
    CitationKind,
    HandoffReason,
    Reply,
    SuggestedAction,
)
from workflows.conversations import brain

ALWAYS_OPEN = {"agent_hours": "00:00-24:00", "agent_days": "1-7"}

START = """mutation($input: StartConversationInput!) { startConversation(input: $input) {
  errors { code field message }
  conversation { id version status statusName channel }
  message { id seq author text }
  reply { text intent confidence handoff citations { kind recordId title }
          actions { kind label targetId } }
  replyMessage { id seq author }
  notice { text } } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  errors { code field message retryAfterSeconds }
  conversation { id version status queuePosition expectedWaitMinutes handoffReason }
  message { id seq author text attachments { kind recordId } }
  reply { text intent handoff }
  notice { text reply { actions { kind } } } } }"""
PRESENCE = """mutation($input: SetAgentPresenceInput!) { setAgentPresence(input: $input) {
  errors { code } agentPresence { id status maxConcurrent activeConversations } } }"""
QUEUE = """query($filter: AgentQueueFilter) { agentQueue(filter: $filter) { totalCount
  edges { node { id status intent handoffReason channel waitingSince
    summary { claims { claimId number statusName } policies { policyId number } } } } } }"""
ACCEPT = """mutation($input: ConversationInput!) { acceptConversation(input: $input) {
  errors { code } conversation { id version status agentName handledByMe }
  notice { text } agentPresence { activeConversations } } }"""
ANSWER = """mutation($input: SendAgentMessageInput!) { sendAgentMessage(input: $input) {
  errors { code } message { id seq author text agentName } conversation { id } } }"""
CLOSE = """mutation($input: CloseConversationInput!) { closeConversation(input: $input) {
  errors { code } conversation { id status closedAt } agentPresence { activeConversations }
  } }"""
RATE = """mutation($input: RateServiceInput!) { rateService(input: $input) {
  errors { code } rating { id stars } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Conversation { status } } }"
MINE = "{ myConversations { id status messages { seq author text } } }"
LIVE = """subscription($id: ID!) { conversationUpdated(conversationId: $id) {
  conversation { status agentName queuePosition } messages { seq author text } } }"""


class AssistantDouble:
    """Stands in for ``workflows.assistant.answer.reply``: a hand-off when asked for a
    human, else an answer about the customer's claim (recording what it was given)."""

    def __init__(self) -> None:
        self.claim_id: uuid.UUID | None = None
        self.calls: list[tuple[Actor, str, list[tuple[str, str]]]] = []

    async def __call__(self, actor: Actor, text: str, history: Sequence[Any]) -> Reply:
        self.calls.append((actor, text, list(history)))
        if "人工" in text:
            return Reply(
                "好的，正在为您转接人工客服。", "human", 1.0, handoff=HandoffReason.ASKED_FOR_HUMAN
            )
        claim = self.claim_id or uuid.uuid4()
        return Reply(
            text="您的理赔正在审核中，还缺少医疗发票。",
            intent="claim_progress",
            confidence=0.92,
            citations=(Citation(CitationKind.CLAIM, claim, "理赔 BA1"),),
            actions=(
                SuggestedAction(
                    ActionKind.UPLOAD_DOCUMENTS, "上传缺少的材料", claim, CitationKind.CLAIM
                ),
            ),
        )


@pytest.fixture
def assistant(monkeypatch: pytest.MonkeyPatch) -> AssistantDouble:
    double = AssistantDouble()
    monkeypatch.setattr(brain, "reply", double)
    return double


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(ALWAYS_OPEN)


async def _ws_init(ws: Any, token: str) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await ws.receive_json())["type"] == "connection_ack"


async def _until(ws: Any, wanted: Any) -> dict[str, Any]:
    """Read updates until one satisfies ``wanted`` (bounded: 10 s per message)."""
    while True:
        message = await asyncio.wait_for(ws.receive_json(), 10)
        assert message["type"] == "next", message
        update = message["payload"]["data"]["conversationUpdated"]
        if wanted(update):
            return update


def ws_client(app: Starlette) -> httpx.AsyncClient:
    """A client for WebSockets (opened and closed inside the test's own task)."""
    transport = ASGIWebSocketTransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_customer_assistant_handoff_agent_live(
    app: Starlette,
    client: httpx.AsyncClient,
    services: Services,
    assistant: AssistantDouble,
) -> None:
    alice = await make_customer(services)
    policy = await make_policy(services, alice)
    claim = await make_claim(alice, policy, ClaimStatus.UNDER_REVIEW)
    assistant.claim_id = claim.id
    token = await customer_token(services, alice)
    agent = await make_staff(StaffRole.AGENT)
    agent_token = await staff_token(services, agent)

    started = await gql(
        client,
        START,
        {"input": {"channel": "MINI_PROGRAM", "text": "我的理赔到哪一步了"}},
        token=token,
    )
    result = started["data"]["startConversation"]
    assert result["errors"] == []
    assert result["conversation"]["channel"] == "MINI_PROGRAM"
    assert result["message"] == {
        "id": result["message"]["id"],
        "seq": 1,
        "author": "CUSTOMER",
        "text": "我的理赔到哪一步了",
    }
    reply = result["reply"]
    assert reply["intent"] == "claim_progress" and reply["confidence"] == 0.92
    assert reply["citations"] == [
        {"kind": "CLAIM", "recordId": global_id("Claim", claim.id), "title": "理赔 BA1"}
    ]
    assert reply["actions"] == [
        {
            "kind": "UPLOAD_DOCUMENTS",
            "label": "上传缺少的材料",
            "targetId": global_id("Claim", claim.id),
        }
    ]
    assert result["replyMessage"]["seq"] == 2 and result["replyMessage"]["author"] == "ASSISTANT"
    conversation_id = result["conversation"]["id"]
    actor, _text, history = assistant.calls[0]
    assert actor.subject_id == alice.id and history == []  # the customer's own identity

    # A record of mine attached; the assistant hands off on 转人工.
    sent = await gql(
        client,
        SEND,
        {
            "input": {
                "conversationId": conversation_id,
                "text": "还是转人工吧",
                "attachments": [{"kind": "CLAIM", "recordId": global_id("Claim", claim.id)}],
            }
        },
        token=token,
    )
    result = sent["data"]["sendMessage"]
    assert result["errors"] == []
    assert result["message"]["attachments"] == [
        {"kind": "CLAIM", "recordId": global_id("Claim", claim.id)}
    ]
    assert result["reply"]["handoff"] == "ASKED_FOR_HUMAN"
    assert result["conversation"]["status"] == "WAITING"
    assert result["conversation"]["queuePosition"] == 1
    assert result["conversation"]["handoffReason"] == "ASKED_FOR_HUMAN"
    assert "前面还有0位" in result["notice"]["text"]
    # the customer's earlier messages only (the assistant's own are not its input)
    assert assistant.calls[1][2] == [assistant.calls[0][1]]

    # Not available yet: refused; the queue shows the summary.
    refused = await gql(
        client, ACCEPT, {"input": {"conversationId": conversation_id}}, token=agent_token
    )
    assert refused["data"]["acceptConversation"]["errors"] == [{"code": "AGENT_NOT_AVAILABLE"}]
    queue = (await gql(client, QUEUE, token=agent_token))["data"]["agentQueue"]
    item = queue["edges"][0]["node"]
    assert queue["totalCount"] == 1 and item["intent"] == "human"
    assert item["summary"]["claims"] == [
        {
            "claimId": global_id("Claim", claim.id),
            "number": claim.report_number,
            "statusName": "审核中",
        }
    ]
    assert item["summary"]["policies"][0]["number"] == policy.number
    filtered = await gql(client, QUEUE, {"filter": {"channel": ["APP"]}}, token=agent_token)
    assert filtered["data"]["agentQueue"]["totalCount"] == 0
    await gql(client, PRESENCE, {"input": {"status": "AVAILABLE"}}, token=agent_token)

    relay = OutboxRelay(services.bus, services.queue)
    await relay.relay_once()
    async with (
        ws_client(app) as sockets,
        aconnect_ws("/graphql", sockets, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await _ws_init(ws, token)
        payload = {"query": LIVE, "variables": {"id": conversation_id}}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        first = await _until(ws, lambda u: True)
        assert first["conversation"]["status"] == "WAITING"
        assert [m["seq"] for m in first["messages"]] == [1, 2, 3, 4, 5]
        await subscribed(services.bus, f"conversation:{conversation_uuid(conversation_id)}")

        # The agent, on its own HTTP connection, accepts and answers.
        accepted = await gql(
            client, ACCEPT, {"input": {"conversationId": conversation_id}}, token=agent_token
        )
        result = accepted["data"]["acceptConversation"]
        assert result["errors"] == [] and result["conversation"]["status"] == "WITH_AGENT"
        assert result["conversation"]["handledByMe"] and result["agentPresence"] == {
            "activeConversations": 1
        }
        answered = await gql(
            client,
            ANSWER,
            {"input": {"conversationId": conversation_id, "text": "您好，发票拍照上传即可。"}},
            token=agent_token,
        )
        message = answered["data"]["sendAgentMessage"]["message"]
        assert message["author"] == "AGENT" and message["agentName"] == agent.display_name
        await relay.relay_once()
        seen = await _until(ws, lambda u: any(m["author"] == "AGENT" for m in u["messages"]))
        assert seen["conversation"]["status"] == "WITH_AGENT"
        assert seen["conversation"]["agentName"] == agent.display_name
        assert [m["text"] for m in seen["messages"] if m["author"] == "AGENT"] == [
            "您好，发票拍照上传即可。"
        ]
        assert all(m["seq"] > 5 for m in seen["messages"])  # each message once

    # A message while the agent has it: stored, not answered by the assistant.
    calls = len(assistant.calls)
    later = await gql(
        client,
        SEND,
        {"input": {"conversationId": conversation_id, "text": "好的谢谢"}},
        token=token,
    )
    assert later["data"]["sendMessage"]["reply"] is None and len(assistant.calls) == calls

    # Rating: not before it is closed; after, with rateService.
    rate = {"subjectType": "CONVERSATION", "subjectId": conversation_id, "stars": 5}
    early = await gql(client, RATE, {"input": rate}, token=token)
    assert early["data"]["rateService"]["errors"] == [{"code": "NOT_FOUND"}]
    closed = await gql(
        client, CLOSE, {"input": {"conversationId": conversation_id}}, token=agent_token
    )
    result = closed["data"]["closeConversation"]
    assert result["conversation"]["status"] == "CLOSED"
    assert result["agentPresence"] == {"activeConversations": 0}
    rated = await gql(client, RATE, {"input": rate}, token=token)
    assert (
        rated["data"]["rateService"]["errors"] == []
        and rated["data"]["rateService"]["rating"]["stars"] == 5
    )
    after = await gql(
        client, SEND, {"input": {"conversationId": conversation_id, "text": "在吗"}}, token=token
    )
    assert after["data"]["sendMessage"]["errors"][0]["code"] == "CLOSED"


def conversation_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(value).node_id)


async def test_another_customer_sees_nothing(
    app: Starlette,
    client: httpx.AsyncClient,
    services: Services,
    assistant: AssistantDouble,
) -> None:
    alice = await make_customer(services)
    bob = await make_customer(services)
    alice_token = await customer_token(services, alice)
    bob_token = await customer_token(services, bob)
    adjuster_token = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    started = await gql(client, START, {"input": {"text": "保单怎么续保"}}, token=alice_token)
    conversation_id = started["data"]["startConversation"]["conversation"]["id"]
    message_id = started["data"]["startConversation"]["message"]["id"]

    assert (await gql(client, MINE, token=bob_token))["data"]["myConversations"] == []
    for token in (bob_token, adjuster_token):
        assert (await gql(client, NODE, {"id": conversation_id}, token=token))["data"][
            "node"
        ] is None
        assert (await gql(client, NODE, {"id": message_id}, token=token))["data"]["node"] is None
    sent = await gql(
        client,
        SEND,
        {"input": {"conversationId": conversation_id, "text": "你好"}},
        token=bob_token,
    )
    assert sent["data"]["sendMessage"]["errors"][0]["code"] == "NOT_FOUND"
    missing = await gql(
        client,
        SEND,
        {"input": {"conversationId": global_id("Conversation", uuid.uuid4()), "text": "你好"}},
        token=bob_token,
    )
    assert missing["data"]["sendMessage"]["errors"] == sent["data"]["sendMessage"]["errors"]
    closed = await gql(
        client, CLOSE, {"input": {"conversationId": conversation_id}}, token=bob_token
    )
    assert closed["data"]["closeConversation"]["errors"] == [{"code": "NOT_FOUND"}]
    # Bob cannot attach Alice's claim either.
    policy = await make_policy(services, alice)
    claim = await make_claim(alice, policy, ClaimStatus.UNDER_REVIEW)
    own = await gql(client, START, {"input": {}}, token=bob_token)
    bob_conversation = own["data"]["startConversation"]["conversation"]["id"]
    attach = {"kind": "CLAIM", "recordId": global_id("Claim", claim.id)}
    stolen = await gql(
        client,
        SEND,
        {"input": {"conversationId": bob_conversation, "text": "看看", "attachments": [attach]}},
        token=bob_token,
    )
    assert stolen["data"]["sendMessage"]["errors"][0]["code"] == "ATTACHMENT_NOT_FOUND"
    denied = await gql(client, QUEUE, token=alice_token, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    denied = await gql(client, QUEUE, token=adjuster_token, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with (
        ws_client(app) as sockets,
        aconnect_ws("/graphql", sockets, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await _ws_init(ws, bob_token)
        payload = {"query": LIVE, "variables": {"id": conversation_id}}
        await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
        refused = await asyncio.wait_for(ws.receive_json(), 10)
        assert refused["type"] == "error" or "errors" in refused["payload"]
        assert "未找到该会话" in str(refused)


async def _waiting(client: httpx.AsyncClient, services: Services, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        customer = await make_customer(services)
        token = await customer_token(services, customer)
        started = await gql(client, START, {"input": {"text": "转人工"}}, token=token)
        conversation = started["data"]["startConversation"]["conversation"]
        assert conversation["status"] == "WAITING"
        ids.append(conversation["id"])
    return ids


async def test_per_agent_limit_and_positions(
    client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    agent = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    agent_token = await staff_token(services, agent)
    boss_token = await staff_token(services, supervisor)
    ids = await _waiting(client, services, 3)
    positions = [
        (
            await gql(
                client, NODE.replace("status", "status queuePosition"), {"id": i}, token=boss_token
            )
        )["data"]["node"]["queuePosition"]
        for i in ids
    ]
    assert positions == [1, 2, 3]

    mine = await gql(client, PRESENCE, {"input": {"maxConcurrent": 1}}, token=agent_token)
    assert mine["data"]["setAgentPresence"]["errors"] == [{"code": "NOT_ALLOWED"}]
    staff_id = global_id("StaffMember", agent.id)
    limited = await gql(
        client,
        PRESENCE,
        {"input": {"staffId": staff_id, "maxConcurrent": 1, "status": "AVAILABLE"}},
        token=boss_token,
    )
    assert limited["data"]["setAgentPresence"]["agentPresence"]["maxConcurrent"] == 1
    first = await gql(client, ACCEPT, {"input": {"conversationId": ids[0]}}, token=agent_token)
    assert first["data"]["acceptConversation"]["errors"] == []
    second = await gql(client, ACCEPT, {"input": {"conversationId": ids[1]}}, token=agent_token)
    assert second["data"]["acceptConversation"]["errors"] == [{"code": "AGENT_AT_LIMIT"}]
    again = await gql(client, ACCEPT, {"input": {"conversationId": ids[0]}}, token=boss_token)
    assert again["data"]["acceptConversation"]["errors"] == [{"code": "ALREADY_TAKEN"}]
    moved = [
        (
            await gql(
                client, NODE.replace("status", "status queuePosition"), {"id": i}, token=boss_token
            )
        )["data"]["node"]["queuePosition"]
        for i in ids
    ]
    assert moved == [None, 1, 2]
    other = await gql(
        client, ANSWER, {"input": {"conversationId": ids[1], "text": "您好"}}, token=agent_token
    )
    assert other["data"]["sendAgentMessage"]["errors"] == [{"code": "ILLEGAL_STATE"}]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"limit_conversation_messages_per_customer": "2/1m", **ALWAYS_OPEN}],
)
async def test_messages_are_rate_limited_per_customer(
    client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    token = await customer_token(services, await make_customer(services))
    started = await gql(client, START, {"input": {"text": "你好"}}, token=token)
    conversation_id = started["data"]["startConversation"]["conversation"]["id"]
    ok = await gql(
        client, SEND, {"input": {"conversationId": conversation_id, "text": "在吗"}}, token=token
    )
    assert ok["data"]["sendMessage"]["errors"] == []
    throttled = await gql(
        client, SEND, {"input": {"conversationId": conversation_id, "text": "在吗"}}, token=token
    )
    error = throttled["data"]["sendMessage"]["errors"][0]
    assert error["code"] == "THROTTLED" and error["retryAfterSeconds"] > 0
    long = await gql(
        client,
        SEND,
        {"input": {"conversationId": conversation_id, "text": "长" * 1001}},
        token=await customer_token(services, await make_customer(services)),
    )
    assert long["data"]["sendMessage"]["errors"][0]["code"] == "TEXT_TOO_LONG"


def _closed_today() -> dict[str, Any]:
    today = datetime.now(SHANGHAI).isoweekday()
    other = today % 7 + 1
    return {"agent_hours": "09:00-18:00", "agent_days": str(other)}


@pytest.mark.parametrize("settings_overrides", [_closed_today()])
async def test_outside_hours_offers_a_callback(
    client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    alice = await make_customer(services)
    token = await customer_token(services, alice)
    started = await gql(client, START, {"input": {"text": "我要转人工"}}, token=token)
    result = started["data"]["startConversation"]
    assert result["conversation"]["status"] == "BOT"  # not queued while nobody works
    notice = result["notice"]["text"]
    assert "恢复服务" in notice and "预约回电" in notice
    conversation_id = result["conversation"]["id"]
    actions = (
        await gql(
            client,
            SEND,
            {"input": {"conversationId": conversation_id, "text": "转人工"}},
            token=token,
        )
    )["data"]["sendMessage"]["notice"]["reply"]["actions"]
    assert {a["kind"] for a in actions} == {"REQUEST_CALLBACK", "FILE_COMPLAINT"}

    query = """mutation($input: ConversationInput!) { requestCallback(input: $input) {
      errors { code } conversation { callbackRequested } visit { id purpose dueAt } } }"""
    asked = await gql(client, query, {"input": {"conversationId": conversation_id}}, token=token)
    result = asked["data"]["requestCallback"]
    assert result["errors"] == [] and result["conversation"]["callbackRequested"]
    visit = await FollowUpVisit.get(customer_id=alice.id)
    assert (
        visit.trigger is VisitTrigger.CALLBACK
        and visit.subject == f"conversation:{conversation_uuid(conversation_id)}"
    )
    due = visit.due_at.astimezone(SHANGHAI)
    assert due > datetime.now(UTC) and (due.hour, due.minute) == (9, 0)
    # the day the test was set up with (collected before a midnight in Shanghai, run after
    # it, "today" would name another day; the hours 09:00-18:00 keep both sides closed)
    assert due.isoweekday() == int(services.settings.agent_days)
    again = await gql(client, query, {"input": {"conversationId": conversation_id}}, token=token)
    assert again["data"]["requestCallback"]["visit"]["id"] == result["visit"]["id"]
    assert await FollowUpVisit.filter(customer_id=alice.id).count() == 1
    assert await Conversation.filter(status=ConversationStatus.WAITING).count() == 0


@postgres_only
async def test_two_agents_accept_at_once_one_wins(
    client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    """Real concurrent requests on PostgreSQL: for each conversation two agents click at
    once; exactly one wins, the other is told ALREADY_TAKEN."""
    agents = [await make_staff(StaffRole.AGENT) for _ in range(2)]
    tokens = [await staff_token(services, a) for a in agents]
    for token in tokens:
        await gql(client, PRESENCE, {"input": {"status": "AVAILABLE"}}, token=token)
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    for agent in agents:
        await gql(
            client,
            PRESENCE,
            {"input": {"staffId": global_id("StaffMember", agent.id), "maxConcurrent": 10}},
            token=supervisor,
        )
    ids = await _waiting(client, services, 8)
    for conversation_id in ids:
        answers = await asyncio.gather(
            *(
                gql(client, ACCEPT, {"input": {"conversationId": conversation_id}}, token=t)
                for t in tokens
            )
        )
        errors = [a["data"]["acceptConversation"]["errors"] for a in answers]
        assert sorted(map(str, errors)) == sorted(["[]", str([{"code": "ALREADY_TAKEN"}])])
        row = await Conversation.get(id=conversation_uuid(conversation_id))
        assert row.status is ConversationStatus.WITH_AGENT and row.agent_id in {
            a.id for a in agents
        }
        assert await row.messages.all().count() == 4  # customer, assistant, queue, one 接入


@postgres_only
async def test_one_agent_at_its_limit_accepts_two_at_once(
    client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    """The limit holds under concurrent accepts by the same agent (the presence row lock):
    with a limit of 1 and two waiting conversations clicked at once, one passes."""
    agent = await make_staff(StaffRole.AGENT)
    token = await staff_token(services, agent)
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    await gql(
        client,
        PRESENCE,
        {
            "input": {
                "staffId": global_id("StaffMember", agent.id),
                "maxConcurrent": 1,
                "status": "AVAILABLE",
            }
        },
        token=supervisor,
    )
    for _ in range(3):
        ids = await _waiting(client, services, 2)
        answers = await asyncio.gather(
            *(gql(client, ACCEPT, {"input": {"conversationId": i}}, token=token) for i in ids)
        )
        codes = sorted(str(a["data"]["acceptConversation"]["errors"]) for a in answers)
        assert codes == sorted(["[]", str([{"code": "AGENT_AT_LIMIT"}])])
        assert (
            await Conversation.filter(
                agent_id=agent.id, status=ConversationStatus.WITH_AGENT
            ).count()
            == 1
        )
        held = await Conversation.get(agent_id=agent.id, status=ConversationStatus.WITH_AGENT)
        done = await gql(
            client,
            CLOSE,
            {"input": {"conversationId": global_id("Conversation", held.id)}},
            token=token,
        )
        assert done["data"]["closeConversation"]["errors"] == []


QUEUE_LIVE = """subscription { agentQueueChanged { waitingCount availableAgents freeSeats
  agentsOpen waiting { id status intent } } }"""


async def test_agents_see_the_queue_change_live(
    app: Starlette, client: httpx.AsyncClient, services: Services, assistant: AssistantDouble
) -> None:
    """The queue at once, then after a hand-off and after an accept; customers are
    refused (staff only)."""
    agent = await make_staff(StaffRole.AGENT)
    agent_token = await staff_token(services, agent)
    await gql(client, PRESENCE, {"input": {"status": "AVAILABLE"}}, token=agent_token)
    relay = OutboxRelay(services.bus, services.queue)
    await relay.relay_once()
    async with (
        ws_client(app) as sockets,
        aconnect_ws("/graphql", sockets, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await _ws_init(ws, agent_token)
        await ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": QUEUE_LIVE}})

        async def state() -> dict[str, Any]:
            message = await asyncio.wait_for(ws.receive_json(), 10)
            assert message["type"] == "next", message
            return dict(message["payload"]["data"]["agentQueueChanged"])

        first = await state()
        assert first["waitingCount"] == 0 and first["availableAgents"] == 1
        assert first["freeSeats"] == 3 and first["agentsOpen"]
        await subscribed(services.bus, "staff:agent-queue")
        [conversation_id] = await _waiting(client, services, 1)
        await relay.relay_once()
        now = await state()
        while now["waitingCount"] != 1:
            now = await state()
        assert now["waiting"] == [{"id": conversation_id, "status": "WAITING", "intent": "human"}]
        await gql(client, ACCEPT, {"input": {"conversationId": conversation_id}}, token=agent_token)
        await relay.relay_once()
        now = await state()
        while now["waitingCount"] != 0:
            now = await state()
        assert now["freeSeats"] == 2

    customer = await customer_token(services, await make_customer(services))
    async with (
        ws_client(app) as sockets,
        aconnect_ws("/graphql", sockets, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await _ws_init(ws, customer)
        await ws.send_json({"id": "q", "type": "subscribe", "payload": {"query": QUEUE_LIVE}})
        refused = await asyncio.wait_for(ws.receive_json(), 10)
        assert "FORBIDDEN" in str(refused) or "需要权限" in str(refused)
