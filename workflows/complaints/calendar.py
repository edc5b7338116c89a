"""The working days the complaint clocks count: Monday to Friday, less the public
holidays, plus the weekend days the State Council's schedule makes working days (调休),
from the ``chinese-calendar`` library with the supervisors' own entries in
``work_calendar_day`` on top (see ``workflows/working_days.py``).

Which clocks count working days (our reading of 银行保险机构消费投诉处理管理办法, 2020):
the answer clock says "15日" / "30日" / "60日" without 工作日, and a rule that means working
days says so, so the answer clock runs in calendar days from receipt and is not stretched
by a holiday (the Civil Code's rule that a period ending on a holiday ends the next
working day is a floor the insurer does not need: answering inside the plain calendar
days is always within it). The first response of a general complaint ("1 working day")
is the insurer's own service standard and counts working days from this calendar; the
urgent and major first responses are hours on the clock, holidays or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise.transactions import in_transaction

from models.clock import SHANGHAI
from models.complaints import Urgency
from models.work_calendar import DayKind, WorkCalendarDay
from workflows.access import Actor, Permission
from workflows.complaints.rules import (
    CLOCKS,
    ClockSettings,
    ComplaintError,
    ComplaintErrorCode,
    first_response_due,
)
from workflows.working_days import (
    LOOKAHEAD_DAYS,
    WorkCalendar,
    library_kind,
    library_name,
    load_calendar,
)

__all__ = ["WorkCalendar", "load_calendar"]

E = ComplaintErrorCode
NAME_LIMIT = 32
RANGE_LIMIT = timedelta(days=400)  # one list: a year and a bit


@dataclass(frozen=True)
class CalendarDay:
    """A day that differs from the usual week, and who says so."""

    day: date
    kind: DayKind
    name: str
    from_library: bool  # the published schedule (chinese-calendar), not a staff entry


async def first_response_deadline(
    received: datetime, urgency: Urgency, clocks: ClockSettings = CLOCKS
) -> datetime:
    """When the first response is due, counting working days by the calendar."""
    start = received.astimezone(SHANGHAI).date()
    reach = timedelta(days=LOOKAHEAD_DAYS * max(clocks.general_working_days, 1))
    calendar = await load_calendar(start, start + reach)
    return first_response_due(received, urgency, clocks, calendar.is_working_day)


def _supervisor(actor: Actor) -> None:
    if not (actor.is_staff and actor.can(Permission.COMPLAINT_SUPERVISE)):
        raise ComplaintError(E.NOT_ALLOWED, "维护工作日历需要投诉主管权限")


async def set_day(actor: Actor, day: date, kind: DayKind, name: str) -> WorkCalendarDay:
    """Mark a day a holiday or an adjusted working day (replacing what it was)."""
    _supervisor(actor)
    name = name.strip()
    if not name:
        raise ComplaintError(E.REASON_REQUIRED, "请填写节日名称", "name")
    if len(name) > NAME_LIMIT:
        raise ComplaintError(E.TEXT_TOO_LONG, f"名称不能超过{NAME_LIMIT}字", "name")
    async with in_transaction():
        # One row per day on every backend: the unique day decides between two clicks.
        row, created = await WorkCalendarDay.get_or_create(
            day=day, defaults={"kind": kind, "name": name, "set_by_id": actor.subject_id}
        )
        if not created:
            await WorkCalendarDay.filter(id=row.id).update(
                kind=kind, name=name, set_by_id=actor.subject_id
            )
            await row.refresh_from_db()
    return row


async def remove_day(actor: Actor, day: date) -> None:
    """The day follows the week again: the staff entry goes, and where the library has
    the day as a holiday or 调休, a WEEK entry overrides it."""
    _supervisor(actor)
    async with in_transaction():
        row = await WorkCalendarDay.filter(day=day).select_for_update().first()
        if row is not None and row.kind is DayKind.WEEK:
            row = None  # already the usual week
        if row is None and library_kind(day) is None:
            raise ComplaintError(E.DAY_NOT_FOUND, "该日期不在工作日历中", "day")
        await WorkCalendarDay.filter(day=day).delete()
        if library_kind(day) is not None:
            await WorkCalendarDay.create(
                day=day, kind=DayKind.WEEK, name="按常规星期", set_by_id=actor.subject_id
            )


async def days_between(first: date, last: date) -> list[CalendarDay]:
    """The days from ``first`` to ``last`` that differ from the usual week, from the
    library and the staff entries (at most about a year at once)."""
    if last < first or last - first > RANGE_LIMIT:
        raise ComplaintError(E.DAY_NOT_FOUND, "日期范围应在一年左右之内", "to")
    days: dict[date, CalendarDay] = {}
    day = first
    while day <= last:
        kind = library_kind(day)
        if kind is not None:
            days[day] = CalendarDay(day, kind, library_name(day), from_library=True)
        day += timedelta(days=1)
    for row in await WorkCalendarDay.filter(day__gte=first, day__lte=last):
        if row.kind is DayKind.WEEK:
            days.pop(row.day, None)
        else:
            days[row.day] = CalendarDay(row.day, row.kind, row.name, from_library=False)
    return [days[d] for d in sorted(days)]
