"""Surveys after service moments, quick ratings, and service recovery.

An invitation is answered once: the same answers again return the first result, other
answers are refused. It may be answered in the app, the mini-program, or through its
link token alone (a customer not logged in, from an SMS) — that token opens only that
survey; it is derived from the invitation's ID when sent and stored nowhere. A rating
of 2 or less, an NPS of 0-6 or a comment with complaint words opens a recovery task for
a supervisor, due within 24 hours (one open task per customer and subject).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from models.claims import Claim
from models.clock import SHANGHAI
from models.complaints import Complaint
from models.ids import global_id
from models.pii import PiiCipher
from models.privacy import PiiSubjectKind
from models.surveys import (
    QuestionKind,
    RecoveryTask,
    ServiceRating,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    SurveyTemplate,
)
from models.visits import FollowUpVisit
from push.outbox import emit
from push.survey_links import SurveyLinks
from workflows.access import Actor
from workflows.errors import DomainError
from workflows.jobs import HOUR, MINUTE, Job
from workflows.privacy import reveal as privacy
from workflows.rating_subjects import SUBJECTS, rateable

INVITATION_LIFETIME = timedelta(days=14)
RECOVERY_DUE = timedelta(hours=24)
COMPLAINT_WORDS = ("投诉", "不满意", "差评", "太慢", "态度差", "欺骗", "举报", "骗")
RATING_SUBJECTS = frozenset(SUBJECTS)  # CLAIM, POLICY, PAYMENT, VISIT, STAFF, CONVERSATION
TEXT_LIMIT = 1000

CLAIM_SURVEY = {
    "code": "CLAIM_SERVICE",
    "title": "理赔服务满意度调查",
    "questions": [
        {
            "id": "q1",
            "kind": "RATING",
            "text": "您对本次理赔服务的整体满意度如何？",
            "required": True,
        },
        {"id": "q2", "kind": "NPS", "text": "您有多大可能向亲友推荐安心保险？", "required": True},
        {
            "id": "q3",
            "kind": "SINGLE_CHOICE",
            "text": "理赔处理速度是否符合您的预期？",
            "required": True,
            "options": [
                {"id": "fast", "text": "比预期快"},
                {"id": "ok", "text": "符合预期"},
                {"id": "slow", "text": "比预期慢"},
            ],
        },
        {
            "id": "q4",
            "kind": "MULTIPLE_CHOICE",
            "text": "哪些方面让您满意？（可多选）",
            "required": False,
            "options": [
                {"id": "staff", "text": "工作人员态度"},
                {"id": "clear", "text": "流程清晰"},
                {"id": "online", "text": "线上办理方便"},
                {"id": "amount", "text": "赔付金额合理"},
            ],
        },
        {"id": "q5", "kind": "TEXT", "text": "还有什么想对我们说的？", "required": False},
    ],
}


RELATIONSHIP_SURVEY = {
    "code": "RELATIONSHIP",
    "title": "年度客户关系调查",
    "questions": [
        {"id": "q1", "kind": "NPS", "text": "您有多大可能向亲友推荐安心保险？", "required": True},
        {
            "id": "q2",
            "kind": "RATING",
            "text": "您对我们一年来的服务整体满意吗？",
            "required": True,
        },
        {"id": "q3", "kind": "TEXT", "text": "您希望我们在哪些方面改进？", "required": False},
    ],
}
FOLLOW_UP_SURVEY = {
    "code": "FOLLOW_UP_VISIT",
    "title": "客户回访",
    "questions": [
        {"id": "q1", "kind": "RATING", "text": "您对安心保险的服务满意吗？", "required": True},
        {
            "id": "q2",
            "kind": "MULTIPLE_CHOICE",
            "text": "近期您是否有以下需要？（可多选）",
            "required": False,
            "options": [
                {"id": "adjust", "text": "调整现有保障"},
                {"id": "new", "text": "了解新的保险产品"},
                {"id": "info", "text": "更新联系方式或家庭信息"},
                {"id": "call", "text": "希望专人电话联系"},
            ],
        },
        {"id": "q3", "kind": "TEXT", "text": "还有什么想告诉我们的？", "required": False},
    ],
}
COMPLAINT_SURVEY = {
    "code": "COMPLAINT_SERVICE",
    "title": "投诉处理满意度调查",
    "questions": [
        {
            "id": "q1",
            "kind": "RATING",
            "text": "您对本次投诉的处理结果满意吗？",
            "required": True,
        },
        {
            "id": "q2",
            "kind": "SINGLE_CHOICE",
            "text": "处理速度是否符合您的预期？",
            "required": True,
            "options": [
                {"id": "fast", "text": "比预期快"},
                {"id": "ok", "text": "符合预期"},
                {"id": "slow", "text": "比预期慢"},
            ],
        },
        {"id": "q3", "kind": "TEXT", "text": "您还有什么意见或建议？", "required": False},
    ],
}
BUILT_IN = {
    t["code"]: t for t in (CLAIM_SURVEY, RELATIONSHIP_SURVEY, FOLLOW_UP_SURVEY, COMPLAINT_SURVEY)
}
RELATIONSHIP_EVERY = timedelta(days=365)


class SurveyErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
    ALREADY_ANSWERED = "ALREADY_ANSWERED"
    REQUIRED = "REQUIRED"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    UNKNOWN_CHOICE = "UNKNOWN_CHOICE"
    UNKNOWN_QUESTION = "UNKNOWN_QUESTION"
    TOO_LONG = "TOO_LONG"
    INVALID_SUBJECT = "INVALID_SUBJECT"
    NOT_ALLOWED = "NOT_ALLOWED"  # e.g. calling back on a complaint one recorded oneself
    THROTTLED = "THROTTLED"


class SurveyError(DomainError):
    codes = SurveyErrorCode


@dataclass(frozen=True)
class Answer:
    question_id: str
    number: int | None = None  # RATING 1-5, NPS 0-10
    choice_ids: tuple[str, ...] = ()
    text: str | None = None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def template(code: str) -> SurveyTemplate:
    """The latest active version; the built-in claim survey is created on first use."""
    found = await SurveyTemplate.filter(code=code, active=True).order_by("-version").first()
    if found is not None:
        return found
    built_in = BUILT_IN.get(code)
    if built_in is None:
        raise SurveyError(SurveyErrorCode.NOT_FOUND, "未找到该问卷")
    try:
        return await SurveyTemplate.create(
            code=code, version=1, title=built_in["title"], questions=built_in["questions"]
        )
    except IntegrityError:
        return await SurveyTemplate.get(code=code, version=1)


async def new_template_version(
    code: str, title: str, questions: list[dict[str, Any]]
) -> SurveyTemplate:
    """Staff edit a survey by making a new version; invitations and answers keep theirs."""
    code, title = code.strip().upper(), title.strip()
    if not code or not title:
        raise SurveyError(SurveyErrorCode.REQUIRED, "请填写问卷编码和标题", "title")
    if not questions:
        raise SurveyError(SurveyErrorCode.REQUIRED, "问卷至少需要一个问题", "questions")
    seen: set[str] = set()
    for index, question in enumerate(questions):
        field = f"questions.{index}"
        if not question["id"] or question["id"] in seen or not question["text"].strip():
            raise SurveyError(SurveyErrorCode.REQUIRED, "问题编号须唯一且问题不能为空", field)
        seen.add(question["id"])
        choices = [o["id"] for o in question.get("options", [])]
        if question["kind"] in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE) and (
            len(choices) < 2 or len(set(choices)) != len(choices)
        ):
            raise SurveyError(SurveyErrorCode.UNKNOWN_CHOICE, "选择题至少需要两个不同的选项", field)
    async with in_transaction():
        latest = await SurveyTemplate.filter(code=code).order_by("-version").first()
        version = latest.version + 1 if latest else 1
        await SurveyTemplate.filter(code=code).update(active=False)
        return await SurveyTemplate.create(
            code=code, version=version, title=title, questions=questions
        )


def period_keys(moment: datetime) -> dict[str, str]:
    local = moment.astimezone(SHANGHAI)
    year, week, _ = local.isocalendar()
    return {"day": f"{local:%Y-%m-%d}", "week": f"{year}-W{week:02d}", "month": f"{local:%Y-%m}"}


async def invite(
    customer_id: uuid.UUID,
    trigger: str,
    subject_type: str,
    subject_id: str,
    template_code: str,
    *,
    product_kind: str | None = None,
    staff_id: uuid.UUID | None = None,
    announce: bool = True,
) -> SurveyInvitation | None:
    """Create an invitation (in the caller's transaction) and announce it unless the
    caller sends its own message; None when this subject was surveyed already. Its link
    token is derived from its ID when an SMS or e-mail is sent (``push.survey_links``):
    neither the invitation nor the announcement stores it."""
    survey = await template(template_code)
    if await SurveyInvitation.exists(
        trigger=trigger, subject_type=subject_type, subject_id=subject_id
    ):
        return None
    invitation = await SurveyInvitation.create(
        template_id=survey.id,
        customer_id=customer_id,
        trigger=trigger,
        subject_type=subject_type,
        subject_id=subject_id,
        expires_at=datetime.now(UTC) + INVITATION_LIFETIME,
        product_kind=product_kind,
        staff_id=staff_id,
        **period_keys(datetime.now(UTC)),  # type: ignore[arg-type]
    )
    if announce:
        await emit(
            "survey.invited",
            entity_type="survey",
            entity_id=invitation.id,
            customer_id=customer_id,
            payload={"invitation_id": global_id("Survey", invitation.id)},
        )
    return invitation


async def subject_title(invitation: SurveyInvitation) -> str | None:
    """What the survey asks about, as the customer knows it: a claim by its report
    number; None for surveys about the relationship as a whole."""
    if invitation.subject_type == "claim":
        try:
            claim_id = uuid.UUID(invitation.subject_id)
        except ValueError:  # not a claim's id: nothing to name
            return None
        numbers = await Claim.filter(id=claim_id).values_list("report_number", flat=True)
        return f"理赔案件{numbers[0]}" if numbers else None
    if invitation.subject_type == "visit":
        return "本次回访"
    if invitation.subject_type == "complaint":
        numbers = await Complaint.filter(id=invitation.subject_id).values_list("number", flat=True)
        return f"投诉{numbers[0]}" if numbers else None
    return None


async def by_token(links: SurveyLinks, token: str) -> SurveyInvitation | None:
    """The invitation a link token opens: one we signed, or (made before tokens were
    derived) one whose random token's hash was stored."""
    invitation_id = links.invitation_id(token)
    if invitation_id is not None:
        return await SurveyInvitation.get_or_none(id=invitation_id)
    if not token.strip():
        return None
    return await SurveyInvitation.get_or_none(token_hash=_hash(token.strip()))


def validate(questions: list[dict[str, Any]], answers: list[Answer]) -> dict[str, Any]:
    """Answers checked against the template version: kinds, ranges, choices, required."""
    by_id = {q["id"]: q for q in questions}
    given: dict[str, Answer] = {}
    for answer in answers:
        if answer.question_id not in by_id:
            raise SurveyError(SurveyErrorCode.UNKNOWN_QUESTION, "问题不存在", "answers")
        given[answer.question_id] = answer
    result: dict[str, Any] = {}
    for question in questions:
        field = f"answers.{question['id']}"
        given_answer = given.get(question["id"])
        value = _value(question, given_answer, field) if given_answer is not None else None
        if value in (None, "", []):
            if question.get("required"):
                raise SurveyError(SurveyErrorCode.REQUIRED, "请回答此题", field)
            continue
        result[question["id"]] = value
    return result


def _value(question: dict[str, Any], answer: Answer, field: str) -> Any:
    kind = QuestionKind(question["kind"])
    if kind in (QuestionKind.RATING, QuestionKind.NPS):
        low, high = (1, 5) if kind is QuestionKind.RATING else (0, 10)
        if answer.number is None:
            return None
        if not low <= answer.number <= high:
            raise SurveyError(SurveyErrorCode.OUT_OF_RANGE, f"请选择{low}到{high}之间的分数", field)
        return answer.number
    if kind is QuestionKind.TEXT:
        text = (answer.text or "").strip()
        if len(text) > TEXT_LIMIT:
            raise SurveyError(SurveyErrorCode.TOO_LONG, f"不能超过{TEXT_LIMIT}个字", field)
        return text
    options = {o["id"] for o in question.get("options", [])}
    chosen = list(dict.fromkeys(answer.choice_ids))
    if any(choice not in options for choice in chosen):
        raise SurveyError(SurveyErrorCode.UNKNOWN_CHOICE, "选项不存在", field)
    if kind is QuestionKind.SINGLE_CHOICE:
        if len(chosen) > 1:
            raise SurveyError(SurveyErrorCode.OUT_OF_RANGE, "此题只能选一项", field)
        return chosen[0] if chosen else None
    return chosen


def _flat(
    response: SurveyResponse,
    questions: list[dict[str, Any]],
    values: dict[str, Any],
    invitation: SurveyInvitation,
    channel: str,
) -> list[SurveyAnswer]:
    common = {
        "response_id": response.id,
        "channel": channel,
        "day": invitation.day,
        "week": invitation.week,
        "month": invitation.month,
        "product_kind": invitation.product_kind,
        "staff_id": invitation.staff_id,
    }
    rows = []
    for question in questions:
        value = values.get(question["id"])
        if value is None:
            continue
        kind = QuestionKind(question["kind"])
        if kind in (QuestionKind.RATING, QuestionKind.NPS):
            rows.append(SurveyAnswer(question_id=question["id"], kind=kind, number=value, **common))
        elif kind in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE):
            for choice in [value] if isinstance(value, str) else value:
                rows.append(
                    SurveyAnswer(question_id=question["id"], kind=kind, choice=choice, **common)
                )
    return rows


