"""Online products in GraphQL: their quote forms (questions, plans, destinations,
occupation classes, health declaration) and ``quote``, premiums per plan with the rules
applied and why."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import policies as pm
from models import policy_applications as m
from schema.common import Money, cny, node_uuid
from schema.errors import payload_errors
from schema.permissions import IsAuthenticated
from schema.policies.types import Product
from schema.policy_service.application_types import ApplicationError_
from workflows.policy_service import quotes
from workflows.policy_service.rating import ApplicationError, plan_sum_insured

MAX_ID = 32


@strawberry.type(description="One coverage of a plan and its sum insured.")
class PlanCoverage:
    code: str = strawberry.field(description="Coverage code within the product.")
    name: str = strawberry.field(description="Name in Chinese.")
    sum_insured: Money = strawberry.field(description="Sum insured (保额).")


@strawberry.type(description="A plan of an online product (保障计划).")
class OnlinePlan:
    """Part of its product's form: ``code`` is unique only within the product."""

    code: str = strawberry.field(description="Plan code, unique within the product.")
    name: str = strawberry.field(description="Plan name in Chinese.")
    coverages: list[PlanCoverage] = strawberry.field(description="What it covers.")
    sum_insured: Money = strawberry.field(description="Total sum insured.")
    min_age: int = strawberry.field(description="Youngest insurable age (周岁).")
    max_age: int = strawberry.field(description="Oldest insurable age (周岁).")
    max_occupation_class: int = strawberry.field(description="Highest occupation class insured.")
    term_days: int | None = strawberry.field(
        description="Length of cover in days; null when the trip's days set it (travel)."
    )


@strawberry.type(description="A choice of a quote-form question.")
class FormChoice:
    key: str = strawberry.field(description="What to send, e.g. a destination code `ASIA`.")
    label: str = strawberry.field(description="What to show, in Chinese.")


@strawberry.type(description="A question of the short health declaration (健康告知).")
class HealthQuestion:
    key: str = strawberry.field(description="Send the answer under this key in `healthAnswers`.")
    text: str = strawberry.field(description="The question, in Chinese.")


@strawberry.type(description="A product that can be bought in the app, with its quote form.")
class OnlineProduct:
    product: Product = strawberry.field(description="The product.")
    plans: list[OnlinePlan] = strawberry.field(description="Its plans.")
    occupation_classes: list[int] = strawberry.field(description="Insurable occupation classes.")
    destinations: list[FormChoice] = strawberry.field(
        description="Travel destinations (travel products only; else empty)."
    )
    health_questions: list[HealthQuestion] = strawberry.field(
        description="Every question must be answered yes or no when applying."
    )
    earliest_start_in_days: int = strawberry.field(
        description="Cover starts at the earliest this many days from today."
    )
    latest_start_in_days: int = strawberry.field(description="…and at the latest this many days.")


@strawberry.input(description="The quote form's answers.")
class QuoteInput:
    product_id: relay.GlobalID = strawberry.field(description="An online product.")
    start_date: date = strawberry.field(description="First day of cover (Asia/Shanghai).")
    occupation_class: int = strawberry.field(default=1, description="Occupation class 1-6.")
    id_number: str | None = strawberry.field(
        default=None, description="The insured's ID number: the age is read from it."
    )
    birth_date: date | None = strawberry.field(
        default=None, description="The insured's birth date, when no ID number is given yet."
    )
    destination: str | None = strawberry.field(
        default=None, description="Travel: a destination key from the product's form."
    )
    travel_days: int | None = strawberry.field(
        default=None, description="Travel: days of the trip."
    )


@strawberry.type(description="One plan's price, or why it is not offered.")
class PlanQuote:
    plan: OnlinePlan = strawberry.field(description="The plan.")
    available: bool = strawberry.field(description="False when the rules rule it out.")
    premium: Money | None = strawberry.field(description="The premium; null when unavailable.")
    reasons: list[str] = strawberry.field(
        description="The rules applied (age band, factors) or why unavailable, in Chinese."
    )


@strawberry.type(description="Premiums per plan for the answers given.")
class QuoteResult:
    age: int | None = strawberry.field(description="The insured's age on the start date (周岁).")
    plans: list[PlanQuote] = strawberry.field(description="Every plan, in the form's order.")
    errors: list[ApplicationError_] = strawberry.field(description="Empty on success.")


def online_plan(plan: m.RatingPlan) -> OnlinePlan:
    return OnlinePlan(
        code=plan.code,
        name=plan.name,
        coverages=[
            PlanCoverage(code=c["code"], name=c["name"], sum_insured=cny(Decimal(c["sum_insured"])))
            for c in plan.coverages
        ],
        sum_insured=cny(plan_sum_insured(plan)),
        min_age=plan.min_age,
        max_age=plan.max_age,
        max_occupation_class=plan.max_occupation_class,
        term_days=plan.term_days,
    )


@strawberry.type
class QuoteQueries:
    @strawberry.field(
        description="Products that can be bought in the app, with their quote forms.",
        permission_classes=[IsAuthenticated],
    )
    async def online_products(self) -> list[OnlineProduct]:
        answer = []
        for product in await pm.Product.filter(sold_online=True).order_by("code"):
            form = await m.RatingForm.get_or_none(product_id=product.id)
            if form is None:
                continue
            plans = await m.RatingPlan.filter(product_id=product.id).order_by("position", "code")
            answer.append(
                OnlineProduct(
                    product=Product.from_model(product),
                    plans=[online_plan(p) for p in plans],
                    occupation_classes=sorted(int(k) for k in form.occupation_factors),
                    destinations=[
                        FormChoice(key=k, label=v["name"])
                        for k, v in form.destination_factors.items()
                    ],
                    health_questions=[
                        HealthQuestion(key=q["code"], text=q["text"]) for q in form.health_questions
                    ],
                    earliest_start_in_days=form.min_start_days,
                    latest_start_in_days=form.max_start_days,
                )
            )
        return answer

    @strawberry.field(
        description="Premiums of every plan of an online product for the quote form's "
        "answers, with the rules applied and why a plan is not offered. Stores nothing.",
        permission_classes=[IsAuthenticated],
    )
    async def quote(
        self,
        info: Info,
        input: Annotated[QuoteInput, strawberry.argument(description="The form's answers.")],
    ) -> QuoteResult:
        if input.id_number is not None and len(input.id_number) > MAX_ID:
            input.id_number = "invalid"
        try:
            result = await quotes.quote(
                quotes.QuoteRequest(
                    product_id=node_uuid(input.product_id, "Product"),
                    start_date=input.start_date,
                    occupation_class=input.occupation_class,
                    id_number=input.id_number,
                    birth_date=input.birth_date,
                    destination=input.destination,
                    travel_days=input.travel_days,
                )
            )
        except ApplicationError as error:
            return QuoteResult(age=None, plans=[], errors=payload_errors(error, ApplicationError_))
        return QuoteResult(
            age=result.age,
            plans=[
                PlanQuote(
                    plan=online_plan(p.plan),
                    available=p.available,
                    premium=cny(p.premium) if p.premium is not None else None,
                    reasons=p.reasons,
                )
                for p in result.prices
            ],
            errors=[],
        )
