"""Surveys and quick ratings in GraphQL. A survey is answered in the app or mini-program
(logged in) or through its link token alone (``surveyByToken`` / ``submitSurvey`` with
``token``): the token opens that one survey and nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import surveys as m
from models.clock import local_time
from schema.common import node_uuid
from schema.errors import CODE, Error, ErrorCodes, ThrottledError, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, staff_only
from workflows import surveys as flows
from workflows.access import Actor, Permission
from workflows.limits import wait_text
from workflows.privacy.rules import PrivacyError
from workflows.rating_subjects import RatingSubject

strawberry.enum(m.QuestionKind, description="How a question is answered.")
strawberry.enum(
    m.SurveyChannel,
    description="Where a survey was answered; THIRD_PARTY only comes from imports.",
)
strawberry.enum(
    RatingSubject,
    description="What a quick rating is about: CLAIM, POLICY, PAYMENT (an order), VISIT "
    "(a follow-up visit), STAFF (a staff member who served me), CONVERSATION (an "
    "online-service conversation of mine that has ended) or BOOKING (a booking of a "
    "value-added service of mine that was done).",
)
SURVEY_CODES = ErrorCodes(
    "SurveyErrorCode", "Why a survey answer or rating failed.", flows.SurveyError, PrivacyError
)


@answers_with(SURVEY_CODES)
@strawberry.type(description="A failed survey answer or rating.")
class SurveyError(Error):
    code: str = strawberry.field(graphql_type=SURVEY_CODES.enum, description=CODE)


async def _limit(info: Info, action: str, key: str, rate_name: str) -> None:
    """Guessing link tokens or flooding ratings: a THROTTLED SurveyError past the rate."""
    rate = getattr(info.context.services.settings, rate_name)
    decision = await info.context.services.limiter.hit(action, key, rate)
    if not decision.allowed:
        wait = decision.retry_after
        raise flows.SurveyError(
            flows.SurveyErrorCode.THROTTLED,
            f"操作过于频繁，请{wait_text(wait)}后再试",
            retry_after=wait,
        )


async def _limit_token_lookup(info: Info) -> None:
    await _limit(info, "survey_token:ip", info.context.client.ip_key, "limit_survey_token_per_ip")


@strawberry.type(description="One choice of a question.")
class SurveyOption:
    """Part of a template version, not an entity: its key (`fast`) is unique only within
    its question, so it has no `id` and a client cache keeps it inside its Survey."""

    key: str = strawberry.field(
        description="The option's key, unique within its question; given back in answers."
    )
    text: str = strawberry.field(description="The option, in Chinese.")


@strawberry.type(description="One question of a survey.")
class SurveyQuestion:
    """Part of a template version, not an entity: its key (`q1`) is unique only within
    the template, and every template has a `q1` — as an `id` it made a client cache show
    one survey's questions in another. It is kept inside its Survey instead."""

    key: str = strawberry.field(
        description="The question's key, unique within its survey; given back in answers."
    )
    kind: m.QuestionKind = strawberry.field(description="How it is answered.")
    text: str = strawberry.field(description="The question, in Chinese.")
    required: bool = strawberry.field(description="Whether it must be answered.")
    options: list[SurveyOption] = strawberry.field(description="Choices (choice questions).")


@strawberry.type(description="A survey the customer is invited to answer.")
class Survey(relay.Node):
    """One invitation of one customer to one template version: an entity (a row), its
    `id` passed to `submitSurvey`."""

    id: relay.NodeID[str]
    title: str = strawberry.field(description="The survey's title.")
    about: str | None = strawberry.field(
        description="What it asks about, as the customer knows it (e.g. 理赔案件BA2026…); "
        "null for a survey about the relationship as a whole."
    )
    template_version: int = strawberry.field(description="The version the answers belong to.")
    questions: list[SurveyQuestion] = strawberry.field(description="The questions, in order.")
    expires_at: datetime = strawberry.field(description="Answer before this.")
    answered: bool = strawberry.field(description="Whether it was answered already.")


async def survey_of(invitation: m.SurveyInvitation) -> Survey:
    template = await m.SurveyTemplate.get(id=invitation.template_id)
    return Survey(
        id=str(invitation.id),
        title=template.title,
        about=await flows.subject_title(invitation),
        template_version=template.version,
        questions=[
            SurveyQuestion(
                key=q["id"],
                kind=m.QuestionKind(q["kind"]),
                text=q["text"],
                required=bool(q.get("required")),
                options=[SurveyOption(key=o["id"], text=o["text"]) for o in q.get("options", [])],
            )
            for q in template.questions
        ],
        expires_at=local_time(invitation.expires_at),
        answered=invitation.answered_at is not None,
    )


