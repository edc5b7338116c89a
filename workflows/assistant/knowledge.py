"""The knowledge base's life: drafts (a supervisor's, or an agent's answer proposed as a
new entry or as a new variant of one), review, publication, retirement, every change a
kept version; thumbs up/down on the assistant's answers; the questions it could not
answer, grouped by near-duplicates; and the figures supervisors watch.

Who: KB_PROPOSE (agents, supervisors) drafts and submits; KB_MANAGE (supervisors)
edits any entry, publishes and retires. Each change is one transaction: the entry, its
new version row and an outbox event. An edit names the version it saw (``expected``).

A published entry being edited keeps answering customers from its published version
(``published_version``) until the edit is published in turn.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.knowledge import (
    AssistantAnswer,
    EntryStatus,
    KnowledgeEntry,
    KnowledgeVersion,
    SourceKind,
    UnansweredQuestion,
    UnansweredReason,
)
from push.outbox import emit
from workflows.access import Actor, Permission
from workflows.assistant.index import INDEX
from workflows.assistant.slots import mask_personal_numbers
from workflows.assistant.text import tokens
from workflows.errors import DomainError
from workflows.numbering import Prefix, next_number

E = EntryStatus
MAX_QUESTION = 200
MAX_ANSWER = 2_000
MAX_VARIANTS = 30
MAX_CATEGORY = 32
MAX_SOURCE = 200
CLUSTER_SIMILARITY = 0.6  # Jaccard of word sets: "理赔多久到账" ~ "理赔多久能到账"
CLUSTER_WINDOW = 500  # the most recent groups a new question is compared with
PROPOSED_CATEGORY = "人工解答"

# Which status may follow which (an edit of any non-draft entry makes a new draft).
TRANSITIONS: dict[EntryStatus, frozenset[EntryStatus]] = {
    E.DRAFT: frozenset({E.IN_REVIEW, E.PUBLISHED, E.RETIRED}),
    E.IN_REVIEW: frozenset({E.DRAFT, E.PUBLISHED, E.RETIRED}),
    E.PUBLISHED: frozenset({E.DRAFT, E.RETIRED}),
    E.RETIRED: frozenset({E.DRAFT}),
}


class KnowledgeErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_MANY_VARIANTS = "TOO_MANY_VARIANTS"
    ALREADY_RATED = "ALREADY_RATED"
    PROMISES_PAYMENT = "PROMISES_PAYMENT"  # an answer may not promise or refuse a payment


class KnowledgeError(DomainError):
    codes = KnowledgeErrorCode


@dataclass(frozen=True)
class EntryText:
    """What an editor writes; bounded and trimmed by ``_checked``."""

    category: str
    question: str
    answer: str
    variants: tuple[str, ...] = ()
    source_kind: SourceKind = SourceKind.RULE
    source_ref: str = ""
    product_code: str | None = None


def _bounded(value: str, field: str, limit: int, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise KnowledgeError(KnowledgeErrorCode.REQUIRED, "此项为必填项", field)
    if len(value) > limit:
        raise KnowledgeError(KnowledgeErrorCode.TOO_LONG, f"不能超过{limit}个字", field)
    return value


# Wording that decides a claim in advance: the adjuster decides, never the assistant.
PROMISES = re.compile(
    r"(一定|肯定|保证|必然|百分之百)(能|会|可以)?(赔|理赔|通过|到账)|(一定|肯定)(不|不会)赔|必赔"
)


def _checked(text: EntryText) -> EntryText:
    if len(text.variants) > MAX_VARIANTS:
        raise KnowledgeError(
            KnowledgeErrorCode.TOO_MANY_VARIANTS, f"问法最多{MAX_VARIANTS}个", "variants"
        )
    variants = [_bounded(v, f"variants.{i}", MAX_QUESTION) for i, v in enumerate(text.variants)]
    question = _bounded(text.question, "question", MAX_QUESTION)
    if PROMISES.search(text.answer):
        raise KnowledgeError(
            KnowledgeErrorCode.PROMISES_PAYMENT,
            "回答不能承诺或否定赔付，是否赔付以理赔核定为准",
            "answer",
        )
    return replace(
        text,
        category=_bounded(text.category, "category", MAX_CATEGORY),
        question=question,
        answer=_bounded(text.answer, "answer", MAX_ANSWER),
        variants=tuple(dict.fromkeys(v for v in variants if v != question)),
        source_ref=_bounded(text.source_ref, "sourceRef", MAX_SOURCE, required=False),
        product_code=(text.product_code or "").strip()[:32] or None,
    )


def _require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "没有操作知识库的权限")


async def _snapshot(entry: KnowledgeEntry, actor: Actor, note: str) -> None:
    await KnowledgeVersion.create(
        entry_id=entry.id,
        version=entry.version,
        status=entry.status,
        category=entry.category,
        question=entry.question,
        variants=list(entry.variants),
        answer=entry.answer,
        editor_id=actor.subject_id if actor.is_staff else None,
        note=note[:200],
    )


async def _announce(entry: KnowledgeEntry, event: str) -> None:
    INDEX.invalidate()  # this process answers from the change at once; others within 1 s
    await emit(
        f"knowledge.{event}",
        entity_type="knowledge_entry",
        entity_id=entry.id,
        customer_id=None,
        payload={"code": entry.code, "status": str(entry.status), "version": entry.version},
    )


async def create_entry(actor: Actor, text: EntryText, *, note: str = "新建") -> KnowledgeEntry:
    """A new DRAFT entry (KB_PROPOSE or KB_MANAGE)."""
    if not (actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "没有操作知识库的权限")
    text = _checked(text)
    code = await next_number(Prefix.KNOWLEDGE)
    async with in_transaction():
        entry = await KnowledgeEntry.create(
            code=code,
            category=text.category,
            question=text.question,
            variants=list(text.variants),
            answer=text.answer,
            source_kind=text.source_kind,
            source_ref=text.source_ref,
            product_code=text.product_code,
            status=E.DRAFT,
            created_by=actor.subject_id,
        )
        await _snapshot(entry, actor, note)
        await _announce(entry, "drafted")
    return entry


async def get_entry(actor: Actor, entry_id: uuid.UUID) -> KnowledgeEntry:
    """Staff who work with the knowledge base see every entry; others none."""
    if not (actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)):
        raise KnowledgeError(KnowledgeErrorCode.NOT_FOUND, "未找到该知识条目", "id")
    entry = await KnowledgeEntry.get_or_none(id=entry_id)
    if entry is None:
        raise KnowledgeError(KnowledgeErrorCode.NOT_FOUND, "未找到该知识条目", "id")
    return entry


async def _change(
    actor: Actor,
    entry_id: uuid.UUID,
    expected: int,
    status: EntryStatus,
    note: str,
    event: str,
    **changes: Any,
) -> KnowledgeEntry:
    """Move the entry to ``status`` (with ``changes``) if it is still at ``expected``."""
    entry = await get_entry(actor, entry_id)
    if status is not entry.status and status not in TRANSITIONS[entry.status]:
        raise KnowledgeError(
            KnowledgeErrorCode.ILLEGAL_TRANSITION, "该条目当前状态不能进行此操作", "id"
        )
    async with in_transaction():
        updated = await KnowledgeEntry.filter(id=entry.id, version=expected).update(
            status=status,
            version=expected + 1,
            updated_at=datetime.now(UTC),
            **changes,
        )
        if not updated:
            raise KnowledgeError(
                KnowledgeErrorCode.CONFLICT, "条目已被他人修改，请刷新后重试", "expectedVersion"
            )
        entry = await KnowledgeEntry.get(id=entry.id)
        await _snapshot(entry, actor, note)
        await _announce(entry, event)
    return entry


async def edit_entry(
    actor: Actor, entry_id: uuid.UUID, expected: int, text: EntryText, note: str = "编辑"
) -> KnowledgeEntry:
    """A new draft version (KB_MANAGE; KB_PROPOSE only on a draft it created). A
    published entry keeps answering from its published version meanwhile."""
    entry = await get_entry(actor, entry_id)
    own_draft = (
        entry.status is E.DRAFT
        and entry.created_by == actor.subject_id
        and actor.can(Permission.KB_PROPOSE)
    )
    if not (actor.can(Permission.KB_MANAGE) or own_draft):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "只有知识库管理员可以修改该条目")
    text = _checked(text)
    return await _change(
        actor,
        entry_id,
        expected,
        E.DRAFT,
        note,
        "edited",
        category=text.category,
        question=text.question,
        variants=list(text.variants),
        answer=text.answer,
        source_kind=text.source_kind,
        source_ref=text.source_ref,
        product_code=text.product_code,
    )


async def submit_for_review(actor: Actor, entry_id: uuid.UUID, expected: int) -> KnowledgeEntry:
    if not (actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "没有操作知识库的权限")
    entry = await get_entry(actor, entry_id)
    if entry.status is not E.DRAFT:
        raise KnowledgeError(KnowledgeErrorCode.ILLEGAL_TRANSITION, "只有草稿可以提交审核", "id")
    return await _change(actor, entry_id, expected, E.IN_REVIEW, "提交审核", "submitted")


async def publish_entry(actor: Actor, entry_id: uuid.UUID, expected: int) -> KnowledgeEntry:
    """Publish the current version (KB_MANAGE): the assistant answers from it at once."""
    _require(actor, Permission.KB_MANAGE)
    entry = await get_entry(actor, entry_id)
    if entry.status not in (E.DRAFT, E.IN_REVIEW):
        raise KnowledgeError(
            KnowledgeErrorCode.ILLEGAL_TRANSITION, "只有草稿或待审核的条目可以发布", "id"
        )
    entry = await _change(
        actor,
        entry_id,
        expected,
        E.PUBLISHED,
        "发布",
        "published",
        published_version=expected + 1,
    )
    await UnansweredQuestion.filter(
        resolved_by_id=None, normalized__in=_normalized_all(entry)
    ).update(resolved_by_id=entry.id)
    return entry


async def retire_entry(actor: Actor, entry_id: uuid.UUID, expected: int) -> KnowledgeEntry:
    """Stop answering from the entry (KB_MANAGE); its versions are kept."""
    _require(actor, Permission.KB_MANAGE)
    return await _change(
        actor, entry_id, expected, E.RETIRED, "下线", "retired", published_version=None
    )


async def versions(actor: Actor, entry_id: uuid.UUID) -> list[KnowledgeVersion]:
    entry = await get_entry(actor, entry_id)
    return list(await KnowledgeVersion.filter(entry_id=entry.id).order_by("-version"))


async def draft_from_answer(
    actor: Actor, question: str, answer: str, entry_id: uuid.UUID | None = None
) -> KnowledgeEntry:
    """An agent's answer to a customer's question proposed for the knowledge base: as a
    new draft entry, or (``entry_id``) the question as a new variant of that entry, with
    the agent's answer recorded in the version note for the reviewer."""
    question = mask_personal_numbers(_bounded(question, "question", MAX_QUESTION))
    answer = mask_personal_numbers(_bounded(answer, "answer", MAX_ANSWER))
    if entry_id is None:
        return await create_entry(
            actor,
            EntryText(PROPOSED_CATEGORY, question, answer, source_ref="客服解答"),
            note="由客服解答生成",
        )
    if not (actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "没有操作知识库的权限")
    entry = await get_entry(actor, entry_id)
    if entry.status is E.RETIRED:
        raise KnowledgeError(KnowledgeErrorCode.ILLEGAL_TRANSITION, "该条目已下线", "entryId")
    variants = list(dict.fromkeys([*entry.variants, question]))[:MAX_VARIANTS]
    return await _change(
        actor,
        entry.id,
        entry.version,
        E.DRAFT,
        f"新增问法（客服解答：{answer[:120]}）",
        "edited",
        variants=variants,
    )


