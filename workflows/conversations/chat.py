"""The customer's side: start a conversation, send messages (the assistant answers while
no agent has it), ask for an agent (or be handed off by the assistant), and, outside
agents' hours, ask for a call back (a task on the visit list).

The assistant is asked outside any transaction (it reads, and may take a moment); the
customer's message is stored before it is asked, so nothing the customer typed is lost
when the assistant fails: the conversation is then handed to the agents.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from models.clock import SHANGHAI
from models.conversations import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    MessageAuthor,
)
from models.visits import FollowUpVisit
from workflows import visits
from workflows.access import Actor, visible_claims, visible_orders, visible_policies
from workflows.assistant.contract import (
    ActionKind,
    HandoffReason,
    Reply,
    SuggestedAction,
)
from workflows.conversations import brain
from workflows.conversations.hours import WorkingHours, back_text
from workflows.conversations.queue import customer_summary, queue_state
from workflows.conversations.rules import (
    ATTACHMENT_LIMIT,
    HISTORY_TURNS,
    OPEN,
    OPEN_CONVERSATIONS_LIMIT,
    TEXT_LIMIT,
    ConversationError,
    ConversationErrorCode,
)
from workflows.conversations.state import append, change, load, queue_changed

log = logging.getLogger("anxin.conversations")
E = ConversationErrorCode
S = ConversationStatus
CALLBACK_PURPOSE = "在线客服预约回电"


class AttachmentKind(StrEnum):
    """What a message may point at: a record of the customer's own."""

    POLICY = "POLICY"
    CLAIM = "CLAIM"
    PAYMENT_ORDER = "PAYMENT_ORDER"


@dataclass(frozen=True)
class Attachment:
    kind: AttachmentKind
    id: uuid.UUID


@dataclass(frozen=True)
class Exchange:
    """What one customer message led to."""

    conversation: Conversation
    message: ConversationMessage | None  # the customer's, as stored
    reply: Reply | None = None  # the assistant's answer, when it answered
    reply_message: ConversationMessage | None = None
    notice: ConversationMessage | None = None  # the system's word: queue, hours


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ConversationError(E.TEXT_REQUIRED, "请输入内容", "text")
    if len(text) > TEXT_LIMIT:
        raise ConversationError(E.TEXT_TOO_LONG, f"每条消息不能超过{TEXT_LIMIT}字", "text")
    return text


def _customer(actor: Actor) -> uuid.UUID:
    if not actor.is_customer or actor.subject_id is None:
        raise ConversationError(E.NOT_ALLOWED, "请使用客户账号登录")
    return actor.subject_id


