"""Online customer service in GraphQL (在线客服): customers start conversations and send
messages (the assistant answers in the payload and over ``conversationUpdated``), ask for
an agent or a call back; agents set their presence, work the queue
(``agentQueue``/``agentQueueChanged``), accept, answer, transfer and close, and propose
an answer to the knowledge base. A customer sees only their own conversations (others
answer like missing ones); staff need CONVERSATION_HANDLE, and a read of a conversation
by staff who are not its agent is logged to ``anxin.security``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import conversations as m
from models.claims import ClaimStatus
from models.clock import local_time
from models.staff import StaffUser
from push.bus import current_then_changes
from schema.commitments import CommitmentCase, cases_on
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, UserInputError, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from schema.visits import MyVisit
from workflows.access import Actor, Permission
from workflows.assistant import contract as c
from workflows.claims.rules import STATUS_NAMES as CLAIM_STATUS_NAMES
from workflows.conversations import chat, desk
from workflows.conversations.hours import WorkingHours
from workflows.conversations.queue import free_seats, queue_state
from workflows.conversations.rules import (
    QUEUE_FEED,
    STATUS_NAMES,
    ConversationError,
    ConversationErrorCode,
)
from workflows.conversations.state import log_staff_read, visible_conversations
from workflows.limits import wait_text

strawberry.enum(m.ConversationChannel, description="Where the customer writes from.")
strawberry.enum(
    m.ConversationStatus,
    description="BOT: with the assistant; WAITING: in the agents' queue; WITH_AGENT: an "
    "agent answers; CLOSED: ended.",
)
strawberry.enum(m.MessageAuthor, description="Who wrote a message.")
strawberry.enum(m.PresenceStatus, description="An agent's presence on the service desk.")
strawberry.enum(c.HandoffReason, description="Why the assistant handed a conversation to agents.")
strawberry.enum(c.CitationKind, description="What kind of record an answer was grounded on.")
strawberry.enum(c.ActionKind, description="A suggested next step the app shows as a button.")


AttachmentKind = strawberry.enum(
    chat.AttachmentKind, description="What kind of record of mine a message points at."
)


# The node type whose global ID names a cited or attached record.
CITED_TYPES = {
    c.CitationKind.KNOWLEDGE_ENTRY: "KnowledgeEntry",
    c.CitationKind.POLICY: "Policy",
    c.CitationKind.CLAIM: "Claim",
    c.CitationKind.INSTALLMENT: "PremiumInstallment",
    c.CitationKind.PAYMENT_ORDER: "PaymentOrder",
    c.CitationKind.PAYOUT: "ClaimPayout",
    c.CitationKind.REFUND: "PaymentRefund",
    c.CitationKind.SURVEY: "Survey",
    c.CitationKind.VISIT: "MyVisit",
}
ATTACHED_TYPES = {"POLICY": "Policy", "CLAIM": "Claim", "PAYMENT_ORDER": "PaymentOrder"}
CONVERSATION_CODES = ErrorCodes(
    "ConversationErrorCode", "Why an online-service action failed.", ConversationError
)


@answers_with(CONVERSATION_CODES)
@strawberry.type(name="ConversationError", description="A failed online-service action.")
class ConversationError_(Error):
    code: str = strawberry.field(graphql_type=CONVERSATION_CODES.enum, description=CODE)


@strawberry.type(description="A record an answer was grounded on, shown as a link.")
class Citation:
    kind: c.CitationKind = strawberry.field(description="What kind of record it is.")
    record_id: relay.GlobalID = strawberry.field(
        description="The record's global ID (e.g. a Claim's), for `node(id:)` or a screen."
    )
    title: str = strawberry.field(description="What the link says, e.g. `理赔 LP2026…`.")


@strawberry.type(description="A suggested next step, shown as a button.")
class SuggestedAction:
    kind: c.ActionKind = strawberry.field(description="What the button does.")
    label: str = strawberry.field(description="The button's text, in Chinese.")
    target_id: relay.GlobalID | None = strawberry.field(
        description="The record it acts on (a claim to upload to, an installment to pay), or null."
    )


@strawberry.type(description="The assistant's answer to a message (or the system's word).")
class AssistantReply:
    text: str = strawberry.field(description="The answer, in Chinese.")
    intent: str = strawberry.field(description="The recognised intent, e.g. `claim_progress`.")
    confidence: float = strawberry.field(description="How sure the assistant is, 0 to 1.")
    citations: list[Citation] = strawberry.field(description="What the answer is based on.")
    actions: list[SuggestedAction] = strawberry.field(description="Buttons to offer.")
    handoff: c.HandoffReason | None = strawberry.field(
        description="Set when the conversation goes to a human agent: why."
    )
    answer_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The assistant's answer, for the customer's thumbs up or down "
        "(`rateAssistantAnswer`); null for the system's words.",
    )


@strawberry.type(description="A record of the customer's a message points at.")
class MessageAttachment:
    kind: chat.AttachmentKind = strawberry.field(description="What kind of record.")
    record_id: relay.GlobalID = strawberry.field(description="The record's global ID.")


def _reply_of(row: m.ConversationMessage) -> AssistantReply | None:
    if row.intent is None:
        return None
    return AssistantReply(
        text=row.text,
        intent=row.intent,
        confidence=row.confidence or 0.0,
        citations=[
            Citation(
                kind=c.CitationKind(x["kind"]),
                record_id=relay.GlobalID(CITED_TYPES[c.CitationKind(x["kind"])], x["id"]),
                title=x["title"],
            )
            for x in row.citations
        ],
        actions=[
            SuggestedAction(
                kind=c.ActionKind(a["kind"]),
                label=a["label"],
                target_id=relay.GlobalID(
                    CITED_TYPES[c.CitationKind(a["target_kind"])], a["target_id"]
                )
                if a.get("target_id") and a.get("target_kind")
                else None,
            )
            for a in row.actions
        ],
        handoff=c.HandoffReason(row.handoff) if row.handoff else None,
        answer_id=relay.GlobalID("AssistantAnswer", str(row.answer_id)) if row.answer_id else None,
    )


@strawberry.type(description="One message of a conversation.")
class ConversationMessage(relay.Node):
    """Visible exactly when its conversation is."""

    id: relay.NodeID[str]
    seq: int = strawberry.field(
        description="Its number in the conversation (1, 2, …): pass the last you have as "
        "`afterSeq` to catch up."
    )
    author: m.MessageAuthor = strawberry.field(description="Who wrote it.")
    text: str = strawberry.field(description="The text.")
    sent_at: datetime = strawberry.field(description="When (Asia/Shanghai).")
    agent_name: str | None = strawberry.field(description="The agent's display name (AGENT).")
    attachments: list[MessageAttachment] = strawberry.field(
        description="Records of mine the message points at."
    )
    reply: AssistantReply | None = strawberry.field(
        description="For the assistant's (and the system's) messages: intent, confidence, "
        "citations, actions and hand-off; null otherwise."
    )
    proposed_entry_id: relay.GlobalID | None = strawberry.field(
        description="Staff: the knowledge-base draft this answer was proposed as (null for "
        "customers)."
    )

    @classmethod
    def from_model(
        cls, row: m.ConversationMessage, actor: Actor, names: dict[uuid.UUID, str]
    ) -> ConversationMessage:
        return cls(
            id=str(row.id),
            seq=row.seq,
            author=row.author,
            text=row.text,
            sent_at=local_time(row.created_at),
            agent_name=names.get(row.agent_id) if row.agent_id else None,
            attachments=[
                MessageAttachment(
                    kind=chat.AttachmentKind(a["kind"]),
                    record_id=relay.GlobalID(ATTACHED_TYPES[a["kind"]], a["id"]),
                )
                for a in row.attachments
            ],
            reply=_reply_of(row),
            proposed_entry_id=relay.GlobalID("KnowledgeEntry", str(row.proposed_entry_id))
            if actor.is_staff and row.proposed_entry_id
            else None,
        )


async def _names(rows: list[m.ConversationMessage]) -> dict[uuid.UUID, str]:
    ids = {r.agent_id for r in rows if r.agent_id}
    if not ids:
        return {}
    return dict(await StaffUser.filter(id__in=ids).values_list("id", "display_name"))


async def messages_of(
    actor: Actor, conversation_id: uuid.UUID, after_seq: int | None, last: int
) -> list[ConversationMessage]:
    rows = m.ConversationMessage.filter(conversation_id=conversation_id)
    if after_seq is not None:
        rows = rows.filter(seq__gt=after_seq)
    found = list(reversed(await rows.order_by("-seq").limit(last)))
    names = await _names(found)
    return [ConversationMessage.from_model(r, actor, names) for r in found]


@strawberry.type(description="A claim of the customer's, as an agent first sees it.")
class ClaimBrief:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    number: str = strawberry.field(description="Its report number.")
    status_name: str = strawberry.field(description="Its status, in Chinese.")


@strawberry.type(description="A policy of the customer's, as an agent first sees it.")
class PolicyBrief:
    policy_id: relay.GlobalID = strawberry.field(description="The policy.")
    number: str = strawberry.field(description="Its number.")
    product: str = strawberry.field(description="The product's name.")
    status: str = strawberry.field(description="Its status code.")


@strawberry.type(description="What the agent sees first: the customer's open matters.")
class HandoffSummary:
    claims: list[ClaimBrief] = strawberry.field(description="Open claims, the newest first.")
    policies: list[PolicyBrief] = strawberry.field(description="Policies not ended.")


def _summary(data: dict[str, Any]) -> HandoffSummary:
    return HandoffSummary(
        claims=[
            ClaimBrief(
                claim_id=relay.GlobalID("Claim", x["id"]),
                number=x["number"],
                status_name=CLAIM_STATUS_NAMES.get(ClaimStatus(x["status"]), x["status"]),
            )
            for x in data.get("claims", [])
        ],
        policies=[
            PolicyBrief(
                policy_id=relay.GlobalID("Policy", x["id"]),
                number=x["number"],
                product=x["product"],
                status=x["status"],
            )
            for x in data.get("policies", [])
        ],
    )


def _hours(info: Info) -> WorkingHours:
    hours: WorkingHours = info.context.services.settings.agent_working_hours
    return hours


@strawberry.type(description="A conversation with the service assistant and agents.")
class Conversation(relay.Node):
    """The customer's own, or (staff with CONVERSATION_HANDLE) any."""

    id: relay.NodeID[str]
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")
    channel: m.ConversationChannel = strawberry.field(description="Where it was started.")
    status: m.ConversationStatus = strawberry.field(description="Where it stands.")
    status_name: str = strawberry.field(description="The status, in Chinese.")
    started_at: datetime = strawberry.field(description="When it was started.")
    intent: str | None = strawberry.field(description="The assistant's latest intent.")
    handoff_reason: c.HandoffReason | None = strawberry.field(
        description="Why it was handed to agents, once it was."
    )
    waiting_since: datetime | None = strawberry.field(
        description="When it joined the agents' queue (null if it never did)."
    )
    agent_name: str | None = strawberry.field(description="The agent answering, by name.")
    handled_by_me: bool = strawberry.field(description="Staff: you are its agent.")
    closed_at: datetime | None = strawberry.field(description="When it ended.")
    callback_requested: bool = strawberry.field(description="A call back was asked for.")
    row: strawberry.Private[m.Conversation]
    actor: strawberry.Private[Actor]

    @strawberry.field(
        description="The service promise of being taken by an agent in time, once asked "
        "for, and whether it was kept."
    )
    async def commitments(self, info: Info) -> list[CommitmentCase]:
        return await cases_on(info, self.id)

    @strawberry.field(
        description="The messages, oldest first: the last `last` (at most "
        "100), or those after `afterSeq`."
    )
    async def messages(
        self,
        after_seq: Annotated[
            int | None, strawberry.argument(description="Only messages after this number.")
        ] = None,
        last: Annotated[
            int, strawberry.argument(description="At most this many (1–100), the latest.")
        ] = 50,
    ) -> list[ConversationMessage]:
        if not 1 <= last <= 100:
            raise UserInputError("`last` must be between 1 and 100.")
        return await messages_of(self.actor, self.row.id, after_seq, last)

    @strawberry.field(description="While waiting: my place in the queue (1 = next).")
    async def queue_position(self, info: Info) -> int | None:
        if self.row.status is not m.ConversationStatus.WAITING:
            return None
        return (await queue_state(_hours(info), self.row)).position

    @strawberry.field(
        description="While waiting: the expected wait in minutes (from the queue, the "
        "available agents' free seats and last week's handling time); null outside hours."
    )
    async def expected_wait_minutes(self, info: Info) -> int | None:
        if self.row.status is not m.ConversationStatus.WAITING:
            return None
        return (await queue_state(_hours(info), self.row)).expected_wait_minutes

    @strawberry.field(description="Whether human agents are at work now.")
    def agents_open(self, info: Info) -> bool:
        return _hours(info).is_open(datetime.now(UTC))

    @strawberry.field(description="When agents are next at work (now, if they are).")
    def agents_back_at(self, info: Info) -> datetime:
        return local_time(_hours(info).next_open(datetime.now(UTC)))

    @strawberry.field(
        description="Staff: the customer's open claims and policies at hand-off (null for "
        "customers and before a hand-off)."
    )
    def summary(self) -> HandoffSummary | None:
        if not self.actor.is_staff or not self.row.summary:
            return None
        return _summary(self.row.summary)

    @classmethod
    def from_model(cls, row: m.Conversation, actor: Actor, agent_name: str | None) -> Conversation:
        return cls(
            id=str(row.id),
            version=row.version,
            channel=row.channel,
            status=row.status,
            status_name=STATUS_NAMES[row.status],
            started_at=local_time(row.created_at),
            intent=row.intent,
            handoff_reason=c.HandoffReason(row.handoff_reason) if row.handoff_reason else None,
            waiting_since=local_time(row.queued_at) if row.queued_at else None,
            agent_name=agent_name,
            handled_by_me=actor.is_staff and row.agent_id == actor.subject_id,
            closed_at=local_time(row.closed_at) if row.closed_at else None,
            callback_requested=row.callback_id is not None,
            row=row,
            actor=actor,
        )