# Survey IDs sent before the Survey had its own identity named the invitation; inbox
# entries and push messages already delivered still carry them.
LEGACY_SURVEY_TYPE = "SurveyInvitation"


def survey_uuid(global_id: relay.GlobalID) -> uuid.UUID:
    """The invitation behind a Survey's ID (or one sent as a SurveyInvitation's)."""
    if global_id.type_name == LEGACY_SURVEY_TYPE:
        global_id = relay.GlobalID("Survey", global_id.node_id)
    return node_uuid(global_id, "Survey")


async def survey_node(actor: Actor, object_id: uuid.UUID) -> Survey | None:
    """As `mySurveys`: a customer's own invitations (answered or expired ones too, so a
    client can refresh one); nobody else's, staff included."""
    if not actor.is_customer:
        return None
    row = await m.SurveyInvitation.get_or_none(id=object_id, customer_id=actor.subject_id)
    return await survey_of(row) if row else None


@strawberry.input(description="The answer to one question.")
class SurveyAnswerInput:
    question_key: str = strawberry.field(description="The question's `key`.")
    number: int | None = strawberry.field(default=None, description="RATING 1-5 or NPS 0-10.")
    choice_keys: list[str] | None = strawberry.field(
        default=None, description="The `key`s of the chosen options (choice questions)."
    )
    text: str | None = strawberry.field(default=None, description="Free text.")


@strawberry.input(description="Answers to a survey, logged in or by its link token.")
class SubmitSurveyInput:
    survey_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The survey's `id` (when logged in)."
    )
    token: str | None = strawberry.field(
        default=None, description="The link token (when answering from an SMS link)."
    )
    answers: list[SurveyAnswerInput] = strawberry.field(description="The answers.")
    channel: m.SurveyChannel = strawberry.field(
        default=m.SurveyChannel.APP,
        description="APP or MINI_PROGRAM when logged in; answers by token count as LINK.",
    )


@strawberry.type(description="The result of answering a survey.")
class SubmitSurveyPayload:
    accepted: bool = strawberry.field(description="True when the answers are recorded.")
    survey: Survey | None = strawberry.field(
        default=None, description="The survey, now `answered`; null when refused."
    )
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Rate a claim, policy, payment, visit or staff member of mine.")
class RateServiceInput:
    subject_type: RatingSubject = strawberry.field(description="What kind of thing is rated.")
    subject_id: relay.GlobalID = strawberry.field(
        description="What is rated: my Claim, Policy, PaymentOrder, MyVisit, a "
        "StaffMember who handled one of them, or my done ServiceBooking."
    )
    stars: int = strawberry.field(description="1-5.")
    tags: list[str] = strawberry.field(default_factory=list, description="Optional tags.")
    comment: str = strawberry.field(default="", description="Optional comment.")


@strawberry.type(description="My rating of a subject.")
class ServiceRating(relay.Node):
    """An entity: one row per customer and subject, changed by rating again."""

    id: relay.NodeID[str]
    stars: int = strawberry.field(description="1-5.")
    tags: list[str] = strawberry.field(description="Tags.")
    comment: str = strawberry.field(description="Comment.")

    @classmethod
    def from_model(cls, rating: m.ServiceRating) -> ServiceRating:
        return cls(id=str(rating.id), stars=rating.stars, tags=rating.tags, comment=rating.comment)


async def rating_node(actor: Actor, object_id: uuid.UUID) -> ServiceRating | None:
    """As `rateService` answers it: only the customer who rated sees a rating."""
    if not actor.is_customer:
        return None
    row = await m.ServiceRating.get_or_none(id=object_id, customer_id=actor.subject_id)
    return ServiceRating.from_model(row) if row else None


@strawberry.type(description="The result of rating.")
class RateServicePayload:
    rating: ServiceRating | None = strawberry.field(description="As saved.")
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


strawberry.enum(flows.FigureGroup, description="How service figures are grouped.")


