"""The assistant's reply to one customer message (issue 15), in this order:

1. guardrails (``intents.guard``): a request to steer the assistant or to read someone
   else's data is politely refused; a complaint, anger, a regulator or media mention or
   a request for a human hands off at once;
2. a question whether the customer's own claim will be paid: never promised, never
   refused — the adjuster decides;
3. personal intents scored by rules, answered from the customer's own records
   (``personal``), asking back "which one?" when several match;
4. documents per kind of loss, from the products' terms (``losses``);
5. the published knowledge base by BM25 (``index``): answer when the best entry covers
   the question well (``ANSWER_AT``), offer the closest entries as quick replies when it
   covers it partly (``ASK_BACK_AT``), hand off below.

A short follow-up ("住院那个", a tapped quick reply) is read together with the
customer's previous message. Every reply is stored (figures, thumbs), and questions it
could not answer are kept for the editors. Personal numbers are masked in the reply and
its slots.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from models.clock import local_today
from models.knowledge import UnansweredReason
from workflows.access import Actor
from workflows.assistant import knowledge
from workflows.assistant.contract import (
    ActionKind,
    Citation,
    CitationKind,
    HandoffReason,
    Reply,
    SuggestedAction,
)
from workflows.assistant.index import INDEX
from workflows.assistant.intents import (
    DECISION,
    GREETING,
    INJECTION,
    PERSONAL,
    PERSONAL_MARKER,
    PERSONAL_THRESHOLD,
    THANKS,
    Intent,
    guard,
    score,
)
from workflows.assistant.losses import loss_documents, mentions_loss
from workflows.assistant.personal import HANDLERS, NOT_A_CUSTOMER, Answer
from workflows.assistant.slots import fill, mask_personal_numbers
from workflows.assistant.text import load_dictionary, normalize, tokens

MAX_TEXT = 500  # a message longer than this is read only this far
ANSWER_AT = 0.55  # coverage from which the best entry is the answer
ASK_BACK_AT = 0.3  # coverage from which the closest entries are offered
LOSS_DOCUMENTS_AT = 1.2

HANDOFF_TEXTS = {
    HandoffReason.ASKED_FOR_HUMAN: "好的，正在为您转接人工客服，请稍候。",
    HandoffReason.COMPLAINT: (
        "非常抱歉给您带来不好的体验。我马上为您转接人工客服处理；"
        "您也可以直接提交投诉，我们会在1个工作日内联系您、15日内给出处理结果。"
    ),
    HandoffReason.ANGER: "非常抱歉让您着急了，我马上为您转接人工客服，请稍候。",
    HandoffReason.REGULATOR_OR_MEDIA: "您的诉求我们非常重视，已为您转接人工客服优先处理，请稍候。",
    HandoffReason.LOW_CONFIDENCE: "这个问题我还不能准确回答，已为您转接人工客服，请稍候。",
}
REFUSAL = (
    "抱歉，这个请求我不能执行。我只能根据您本人的保单、理赔记录和公开的服务规则回答问题。"
    "请问有什么保险服务问题我可以帮您？"
)
OTHERS_REFUSAL = (
    "抱歉，为保护个人信息，我只能查询您本人作为投保人、被保险人或受益人的保单和理赔，"
    "不能提供他人的信息。"
)
DECISION_TEXT = (
    "是否赔付、赔付多少，由理赔人员根据保险条款和您提交的材料核定，我不能提前承诺，"
    "也不会替理赔人员作出拒赔判断。材料齐全后我们会在30日内作出核定并通知您；"
    "您可以随时问我「理赔进度」或「还缺什么材料」。"
)
GREETING_TEXT = (
    "您好，我是安心保险智能客服。可以问我理赔进度、还缺什么材料、保费什么时候交、"
    "保单什么时候到期，或者报案、犹豫期、退保等问题；需要人工请回复「转人工」。"
)
THANKS_TEXT = "不客气，还有其他问题随时问我。"
EMPTY_TEXT = "请问有什么可以帮您？"


async def warm_up() -> None:
    """Load jieba's dictionary (about a second) and build the knowledge index, before
    the first customer waits for them."""
    await asyncio.to_thread(load_dictionary)
    await INDEX.current()


def _quick_replies(labels: Sequence[str]) -> tuple[SuggestedAction, ...]:
    return tuple(SuggestedAction(ActionKind.QUICK_REPLY, label) for label in labels)


def _handoff(reason: HandoffReason, slots: dict[str, str]) -> Reply:
    actions = [SuggestedAction(ActionKind.TALK_TO_AGENT, "转人工客服")]
    if reason in (HandoffReason.COMPLAINT, HandoffReason.REGULATOR_OR_MEDIA, HandoffReason.ANGER):
        actions.append(SuggestedAction(ActionKind.FILE_COMPLAINT, "提交投诉"))
    if reason is HandoffReason.LOW_CONFIDENCE:
        actions.append(SuggestedAction(ActionKind.REQUEST_CALLBACK, "预约回电"))
    return Reply(
        HANDOFF_TEXTS[reason],
        Intent.HANDOFF.value
        if reason is not HandoffReason.LOW_CONFIDENCE
        else Intent.UNKNOWN.value,
        1.0 if reason is not HandoffReason.LOW_CONFIDENCE else 0.2,
        actions=tuple(actions),
        handoff=reason,
        slots=slots,
    )


def _from_answer(answer: Answer, intent: Intent, slots: dict[str, str]) -> Reply:
    return Reply(
        answer.text,
        intent.value,
        answer.confidence,
        tuple(answer.citations),
        tuple(answer.actions),
        slots=slots,
    )


async def _personal(actor: Actor, intent: Intent, text: str, history: Sequence[str]) -> Answer:
    if not actor.is_customer or actor.subject_id is None:
        return Answer(NOT_A_CUSTOMER, 0.9)
    return await HANDLERS[intent](actor, text, history)


def _entry_actions(question: str) -> tuple[SuggestedAction, ...]:
    if "报案" in question or "出险" in question:
        return (SuggestedAction(ActionKind.REPORT_LOSS, "我要报案"),)
    if "投诉" in question:
        return (SuggestedAction(ActionKind.FILE_COMPLAINT, "提交投诉"),)
    if "续保" in question:
        return (SuggestedAction(ActionKind.RENEW_POLICY, "去续保"),)
    return ()


async def _from_knowledge(text: str, slots: dict[str, str]) -> tuple[Reply, bool]:
    """The knowledge base's answer, and whether it was a real answer (not a handoff)."""
    index = await INDEX.current()
    hits = index.index.search(tokens(text), index.weights, limit=3)
    hits = [h for h in hits if h.entry_id in index.entries]
    if hits and hits[0].coverage >= ANSWER_AT:
        entry = index.entries[hits[0].entry_id]
        return (
            Reply(
                entry.answer,
                Intent.FAQ.value,
                round(min(1.0, hits[0].coverage), 3),
                (Citation(CitationKind.KNOWLEDGE_ENTRY, entry.id, entry.question),),
                _entry_actions(entry.question),
                slots={**slots, "entry": entry.code},
            ),
            True,
        )
    if hits and hits[0].coverage >= ASK_BACK_AT:
        entries = [index.entries[h.entry_id] for h in hits]
        return (
            Reply(
                "您是想问下面哪个问题？",
                Intent.FAQ.value,
                round(hits[0].coverage, 3),
                tuple(Citation(CitationKind.KNOWLEDGE_ENTRY, e.id, e.question) for e in entries),
                _quick_replies([e.question for e in entries]),
                slots=slots,
            ),
            False,
        )
    return _handoff(HandoffReason.LOW_CONFIDENCE, slots), False


