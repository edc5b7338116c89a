"""Teams and their members. Who may do what, written down:

- ``TEAM_MANAGE`` (administrators): create and edit any team (name, supervisor,
  skills), move anyone between teams, record anyone's leave, reassign anyone's work.
- A team's supervisor: take a staff member who has no team into their own team,
  release a member of their own team (to no team), record their members' leave and
  move their open work. Moving someone out of *another* team stays with
  ``TEAM_MANAGE``: two supervisors never pull one person between them.

A staff member is in at most one team: ``TeamMember.staff`` is unique in the database,
and a move deletes and inserts the row under the staff row's lock, in one transaction.
``StaffUser.team`` keeps the team's name for the lists that show it (complaints by team,
the staff directory); it is written here only, together with the membership.
"""

from __future__ import annotations

import uuid

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.complaints import ComplaintClass
from models.staff import StaffRole, StaffUser
from models.team import SkillKind, Team, TeamMember, TeamSkill
from workflows.access import Actor, Permission
from workflows.team.rules import (
    DESCRIPTION_LIMIT,
    NAME_LIMIT,
    SKILL_VALUE_LIMIT,
    SKILLS_LIMIT,
    TeamError,
    bounded,
)
from workflows.team.rules import TeamErrorCode as E

Skill = tuple[SkillKind, str]
SUPERVISING_ROLES = (StaffRole.SUPERVISOR, StaffRole.ADMIN)


async def supervised_team_ids(actor: Actor) -> list[uuid.UUID]:
    if actor.subject_id is None or not actor.is_staff:
        return []
    return list(
        await Team.filter(supervisor_id=actor.subject_id).values_list("id", flat=True)  # type: ignore[arg-type]
    )


async def team_of(staff_id: uuid.UUID) -> uuid.UUID | None:
    return await TeamMember.get_or_none(staff_id=staff_id).values_list("team_id", flat=True)  # type: ignore[return-value]


async def may_oversee(actor: Actor, staff_id: uuid.UUID) -> bool:
    """TEAM_MANAGE, or the supervisor of the team ``staff_id`` is in."""
    if actor.can(Permission.TEAM_MANAGE):
        return True
    team_id = await team_of(staff_id)
    return team_id is not None and team_id in await supervised_team_ids(actor)


def _skills(skills: list[Skill]) -> list[Skill]:
    if len(skills) > SKILLS_LIMIT:
        raise TeamError(E.TOO_MANY, f"技能不能超过{SKILLS_LIMIT}项", "skills")
    out: list[Skill] = []
    for kind, raw in skills:
        value = bounded(raw, "skills", SKILL_VALUE_LIMIT)
        if kind is SkillKind.COMPLAINT_CLASS and value not in ComplaintClass._value2member_map_:
            raise TeamError(E.INVALID, f"未知的投诉类别：{value}", "skills")
        if (kind, value) not in out:
            out.append((kind, value))
    return out


async def _supervisor(supervisor_id: uuid.UUID | None) -> uuid.UUID | None:
    if supervisor_id is None:
        return None
    if not await StaffUser.exists(
        id=supervisor_id, is_active=True, role__in=[str(r) for r in SUPERVISING_ROLES]
    ):
        raise TeamError(E.INVALID, "主管须为在职的主管或管理员", "supervisorId")
    return supervisor_id


async def create_team(
    actor: Actor,
    name: str,
    description: str = "",
    supervisor_id: uuid.UUID | None = None,
    skills: list[Skill] | None = None,
) -> Team:
    name = bounded(name, "name", NAME_LIMIT)
    description = bounded(description, "description", DESCRIPTION_LIMIT, required=False)
    wanted = _skills(skills or [])
    supervisor = await _supervisor(supervisor_id)
    try:
        async with in_transaction():
            team = await Team.create(name=name, description=description, supervisor_id=supervisor)
            await TeamSkill.bulk_create(
                [TeamSkill(team_id=team.id, kind=k, value=v) for k, v in wanted]
            )
    except IntegrityError:
        raise TeamError(E.NAME_TAKEN, "已有同名团队", "name") from None
    return team


async def edit_team(
    actor: Actor,
    team_id: uuid.UUID,
    expected_version: int,
    *,
    name: str,
    description: str,
    supervisor_id: uuid.UUID | None,
    skills: list[Skill],
) -> Team:
    """Replace a team's name, description, supervisor and skills (all at once, at the
    version the editor saw); a new name is written to its members' rows too."""
    name = bounded(name, "name", NAME_LIMIT)
    description = bounded(description, "description", DESCRIPTION_LIMIT, required=False)
    wanted = _skills(skills)
    supervisor = await _supervisor(supervisor_id)
    try:
        async with in_transaction():
            team = await Team.select_for_update().get_or_none(id=team_id)
            if team is None:
                raise TeamError(E.NOT_FOUND, "未找到该团队", "teamId")
            if team.version != expected_version:
                raise TeamError(E.CONFLICT, "团队已被他人修改，请刷新后重试", "expectedVersion")
            await Team.filter(id=team_id).update(
                name=name,
                description=description,
                supervisor_id=supervisor,
                version=team.version + 1,
            )
            await TeamSkill.filter(team_id=team_id).delete()
            await TeamSkill.bulk_create(
                [TeamSkill(team_id=team_id, kind=k, value=v) for k, v in wanted]
            )
            if name != team.name:
                members = TeamMember.filter(team_id=team_id).values("staff_id")
                await StaffUser.filter(id__in=Subquery(members)).update(team=name)
    except IntegrityError:
        raise TeamError(E.NAME_TAKEN, "已有同名团队", "name") from None
    return await Team.get(id=team_id)


async def move_member(
    actor: Actor, staff_id: uuid.UUID, team_id: uuid.UUID | None
) -> tuple[StaffUser, list[uuid.UUID]]:
    """Put ``staff_id`` into ``team_id`` (None: no team); the staff member and the teams
    whose member lists changed."""
    async with in_transaction():
        staff = await StaffUser.select_for_update().get_or_none(id=staff_id)
        if staff is None:
            raise TeamError(E.NOT_FOUND, "未找到该员工", "staffId")
        current = await team_of(staff_id)
        target = None
        if team_id is not None:
            target = await Team.get_or_none(id=team_id)
            if target is None:
                raise TeamError(E.NOT_FOUND, "未找到该团队", "teamId")
        if not actor.can(Permission.TEAM_MANAGE):
            mine = await supervised_team_ids(actor)
            joining = team_id is not None and team_id in mine and current is None
            leaving = team_id is None and current in mine
            if not (joining or leaving):
                raise TeamError(
                    E.NOT_ALLOWED, "主管只能将无团队的员工调入本组，或将本组成员调出", "teamId"
                )
        if current == team_id:
            return staff, []
        await TeamMember.filter(staff_id=staff_id).delete()
        if target is not None:
            await TeamMember.create(team_id=target.id, staff_id=staff_id, moved_by=actor.subject_id)
        await StaffUser.filter(id=staff_id).update(team=target.name if target else None)
    changed = [t for t in (current, team_id) if t is not None]
    return await StaffUser.get(id=staff_id), changed
