"""China's working days (工作日), for every clock that counts them (complaint first
responses, service commitments).

Where they come from, in order:
1. ``work_calendar_day`` rows set by staff (``setWorkCalendarDay``): a holiday, an
   adjusted working day (调休上班), or WEEK ("this day follows the usual week", which
   undoes the library's entry for that day). Staff have the last word.
2. The maintained ``chinese-calendar`` library (PyPI ``chinesecalendar``): the State
   Council's published holidays and 调休 working weekends, 2004-2026 in 1.11.0. A new
   year's schedule arrives with a new release of the library (pinned in
   requirements.lock), not with a hand-written list.
3. Monday to Friday.

Outside the library's years (it raises ``NotImplementedError`` there) the days are not
refused: a deadline must be computed whatever the date, so such a day follows the week
unless staff set it, and a warning is logged once per year so the gap is seen (upgrade
the library, or set the year's days by hand until a release has them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

import chinese_calendar
from chinese_calendar import constants as published

from models.clock import SHANGHAI
from models.work_calendar import DayKind, WorkCalendarDay

log = logging.getLogger("anxin.calendar")
# How far ahead a deadline of n working days may reach: the longest run of days off in
# the published schedules is 9 (Spring Festival 2026) beside two weekends.
LOOKAHEAD_DAYS = 21
_warned: set[int] = set()


@cache
def library_years() -> tuple[int, int]:
    """The first and last year the installed library has data for."""
    years = {day.year for day in published.holidays} | {day.year for day in published.workdays}
    return min(years), max(years)


def library_kind(day: date) -> DayKind | None:
    """The library's word on ``day``: HOLIDAY, WORKDAY (调休), or None (the usual week,
    also for a year the library does not have: see the module docstring)."""
    first, last = library_years()
    if not first <= day.year <= last:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning(
                "chinese-calendar %s has no schedule for %s (it has %s-%s): weekends only, "
                "plus the days staff set",
                getattr(chinese_calendar, "__version__", "?"),
                day.year,
                first,
                last,
            )
        return None
    if day in published.workdays:
        return DayKind.WORKDAY
    if day in published.holidays:
        return DayKind.HOLIDAY
    return None


def library_name(day: date) -> str:
    """The holiday's Chinese name for a library day (e.g. 国庆节, 国庆节调休上班)."""
    english = published.holidays.get(day) or published.workdays.get(day)
    names = {h.value: h.chinese for h in chinese_calendar.Holiday}
    name = str(names.get(english, english or ""))[:24]
    return f"{name}调休上班" if day in published.workdays else name


@dataclass(frozen=True)
class WorkCalendar:
    """The exceptions to the week, for a stretch of days."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.weekday() < 5


def merge(first: date, last: date, rows: list[tuple[date, DayKind]]) -> WorkCalendar:
    """The library's days from ``first`` to ``last`` with the staff rows on top."""
    kinds: dict[date, DayKind | None] = {}
    day = first
    while day <= last:
        kinds[day] = library_kind(day)
        day += timedelta(days=1)
    for day, kind in rows:
        kinds[day] = None if kind is DayKind.WEEK else kind
    return WorkCalendar(
        holidays=frozenset(d for d, k in kinds.items() if k is DayKind.HOLIDAY),
        workdays=frozenset(d for d, k in kinds.items() if k is DayKind.WORKDAY),
    )


async def load_calendar(first: date, last: date) -> WorkCalendar:
    rows = await WorkCalendarDay.filter(day__gte=first, day__lte=last).values_list("day", "kind")
    return merge(first, last, [(d, DayKind(k)) for d, k in rows])


def add_working_days(
    start: datetime, days: int, is_working_day: Callable[[date], bool]
) -> datetime:
    """The same Beijing time on the ``days``-th working day after the day of ``start``
    (a start on a day off counts from that day too: Saturday 10:00 plus one working day
    is Monday 10:00)."""
    local = start.astimezone(SHANGHAI)
    day, left = local.date(), days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


async def working_days_after(start: datetime, days: int) -> datetime:
    """``add_working_days`` on the calendar read from the library and the table."""
    first = start.astimezone(SHANGHAI).date()
    calendar = await load_calendar(first, first + timedelta(days=LOOKAHEAD_DAYS * max(days, 1)))
    return add_working_days(start, days, calendar.is_working_day)
