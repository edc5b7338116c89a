"""Leave periods, and moving an absent person's open work to eligible colleagues.

``reassign_in_bulk`` holds the absent person's staff row lock for the whole move, so
two supervisors pressing the button at once move each item once: the second waits,
then finds nothing left. Each item goes through its own domain's assignment (claims,
complaints, visits: timeline, version check, recusal) to the least-loaded eligible
colleague with the item's skills (``assignment.pick``); an item nobody may take stays
and is reported with the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from models.claims import Claim
from models.complaints import Complaint, ComplaintClass
from models.staff import StaffRole, StaffUser
from models.team import ReviewSubject, SkillKind, StaffLeave
from models.visits import FollowUpVisit, VisitStatus
from workflows import claims, visits
from workflows.access import Actor, Permission
from workflows.complaints import handling as complaint_handling
from workflows.errors import DomainError
from workflows.team import assignment
from workflows.team.rules import BULK_LIMIT, MAX_LEAVE_DAYS, REASON_LIMIT, TeamError, bounded
from workflows.team.rules import TeamErrorCode as E
from workflows.team.teams import may_oversee
from workflows.team.workload import OPEN_CLAIMS, OPEN_COMPLAINTS, on_leave


async def record_leave(
    actor: Actor, staff_id: uuid.UUID, starts_at: datetime, ends_at: datetime, reason: str
) -> StaffLeave:
    """A leave period; nobody is assigned work while on leave."""
    if not await StaffUser.exists(id=staff_id) or not await may_oversee(actor, staff_id):
        raise TeamError(E.NOT_FOUND, "未找到该员工，或其不在您管理的团队", "staffId")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise TeamError(E.INVALID, "请带时区填写时间", "startsAt")
    if not starts_at < ends_at <= starts_at + timedelta(days=MAX_LEAVE_DAYS):
        raise TeamError(E.OUT_OF_RANGE, f"结束须晚于开始，且不超过{MAX_LEAVE_DAYS}天", "endsAt")
    starts, ends = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    async with in_transaction():
        # The staff row lock serialises leave records of one person: a double press finds
        # the first and returns it; another period overlapping it is refused.
        await StaffUser.select_for_update().get(id=staff_id)
        overlapping = await StaffLeave.filter(
            staff_id=staff_id, starts_at__lt=ends, ends_at__gt=starts
        ).first()
        if overlapping is not None:
            if (overlapping.starts_at, overlapping.ends_at) == (starts, ends):
                return overlapping
            raise TeamError(E.OVERLAPS, "与已登记的请假时间重叠", "startsAt")
        return await StaffLeave.create(
            staff_id=staff_id,
            starts_at=starts,
            ends_at=ends,
            reason=bounded(reason, "reason", REASON_LIMIT, required=False),
            recorded_by=actor.subject_id,
        )


@dataclass
class BulkResult:
    moved: list[tuple[ReviewSubject, uuid.UUID, uuid.UUID]] = field(default_factory=list)
    left: list[tuple[ReviewSubject, uuid.UUID, str]] = field(default_factory=list)


async def reassign_in_bulk(actor: Actor, staff_id: uuid.UUID) -> BulkResult:
    """Move up to ``BULK_LIMIT`` open items of ``staff_id`` (on leave now, or disabled)."""
    if not await may_oversee(actor, staff_id):
        raise TeamError(E.NOT_FOUND, "未找到该员工，或其不在您管理的团队", "staffId")
    result = BulkResult()
    async with in_transaction():
        person = await StaffUser.select_for_update().get_or_none(id=staff_id)
        if person is None:
            raise TeamError(E.NOT_FOUND, "未找到该员工", "staffId")
        if person.is_active and staff_id not in await on_leave([staff_id]):
            raise TeamError(E.NOT_ABSENT, "该员工在岗，无需批量转派", "staffId")
        budget = BULK_LIMIT
        for claim in await Claim.filter(assignee_id=staff_id, status__in=list(OPEN_CLAIMS)).limit(
            budget
        ):
            await _move_claim(actor, claim, result)
        budget -= len(result.moved) + len(result.left)
        for complaint in await Complaint.filter(
            handler_id=staff_id, status__in=list(OPEN_COMPLAINTS)
        ).limit(max(budget, 0)):
            await _move_complaint(actor, complaint, result)
        budget = BULK_LIMIT - len(result.moved) - len(result.left)
        for visit in await FollowUpVisit.filter(
            assignee_id=staff_id, status=VisitStatus.SCHEDULED
        ).limit(max(budget, 0)):
            await _move_visit(visit, result)
    return result


async def _move_claim(actor: Actor, claim: Claim, result: BulkResult) -> None:
    try:
        async with in_transaction():
            to = await assignment.pick(
                Permission.CLAIM_REVIEW,
                assignment.claim_skills(claim),
                roles=[StaffRole.ADJUSTER],  # as auto_assign_claim
                exclude=[claim.assignee_id] if claim.assignee_id else [],
            )
            await claims.assign_claim(actor, claim.id, to, claim.version)
    except DomainError as error:
        result.left.append((ReviewSubject.CLAIM, claim.id, error.message))
        return
    result.moved.append((ReviewSubject.CLAIM, claim.id, to))


async def _move_complaint(actor: Actor, complaint: Complaint, result: BulkResult) -> None:
    try:
        async with in_transaction():
            exclude = await complaint_handling.recused(complaint)
            if complaint.handler_id:
                exclude.add(complaint.handler_id)
            content_class: ComplaintClass = complaint.content_class
            to = await assignment.pick(
                Permission.COMPLAINT_HANDLE,
                [(SkillKind.COMPLAINT_CLASS, content_class.value)],
                exclude=exclude,
            )
            await complaint_handling.assign(actor, complaint.id, complaint.version, to)
    except DomainError as error:
        result.left.append((ReviewSubject.COMPLAINT, complaint.id, error.message))
        return
    result.moved.append((ReviewSubject.COMPLAINT, complaint.id, to))


async def _move_visit(visit: FollowUpVisit, result: BulkResult) -> None:
    try:
        async with in_transaction():
            to = await assignment.pick(
                Permission.VISIT_HANDLE,
                [(SkillKind.CHANNEL, visit.channel.value)],
                exclude=[visit.assignee_id] if visit.assignee_id else [],
            )
            await visits.assign(visit.id, visit.version, to)
    except DomainError as error:
        result.left.append((ReviewSubject.VISIT, visit.id, error.message))
        return
    result.moved.append((ReviewSubject.VISIT, visit.id, to))
