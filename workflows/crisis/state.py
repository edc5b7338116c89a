"""Every write to an incident's row goes through ``transition``: a conditional update on
the status and version the caller saw (two managers at once: one wins, the other gets
``CONFLICT``), with its timeline line and the outbox event that tells the managers, in
the same transaction. Who may see and act is decided here too (``load_incident``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.crisis import CrisisEvent, CrisisIncident, CrisisStatus, CrisisTeamMember
from models.ids import global_id
from push.outbox import emit
from workflows.access import Actor, security
from workflows.crisis.rules import (
    MANAGERS,
    READERS,
    STAFF_MAY,
    STATUS_NAMES,
    TRANSITIONS,
    CrisisActionKind,
    CrisisError,
    CrisisErrorCode,
)

E = CrisisErrorCode


def may_read_all(actor: Actor) -> bool:
    return actor.is_staff and any(actor.can(p) for p in READERS)


def visible_incidents(actor: Actor) -> QuerySet[CrisisIncident]:
    """All for crisis managers and complaint supervisors; a team member their incidents;
    none for anyone else (customers included)."""
    if may_read_all(actor):
        return CrisisIncident.all()
    if actor.is_staff and actor.subject_id is not None:
        mine = CrisisTeamMember.filter(staff_id=actor.subject_id).values("incident_id")
        return CrisisIncident.filter(Q(id__in=Subquery(mine)))
    return CrisisIncident.filter(id=None)


async def load_incident(
    actor: Actor, incident_id: uuid.UUID, action: CrisisActionKind
) -> CrisisIncident:
    """The incident, if ``actor`` may see it (else NOT_FOUND, as if it did not exist) and
    take ``action`` (else NOT_ALLOWED). Completing an action is also its owner's: that
    check is the caller's, which knows the action."""
    incident = await visible_incidents(actor).filter(id=incident_id).first()
    if incident is None:
        raise CrisisError(E.INCIDENT_NOT_FOUND, "未找到该危机事件", "incidentId")
    permission = STAFF_MAY.get(action)
    open_to_viewers = action in (CrisisActionKind.VIEW, CrisisActionKind.COMPLETE_ACTION)
    if not open_to_viewers and not (permission is not None and actor.can(permission)):
        raise CrisisError(E.NOT_ALLOWED, "没有进行此操作的权限", "incidentId")
    if not may_read_all(actor):
        security.info(
            "staff %s read crisis incident %s as a team member", actor.subject_id, incident.id
        )
    return incident


def conflict() -> CrisisError:
    return CrisisError(E.CONFLICT, "该危机事件已被他人更新，请刷新后重试", "expectedVersion")


def event_payload(incident: CrisisIncident, **extra: Any) -> dict[str, Any]:
    """Display values for the managers' channel: number, title, stage; never customers."""
    return {
        "incident_id": global_id("CrisisIncident", incident.id),
        "incident_number": incident.number,
        "title": incident.title,
        "status": str(incident.status),
        "status_name": STATUS_NAMES[incident.status],
        "severity": str(incident.severity),
        "_staff_channels": [MANAGERS],
        **extra,
    }


async def add_to_timeline(
    incident: CrisisIncident,
    actor: Actor | None,
    action: str,
    from_status: CrisisStatus | None,
    note: str,
) -> None:
    await CrisisEvent.create(
        incident_id=incident.id,
        actor_kind=str(actor.kind) if actor and actor.kind else "system",
        actor_id=actor.subject_id if actor else None,
        action=action,
        from_status=from_status,
        to_status=incident.status,
        note=note,
    )


async def announce(incident: CrisisIncident, event_type: str, **extra: Any) -> None:
    """Tell the crisis managers (staff channel only: no customer is named)."""
    await emit(
        event_type,
        entity_type="crisis_incident",
        entity_id=incident.id,
        customer_id=None,
        payload=event_payload(incident, **extra),
    )


async def transition(
    incident: CrisisIncident,
    actor: Actor | None,
    *,
    to: CrisisStatus | None = None,
    action: str,
    note: str | Callable[[], str],
    expected_version: int | None,
    event_type: str = "crisis.updated",
    also: Callable[[CrisisIncident], Awaitable[None]] | None = None,
    **updates: Any,
) -> CrisisIncident:
    """One change of an incident: legal, not stale (``expected_version``; None: the
    system, which takes the row as it is once locked), the version bumped, on the
    timeline and in the outbox. ``also`` writes the rows that come with it (a team
    member, an action, a statement) in the same transaction, after the row is won;
    ``note`` may be a function, read after ``also``."""
    async with in_transaction():
        # The row lock orders concurrent writers on PostgreSQL; the conditional update
        # makes the loser see that it lost on every backend.
        current = await CrisisIncident.filter(id=incident.id).select_for_update().first()
        if current is None:
            raise CrisisError(E.INCIDENT_NOT_FOUND, "未找到该危机事件", "incidentId")
        seen = incident if expected_version is not None else current
        if expected_version is not None and expected_version != seen.version:
            raise conflict()
        from_status = seen.status
        to_status = from_status if to is None else to
        if to_status is not from_status and to_status not in TRANSITIONS[from_status]:
            raise CrisisError(
                E.ILLEGAL_TRANSITION, f"当前阶段（{STATUS_NAMES[from_status]}）不能进行此操作"
            )
        changed = await CrisisIncident.filter(
            id=incident.id, status=from_status, version=seen.version
        ).update(status=to_status, version=F("version") + 1, **updates)
        if not changed:
            raise conflict()
        await incident.refresh_from_db()
        if also is not None:
            await also(incident)
        text = note() if callable(note) else note
        await add_to_timeline(incident, actor, action, from_status, text)
        await announce(incident, event_type, action=action)
    return incident
