"""The rules of a conversation, as data: bounds, error codes, who may do what, and the
texts the system says (in Chinese)."""

from __future__ import annotations

from enum import StrEnum

from models.conversations import ConversationStatus
from workflows.errors import DomainError

S = ConversationStatus
TEXT_LIMIT = 1000  # characters of one message
ATTACHMENT_LIMIT = 5  # records attached to one message
HISTORY_TURNS = 20  # earlier messages the assistant is given
OPEN_CONVERSATIONS_LIMIT = 5  # open conversations one customer may have at once
QUEUE_FEED = "staff:agent-queue"  # the bus channel of agentQueueChanged
ANNOUNCED_POSITIONS = 100  # waiting conversations told of a queue change at once
DEFAULT_HANDLE_MINUTES = 6  # expected handling time before there are figures
MAX_CONCURRENT_LIMIT = 10  # the most conversations one agent may be given at once

OPEN = frozenset({S.BOT, S.WAITING, S.WITH_AGENT})
STATUS_NAMES = {
    S.BOT: "智能客服",
    S.WAITING: "排队中",
    S.WITH_AGENT: "人工客服",
    S.CLOSED: "已结束",
}


class ConversationErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"  # missing, or not yours
    NOT_ALLOWED = "NOT_ALLOWED"
    TEXT_REQUIRED = "TEXT_REQUIRED"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    TOO_MANY_ATTACHMENTS = "TOO_MANY_ATTACHMENTS"
    ATTACHMENT_NOT_FOUND = "ATTACHMENT_NOT_FOUND"
    THROTTLED = "THROTTLED"
    TOO_MANY_OPEN = "TOO_MANY_OPEN"
    CLOSED = "CLOSED"  # the conversation has ended
    ILLEGAL_STATE = "ILLEGAL_STATE"  # e.g. accepting one not waiting
    ALREADY_TAKEN = "ALREADY_TAKEN"  # another agent accepted it first
    AGENT_NOT_AVAILABLE = "AGENT_NOT_AVAILABLE"  # away or busy
    AGENT_AT_LIMIT = "AGENT_AT_LIMIT"  # already at their concurrent limit
    CONFLICT = "CONFLICT"  # changed meanwhile: reload and try again
    OUTSIDE_HOURS = "OUTSIDE_HOURS"
    NOT_AN_ANSWER = "NOT_AN_ANSWER"  # only an agent's answer can be proposed
    KNOWLEDGE_REFUSED = "KNOWLEDGE_REFUSED"  # the knowledge base refused the draft
    OUT_OF_RANGE = "OUT_OF_RANGE"


class ConversationError(DomainError):
    codes = ConversationErrorCode
