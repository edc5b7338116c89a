"""The working-day calendar (工作日历) the complaint clocks count in: China's public
holidays that fall on weekdays, and the weekend days made working days by the State
Council's yearly schedule (调休). A day not listed here follows the week (Monday to
Friday work). Seeded with the published schedules; staff add each new year's.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.base import Entity


class DayKind(StrEnum):
    HOLIDAY = "HOLIDAY"  # 法定节假日 (no work, even on a weekday)
    WORKDAY = "WORKDAY"  # 调休上班 (work, even on a weekend)


class WorkCalendarDay(Entity):
    day = fields.DateField(unique=True)  # the local (Asia/Shanghai) date
    kind = fields.CharEnumField(DayKind, max_length=16)
    name = fields.CharField(max_length=32)  # e.g. 春节, 国庆节调休
    set_by_id: uuid.UUID | None = fields.UUIDField(null=True)  # null: the seeded schedule

    class Meta:
        table = "work_calendar_day"
