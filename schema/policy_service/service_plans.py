"""Customised service plans (定制化服务) in GraphQL: the questionnaire the app renders,
submitting it for a plan, my latest plan, and marking interest in a suggested product
(which puts a follow-up visit on the agents' list; staff read the plan on that visit)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.clock import local_time
from models.policies import Product as ProductModel
from models.policies import ProductKind
from models.service_plans import ServicePlan as ServicePlanModel
from models.service_plans import ServicePlanInterest
from schema.common import node_uuid
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated
from schema.policies.types import Product
from schema.visits import MyVisit
from workflows.access import Actor
from workflows.idempotency import IdempotencyError
from workflows.limits import wait_text
from workflows.policy_service import service_plans as flows

strawberry.enum(flows.IncomeBand, description="A household's yearly income, in bands.")
strawberry.enum(flows.RiskAttitude, description="How much risk a customer is willing to carry.")
strawberry.enum(
    flows.QuestionKind,
    name="ServiceQuestionKind",
    description="How a questionnaire question is answered: YES_NO (a Boolean), COUNT (a "
    "whole number within min and max), AGES (a list of at most maxItems ages, each within "
    "min and max), CHOICE (one option's key).",
)
strawberry.enum(flows.Priority, name="CoverGapPriority", description="How pressing a gap is.")
strawberry.enum(
    flows.CoverRole, description="How the customer is on an in-force policy: holder or insured."
)
SERVICE_PLAN_CODES = ErrorCodes(
    "ServicePlanErrorCode",
    "Why a service-plan action failed.",
    flows.ServicePlanError,
    IdempotencyError,
)


@answers_with(SERVICE_PLAN_CODES)
@strawberry.type(description="A failed service-plan action.")
class ServicePlanError(Error):
    code: str = strawberry.field(graphql_type=SERVICE_PLAN_CODES.enum, description=CODE)


# ---------------------------------------------------------------- the questionnaire


@strawberry.type(description="One answer a CHOICE question offers.")
class ServiceQuestionOption:
    """Part of the questionnaire's version, not an entity (its key is unique only within
    its question)."""

    key: str = strawberry.field(description="The enum value to send for this answer.")
    text: str = strawberry.field(description="The answer, in Chinese.")


@strawberry.type(description="One question of the needs and risk-tolerance questionnaire.")
class ServiceQuestion:
    """Part of the questionnaire's version, not an entity: no `id`."""

    key: str = strawberry.field(
        description="The field of `SubmitServiceQuestionnaireInput` that carries the answer."
    )
    text: str = strawberry.field(description="The question, in Chinese.")
    hint: str = strawberry.field(description="A short help text in Chinese; may be empty.")
    kind: flows.QuestionKind = strawberry.field(description="How it is answered.")
    options: list[ServiceQuestionOption] = strawberry.field(
        description="CHOICE: the answers to choose from; empty otherwise."
    )
    min: int | None = strawberry.field(description="COUNT, AGES: the smallest number allowed.")
    max: int | None = strawberry.field(description="COUNT, AGES: the largest number allowed.")
    max_items: int | None = strawberry.field(description="AGES: how many ages at most.")


@strawberry.type(description="The needs and risk-tolerance questionnaire, as the app renders it.")
class ServiceQuestionnaire:
    version: str = strawberry.field(description="The questionnaire's version.")
    questions: list[ServiceQuestion] = strawberry.field(description="The questions, in order.")


def _questionnaire() -> ServiceQuestionnaire:
    return ServiceQuestionnaire(
        version=flows.QUESTIONNAIRE_VERSION,
        questions=[
            ServiceQuestion(
                key=q.key,
                text=q.text,
                hint=q.hint,
                kind=q.kind,
                options=[ServiceQuestionOption(key=o.key, text=o.text) for o in q.options],
                min=q.min,
                max=q.max,
                max_items=q.max_items,
            )
            for q in flows.QUESTIONS
        ],
    )


# ---------------------------------------------------------------- the plan


@strawberry.type(description="A fact a rule read, with the value it had when the plan was made.")
class ServicePlanFact:
    name: str = strawberry.field(description="The fact's stable name, e.g. `dependents`.")
    label: str = strawberry.field(description="What it means, in Chinese.")
    value: str = strawberry.field(description="Its value then: true, false, a number or a code.")


