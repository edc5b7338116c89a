"""The agents' side: presence (available, busy, away) with a limit of concurrent
conversations, the queue, accepting (one agent wins, the limit holds: both enforced by the
database, not by a read before the write), answering, transferring, closing, and
proposing an answer to the knowledge base.

Accepting locks the agent's presence row first (``SELECT … FOR UPDATE``): two accepts by
the same agent are serialised, so counting what they hold and taking one more cannot
both pass at the limit. The conversation itself changes with a conditional update on its
status: of two agents accepting the same one, the second updates nothing and is told
ALREADY_TAKEN.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

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
from models.staff import StaffUser
from push.outbox import emit_once
from workflows.access import Actor, Permission
from workflows.assistant.knowledge import KnowledgeError
from workflows.conversations import brain
from workflows.conversations.chat import clean_text
from workflows.conversations.rules import (
    MAX_CONCURRENT_LIMIT,
    OPEN,
    ConversationError,
    ConversationErrorCode,
)
from workflows.conversations.state import (
    append,
    change,
    load,
    log_staff_read,
    not_found,
    queue_changed,
)

E = ConversationErrorCode
S = ConversationStatus


def _agent(actor: Actor) -> uuid.UUID:
    if (
        not actor.is_staff
        or actor.subject_id is None
        or not actor.can(Permission.CONVERSATION_HANDLE)
    ):
        raise ConversationError(E.NOT_ALLOWED, "没有进行此操作的权限")
    return actor.subject_id


async def presence_of(staff_id: uuid.UUID) -> AgentPresence:
    """The agent's presence row, made (AWAY) on first use."""
    try:
        async with in_transaction():
            row, _ = await AgentPresence.get_or_create(staff_id=staff_id)
    except IntegrityError:  # made by another request at the same moment
        row = await AgentPresence.get(staff_id=staff_id)
    return row


async def set_presence(
    actor: Actor,
    status: PresenceStatus | None,
    max_concurrent: int | None = None,
    staff_id: uuid.UUID | None = None,
) -> AgentPresence:
    """An agent sets their own presence; a supervisor (CONVERSATION_SUPERVISE) may set
    anyone's and their limit of concurrent conversations."""
    me = _agent(actor)
    target = staff_id or me
    supervising = actor.can(Permission.CONVERSATION_SUPERVISE)
    if (target != me or max_concurrent is not None) and not supervising:
        raise ConversationError(E.NOT_ALLOWED, "只有主管可以调整他人状态或接待上限")
    if target != me and not await StaffUser.exists(id=target, is_active=True):
        raise ConversationError(E.NOT_FOUND, "未找到该坐席", "staffId")
    if max_concurrent is not None and not 1 <= max_concurrent <= MAX_CONCURRENT_LIMIT:
        raise ConversationError(
            E.OUT_OF_RANGE, f"接待上限应在1到{MAX_CONCURRENT_LIMIT}之间", "maxConcurrent"
        )
    row = await presence_of(target)
    updates: dict[str, Any] = {}
    if status is not None:
        updates["status"] = status
    if max_concurrent is not None:
        updates["max_concurrent"] = max_concurrent
    if updates:
        async with in_transaction():
            await AgentPresence.filter(id=row.id).select_for_update().first()
            await AgentPresence.filter(id=row.id).update(version=row.version + 1, **updates)
            await queue_changed("presence")  # seats changed: expected waits move
        await row.refresh_from_db()
    return row


async def held(staff_id: uuid.UUID) -> int:
    return await Conversation.filter(status=S.WITH_AGENT, agent_id=staff_id).count()


def queue(
    actor: Actor,
    *,
    waiting_at_least: timedelta | None = None,
    intents: list[str] | None = None,
    channels: list[ConversationChannel] | None = None,
    now: datetime | None = None,
) -> QuerySet[Conversation]:
    """The waiting conversations, the longest waiting first."""
    _agent(actor)
    rows = Conversation.filter(status=S.WAITING)
    if waiting_at_least is not None:
        rows = rows.filter(queued_at__lte=(now or datetime.now(UTC)) - waiting_at_least)
    if intents:
        rows = rows.filter(intent__in=intents)
    if channels:
        rows = rows.filter(channel__in=channels)
    return rows.order_by("queued_at", "id")


