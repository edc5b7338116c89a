"""Every write to a conversation: its messages (numbered under the conversation's row
lock), its status changes (a conditional update on the status and version the caller saw:
of two agents clicking at once one wins), and the outbox events that reach the
subscriptions: ``conversation:<id>`` for the customer and the agent, the agents' queue
feed for the desk. Who may see a conversation is decided here too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from tortoise.expressions import F
from tortoise.queryset import QuerySet

from models.conversations import (
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageAuthor,
)
from models.ids import global_id
from push.outbox import emit
from workflows.access import Actor, Permission, security
from workflows.assistant.contract import Reply
from workflows.conversations.rules import (
    ANNOUNCED_POSITIONS,
    QUEUE_FEED,
    ConversationError,
    ConversationErrorCode,
)

E = ConversationErrorCode


def visible_conversations(actor: Actor) -> QuerySet[Conversation]:
    """A customer's own conversations; all for staff who handle conversations; none
    otherwise."""
    if actor.is_customer and actor.subject_id is not None:
        return Conversation.filter(customer_id=actor.subject_id)
    if actor.is_staff and actor.can(Permission.CONVERSATION_HANDLE):
        return Conversation.all()
    return Conversation.filter(id=None)


def log_staff_read(actor: Actor, conversation: Conversation) -> None:
    """Staff reading a conversation they are not the agent of leave a trace (it holds a
    customer's own words about their policies and claims)."""
    if actor.is_staff and conversation.agent_id != actor.subject_id:
        security.info("staff %s read conversation %s", actor.subject_id, conversation.id)


def not_found() -> ConversationError:
    return ConversationError(E.NOT_FOUND, "未找到该会话", "conversationId")


async def load(actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    """The conversation if ``actor`` may see it; else NOT_FOUND, as if it did not exist."""
    row = await visible_conversations(actor).filter(id=conversation_id).first()
    if row is None:
        raise not_found()
    return row


def conflict() -> ConversationError:
    return ConversationError(E.CONFLICT, "会话已被更新，请刷新后重试", "expectedVersion")


def _citations(reply: Reply) -> list[dict[str, Any]]:
    return [{"kind": str(c.kind), "id": str(c.id), "title": c.title} for c in reply.citations]


def _actions(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "kind": str(a.kind),
            "label": a.label,
            "target_id": str(a.target_id) if a.target_id else None,
            "target_kind": str(a.target_kind) if a.target_kind else None,
        }
        for a in reply.actions
    ]


async def append(
    conversation: Conversation,
    author: MessageAuthor,
    text: str,
    *,
    agent_id: uuid.UUID | None = None,
    reply: Reply | None = None,
    attachments: Sequence[dict[str, str]] = (),
) -> ConversationMessage:
    """Add a message with the conversation's next number. Call it inside the transaction
    of the change it belongs to: the row lock numbers concurrent messages in order (on
    SQLite the transaction itself does), the unique (conversation, seq) refuses a gap."""
    await Conversation.filter(id=conversation.id).select_for_update().only("id").first()
    await Conversation.filter(id=conversation.id).update(last_seq=F("last_seq") + 1)
    seq = await Conversation.filter(id=conversation.id).first().values_list("last_seq", flat=True)
    assert isinstance(seq, int)
    conversation.last_seq = seq
    message = await ConversationMessage.create(
        conversation_id=conversation.id,
        seq=seq,
        author=author,
        agent_id=agent_id,
        text=text,
        attachments=list(attachments),
        intent=reply.intent if reply else None,
        confidence=reply.confidence if reply else None,
        citations=_citations(reply) if reply else [],
        actions=_actions(reply) if reply else [],
        handoff=str(reply.handoff) if reply and reply.handoff else None,
        answer_id=reply.answer_id if reply else None,
    )
    await emit(
        "conversation.message",
        entity_type="conversation",
        entity_id=conversation.id,
        customer_id=conversation.customer_id,
        payload={
            "conversation_id": global_id("Conversation", conversation.id),
            "seq": seq,
            "author": str(author),
        },
    )
    return message


async def change(
    conversation: Conversation,
    *,
    expected_version: int | None = None,
    from_status: frozenset[ConversationStatus] | None = None,
    lost: ConversationError | None = None,
    **updates: Any,
) -> Conversation:
    """One change of the conversation's row: a conditional update on the version (when
    given) and the statuses it may change from; the loser of a race gets ``lost`` (or
    CONFLICT). Call it inside a transaction; announces the change."""
    if expected_version is not None and expected_version != conversation.version:
        raise conflict()
    query = Conversation.filter(id=conversation.id)
    if expected_version is not None:
        query = query.filter(version=expected_version)
    if from_status is not None:
        query = query.filter(status__in=list(from_status))
    changed = await query.update(version=F("version") + 1, **updates)
    if not changed:
        raise lost or conflict()
    await conversation.refresh_from_db()
    await emit(
        "conversation.updated",
        entity_type="conversation",
        entity_id=conversation.id,
        customer_id=conversation.customer_id,
        payload={
            "conversation_id": global_id("Conversation", conversation.id),
            "status": str(conversation.status),
        },
    )
    return conversation


async def queue_changed(reason: str) -> None:
    """Tell the agents' desk (agentQueueChanged) and the waiting customers (their
    position moved) that the queue changed: one event, published on the queue feed and
    on the channels of the first waiting conversations."""
    waiting = (
        await Conversation.filter(status=ConversationStatus.WAITING)
        .order_by("queued_at")
        .limit(ANNOUNCED_POSITIONS)
        .values_list("id", flat=True)
    )
    await emit(
        "conversation.queue",
        entity_type="conversation_queue",
        entity_id="agents",
        customer_id=None,
        payload={
            "reason": reason,
            "_staff_channels": [QUEUE_FEED, *(f"conversation:{i}" for i in waiting)],
        },
    )