def normalized(text: str) -> str:
    return " ".join(sorted(set(tokens(text))))[:500]


def _normalized_all(entry: KnowledgeEntry) -> list[str]:
    return [normalized(q) for q in [entry.question, *entry.variants]]


def _similar(a: str, b: str) -> float:
    left, right = set(a.split()), set(b.split())
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


async def record_unanswered(text: str, reason: UnansweredReason, intent: str) -> UnansweredQuestion:
    """Keep a question the assistant could not answer, in the group of its
    near-duplicates (the most similar recent group above ``CLUSTER_SIMILARITY``)."""
    text = mask_personal_numbers(text.strip())[:500]
    key = normalized(text)
    heads = (
        await UnansweredQuestion.filter(cluster_id=None, resolved_by_id=None)
        .order_by("-created_at")
        .limit(CLUSTER_WINDOW)
        .values_list("id", "normalized")
    )
    best, best_score = None, 0.0
    for head_id, head_key in heads:
        score = _similar(key, head_key)
        if score > best_score:
            best, best_score = head_id, score
    cluster = best if best_score >= CLUSTER_SIMILARITY else None
    return await UnansweredQuestion.create(
        text=text, normalized=key, reason=reason, intent=intent, cluster_id=cluster
    )


@dataclass(frozen=True)
class Cluster:
    head: UnansweredQuestion  # the group's first question
    size: int  # questions in the group, the head included
    reasons: dict[str, int]
    examples: list[str]  # a few of the group's questions, newest first


