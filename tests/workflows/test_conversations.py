"""The conversation workflow without GraphQL: agents' hours, the queue's positions and
expected wait, the hand-off summary, an assistant that fails (the customer's message is
kept and agents take over), transfers, who may answer, message numbering, the seam's
knowledge-base proposal (a double of ``draft_from_answer``; the real one is in
test_assistant_in_conversations), and the rating subject."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.clock import SHANGHAI
from models.conversations import (
    AgentPresence,
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    MessageAuthor,
    PresenceStatus,
)
from models.ids import global_id
from models.notifications import OutboxEvent
from models.staff import StaffRole
from push.templates import render
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows import surveys
from workflows.access import Actor
from workflows.assistant.contract import HandoffReason, Reply
from workflows.conversations import brain, chat, desk
from workflows.conversations.hours import WorkingHours, back_text
from workflows.conversations.queue import queue_state
from workflows.conversations.rules import ConversationError, ConversationErrorCode
from workflows.rating_subjects import rateable

E = ConversationErrorCode
OPEN = WorkingHours.parse("00:00-24:00")


def customer(customer_id: uuid.UUID) -> Actor:
    return Actor(kind=SubjectKind.CUSTOMER, subject_id=customer_id)


def staff(staff_id: uuid.UUID, role: StaffRole = StaffRole.AGENT) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=staff_id, role=role)


async def answer(actor: Actor, text: str, history: Sequence[Any]) -> Reply:
    """The assistant's double: hands off on 人工, else a plain FAQ answer."""
    if "人工" in text:
        return Reply("正在转接。", "human", 1.0, handoff=HandoffReason.ASKED_FOR_HUMAN)
    return Reply("犹豫期为15天。", "faq", 0.9)


@pytest.fixture
def assistant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(brain, "reply", answer)


def test_working_hours() -> None:
    hours = WorkingHours.parse("09:00-18:00", "1-5")
    monday_10 = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # a Monday
    assert hours.is_open(monday_10)
    assert not hours.is_open(monday_10.replace(hour=18))
    friday_night = datetime(2026, 12, 4, 20, 0, tzinfo=SHANGHAI)
    back = hours.next_open(friday_night).astimezone(SHANGHAI)
    assert (back.isoweekday(), back.time()) == (1, time(9, 0))  # Monday morning
    assert back.tzinfo is not None and hours.next_open(monday_10) == monday_10.astimezone(UTC)
    assert hours.describe() == "周一至周五09:00-18:00"
    assert "12月7日09:00" in back_text(hours, friday_night)
    assert WorkingHours.parse("08:30-12:00", "1,3,5").describe() == "每周一、三、五08:30-12:00"
    assert OPEN.is_open(datetime(2026, 12, 2, 23, 59, tzinfo=SHANGHAI))
    for bad in (("21:00-09:00", "1-7"), ("9-18", "1-7"), ("09:00-18:00", "0-8")):
        with pytest.raises(ValueError):
            WorkingHours.parse(*bad)


async def _waiting(services: Services, now: datetime) -> Conversation:
    alice = await make_customer(services)
    done = await chat.start(customer(alice.id), ConversationChannel.APP, "转人工", OPEN, now)
    assert done.conversation.status is ConversationStatus.WAITING
    return done.conversation


async def test_positions_and_expected_wait(services: Services, assistant: None) -> None:
    now = datetime.now(UTC)
    rows = [await _waiting(services, now + timedelta(seconds=i)) for i in range(3)]
    state = await queue_state(OPEN, rows[2], now)
    assert (state.waiting, state.position) == (3, 3)
    # Nobody available: each customer ahead takes the default handling time (6 minutes).
    assert state.expected_wait_minutes == 18
    agent = await make_staff(StaffRole.AGENT)
    await desk.set_presence(staff(agent.id), PresenceStatus.AVAILABLE)  # 3 seats
    assert (await queue_state(OPEN, rows[2], now)).expected_wait_minutes == 0
    await desk.accept(staff(agent.id), rows[0].id)
    await rows[2].refresh_from_db()
    assert (await queue_state(OPEN, rows[2], now)).position == 2
    closed = WorkingHours.parse("09:00-18:00", str(datetime.now(SHANGHAI).isoweekday() % 7 + 1))
    assert (await queue_state(closed, rows[2])).expected_wait_minutes is None