async def conversation_of(actor: Actor, row: m.Conversation) -> Conversation:
    log_staff_read(actor, row)
    name = None
    if row.agent_id:
        found = await StaffUser.filter(id=row.agent_id).values_list("display_name", flat=True)
        name = str(found[0]) if found else None
    return Conversation.from_model(row, actor, name)


async def conversation_node(actor: Actor, object_id: uuid.UUID) -> Conversation | None:
    row = await visible_conversations(actor).filter(id=object_id).first()
    return await conversation_of(actor, row) if row else None


async def message_node(actor: Actor, object_id: uuid.UUID) -> ConversationMessage | None:
    """Visible when its conversation is (to whom it is, as `Conversation.messages`)."""
    row = await m.ConversationMessage.get_or_none(id=object_id)
    if row is None:
        return None
    conversation = await visible_conversations(actor).filter(id=row.conversation_id).first()
    if conversation is None:
        return None
    log_staff_read(actor, conversation)
    return ConversationMessage.from_model(row, actor, await _names([row]))


@strawberry.type(description="An agent's presence on the service desk.")
class AgentPresence(relay.Node):
    """The agent's own; staff with CONVERSATION_HANDLE see everyone's (to transfer)."""

    id: relay.NodeID[str]
    staff_id: relay.GlobalID = strawberry.field(description="The agent (StaffMember).")
    display_name: str = strawberry.field(description="The agent's name.")
    status: m.PresenceStatus = strawberry.field(description="AVAILABLE, BUSY or AWAY.")
    max_concurrent: int = strawberry.field(description="Conversations they take at once.")
    active_conversations: int = strawberry.field(description="Conversations they hold now.")
    version: int = strawberry.field(description="Bumped on every change.")


