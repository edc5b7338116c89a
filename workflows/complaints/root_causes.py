"""Root cause and corrective action (溯源整改): why a complaint happened, which unit
changes what by when, tracked until done.

Staff closure requires a root cause (``require``). The sweep's automatic closure (an
answer accepted, or left unanswered for 7 days) does not wait for one: closing on time
matters more, and such complaints stay visible as ``missing()`` (the queue's
``rootCauseMissing`` filter) until a handler records it. Supervisors list open
corrective actions (``open_actions``, overdue ones first); ``top_root_causes`` is the
figure of the most frequent causes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.clock import SHANGHAI
from models.complaint_remedies import ComplaintRootCause, RootCauseCategory
from models.complaints import Complaint, ComplaintStatus
from workflows.access import Actor, Permission
from workflows.complaints.rules import (
    REASON_LIMIT,
    TEXT_LIMIT,
    ComplaintAction,
    ComplaintError,
    ComplaintErrorCode,
)
from workflows.complaints.state import load_complaint, transition

E = ComplaintErrorCode
S = ComplaintStatus
UNIT_LIMIT = 64
# Once handling has started, until (and after) closure: the sweep closes without one.
RECORDABLE = frozenset({S.IN_PROGRESS, S.ANSWERED, S.ACCEPTED, S.REVIEW_REQUESTED, S.CLOSED})
CATEGORY_NAMES = {
    RootCauseCategory.PRODUCT_DESIGN: "产品设计",
    RootCauseCategory.SALES_CONDUCT: "销售行为",
    RootCauseCategory.CLAIM_HANDLING: "理赔处理",
    RootCauseCategory.SERVICE_ATTITUDE: "服务态度",
    RootCauseCategory.PROCESS_RULE: "流程制度",
    RootCauseCategory.SYSTEM_FAULT: "系统故障",
    RootCauseCategory.COMMUNICATION: "沟通解释不到位",
    RootCauseCategory.THIRD_PARTY: "第三方机构",
    RootCauseCategory.CUSTOMER_MISUNDERSTANDING: "客户误解",
    RootCauseCategory.OTHER: "其他",
}


def _text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ComplaintError(E.REASON_REQUIRED, "此项为必填项", field)
    if len(value) > limit:
        raise ComplaintError(E.TEXT_TOO_LONG, f"不能超过{limit}字", field)
    return value


def today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


async def record(
    actor: Actor,
    complaint_id: uuid.UUID,
    expected_version: int,
    category: RootCauseCategory,
    responsible_unit: str,
    corrective_action: str,
    due_on: date,
) -> tuple[Complaint, ComplaintRootCause]:
    """Record (or, until the action is done, correct) the complaint's root cause: its
    handler or a supervisor; on the staff timeline."""
    complaint = await load_complaint(actor, complaint_id, ComplaintAction.RECORD_ROOT_CAUSE)
    if complaint.handler_id != actor.subject_id and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "只有承办人或主管可以记录投诉根因", "complaintId")
    if complaint.status not in RECORDABLE:
        raise ComplaintError(E.ILLEGAL_TRANSITION, "当前状态不能记录投诉根因")
    unit = _text(responsible_unit, "responsibleUnit", UNIT_LIMIT)
    action = _text(corrective_action, "correctiveAction", TEXT_LIMIT)
    if due_on < today():
        raise ComplaintError(E.INVALID_DATE, "整改期限不能早于今天", "dueOn")
    values: dict[str, Any] = {
        "category": category,
        "responsible_unit": unit,
        "corrective_action": action,
        "due_on": due_on,
        "recorded_by": actor.subject_id,
    }
    async with in_transaction():
        complaint = await transition(
            complaint,
            actor,
            action="record_root_cause",
            note=f"根因：{CATEGORY_NAMES[category]}；整改责任单位：{unit}；"
            f"整改措施：{action}；期限：{due_on:%Y-%m-%d}",
            expected_version=expected_version,
            internal=True,
            event_type=None,
        )
        existing = await ComplaintRootCause.filter(complaint_id=complaint.id).first()
        if existing is not None and existing.done_at is not None:
            raise ComplaintError(E.ILLEGAL_TRANSITION, "整改已完成，不能修改根因")
        if existing is None:
            cause = await ComplaintRootCause.create(complaint_id=complaint.id, **values)
        else:
            await ComplaintRootCause.filter(id=existing.id).update(**values)
            cause = await ComplaintRootCause.get(id=existing.id)
    return complaint, cause


async def complete(
    actor: Actor, root_cause_id: uuid.UUID, note: str
) -> tuple[Complaint, ComplaintRootCause]:
    """The corrective action is done (the handler or a supervisor, with what was done);
    once: a second click finds it done."""
    cause = await ComplaintRootCause.get_or_none(id=root_cause_id)
    if cause is None:
        raise ComplaintError(E.ROOT_CAUSE_NOT_FOUND, "未找到该整改事项", "rootCauseId")
    complaint = await load_complaint(actor, cause.complaint_id, ComplaintAction.RECORD_ROOT_CAUSE)
    if complaint.handler_id != actor.subject_id and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "只有承办人或主管可以确认整改完成", "rootCauseId")
    note = _text(note, "note", REASON_LIMIT)
    async with in_transaction():
        done = await ComplaintRootCause.filter(id=cause.id, done_at=None).update(
            done_at=datetime.now(UTC), done_note=note, done_by=actor.subject_id
        )
        if not done:
            raise ComplaintError(E.ALREADY_DECIDED, "该整改事项已完成", "rootCauseId")
        complaint = await transition(
            complaint,
            actor,
            action="complete_corrective_action",
            note=f"整改已完成：{note}",
            internal=True,
            event_type=None,
        )
    await cause.refresh_from_db()
    return complaint, cause


async def require(complaint: Complaint) -> None:
    """Staff close a complaint only with its root cause recorded."""
    if not await ComplaintRootCause.exists(complaint_id=complaint.id):
        raise ComplaintError(
            E.ROOT_CAUSE_REQUIRED, "办结前请先记录投诉根因及整改措施", "complaintId"
        )


def missing() -> QuerySet[Complaint]:
    """Closed complaints without a root cause (closed by the sweep): to be recorded."""
    recorded = ComplaintRootCause.all().values("complaint_id")
    return Complaint.filter(status=S.CLOSED).exclude(id__in=Subquery(recorded))


def open_actions(
    *, overdue: bool | None = None, on: date | None = None
) -> QuerySet[ComplaintRootCause]:
    """Corrective actions not yet done, the earliest due first; ``overdue``: only those
    past (True) or within (False) their due day."""
    rows = ComplaintRootCause.filter(done_at=None)
    day = on or today()
    if overdue is True:
        rows = rows.filter(due_on__lt=day)
    elif overdue is False:
        rows = rows.filter(due_on__gte=day)
    return rows.order_by("due_on", "id")


@dataclass(frozen=True)
class RootCauseCount:
    category: RootCauseCategory
    name: str
    complaints: int
    open_actions: int  # of those, corrective actions not yet done


async def top_root_causes(since: datetime, until: datetime, limit: int = 5) -> list[RootCauseCount]:
    """The most frequent root causes of complaints received in [since, until), most
    first (ties by category): for the complaint figures."""
    rows = (
        ComplaintRootCause.filter(
            complaint__received_at__gte=since, complaint__received_at__lt=until
        )
        .group_by("category")
        .annotate(n=Count("id"))
        .values_list("category", "n")
    )
    counts = {RootCauseCategory(category): n for category, n in await rows}
    still_open = dict(
        await ComplaintRootCause.filter(
            complaint__received_at__gte=since, complaint__received_at__lt=until, done_at=None
        )
        .group_by("category")
        .annotate(n=Count("id"))
        .values_list("category", "n")
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[: max(limit, 0)]
    return [
        RootCauseCount(category, CATEGORY_NAMES[category], n, int(still_open.get(category, 0)))
        for category, n in ranked
    ]