async def test_handoff_summarises_open_claims_and_policies(
    services: Services, assistant: None
) -> None:
    alice = await make_customer(services)
    policy = await make_policy(services, alice)
    open_claim = await make_claim(alice, policy, ClaimStatus.UNDER_REVIEW)
    await make_claim(alice, policy, ClaimStatus.CLOSED)
    done = await chat.start(customer(alice.id), ConversationChannel.APP, "我要人工", OPEN)
    summary = done.conversation.summary
    assert [c["number"] for c in summary["claims"]] == [open_claim.report_number]
    assert [p["number"] for p in summary["policies"]] == [policy.number]
    assert done.conversation.intent == "human"
    assert done.conversation.handoff_reason == "ASKED_FOR_HUMAN"


async def test_an_assistant_failure_keeps_the_message_and_hands_off(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(actor: Actor, text: str, history: Sequence[Any]) -> Reply:
        raise RuntimeError("index not loaded")

    monkeypatch.setattr(brain, "reply", broken)
    alice = await make_customer(services)
    done = await chat.start(customer(alice.id), ConversationChannel.APP, "保单怎么退", OPEN)
    assert done.message is not None and done.message.text == "保单怎么退"
    assert done.reply is None and done.notice is not None
    await done.conversation.refresh_from_db()
    assert done.conversation.status is ConversationStatus.WAITING
    assert done.conversation.handoff_reason == "LOW_CONFIDENCE"


async def test_agents_answer_only_their_own_and_transfer(
    services: Services, assistant: None
) -> None:
    row = await _waiting(services, datetime.now(UTC))
    first, second, outsider = [await make_staff(StaffRole.AGENT) for _ in range(3)]
    for agent in (first, second):
        await desk.set_presence(staff(agent.id), PresenceStatus.AVAILABLE)
    await desk.accept(staff(first.id), row.id)
    with pytest.raises(ConversationError) as refused:
        await desk.send_agent_message(staff(outsider.id), row.id, "您好")
    assert refused.value.code is E.NOT_ALLOWED
    adjuster = await make_staff(StaffRole.ADJUSTER)
    with pytest.raises(ConversationError) as hidden:
        await desk.send_agent_message(staff(adjuster.id, StaffRole.ADJUSTER), row.id, "您好")
    assert hidden.value.code is E.NOT_ALLOWED
    _, message = await desk.send_agent_message(staff(first.id), row.id, "您好，请讲")
    await row.refresh_from_db()
    with pytest.raises(ConversationError) as stale:
        await desk.transfer(staff(first.id), row.id, row.version - 1, second.id)
    assert stale.value.code is E.CONFLICT
    row = await desk.transfer(staff(first.id), row.id, row.version, second.id)
    assert row.agent_id == second.id
    row = await desk.transfer(staff(second.id), row.id, row.version, None)  # back to the queue
    assert row.status is ConversationStatus.WAITING and row.agent_id is None
    seqs = await ConversationMessage.filter(conversation_id=row.id).values_list("seq", flat=True)
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # numbered without gaps
    assert message.seq in seqs


@dataclass
class Draft:
    id: uuid.UUID


async def test_an_agents_answer_becomes_a_knowledge_draft(
    services: Services, assistant: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = await _waiting(services, datetime.now(UTC))
    agent = await make_staff(StaffRole.AGENT)
    await desk.set_presence(staff(agent.id), PresenceStatus.AVAILABLE)
    await desk.accept(staff(agent.id), row.id)
    _, message = await desk.send_agent_message(staff(agent.id), row.id, "犹豫期内退保全额退还")
    customer_message = await ConversationMessage.get(conversation_id=row.id, seq=1)
    with pytest.raises(ConversationError) as not_answer:
        await desk.propose_answer(staff(agent.id), customer_message.id)
    assert not_answer.value.code is E.NOT_AN_ANSWER

    calls: list[tuple[str, str, uuid.UUID | None]] = []
    entry = Draft(uuid.uuid4())

    async def draft(actor: Actor, question: str, text: str, entry_id: uuid.UUID | None) -> Draft:
        calls.append((question, text, entry_id))
        return entry

    monkeypatch.setattr(brain, "draft_from_answer", draft)
    proposed, made = await desk.propose_answer(staff(agent.id), message.id)
    assert made is entry and proposed.proposed_entry_id == entry.id
    assert calls == [("转人工", "犹豫期内退保全额退还", None)]
    other = await make_staff(StaffRole.AGENT)
    with pytest.raises(ConversationError) as not_mine:
        await desk.propose_answer(staff(other.id), message.id)
    assert not_mine.value.code is E.NOT_ALLOWED


async def test_a_closed_conversation_is_rateable_by_its_customer_only(
    services: Services, assistant: None
) -> None:
    alice = await make_customer(services)
    bob = await make_customer(services)
    done = await chat.start(customer(alice.id), ConversationChannel.APP, "犹豫期多久", OPEN)
    gid = _gid(done.conversation.id)
    assert await rateable(alice.id, "CONVERSATION", gid) is None  # still open
    await desk.close(customer(alice.id), done.conversation.id)
    assert await rateable(alice.id, "CONVERSATION", gid) == done.conversation.id
    assert await rateable(bob.id, "CONVERSATION", gid) is None
    rating = await surveys.rate(alice.id, "CONVERSATION", gid, 2, [], "")
    assert rating.stars == 2  # an unhappy rating opens a recovery task like any other
    with pytest.raises(ConversationError) as closed:
        await chat.send(customer(alice.id), done.conversation.id, "在吗", (), OPEN)
    assert closed.value.code is E.CLOSED


def _gid(object_id: uuid.UUID) -> str:
    from models.ids import global_id

    return global_id("Conversation", object_id)


async def test_presence_rules(services: Services) -> None:
    agent = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    row = await desk.set_presence(staff(agent.id), PresenceStatus.BUSY)
    assert row.status is PresenceStatus.BUSY and row.max_concurrent == 3
    with pytest.raises(ConversationError):
        await desk.set_presence(staff(agent.id), None, staff_id=supervisor.id)
    boss = staff(supervisor.id, StaffRole.SUPERVISOR)
    with pytest.raises(ConversationError) as bounds:
        await desk.set_presence(boss, None, 50, agent.id)
    assert bounds.value.code is E.OUT_OF_RANGE
    await desk.set_presence(boss, None, 2, agent.id)
    assert (await AgentPresence.get(staff_id=agent.id)).max_concurrent == 2
    with pytest.raises(ConversationError) as customer_refused:
        await desk.set_presence(customer(uuid.uuid4()), PresenceStatus.AVAILABLE)
    assert customer_refused.value.code is E.NOT_ALLOWED
    assert await ConversationMessage.filter(author=MessageAuthor.AGENT).count() == 0


async def test_an_agents_reply_reaches_the_customers_phone_once_per_window(
    services: Services, assistant: None
) -> None:
    """The customer may have closed the app while waiting: an agent's reply is pushed
    (before, it only reached an open conversation screen), at most once per ten minutes
    of replies, without the agent's words on the lock screen."""
    row = await _waiting(services, datetime.now(UTC))
    agent = await make_staff(StaffRole.AGENT)
    await desk.set_presence(staff(agent.id), PresenceStatus.AVAILABLE)
    await desk.accept(staff(agent.id), row.id)
    start = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    for minutes in (0, 3, 9):  # one window
        await desk.send_agent_message(
            staff(agent.id), row.id, "身份证号码请发我", start + timedelta(minutes=minutes)
        )
    await desk.send_agent_message(staff(agent.id), row.id, "还在吗", start + timedelta(minutes=12))
    pushes = await OutboxEvent.filter(event_type="conversation.agent_replied").order_by("id")
    assert len(pushes) == 2
    assert all(p.customer_id == row.customer_id for p in pushes)
    message = render("conversation.agent_replied", pushes[0].payload)
    assert "身份证" not in message.body and message.urgent
    assert global_id("Conversation", row.id) in message.deep_link
