"""Customised service plans (定制化服务): a short needs and risk-tolerance questionnaire
makes a plan from the customer's answers and their own in-force policies.

Everything the plan says is data in this module, versioned:

- ``QUESTIONS``: the questionnaire the app renders (Chinese texts, bounded answers).
- ``facts``: what the rules read — the answers, and what the customer's in-force
  policies (as holder or insured) cover: themselves, and the family members insured on
  the policies they hold.
- ``GAP_RULES``: explainable rules, each a stable code, the kind of product that closes
  the gap, a priority, conditions over the facts (all must hold) and a Chinese reason.
  A gap stores the facts that fired it, so a plan explains itself later even after the
  rules change (``RULE_VERSION`` is stored with it).
- ``SERVICE_RULES``: service suggestions (health check-up, roadside assistance …) as
  texts, fired the same way.

Suggested products come only from this insurer's catalogue of products sold online
(``Product.sold_online``) of the kind a gap needs; none sold online, none suggested.

A customer marks interest in a suggested product: the interest (one per plan and
product, the database's unique pair) and a NEW_POLICY_INTEREST follow-up visit for an
agent are written in one transaction; asking twice, or twice at once, answers the same
visit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.policies import InsuredPerson, Policy, PolicyStatus, Product, ProductKind
from models.service_plans import ServicePlan, ServicePlanInterest
from models.visits import FollowUpVisit
from workflows.access import Actor, Permission
from workflows.errors import DomainError
from workflows.idempotency import once
from workflows.visits import VisitError, plan_interest_visit

security = logging.getLogger("anxin.security")

QUESTIONNAIRE_VERSION = "1"
RULE_VERSION = "2026.12-1"
MAX_CHILDREN = 6
MAX_CHILD_AGE = 30
MAX_PARENTS = 4
INTEREST_PURPOSE = "新保单意向回访"


class ServicePlanErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"  # no such plan of yours
    INVALID_ANSWER = "INVALID_ANSWER"  # an answer outside its bounds
    NOT_SUGGESTED = "NOT_SUGGESTED"  # the product is not one this plan suggests
    THROTTLED = "THROTTLED"  # too many questionnaires: wait
    FOLLOW_UP_UNAVAILABLE = "FOLLOW_UP_UNAVAILABLE"  # the visit rule is switched off


class ServicePlanError(DomainError):
    codes = ServicePlanErrorCode


# ---------------------------------------------------------------- the questionnaire


class IncomeBand(StrEnum):
    UNDER_100K = "UNDER_100K"
    FROM_100K_TO_300K = "FROM_100K_TO_300K"
    FROM_300K_TO_1M = "FROM_300K_TO_1M"
    OVER_1M = "OVER_1M"


class RiskAttitude(StrEnum):
    CONSERVATIVE = "CONSERVATIVE"
    BALANCED = "BALANCED"
    ADVENTUROUS = "ADVENTUROUS"


class QuestionKind(StrEnum):
    YES_NO = "YES_NO"
    COUNT = "COUNT"  # a whole number between min and max
    AGES = "AGES"  # a list of at most max_items ages, each between min and max
    CHOICE = "CHOICE"  # one of the options


@dataclass(frozen=True)
class Option:
    key: str  # the enum value the answer carries
    text: str


@dataclass(frozen=True)
class Question:
    key: str  # the field of the submit input (camelCase), as the app sends it
    text: str
    kind: QuestionKind
    hint: str = ""
    options: tuple[Option, ...] = ()
    min: int | None = None
    max: int | None = None
    max_items: int | None = None


QUESTIONS: tuple[Question, ...] = (
    Question("hasSpouse", "您目前是否已婚（有配偶）？", QuestionKind.YES_NO),
    Question(
        "childrenAges",
        "您的子女分别几岁？",
        QuestionKind.AGES,
        hint="每个孩子填一个年龄；没有子女请留空",
        min=0,
        max=MAX_CHILD_AGE,
        max_items=MAX_CHILDREN,
    ),
    Question(
        "parentsOver60",
        "需要您照顾的60岁以上的父母（含配偶父母）有几位？",
        QuestionKind.COUNT,
        min=0,
        max=MAX_PARENTS,
    ),
    Question(
        "incomeBand",
        "您的家庭年收入大约是多少？",
        QuestionKind.CHOICE,
        options=(
            Option(IncomeBand.UNDER_100K, "10万元以下"),
            Option(IncomeBand.FROM_100K_TO_300K, "10万至30万元"),
            Option(IncomeBand.FROM_300K_TO_1M, "30万至100万元"),
            Option(IncomeBand.OVER_1M, "100万元以上"),
        ),
    ),
    Question(
        "hasSocialMedicalInsurance",
        "您是否参加了社会基本医疗保险（医保）？",
        QuestionKind.YES_NO,
    ),
    Question("ownsCar", "您家里是否有车？", QuestionKind.YES_NO),
    Question("travelsAbroad", "您每年是否会出境旅行或出差？", QuestionKind.YES_NO),
    Question(
        "riskAttitude",
        "面对生活中的风险，您更接近哪种态度？",
        QuestionKind.CHOICE,
        options=(
            Option(RiskAttitude.CONSERVATIVE, "稳健：宁可多花一点，也要保障全面"),
            Option(RiskAttitude.BALANCED, "平衡：重要的风险要保，小风险自己承担"),
            Option(RiskAttitude.ADVENTUROUS, "进取：只保大风险，其余自己扛"),
        ),
    ),
)


@dataclass(frozen=True)
class Answers:
    """One customer's answers, keyed like ``QUESTIONS`` (snake_case here)."""

    has_spouse: bool
    children_ages: tuple[int, ...]
    parents_over_60: int
    income_band: IncomeBand
    has_social_medical_insurance: bool
    owns_car: bool
    travels_abroad: bool
    risk_attitude: RiskAttitude

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["children_ages"] = list(self.children_ages)
        values["income_band"] = self.income_band.value
        values["risk_attitude"] = self.risk_attitude.value
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Answers:
        return cls(
            has_spouse=bool(values["has_spouse"]),
            children_ages=tuple(int(a) for a in values["children_ages"]),
            parents_over_60=int(values["parents_over_60"]),
            income_band=IncomeBand(values["income_band"]),
            has_social_medical_insurance=bool(values["has_social_medical_insurance"]),
            owns_car=bool(values["owns_car"]),
            travels_abroad=bool(values["travels_abroad"]),
            risk_attitude=RiskAttitude(values["risk_attitude"]),
        )