async def presence_of(row: m.AgentPresence) -> AgentPresence:
    name = await StaffUser.filter(id=row.staff_id).values_list("display_name", flat=True)
    return AgentPresence(
        id=str(row.id),
        staff_id=relay.GlobalID("StaffMember", str(row.staff_id)),
        display_name=str(name[0]) if name else "",
        status=row.status,
        max_concurrent=row.max_concurrent,
        active_conversations=await desk.held(row.staff_id),
        version=row.version,
    )


async def presence_node(actor: Actor, object_id: uuid.UUID) -> AgentPresence | None:
    if not actor.can(Permission.CONVERSATION_HANDLE):
        return None
    row = await m.AgentPresence.get_or_none(id=object_id)
    return await presence_of(row) if row else None


# ------------------------------------------------------------------ payloads and inputs


@strawberry.type(description="A customer's message and what it led to.")
class SendMessagePayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation as it is now; null when refused."
    )
    message: ConversationMessage | None = strawberry.field(
        default=None, description="My message as stored."
    )
    reply: AssistantReply | None = strawberry.field(
        default=None, description="The assistant's answer, when it answered."
    )
    reply_message: ConversationMessage | None = strawberry.field(
        default=None, description="The assistant's answer as a stored message."
    )
    notice: ConversationMessage | None = strawberry.field(
        default=None,
        description="The system's word, when there is one: my place in the agents' queue, "
        "or when agents are back (with a call back offered).",
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A new conversation and, with a first text, what it led to.")
class StartConversationPayload(SendMessagePayload):
    pass


@strawberry.type(description="A conversation after an action.")
class ConversationPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation as saved; null when refused."
    )
    notice: ConversationMessage | None = strawberry.field(
        default=None, description="The system's message the action added."
    )
    agent_presence: AgentPresence | None = strawberry.field(
        default=None,
        description="The agent's presence whose count of held conversations changed "
        "(accept, transfer, close); null otherwise.",
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="An agent's answer as sent.")
class SendAgentMessagePayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation."
    )
    message: ConversationMessage | None = strawberry.field(
        default=None, description="The answer as stored."
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A call back asked for.")
class RequestCallbackPayload:
    conversation: Conversation | None = strawberry.field(
        default=None, description="The conversation (now with `callbackRequested`)."
    )
    visit: MyVisit | None = strawberry.field(
        default=None, description="The call back on my visit list: when we call."
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="An agent's presence after a change.")
class SetAgentPresencePayload:
    agent_presence: AgentPresence | None = strawberry.field(
        default=None, description="The presence as saved."
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="An answer proposed to the knowledge base.")
class ProposeKnowledgeEntryPayload:
    message: ConversationMessage | None = strawberry.field(
        default=None, description="The answer, now with `proposedEntryId`."
    )
    knowledge_entry_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The draft entry (KnowledgeEntry) for review."
    )
    errors: list[ConversationError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A record of mine to point a message at.")
class AttachmentInput:
    kind: chat.AttachmentKind = strawberry.field(description="What kind of record.")
    record_id: relay.GlobalID = strawberry.field(description="Its global ID.")


@strawberry.input(description="A new conversation.")
class StartConversationInput:
    channel: m.ConversationChannel = strawberry.field(
        default=m.ConversationChannel.APP, description="APP or MINI_PROGRAM."
    )
    text: str | None = strawberry.field(
        default=None, description="A first message (≤ 1000 字), answered at once."
    )


@strawberry.input(description="A message to a conversation of mine.")
class SendMessageInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")
    text: str = strawberry.field(description="The message (≤ 1000 字).")
    attachments: list[AttachmentInput] | None = strawberry.field(
        default=None, description="Records of mine it is about (at most 5)."
    )


@strawberry.input(description="A conversation.")
class ConversationInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")


@strawberry.input(description="A conversation at the version you saw.")
class CloseConversationInput:
    conversation_id: relay.GlobalID = strawberry.field(description="The conversation.")
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw (staff should pass it)."
    )


