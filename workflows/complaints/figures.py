"""Complaint figures for supervisors, per day, week or month (Asia/Shanghai): how many
came in, by class, channel and product (with the product's policies in force: the
regulator's complaints per 10,000 policies), how fast the first response and the answer
came (median and 90th percentile, nearest rank), how many were late, how many were
reopened (review requested), how satisfied customers were after (the COMPLAINT_SERVICE
survey), and how often staff kept the classifier's proposal. Every rate comes with the
counts behind it, so a rate of 3 is never read as one of 3,000.

Plain ORM queries (no dialect-specific date functions): the complaints of the range are
read as a few columns each and bucketed here, so the same code runs on SQLite and
PostgreSQL. Bounded: at most ``MAX_PERIODS`` periods at once.

Top root causes: the categories of the root causes recorded (溯源整改) for the period's
complaints, most first (``TOP_ROOT_CAUSES`` of them).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from tortoise.functions import Count

from models.clock import SHANGHAI, local_midnight
from models.complaint_remedies import ComplaintRootCause
from models.complaints import (
    ClassificationCorrection,
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
)
from models.policies import Policy, Product
from models.surveys import QuestionKind, SurveyAnswer
from workflows.access import Actor, Permission
from workflows.complaints.rules import ComplaintError, ComplaintErrorCode

TOP_ROOT_CAUSES = 5
MAX_PERIODS = 62
SURVEY_CODE = "COMPLAINT_SERVICE"
E = ComplaintErrorCode


class Period(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"  # ISO weeks, Monday first
    MONTH = "MONTH"


def period_start(day: date, period: Period) -> date:
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day


def next_start(start: date, period: Period) -> date:
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods(first: date, last: date, period: Period) -> list[tuple[date, date]]:
    """(start, last day) of each period touching ``first``..``last``, clipped to them."""
    out, start = [], period_start(first, period)
    while start <= last:
        end = next_start(start, period)
        out.append((max(start, first), min(end - timedelta(days=1), last)))
        start = end
    return out


def percent(part: int, whole: int) -> Decimal | None:
    return (Decimal(100) * part / whole).quantize(Decimal("0.1")) if whole else None


@dataclass(frozen=True)
class Ratio:
    """``count`` of ``total`` (the rate is in %)."""

    count: int
    total: int

    @property
    def rate(self) -> Decimal | None:
        return percent(self.count, self.total)


@dataclass(frozen=True)
class Durations:
    """Hours over ``count`` items (complaints from receipt; the dashboard's steps):
    median and 90th percentile by nearest rank."""

    count: int
    median_hours: Decimal | None
    p90_hours: Decimal | None

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Durations:
        values = sorted(seconds)
        if not values:
            return cls(0, None, None)

        def rank(q: float) -> Decimal:  # nearest rank: a value that occurred
            value = values[max(math.ceil(q * len(values)) - 1, 0)]
            return (Decimal(value) / 3600).quantize(Decimal("0.01"))

        return cls(len(values), rank(0.5), rank(0.9))


@dataclass(frozen=True)
class Share:
    key: str
    count: int
    total: int  # the period's complaints

    @property
    def rate(self) -> Decimal | None:
        return percent(self.count, self.total)


@dataclass(frozen=True)
class ProductShare(Share):
    product_id: uuid.UUID | None = None  # None: complaints about no policy or claim
    policies_in_force: int = 0

    @property
    def per_10k_policies(self) -> Decimal | None:
        if not self.policies_in_force:
            return None
        return (Decimal(10_000) * self.count / self.policies_in_force).quantize(Decimal("0.01"))


@dataclass
class PeriodFigures:
    first_day: date
    last_day: date
    received: int
    by_class: list[Share]
    by_channel: list[Share]
    by_product: list[ProductShare]
    first_response: Durations
    answer: Durations
    first_response_late: Ratio  # of those whose first response was due by now
    answer_late: Ratio  # of those whose answer was due by now (or came)
    reopened: Ratio  # review requested, of those answered
    satisfied: Ratio  # ratings of 4-5, of the ratings in complaint surveys sent then
    proposals_accepted: Ratio  # staff decisions that kept the proposal, of decisions
    top_root_causes: list[Share] = field(default_factory=list)  # of the period's complaints


@dataclass(frozen=True)
class _Row:
    id: uuid.UUID
    day: date
    content_class: str
    channel: str
    product_id: uuid.UUID | None
    received_at: datetime
    first_response_due_at: datetime
    first_responded_at: datetime | None
    answer_due_at: datetime
    answered_at: datetime | None
    withdrawn: bool

    @property
    def responded_at(self) -> datetime | None:
        """The first response; an answer given without a logged contact is one too."""
        return self.first_responded_at or self.answered_at


def _shares(keys: Iterable[str], total: int) -> list[Share]:
    return [
        Share(k, n, total) for k, n in sorted(Counter(keys).items(), key=lambda i: (-i[1], i[0]))
    ]


async def _rows(start: datetime, end: datetime) -> list[_Row]:
    values = await Complaint.filter(received_at__gte=start, received_at__lt=end).values(
        "id",
        "content_class",
        "channel",
        "status",
        "received_at",
        "first_response_due_at",
        "first_responded_at",
        "answer_due_at",
        "answered_at",
        "policy__product_id",
        "claim__policy__product_id",
    )
    return [
        _Row(
            id=v["id"],
            day=v["received_at"].astimezone(SHANGHAI).date(),
            content_class=str(v["content_class"]),
            channel=str(v["channel"]),
            product_id=v["policy__product_id"] or v["claim__policy__product_id"],
            received_at=v["received_at"],
            first_response_due_at=v["first_response_due_at"],
            first_responded_at=v["first_responded_at"],
            answer_due_at=v["answer_due_at"],
            answered_at=v["answered_at"],
            withdrawn=v["status"] == ComplaintStatus.WITHDRAWN,
        )
        for v in values
    ]


async def _policies_in_force(first: date, last: date) -> dict[uuid.UUID, int]:
    """Policies per product in force at some time of the period."""
    rows = (
        await Policy.filter(starts_at__lt=local_midnight(last + timedelta(days=1)))
        .filter(ends_at__gte=local_midnight(first))
        .annotate(n=Count("id"))
        .group_by("product_id")
        .values_list("product_id", "n")
    )
    return {product: n for product, n in rows}


async def _satisfaction(first: date, last: date, bounds: list[tuple[date, date]]) -> list[Ratio]:
    """Complaint-survey ratings by the day the survey went out (the closure)."""
    ratings = await SurveyAnswer.filter(
        day__gte=first.isoformat(),
        day__lte=last.isoformat(),
        kind=QuestionKind.RATING,
        response__template__code=SURVEY_CODE,
    ).values_list("day", "number")
    out = []
    for start, end in bounds:
        inside = [n for d, n in ratings if start.isoformat() <= d <= end.isoformat() and n]
        out.append(Ratio(sum(1 for n in inside if n >= 4), len(inside)))
    return out


async def complaint_figures(
    actor: Actor, period: Period, first: date, last: date, now: datetime | None = None
) -> list[PeriodFigures]:
    """The figures of each period from ``first`` to ``last`` (local days, included)."""
    if not (actor.is_staff and actor.can(Permission.COMPLAINT_SUPERVISE)):
        raise ComplaintError(E.NOT_ALLOWED, "查看投诉统计需要投诉主管权限")
    if last < first:
        raise ComplaintError(E.DAY_NOT_FOUND, "结束日期不能早于开始日期", "to")
    bounds = periods(first, last, period)
    if len(bounds) > MAX_PERIODS:
        raise ComplaintError(
            E.DAY_NOT_FOUND, f"一次最多统计{MAX_PERIODS}个周期，请缩短日期范围或改用更长周期", "to"
        )
    now = now or datetime.now(UTC)
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    rows = await _rows(start, end)
    ids = [r.id for r in rows]
    reopened = set(
        await ComplaintEvent.filter(
            action="request_review",
            complaint__received_at__gte=start,
            complaint__received_at__lt=end,
        ).values_list("complaint_id", flat=True)
    )
    decisions = await ClassificationCorrection.filter(
        complaint__received_at__gte=start, complaint__received_at__lt=end
    ).values_list("complaint_id", "accepted")
    names = dict(await Product.all().values_list("id", "name")) if ids else {}
    causes: dict[uuid.UUID, str] = dict(
        await ComplaintRootCause.filter(complaint_id__in=ids).values_list(
            "complaint_id", "category"
        )
    )
    satisfaction = await _satisfaction(first, last, bounds)

    by_period: defaultdict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        index = next(i for i, (s, e) in enumerate(bounds) if s <= row.day <= e)
        by_period[index].append(row)
    out = []
    for index, (s, e) in enumerate(bounds):
        these = by_period[index]
        total = len(these)
        mine = {r.id for r in these}
        in_force = await _policies_in_force(s, e) if these else {}
        products = Counter(r.product_id for r in these)
        # Due by now: answered (or responded), or past due and not withdrawn.
        first_due = [
            r
            for r in these
            if r.responded_at or (r.first_response_due_at < now and not r.withdrawn)
        ]
        answer_due = [
            r for r in these if r.answered_at or (r.answer_due_at < now and not r.withdrawn)
        ]
        answered = [r for r in these if r.answered_at]
        kept = [accepted for complaint_id, accepted in decisions if complaint_id in mine]
        out.append(
            PeriodFigures(
                first_day=s,
                last_day=e,
                received=total,
                by_class=_shares((r.content_class for r in these), total),
                by_channel=_shares((r.channel for r in these), total),
                by_product=[
                    ProductShare(
                        key=names.get(product, "") if product else "",
                        count=n,
                        total=total,
                        product_id=product,
                        policies_in_force=in_force.get(product, 0) if product else 0,
                    )
                    for product, n in sorted(products.items(), key=lambda i: (-i[1], str(i[0])))
                ],
                first_response=Durations.of(
                    (r.responded_at - r.received_at).total_seconds()
                    for r in these
                    if r.responded_at
                ),
                answer=Durations.of(
                    (r.answered_at - r.received_at).total_seconds()
                    for r in answered
                    if r.answered_at
                ),
                first_response_late=Ratio(
                    sum(1 for r in first_due if (r.responded_at or now) > r.first_response_due_at),
                    len(first_due),
                ),
                answer_late=Ratio(
                    sum(1 for r in answer_due if (r.answered_at or now) > r.answer_due_at),
                    len(answer_due),
                ),
                reopened=Ratio(len(mine & reopened), len(answered)),
                satisfied=satisfaction[index],
                top_root_causes=_shares((causes[r.id] for r in these if r.id in causes), total)[
                    :TOP_ROOT_CAUSES
                ],
                proposals_accepted=Ratio(sum(1 for a in kept if a), len(kept)),
            )
        )
    return out
