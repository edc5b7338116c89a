"""Who gets the next piece of work: an eligible person — active, in a role that grants
the permission, not on leave, holding the certificate the permission requires, in a
team with the skills asked for (a skill no team declares narrows nothing) — with the
least open work (claims + complaints + visits), ties by ID.

Concurrency: ``pick`` must run inside the transaction that writes the assignment. It
locks the candidates' staff rows (ordered by ID, so two pickers never deadlock) before
counting, so a second concurrent assignment waits, then counts the first one's work: two
claims arriving at once go to two people, not both to the one who looked idle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.claims import Claim
from models.staff import StaffRole, StaffUser
from models.team import SkillKind, TeamMember, TeamSkill
from models.visits import FollowUpVisit
from workflows import claims, visits
from workflows.access import ROLE_PERMISSIONS, Actor, Permission, visible_claims
from workflows.team.certificates import required_kind, valid_certificates
from workflows.team.rules import TeamError
from workflows.team.rules import TeamErrorCode as E
from workflows.team.workload import on_leave, open_counts

Skill = tuple[SkillKind, str]


def roles_with(permission: Permission) -> list[str]:
    return [str(role) for role, granted in ROLE_PERMISSIONS.items() if permission in granted]


async def eligible(
    permission: Permission,
    skills: Iterable[Skill] = (),
    *,
    roles: Iterable[StaffRole] | None = None,
    exclude: Iterable[uuid.UUID] = (),
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Everyone who may take the work now (see the module docstring), by ID."""
    now = now or datetime.now(UTC)
    allowed = roles_with(permission)
    if roles is not None:
        allowed = [r for r in allowed if r in {str(x) for x in roles}]
    people = StaffUser.filter(is_active=True, role__in=allowed).exclude(id__in=list(exclude))
    kind = await required_kind(permission)
    if kind is not None:
        people = people.filter(
            id__in=Subquery(valid_certificates().filter(kind=kind).values("staff_id"))
        )
    for skill_kind, value in skills:
        teams = TeamSkill.filter(kind=skill_kind, value=value).values("team_id")
        if await TeamSkill.exists(kind=skill_kind, value=value):
            members = TeamMember.filter(team_id__in=Subquery(teams)).values("staff_id")
            people = people.filter(id__in=Subquery(members))
    ids = [uuid.UUID(str(i)) for i in await people.order_by("id").values_list("id", flat=True)]
    away = await on_leave(ids, now)
    return [i for i in ids if i not in away]


async def lock_candidates(candidates: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Lock the candidates' staff rows, by ID (two pickers never deadlock), before their
    work is counted; inside the assigning transaction. Returns those still there."""
    locked = await StaffUser.select_for_update().filter(id__in=list(candidates)).order_by("id")
    return [row.id for row in locked]


async def pick(
    permission: Permission,
    skills: Iterable[Skill] = (),
    *,
    roles: Iterable[StaffRole] | None = None,
    exclude: Iterable[uuid.UUID] = (),
    now: datetime | None = None,
) -> uuid.UUID:
    """The least-loaded eligible person; call inside the assigning transaction."""
    candidates = await eligible(permission, skills, roles=roles, exclude=exclude, now=now)
    if not candidates:
        raise TeamError(E.NO_ONE_ELIGIBLE, "暂无符合技能、在岗且持证的人员可分派", "staffId")
    ids = await lock_candidates(candidates)
    loads = await open_counts(ids)
    return min(ids, key=lambda staff_id: (loads.get(staff_id, 0), str(staff_id)))


def claim_skills(claim: Claim) -> list[Skill]:
    return [(SkillKind.LOSS_TYPE, claim.loss_type), (SkillKind.CHANNEL, claim.channel.value)]


async def auto_assign_claim(actor: Actor, claim_id: uuid.UUID, expected_version: int) -> Claim:
    """Give a submitted (or under-review) claim to the least-loaded adjuster with its
    loss type's skill. Adjusters only: a supervisor is assigned by name."""
    if not actor.can(Permission.CLAIM_ASSIGN):
        raise TeamError(E.NOT_ALLOWED, "没有分配案件的权限", "claimId")
    claim = await visible_claims(actor).filter(id=claim_id).first()
    if claim is None:
        raise TeamError(E.NOT_FOUND, "未找到该理赔案件", "claimId")
    async with in_transaction():
        staff_id = await pick(
            Permission.CLAIM_REVIEW,
            claim_skills(claim),
            roles=[StaffRole.ADJUSTER],
            exclude=[claim.assignee_id] if claim.assignee_id else [],
        )
        return await claims.assign_claim(actor, claim_id, staff_id, expected_version)


async def auto_assign_visit(
    actor: Actor, visit_id: uuid.UUID, expected_version: int
) -> FollowUpVisit:
    """Give a scheduled follow-up visit to the least-loaded person who works its
    channel (VISIT_HANDLE)."""
    if not actor.can(Permission.VISIT_MANAGE):
        raise TeamError(E.NOT_ALLOWED, "没有分派回访的权限", "visitId")
    visit = await FollowUpVisit.get_or_none(id=visit_id)
    if visit is None:
        raise TeamError(E.NOT_FOUND, "未找到该回访任务", "visitId")
    async with in_transaction():
        staff_id = await pick(
            Permission.VISIT_HANDLE,
            [(SkillKind.CHANNEL, visit.channel.value)],
            exclude=[visit.assignee_id] if visit.assignee_id else [],
        )
        return await visits.assign(visit_id, expected_version, staff_id)
