"""``complaintFigures``: the complaint figures for supervisors (see
``workflows/complaints/figures.py`` for what each counts)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.complaint_remedies import RootCauseCategory
from models.complaints import ComplaintClass
from schema.errors import UserInputError
from schema.permissions import staff_only
from workflows.access import Permission
from workflows.complaints import figures as f
from workflows.complaints.root_causes import CATEGORY_NAMES
from workflows.complaints.rules import CLASS_NAMES, ComplaintError

strawberry.enum(f.Period, name="ComplaintFigurePeriod", description="How figures are grouped.")
CHANNEL_NAMES = {
    "APP": "App",
    "MINI_PROGRAM": "小程序",
    "PHONE": "电话",
    "COUNTER": "柜面",
    "LETTER": "信函",
    "EMAIL": "电子邮件",
    "REGULATOR": "监管转办",
    "MEDIA": "媒体",
}


@strawberry.type(description="A count, out of a total, with its rate.")
class ComplaintRatio:
    count: int = strawberry.field(description="How many.")
    total: int = strawberry.field(description="Out of how many.")
    rate_percent: Decimal | None = strawberry.field(description="count / total in %; null: 0/0.")

    @classmethod
    def of(cls, ratio: f.Ratio) -> ComplaintRatio:
        return cls(count=ratio.count, total=ratio.total, rate_percent=ratio.rate)


@strawberry.type(description="Complaints of one kind (class, channel) in a period.")
class ComplaintShare:
    key: str = strawberry.field(description="The class or channel code, e.g. `CLAIM`, `APP`.")
    name: str = strawberry.field(description="Its name in Chinese.")
    count: int = strawberry.field(description="Complaints of this kind.")
    total: int = strawberry.field(description="Complaints of the period.")
    rate_percent: Decimal | None = strawberry.field(description="count / total in %.")


@strawberry.type(description="Complaints about one product in a period.")
class ComplaintProductShare:
    product_id: relay.GlobalID | None = strawberry.field(
        description="The product (Product); null: complaints about no policy or claim."
    )
    name: str = strawberry.field(description="The product's name (empty: none).")
    count: int = strawberry.field(description="Complaints about it (its policies or claims).")
    total: int = strawberry.field(description="Complaints of the period.")
    rate_percent: Decimal | None = strawberry.field(description="count / total in %.")
    policies_in_force: int = strawberry.field(
        description="Its policies in force at some time of the period."
    )
    per_10k_policies: Decimal | None = strawberry.field(
        description="Complaints per 10,000 policies in force (亿元保费/万张保单投诉量 style)."
    )


@strawberry.type(description="How long something took from receipt, in hours.")
class ComplaintDurations:
    count: int = strawberry.field(description="Complaints it was measured on.")
    median_hours: Decimal | None = strawberry.field(description="Median (nearest rank).")
    p90_hours: Decimal | None = strawberry.field(description="90th percentile (nearest rank).")

    @classmethod
    def of(cls, d: f.Durations) -> ComplaintDurations:
        return cls(count=d.count, median_hours=d.median_hours, p90_hours=d.p90_hours)


@strawberry.type(description="The complaint figures of one period (Asia/Shanghai days).")
class ComplaintPeriodFigures:
    first_day: date = strawberry.field(description="The period's first day (in the range).")
    last_day: date = strawberry.field(description="Its last day (in the range).")
    received: int = strawberry.field(description="Complaints received in it.")
    by_class: list[ComplaintShare] = strawberry.field(description="By class, most first.")
    by_channel: list[ComplaintShare] = strawberry.field(description="By channel, most first.")
    by_product: list[ComplaintProductShare] = strawberry.field(
        description="By product (through the policy or claim complained about), most first."
    )
    first_response: ComplaintDurations = strawberry.field(
        description="Receipt to first response (a logged contact, or the answer)."
    )
    answer: ComplaintDurations = strawberry.field(
        description="Receipt to the answer (after a review: the review's answer)."
    )
    first_response_late: ComplaintRatio = strawberry.field(
        description="First responses late (or still missing), of those due by now."
    )
    answer_late: ComplaintRatio = strawberry.field(
        description="Answers past their clock (or still missing: breaches), of those due by now."
    )
    reopened: ComplaintRatio = strawberry.field(
        description="Reopened (review requested), of those answered."
    )
    satisfied: ComplaintRatio = strawberry.field(
        description="Complaint-survey (COMPLAINT_SERVICE) ratings of 4-5, of the ratings of "
        "surveys sent in the period (sent at closure)."
    )
    proposals_accepted: ComplaintRatio = strawberry.field(
        description="Staff classification decisions that kept the classifier's proposal."
    )
    top_root_causes: list[ComplaintShare] = strawberry.field(
        description="The root causes (溯源整改) recorded for the period's complaints, most "
        "first (at most five); the rate is of all the period's complaints."
    )

    @classmethod
    def of(cls, p: f.PeriodFigures) -> ComplaintPeriodFigures:
        return cls(
            first_day=p.first_day,
            last_day=p.last_day,
            received=p.received,
            by_class=[_share(s, CLASS_NAMES[ComplaintClass(s.key)]) for s in p.by_class],
            by_channel=[_share(s, CHANNEL_NAMES.get(s.key, s.key)) for s in p.by_channel],
            by_product=[_product(s) for s in p.by_product],
            first_response=ComplaintDurations.of(p.first_response),
            answer=ComplaintDurations.of(p.answer),
            first_response_late=ComplaintRatio.of(p.first_response_late),
            answer_late=ComplaintRatio.of(p.answer_late),
            reopened=ComplaintRatio.of(p.reopened),
            satisfied=ComplaintRatio.of(p.satisfied),
            proposals_accepted=ComplaintRatio.of(p.proposals_accepted),
            top_root_causes=[
                _share(s, CATEGORY_NAMES[RootCauseCategory(s.key)]) for s in p.top_root_causes
            ],
        )


def _share(s: f.Share, name: str) -> ComplaintShare:
    return ComplaintShare(key=s.key, name=name, count=s.count, total=s.total, rate_percent=s.rate)


def _product(s: f.ProductShare) -> ComplaintProductShare:
    product: uuid.UUID | None = s.product_id
    return ComplaintProductShare(
        product_id=relay.GlobalID("Product", str(product)) if product else None,
        name=s.key,
        count=s.count,
        total=s.total,
        rate_percent=s.rate,
        policies_in_force=s.policies_in_force,
        per_10k_policies=s.per_10k_policies,
    )


@strawberry.type
class ComplaintFigureQueries:
    @strawberry.field(
        description="Staff (COMPLAINT_SUPERVISE): complaint figures per day, week or month "
        f"from `from` to `to` (Asia/Shanghai, at most {f.MAX_PERIODS} periods), each rate "
        "with the counts behind it.",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def complaint_figures(
        self,
        info: Info,
        period: Annotated[f.Period, strawberry.argument(description="DAY, WEEK or MONTH.")],
        from_: Annotated[date, strawberry.argument(name="from", description="First day.")],
        to: Annotated[date, strawberry.argument(description="Last day (included).")],
    ) -> list[ComplaintPeriodFigures]:
        try:
            rows = await f.complaint_figures(info.context.actor, period, from_, to)
        except ComplaintError as error:
            raise UserInputError(error.message) from None
        return [ComplaintPeriodFigures.of(p) for p in rows]
