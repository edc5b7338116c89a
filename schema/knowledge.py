"""The assistant's knowledge base in GraphQL: the editors' list (`knowledgeEntries`),
drafts, edits, review, publication and retirement, the questions the assistant could not
answer (grouped), its figures, and a customer's thumbs up/down on an answer.

`KnowledgeEntry` is a Node. Staff who work with the knowledge base (KB_PROPOSE or
KB_MANAGE) read every entry with its working copy, versions and thumbs; anyone logged
in may read a *published* entry (an assistant reply cites it), and then sees only its
published question and answer — never a draft, a variant list or the counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info
from tortoise.expressions import Q

from models import knowledge as m
from models.clock import local_time
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, staff_only
from workflows.access import Actor, Permission
from workflows.assistant import knowledge as kb

strawberry.enum(m.EntryStatus, name="KnowledgeEntryStatus", description="Where an entry stands.")
strawberry.enum(m.SourceKind, name="KnowledgeSourceKind", description="What an answer rests on.")
KNOWLEDGE_CODES = ErrorCodes(
    "KnowledgeErrorCode", "Why a knowledge-base action failed.", kb.KnowledgeError
)
MAX_SEARCH = 100


@answers_with(KNOWLEDGE_CODES)
@strawberry.type(name="KnowledgeError", description="A failed knowledge-base action.")
class KnowledgeError_(Error):
    code: str = strawberry.field(graphql_type=KNOWLEDGE_CODES.enum, description=CODE)


def _editor(actor: Actor) -> bool:
    return actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)


@strawberry.type(description="An entry as it was at one version (every change is kept).")
class KnowledgeEntryVersion:
    """Shown inside its entry: its key is ``version``, unique only there."""

    version: int = strawberry.field(description="The version number, from 1.")
    status: m.EntryStatus = strawberry.field(description="The status it had.")
    category: str = strawberry.field(description="Its category.")
    question: str = strawberry.field(description="Its main question.")
    variants: list[str] = strawberry.field(description="Its other wordings.")
    answer: str = strawberry.field(description="Its answer.")
    note: str = strawberry.field(description="What the change was, e.g. 发布, 新增问法.")
    at: datetime = strawberry.field(description="When (Asia/Shanghai).")


@strawberry.type(description="A question-and-answer entry of the assistant's knowledge base.")
class KnowledgeEntry(relay.Node):
    """Editors see the working copy; other readers only a published entry's published
    question and answer (the other fields null)."""

    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable readable code, e.g. `KB-001`.")
    category: str = strawberry.field(description="Category, e.g. 报案理赔.")
    question: str = strawberry.field(description="The main question.")
    answer: str = strawberry.field(description="The answer given to customers.")
    source_kind: m.SourceKind = strawberry.field(description="Clause, product or rule.")
    source_ref: str = strawberry.field(description="Which clause, product or rule.")
    product_code: str | None = strawberry.field(description="The product it is about, if one.")
    version: int | None = strawberry.field(
        description="Editors: pass as `expectedVersion` to change it."
    )
    status: m.EntryStatus | None = strawberry.field(description="Editors: where it stands.")
    variants: list[str] | None = strawberry.field(description="Editors: other wordings.")
    published_version: int | None = strawberry.field(
        description="Editors: the version customers are answered from (null: none)."
    )
    helpful: int | None = strawberry.field(description="Editors: thumbs up on its answers.")
    unhelpful: int | None = strawberry.field(description="Editors: thumbs down.")
    updated_at: datetime | None = strawberry.field(description="Editors: last change.")
    versions: list[KnowledgeEntryVersion] | None = strawberry.field(
        description="Editors: every version, newest first."
    )

    @classmethod
    def for_editor(
        cls, row: m.KnowledgeEntry, versions: list[m.KnowledgeVersion] | None = None
    ) -> KnowledgeEntry:
        return cls(
            id=str(row.id),
            code=row.code,
            category=row.category,
            question=row.question,
            answer=row.answer,
            source_kind=row.source_kind,
            source_ref=row.source_ref,
            product_code=row.product_code,
            version=row.version,
            status=row.status,
            variants=list(row.variants),
            published_version=row.published_version,
            helpful=row.helpful,
            unhelpful=row.unhelpful,
            updated_at=local_time(row.updated_at),
            versions=None
            if versions is None
            else [
                KnowledgeEntryVersion(
                    version=v.version,
                    status=v.status,
                    category=v.category,
                    question=v.question,
                    variants=list(v.variants),
                    answer=v.answer,
                    note=v.note,
                    at=local_time(v.created_at),
                )
                for v in sorted(versions, key=lambda v: -v.version)
            ],
        )

    @classmethod
    def published(cls, row: m.KnowledgeEntry, version: m.KnowledgeVersion) -> KnowledgeEntry:
        return cls(
            id=str(row.id),
            code=row.code,
            category=version.category,
            question=version.question,
            answer=version.answer,
            source_kind=row.source_kind,
            source_ref=row.source_ref,
            product_code=row.product_code,
            version=None,
            status=None,
            variants=None,
            published_version=None,
            helpful=None,
            unhelpful=None,
            updated_at=None,
            versions=None,
        )


async def knowledge_entry_node(actor: Actor, object_id: uuid.UUID) -> KnowledgeEntry | None:
    """Editors: any entry. Others logged in: a published, not retired entry as published."""
    row = await m.KnowledgeEntry.get_or_none(id=object_id)
    if row is None:
        return None
    if _editor(actor):
        versions = await m.KnowledgeVersion.filter(entry_id=row.id)
        return KnowledgeEntry.for_editor(row, versions)
    if row.published_version is None or row.status is m.EntryStatus.RETIRED:
        return None
    version = await m.KnowledgeVersion.get_or_none(entry_id=row.id, version=row.published_version)
    return KnowledgeEntry.published(row, version) if version else None


@strawberry.type(description="An entry after a knowledge-base action.")
class KnowledgeEntryPayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    entry: KnowledgeEntry | None = strawberry.field(
        default=None, description="The entry as saved, with its versions; null when refused."
    )
    errors: list[KnowledgeError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="An entry's text, as an editor writes it.")
class KnowledgeEntryInput:
    category: str = strawberry.field(description="Category (≤ 32 字).")
    question: str = strawberry.field(description="The main question (≤ 200 字).")
    answer: str = strawberry.field(
        description="The answer (≤ 2000 字); may not promise or refuse a claim payment."
    )
    variants: list[str] = strawberry.field(
        default_factory=list, description="Other wordings (≤ 30, each ≤ 200 字)."
    )
    source_kind: m.SourceKind = strawberry.field(
        default=m.SourceKind.RULE, description="What it rests on."
    )
    source_ref: str = strawberry.field(default="", description="Which clause, product or rule.")
    product_code: str | None = strawberry.field(
        default=None, description="The product it is about, if one."
    )


@strawberry.input(description="A new entry's text, or an existing entry's new text.")
class EditKnowledgeEntryInput:
    entry_id: relay.GlobalID = strawberry.field(description="The entry.")
    expected_version: int = strawberry.field(description="The version you saw.")
    text: KnowledgeEntryInput = strawberry.field(description="The new text.")


@strawberry.input(description="An entry at the version you saw.")
class KnowledgeEntryVersionInput:
    entry_id: relay.GlobalID = strawberry.field(description="The entry.")
    expected_version: int = strawberry.field(description="The version you saw.")


@strawberry.input(description="An agent's answer proposed for the knowledge base.")
class ProposeKnowledgeInput:
    question: str = strawberry.field(description="The customer's question (≤ 200 字).")
    answer: str = strawberry.field(description="The agent's answer (≤ 2000 字).")
    entry_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="An entry the question is a new wording of; null: a new draft entry.",
    )


@strawberry.input(description="Narrow the knowledge-base list.")
class KnowledgeEntryFilter:
    status: list[m.EntryStatus] | None = strawberry.field(
        default=None, description="Only these statuses."
    )
    category: str | None = strawberry.field(default=None, description="Only this category.")
    search: str | None = strawberry.field(
        default=None, description="Question or answer contains this text (≤ 100 字)."
    )


@strawberry.type(description="A group of near-duplicate questions the assistant could not answer.")
class UnansweredCluster:
    question: str = strawberry.field(description="The group's first question.")
    size: int = strawberry.field(description="How many questions the group holds.")
    low_confidence: int = strawberry.field(description="Of them, not understood well enough.")
    handoffs: int = strawberry.field(description="Of them, handed to an agent.")
    thumbs_down: int = strawberry.field(description="Of them, answered but rated unhelpful.")
    examples: list[str] = strawberry.field(description="Some of its questions, newest first.")


@strawberry.type(description="The assistant's figures for one intent.")
class AssistantIntentFigures:
    intent: str = strawberry.field(description="The intent code, e.g. `claim_progress`, `faq`.")
    answers: int = strawberry.field(description="Replies with this intent.")
    handoffs: int = strawberry.field(description="Of them, handed to an agent.")
    thumbs_up: int = strawberry.field(description="Thumbs up.")
    thumbs_down: int = strawberry.field(description="Thumbs down.")


@strawberry.type(description="How the assistant did over a period.")
class AssistantFigures:
    answers: int = strawberry.field(description="Replies given.")
    answered_without_handoff: int = strawberry.field(description="Replies not handed off.")
    handoff_rate: float | None = strawberry.field(description="Handoffs / replies (null: none).")
    thumbs_up_rate: float | None = strawberry.field(
        description="Up / (up + down) (null: no ratings)."
    )
    per_intent: list[AssistantIntentFigures] = strawberry.field(description="By intent.")
    unanswered: list[UnansweredCluster] = strawberry.field(
        description="Open groups of unanswered questions, largest first."
    )


@strawberry.type(description="The answer after a thumbs up or down.")
class RateAssistantAnswerPayload:
    changed: bool = strawberry.field(description="True when the rating was saved.")
    errors: list[KnowledgeError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A thumbs up or down on one of the assistant's answers to you.")
class RateAssistantAnswerInput:
    answer_id: relay.GlobalID = strawberry.field(
        description="The answer (`AssistantAnswer` global ID, from the reply)."
    )
    helpful: bool = strawberry.field(description="True: thumbs up; false: thumbs down.")


def _cluster(cluster: kb.Cluster) -> UnansweredCluster:
    return UnansweredCluster(
        question=cluster.head.text,
        size=cluster.size,
        low_confidence=cluster.reasons.get("LOW_CONFIDENCE", 0),
        handoffs=cluster.reasons.get("HANDOFF", 0),
        thumbs_down=cluster.reasons.get("THUMBS_DOWN", 0),
        examples=cluster.examples,
    )


def _text(value: KnowledgeEntryInput) -> kb.EntryText:
    return kb.EntryText(
        category=value.category,
        question=value.question,
        answer=value.answer,
        variants=tuple(value.variants[: kb.MAX_VARIANTS + 1]),
        source_kind=value.source_kind,
        source_ref=value.source_ref,
        product_code=value.product_code,
    )


def _entry_id(value: relay.GlobalID) -> uuid.UUID:
    return node_uuid(value, "KnowledgeEntry")


async def _act(call: Any) -> KnowledgeEntryPayload:
    try:
        row = await call
    except kb.KnowledgeError as error:
        return KnowledgeEntryPayload(changed=False, errors=payload_errors(error, KnowledgeError_))
    versions = await m.KnowledgeVersion.filter(entry_id=row.id)
    return KnowledgeEntryPayload(
        changed=True, entry=KnowledgeEntry.for_editor(row, versions), errors=[]
    )


EDITORS = staff_only(Permission.KB_PROPOSE)
MANAGERS = staff_only(Permission.KB_MANAGE)


@strawberry.type
class KnowledgeQueries:
    @strawberry.field(
        description="Staff (KB_PROPOSE): the knowledge base, the latest changed first.",
        permission_classes=EDITORS,
    )
    async def knowledge_entries(
        self,
        info: Info,
        filter: Annotated[
            KnowledgeEntryFilter | None, strawberry.argument(description="Narrow the list.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[KnowledgeEntry]:
        f = filter or KnowledgeEntryFilter()
        rows = m.KnowledgeEntry.all().order_by("-updated_at", "code")
        if f.status:
            rows = rows.filter(status__in=f.status)
        if f.category:
            rows = rows.filter(category=f.category[:32])
        if f.search:
            term = f.search.strip()[:MAX_SEARCH]
            rows = rows.filter(Q(question__icontains=term) | Q(answer__icontains=term))
        return await paginate(
            rows, KnowledgeEntry.for_editor, first=first, after=after, last=None, before=None
        )

    @strawberry.field(
        description="Staff (KB_PROPOSE): questions the assistant could not answer, "
        "near-duplicates grouped, largest group first.",
        permission_classes=EDITORS,
    )
    async def unanswered_questions(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description="How many groups, at most 100.")
        ] = 20,
    ) -> list[UnansweredCluster]:
        clusters = await kb.unanswered_clusters(info.context.actor, max(0, min(first, 100)))
        return [_cluster(c) for c in clusters]

    @strawberry.field(
        description="Staff (KB_MANAGE): the assistant's figures over a period (default: "
        "the last 30 days).",
        permission_classes=MANAGERS,
    )
    async def assistant_figures(
        self,
        info: Info,
        since: Annotated[
            datetime | None, strawberry.argument(description="From (default 30 days ago).")
        ] = None,
        until: Annotated[datetime | None, strawberry.argument(description="Until (now).")] = None,
    ) -> AssistantFigures:
        end = until or datetime.now(UTC)
        start = since or end - timedelta(days=30)
        figures = await kb.figures(info.context.actor, start, end)
        return AssistantFigures(
            answers=figures.answers,
            answered_without_handoff=figures.answered_without_handoff,
            handoff_rate=figures.handoff_rate,
            thumbs_up_rate=figures.thumbs_up_rate,
            per_intent=[
                AssistantIntentFigures(
                    intent=f.intent,
                    answers=f.answers,
                    handoffs=f.handoffs,
                    thumbs_up=f.thumbs_up,
                    thumbs_down=f.thumbs_down,
                )
                for f in figures.per_intent
            ],
            unanswered=[_cluster(c) for c in figures.clusters],
        )


@strawberry.type
class KnowledgeMutations:
    @strawberry.mutation(
        description="Staff (KB_PROPOSE): a new draft entry.", permission_classes=EDITORS
    )
    async def create_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            KnowledgeEntryInput,
            strawberry.argument(
                description="The new entry: category, question and its wordings, answer, source."
            ),
        ],
    ) -> KnowledgeEntryPayload:
        return await _act(kb.create_entry(info.context.actor, _text(input)))

    @strawberry.mutation(
        description="Staff (KB_PROPOSE): an agent's answer to a customer's question as a new "
        "draft, or the question as a new wording of an existing entry.",
        permission_classes=EDITORS,
    )
    async def propose_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            ProposeKnowledgeInput,
            strawberry.argument(
                description="The customer's question, the agent's answer, the entry it extends."
            ),
        ],
    ) -> KnowledgeEntryPayload:
        entry = None if input.entry_id is None else _entry_id(input.entry_id)
        return await _act(
            kb.draft_from_answer(info.context.actor, input.question, input.answer, entry)
        )

    @strawberry.mutation(
        description="Staff (KB_MANAGE; KB_PROPOSE on a draft of their own): new text, as "
        "a new draft version. A published entry keeps answering from its published "
        "version until this one is published.",
        permission_classes=EDITORS,
    )
    async def edit_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            EditKnowledgeEntryInput, strawberry.argument(description="Entry, version, text.")
        ],
    ) -> KnowledgeEntryPayload:
        return await _act(
            kb.edit_entry(
                info.context.actor,
                _entry_id(input.entry_id),
                input.expected_version,
                _text(input.text),
            )
        )

    @strawberry.mutation(
        description="Staff (KB_PROPOSE): submit a draft for a supervisor's review.",
        permission_classes=EDITORS,
    )
    async def submit_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            KnowledgeEntryVersionInput,
            strawberry.argument(
                description="The draft to send for review, at the version you read."
            ),
        ],
    ) -> KnowledgeEntryPayload:
        return await _act(
            kb.submit_for_review(
                info.context.actor, _entry_id(input.entry_id), input.expected_version
            )
        )

    @strawberry.mutation(
        description="Staff (KB_MANAGE): publish the entry; the assistant answers from it "
        "on its next reply, on every API process.",
        permission_classes=MANAGERS,
    )
    async def publish_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            KnowledgeEntryVersionInput,
            strawberry.argument(
                description="The entry to publish (answered from at once), at the version you read."
            ),
        ],
    ) -> KnowledgeEntryPayload:
        return await _act(
            kb.publish_entry(info.context.actor, _entry_id(input.entry_id), input.expected_version)
        )

    @strawberry.mutation(
        description="Staff (KB_MANAGE): stop answering from the entry (versions kept).",
        permission_classes=MANAGERS,
    )
    async def retire_knowledge_entry(
        self,
        info: Info,
        input: Annotated[
            KnowledgeEntryVersionInput,
            strawberry.argument(
                description="The entry to retire (no longer answered), at the version you read."
            ),
        ],
    ) -> KnowledgeEntryPayload:
        return await _act(
            kb.retire_entry(info.context.actor, _entry_id(input.entry_id), input.expected_version)
        )

    @strawberry.mutation(
        description="Customers: thumbs up or down on one of the assistant's answers to you, "
        "once; it moves the entry's ranking.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def rate_assistant_answer(
        self,
        info: Info,
        input: Annotated[
            RateAssistantAnswerInput,
            strawberry.argument(description="The reply's `answerId`, and thumbs up or down."),
        ],
    ) -> RateAssistantAnswerPayload:
        try:
            await kb.rate_answer(
                info.context.actor, node_uuid(input.answer_id, "AssistantAnswer"), input.helpful
            )
        except kb.KnowledgeError as error:
            return RateAssistantAnswerPayload(
                changed=False, errors=payload_errors(error, KnowledgeError_)
            )
        return RateAssistantAnswerPayload(changed=True, errors=[])
