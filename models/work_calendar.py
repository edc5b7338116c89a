"""The staff's entries in the working-day calendar (工作日历): China's holidays and
调休 working weekends come from the ``chinese-calendar`` library
(``workflows/working_days.py``); a row here overrides the library for its day (a
holiday, a working day, or WEEK: the usual week, undoing the library's entry).
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from tortoise import fields

from models.base import Entity


class DayKind(StrEnum):
    HOLIDAY = "HOLIDAY"  # 法定节假日 (no work, even on a weekday)
    WORKDAY = "WORKDAY"  # 调休上班 (work, even on a weekend)
    WEEK = "WEEK"  # the usual week (Monday to Friday), whatever the library says


class WorkCalendarDay(Entity):
    day = fields.DateField(unique=True)  # the local (Asia/Shanghai) date
    kind = fields.CharEnumField(DayKind, max_length=16)
    name = fields.CharField(max_length=32)  # e.g. 春节, 国庆节调休
    set_by_id: uuid.UUID | None = fields.UUIDField(null=True)  # null: seeded (0012, removed)

    class Meta:
        table = "work_calendar_day"