async def _take_seat(staff_id: uuid.UUID) -> None:
    """Inside the transaction of the take: lock the agent's presence row, then check
    they are available and under their limit."""
    presence = await AgentPresence.filter(staff_id=staff_id).select_for_update().first()
    if presence is None or presence.status is not PresenceStatus.AVAILABLE:
        raise ConversationError(E.AGENT_NOT_AVAILABLE, "坐席不在线，请先设置为空闲", "staffId")
    if await held(staff_id) >= presence.max_concurrent:
        raise ConversationError(
            E.AGENT_AT_LIMIT, f"已达到同时接待上限（{presence.max_concurrent}个）", "staffId"
        )


async def _agent_name(staff_id: uuid.UUID) -> str:
    name = await StaffUser.filter(id=staff_id).first().values_list("display_name", flat=True)
    return str(name or "客服")


async def accept(
    actor: Actor, conversation_id: uuid.UUID, now: datetime | None = None
) -> Conversation:
    """Take a waiting conversation: one agent wins when several click at once."""
    me = _agent(actor)
    conversation = await load(actor, conversation_id)
    if conversation.status is not S.WAITING:
        if conversation.status is S.WITH_AGENT:
            raise ConversationError(E.ALREADY_TAKEN, "该会话已被其他客服接入", "conversationId")
        raise ConversationError(E.ILLEGAL_STATE, "该会话不在排队中", "conversationId")
    name = await _agent_name(me)
    async with in_transaction():
        await _take_seat(me)
        await change(
            conversation,
            from_status=frozenset({S.WAITING}),
            lost=ConversationError(E.ALREADY_TAKEN, "该会话已被其他客服接入", "conversationId"),
            status=S.WITH_AGENT,
            agent_id=me,
            accepted_at=now or datetime.now(UTC),
        )
        await append(conversation, MessageAuthor.SYSTEM, f"客服{name}已接入，很高兴为您服务。")
        await queue_changed("accepted")
    return conversation


