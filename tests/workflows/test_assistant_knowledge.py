"""The knowledge base that learns: an unanswered question is kept, an agent's answer
becomes a draft, a supervisor publishes it and the assistant then answers from it;
edits keep the published version answering; retired entries stop; permissions,
optimistic versions, thumbs, clusters and figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.knowledge import (
    EntryStatus,
    KnowledgeEntry,
    UnansweredQuestion,
    UnansweredReason,
)
from models.staff import StaffRole
from tests.factories import make_customer, make_staff
from workflows.access import Actor
from workflows.assistant import knowledge
from workflows.assistant.answer import reply
from workflows.assistant.contract import HandoffReason
from workflows.assistant.index import feedback_weight
from workflows.assistant.knowledge import EntryText, KnowledgeError, KnowledgeErrorCode
from workflows.assistant.retrieval import Bm25Index

QUESTION = "宠物医疗费用能报销吗"
ANSWER = "我们目前的产品不保障宠物医疗费用，宠物的医疗支出不在任何一款产品的保障范围内。"


async def _staff(role: StaffRole) -> Actor:
    user = await make_staff(role)
    return Actor(SubjectKind.STAFF, user.id, None, role)


async def _customer(services: Services) -> Actor:
    return Actor(SubjectKind.CUSTOMER, (await make_customer(services)).id)


async def test_an_agents_answer_is_published_by_a_supervisor_then_answered(
    db: str, services: Services
) -> None:
    customer = await _customer(services)
    before = await reply(customer, QUESTION)
    assert before.handoff is HandoffReason.LOW_CONFIDENCE
    assert await UnansweredQuestion.filter(reason=UnansweredReason.LOW_CONFIDENCE).count() == 1

    agent, supervisor = await _staff(StaffRole.AGENT), await _staff(StaffRole.SUPERVISOR)
    draft = await knowledge.draft_from_answer(agent, QUESTION, ANSWER)
    assert draft.status is EntryStatus.DRAFT
    assert (await reply(customer, QUESTION)).handoff is HandoffReason.LOW_CONFIDENCE
    with pytest.raises(KnowledgeError) as refused:
        await knowledge.publish_entry(agent, draft.id, draft.version)
    assert refused.value.code is KnowledgeErrorCode.NOT_ALLOWED

    submitted = await knowledge.submit_for_review(agent, draft.id, draft.version)
    published = await knowledge.publish_entry(supervisor, submitted.id, submitted.version)
    assert published.status is EntryStatus.PUBLISHED and published.published_version == 3

    after = await reply(customer, QUESTION)
    assert after.handoff is None and after.text == ANSWER
    assert after.slots["entry"] == published.code
    kept = await UnansweredQuestion.filter(text=QUESTION)
    assert len(kept) == 2  # asked before the draft and while it was a draft
    assert {q.resolved_by_id for q in kept} == {published.id}  # off the editors' list
    history = await knowledge.versions(supervisor, published.id)
    assert [v.status for v in history] == [
        EntryStatus.PUBLISHED,
        EntryStatus.IN_REVIEW,
        EntryStatus.DRAFT,
    ]


async def _published(actor: Actor) -> KnowledgeEntry:
    entry = await knowledge.create_entry(actor, EntryText("服务", QUESTION, ANSWER))
    return await knowledge.publish_entry(actor, entry.id, entry.version)


async def test_an_edit_answers_from_the_published_version_until_published(
    db: str, services: Services
) -> None:
    supervisor, customer = await _staff(StaffRole.SUPERVISOR), await _customer(services)
    entry = await _published(supervisor)
    edited = await knowledge.edit_entry(
        supervisor, entry.id, entry.version, EntryText("服务", QUESTION, "新的回答文本。")
    )
    assert edited.status is EntryStatus.DRAFT
    assert (await reply(customer, QUESTION)).text == ANSWER
    await knowledge.publish_entry(supervisor, edited.id, edited.version)
    assert (await reply(customer, QUESTION)).text == "新的回答文本。"


async def test_a_stale_version_conflicts(db: str) -> None:
    supervisor = await _staff(StaffRole.SUPERVISOR)
    entry = await _published(supervisor)
    text = EntryText("服务", QUESTION, "甲的修改。")
    await knowledge.edit_entry(supervisor, entry.id, entry.version, text)
    with pytest.raises(KnowledgeError) as conflict:
        await knowledge.edit_entry(supervisor, entry.id, entry.version, text)
    assert conflict.value.code is KnowledgeErrorCode.CONFLICT


async def test_a_retired_entry_is_no_longer_answered(db: str, services: Services) -> None:
    supervisor, customer = await _staff(StaffRole.SUPERVISOR), await _customer(services)
    entry = await _published(supervisor)
    assert (await reply(customer, QUESTION)).text == ANSWER
    await knowledge.retire_entry(supervisor, entry.id, entry.version)
    assert (await reply(customer, QUESTION)).handoff is HandoffReason.LOW_CONFIDENCE


async def test_an_agents_question_becomes_a_variant_of_an_entry(
    db: str, services: Services
) -> None:
    supervisor, agent = await _staff(StaffRole.SUPERVISOR), await _staff(StaffRole.AGENT)
    entry = await _published(supervisor)
    proposed = await knowledge.draft_from_answer(agent, "猫猫狗狗看病你们管吗", ANSWER, entry.id)
    assert "猫猫狗狗看病你们管吗" in proposed.variants
    assert proposed.status is EntryStatus.DRAFT and proposed.published_version == entry.version


async def test_answers_may_not_promise_a_payment(db: str) -> None:
    supervisor = await _staff(StaffRole.SUPERVISOR)
    with pytest.raises(KnowledgeError) as refused:
        await knowledge.create_entry(supervisor, EntryText("理赔", "能赔吗", "放心，一定能赔。"))
    assert refused.value.code is KnowledgeErrorCode.PROMISES_PAYMENT


async def test_customers_and_adjusters_cannot_draft(db: str, services: Services) -> None:
    for actor in (await _customer(services), await _staff(StaffRole.ADJUSTER)):
        with pytest.raises(KnowledgeError) as refused:
            await knowledge.draft_from_answer(actor, QUESTION, ANSWER)
        assert refused.value.code is KnowledgeErrorCode.NOT_ALLOWED


async def test_thumbs_are_counted_once_by_the_customer_answered(
    db: str, services: Services
) -> None:
    supervisor, customer = await _staff(StaffRole.SUPERVISOR), await _customer(services)
    entry = await _published(supervisor)
    answer = await reply(customer, QUESTION)
    assert answer.answer_id is not None
    with pytest.raises(KnowledgeError) as other:
        await knowledge.rate_answer(await _customer(services), answer.answer_id, True)
    assert other.value.code is KnowledgeErrorCode.NOT_FOUND
    await knowledge.rate_answer(customer, answer.answer_id, False)
    with pytest.raises(KnowledgeError) as twice:
        await knowledge.rate_answer(customer, answer.answer_id, True)
    assert twice.value.code is KnowledgeErrorCode.ALREADY_RATED
    await entry.refresh_from_db()
    assert (entry.helpful, entry.unhelpful) == (0, 1)
    assert await UnansweredQuestion.filter(reason=UnansweredReason.THUMBS_DOWN).count() == 1


async def test_near_duplicates_are_clustered_and_figures_count(db: str, services: Services) -> None:
    customer, supervisor = await _customer(services), await _staff(StaffRole.SUPERVISOR)
    for text in (
        "宠物医疗费用能报销吗",
        "宠物医疗费用可以报销吗",
        "宠物的医疗费用能报销吗",
        "火星旅行保不保",
    ):
        await reply(customer, text)
    clusters = await knowledge.unanswered_clusters(supervisor)
    assert [c.size for c in clusters] == [3, 1]
    now = datetime.now(UTC)
    figures = await knowledge.figures(
        supervisor, now - timedelta(hours=1), now + timedelta(hours=1)
    )
    assert figures.answers == 4 and figures.handoff_rate == 1.0
    assert figures.answered_without_handoff == 0
    assert figures.clusters[0].size == 3
    with pytest.raises(KnowledgeError):
        await knowledge.figures(await _staff(StaffRole.AGENT), now, now)


def test_bm25_prefers_the_entry_that_is_the_question() -> None:
    import uuid

    a, b = uuid.uuid4(), uuid.uuid4()
    index = Bm25Index([(a, ["犹豫期", "退保"]), (b, ["退保", "到账", "时间", "原路"])])
    hits = index.search(["犹豫期", "退保"])
    assert hits[0].entry_id == a and hits[0].coverage == pytest.approx(1.0)
    assert index.search(["贷款"]) == []


def test_feedback_moves_ranking_a_little_and_only_as_votes_gather() -> None:
    assert feedback_weight(0, 0) == 1.0
    assert 0.98 < feedback_weight(0, 1) < 1.0
    assert 0.8 <= feedback_weight(0, 1_000) < 0.81
    assert feedback_weight(50, 0) > 1.19


def test_thumbs_weights_reorder_two_equally_good_entries() -> None:
    import uuid

    liked, disliked = uuid.uuid4(), uuid.uuid4()
    index = Bm25Index([(disliked, ["退保", "到账"]), (liked, ["退保", "到账"])])
    weights = {liked: feedback_weight(30, 0), disliked: feedback_weight(0, 30)}
    assert [h.entry_id for h in index.search(["退保", "到账"], weights)] == [liked, disliked]
    weights = {liked: feedback_weight(0, 30), disliked: feedback_weight(30, 0)}
    assert [h.entry_id for h in index.search(["退保", "到账"], weights)] == [disliked, liked]