@strawberry.type(description="Service-quality figures of one group, with their counts.")
class SurveyFigure:
    """A computed figure, not an entity: it exists only for the period and grouping
    asked, so it has no `id` (its `key` names the group within one answer)."""

    key: str = strawberry.field(description="The group: a day, week, month, kind, ...")
    responses: int = strawberry.field(description="Surveys answered.")
    ratings: int = strawberry.field(description="Rating answers (1-5) behind CSAT.")
    csat: Decimal | None = strawberry.field(description="Share of ratings of 4-5, in %.")
    average_rating: Decimal | None = strawberry.field(description="Average rating (1-5).")
    nps_answers: int = strawberry.field(description="NPS answers behind the NPS.")
    nps: Decimal | None = strawberry.field(description="Promoters % minus detractors %.")
    invitations: int | None = strawberry.field(description="Invitations (period groups).")
    response_rate: Decimal | None = strawberry.field(description="Responses / invitations, %.")


@strawberry.type(description="A call back to an unhappy customer (服务补救), due in 24 hours.")
class RecoveryTask(relay.Node):
    """An entity (a row): its `id` is passed to `completeRecoveryTask`."""

    id: relay.NodeID[str]
    customer_name: str = strawberry.field(description="Whom to call.")
    customer_phone: str = strawberry.field(description="Their phone, masked.")
    reason: str = strawberry.field(description="Why, in Chinese.")
    source: str = strawberry.field(description="`survey`, `rating` or `visit`.")
    due_at: datetime = strawberry.field(description="Call before this.")
    overdue: bool = strawberry.field(description="Past due and not done.")
    done_at: datetime | None = strawberry.field(description="When it was done.")
    outcome: str = strawberry.field(description="What was agreed.")

    @classmethod
    def from_model(cls, task: m.RecoveryTask) -> RecoveryTask:
        """``task`` with its customer fetched."""
        return cls(
            id=str(task.id),
            customer_name=task.customer.name,
            customer_phone=task.customer.phone_masked,
            reason=task.reason,
            source=task.source,
            due_at=local_time(task.due_at),
            overdue=task.done_at is None and task.due_at < datetime.now(UTC),
            done_at=local_time(task.done_at) if task.done_at else None,
            outcome=task.outcome,
        )


async def recovery_task_node(actor: Actor, object_id: uuid.UUID) -> RecoveryTask | None:
    """As `recoveryTasks`: staff with SURVEY_READ."""
    if not actor.can(Permission.SURVEY_READ):
        return None
    row = await m.RecoveryTask.filter(id=object_id).select_related("customer").first()
    return RecoveryTask.from_model(row) if row else None


@strawberry.input(description="One choice of a new question.")
class SurveyOptionInput:
    key: str = strawberry.field(description="Its key, unique within the question, e.g. `fast`.")
    text: str = strawberry.field(description="The option, in Chinese.")


@strawberry.input(description="One question of a new template version.")
class SurveyQuestionInput:
    key: str = strawberry.field(description="Its key, unique within the template, e.g. `q1`.")
    kind: m.QuestionKind = strawberry.field(description="How it is answered.")
    text: str = strawberry.field(description="The question, in Chinese.")
    required: bool = strawberry.field(default=True, description="Must be answered.")
    options: list[SurveyOptionInput] = strawberry.field(
        default_factory=list, description="Choices (choice questions, at least two)."
    )


@strawberry.input(description="Staff: a new version of a survey template.")
class CreateSurveyTemplateVersionInput:
    code: str = strawberry.field(description="Template code, e.g. `CLAIM_SERVICE`.")
    title: str = strawberry.field(description="Title, in Chinese.")
    questions: list[SurveyQuestionInput] = strawberry.field(description="The questions.")


@strawberry.type(description="The result of creating a template version.")
class SurveyTemplatePayload:
    code: str | None = strawberry.field(description="The template code.")
    version: int | None = strawberry.field(description="The new version number.")
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Close a recovery task with its outcome.")
class CompleteRecoveryTaskInput:
    task_id: relay.GlobalID = strawberry.field(description="The task.")
    outcome: str = strawberry.field(description="What was agreed with the customer.")


@strawberry.type(description="The result of completing a recovery task.")
class CompleteRecoveryTaskPayload:
    completed: bool = strawberry.field(description="True when closed now.")
    task: RecoveryTask | None = strawberry.field(
        default=None, description="The task, now done with its outcome; null when refused."
    )
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="The full phone number for a recovery call.")
class RevealRecoveryPhoneInput:
    task_id: relay.GlobalID = strawberry.field(description="The open recovery task.")
    purpose: str = strawberry.field(
        description="Why you need the full number (4–200 characters), e.g. "
        "`回访客户确认理赔满意度`; "
        "logged with the read and shown to auditors (required since the PII access log)."
    )