async def _attachments(actor: Actor, attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    """Each attached record exists and is the customer's (else ATTACHMENT_NOT_FOUND, as
    for a missing one)."""
    if len(attachments) > ATTACHMENT_LIMIT:
        raise ConversationError(
            E.TOO_MANY_ATTACHMENTS, f"每条消息最多附带{ATTACHMENT_LIMIT}项", "attachments"
        )
    readers: dict[str, Any] = {
        AttachmentKind.POLICY: visible_policies,
        AttachmentKind.CLAIM: visible_claims,
        AttachmentKind.PAYMENT_ORDER: visible_orders,
    }
    stored = []
    for item in attachments:
        reader = readers.get(item.kind)
        if reader is None or not await reader(actor).filter(id=item.id).exists():
            raise ConversationError(E.ATTACHMENT_NOT_FOUND, "未找到附带的业务", "attachments")
        stored.append({"kind": str(item.kind), "id": str(item.id)})
    return stored


async def start(
    actor: Actor,
    channel: ConversationChannel,
    text: str | None,
    hours: WorkingHours,
    now: datetime | None = None,
) -> Exchange:
    """A new conversation with the assistant; with ``text``, its first message too."""
    customer_id = _customer(actor)
    if text is not None:
        text = clean_text(text)
    if (
        await Conversation.filter(customer_id=customer_id, status__in=list(OPEN)).count()
        >= OPEN_CONVERSATIONS_LIMIT
    ):
        raise ConversationError(
            E.TOO_MANY_OPEN, "您已有多个进行中的会话，请先结束其中一个", "conversationId"
        )
    conversation = await Conversation.create(customer_id=customer_id, channel=channel, status=S.BOT)
    if text is None:
        return Exchange(conversation, None)
    return await send(actor, conversation.id, text, (), hours, now)


def _customer_texts(messages: Sequence[ConversationMessage]) -> list[str]:
    return [m.text for m in messages if m.author is MessageAuthor.CUSTOMER]


async def send(
    actor: Actor,
    conversation_id: uuid.UUID,
    text: str,
    attachments: Sequence[Attachment],
    hours: WorkingHours,
    now: datetime | None = None,
) -> Exchange:
    """The customer's message, stored; the assistant's answer while no agent has the
    conversation (handing off when it says so); with an agent, the agent sees it live."""
    _customer(actor)
    text = clean_text(text)
    conversation = await load(actor, conversation_id)
    if conversation.status is S.CLOSED:
        raise ConversationError(E.CLOSED, "该会话已结束，请发起新的会话", "conversationId")
    stored = await _attachments(actor, attachments)
    async with in_transaction():
        message = await append(conversation, MessageAuthor.CUSTOMER, text, attachments=stored)
    if conversation.status is not S.BOT:
        return Exchange(conversation, message)
    earlier = (
        await ConversationMessage.filter(conversation_id=conversation.id, seq__lt=message.seq)
        .order_by("-seq")
        .limit(HISTORY_TURNS)
    )
    try:
        reply = await brain.reply(actor, text, _customer_texts(list(reversed(earlier))))
    except Exception:
        log.exception("the assistant failed on conversation %s", conversation.id)
        exchange = await hand_off(conversation, HandoffReason.LOW_CONFIDENCE, hours, now)
        return Exchange(conversation, message, notice=exchange.notice)
    async with in_transaction():
        answer = await append(conversation, MessageAuthor.ASSISTANT, reply.text, reply=reply)
        await change(conversation, intent=reply.intent[:64])
    notice = None
    if reply.handoff is not None:
        notice = (await hand_off(conversation, reply.handoff, hours, now)).notice
    return Exchange(conversation, message, reply, answer, notice)


async def request_agent(
    actor: Actor, conversation_id: uuid.UUID, hours: WorkingHours, now: datetime | None = None
) -> Exchange:
    """The customer asks for a human agent (转人工)."""
    _customer(actor)
    conversation = await load(actor, conversation_id)
    if conversation.status is not S.BOT:
        raise ConversationError(E.ILLEGAL_STATE, "已在为您转接人工客服", "conversationId")
    return await hand_off(conversation, HandoffReason.ASKED_FOR_HUMAN, hours, now)


async def hand_off(
    conversation: Conversation,
    reason: HandoffReason,
    hours: WorkingHours,
    now: datetime | None = None,
) -> Exchange:
    """Into the agents' queue with the intent and the customer's open claims and
    policies summarised; outside agents' hours the customer is told when they are back
    and offered a call back (or a complaint), and the conversation stays with the
    assistant."""
    now = now or datetime.now(UTC)
    if not hours.is_open(now):
        offer = (
            SuggestedAction(ActionKind.REQUEST_CALLBACK, "预约回电"),
            SuggestedAction(ActionKind.FILE_COMPLAINT, "我要投诉"),
        )
        notice_reply = Reply(
            text=back_text(hours, now)
            + "您可以预约回电，我们会在上班后尽快联系您；如需投诉，也可直接提交。",
            intent="agents_closed",
            confidence=1.0,
            actions=offer,
        )
        async with in_transaction():
            notice = await append(
                conversation, MessageAuthor.SYSTEM, notice_reply.text, reply=notice_reply
            )
            await change(conversation, from_status=frozenset({S.BOT}), handoff_reason=str(reason))
        return Exchange(conversation, None, notice=notice)
    summary = await customer_summary(conversation.customer_id)
    async with in_transaction():
        await change(
            conversation,
            from_status=frozenset({S.BOT}),
            lost=ConversationError(E.ILLEGAL_STATE, "已在为您转接人工客服", "conversationId"),
            status=S.WAITING,
            handoff_reason=str(reason),
            summary=summary,
            queued_at=now,
        )
        state = await queue_state(hours, conversation, now)
        notice = await append(
            conversation,
            MessageAuthor.SYSTEM,
            f"正在为您转接人工客服，您前面还有{(state.position or 1) - 1}位，"
            f"预计等待约{state.expected_wait_minutes or 1}分钟。",
        )
        await queue_changed("handoff")
    return Exchange(conversation, None, notice=notice)


async def request_callback(
    actor: Actor,
    conversation_id: uuid.UUID,
    hours: WorkingHours,
    now: datetime | None = None,
) -> tuple[Conversation, FollowUpVisit]:
    """A call back when agents are next at work, a task on the follow-up visit list (one
    per conversation; asking again answers the same task)."""
    _customer(actor)
    now = now or datetime.now(UTC)
    conversation = await load(actor, conversation_id)
    if conversation.status is S.CLOSED:
        raise ConversationError(E.CLOSED, "该会话已结束，请发起新的会话", "conversationId")
    try:
        visit, new = await visits.plan_callback(
            conversation.customer_id,
            f"conversation:{conversation.id}",
            CALLBACK_PURPOSE,
            hours.next_open(now),
        )
    except visits.VisitError:
        raise ConversationError(E.NOT_ALLOWED, "暂不提供预约回电服务", "conversationId") from None
    if new:
        due = visit.due_at.astimezone(SHANGHAI)
        async with in_transaction():
            await change(conversation, from_status=OPEN, callback_id=visit.id)
            await append(
                conversation,
                MessageAuthor.SYSTEM,
                f"已为您预约回电，客服将于{due.month}月{due.day}日{due:%H:%M}后致电您的注册手机号。",
            )
    return conversation, visit
