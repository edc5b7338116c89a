"""Online customer service (在线客服): a customer's conversations with the service
assistant and human agents, their messages, and the agents' presence.

A conversation is with the assistant (``BOT``) until it is handed off; then it waits in
the agents' queue (``WAITING``, ordered by ``queued_at``) until one agent accepts it
(``WITH_AGENT``), and ends ``CLOSED``. ``version`` increments on every change of the row:
a staff action names the version it saw. Accepting is a conditional update on the status
(two agents clicking at once: one wins), under a row lock on the agent's presence row
(their limit of concurrent conversations holds under concurrent accepts).

Messages are numbered per conversation (``seq``, unique with it): the subscription sends
each message once and a client that reconnects asks from the last number it has.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer
    from models.staff import StaffUser
    from models.visits import FollowUpVisit


class ConversationChannel(StrEnum):
    APP = "APP"
    MINI_PROGRAM = "MINI_PROGRAM"


class ConversationStatus(StrEnum):
    BOT = "BOT"  # the assistant answers
    WAITING = "WAITING"  # handed off, in the agents' queue
    WITH_AGENT = "WITH_AGENT"
    CLOSED = "CLOSED"


class MessageAuthor(StrEnum):
    CUSTOMER = "CUSTOMER"
    ASSISTANT = "ASSISTANT"
    AGENT = "AGENT"
    SYSTEM = "SYSTEM"  # queue position, hours, transfers, closing


class PresenceStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    BUSY = "BUSY"  # signed in, takes no new conversation
    AWAY = "AWAY"


class Conversation(Entity):
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="conversations", on_delete=fields.CASCADE, db_index=True
    )
    customer_id: uuid.UUID
    channel = fields.CharEnumField(ConversationChannel, max_length=16)
    status = fields.CharEnumField(ConversationStatus, max_length=16, db_index=True)
    version = fields.IntField(default=1)
    # The assistant's latest recognised intent and, once handed off, why.
    intent = fields.CharField(max_length=64, null=True)
    handoff_reason = fields.CharField(max_length=32, null=True)
    # What the agent sees first: the customer's open claims and policies at handoff.
    summary: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    queued_at = fields.DatetimeField(null=True, db_index=True)
    agent: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser",
        related_name="conversations",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    agent_id: uuid.UUID | None
    accepted_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # Outside agents' hours: the callback put on the visit list.
    callback: fields.ForeignKeyNullableRelation[FollowUpVisit] = fields.ForeignKeyField(
        "models.FollowUpVisit", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    callback_id: uuid.UUID | None
    last_seq = fields.IntField(default=0)  # the number of the latest message
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"


class ConversationMessage(Entity):
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    conversation_id: uuid.UUID
    seq = fields.IntField()
    author = fields.CharEnumField(MessageAuthor, max_length=16)
    agent: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    agent_id: uuid.UUID | None
    text = fields.TextField()
    # Records of the customer's the message points at: [{"kind": "CLAIM", "id": "..."}].
    attachments: fields.JSONField[list[dict[str, str]]] = fields.JSONField(default=list)
    # The assistant's reply (author ASSISTANT): what it recognised and offered.
    intent = fields.CharField(max_length=64, null=True)
    confidence = fields.FloatField(null=True)
    citations: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    actions: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    handoff = fields.CharField(max_length=32, null=True)
    # The assistant's stored answer (AssistantAnswer), which the customer may rate.
    answer_id = fields.UUIDField(null=True)
    # An agent's answer proposed as a knowledge-base draft (the entry's id).
    proposed_entry_id = fields.UUIDField(null=True)

    class Meta:
        table = "conversation_message"
        unique_together = (("conversation", "seq"),)


class AgentPresence(Entity):
    # One row per agent who ever set a presence; locked while an accept counts their
    # open conversations.

    staff: fields.OneToOneRelation[StaffUser] = fields.OneToOneField(
        "models.StaffUser", related_name="presence", on_delete=fields.CASCADE
    )
    staff_id: uuid.UUID
    status = fields.CharEnumField(PresenceStatus, max_length=16, default=PresenceStatus.AWAY)
    max_concurrent = fields.IntField(default=3)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "agent_presence"