FOLLOW_UP_WORDS = 3  # "住院那个", "车险的": a few words that are no question of their own
REFERRING = re.compile(r"那个|那张|那笔|那单|那次|这个|这张|这笔|的呢|呢[?？]?$|^那")


async def _follow_up(text: str) -> bool:
    """Whether ``text`` only continues the previous question: a few words that the
    knowledge base does not answer on their own ("犹豫期多久" after a claim question is
    a new question, not a follow-up)."""
    words = tokens(text)
    if len(words) > FOLLOW_UP_WORDS:
        return False
    if REFERRING.search(text):
        return True
    index = await INDEX.current()
    hits = index.index.search(words, index.weights, limit=1)
    return not hits or hits[0].coverage < ANSWER_AT


async def _decide(
    actor: Actor, text: str, history: Sequence[str], slots: dict[str, str]
) -> tuple[Reply, bool]:
    """The reply, and whether the question was answered (for the unanswered list)."""
    guarded = guard(text)
    if guarded is not None:
        if guarded.handoff is not None:
            return _handoff(guarded.handoff, slots), False
        refusal = REFUSAL if INJECTION.search(text) else OTHERS_REFUSAL
        return Reply(refusal, Intent.REFUSED.value, 1.0, slots=slots), True
    if GREETING.match(text):
        return Reply(GREETING_TEXT, Intent.GREETING.value, 1.0, slots=slots), True
    if THANKS.match(text):
        return Reply(THANKS_TEXT, Intent.THANKS.value, 1.0, slots=slots), True
    if DECISION.search(text) and (PERSONAL_MARKER.search(text) or "claim_number" in slots):
        return Reply(
            DECISION_TEXT,
            Intent.CLAIM_DECISION.value,
            0.9,
            actions=(SuggestedAction(ActionKind.TALK_TO_AGENT, "咨询人工客服"),),
            slots=slots,
        ), True
    has_number = "claim_number" in slots or "policy_number" in slots
    scored = score(text, has_number=has_number, loss_words=mentions_loss(text))
    weak = not scored or scored[0].score < PERSONAL_THRESHOLD
    if weak and history and (has_number or await _follow_up(text)):
        # A follow-up ("住院那个", a tapped quick reply) continues the last question.
        combined = f"{history[-1]} {text}"
        again = score(combined, has_number=has_number, loss_words=mentions_loss(combined))
        if again and again[0].intent in PERSONAL and again[0].score >= PERSONAL_THRESHOLD:
            answer = await _personal(actor, again[0].intent, text, history)
            return _from_answer(answer, again[0].intent, slots), not answer.asked_back
    if scored and scored[0].score >= PERSONAL_THRESHOLD:
        best = scored[0].intent
        if best in PERSONAL:
            answer = await _personal(actor, best, text, history)
            return _from_answer(answer, best, slots), True
        if best is Intent.LOSS_DOCUMENTS and scored[0].score >= LOSS_DOCUMENTS_AT:
            found = await loss_documents(text)
            if found is not None:
                return _from_answer(found, Intent.LOSS_DOCUMENTS, slots), True
    return await _from_knowledge(text, slots)