def _facts(values: dict[str, Any]) -> list[ServicePlanFact]:
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [
        ServicePlanFact(name=name, label=flows.FACT_LABELS.get(name, name), value=text(value))
        for name, value in values.items()
    ]


@strawberry.type(description="The answers a plan was made from.")
class ServicePlanAnswers:
    has_spouse: bool = strawberry.field(description="Married (has a spouse).")
    children_ages: list[int] = strawberry.field(description="The children's ages.")
    parents_over_60: int = strawberry.field(description="Parents over 60 the customer cares for.")
    income_band: flows.IncomeBand = strawberry.field(description="Household income band.")
    has_social_medical_insurance: bool = strawberry.field(
        description="Has the social basic medical insurance (医保)."
    )
    owns_car: bool = strawberry.field(description="The household has a car.")
    travels_abroad: bool = strawberry.field(description="Travels abroad (holidays or business).")
    risk_attitude: flows.RiskAttitude = strawberry.field(description="Attitude to risk.")


@strawberry.type(description="An in-force policy the customer held or was insured by.")
class ExistingCover:
    """A snapshot taken when the plan was made (policies change later)."""

    policy_number: str = strawberry.field(description="The policy number.")
    product_name: str = strawberry.field(description="The product, in Chinese.")
    kind: ProductKind = strawberry.field(description="Its line of business.")
    role: flows.CoverRole = strawberry.field(description="Holder or insured.")
    covers: list[str] = strawberry.field(
        description="Whom it covers, from the customer's side: SELF, and for policies they "
        "hold, the relations of the other insured persons (SPOUSE, CHILD, PARENT, OTHER)."
    )
    ends_on: date = strawberry.field(description="Its last day (Asia/Shanghai).")


@strawberry.type(description="A gap in cover, the rule that found it and why.")
class CoverGap:
    code: str = strawberry.field(
        description="The rule's stable code: BREADWINNER_NO_ACCIDENT, NO_MEDICAL_COVER, "
        "SELF_NO_HEALTH, CHILDREN_NO_HEALTH, SPOUSE_NO_HEALTH, PARENTS_NO_ACCIDENT, "
        "PARENTS_NO_HEALTH, ABROAD_NO_TRAVEL, CAR_NO_AUTO, ADVENTUROUS_NO_ACCIDENT, "
        "CONSERVATIVE_NO_PROPERTY (see `ruleVersion`)."
    )
    kind: ProductKind = strawberry.field(description="The kind of product that closes it.")
    priority: flows.Priority = strawberry.field(description="How pressing it is.")
    reason: str = strawberry.field(description="Why, in Chinese, for the customer.")
    facts: list[ServicePlanFact] = strawberry.field(description="The facts that fired the rule.")
    products: list[Product] = strawberry.field(
        description="Products of that kind sold online that the plan suggests; empty when "
        "none is sold online."
    )


@strawberry.type(description="A product the plan suggests, and whether I asked to hear more.")
class SuggestedProduct:
    product: Product = strawberry.field(description="The product (sold online).")
    gap_codes: list[str] = strawberry.field(description="The gaps it would close.")
    interested: bool = strawberry.field(
        description="Interest was marked: an agent follows up (`markServicePlanInterest`)."
    )


@strawberry.type(description="A service suggestion (health check-up, roadside assistance …).")
class ServiceSuggestion:
    code: str = strawberry.field(description="The rule's stable code, e.g. ROADSIDE_ASSISTANCE.")
    title: str = strawberry.field(description="The service, in Chinese.")
    text: str = strawberry.field(description="What it offers, in Chinese.")
    facts: list[ServicePlanFact] = strawberry.field(
        description="The facts that fired it (empty: suggested to everyone)."
    )


@strawberry.type(description="A customised service plan (定制化服务方案).")
class ServicePlan(relay.Node):
    """Made from one questionnaire and the customer's in-force policies then; a new
    questionnaire makes a new plan. Customers see their own; staff who work the visit
    list see a plan whose customer asked to be followed up on it (each look is logged)."""

    id: relay.NodeID[str]
    created_at: datetime = strawberry.field(description="When it was made (Asia/Shanghai).")
    questionnaire_version: str = strawberry.field(description="The questionnaire answered.")
    rule_version: str = strawberry.field(description="The version of the rules applied.")
    answers: ServicePlanAnswers = strawberry.field(description="What the customer answered.")
    existing_cover: list[ExistingCover] = strawberry.field(
        description="In-force policies the customer held or was insured by, then."
    )
    gaps: list[CoverGap] = strawberry.field(description="Gaps in cover, most pressing first.")
    suggested_products: list[SuggestedProduct] = strawberry.field(
        description="Every product suggested for the gaps, once each, in the gaps' order."
    )
    service_suggestions: list[ServiceSuggestion] = strawberry.field(
        description="Services worth using (texts for now)."
    )


