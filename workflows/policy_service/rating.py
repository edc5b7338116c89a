"""Premiums from the rating tables of an online product (data in the database, not code).

A plan is priced by the first row of its ``rates`` that fits the insured's age on the
start date (and the trip's days, for travel), times the occupation class's factor and
the destination's factor. Every step is written down as a reason, so the app can show
why a plan costs what it costs, or why it is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from models.policies import Product
from models.policy_applications import RatingForm, RatingPlan
from workflows.errors import DomainError

CENT = Decimal("0.01")
MAX_TRAVEL_DAYS = 366


class ApplicationErrorCode(StrEnum):
    """Why a quote, an application, a decision or a renewal was refused."""

    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    NOT_SOLD_ONLINE = "NOT_SOLD_ONLINE"
    PLAN_NOT_FOUND = "PLAN_NOT_FOUND"
    PLAN_UNAVAILABLE = "PLAN_UNAVAILABLE"
    INVALID_ANSWERS = "INVALID_ANSWERS"
    INVALID_ID_NUMBER = "INVALID_ID_NUMBER"
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    REAL_NAME_FAILED = "REAL_NAME_FAILED"
    HOLDER_ID_MISSING = "HOLDER_ID_MISSING"
    INVALID_RELATION = "INVALID_RELATION"
    INVALID_BENEFICIARIES = "INVALID_BENEFICIARIES"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    INVALID_START_DATE = "INVALID_START_DATE"
    INVALID_INPUT = "INVALID_INPUT"
    APPLICATION_NOT_FOUND = "APPLICATION_NOT_FOUND"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    REASON_REQUIRED = "REASON_REQUIRED"
    POLICY_NOT_FOUND = "POLICY_NOT_FOUND"
    NOT_RENEWABLE = "NOT_RENEWABLE"
    RENEWAL_EXISTS = "RENEWAL_EXISTS"
    PREMIUM_CHANGED = "PREMIUM_CHANGED"
    THROTTLED = "THROTTLED"


class ApplicationError(DomainError):
    codes = ApplicationErrorCode


E = ApplicationErrorCode


@dataclass(frozen=True)
class QuoteAnswers:
    """The quote form's answers that change a premium."""

    age: int
    occupation_class: int
    destination: str | None = None
    travel_days: int | None = None


@dataclass(frozen=True)
class PlanPrice:
    plan: RatingPlan
    premium: Decimal | None  # None: not available
    reasons: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.premium is not None


def plan_sum_insured(plan: RatingPlan) -> Decimal:
    return sum((Decimal(c["sum_insured"]) for c in plan.coverages), Decimal(0))


def is_travel(form: RatingForm) -> bool:
    return bool(form.destination_factors)


def check_answers(form: RatingForm, answers: QuoteAnswers) -> None:
    """Answers the form cannot price at all are an input error, not an unavailable plan."""
    if is_travel(form):
        if answers.destination not in form.destination_factors:
            raise ApplicationError(E.INVALID_ANSWERS, "请选择有效的旅行目的地", "destination")
        if answers.travel_days is None or not 1 <= answers.travel_days <= MAX_TRAVEL_DAYS:
            raise ApplicationError(E.INVALID_ANSWERS, "旅行天数应在1至366天之间", "travelDays")
    if not 1 <= answers.occupation_class <= 6:
        raise ApplicationError(E.INVALID_ANSWERS, "职业类别应为1至6类", "occupationClass")


def _row(plan: RatingPlan, answers: QuoteAnswers) -> dict[str, Any] | None:
    for row in plan.rates:
        if not int(row["min_age"]) <= answers.age <= int(row["max_age"]):
            continue
        if row.get("max_days") is not None and (answers.travel_days or 0) > int(row["max_days"]):
            continue
        return row
    return None


def price(form: RatingForm, plan: RatingPlan, answers: QuoteAnswers) -> PlanPrice:
    """The plan's premium for these answers, with the reasons; unavailable with why."""
    if not plan.min_age <= answers.age <= plan.max_age:
        return PlanPrice(
            plan, None, [f"被保险人{answers.age}周岁，本计划限{plan.min_age}至{plan.max_age}周岁"]
        )
    factor = form.occupation_factors.get(str(answers.occupation_class))
    if factor is None or answers.occupation_class > plan.max_occupation_class:
        return PlanPrice(
            plan,
            None,
            [
                f"职业类别{answers.occupation_class}类不在本计划承保范围（1至"
                f"{plan.max_occupation_class}类）"
            ],
        )
    row = _row(plan, answers)
    if row is None:
        return PlanPrice(plan, None, ["本计划没有适用于该年龄或天数的费率"])
    base = Decimal(str(row["premium"]))
    reasons = [f"{answers.age}周岁基础保费{base:.2f}元"]
    if row.get("max_days") is not None:
        reasons[0] = (
            f"{answers.age}周岁、{answers.travel_days}天（≤{row['max_days']}天）基础保费{base:.2f}元"
        )
    premium = base * Decimal(factor)
    if Decimal(factor) != 1:
        reasons.append(f"职业类别{answers.occupation_class}类系数{factor}")
    if is_travel(form) and answers.destination is not None:
        destination = form.destination_factors[answers.destination]
        premium *= Decimal(destination["factor"])
        if Decimal(destination["factor"]) != 1:
            reasons.append(f"目的地{destination['name']}系数{destination['factor']}")
    return PlanPrice(plan, premium.quantize(CENT, ROUND_HALF_UP), reasons)


async def online_form(product_id: Any) -> tuple[Product, RatingForm, list[RatingPlan]]:
    """An online product, its form and plans; refused when it is not sold online."""
    product = await Product.get_or_none(id=product_id)
    if product is None:
        raise ApplicationError(E.PRODUCT_NOT_FOUND, "未找到该产品", "productId")
    form = await RatingForm.get_or_none(product_id=product.id)
    if not product.sold_online or form is None:
        raise ApplicationError(E.NOT_SOLD_ONLINE, "该产品暂不支持在线投保", "productId")
    plans = await RatingPlan.filter(product_id=product.id).order_by("position", "code")
    return product, form, plans