async def reply(actor: Actor, text: str, history: Sequence[str] = ()) -> Reply:
    """The assistant's answer to ``text`` from ``actor`` (a customer; staff get general
    answers only), ``history`` the customer's earlier messages, newest last."""
    text = normalize(text[:MAX_TEXT])
    history = [normalize(h[:MAX_TEXT]) for h in history[-5:]]
    slots = {k: mask_personal_numbers(v) for k, v in fill(text, local_today()).items()}
    if not text:
        return Reply(EMPTY_TEXT, Intent.GREETING.value, 1.0)
    result, answered = await _decide(actor, text, history, slots)
    result = Reply(
        mask_personal_numbers(result.text),
        result.intent,
        result.confidence,
        result.citations,
        result.actions,
        result.handoff,
        result.slots,
    )
    entry_id = next(
        (c.id for c in result.citations if c.kind is CitationKind.KNOWLEDGE_ENTRY and answered),
        None,
    )
    stored = await knowledge.record_answer(
        actor.subject_id if actor.is_customer else None,
        text,
        result.intent,
        result.confidence,
        result.handoff.value if result.handoff else None,
        entry_id,
    )
    if not answered and _worth_keeping(result, text):
        reason = (
            UnansweredReason.HANDOFF
            if result.handoff not in (None, HandoffReason.LOW_CONFIDENCE)
            else UnansweredReason.LOW_CONFIDENCE
        )
        await knowledge.record_unanswered(text, reason, result.intent)
    return Reply(
        result.text,
        result.intent,
        result.confidence,
        result.citations,
        result.actions,
        result.handoff,
        result.slots,
        answer_id=stored.id,
    )


def _worth_keeping(result: Reply, text: str) -> bool:
    """A question for the editors: not a bare "转人工", not anger or a complaint (those
    are for agents, not for the knowledge base)."""
    if result.handoff in (HandoffReason.COMPLAINT, HandoffReason.ANGER):
        return False
    if result.handoff is HandoffReason.REGULATOR_OR_MEDIA:
        return False
    if result.handoff is HandoffReason.ASKED_FOR_HUMAN:
        return len(tokens(text)) >= 3
    return result.intent in (Intent.FAQ.value, Intent.UNKNOWN.value) or result.handoff is not None