async def to_plan(plan: ServicePlanModel) -> ServicePlan:
    """Two reads: the suggested products, and the interests marked."""
    suggested = flows.suggested_product_ids(plan)
    products = {p.id: p for p in await ProductModel.filter(id__in=suggested)} if suggested else {}
    interested = set(
        await ServicePlanInterest.filter(plan_id=plan.id).values_list("product_id", flat=True)
    )
    answers = flows.Answers.from_dict(plan.answers)
    gaps = [
        CoverGap(
            code=gap["code"],
            kind=ProductKind(gap["kind"]),
            priority=flows.Priority(gap["priority"]),
            reason=gap["reason"],
            facts=_facts(gap["facts"]),
            products=[
                Product.from_model(products[uuid.UUID(pid)])
                for pid in gap["product_ids"]
                if uuid.UUID(pid) in products
            ],
        )
        for gap in plan.gaps
    ]
    return ServicePlan(
        id=str(plan.id),
        created_at=local_time(plan.created_at),
        questionnaire_version=plan.questionnaire_version,
        rule_version=plan.rule_version,
        answers=ServicePlanAnswers(
            has_spouse=answers.has_spouse,
            children_ages=list(answers.children_ages),
            parents_over_60=answers.parents_over_60,
            income_band=answers.income_band,
            has_social_medical_insurance=answers.has_social_medical_insurance,
            owns_car=answers.owns_car,
            travels_abroad=answers.travels_abroad,
            risk_attitude=answers.risk_attitude,
        ),
        existing_cover=[
            ExistingCover(
                policy_number=item["policy_number"],
                product_name=item["product_name"],
                kind=ProductKind(item["kind"]),
                role=flows.CoverRole(item["role"]),
                covers=list(item["covers"]),
                ends_on=date.fromisoformat(item["ends_on"]),
            )
            for item in plan.existing_cover
        ],
        gaps=gaps,
        suggested_products=[
            SuggestedProduct(
                product=Product.from_model(products[pid]),
                gap_codes=[g["code"] for g in plan.gaps if str(pid) in g["product_ids"]],
                interested=pid in interested,
            )
            for pid in suggested
            if pid in products
        ],
        service_suggestions=[
            ServiceSuggestion(
                code=s["code"], title=s["title"], text=s["text"], facts=_facts(s["facts"])
            )
            for s in plan.services
        ],
    )


async def service_plan_node(actor: Actor, object_id: uuid.UUID) -> ServicePlan | None:
    """A customer's own plan; staff (VISIT_HANDLE) a plan a visit carries; logged."""
    plan = await flows.plan_for(actor, object_id)
    return await to_plan(plan) if plan else None


async def service_plan_of_visit(actor: Actor, visit_id: uuid.UUID) -> ServicePlan | None:
    """`FollowUpVisit.servicePlan`."""
    plan = await flows.plan_of_visit(actor, visit_id)
    return await to_plan(plan) if plan else None


@strawberry.type
class ServicePlanQueries:
    @strawberry.field(
        description="The needs and risk-tolerance questionnaire, for the app to render.",
        permission_classes=[IsAuthenticated],
    )
    def service_questionnaire(self) -> ServiceQuestionnaire:
        return _questionnaire()

    @strawberry.field(
        description="My latest service plan; null before I answer the questionnaire.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_service_plan(self, info: Info) -> ServicePlan | None:
        plan = await flows.latest_plan(info.context.actor.subject_id)
        return await to_plan(plan) if plan else None


# ---------------------------------------------------------------- mutations


@strawberry.input(description="My answers to the needs and risk-tolerance questionnaire.")
class SubmitServiceQuestionnaireInput:
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): a retry returns the same plan."
    )
    has_spouse: bool = strawberry.field(description="Married (has a spouse).")
    children_ages: list[int] = strawberry.field(
        description="Each child's age (0-30), at most 6; empty without children."
    )
    parents_over_60: int = strawberry.field(
        description="Parents (and parents-in-law) over 60 I care for (0-4)."
    )
    income_band: flows.IncomeBand = strawberry.field(description="Household income band.")
    has_social_medical_insurance: bool = strawberry.field(
        description="I have the social basic medical insurance (医保)."
    )
    owns_car: bool = strawberry.field(description="The household has a car.")
    travels_abroad: bool = strawberry.field(description="I travel abroad (holidays or business).")
    risk_attitude: flows.RiskAttitude = strawberry.field(description="My attitude to risk.")

    def to_answers(self) -> flows.Answers:
        return flows.Answers(
            has_spouse=self.has_spouse,
            children_ages=tuple(self.children_ages),
            parents_over_60=self.parents_over_60,
            income_band=self.income_band,
            has_social_medical_insurance=self.has_social_medical_insurance,
            owns_car=self.owns_car,
            travels_abroad=self.travels_abroad,
            risk_attitude=self.risk_attitude,
        )