@strawberry.type(description="The customer's full phone number (the look is logged).")
class RevealRecoveryPhonePayload:
    phone: str | None = strawberry.field(description="The number to call.")
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


@strawberry.type
class SurveyQueries:
    @strawberry.field(
        description="Staff (SURVEY_READ): recovery tasks, the most urgent first.",
        permission_classes=staff_only(Permission.SURVEY_READ),
    )
    async def recovery_tasks(
        self,
        open_only: Annotated[bool, strawberry.argument(description="Only open ones.")] = True,
    ) -> list[RecoveryTask]:
        queryset = m.RecoveryTask.all().select_related("customer")
        if open_only:
            queryset = queryset.filter(done_at=None)
        return [RecoveryTask.from_model(t) for t in await queryset.order_by("due_at").limit(200)]

    @strawberry.field(
        description="Staff (SURVEY_READ): CSAT, NPS, average rating and response rate per "
        "group, between two days (Asia/Shanghai, inclusive).",
        permission_classes=staff_only(Permission.SURVEY_READ),
    )
    async def survey_figures(
        self,
        group_by: Annotated[flows.FigureGroup, strawberry.argument(description="Grouping.")],
        first_day: Annotated[date, strawberry.argument(description="From this day.")],
        last_day: Annotated[date, strawberry.argument(description="To this day.")],
    ) -> list[SurveyFigure]:
        rows = await flows.figures(group_by, first_day.isoformat(), last_day.isoformat())
        return [
            SurveyFigure(
                key=f.key,
                responses=f.responses,
                ratings=f.ratings,
                csat=f.csat,
                average_rating=f.average_rating,
                nps_answers=f.nps_answers,
                nps=f.nps,
                invitations=f.invitations,
                response_rate=f.response_rate,
            )
            for f in rows
        ]

    @strawberry.field(
        description="Surveys I am invited to and have not answered.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_surveys(self, info: Info) -> list[Survey]:
        pending = await m.SurveyInvitation.filter(
            customer_id=info.context.actor.subject_id,
            answered_at=None,
            expires_at__gt=datetime.now(UTC),
        ).order_by("-created_at")
        return [await survey_of(invitation) for invitation in pending]

    @strawberry.field(description="The one survey a link token opens (no login needed).")
    async def survey_by_token(
        self,
        info: Info,
        token: Annotated[str, strawberry.argument(description="The link token.")],
    ) -> Survey | None:
        try:
            await _limit_token_lookup(info)
        except flows.SurveyError as error:
            raise ThrottledError(error.message, error.retry_after or 1) from None
        invitation = await flows.by_token(info.context.services.survey_links, token)
        return await survey_of(invitation) if invitation else None


@strawberry.type
class SurveyMutations:
    @strawberry.mutation(
        description="Staff (SURVEY_MANAGE): publish a new version of a survey template; "
        "open invitations keep the version they were made for.",
        permission_classes=staff_only(Permission.SURVEY_MANAGE),
    )
    async def create_survey_template_version(
        self,
        input: Annotated[
            CreateSurveyTemplateVersionInput,
            strawberry.argument(
                description="The template code, its title and every question of the new version."
            ),
        ],
    ) -> SurveyTemplatePayload:
        questions = [
            {
                "id": q.key.strip(),
                "kind": str(q.kind),
                "text": q.text,
                "required": q.required,
                "options": [{"id": o.key.strip(), "text": o.text} for o in q.options],
            }
            for q in input.questions
        ]
        try:
            template = await flows.new_template_version(input.code, input.title, questions)
        except flows.SurveyError as error:
            return SurveyTemplatePayload(
                code=None, version=None, errors=payload_errors(error, SurveyError)
            )
        return SurveyTemplatePayload(code=template.code, version=template.version, errors=[])

    @strawberry.mutation(
        description="Staff (SURVEY_READ): record the outcome of a recovery call.",
        permission_classes=staff_only(Permission.SURVEY_READ),
    )
    async def complete_recovery_task(
        self,
        info: Info,
        input: Annotated[
            CompleteRecoveryTaskInput,
            strawberry.argument(description="The open task and what was agreed on the call."),
        ],
    ) -> CompleteRecoveryTaskPayload:
        outcome = input.outcome.strip()
        if not outcome:
            error = flows.SurveyError(flows.SurveyErrorCode.REQUIRED, "请填写回访结果", "outcome")
            return CompleteRecoveryTaskPayload(
                completed=False, errors=payload_errors(error, SurveyError)
            )
        task_id = node_uuid(input.task_id, "RecoveryTask")
        closed = await flows.complete_recovery(info.context.actor.subject_id, task_id, outcome)
        if not closed:
            error = flows.SurveyError(flows.SurveyErrorCode.NOT_FOUND, "未找到待处理的回访任务")
            return CompleteRecoveryTaskPayload(
                completed=False, errors=payload_errors(error, SurveyError)
            )
        task = await m.RecoveryTask.get(id=task_id).select_related("customer")
        return CompleteRecoveryTaskPayload(
            completed=True, task=RecoveryTask.from_model(task), errors=[]
        )

    @strawberry.mutation(
        description="Staff (SURVEY_READ): the customer's full phone number for an open "
        "recovery task. The queue shows it masked; each look is logged.",
        permission_classes=staff_only(Permission.SURVEY_READ),
    )
    async def reveal_recovery_phone(
        self,
        info: Info,
        input: Annotated[
            RevealRecoveryPhoneInput,
            strawberry.argument(description="The open recovery task whose customer to call."),
        ],
    ) -> RevealRecoveryPhonePayload:
        try:
            phone = await flows.recovery_phone(
                info.context.actor,
                info.context.services.pii,
                node_uuid(input.task_id, "RecoveryTask"),
                input.purpose,
                info.context.services.reveal_limits,
            )
        except (flows.SurveyError, PrivacyError) as error:
            return RevealRecoveryPhonePayload(phone=None, errors=payload_errors(error, SurveyError))
        return RevealRecoveryPhonePayload(phone=phone, errors=[])

    @strawberry.mutation(description="Answer a survey (logged in, or with its link token).")
    async def submit_survey(
        self,
        info: Info,
        input: Annotated[
            SubmitSurveyInput,
            strawberry.argument(
                description="The invitation (logged in) or link token, and the answers; the "
                "same answers again are a retry."
            ),
        ],
    ) -> SubmitSurveyPayload:
        invitation = None
        if input.token:
            try:
                await _limit_token_lookup(info)
            except flows.SurveyError as throttled:
                return SubmitSurveyPayload(
                    accepted=False, errors=payload_errors(throttled, SurveyError)
                )
            invitation = await flows.by_token(info.context.services.survey_links, input.token)
        elif input.survey_id is not None and info.context.actor.is_customer:
            invitation = await m.SurveyInvitation.get_or_none(
                id=survey_uuid(input.survey_id), customer_id=info.context.actor.subject_id
            )
        if invitation is None:
            error = flows.SurveyError(flows.SurveyErrorCode.NOT_FOUND, "未找到该问卷")
            return SubmitSurveyPayload(accepted=False, errors=payload_errors(error, SurveyError))
        answers = [
            flows.Answer(a.question_key, a.number, tuple(a.choice_keys or ()), a.text)
            for a in input.answers
        ]
        channel = m.SurveyChannel.LINK if input.token else input.channel
        if channel is m.SurveyChannel.THIRD_PARTY:
            error = flows.SurveyError(
                flows.SurveyErrorCode.OUT_OF_RANGE, "该渠道仅用于第三方导入", "channel"
            )
            return SubmitSurveyPayload(accepted=False, errors=payload_errors(error, SurveyError))
        try:
            await flows.submit(invitation, answers, channel)
        except flows.SurveyError as error:
            return SubmitSurveyPayload(accepted=False, errors=payload_errors(error, SurveyError))
        await invitation.refresh_from_db()
        return SubmitSurveyPayload(accepted=True, survey=await survey_of(invitation), errors=[])

    @strawberry.mutation(
        description="Rate a service moment (updatable).", permission_classes=CUSTOMER_ONLY
    )
    async def rate_service(
        self,
        info: Info,
        input: Annotated[
            RateServiceInput,
            strawberry.argument(
                description="What is rated (one of mine), the stars and an optional comment; "
                "rating it again replaces my rating."
            ),
        ],
    ) -> RateServicePayload:
        customer_id: uuid.UUID = info.context.actor.subject_id
        try:
            await _limit(info, "ratings", str(customer_id), "limit_ratings_per_customer")
            rating = await flows.rate(
                customer_id,
                input.subject_type.value,
                str(input.subject_id),
                input.stars,
                input.tags,
                input.comment,
            )
        except flows.SurveyError as error:
            return RateServicePayload(rating=None, errors=payload_errors(error, SurveyError))
        return RateServicePayload(rating=ServiceRating.from_model(rating), errors=[])
