"""When human agents work (Asia/Shanghai): the assistant answers at any hour, agents only
within these hours; outside them the customer is told when agents are back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from models.clock import SHANGHAI

_SPEC = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAYS = re.compile(r"^\s*([1-7])\s*(?:-\s*([1-7]))?\s*$")
WEEKDAY_NAMES = "一二三四五六日"


@dataclass(frozen=True)
class WorkingHours:
    """Agents work from ``start`` to ``end`` (local time, same day) on ``weekdays``
    (1 = Monday … 7 = Sunday)."""

    start: time = time(9, 0)
    end: time = time(21, 0)
    weekdays: frozenset[int] = frozenset(range(1, 8))

    @classmethod
    def parse(cls, hours: str, days: str = "1-7") -> WorkingHours:
        """``"09:00-21:00"`` (``"00:00-24:00"``: all day) and ``"1-5"`` or ``"1,2,3,4,5,6"``."""
        match = _SPEC.match(hours)
        if match is None:
            raise ValueError(f"agent hours are HH:MM-HH:MM, e.g. 09:00-21:00, not {hours!r}")
        start = time(int(match[1]), int(match[2]))
        end = (
            time.max
            if match[3] == "24" and match[4] == "00"
            else time(int(match[3]), int(match[4]))
        )
        if end <= start:
            raise ValueError(f"agent hours must end after they start: {hours!r}")
        weekdays: set[int] = set()
        for part in days.split(","):
            found = _DAYS.match(part)
            if found is None:
                raise ValueError(f"agent days are 1-7 (Monday is 1), e.g. 1-5 or 1,3,5: {days!r}")
            first, last = int(found[1]), int(found[2] or found[1])
            weekdays.update(range(first, last + 1))
        if not weekdays:
            raise ValueError("agent days must name at least one day")
        return cls(start, end, frozenset(weekdays))

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(SHANGHAI)
        return local.isoweekday() in self.weekdays and self.start <= local.time() < self.end

    def next_open(self, now: datetime) -> datetime:
        """When agents are next at work (``now`` if they are), as a UTC instant."""
        if self.is_open(now):
            return now.astimezone(UTC)
        local = now.astimezone(SHANGHAI)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            opening = datetime.combine(day, self.start, SHANGHAI)
            if day.isoweekday() in self.weekdays and opening > local:
                return opening.astimezone(UTC)
        raise AssertionError("weekdays is never empty")  # pragma: no cover

    def describe(self) -> str:
        """ "每天09:00-21:00" / "周一至周五09:00-18:00", for the customer."""
        days = sorted(self.weekdays)
        if len(days) == 7:
            when = "每天"
        elif days == list(range(days[0], days[-1] + 1)):
            when = f"周{WEEKDAY_NAMES[days[0] - 1]}至周{WEEKDAY_NAMES[days[-1] - 1]}"
        else:
            when = "每周" + "、".join(WEEKDAY_NAMES[d - 1] for d in days)
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{when}{self.start:%H:%M}-{end}"


def back_text(hours: WorkingHours, now: datetime) -> str:
    """ "人工客服服务时间为每天09:00-21:00，将于12月3日09:00恢复服务。" """
    back = hours.next_open(now).astimezone(SHANGHAI)
    return (
        f"人工客服服务时间为{hours.describe()}，将于{back.month}月{back.day}日"
        f"{back:%H:%M}恢复服务。"
    )
