"""The analytics vocabulary: periods (day, ISO week, month, counted in Asia/Shanghai),
the bounds of one request, the error codes, and the two shapes every figure is made
of: a ``Ratio`` (a count out of a total, never a bare rate) and ``Durations`` (median
and 90th percentile, nearest rank: a value that really occurred) — the complaint
figures' own, so the two never drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from models.clock import SHANGHAI
from workflows.access import Actor, Permission
from workflows.complaints.figures import Durations as Durations
from workflows.complaints.figures import Ratio as Ratio
from workflows.errors import DomainError

MAX_PERIODS = 62  # one request: 62 days, 62 weeks or 62 months
MAX_DAYS = 731  # and at most two years of data however it is grouped


class AnalyticsErrorCode(StrEnum):
    NOT_ALLOWED = "NOT_ALLOWED"
    INVALID_RANGE = "INVALID_RANGE"
    RANGE_TOO_LONG = "RANGE_TOO_LONG"
    UNKNOWN_FIGURE = "UNKNOWN_FIGURE"


class AnalyticsError(DomainError):
    codes = AnalyticsErrorCode


E = AnalyticsErrorCode


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


def _next_start(start: date, period: Period) -> date:
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class Bucket:
    """One period: its first and last local day, clipped to the requested range."""

    first: date
    last: date

    @property
    def key(self) -> str:
        return self.first.isoformat()


class Buckets:
    """The periods of one request, and which one a moment or a local day falls in."""

    def __init__(self, period: Period, first: date, last: date):
        self.period, self.first, self.last = period, first, last
        self.items: list[Bucket] = []
        start = period_start(first, period)
        while start <= last:
            end = _next_start(start, period)
            self.items.append(Bucket(max(start, first), min(end - timedelta(days=1), last)))
            start = end
        self._index = {b.first: i for i, b in enumerate(self.items)}

    @property
    def start(self) -> datetime:
        """The range's first instant (local midnight of the first day) in UTC."""
        return local_midnight(self.first)

    @property
    def end(self) -> datetime:
        """The instant after the range (local midnight after the last day) in UTC."""
        return local_midnight(self.last + timedelta(days=1))

    def of_day(self, day: date) -> int | None:
        if day < self.first or day > self.last:
            return None
        return self._index[max(period_start(day, self.period), self.first)]

    def of(self, moment: datetime | None) -> int | None:
        return None if moment is None else self.of_day(local_day(moment))


def aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC time (SQLite may hand back naive UTC text)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def local_day(moment: datetime) -> date:
    return aware(moment).astimezone(SHANGHAI).date()


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)


def check(actor: Actor, period: Period, first: date, last: date) -> Buckets:
    """Who may look (ANALYTICS_READ) and how much at once: refused before any read."""
    if not (actor.is_staff and actor.can(Permission.ANALYTICS_READ)):
        raise AnalyticsError(E.NOT_ALLOWED, "查看运营数据需要数据分析权限")
    if last < first:
        raise AnalyticsError(E.INVALID_RANGE, "结束日期不能早于开始日期", "to")
    if (last - first).days + 1 > MAX_DAYS:
        raise AnalyticsError(E.RANGE_TOO_LONG, f"一次最多统计{MAX_DAYS}天", "to")
    buckets = Buckets(period, first, last)
    if len(buckets.items) > MAX_PERIODS:
        raise AnalyticsError(
            E.RANGE_TOO_LONG,
            f"一次最多统计{MAX_PERIODS}个周期，请缩短日期范围或改用更长周期",
            "to",
        )
    return buckets


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (aware(end) - aware(start)).total_seconds()