def unhappy(questions: list[dict[str, Any]], values: dict[str, Any]) -> str | None:
    """Why this answer needs a call back, or None."""
    for question in questions:
        value = values.get(question["id"])
        if value is None:
            continue
        if question["kind"] == QuestionKind.RATING and value <= 2:
            return f"满意度评分{value}分"
        if question["kind"] == QuestionKind.NPS and value <= 6:
            return f"推荐意愿{value}分"
        if question["kind"] == QuestionKind.TEXT and any(w in value for w in COMPLAINT_WORDS):
            return "留言含有投诉内容"
    return None


def recovery_key(customer_id: uuid.UUID, subject: str) -> str:
    """What one recovery call is about: a customer and a subject (``claim:<id>``,
    ``visit:<id>``, ...). Ratings, surveys and visit complaints of one subject share it."""
    return f"{customer_id}:{subject.lower()}"[:160]


async def open_recovery(
    customer_id: uuid.UUID, source: str, source_id: uuid.UUID, subject: str, reason: str
) -> None:
    """A call back within 24 hours, unless one is open for this customer and subject
    already: then that task's reason is brought up to date. The database decides (a
    unique open key, inserted with ON CONFLICT DO NOTHING), so concurrent unhappy answers
    still make one task, and the caller's transaction is never aborted by the conflict."""
    key = recovery_key(customer_id, subject)
    await RecoveryTask.bulk_create(
        [
            RecoveryTask(
                id=uuid.uuid4(),
                customer_id=customer_id,
                source=source,
                source_id=source_id,
                reason=reason,
                due_at=datetime.now(UTC) + RECOVERY_DUE,
                open_key=key,
            )
        ],
        ignore_conflicts=True,
    )
    await RecoveryTask.filter(open_key=key).update(reason=reason)
    if subject.startswith("complaint:"):
        # Imported here: the complaints workflow invites to surveys (imports this module).
        from workflows.complaints import recovery

        await recovery.opened(key, subject, reason)


