"""What auditors (AUDIT_READ) read: the PII access log, narrowed by staff member,
customer, record, field and time, and the reveal alerts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.queryset import QuerySet

from models.privacy import PiiAccess, PiiField, PiiRevealAlert, PiiSubjectKind
from workflows.access import Actor, Permission
from workflows.privacy.rules import PrivacyError, PrivacyErrorCode


@dataclass(frozen=True)
class AccessFilter:
    staff_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    subject_kinds: tuple[PiiSubjectKind, ...] = ()
    subject_id: uuid.UUID | None = None
    fields: tuple[PiiField, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def access_log(actor: Actor, f: AccessFilter) -> QuerySet[PiiAccess]:
    """The log rows ``f`` selects, newest first; nothing for anyone but auditors."""
    if not actor.can(Permission.AUDIT_READ):
        return PiiAccess.filter(id=None)
    rows = PiiAccess.all()
    if f.staff_id is not None:
        rows = rows.filter(staff_id=f.staff_id)
    if f.customer_id is not None:
        rows = rows.filter(customer_id=f.customer_id)
    if f.subject_kinds:
        rows = rows.filter(subject_kind__in=list(f.subject_kinds))
    if f.subject_id is not None:
        rows = rows.filter(subject_id=f.subject_id)
    if f.fields:
        rows = rows.filter(field__in=list(f.fields))
    if f.since is not None:
        rows = rows.filter(created_at__gte=f.since)
    if f.until is not None:
        rows = rows.filter(created_at__lt=f.until)
    return rows.order_by("-created_at", "id")


def reveal_alerts(actor: Actor, *, open_only: bool) -> QuerySet[PiiRevealAlert]:
    if not actor.can(Permission.AUDIT_READ):
        return PiiRevealAlert.filter(id=None)
    rows = PiiRevealAlert.all()
    if open_only:
        rows = rows.filter(acknowledged_at=None)
    return rows.order_by("-window_start", "id")


async def acknowledge_alert(actor: Actor, alert_id: uuid.UUID) -> PiiRevealAlert:
    """An auditor marks an alert as looked into (the first acknowledgement stays)."""
    if not actor.can(Permission.AUDIT_READ):
        raise PrivacyError(PrivacyErrorCode.NOT_FOUND, "未找到该告警", "alertId")
    await PiiRevealAlert.filter(id=alert_id, acknowledged_at=None).update(
        acknowledged_at=datetime.now(UTC), acknowledged_by=actor.subject_id
    )
    alert = await PiiRevealAlert.get_or_none(id=alert_id)
    if alert is None:
        raise PrivacyError(PrivacyErrorCode.NOT_FOUND, "未找到该告警", "alertId")
    return alert
