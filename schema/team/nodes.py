"""Who may see each service-team object by ID; anyone else gets null (as if missing).

Teams and skills: staff who read the staff directory (STAFF_READ) or manage teams.
Leave, certificates and quality reviews are personal: the person themselves, their
team's supervisor and TEAM_MANAGE. Courses and certificate requirements: any staff."""

from __future__ import annotations

import uuid

from models import team as m
from schema.team.types import (
    Certificate,
    CertificateRequirement,
    Course,
    QualityReview,
    StaffLeave,
    Team,
    TeamSkill,
    team_views,
)
from workflows.access import Actor, Permission
from workflows.team.performance import may_see


def may_read_teams(actor: Actor) -> bool:
    return actor.can(Permission.STAFF_READ) or actor.can(Permission.TEAM_MANAGE)


async def team_node(actor: Actor, object_id: uuid.UUID) -> Team | None:
    if not may_read_teams(actor):
        return None
    row = await m.Team.get_or_none(id=object_id)
    return (await team_views([row]))[0] if row else None


async def team_skill_node(actor: Actor, object_id: uuid.UUID) -> TeamSkill | None:
    if not may_read_teams(actor):
        return None
    row = await m.TeamSkill.get_or_none(id=object_id)
    return TeamSkill.from_model(row) if row else None


async def staff_leave_node(actor: Actor, object_id: uuid.UUID) -> StaffLeave | None:
    row = await m.StaffLeave.get_or_none(id=object_id)
    return StaffLeave.from_model(row) if row and await may_see(actor, row.staff_id) else None


async def certificate_node(actor: Actor, object_id: uuid.UUID) -> Certificate | None:
    row = await m.Certificate.get_or_none(id=object_id)
    return Certificate.from_model(row) if row and await may_see(actor, row.staff_id) else None


async def quality_review_node(actor: Actor, object_id: uuid.UUID) -> QualityReview | None:
    row = await m.QualityReview.get_or_none(id=object_id)
    return QualityReview.from_model(row) if row and await may_see(actor, row.staff_id) else None


async def course_node(actor: Actor, object_id: uuid.UUID) -> Course | None:
    if not actor.is_staff:
        return None
    row = await m.Course.get_or_none(id=object_id)
    return Course.from_model(row) if row else None


async def requirement_node(actor: Actor, object_id: uuid.UUID) -> CertificateRequirement | None:
    if not actor.is_staff:
        return None
    row = await m.CertificateRequirement.get_or_none(id=object_id)
    return CertificateRequirement.from_model(row) if row else None


TEAM_NODES = {
    "Team": team_node,
    "TeamSkill": team_skill_node,
    "StaffLeave": staff_leave_node,
    "Certificate": certificate_node,
    "QualityReview": quality_review_node,
    "Course": course_node,
    "CertificateRequirement": requirement_node,
}
