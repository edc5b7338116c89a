"""Every write to an endorsement's row. The one way it changes is ``transition``: under
the row's lock, a conditional update on the status and version the caller saw (two
reviewers clicking at once: one wins, the other gets ``CONFLICT``), with its timeline
line and its outbox event (``endorsement.*``) in the same transaction.

Who may see one: the policy's holder and its insured persons (a change may need their
consent), staff who may read policies or serve them; anyone else gets NOT_FOUND, as if it
did not exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.endorsements import Endorsement, EndorsementEvent, EndorsementStatus
from models.ids import global_id
from models.policies import InsuredPerson, Policy
from push.outbox import emit
from workflows.access import Actor, Permission
from workflows.policy_service.endorsement_rules import (
    EVENTS,
    OPEN,
    STAFF_QUEUE,
    STATUS_NAMES,
    TRANSITIONS,
    TYPE_NAMES,
    EndorsementError,
    EndorsementErrorCode,
)


class EndorsementAction(StrEnum):
    VIEW = "VIEW"
    CANCEL = "CANCEL"  # the holder who asked, before approval
    CONSENT = "CONSENT"  # the insured, where the law asks for their consent
    REVIEW = "REVIEW"  # staff with POLICY_SERVICE: approve or reject


def visible_endorsements(actor: Actor) -> QuerySet[Endorsement]:
    """A customer's: of policies they hold or are insured by; all for staff who read or
    serve policies; none otherwise."""
    if actor.is_customer and actor.subject_id is not None:
        held = Policy.filter(holder_id=actor.subject_id).values("id")
        insured = InsuredPerson.filter(customer_id=actor.subject_id).values("policy_id")
        return Endorsement.filter(
            Q(policy_id__in=Subquery(held)) | Q(policy_id__in=Subquery(insured))
        )
    if actor.is_staff and (
        actor.can(Permission.POLICY_SERVICE) or actor.can(Permission.POLICY_READ)
    ):
        return Endorsement.all()
    return Endorsement.filter(id=None)


async def may(actor: Actor, endorsement: Endorsement, action: EndorsementAction) -> bool:
    if action is EndorsementAction.VIEW:
        return True  # visible_endorsements decided
    if actor.is_staff:
        return action is EndorsementAction.REVIEW and actor.can(Permission.POLICY_SERVICE)
    if action is EndorsementAction.CANCEL:
        return endorsement.requested_by_id == actor.subject_id
    if action is EndorsementAction.CONSENT:
        return await InsuredPerson.exists(
            policy_id=endorsement.policy_id, customer_id=actor.subject_id
        )
    return False


async def load_endorsement(
    actor: Actor, endorsement_id: uuid.UUID, action: EndorsementAction
) -> Endorsement:
    """The endorsement, if ``actor`` may see it (else NOT_FOUND) and take ``action`` on it
    (else NOT_ALLOWED)."""
    endorsement = await visible_endorsements(actor).filter(id=endorsement_id).first()
    if endorsement is None:
        raise EndorsementError(
            EndorsementErrorCode.ENDORSEMENT_NOT_FOUND, "未找到该批单", "endorsementId"
        )
    if not await may(actor, endorsement, action):
        raise EndorsementError(
            EndorsementErrorCode.NOT_ALLOWED, "没有进行此操作的权限", "endorsementId"
        )
    return endorsement


def event_payload(endorsement: Endorsement, policy_number: str, **extra: Any) -> dict[str, Any]:
    """Display values for notifications: number, type and status, never personal data."""
    return {
        "endorsement_id": global_id("Endorsement", endorsement.id),
        "endorsement_number": endorsement.number,
        "policy_number": policy_number,
        "type": str(endorsement.type),
        "type_name": TYPE_NAMES[endorsement.type],
        "status": str(endorsement.status),
        "status_name": STATUS_NAMES[endorsement.status],
        "reason": endorsement.reason,
        **extra,
    }


async def add_to_timeline(
    endorsement: Endorsement,
    actor: Actor | None,
    action: str,
    from_status: EndorsementStatus | None,
    to_status: EndorsementStatus,
    note: str,
) -> None:
    await EndorsementEvent.create(
        endorsement_id=endorsement.id,
        actor_kind=str(actor.kind) if actor and actor.kind else "system",
        actor_id=actor.subject_id if actor else None,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


async def announce(
    endorsement: Endorsement, event_type: str, extra: dict[str, Any] | None = None
) -> None:
    """Tell the customer who asked, and the staff queue when it waits for review."""
    policy = await Policy.get(id=endorsement.policy_id).only("id", "number")
    staff = {"_staff_channels": [STAFF_QUEUE]} if event_type == EVENTS[S_REVIEW] else {}
    await emit(
        event_type,
        entity_type="endorsement",
        entity_id=endorsement.id,
        customer_id=endorsement.requested_by_id,
        payload=event_payload(endorsement, policy.number, **staff, **(extra or {})),
    )


S_REVIEW = EndorsementStatus.NEEDS_REVIEW


def conflict() -> EndorsementError:
    return EndorsementError(
        EndorsementErrorCode.CONFLICT, "该批单已被他人处理，请刷新后重试", "expectedVersion"
    )


def not_stale(endorsement: Endorsement, expected_version: int | None) -> None:
    """A decision made on an older version is a conflict, whatever the state is now:
    checked before any rule about the state, so the loser of a race (who read after the
    winner committed) hears that someone else acted, not that its action is illegal."""
    if expected_version is not None and expected_version != endorsement.version:
        raise conflict()


async def lock(endorsement_id: uuid.UUID) -> Endorsement:
    return await Endorsement.filter(id=endorsement_id).select_for_update().get()


async def transition(
    endorsement: Endorsement,
    actor: Actor | None,
    *,
    to: EndorsementStatus,
    action: str,
    note: str,
    expected_version: int | None = None,
    event_extra: dict[str, Any] | None = None,
    **updates: Any,
) -> Endorsement:
    """One step of an endorsement: legal, not stale, the version bumped, on the timeline
    and in the outbox. Runs in the caller's transaction when there is one (an effect and
    its step commit together)."""
    not_stale(endorsement, expected_version)
    from_status = endorsement.status
    if to not in TRANSITIONS[from_status]:
        raise EndorsementError(
            EndorsementErrorCode.ILLEGAL_TRANSITION,
            f"当前状态（{STATUS_NAMES[from_status]}）不能进行此操作",
        )
    if to not in OPEN:
        updates["open_key"] = None  # ended: the policy may have another change of its type
    if to in (EndorsementStatus.APPROVED, EndorsementStatus.REJECTED):
        updates.setdefault("decided_at", datetime.now(UTC))
    async with in_transaction():
        # The row lock orders concurrent writers on PostgreSQL; the conditional update
        # makes the loser see that it lost on every backend.
        await lock(endorsement.id)
        changed = await Endorsement.filter(
            id=endorsement.id, status=from_status, version=endorsement.version
        ).update(status=to, version=F("version") + 1, **updates)
        if not changed:
            raise conflict()
        await endorsement.refresh_from_db()
        await add_to_timeline(endorsement, actor, action, from_status, to, note)
        await announce(endorsement, EVENTS[to], event_extra)
    return endorsement
