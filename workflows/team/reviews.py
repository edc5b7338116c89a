"""Quality reviews (质检): a supervisor scores sampled closed cases of their team's
members against the checklist (``rules.CHECKLIST``); administrators (TEAM_MANAGE) any.

The queue is a sample, not a choice: closed cases of the last 90 days not yet reviewed,
in the order of their random UUIDs (stable between calls, unrelated to outcome or
person). One review per case: (kind, case) is unique in the database. Nobody reviews
their own case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery

from models.claims import Claim
from models.complaints import Complaint
from models.staff import StaffUser
from models.team import QualityReview, ReviewSubject, TeamMember
from models.visits import FollowUpVisit, VisitStatus
from workflows.access import Actor, Permission
from workflows.team.rules import CHECKLIST, NOTE_LIMIT, SAMPLE_SIZE, TeamError, bounded
from workflows.team.rules import TeamErrorCode as E
from workflows.team.teams import may_oversee, supervised_team_ids

WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Case:
    kind: ReviewSubject
    id: uuid.UUID
    number: str
    staff_id: uuid.UUID
    closed_at: datetime


async def _overseen(actor: Actor) -> list[uuid.UUID] | None:
    """Whose cases ``actor`` reviews: None for everyone (TEAM_MANAGE)."""
    if actor.can(Permission.TEAM_MANAGE):
        return None
    teams = await supervised_team_ids(actor)
    ids = await TeamMember.filter(team_id__in=teams).values_list("staff_id", flat=True)
    return [uuid.UUID(str(i)) for i in ids if str(i) != str(actor.subject_id)]


async def queue(
    actor: Actor, kind: ReviewSubject, limit: int = SAMPLE_SIZE, now: datetime | None = None
) -> list[Case]:
    now = now or datetime.now(UTC)
    limit = max(1, min(limit, 50))
    people = await _overseen(actor)
    if people == []:
        return []
    reviewed = QualityReview.filter(subject_kind=kind).values("subject_id")
    since = now - WINDOW
    cases: list[Case] = []
    if kind is ReviewSubject.CLAIM:
        claims = Claim.filter(decided_at__gte=since, assignee_id__not_isnull=True)
        if people is not None:
            claims = claims.filter(assignee_id__in=people)
        for c in await claims.exclude(id__in=Subquery(reviewed)).order_by("id").limit(limit):
            assert c.assignee_id and c.decided_at
            cases.append(Case(kind, c.id, c.report_number, c.assignee_id, c.decided_at))
    elif kind is ReviewSubject.COMPLAINT:
        complaints = Complaint.filter(closed_at__gte=since, handler_id__not_isnull=True)
        if people is not None:
            complaints = complaints.filter(handler_id__in=people)
        for p in await complaints.exclude(id__in=Subquery(reviewed)).order_by("id").limit(limit):
            assert p.handler_id and p.closed_at
            cases.append(Case(kind, p.id, p.number, p.handler_id, p.closed_at))
    else:
        done = FollowUpVisit.filter(
            status=VisitStatus.DONE, completed_at__gte=since, completed_by__not_isnull=True
        )
        if people is not None:
            done = done.filter(completed_by__in=people)
        for v in await done.exclude(id__in=Subquery(reviewed)).order_by("id").limit(limit):
            assert v.completed_by and v.completed_at
            cases.append(Case(kind, v.id, v.subject, v.completed_by, v.completed_at))
    return cases


async def _handler(kind: ReviewSubject, subject_id: uuid.UUID) -> uuid.UUID | None:
    """Who handled the closed case (None: not closed, or nobody did)."""
    if kind is ReviewSubject.CLAIM:
        claim = await Claim.get_or_none(id=subject_id, decided_at__not_isnull=True)
        return claim.assignee_id if claim else None
    if kind is ReviewSubject.COMPLAINT:
        complaint = await Complaint.get_or_none(id=subject_id, closed_at__not_isnull=True)
        return complaint.handler_id if complaint else None
    visit = await FollowUpVisit.get_or_none(id=subject_id, status=VisitStatus.DONE)
    return visit.completed_by if visit else None


async def submit(
    actor: Actor,
    kind: ReviewSubject,
    subject_id: uuid.UUID,
    points: dict[str, int],
    note: str = "",
) -> QualityReview:
    """Score a closed case: every checklist item given 0 to its points."""
    staff_id = await _handler(kind, subject_id)
    if staff_id is None:
        raise TeamError(E.NOT_REVIEWABLE, "该案件尚未办结或无承办人，不能质检", "subjectId")
    if staff_id == actor.subject_id or not await may_oversee(actor, staff_id):
        raise TeamError(E.NOT_ALLOWED, "只能质检本组成员的案件，且不能质检本人的案件", "subjectId")
    checklist = CHECKLIST[kind]
    if set(points) != set(checklist):
        raise TeamError(E.INVALID, "请按检查表逐项评分", "scores")
    for item, value in points.items():
        if not 0 <= value <= checklist[item]:
            raise TeamError(E.OUT_OF_RANGE, f"{item} 的得分应在0到{checklist[item]}之间", "scores")
    score = round(100 * sum(points.values()) / sum(checklist.values()))
    assert actor.subject_id is not None
    try:
        return await QualityReview.create(
            subject_kind=kind,
            subject_id=subject_id,
            staff_id=staff_id,
            reviewer_id=actor.subject_id,
            scores=points,
            score=score,
            note=bounded(note, "note", NOTE_LIMIT, required=False),
        )
    except IntegrityError:
        raise TeamError(E.ALREADY_REVIEWED, "该案件已质检", "subjectId") from None


async def staff_name(staff_id: uuid.UUID) -> str:
    return await StaffUser.get(id=staff_id).values_list("display_name", flat=True)  # type: ignore[return-value]