async def unanswered_clusters(actor: Actor, limit: int = 50) -> list[Cluster]:
    """Open groups of unanswered questions, largest first (KB_PROPOSE or KB_MANAGE)."""
    if not (actor.can(Permission.KB_PROPOSE) or actor.can(Permission.KB_MANAGE)):
        raise KnowledgeError(KnowledgeErrorCode.NOT_ALLOWED, "没有操作知识库的权限")
    rows = await UnansweredQuestion.filter(resolved_by_id=None).order_by("-created_at").limit(5_000)
    groups: dict[uuid.UUID, list[UnansweredQuestion]] = {}
    for row in rows:
        groups.setdefault(row.cluster_id or row.id, []).append(row)
    clusters = []
    for head_id, members in groups.items():
        head = next((m for m in members if m.id == head_id), members[-1])
        clusters.append(
            Cluster(
                head,
                len(members),
                dict(Counter(str(m.reason) for m in members)),
                [m.text for m in members[:5]],
            )
        )
    clusters.sort(key=lambda c: (-c.size, c.head.created_at))
    return clusters[:limit]


async def record_answer(
    customer_id: uuid.UUID | None,
    question: str,
    intent: str,
    confidence: float,
    handoff: str | None,
    entry_id: uuid.UUID | None,
) -> AssistantAnswer:
    return await AssistantAnswer.create(
        customer_id=customer_id,
        question=mask_personal_numbers(question)[:500],
        intent=intent[:32],
        confidence=confidence,
        handoff=handoff,
        entry_id=entry_id,
    )


