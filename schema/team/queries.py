"""Reading the service team: teams, workload, leave, certificates, performance and the
quality-review sample. Personal figures answer null to anyone but the person, their
team's supervisor and TEAM_MANAGE (the workflow decides; see workflows.team.performance)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission
from strawberry.types import Info
from tortoise.expressions import Subquery

from models import team as m
from models.staff import StaffUser
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import UserInputError
from schema.people import StaffMember
from schema.permissions import IsAuthenticated, staff_only
from schema.team.types import (
    Certificate,
    CertificateRequirement,
    Course,
    PerformanceFigures,
    QualityReview,
    ReviewCase,
    StaffLeave,
    StaffPerformance,
    StaffWorkload,
    Team,
    TeamPerformance,
    team_views,
    workload_view,
)
from workflows.access import Permission
from workflows.team import certificates, performance, reviews
from workflows.team.rules import SAMPLE_SIZE, TeamError
from workflows.team.teams import supervised_team_ids

READ = staff_only(Permission.STAFF_READ)
STAFF: list[type[BasePermission]] = [IsAuthenticated]


@strawberry.input(description="A period of local days (Asia/Shanghai), at most 366 days.")
class PeriodInput:
    first_day: date = strawberry.field(description="The first day.")
    last_day: date = strawberry.field(description="The last day (inclusive).")


def _period(period: PeriodInput) -> performance.Period:
    try:
        return performance.Period(period.first_day, period.last_day)
    except TeamError as error:
        raise UserInputError(error.message) from None


StaffIdArg = Annotated[relay.GlobalID, strawberry.argument(description="The staff member.")]
TeamIdArg = Annotated[relay.GlobalID, strawberry.argument(description="The team.")]
PeriodArg = Annotated[PeriodInput, strawberry.argument(description="The days to count.")]


async def _staff_performance(
    staff: StaffUser, period: performance.Period, figures: performance.Figures
) -> StaffPerformance:
    return StaffPerformance(
        staff=StaffMember.from_model(staff),
        first_day=period.first_day,
        last_day=period.last_day,
        figures=PerformanceFigures.from_figures(figures),
    )


@strawberry.type
class TeamQueries:
    @strawberry.field(
        description="Staff (STAFF_READ): the service teams with supervisors, skills and members.",
        permission_classes=READ,
    )
    async def teams(self, first: PageArg = None, after: CursorArg = None) -> Connection[Team]:
        page = await paginate(
            m.Team.all().order_by("name", "id"),
            lambda row: row,
            first=first,
            after=after,
            last=None,
            before=None,
        )
        views = await team_views([edge.node for edge in page.edges])
        for edge, view in zip(page.edges, views, strict=True):
            edge.node = view
        return page

    @strawberry.field(
        description="Staff: one person's open work with its clocks — their own, their team "
        "members' (supervisor) or anyone's (TEAM_MANAGE); null otherwise.",
        permission_classes=STAFF,
    )
    async def staff_workload(self, info: Info, staff_id: StaffIdArg) -> StaffWorkload | None:
        actor = info.context.actor
        staff = await StaffUser.get_or_none(id=node_uuid(staff_id, "StaffMember"))
        if staff is None or not await performance.may_see(actor, staff.id):
            return None
        return await workload_view(staff, datetime.now(UTC))

    @strawberry.field(
        description="Staff: each member's open work in a team — its supervisor or "
        "TEAM_MANAGE; empty otherwise.",
        permission_classes=STAFF,
    )
    async def team_workload(self, info: Info, team_id: TeamIdArg) -> list[StaffWorkload]:
        team = node_uuid(team_id, "Team")
        if not await performance.may_see_team(info.context.actor, team):
            return []
        members = m.TeamMember.filter(team_id=team).values("staff_id")
        now = datetime.now(UTC)
        people = await StaffUser.filter(id__in=Subquery(members)).order_by("display_name", "id")
        return [await workload_view(s, now) for s in people]

    @strawberry.field(
        description="Staff: a person's leave periods, newest first (themselves, their "
        "supervisor, TEAM_MANAGE; empty otherwise).",
        permission_classes=STAFF,
    )
    async def staff_leaves(self, info: Info, staff_id: StaffIdArg) -> list[StaffLeave]:
        staff = node_uuid(staff_id, "StaffMember")
        if not await performance.may_see(info.context.actor, staff):
            return []
        rows = await m.StaffLeave.filter(staff_id=staff).order_by("-starts_at").limit(100)
        return [StaffLeave.from_model(r) for r in rows]

    @strawberry.field(
        description="Staff: a person's certificates (themselves, their supervisor, "
        "TEAM_MANAGE; empty otherwise), the latest expiry first.",
        permission_classes=STAFF,
    )
    async def staff_certificates(self, info: Info, staff_id: StaffIdArg) -> list[Certificate]:
        staff = node_uuid(staff_id, "StaffMember")
        if not await performance.may_see(info.context.actor, staff):
            return []
        rows = await m.Certificate.filter(staff_id=staff).order_by("-expires_on").limit(100)
        return [Certificate.from_model(r) for r in rows]

    @strawberry.field(
        description="Staff: the training courses and the certificates they grant.",
        permission_classes=STAFF,
    )
    async def courses(self, info: Info) -> list[Course]:
        if not info.context.actor.is_staff:
            return []
        await certificates.ensure_courses()
        return [Course.from_model(r) for r in await m.Course.all().order_by("code")]

    @strawberry.field(
        description="Staff: which permissions need which certificate (a permission not "
        "listed needs none).",
        permission_classes=STAFF,
    )
    async def certificate_requirements(self, info: Info) -> list[CertificateRequirement]:
        if not info.context.actor.is_staff:
            return []
        rows = await m.CertificateRequirement.all().order_by("permission")
        return [CertificateRequirement.from_model(r) for r in rows]

    @strawberry.field(
        description="Staff: one person's performance over a period — handled items, median "
        "times, clock breaches, ratings, complaint rate, quality scores. Only the person, "
        "their team's supervisor and TEAM_MANAGE see it; null for anyone else.",
        permission_classes=STAFF,
    )
    async def staff_performance(
        self, info: Info, staff_id: StaffIdArg, period: PeriodArg
    ) -> StaffPerformance | None:
        span = _period(period)
        staff = await StaffUser.get_or_none(id=node_uuid(staff_id, "StaffMember"))
        if staff is None:
            return None
        try:
            figures = await performance.staff_performance(info.context.actor, staff.id, span)
        except TeamError:
            return None
        return await _staff_performance(staff, span, figures)

    @strawberry.field(
        description="Staff: a team's performance and each member's — its supervisor and "
        "TEAM_MANAGE only; null for anyone else.",
        permission_classes=STAFF,
    )
    async def team_performance(
        self, info: Info, team_id: TeamIdArg, period: PeriodArg
    ) -> TeamPerformance | None:
        span = _period(period)
        try:
            team, total, lines = await performance.team_performance(
                info.context.actor, node_uuid(team_id, "Team"), span
            )
        except TeamError:
            return None
        staff = {s.id: s for s in await StaffUser.filter(id__in=[i for i, _ in lines])}
        return TeamPerformance(
            team=(await team_views([team]))[0],
            first_day=span.first_day,
            last_day=span.last_day,
            figures=PerformanceFigures.from_figures(total),
            members=[await _staff_performance(staff[i], span, f) for i, f in lines],
        )

    @strawberry.field(
        description="Supervisors: a sample of closed cases of their team's members not yet "
        "quality-reviewed (TEAM_MANAGE: everyone's), to score with `submitQualityReview`.",
        permission_classes=STAFF,
    )
    async def quality_review_queue(
        self,
        info: Info,
        kind: Annotated[m.ReviewSubject, strawberry.argument(description="Which cases.")],
        first: Annotated[
            int, strawberry.argument(description="How many (1–50, default 10).")
        ] = SAMPLE_SIZE,
    ) -> list[ReviewCase]:
        actor = info.context.actor
        if not actor.can(Permission.TEAM_MANAGE) and not await supervised_team_ids(actor):
            return []
        return [ReviewCase.from_case(c) for c in await reviews.queue(actor, kind, first)]

    @strawberry.field(
        description="Staff: the quality reviews a person received, newest first (themselves, "
        "their supervisor, TEAM_MANAGE; empty otherwise).",
        permission_classes=STAFF,
    )
    async def quality_reviews(self, info: Info, staff_id: StaffIdArg) -> list[QualityReview]:
        staff = node_uuid(staff_id, "StaffMember")
        if not await performance.may_see(info.context.actor, staff):
            return []
        rows = await m.QualityReview.filter(staff_id=staff).order_by("-reviewed_at").limit(100)
        return [QualityReview.from_model(r) for r in rows]