async def _mine(actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    """A conversation the actor is the agent of (a supervisor: any with an agent)."""
    me = _agent(actor)
    conversation = await load(actor, conversation_id)
    if conversation.status is S.CLOSED:
        raise ConversationError(E.CLOSED, "该会话已结束", "conversationId")
    if conversation.status is not S.WITH_AGENT:
        raise ConversationError(E.ILLEGAL_STATE, "请先接入该会话", "conversationId")
    if conversation.agent_id != me and not actor.can(Permission.CONVERSATION_SUPERVISE):
        raise ConversationError(E.NOT_ALLOWED, "该会话由其他客服接待", "conversationId")
    return conversation


async def send_agent_message(
    actor: Actor, conversation_id: uuid.UUID, text: str, now: datetime | None = None
) -> tuple[Conversation, ConversationMessage]:
    """The agent answers; the customer sees it over ``conversationUpdated``."""
    text = clean_text(text)
    conversation = await _mine(actor, conversation_id)
    me = _agent(actor)
    if conversation.agent_id != me:
        raise ConversationError(E.NOT_ALLOWED, "该会话由其他客服接待", "conversationId")
    async with in_transaction():
        message = await append(conversation, MessageAuthor.AGENT, text, agent_id=me)
        await _tell_customer(conversation, me, now or datetime.now(UTC))
    return conversation, message


REPLY_PUSH_WINDOW = timedelta(minutes=10)


async def _tell_customer(conversation: Conversation, agent_id: uuid.UUID, now: datetime) -> None:
    """A push to the customer's phone (the app may be closed while they wait for the
    agent): at most one per conversation per ten minutes of replies, by a dedupe key per
    window, so a lively chat does not buzz at every line."""
    window = int(now.timestamp() // REPLY_PUSH_WINDOW.total_seconds())
    await emit_once(
        "conversation.agent_replied",
        dedupe_key=f"conversation-reply:{conversation.id}:{window}",
        entity_type="conversation",
        entity_id=conversation.id,
        customer_id=conversation.customer_id,
        payload={
            "conversation_id": global_id("Conversation", conversation.id),
            "agent_name": await _agent_name(agent_id),
        },
    )


async def transfer(
    actor: Actor,
    conversation_id: uuid.UUID,
    expected_version: int,
    to_staff_id: uuid.UUID | None,
) -> Conversation:
    """To another agent (available and under their limit, checked under their presence
    row's lock) or, with no one named, back to the queue in its first place."""
    conversation = await _mine(actor, conversation_id)
    if to_staff_id == conversation.agent_id:
        raise ConversationError(E.ILLEGAL_STATE, "不能转给当前客服", "toStaffId")
    async with in_transaction():
        if to_staff_id is None:
            await change(
                conversation,
                expected_version=expected_version,
                from_status=frozenset({S.WITH_AGENT}),
                status=S.WAITING,
                agent_id=None,
                accepted_at=None,
            )
            await append(conversation, MessageAuthor.SYSTEM, "正在为您转接其他客服，请稍候。")
            await queue_changed("transferred")
        else:
            staff = await StaffUser.get_or_none(id=to_staff_id, is_active=True)
            if staff is None or not Actor(kind=actor.kind, role=staff.role).can(
                Permission.CONVERSATION_HANDLE
            ):
                raise ConversationError(E.NOT_FOUND, "未找到该坐席", "toStaffId")
            await _take_seat(to_staff_id)
            await change(
                conversation,
                expected_version=expected_version,
                from_status=frozenset({S.WITH_AGENT}),
                agent_id=to_staff_id,
                accepted_at=datetime.now(UTC),
            )
            await append(
                conversation, MessageAuthor.SYSTEM, f"已为您转接客服{staff.display_name}。"
            )
    return conversation


async def close(
    actor: Actor, conversation_id: uuid.UUID, expected_version: int | None = None
) -> Conversation:
    """End a conversation: the customer (their own), its agent, or a supervisor. The
    customer may then rate it (``rateService``, subject CONVERSATION)."""
    conversation = await load(actor, conversation_id)
    if conversation.status is S.CLOSED:
        raise ConversationError(E.CLOSED, "该会话已结束", "conversationId")
    if actor.is_staff:
        me = _agent(actor)
        if conversation.agent_id != me and not actor.can(Permission.CONVERSATION_SUPERVISE):
            raise ConversationError(E.NOT_ALLOWED, "该会话由其他客服接待", "conversationId")
    was_waiting = conversation.status is S.WAITING
    async with in_transaction():
        await change(
            conversation,
            expected_version=expected_version,
            from_status=OPEN,
            status=S.CLOSED,
            closed_at=datetime.now(UTC),
        )
        await append(
            conversation, MessageAuthor.SYSTEM, "本次会话已结束，欢迎您对本次服务进行评价。"
        )
        if was_waiting:
            await queue_changed("closed")
    return conversation


async def propose_answer(
    actor: Actor, message_id: uuid.UUID, entry_id: uuid.UUID | None = None
) -> tuple[ConversationMessage, Any]:
    """An agent's answer, with the customer's question it answered, as a knowledge-base
    draft for a supervisor to review (a new entry, or a variant of ``entry_id``)."""
    me = _agent(actor)
    message = await ConversationMessage.get_or_none(id=message_id)
    if message is None:
        raise ConversationError(E.NOT_FOUND, "未找到该消息", "messageId")
    try:
        conversation = await load(actor, message.conversation_id)
    except ConversationError:
        raise not_found() from None
    if message.author is not MessageAuthor.AGENT:
        raise ConversationError(E.NOT_AN_ANSWER, "只能提交客服的回答", "messageId")
    if message.agent_id != me and not actor.can(Permission.CONVERSATION_SUPERVISE):
        raise ConversationError(E.NOT_ALLOWED, "只能提交自己的回答", "messageId")
    log_staff_read(actor, conversation)
    question = (
        await ConversationMessage.filter(
            conversation_id=conversation.id, author=MessageAuthor.CUSTOMER, seq__lt=message.seq
        )
        .order_by("-seq")
        .first()
    )
    if question is None:
        raise ConversationError(E.NOT_AN_ANSWER, "该回答之前没有客户的提问", "messageId")
    try:
        entry = await brain.draft_from_answer(actor, question.text, message.text, entry_id)
    except KnowledgeError as refused:  # e.g. an answer that promises a payment
        raise ConversationError(E.KNOWLEDGE_REFUSED, refused.message, "messageId") from refused
    await ConversationMessage.filter(id=message.id).update(proposed_entry_id=entry.id)
    message.proposed_entry_id = entry.id
    return message, entry