async def rate_answer(actor: Actor, answer_id: uuid.UUID, helpful: bool) -> AssistantAnswer:
    """The customer's thumbs up or down on one of their answers, once. It moves the
    entry's ranking (see ``index.feedback_weight``); a thumbs-down keeps the question
    for the editors."""
    answer = await AssistantAnswer.get_or_none(id=answer_id)
    if answer is None or not actor.is_customer or answer.customer_id != actor.subject_id:
        raise KnowledgeError(KnowledgeErrorCode.NOT_FOUND, "未找到该回答", "answerId")
    async with in_transaction():
        rated = await AssistantAnswer.filter(id=answer.id, helpful=None).update(helpful=helpful)
        if not rated:
            raise KnowledgeError(KnowledgeErrorCode.ALREADY_RATED, "您已评价过这条回答", "answerId")
        if answer.entry_id is not None:
            column = "helpful" if helpful else "unhelpful"
            await KnowledgeEntry.filter(id=answer.entry_id).update(**{column: F(column) + 1})
    INDEX.invalidate()
    if not helpful:
        await record_unanswered(answer.question, UnansweredReason.THUMBS_DOWN, answer.intent)
    answer.helpful = helpful
    return answer


@dataclass(frozen=True)
class IntentFigures:
    intent: str
    answers: int
    handoffs: int
    thumbs_up: int
    thumbs_down: int


@dataclass(frozen=True)
class Figures:
    answers: int
    answered_without_handoff: int
    handoff_rate: float | None  # handoffs / answers
    thumbs_up_rate: float | None  # up / (up + down)
    per_intent: list[IntentFigures]
    clusters: list[Cluster]


async def figures(actor: Actor, since: datetime, until: datetime) -> Figures:
    """How the assistant did between ``since`` and ``until`` (KB_MANAGE)."""
    _require(actor, Permission.KB_MANAGE)
    rows = await AssistantAnswer.filter(created_at__gte=since, created_at__lt=until).values_list(
        "intent", "handoff", "helpful"
    )
    per: dict[str, list[int]] = {}
    for intent, handoff, helpful in rows:
        counts = per.setdefault(intent, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += handoff is not None
        counts[2] += helpful is True
        counts[3] += helpful is False
    total = sum(c[0] for c in per.values())
    handoffs = sum(c[1] for c in per.values())
    up, down = sum(c[2] for c in per.values()), sum(c[3] for c in per.values())
    return Figures(
        answers=total,
        answered_without_handoff=total - handoffs,
        handoff_rate=handoffs / total if total else None,
        thumbs_up_rate=up / (up + down) if up + down else None,
        per_intent=[IntentFigures(intent, *counts) for intent, counts in sorted(per.items())],
        clusters=await unanswered_clusters(actor),
    )


async def load_entries(entries: list[dict[str, Any]]) -> int:
    """Publish ``entries`` (the demo knowledge base) as version 1 each; codes already
    present are left alone, so loading twice adds nothing."""
    existing = set(await KnowledgeEntry.all().values_list("code", flat=True))
    added = 0
    async with in_transaction():
        for item in entries:
            if item["code"] in existing:
                continue
            text = _checked(
                EntryText(
                    item["category"],
                    item["question"],
                    item["answer"],
                    tuple(item.get("variants", ())),
                    SourceKind(item["source_kind"]),
                    item.get("source_ref", ""),
                    item.get("product_code"),
                )
            )
            entry = await KnowledgeEntry.create(
                code=item["code"],
                category=text.category,
                question=text.question,
                variants=list(text.variants),
                answer=text.answer,
                source_kind=text.source_kind,
                source_ref=text.source_ref,
                product_code=text.product_code,
                status=E.PUBLISHED,
                published_version=1,
            )
            await KnowledgeVersion.create(
                entry_id=entry.id,
                version=1,
                status=E.PUBLISHED,
                category=entry.category,
                question=entry.question,
                variants=entry.variants,
                answer=entry.answer,
                note="随演示数据载入",
            )
            added += 1
    INDEX.invalidate()
    return added