@strawberry.input(description="An agent's answer.")
class SendAgentMessageInput:
    conversation_id: relay.GlobalID = strawberry.field(description="A conversation you hold.")
    text: str = strawberry.field(description="The answer (≤ 1000 字).")


@strawberry.input(description="Whom a conversation goes to.")
class TransferConversationInput:
    conversation_id: relay.GlobalID = strawberry.field(description="A conversation you hold.")
    expected_version: int = strawberry.field(description="The version you saw.")
    to_staff_id: relay.GlobalID | None = strawberry.field(
        default=None, description="An available agent (StaffMember); null: back to the queue."
    )


@strawberry.input(description="An agent's presence.")
class SetAgentPresenceInput:
    status: m.PresenceStatus | None = strawberry.field(
        default=None, description="AVAILABLE, BUSY or AWAY (null: unchanged)."
    )
    max_concurrent: int | None = strawberry.field(
        default=None, description="Supervisors: conversations at once (1–10)."
    )
    staff_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Supervisors: another agent (StaffMember); null: me."
    )


@strawberry.input(description="An agent's answer to propose to the knowledge base.")
class ProposeKnowledgeEntryInput:
    message_id: relay.GlobalID = strawberry.field(
        description="An agent's message (ConversationMessage) answering a customer."
    )
    entry_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="An existing KnowledgeEntry to add the question to as a variant; null: "
        "a new draft entry.",
    )


