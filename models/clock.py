"""Time as the business counts it: stored in UTC, shown and counted in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime) -> datetime:
    return value.astimezone(SHANGHAI)


def local_date(value: datetime) -> date:
    return value.astimezone(SHANGHAI).date()


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in Beijing, as a UTC instant (days are counted locally)."""
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def local_today() -> date:
    return datetime.now(SHANGHAI).date()
