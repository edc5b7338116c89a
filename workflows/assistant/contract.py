"""What the service assistant answers, as the conversation workflow and the schema see it
(issue 15). The assistant (``workflows.assistant``) produces a ``Reply`` for a customer's
message; conversations store it, hand off when ``handoff`` is set, and show it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class CitationKind(StrEnum):
    """What an answer was grounded on: a client shows each as a link."""

    KNOWLEDGE_ENTRY = "KNOWLEDGE_ENTRY"
    POLICY = "POLICY"
    CLAIM = "CLAIM"
    INSTALLMENT = "INSTALLMENT"
    PAYMENT_ORDER = "PAYMENT_ORDER"
    PAYOUT = "PAYOUT"
    REFUND = "REFUND"
    SURVEY = "SURVEY"
    VISIT = "VISIT"


@dataclass(frozen=True)
class Citation:
    kind: CitationKind
    id: uuid.UUID  # the record's own id; the schema turns it into a global ID
    title: str  # what the link says, e.g. "理赔 LP20261201000123"


class ActionKind(StrEnum):
    """A suggested next step the app turns into a button."""

    UPLOAD_DOCUMENTS = "UPLOAD_DOCUMENTS"  # target: the claim
    PAY_PREMIUM = "PAY_PREMIUM"  # target: the installment
    REPORT_LOSS = "REPORT_LOSS"  # target: the policy, or none
    VIEW_CLAIM = "VIEW_CLAIM"
    VIEW_POLICY = "VIEW_POLICY"
    RENEW_POLICY = "RENEW_POLICY"
    FILE_COMPLAINT = "FILE_COMPLAINT"
    REQUEST_CALLBACK = "REQUEST_CALLBACK"
    TALK_TO_AGENT = "TALK_TO_AGENT"
    QUICK_REPLY = "QUICK_REPLY"  # the label is sent back as the customer's next message


@dataclass(frozen=True)
class SuggestedAction:
    kind: ActionKind
    label: str  # Chinese button text, e.g. "上传缺少的材料"
    target_id: uuid.UUID | None = None
    target_kind: CitationKind | None = None


class HandoffReason(StrEnum):
    """Why the assistant hands the conversation to a human agent."""

    ASKED_FOR_HUMAN = "ASKED_FOR_HUMAN"  # 转人工
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    COMPLAINT = "COMPLAINT"
    ANGER = "ANGER"
    REGULATOR_OR_MEDIA = "REGULATOR_OR_MEDIA"


@dataclass(frozen=True)
class Reply:
    text: str  # Chinese, personal numbers masked as the API masks them
    intent: str  # the recognised intent's code, e.g. "claim_progress", "faq"
    confidence: float  # 0..1
    citations: tuple[Citation, ...] = ()
    actions: tuple[SuggestedAction, ...] = ()
    handoff: HandoffReason | None = None
    # Slots the assistant filled (dates, amounts, numbers, product kinds), for agents.
    slots: dict[str, str] = field(default_factory=dict)
    # The stored answer (models.knowledge.AssistantAnswer): what a thumbs up/down names
    # (workflows.assistant.knowledge.rate_answer). None when nothing was stored.
    answer_id: uuid.UUID | None = None