@strawberry.type(description="The plan made from my answers.")
class ServicePlanPayload:
    plan: ServicePlan | None = strawberry.field(description="The new plan; null when refused.")
    errors: list[ServicePlanError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="I would like an agent to tell me about a suggested product.")
class MarkServicePlanInterestInput:
    plan_id: relay.GlobalID = strawberry.field(description="My ServicePlan's `id`.")
    product_id: relay.GlobalID = strawberry.field(
        description="The Product's `id`; one of the plan's `suggestedProducts`."
    )


@strawberry.type(description="My plan with the interest marked, and the visit it arranged.")
class ServicePlanInterestPayload:
    plan: ServicePlan | None = strawberry.field(
        description="The plan (`suggestedProducts.interested` now true); null when refused."
    )
    visit: MyVisit | None = strawberry.field(
        description="The follow-up visit an agent will make (the same one when marked again)."
    )
    errors: list[ServicePlanError] = strawberry.field(description="Empty on success.")


async def _limit(info: Info) -> None:
    """Each new plan reads the customer's policies and is stored: THROTTLED past the
    rate (a replay of the same idempotency key is not counted)."""
    rate = info.context.services.settings.limit_service_plans_per_customer
    decision = await info.context.services.limiter.hit(
        "service_plan:customer", str(info.context.actor.subject_id), rate
    )
    if not decision.allowed:
        wait = decision.retry_after
        raise flows.ServicePlanError(
            flows.ServicePlanErrorCode.THROTTLED,
            f"提交过于频繁，请{wait_text(wait)}后再试",
            retry_after=wait,
        )


@strawberry.type
class ServicePlanMutations:
    @strawberry.mutation(
        description="Answer the questionnaire: a new service plan from my answers and my "
        "in-force policies (rate-limited per customer).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def submit_service_questionnaire(
        self,
        info: Info,
        input: Annotated[
            SubmitServiceQuestionnaireInput,
            strawberry.argument(description="My answers and an idempotency key."),
        ],
    ) -> ServicePlanPayload:
        try:
            plan = await flows.submit_questionnaire(
                info.context.actor.subject_id,
                input.to_answers(),
                input.idempotency_key,
                first=lambda: _limit(info),
            )
        except (flows.ServicePlanError, IdempotencyError) as error:
            return ServicePlanPayload(plan=None, errors=payload_errors(error, ServicePlanError))
        return ServicePlanPayload(plan=await to_plan(plan), errors=[])

    @strawberry.mutation(
        description="Ask an agent to follow up on a product my plan suggests: a follow-up "
        "visit on the agents' list, once per plan and product.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def mark_service_plan_interest(
        self,
        info: Info,
        input: Annotated[
            MarkServicePlanInterestInput,
            strawberry.argument(description="My plan and the suggested product."),
        ],
    ) -> ServicePlanInterestPayload:
        try:
            interest = await flows.mark_interest(
                info.context.actor.subject_id,
                node_uuid(input.plan_id, "ServicePlan"),
                node_uuid(input.product_id, "Product"),
            )
        except flows.ServicePlanError as error:
            return ServicePlanInterestPayload(
                plan=None, visit=None, errors=payload_errors(error, ServicePlanError)
            )
        visit = None
        if interest.visit is not None:
            await interest.visit.fetch_related("policy")
            visit = MyVisit.from_model(interest.visit)
        return ServicePlanInterestPayload(plan=await to_plan(interest.plan), visit=visit, errors=[])