async def complete_recovery(staff_id: uuid.UUID | None, task_id: uuid.UUID, outcome: str) -> bool:
    """Close an open task with what was agreed; its subject may then open a new one."""
    closed = await RecoveryTask.filter(id=task_id, done_at=None).update(
        done_at=datetime.now(UTC), outcome=outcome[:1000], done_by=staff_id, open_key=None
    )
    return bool(closed)


async def recovery_phone(
    actor: Actor,
    pii: PiiCipher,
    task_id: uuid.UUID,
    purpose: str,
    limits: privacy.RevealLimits,
) -> str:
    """The full number for the supervisor calling back (open tasks only), each look logged
    with its stated purpose (``workflows.privacy``);
    the queue shows it masked. A task opened by a staff member (a complaint recorded on
    a visit) is called back by someone else: recording a complaint is not a way to read
    a number the visit itself would not show yet."""
    task = await RecoveryTask.get_or_none(id=task_id, done_at=None).select_related("customer")
    if task is None:
        raise SurveyError(SurveyErrorCode.NOT_FOUND, "未找到待处理的回访任务", "taskId")
    if task.source == "visit" and await FollowUpVisit.exists(
        id=task.source_id, completed_by=actor.subject_id
    ):
        raise SurveyError(
            SurveyErrorCode.NOT_ALLOWED, "该任务由您记录的投诉产生，请由其他主管回访", "taskId"
        )
    subject = privacy.Subject(PiiSubjectKind.RECOVERY_TASK, task.id, task.customer_id)
    return await privacy.reveal_phone(actor, pii, task.customer, subject, purpose, limits)


