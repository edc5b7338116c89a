"""Every write to a complaint's row. The one way it changes is ``transition``: a
conditional update on the status and version the caller saw (two handlers clicking at
once: one wins, the other gets ``CONFLICT``), with its timeline entry and outbox event in
the same transaction. Who may act is decided here too (``load_complaint``), per action:
the complaining customer for their own actions, staff by permission.
"""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.complaints import Complaint, ComplaintEvent, ComplaintStatus
from models.ids import global_id
from push.outbox import emit
from workflows.access import Actor, Permission, security
from workflows.complaints.rules import (
    CUSTOMER_MAY,
    STAFF_MAY,
    STAFF_QUEUE,
    STATUS_NAMES,
    TRANSITIONS,
    ComplaintAction,
    ComplaintError,
    ComplaintErrorCode,
)


def visible_complaints(actor: Actor) -> QuerySet[Complaint]:
    """A customer's own complaints; all for staff who handle complaints; none otherwise."""
    if actor.is_customer and actor.subject_id is not None:
        return Complaint.filter(customer_id=actor.subject_id)
    if actor.is_staff and actor.can(Permission.COMPLAINT_HANDLE):
        return Complaint.all()
    return Complaint.filter(id=None)


def log_staff_read(actor: Actor, complaint: Complaint) -> None:
    """Staff who neither handle a complaint nor supervise complaints leave a trace when
    they read it (the complaint names a customer's grievance)."""
    if (
        actor.is_staff
        and complaint.handler_id != actor.subject_id
        and not actor.can(Permission.COMPLAINT_SUPERVISE)
    ):
        security.info("staff %s read complaint %s", actor.subject_id, complaint.id)


def event_payload(complaint: Complaint, **extra: Any) -> dict[str, Any]:
    """Display values for notifications: the number and status, never the text."""
    return {
        "complaint_id": global_id("Complaint", complaint.id),
        "complaint_number": complaint.number,
        "status": str(complaint.status),
        "status_name": STATUS_NAMES[complaint.status],
        "_staff_channels": [STAFF_QUEUE],
        **extra,
    }


async def add_to_timeline(
    complaint: Complaint,
    actor: Actor | None,
    action: str,
    from_status: ComplaintStatus | None,
    to_status: ComplaintStatus,
    note: str,
    *,
    internal: bool = False,
) -> None:
    await ComplaintEvent.create(
        complaint_id=complaint.id,
        actor_kind=str(actor.kind) if actor and actor.kind else "system",
        actor_id=actor.subject_id if actor else None,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        internal=internal,
    )


async def announce(
    complaint: Complaint, event_type: str, extra: dict[str, Any] | None = None
) -> None:
    """Tell the customer (when known) and the staff queue."""
    await emit(
        event_type,
        entity_type="complaint",
        entity_id=complaint.id,
        customer_id=complaint.customer_id,
        payload=event_payload(complaint, **(extra or {})),
    )


def may(actor: Actor, complaint: Complaint, action: ComplaintAction) -> bool:
    if actor.is_customer:
        return action in CUSTOMER_MAY and complaint.customer_id == actor.subject_id
    permission = STAFF_MAY.get(action)
    return actor.is_staff and permission is not None and actor.can(permission)


async def load_complaint(
    actor: Actor, complaint_id: uuid.UUID, action: ComplaintAction
) -> Complaint:
    """The complaint, if ``actor`` may see it (else NOT_FOUND, as if it did not exist)
    and may take ``action`` on it (else NOT_ALLOWED)."""
    complaint = await visible_complaints(actor).filter(id=complaint_id).first()
    if complaint is None:
        raise ComplaintError(ComplaintErrorCode.COMPLAINT_NOT_FOUND, "未找到该投诉", "complaintId")
    if not may(actor, complaint, action):
        raise ComplaintError(
            ComplaintErrorCode.NOT_ALLOWED,
            "没有进行此操作的权限" if actor.is_staff else "只有投诉人本人可以进行此操作",
            "complaintId",
        )
    log_staff_read(actor, complaint)
    return complaint


def conflict() -> ComplaintError:
    return ComplaintError(
        ComplaintErrorCode.CONFLICT, "该投诉已被他人更新，请刷新后重试", "expectedVersion"
    )


async def transition(
    complaint: Complaint,
    actor: Actor | None,
    *,
    to: ComplaintStatus | None = None,
    action: str,
    note: str,
    expected_version: int | None = None,
    event_type: str | None = "complaint.updated",
    event_extra: dict[str, Any] | None = None,
    internal: bool = False,
    **updates: Any,
) -> Complaint:
    """One change of a complaint: legal (``to`` follows the status; None keeps it), not
    stale, the version bumped, on the timeline and in the outbox as ``event_type``."""
    if expected_version is not None and expected_version != complaint.version:
        raise conflict()
    from_status = complaint.status
    to_status = from_status if to is None else to
    if to is not None and to not in TRANSITIONS[from_status]:
        raise ComplaintError(
            ComplaintErrorCode.ILLEGAL_TRANSITION,
            f"当前状态（{STATUS_NAMES[from_status]}）不能进行此操作",
        )
    async with in_transaction():
        # The row lock orders concurrent writers on PostgreSQL; the conditional update
        # makes the loser see that it lost on every backend.
        await Complaint.filter(id=complaint.id).select_for_update().first()
        changed = await Complaint.filter(
            id=complaint.id, status=from_status, version=complaint.version
        ).update(status=to_status, version=F("version") + 1, **updates)
        if not changed:
            raise conflict()
        await complaint.refresh_from_db()
        await add_to_timeline(
            complaint, actor, action, from_status, to_status, note, internal=internal
        )
        if event_type is not None:
            await announce(complaint, event_type, event_extra)
    return complaint
