"""The real assistant behind conversations (no double): a question it cannot answer is
handed to an agent, the agent's answer becomes a knowledge-base draft, a supervisor
publishes it, and the same question in a new conversation is answered by the assistant
from that entry (issue 15's learning loop, through the conversation workflow)."""

from __future__ import annotations

from api.services import Services
from models.conversations import ConversationChannel, ConversationStatus, PresenceStatus
from models.staff import StaffRole
from tests.factories import make_customer, make_staff
from tests.workflows.test_conversations import OPEN, customer, staff
from workflows.assistant import knowledge
from workflows.assistant.contract import CitationKind, HandoffReason
from workflows.conversations import chat, desk

QUESTION = "宠物医院的诊疗费可以找你们报销吗"
AGENT_ANSWER = "目前的保险产品不承保宠物医疗费用，宠物医院的诊疗费不在理赔范围内。"


async def test_an_agents_answer_teaches_the_assistant(services: Services) -> None:
    alice = customer((await make_customer(services)).id)
    agent = staff((await make_staff(StaffRole.AGENT)).id)
    supervisor = staff((await make_staff(StaffRole.SUPERVISOR)).id, StaffRole.SUPERVISOR)

    first = await chat.start(alice, ConversationChannel.APP, QUESTION, OPEN)
    assert first.reply is not None and first.reply.handoff is HandoffReason.LOW_CONFIDENCE
    assert first.conversation.status is ConversationStatus.WAITING

    await desk.set_presence(agent, PresenceStatus.AVAILABLE)
    await desk.accept(agent, first.conversation.id)
    _, answer = await desk.send_agent_message(agent, first.conversation.id, AGENT_ANSWER)
    _, draft = await desk.propose_answer(agent, answer.id)
    entry = await knowledge.submit_for_review(agent, draft.id, draft.version)
    await knowledge.publish_entry(supervisor, entry.id, entry.version)

    again = await chat.start(alice, ConversationChannel.MINI_PROGRAM, QUESTION, OPEN)
    assert again.reply is not None and again.reply.handoff is None
    assert AGENT_ANSWER in again.reply.text
    assert [(c.kind, c.id) for c in again.reply.citations] == [
        (CitationKind.KNOWLEDGE_ENTRY, entry.id)
    ]
    assert again.conversation.status is ConversationStatus.BOT

    # A second message in the same conversation: the assistant gets the customer's
    # earlier messages as text (it answered, rather than failing and handing off).
    follow_up = await chat.send(alice, again.conversation.id, QUESTION, (), OPEN)
    assert follow_up.reply is not None and follow_up.reply.handoff is None
    assert follow_up.conversation.status is ConversationStatus.BOT