async def submit(
    invitation: SurveyInvitation, answers: list[Answer], channel: str
) -> SurveyResponse:
    """Record the answers once; a retry with the same answers returns the first result."""
    survey = await SurveyTemplate.get(id=invitation.template_id)
    existing = await SurveyResponse.get_or_none(invitation_id=invitation.id)
    if existing is not None:  # answered: only the very same answers are a retry
        try:
            same = answers_digest(validate(survey.questions, answers)) == existing.answers_hash
        except SurveyError:
            same = False
        if not same:
            raise SurveyError(SurveyErrorCode.ALREADY_ANSWERED, "该问卷已提交，感谢您的反馈")
        return existing
    values = validate(survey.questions, answers)
    digest = answers_digest(values)
    if invitation.expires_at <= datetime.now(UTC):
        raise SurveyError(SurveyErrorCode.EXPIRED, "问卷已过期，感谢您的关注")
    try:
        async with in_transaction():
            return await record(invitation, survey, values, channel)
    except IntegrityError:  # answered at the same moment by another request
        existing = await SurveyResponse.get(invitation_id=invitation.id)
    if existing.answers_hash != digest:
        raise SurveyError(SurveyErrorCode.ALREADY_ANSWERED, "该问卷已提交，感谢您的反馈")
    return existing