@strawberry.input(description="Narrow the agents' queue.")
class AgentQueueFilter:
    waiting_minutes_at_least: int | None = strawberry.field(
        default=None, description="Only those waiting at least this many minutes."
    )
    intent: list[str] | None = strawberry.field(
        default=None, description="Only these recognised intents (at most 20)."
    )
    channel: list[m.ConversationChannel] | None = strawberry.field(
        default=None, description="Only these channels."
    )


@strawberry.type(description="The agents' queue as it is now.")
class AgentQueueState:
    waiting: list[Conversation] = strawberry.field(
        description="The first 50 waiting conversations, the longest waiting first."
    )
    waiting_count: int = strawberry.field(description="How many are waiting.")
    available_agents: int = strawberry.field(description="Agents AVAILABLE now.")
    free_seats: int = strawberry.field(
        description="Conversations the available agents can still take."
    )
    agents_open: bool = strawberry.field(description="Within agents' hours.")


@strawberry.type(description="A conversation live: its state and its new messages.")
class ConversationUpdate:
    conversation: Conversation = strawberry.field(description="The conversation now.")
    messages: list[ConversationMessage] = strawberry.field(
        description="Messages not sent on this subscription before, oldest first (at "
        "first: those after `afterSeq`, or the latest 50)."
    )


# ------------------------------------------------------------------ resolvers


def _id(value: relay.GlobalID) -> uuid.UUID:
    return node_uuid(value, "Conversation")


async def _limit(info: Info, action: str, rate_name: str) -> None:
    """Each message may run the assistant and create work: per customer, THROTTLED."""
    rate = getattr(info.context.services.settings, rate_name)
    decision = await info.context.services.limiter.hit(
        action, str(info.context.actor.subject_id), rate
    )
    if not decision.allowed:
        wait = decision.retry_after
        raise ConversationError(
            ConversationErrorCode.THROTTLED,
            f"发送过于频繁，请{wait_text(wait)}后再试",
            retry_after=wait,
        )


