"""``quote``: premiums of every plan of an online product for the answers of its form,
with the rules applied and why; nothing is stored."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from models.clock import local_today
from models.policies import Product
from models.policy_applications import RatingForm
from workflows.policy_service.identity import age_on, parse_id_number
from workflows.policy_service.rating import (
    ApplicationError,
    PlanPrice,
    QuoteAnswers,
    check_answers,
    online_form,
    price,
)
from workflows.policy_service.rating import ApplicationErrorCode as E


@dataclass(frozen=True)
class QuoteRequest:
    product_id: uuid.UUID
    start_date: date
    occupation_class: int
    id_number: str | None = None  # the insured's: the age is read from it
    birth_date: date | None = None  # when no ID number is given yet
    destination: str | None = None
    travel_days: int | None = None


@dataclass(frozen=True)
class Quote:
    product: Product
    form: RatingForm
    age: int
    start_date: date
    end_date: date | None  # of the cover, when every plan has the same term
    prices: list[PlanPrice]


def insured_age(request: QuoteRequest) -> int:
    """The insured's age on the start date, from the ID number (or the birth date)."""
    birth = request.birth_date
    if request.id_number:
        facts = parse_id_number(request.id_number, local_today())
        if facts is None:
            raise ApplicationError(E.INVALID_ID_NUMBER, "身份证号码无效，请核对", "idNumber")
        birth = facts.birth_date
    if birth is None:
        raise ApplicationError(E.INVALID_ANSWERS, "请填写被保险人身份证号码或出生日期", "idNumber")
    return age_on(birth, request.start_date)


def check_start(form: RatingForm, start: date, today: date) -> None:
    earliest = today + timedelta(days=form.min_start_days)
    latest = today + timedelta(days=form.max_start_days)
    if not earliest <= start <= latest:
        raise ApplicationError(
            E.INVALID_START_DATE,
            f"保障起期应在{earliest:%Y年%m月%d日}至{latest:%Y年%m月%d日}之间",
            "startDate",
        )


async def quote(request: QuoteRequest) -> Quote:
    product, form, plans = await online_form(request.product_id)
    check_start(form, request.start_date, local_today())
    answers = QuoteAnswers(
        insured_age(request), request.occupation_class, request.destination, request.travel_days
    )
    check_answers(form, answers)
    prices = [price(form, plan, answers) for plan in plans]
    return Quote(product, form, answers.age, request.start_date, None, prices)