def answers_digest(values: dict[str, Any]) -> str:
    return _hash(json.dumps(values, sort_keys=True, ensure_ascii=False))


async def record(
    invitation: SurveyInvitation,
    survey: SurveyTemplate,
    values: dict[str, Any],
    channel: str,
) -> SurveyResponse:
    """Store validated answers, their flat rows and any recovery task (in the caller's
    transaction); a second response to the invitation raises IntegrityError."""
    response = await SurveyResponse.create(
        invitation_id=invitation.id,
        template_id=survey.id,
        answers=values,
        answers_hash=answers_digest(values),
        channel=channel,
    )
    await SurveyInvitation.filter(id=invitation.id).update(answered_at=datetime.now(UTC))
    await SurveyAnswer.bulk_create(_flat(response, survey.questions, values, invitation, channel))
    reason = unhappy(survey.questions, values)
    if reason:
        subject = f"{invitation.subject_type}:{invitation.subject_id}"
        await open_recovery(invitation.customer_id, "survey", response.id, subject, reason)
    return response


async def rate(
    customer_id: uuid.UUID,
    subject_type: str,
    subject_id: str,
    stars: int,
    tags: list[str],
    comment: str,
) -> ServiceRating:
    """Rate (or re-rate) a subject the customer may see; an unhappy rating asks a
    supervisor to call back, once per open subject (see ``open_recovery``)."""
    if subject_type not in RATING_SUBJECTS:
        raise SurveyError(SurveyErrorCode.INVALID_SUBJECT, "评价对象无效", "subjectType")
    if not 1 <= stars <= 5:
        raise SurveyError(SurveyErrorCode.OUT_OF_RANGE, "请选择1到5星", "stars")
    comment = comment.strip()
    if len(comment) > TEXT_LIMIT:
        raise SurveyError(SurveyErrorCode.TOO_LONG, f"不能超过{TEXT_LIMIT}个字", "comment")
    object_id = await rateable(customer_id, subject_type, subject_id)
    if object_id is None:
        raise SurveyError(SurveyErrorCode.NOT_FOUND, "未找到评价对象", "subjectId")
    clean_tags = [t.strip()[:20] for t in tags if t.strip()][:10]
    async with in_transaction():
        rating, _ = await ServiceRating.update_or_create(
            customer_id=customer_id,
            subject_type=subject_type,
            subject_id=str(object_id),
            defaults={"stars": stars, "tags": clean_tags, "comment": comment},
        )
        if stars <= 2 or any(word in comment for word in COMPLAINT_WORDS):
            reason = f"评价{stars}星" if stars <= 2 else "评价含有投诉内容"
            subject = f"{subject_type}:{object_id}"
            await open_recovery(customer_id, "rating", rating.id, subject, reason)
    return rating


