"""Health management (健康管理): programmes with tasks that earn points.

The app sends only the customer's own declaration that a task is done ("I walked 8,000
steps today"), never device data taken as fact: a value is bounded (below the task's
minimum it is not done; above its maximum it is not believable) and a task counts once
per period (day, ISO week, or once), decided by the unique (customer, task, period).
The completion and its points (``health:<completion id>``) are written together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models.clock import local_date
from models.membership import HealthPeriod, HealthProgramme, HealthTask, HealthTaskCompletion
from workflows.membership.points import award_points
from workflows.membership.rules import E, MembershipError
from workflows.membership.store import current_rules


def period_key(period: HealthPeriod, now: datetime) -> str:
    """The period a completion counts for, in Asia/Shanghai."""
    today = local_date(now)
    if period is HealthPeriod.DAILY:
        return today.isoformat()
    if period is HealthPeriod.WEEKLY:
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"
    return "once"


@dataclass(frozen=True)
class DefaultTask:
    code: str
    name: str
    description: str
    period: HealthPeriod
    points: int
    value_label: str | None = None
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class DefaultProgramme:
    code: str
    name: str
    description: str
    tasks: tuple[DefaultTask, ...]


DEFAULT_PROGRAMMES = (
    DefaultProgramme(
        "DAILY_STEPS",
        "每日步数",
        "每天走够8000步，坚持运动赚积分。",
        (
            DefaultTask(
                "STEPS_8000",
                "今日步数达到8000步",
                "填写今天的步数（以手机计步为准，由您本人申报）",
                HealthPeriod.DAILY,
                10,
                "步数",
                8000,
                100000,
            ),
            DefaultTask(
                "EXERCISE_3X",
                "本周运动3次",
                "本周完成3次30分钟以上的运动",
                HealthPeriod.WEEKLY,
                30,
            ),
        ),
    ),
    DefaultProgramme(
        "CHECK_UP_FOLLOW_UP",
        "体检后随访",
        "完成年度体检后，按医生建议跟进复查。",
        (
            DefaultTask(
                "READ_REPORT",
                "阅读体检报告解读",
                "阅读并确认已了解体检报告的解读",
                HealthPeriod.ONCE,
                50,
            ),
            DefaultTask(
                "BLOOD_PRESSURE",
                "每周测量血压",
                "填写本周测量的收缩压（mmHg）",
                HealthPeriod.WEEKLY,
                20,
                "收缩压",
                60,
                250,
            ),
        ),
    ),
)


async def ensure_programmes() -> None:
    """The default programmes, written once (by code)."""
    if await HealthProgramme.exists():
        return
    async with in_transaction():
        for position, spec in enumerate(DEFAULT_PROGRAMMES):
            programme, created = await HealthProgramme.get_or_create(
                code=spec.code,
                defaults={"name": spec.name, "description": spec.description, "position": position},
            )
            if not created:
                continue
            for index, task in enumerate(spec.tasks):
                await HealthTask.create(
                    programme=programme,
                    code=task.code,
                    name=task.name,
                    description=task.description,
                    period=task.period,
                    points=task.points,
                    value_label=task.value_label,
                    min_value=task.min_value,
                    max_value=task.max_value,
                    position=index,
                )


async def programmes() -> list[HealthProgramme]:
    await ensure_programmes()
    return await HealthProgramme.filter(active=True).prefetch_related("tasks")


async def done_keys(
    customer_id: uuid.UUID, tasks: list[HealthTask], now: datetime
) -> set[uuid.UUID]:
    """The tasks done in their current period, in one query."""
    if not tasks:
        return set()
    keys = {period_key(HealthPeriod(t.period), now) for t in tasks}
    rows = await HealthTaskCompletion.filter(
        customer_id=customer_id, task_id__in=[t.id for t in tasks], period_key__in=list(keys)
    ).values("task_id", "period_key")
    by_task = {t.id: period_key(HealthPeriod(t.period), now) for t in tasks}
    return {r["task_id"] for r in rows if by_task.get(r["task_id"]) == r["period_key"]}


async def complete_task(
    customer_id: uuid.UUID, task_id: uuid.UUID, value: int | None, now: datetime | None = None
) -> tuple[HealthTaskCompletion, HealthTask]:
    """Declare a task done for its current period; its points are credited with it."""
    now = now or datetime.now(UTC)
    task = await HealthTask.get_or_none(id=task_id, programme__active=True).select_related(
        "programme"
    )
    if task is None:
        raise MembershipError(E.TASK_NOT_FOUND, "未找到该健康任务", "taskId")
    if task.value_label is None:
        value = None
    elif value is None:
        raise MembershipError(E.VALUE_OUT_OF_RANGE, f"请填写{task.value_label}", "value")
    elif task.max_value is not None and value > task.max_value:
        raise MembershipError(
            E.VALUE_OUT_OF_RANGE, f"{task.value_label}不能超过{task.max_value}", "value"
        )
    elif task.min_value is not None and value < task.min_value:
        raise MembershipError(
            E.VALUE_OUT_OF_RANGE, f"{task.value_label}未达到{task.min_value}，暂未完成", "value"
        )
    key = period_key(HealthPeriod(task.period), now)
    rules = await current_rules()
    async with in_transaction():
        candidate = HealthTaskCompletion(
            id=uuid.uuid4(),
            customer_id=customer_id,
            task_id=task.id,
            period_key=key,
            value=value,
            points=task.points,
        )
        await HealthTaskCompletion.bulk_create([candidate], ignore_conflicts=True)
        if not await HealthTaskCompletion.exists(id=candidate.id):
            raise MembershipError(E.ALREADY_DONE, "本期已完成该任务", "taskId")
        await award_points(
            customer_id,
            task.points,
            f"health:{candidate.id}",
            f"健康任务：{task.name}",
            expires_on=rules.points_expire_on(local_date(now)),
        )
    return await HealthTaskCompletion.get(id=candidate.id), task