def check_answers(answers: Answers) -> None:
    """The bounds the questionnaire states; INVALID_ANSWER naming the field otherwise."""
    if len(answers.children_ages) > MAX_CHILDREN:
        raise ServicePlanError(
            ServicePlanErrorCode.INVALID_ANSWER,
            f"子女最多填写{MAX_CHILDREN}位",
            "childrenAges",
        )
    if any(not 0 <= age <= MAX_CHILD_AGE for age in answers.children_ages):
        raise ServicePlanError(
            ServicePlanErrorCode.INVALID_ANSWER,
            f"子女年龄须在0到{MAX_CHILD_AGE}岁之间",
            "childrenAges",
        )
    if not 0 <= answers.parents_over_60 <= MAX_PARENTS:
        raise ServicePlanError(
            ServicePlanErrorCode.INVALID_ANSWER,
            f"60岁以上父母人数须在0到{MAX_PARENTS}之间",
            "parentsOver60",
        )


# ---------------------------------------------------------------- the rules


class CoverRole(StrEnum):
    HOLDER = "HOLDER"
    INSURED = "INSURED"


class Priority(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


# (fact, operator, value); operators: "==", ">=", "in".
Condition = tuple[str, str, Any]


@dataclass(frozen=True)
class GapRule:
    code: str
    kind: ProductKind  # the kind of product that closes the gap
    priority: Priority
    when: tuple[Condition, ...]
    reason: str  # Chinese; ``{fact}`` names a fact's value


@dataclass(frozen=True)
class ServiceRule:
    code: str
    title: str
    text: str
    when: tuple[Condition, ...]


GAP_RULES: tuple[GapRule, ...] = (
    GapRule(
        "BREADWINNER_NO_ACCIDENT",
        ProductKind.ACCIDENT,
        Priority.HIGH,
        (("dependents", ">=", 1), ("self_accident_cover", "==", False)),
        "您有{dependents}位需要照顾的家人，本人却没有有效的意外险：一旦发生意外，"
        "家庭的收入来源就失去了保障。",
    ),
    GapRule(
        "NO_MEDICAL_COVER",
        ProductKind.HEALTH,
        Priority.HIGH,
        (("has_social_medical_insurance", "==", False), ("self_health_cover", "==", False)),
        "您没有参加社会基本医疗保险，也没有有效的商业医疗险，住院费用需要全部自付。",
    ),
    GapRule(
        "SELF_NO_HEALTH",
        ProductKind.HEALTH,
        Priority.MEDIUM,
        (("has_social_medical_insurance", "==", True), ("self_health_cover", "==", False)),
        "您本人没有有效的商业医疗险：医保目录外的药品和大额住院费用需要自付。",
    ),
    GapRule(
        "CHILDREN_NO_HEALTH",
        ProductKind.HEALTH,
        Priority.HIGH,
        (("children_without_health_cover", ">=", 1),),
        "您有{children_without_health_cover}个孩子不在您名下有效医疗险的被保险人中，"
        "孩子生病住院的费用没有保障。",
    ),
    GapRule(
        "SPOUSE_NO_HEALTH",
        ProductKind.HEALTH,
        Priority.MEDIUM,
        (("has_spouse", "==", True), ("spouse_health_cover", "==", False)),
        "您名下的有效保单中没有为配偶投保医疗险（配偶本人投保的保单这里看不到，已有可忽略）。",
    ),
    GapRule(
        "PARENTS_NO_ACCIDENT",
        ProductKind.ACCIDENT,
        Priority.MEDIUM,
        (("parents_without_accident_cover", ">=", 1),),
        "您有{parents_without_accident_cover}位60岁以上的父母没有您名下有效的意外险，"
        "老人跌倒骨折等意外较为常见。",
    ),
    GapRule(
        "PARENTS_NO_HEALTH",
        ProductKind.HEALTH,
        Priority.MEDIUM,
        (("parents_without_health_cover", ">=", 1),),
        "您有{parents_without_health_cover}位60岁以上的父母没有您名下有效的医疗险。",
    ),
    GapRule(
        "ABROAD_NO_TRAVEL",
        ProductKind.TRAVEL,
        Priority.HIGH,
        (("travels_abroad", "==", True), ("self_travel_cover", "==", False)),
        "您会出境旅行或出差，但目前没有有效的境外旅行险，境外就医和紧急救援费用高昂。",
    ),
    GapRule(
        "CAR_NO_AUTO",
        ProductKind.AUTO,
        Priority.HIGH,
        (("owns_car", "==", True), ("self_auto_cover", "==", False)),
        "您家里有车，但您名下没有有效的机动车商业保险。",
    ),
    GapRule(
        "ADVENTUROUS_NO_ACCIDENT",
        ProductKind.ACCIDENT,
        Priority.MEDIUM,
        (
            ("risk_attitude", "==", RiskAttitude.ADVENTUROUS.value),
            ("dependents", "==", 0),
            ("self_accident_cover", "==", False),
        ),
        "您偏好进取、出行和户外活动多，但没有有效的意外险。",
    ),
    GapRule(
        "CONSERVATIVE_NO_PROPERTY",
        ProductKind.PROPERTY,
        Priority.LOW,
        (
            ("risk_attitude", "==", RiskAttitude.CONSERVATIVE.value),
            ("self_property_cover", "==", False),
        ),
        "您倾向稳健，但家庭财产（房屋主体、室内财产）还没有保障。",
    ),
)

SERVICE_RULES: tuple[ServiceRule, ...] = (
    ServiceRule(
        "PARENTS_HEALTH_CHECKUP",
        "父母年度体检",
        "为60岁以上的父母每年安排一次体检，早发现、早治疗。",
        (("parents_over_60", ">=", 1),),
    ),
    ServiceRule(
        "ROADSIDE_ASSISTANCE",
        "道路救援",
        "拖车、搭电、换胎、送油：车险客户可享24小时道路救援。",
        (("owns_car", "==", True),),
    ),
    ServiceRule(
        "TRAVEL_ASSISTANCE",
        "境外紧急救援",
        "出境前保存境外救援热线，境外就医、证件丢失时可随时求助。",
        (("travels_abroad", "==", True),),
    ),
    ServiceRule(
        "CHILD_HEALTH",
        "儿童健康服务",
        "疫苗接种提醒与儿科在线问诊。",
        (("children", ">=", 1),),
    ),
    ServiceRule(
        "FAMILY_DOCTOR",
        "家庭医生",
        "专属家庭医生电话咨询与就医绿色通道。",
        (("income_band", "in", [IncomeBand.FROM_300K_TO_1M.value, IncomeBand.OVER_1M.value]),),
    ),
    ServiceRule(
        "ANNUAL_REVIEW",
        "家庭保障年度检视",
        "每年与您的服务顾问一起检视一次家庭保障，家庭情况变化时及时调整。",
        (),
    ),
)

# How each fact is shown next to a reason (Chinese).
FACT_LABELS: dict[str, str] = {
    "has_spouse": "已婚",
    "children": "子女人数",
    "parents_over_60": "60岁以上父母人数",
    "dependents": "需要照顾的家人",
    "income_band": "家庭年收入",
    "has_social_medical_insurance": "参加社会医保",
    "owns_car": "家里有车",
    "travels_abroad": "出境旅行或出差",
    "risk_attitude": "风险态度",
    "self_accident_cover": "本人有意外险",
    "self_health_cover": "本人有医疗险",
    "self_travel_cover": "本人有旅行险",
    "self_auto_cover": "有车险",
    "self_property_cover": "有家财险",
    "spouse_health_cover": "配偶在您名下医疗险中",
    "children_without_health_cover": "无医疗险的子女",
    "parents_without_accident_cover": "无意外险的父母",
    "parents_without_health_cover": "无医疗险的父母",
}


def holds(condition: Condition, facts: dict[str, Any]) -> bool:
    name, operator, value = condition
    fact = facts[name]
    if operator == "==":
        return bool(fact == value)
    if operator == ">=":
        return bool(fact >= value)
    if operator == "in":
        return fact in value
    raise ValueError(f"unknown operator {operator!r} in a service-plan rule")


def fired(when: tuple[Condition, ...], facts: dict[str, Any]) -> dict[str, Any] | None:
    """The facts a rule read, if all its conditions hold; None otherwise."""
    if all(holds(c, facts) for c in when):
        return {name: facts[name] for name, _, _ in when}
    return None


# ---------------------------------------------------------------- cover and facts


@dataclass
class Cover:
    """What the customer's in-force policies cover, by product kind."""

    items: list[dict[str, Any]] = field(default_factory=list)  # the plan's snapshot
    self_kinds: set[ProductKind] = field(default_factory=set)
    spouse_kinds: set[ProductKind] = field(default_factory=set)
    children: dict[ProductKind, set[str]] = field(default_factory=dict)  # ID hashes
    parents: dict[ProductKind, set[str]] = field(default_factory=dict)


async def existing_cover(customer_id: uuid.UUID, now: datetime) -> Cover:
    """In-force policies (ACTIVE, started, not ended) the customer holds or is insured by.
    Family members count only when insured on a policy the customer holds (others'
    policies are not the customer's to read)."""
    insured = InsuredPerson.filter(customer_id=customer_id).values("policy_id")
    policies = (
        await Policy.filter(
            Q(holder_id=customer_id) | Q(id__in=Subquery(insured)),
            status=PolicyStatus.ACTIVE,
            starts_at__lte=now,
            ends_at__gt=now,
        )
        .select_related("product")
        .prefetch_related("insured_persons")
        .order_by("starts_at", "number")
    )
    cover = Cover()
    for policy in policies:
        kind = policy.product.kind
        persons = sorted(policy.insured_persons, key=lambda p: p.position)
        holder = policy.holder_id == customer_id
        me = any(
            p.customer_id == customer_id or (holder and p.relation_to_holder == "SELF")
            for p in persons
        )
        # A car or a home is covered for whoever holds or is insured on its policy.
        if me or kind in (ProductKind.AUTO, ProductKind.PROPERTY):
            cover.self_kinds.add(kind)
        relations = ["SELF"] if me else []
        if holder:
            for person in persons:
                relation = person.relation_to_holder
                if relation == "SPOUSE":
                    cover.spouse_kinds.add(kind)
                elif relation == "CHILD":
                    cover.children.setdefault(kind, set()).add(person.id_number_hash)
                elif relation == "PARENT":
                    cover.parents.setdefault(kind, set()).add(person.id_number_hash)
                if relation != "SELF" and relation not in relations:
                    relations.append(relation)
        cover.items.append(
            {
                "policy_id": str(policy.id),
                "policy_number": policy.number,
                "product_name": policy.product.name,
                "kind": kind.value,
                "role": (CoverRole.HOLDER if holder else CoverRole.INSURED).value,
                "covers": relations,
                "ends_on": local_date(policy.ends_at).isoformat(),
            }
        )
    return cover


def facts_of(answers: Answers, cover: Cover) -> dict[str, Any]:
    children = len(answers.children_ages)
    parents = answers.parents_over_60
    return {
        "has_spouse": answers.has_spouse,
        "children": children,
        "parents_over_60": parents,
        "dependents": int(answers.has_spouse) + children + parents,
        "income_band": answers.income_band.value,
        "has_social_medical_insurance": answers.has_social_medical_insurance,
        "owns_car": answers.owns_car,
        "travels_abroad": answers.travels_abroad,
        "risk_attitude": answers.risk_attitude.value,
        "self_accident_cover": ProductKind.ACCIDENT in cover.self_kinds,
        "self_health_cover": ProductKind.HEALTH in cover.self_kinds,
        "self_travel_cover": ProductKind.TRAVEL in cover.self_kinds,
        "self_auto_cover": ProductKind.AUTO in cover.self_kinds,
        "self_property_cover": ProductKind.PROPERTY in cover.self_kinds,
        "spouse_health_cover": ProductKind.HEALTH in cover.spouse_kinds,
        "children_without_health_cover": max(
            0, children - len(cover.children.get(ProductKind.HEALTH, set()))
        ),
        "parents_without_accident_cover": max(
            0, parents - len(cover.parents.get(ProductKind.ACCIDENT, set()))
        ),
        "parents_without_health_cover": max(
            0, parents - len(cover.parents.get(ProductKind.HEALTH, set()))
        ),
    }


async def online_products(kinds: set[ProductKind]) -> dict[ProductKind, list[uuid.UUID]]:
    """Products of these kinds a customer can buy in the app, by kind, in catalogue order."""
    found: dict[ProductKind, list[uuid.UUID]] = {}
    if not kinds:
        return found
    rows = await Product.filter(sold_online=True, kind__in=list(kinds)).order_by("code")
    for product in rows:
        found.setdefault(product.kind, []).append(product.id)
    return found


def evaluate(facts: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The gaps (most pressing first, rule order within a priority) and the service
    suggestions the rules fire for ``facts``; gaps still without products."""
    order = list(Priority)
    gaps: list[dict[str, Any]] = []
    for rule in GAP_RULES:
        reasons = fired(rule.when, facts)
        if reasons is not None:
            gaps.append(
                {
                    "code": rule.code,
                    "kind": rule.kind.value,
                    "priority": rule.priority.value,
                    "reason": rule.reason.format(**facts),
                    "facts": reasons,
                    "product_ids": [],
                }
            )
    gaps.sort(key=lambda gap: order.index(Priority(gap["priority"])))
    services: list[dict[str, Any]] = []
    for service in SERVICE_RULES:
        reasons = fired(service.when, facts)
        if reasons is not None:
            services.append(
                {"code": service.code, "title": service.title, "text": service.text}
                | {"facts": reasons}
            )
    return gaps, services


async def make_plan(customer_id: uuid.UUID, answers: Answers) -> ServicePlan:
    check_answers(answers)
    cover = await existing_cover(customer_id, datetime.now(UTC))
    facts = facts_of(answers, cover)
    gaps, services = evaluate(facts)
    products = await online_products({ProductKind(gap["kind"]) for gap in gaps})
    for gap in gaps:
        gap["product_ids"] = [str(p) for p in products.get(ProductKind(gap["kind"]), [])]
    return await ServicePlan.create(
        customer_id=customer_id,
        questionnaire_version=QUESTIONNAIRE_VERSION,
        rule_version=RULE_VERSION,
        answers=answers.as_dict(),
        facts=facts,
        existing_cover=cover.items,
        gaps=gaps,
        services=services,
    )


async def submit_questionnaire(
    customer_id: uuid.UUID,
    answers: Answers,
    idempotency_key: str,
    first: Callable[[], Awaitable[None]] | None = None,
) -> ServicePlan:
    """A new plan from ``answers``; the same key with the same answers returns the same
    plan, with other answers an IdempotencyError. ``first`` runs before a new plan is
    made, never for a replay (the caller's rate limit: a retry costs nothing)."""
    check_answers(answers)

    async def run() -> dict[str, Any]:
        if first is not None:
            await first()
        plan = await make_plan(customer_id, answers)
        return {"plan_id": str(plan.id)}

    answer = await once(
        f"{customer_id}:submitServiceQuestionnaire", idempotency_key, answers.as_dict(), run
    )
    return await ServicePlan.get(id=answer["plan_id"])


# ---------------------------------------------------------------- reading plans


def suggested_product_ids(plan: ServicePlan) -> list[uuid.UUID]:
    """Every product the plan suggests, once, in the order of its gaps."""
    seen: list[uuid.UUID] = []
    for gap in plan.gaps:
        for product_id in gap["product_ids"]:
            value = uuid.UUID(product_id)
            if value not in seen:
                seen.append(value)
    return seen


async def latest_plan(customer_id: uuid.UUID) -> ServicePlan | None:
    return await ServicePlan.filter(customer_id=customer_id).order_by("-created_at").first()


async def plan_for(actor: Actor, plan_id: uuid.UUID) -> ServicePlan | None:
    """A customer's own plan; for staff who work the visit list (VISIT_HANDLE), a plan
    whose customer asked to be followed up on it (a visit carries it). Every staff look
    is logged: the plan holds the customer's family and income answers."""
    if actor.is_customer:
        return await ServicePlan.get_or_none(id=plan_id, customer_id=actor.subject_id)
    if not actor.can(Permission.VISIT_HANDLE):
        return None
    interest = (
        await ServicePlanInterest.filter(plan_id=plan_id, visit_id__isnull=False)
        .select_related("plan")
        .first()
    )
    return None if interest is None else _staff_read(actor, interest)


async def plan_of_visit(actor: Actor, visit_id: uuid.UUID) -> ServicePlan | None:
    """The plan behind a NEW_POLICY_INTEREST visit, for staff who may see the visit."""
    if not actor.can(Permission.VISIT_HANDLE):
        return None
    interest = await ServicePlanInterest.filter(visit_id=visit_id).select_related("plan").first()
    return None if interest is None else _staff_read(actor, interest)


def _staff_read(actor: Actor, interest: ServicePlanInterest) -> ServicePlan:
    plan = interest.plan
    security.info(
        "staff %s viewed service plan %s of customer %s (visit %s)",
        actor.subject_id,
        plan.id,
        plan.customer_id,
        interest.visit_id,
    )
    return plan


# ---------------------------------------------------------------- interest


@dataclass(frozen=True)
class Interest:
    plan: ServicePlan
    visit: FollowUpVisit | None
    new: bool  # False: marked before (by this or a concurrent request)


async def mark_interest(
    customer_id: uuid.UUID, plan_id: uuid.UUID, product_id: uuid.UUID
) -> Interest:
    """The customer wants an agent to follow up on a product the plan suggests: the
    interest and a NEW_POLICY_INTEREST visit, committed together, one per plan and
    product (the unique pair decides between concurrent requests)."""
    plan = await ServicePlan.get_or_none(id=plan_id, customer_id=customer_id)
    if plan is None:
        raise ServicePlanError(ServicePlanErrorCode.NOT_FOUND, "未找到该服务方案", "planId")
    if product_id not in suggested_product_ids(plan):
        raise ServicePlanError(
            ServicePlanErrorCode.NOT_SUGGESTED, "该产品不在您的服务方案推荐中", "productId"
        )
    existing = await _existing_interest(plan, product_id)
    if existing is not None:
        return existing
    product = await Product.get(id=product_id)
    subject = f"interest:{plan.id}:{product_id}"
    try:
        async with in_transaction():
            interest = await ServicePlanInterest.create(plan_id=plan.id, product_id=product_id)
            visit = await plan_interest_visit(
                customer_id, subject, f"{INTEREST_PURPOSE}：{product.name}"[:64]
            )
            interest.visit_id = visit.id
            await interest.save(update_fields=["visit_id"])
    except IntegrityError:  # marked at the same moment by another request
        existing = await _existing_interest(plan, product_id)
        if existing is None:
            raise
        return existing
    except VisitError as error:
        raise ServicePlanError(
            ServicePlanErrorCode.FOLLOW_UP_UNAVAILABLE, "暂时无法安排顾问回访，请稍后再试"
        ) from error
    return Interest(plan, visit, True)


async def _existing_interest(plan: ServicePlan, product_id: uuid.UUID) -> Interest | None:
    interest = await ServicePlanInterest.get_or_none(plan_id=plan.id, product_id=product_id)
    if interest is None:
        return None
    visit = await FollowUpVisit.get_or_none(id=interest.visit_id) if interest.visit_id else None
    return Interest(plan, visit, False)
