"""The working-day clock of complaints: a general complaint's first response skips the
National Day holiday and falls on the 调休 Saturday after it; the answer clock stays in
calendar days; the published schedules are seeded once; supervisors keep the calendar."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import pytest
from tortoise import connections

from api.services import Services
from models.complaints import ComplaintChannel, ComplaintClass, Urgency
from models.staff import StaffRole
from models.work_calendar import DayKind, WorkCalendarDay
from tests.factories import make_customer, make_staff
from tests.workflows.test_complaints import as_customer, as_staff, refused
from workflows.complaints import calendar, handling, intake
from workflows.complaints.calendar import WorkCalendar, first_response_deadline
from workflows.complaints.intake import Subjects
from workflows.complaints.rules import ClockSettings, ComplaintErrorCode, first_response_due

E = ComplaintErrorCode
H, W = DayKind.HOLIDAY, DayKind.WORKDAY


def beijing(day: str, hour: int = 10) -> datetime:
    """``hour`` o'clock in Beijing on ``day``, as UTC."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00").astimezone(UTC)


async def national_day_2026(services: Services) -> None:
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    for n in range(7):
        await calendar.set_day(boss, date(2026, 10, 1) + timedelta(days=n), H, "国庆节")
    await calendar.set_day(boss, date(2026, 10, 10), W, "国庆节调休上班")
    await calendar.set_day(boss, date(2026, 2, 14), W, "春节调休上班")


def test_the_pure_rule_counts_working_days_in_beijing() -> None:
    # Friday 23:30 in Beijing is Friday 15:30 UTC: the next working day is Monday.
    friday_night = beijing("2026-11-27", 23) + timedelta(minutes=30)
    due = first_response_due(friday_night, Urgency.GENERAL)
    assert due == beijing("2026-11-30", 23) + timedelta(minutes=30)
    days_off = WorkCalendar(holidays=frozenset({date(2026, 11, 30)}))
    assert first_response_due(
        friday_night, Urgency.GENERAL, is_working_day=days_off.is_working_day
    ) == (beijing("2026-12-01", 23) + timedelta(minutes=30))
    two = ClockSettings(general_working_days=2, urgent=timedelta(minutes=30))
    assert first_response_due(friday_night, Urgency.GENERAL, two) == beijing(
        "2026-12-01", 23
    ) + timedelta(minutes=30)
    assert first_response_due(friday_night, Urgency.URGENT, two) == friday_night + timedelta(
        minutes=30
    )


async def test_a_holiday_and_a_adjusted_saturday(services: Services) -> None:
    await national_day_2026(services)
    # Wednesday 30 September: 1-7 October are off, Thursday 8 October is the working day.
    assert await first_response_deadline(beijing("2026-09-30"), Urgency.GENERAL) == beijing(
        "2026-10-08"
    )
    # Friday 9 October: Saturday 10 October is worked (调休), so it is due then, not Monday.
    assert await first_response_deadline(beijing("2026-10-09"), Urgency.GENERAL) == beijing(
        "2026-10-10"
    )
    # Friday 13 February: Saturday 14 February is worked before the Spring Festival.
    assert await first_response_deadline(beijing("2026-02-13"), Urgency.GENERAL) == beijing(
        "2026-02-14"
    )
    # Hours stay hours on a holiday.
    assert await first_response_deadline(beijing("2026-10-02"), Urgency.URGENT) == beijing(
        "2026-10-02", 12
    )
    # Without the calendar row the Saturday is a weekend again.
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    await calendar.remove_day(boss, date(2026, 10, 10))
    assert await first_response_deadline(beijing("2026-10-09"), Urgency.GENERAL) == beijing(
        "2026-10-12"
    )


async def test_intake_and_classification_use_the_calendar_and_the_clock_settings(
    services: Services,
) -> None:
    await national_day_2026(services)
    me = as_customer(await make_customer(services))
    received = beijing("2026-09-30")
    complaint = await intake.file_complaint(
        me, ComplaintChannel.APP, "客服电话没人接", Subjects(), now=received
    )
    assert complaint.urgency is Urgency.GENERAL
    assert complaint.first_response_due_at == beijing("2026-10-08")
    # The answer clock is 15 calendar days: the holiday does not stretch it.
    assert complaint.answer_due_at == received + timedelta(days=15)

    clocks = ClockSettings(urgent=timedelta(minutes=45), general_working_days=2)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    urgent = await handling.classify(
        boss, complaint.id, complaint.version, ComplaintClass.SERVICE, Urgency.URGENT, clocks
    )
    assert urgent.first_response_due_at == received + timedelta(minutes=45)
    general = await handling.classify(
        boss, urgent.id, urgent.version, ComplaintClass.SERVICE, Urgency.GENERAL, clocks
    )
    assert general.first_response_due_at == beijing("2026-10-09")


async def test_only_supervisors_keep_the_calendar(services: Services) -> None:
    agent = as_staff(await make_staff(StaffRole.AGENT))
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    day = date(2027, 1, 1)
    await refused(E.NOT_ALLOWED, calendar.set_day(agent, day, H, "元旦"))
    await refused(E.REASON_REQUIRED, calendar.set_day(boss, day, H, "  "))
    await refused(E.TEXT_TOO_LONG, calendar.set_day(boss, day, H, "节" * 33))
    row = await calendar.set_day(boss, day, H, "元旦")
    again = await calendar.set_day(boss, day, W, "元旦调休上班")
    assert again.id == row.id and again.kind is W and again.set_by_id == boss.subject_id
    assert await WorkCalendarDay.filter(day=day).count() == 1
    await refused(E.NOT_ALLOWED, calendar.remove_day(agent, day))
    await calendar.remove_day(boss, day)
    await refused(E.DAY_NOT_FOUND, calendar.remove_day(boss, day))
    await refused(E.DAY_NOT_FOUND, calendar.days_between(day, day - timedelta(days=1)))


async def test_the_migration_seeds_the_published_schedules_once(db: str) -> None:
    migration = importlib.import_module("models.migrations.0012_complaint_calendar")

    class Editor:
        client = connections.get("default")

    await WorkCalendarDay.filter(day=date(2026, 10, 10)).delete()
    await migration._seed(None, Editor())
    await migration._seed(None, Editor())  # again: nothing twice
    assert await WorkCalendarDay.all().count() == len(migration.PUBLISHED)
    saturday = await WorkCalendarDay.get(day=date(2026, 10, 10))
    assert saturday.kind is W and saturday.set_by_id is None
    assert (await WorkCalendarDay.get(day=date(2026, 2, 17))).name == "春节"


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_published_schedule_has_the_seven_holidays(year: int) -> None:
    migration = importlib.import_module("models.migrations.0012_complaint_calendar")
    names = {
        name for day, kind, name in migration.PUBLISHED if day.year == year and kind == "HOLIDAY"
    }
    assert {"元旦", "春节", "清明节", "劳动节", "端午节"} <= names
    assert any("国庆" in name for name in names)
    workdays = [
        day for day, kind, _ in migration.PUBLISHED if day.year == year and kind == "WORKDAY"
    ]
    assert workdays and all(day.weekday() >= 5 for day in workdays)