async def _message(actor: Actor, row: m.ConversationMessage | None) -> ConversationMessage | None:
    return ConversationMessage.from_model(row, actor, await _names([row])) if row else None


async def _exchange(
    info: Info, call: Callable[[], Awaitable[chat.Exchange]], payload: type[SendMessagePayload]
) -> Any:
    actor = info.context.actor
    try:
        done = await call()
    except ConversationError as error:
        return payload(errors=payload_errors(error, ConversationError_))
    await done.conversation.refresh_from_db()
    return payload(
        conversation=await conversation_of(actor, done.conversation),
        message=await _message(actor, done.message),
        reply=_reply_of(done.reply_message) if done.reply_message else None,
        reply_message=await _message(actor, done.reply_message),
        notice=await _message(actor, done.notice),
        errors=[],
    )


async def _latest_system(row: m.Conversation) -> m.ConversationMessage | None:
    return (
        await m.ConversationMessage.filter(conversation_id=row.id, author=m.MessageAuthor.SYSTEM)
        .order_by("-seq")
        .first()
    )


async def _changed(
    info: Info, call: Awaitable[m.Conversation], presence_staff: uuid.UUID | None = None
) -> ConversationPayload:
    actor = info.context.actor
    try:
        row = await call
    except ConversationError as error:
        return ConversationPayload(errors=payload_errors(error, ConversationError_))
    presence = None
    staff = presence_staff or row.agent_id
    if staff is not None:
        found = await m.AgentPresence.get_or_none(staff_id=staff)
        presence = await presence_of(found) if found else None
    return ConversationPayload(
        conversation=await conversation_of(actor, row),
        notice=await _message(actor, await _latest_system(row)),
        agent_presence=presence,
        errors=[],
    )


async def _queue_state(info: Info) -> AgentQueueState:
    actor = info.context.actor
    rows = await desk.queue(actor).limit(50)
    available = await m.AgentPresence.filter(status=m.PresenceStatus.AVAILABLE).count()
    return AgentQueueState(
        waiting=[await conversation_of(actor, r) for r in rows],
        waiting_count=await m.Conversation.filter(status=m.ConversationStatus.WAITING).count(),
        available_agents=available,
        free_seats=await free_seats(),
        agents_open=_hours(info).is_open(datetime.now(UTC)),
    )


HANDLE = staff_only(Permission.CONVERSATION_HANDLE)