class FigureGroup(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    PRODUCT_KIND = "product_kind"
    CHANNEL = "channel"
    STAFF = "staff_id"
    QUESTION = "question_id"


@dataclass(frozen=True)
class Figure:
    key: str
    responses: int
    ratings: int
    satisfied: int  # ratings of 4 or 5
    rating_sum: int
    nps_answers: int
    promoters: int  # 9-10
    detractors: int  # 0-6
    invitations: int | None  # for period groups: the response rate's denominator

    @property
    def csat(self) -> Decimal | None:
        return _share(self.satisfied, self.ratings)

    @property
    def nps(self) -> Decimal | None:
        if not self.nps_answers:
            return None
        return _share(self.promoters, self.nps_answers) - _share(  # type: ignore[operator]
            self.detractors, self.nps_answers
        )

    @property
    def average_rating(self) -> Decimal | None:
        if not self.ratings:
            return None
        return (Decimal(self.rating_sum) / self.ratings).quantize(Decimal("0.01"))

    @property
    def response_rate(self) -> Decimal | None:
        return _share(self.responses, self.invitations) if self.invitations else None


def _share(part: int, whole: int | None) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"))


async def figures(group: FigureGroup, first_day: str, last_day: str) -> list[Figure]:
    """CSAT, NPS, average rating and response rate per group, computed by the database
    with counts, so a figure from 3 answers is never read as one from 3,000."""
    rating, nps = Q(kind=QuestionKind.RATING), Q(kind=QuestionKind.NPS)
    rows = (
        await SurveyAnswer.filter(day__gte=first_day, day__lte=last_day)
        .annotate(
            responses=Count("response_id", distinct=True),
            ratings=Count("id", _filter=rating),
            satisfied=Count("id", _filter=rating & Q(number__gte=4)),
            rating_sum=Sum("number", _filter=rating),
            nps_answers=Count("id", _filter=nps),
            promoters=Count("id", _filter=nps & Q(number__gte=9)),
            detractors=Count("id", _filter=nps & Q(number__lte=6)),
        )
        .group_by(group.value)
        .values(
            group.value,
            "responses",
            "ratings",
            "satisfied",
            "rating_sum",
            "nps_answers",
            "promoters",
            "detractors",
        )
    )
    invited: dict[str, int] = {}
    if group in (FigureGroup.DAY, FigureGroup.WEEK, FigureGroup.MONTH):
        counted = (
            await SurveyInvitation.filter(day__gte=first_day, day__lte=last_day)
            .annotate(n=Count("id"))
            .group_by(group.value)
            .values(group.value, "n")
        )
        invited = {str(row[group.value]): row["n"] for row in counted}
    return sorted(
        (
            Figure(
                key=str(row[group.value]) if row[group.value] is not None else "",
                responses=row["responses"],
                ratings=row["ratings"],
                satisfied=row["satisfied"],
                rating_sum=int(row["rating_sum"] or 0),
                nps_answers=row["nps_answers"],
                promoters=row["promoters"],
                detractors=row["detractors"],
                invitations=invited.get(str(row[group.value])) if invited else None,
            )
            for row in rows
        ),
        key=lambda f: f.key,
    )


async def invite_relationship_surveys(now: datetime | None = None, limit: int = 500) -> int:
    """The worker's periodic relationship survey: customers holding an active policy who
    were not asked in the last year get one invitation (subject: the year)."""
    from models.policies import Policy, PolicyStatus

    now = now or datetime.now(UTC)
    year = f"{now.astimezone(SHANGHAI):%Y}"
    recently = SurveyInvitation.filter(
        trigger="relationship", created_at__gte=now - RELATIONSHIP_EVERY
    ).values("customer_id")
    holders = await (
        Policy.filter(status=PolicyStatus.ACTIVE)
        .exclude(holder_id__in=Subquery(recently))
        .distinct()
        .limit(limit)
        .values_list("holder_id", flat=True)
    )
    invited = 0
    for holder_id in holders:
        async with in_transaction():
            made = await invite(
                uuid.UUID(str(holder_id)),
                "relationship",
                "customer-year",
                f"{holder_id}:{year}",
                "RELATIONSHIP",
            )
        invited += made is not None
    return invited


# Not at start-up: a process restart should not be the moment customers are asked.
JOBS = (
    Job(
        "relationship-surveys",
        6 * HOUR,
        lambda deps: invite_relationship_surveys(),
        first_after=10 * MINUTE,
    ),
)
