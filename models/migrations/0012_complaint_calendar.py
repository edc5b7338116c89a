"""The working-day calendar of the complaint clocks (issue 14): public holidays and
adjusted working days (调休), seeded with the State Council's published schedules for
2025 (国办发明电〔2024〕12号) and 2026 (国办发明电〔2025〕7号). Later years are added by
staff (``setWorkCalendarDay``); a day already present is left as staff set it."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from models.work_calendar import DayKind
from uuid import uuid4
from tortoise import fields


def _span(first: str, last: str, name: str) -> list[tuple[date, str, str]]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [
        (start + timedelta(days=n), "HOLIDAY", name) for n in range((end - start).days + 1)
    ]


def _work(day: str, name: str) -> tuple[date, str, str]:
    return (date.fromisoformat(day), "WORKDAY", f"{name}调休上班")


PUBLISHED = [
    # 2025
    *_span("2025-01-01", "2025-01-01", "元旦"),
    *_span("2025-01-28", "2025-02-04", "春节"),
    _work("2025-01-26", "春节"),
    _work("2025-02-08", "春节"),
    *_span("2025-04-04", "2025-04-06", "清明节"),
    *_span("2025-05-01", "2025-05-05", "劳动节"),
    _work("2025-04-27", "劳动节"),
    *_span("2025-05-31", "2025-06-02", "端午节"),
    *_span("2025-10-01", "2025-10-08", "国庆节、中秋节"),
    _work("2025-09-28", "国庆节"),
    _work("2025-10-11", "国庆节"),
    # 2026
    *_span("2026-01-01", "2026-01-03", "元旦"),
    _work("2026-01-04", "元旦"),
    *_span("2026-02-15", "2026-02-23", "春节"),
    _work("2026-02-14", "春节"),
    _work("2026-02-28", "春节"),
    *_span("2026-04-04", "2026-04-06", "清明节"),
    *_span("2026-05-01", "2026-05-05", "劳动节"),
    _work("2026-05-09", "劳动节"),
    *_span("2026-06-19", "2026-06-21", "端午节"),
    *_span("2026-09-25", "2026-09-27", "中秋节"),
    *_span("2026-10-01", "2026-10-07", "国庆节"),
    _work("2026-09-20", "国庆节"),
    _work("2026-10-10", "国庆节"),
]


async def _seed(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    marks = ", ".join(f"${i}" if postgres else "?" for i in range(1, 6))
    held = {
        date.fromisoformat(str(row["day"])[:10])
        for row in await client.execute_query_dict("SELECT day FROM work_calendar_day")
    }
    now = datetime.now(UTC)
    for day, kind, name in PUBLISHED:
        if day in held:
            continue
        await client.execute_query(
            "INSERT INTO work_calendar_day (id, created_at, day, kind, name) "
            f"VALUES ({marks})",
            [str(uuid.uuid4()), now, day if postgres else day.isoformat(), kind, name],
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0011_complaint_remedies')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WorkCalendarDay',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('day', fields.DateField(unique=True)),
                ('kind', fields.CharEnumField(description='HOLIDAY: HOLIDAY\nWORKDAY: WORKDAY', enum_type=DayKind, max_length=16)),
                ('name', fields.CharField(max_length=32)),
                ('set_by_id', fields.UUIDField(null=True)),
            ],
            options={'table': 'work_calendar_day', 'app': 'models', 'pk_attr': 'id'},
            bases=['Entity'],
        ),
        ops.RunPython(_seed, ops.RunPython.noop),
    ]