@strawberry.type
class ConversationQueries:
    @strawberry.field(
        description="My online-service conversations, the latest first (at most 20).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_conversations(self, info: Info) -> list[Conversation]:
        actor = info.context.actor
        rows = await visible_conversations(actor).order_by("-created_at").limit(20)
        return [await conversation_of(actor, r) for r in rows]

    @strawberry.field(
        description="Staff (CONVERSATION_HANDLE): conversations waiting for an agent, the "
        "longest waiting first.",
        permission_classes=HANDLE,
    )
    async def agent_queue(
        self,
        info: Info,
        filter: Annotated[
            AgentQueueFilter | None, strawberry.argument(description="Narrow the queue.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[Conversation]:
        actor = info.context.actor
        f = filter or AgentQueueFilter()
        if f.intent is not None and len(f.intent) > 20:
            raise UserInputError("At most 20 intents.")
        minutes = f.waiting_minutes_at_least
        rows = desk.queue(
            actor,
            waiting_at_least=timedelta(minutes=minutes) if minutes else None,
            intents=f.intent,
            channels=f.channel,
        )
        return await paginate(
            rows,
            lambda row: Conversation.from_model(row, actor, None),
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Staff: the conversations I hold now (WITH_AGENT).", permission_classes=HANDLE
    )
    async def my_agent_conversations(self, info: Info) -> list[Conversation]:
        actor = info.context.actor
        rows = await m.Conversation.filter(
            status=m.ConversationStatus.WITH_AGENT, agent_id=actor.subject_id
        ).order_by("accepted_at")
        return [await conversation_of(actor, r) for r in rows]

    @strawberry.field(
        description="Staff: every agent's presence (whom to transfer to).",
        permission_classes=HANDLE,
    )
    async def agent_presences(self, info: Info) -> list[AgentPresence]:
        rows = await m.AgentPresence.all().order_by("created_at").limit(200)
        return [await presence_of(r) for r in rows]


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(
        description="Start a conversation with the service assistant (app or "
        "mini-program); with a text, it is answered at once.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def start_conversation(
        self,
        info: Info,
        input: Annotated[
            StartConversationInput,
            strawberry.argument(description="The channel and an optional first message."),
        ],
    ) -> StartConversationPayload:
        async def run() -> chat.Exchange:
            await _limit(info, "conversation_start", "limit_conversations_per_customer")
            if input.text is not None:
                await _limit(
                    info, "conversation_message", "limit_conversation_messages_per_customer"
                )
            return await chat.start(info.context.actor, input.channel, input.text, _hours(info))

        result: StartConversationPayload = await _exchange(info, run, StartConversationPayload)
        return result

    @strawberry.mutation(
        description="Send a message to my conversation: the assistant answers in `reply` "
        "while no agent has it (and hands off when it should); an agent sees it live.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def send_message(
        self,
        info: Info,
        input: Annotated[
            SendMessageInput,
            strawberry.argument(description="The conversation, the text and what it is about."),
        ],
    ) -> SendMessagePayload:
        attachments = [
            chat.Attachment(a.kind, node_uuid(a.record_id, ATTACHED_TYPES[a.kind]))
            for a in (input.attachments or [])[:6]  # one over the limit: refused as such
        ]

        async def run() -> chat.Exchange:
            await _limit(info, "conversation_message", "limit_conversation_messages_per_customer")
            return await chat.send(
                info.context.actor,
                _id(input.conversation_id),
                input.text,
                attachments,
                _hours(info),
            )

        result: SendMessagePayload = await _exchange(info, run, SendMessagePayload)
        return result

    @strawberry.mutation(
        description="Ask for a human agent (转人工): into the queue within agents' hours, "
        "else told when they are back and offered a call back.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_agent(
        self,
        info: Info,
        input: Annotated[
            ConversationInput,
            strawberry.argument(
                description="My conversation with the assistant, to hand to a human agent."
            ),
        ],
    ) -> SendMessagePayload:
        async def run() -> chat.Exchange:
            return await chat.request_agent(
                info.context.actor, _id(input.conversation_id), _hours(info)
            )

        result: SendMessagePayload = await _exchange(info, run, SendMessagePayload)
        return result

    @strawberry.mutation(
        description="Ask to be called back when agents are next at work (a task on the "
        "follow-up visit list; asking again answers the same one).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_callback(
        self,
        info: Info,
        input: Annotated[
            ConversationInput,
            strawberry.argument(
                description="My conversation, for which agents call me back when at work."
            ),
        ],
    ) -> RequestCallbackPayload:
        actor = info.context.actor
        try:
            row, visit = await chat.request_callback(
                actor, _id(input.conversation_id), _hours(info)
            )
        except ConversationError as error:
            return RequestCallbackPayload(errors=payload_errors(error, ConversationError_))
        await visit.fetch_related("policy")
        return RequestCallbackPayload(
            conversation=await conversation_of(actor, row),
            visit=MyVisit.from_model(visit),
            errors=[],
        )

    @strawberry.mutation(
        description="End a conversation: mine (customers), or one I hold (agents; "
        "supervisors: any). The customer may then rate it (`rateService`, CONVERSATION).",
        permission_classes=[IsAuthenticated],
    )
    async def close_conversation(
        self,
        info: Info,
        input: Annotated[
            CloseConversationInput,
            strawberry.argument(description="The conversation and the version you saw."),
        ],
    ) -> ConversationPayload:
        actor = info.context.actor
        before = await visible_conversations(actor).filter(id=_id(input.conversation_id)).first()
        return await _changed(
            info,
            desk.close(actor, _id(input.conversation_id), input.expected_version),
            before.agent_id if before else None,
        )

    @strawberry.mutation(
        description="Staff (CONVERSATION_HANDLE): set my presence; supervisors also "
        "anyone's, and their limit of conversations at once.",
        permission_classes=HANDLE,
    )
    async def set_agent_presence(
        self,
        info: Info,
        input: Annotated[
            SetAgentPresenceInput,
            strawberry.argument(description="The presence, limit and agent to change."),
        ],
    ) -> SetAgentPresencePayload:
        staff = node_uuid(input.staff_id, "StaffMember") if input.staff_id else None
        try:
            row = await desk.set_presence(
                info.context.actor, input.status, input.max_concurrent, staff
            )
        except ConversationError as error:
            return SetAgentPresencePayload(errors=payload_errors(error, ConversationError_))
        return SetAgentPresencePayload(agent_presence=await presence_of(row), errors=[])

    @strawberry.mutation(
        description="Staff (CONVERSATION_HANDLE): take a waiting conversation. When several "
        "agents click at once one wins (the others: ALREADY_TAKEN); refused past my limit "
        "(AGENT_AT_LIMIT) or when I am not AVAILABLE.",
        permission_classes=HANDLE,
    )
    async def accept_conversation(
        self,
        info: Info,
        input: Annotated[
            ConversationInput,
            strawberry.argument(description="A conversation waiting in the queue, to take on."),
        ],
    ) -> ConversationPayload:
        actor = info.context.actor
        return await _changed(info, desk.accept(actor, _id(input.conversation_id)))

    @strawberry.mutation(
        description="Staff: answer in a conversation I hold; the customer sees it live.",
        permission_classes=HANDLE,
    )
    async def send_agent_message(
        self,
        info: Info,
        input: Annotated[
            SendAgentMessageInput,
            strawberry.argument(description="The conversation and the answer."),
        ],
    ) -> SendAgentMessagePayload:
        actor = info.context.actor
        try:
            row, message = await desk.send_agent_message(
                actor, _id(input.conversation_id), input.text
            )
        except ConversationError as error:
            return SendAgentMessagePayload(errors=payload_errors(error, ConversationError_))
        return SendAgentMessagePayload(
            conversation=await conversation_of(actor, row),
            message=await _message(actor, message),
            errors=[],
        )

    @strawberry.mutation(
        description="Staff: hand a conversation I hold to another available agent, or back "
        "to the queue (in its first place).",
        permission_classes=HANDLE,
    )
    async def transfer_conversation(
        self,
        info: Info,
        input: Annotated[
            TransferConversationInput,
            strawberry.argument(description="The conversation, your version and to whom."),
        ],
    ) -> ConversationPayload:
        actor = info.context.actor
        target = node_uuid(input.to_staff_id, "StaffMember") if input.to_staff_id else None
        return await _changed(
            info,
            desk.transfer(actor, _id(input.conversation_id), input.expected_version, target),
            actor.subject_id,
        )

    @strawberry.mutation(
        description="Staff: propose my answer (with the customer's question before it) as a "
        "knowledge-base draft, for a supervisor to review and publish.",
        permission_classes=HANDLE,
    )
    async def propose_answer_as_knowledge(
        self,
        info: Info,
        input: Annotated[
            ProposeKnowledgeEntryInput,
            strawberry.argument(description="The answer and, optionally, the entry it extends."),
        ],
    ) -> ProposeKnowledgeEntryPayload:
        actor = info.context.actor
        entry = node_uuid(input.entry_id, "KnowledgeEntry") if input.entry_id else None
        try:
            row, draft = await desk.propose_answer(
                actor, node_uuid(input.message_id, "ConversationMessage"), entry
            )
        except ConversationError as error:
            return ProposeKnowledgeEntryPayload(errors=payload_errors(error, ConversationError_))
        return ProposeKnowledgeEntryPayload(
            message=await _message(actor, row),
            knowledge_entry_id=relay.GlobalID("KnowledgeEntry", str(draft.id)),
            errors=[],
        )


@strawberry.type
class ConversationSubscriptions:
    @strawberry.subscription(
        description="One conversation live: its state and messages at once (those after "
        "`afterSeq`, or the latest 50), then each new message (the assistant's, an "
        "agent's, the system's) and change, across API processes. Refused like a missing "
        "conversation if it is not mine (customers) or I do not handle conversations.",
        permission_classes=[IsAuthenticated],
    )
    async def conversation_updated(
        self,
        info: Info,
        conversation_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The conversation.")
        ],
        after_seq: Annotated[
            int | None,
            strawberry.argument(description="The last message number I have (reconnects)."),
        ] = None,
    ) -> AsyncGenerator[ConversationUpdate, None]:
        actor = info.context.actor
        row = await visible_conversations(actor).filter(id=_id(conversation_id)).first()
        if row is None:
            raise UserInputError("未找到该会话")
        seen = {"seq": after_seq}

        async def current() -> ConversationUpdate | None:
            now = await visible_conversations(actor).filter(id=row.id).first()
            if now is None:
                return None
            messages = await messages_of(
                actor, now.id, seen["seq"], 50 if seen["seq"] is None else 100
            )
            if messages:
                seen["seq"] = messages[-1].seq
            elif seen["seq"] is None:
                seen["seq"] = 0
            return ConversationUpdate(
                conversation=await conversation_of(actor, now), messages=messages
            )

        async for state in current_then_changes(
            info.context.services.bus, f"conversation:{row.id}", current
        ):
            yield state

    @strawberry.subscription(
        description="Staff (CONVERSATION_HANDLE): the agents' queue at once, then again "
        "after each change (a hand-off, an accept, a transfer back, a presence change).",
        permission_classes=HANDLE,
    )
    async def agent_queue_changed(self, info: Info) -> AsyncGenerator[AgentQueueState, None]:
        async def current() -> AgentQueueState:
            return await _queue_state(info)

        async for state in current_then_changes(info.context.services.bus, QUEUE_FEED, current):
            yield state


__all__ = [
    "ConversationMutations",
    "ConversationQueries",
    "ConversationSubscriptions",
    "conversation_node",
    "message_node",
    "presence_node",
]
