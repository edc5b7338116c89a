"""The staff directory: colleagues by role and team, for assignment pickers (claims to
adjusters, visits and recovery calls to agents)."""

from __future__ import annotations

import strawberry

from models.staff import StaffRole, StaffUser
from schema.common import Connection, CursorArg, PageArg, paginate
from schema.people import StaffMember
from schema.permissions import staff_only
from workflows.access import Permission


@strawberry.input(description="Which colleagues to list; every field narrows the list.")
class StaffFilter:
    roles: list[StaffRole] | None = strawberry.field(
        default=None, description="Only these roles (e.g. ADJUSTER and SUPERVISOR)."
    )
    team: str | None = strawberry.field(default=None, description="Only this team.")
    include_inactive: bool = strawberry.field(
        default=False, description="Also disabled accounts (never offered for assignment)."
    )


@strawberry.type
class StaffQueries:
    @strawberry.field(
        description="Staff (STAFF_READ): colleagues by role and team, by name.",
        permission_classes=staff_only(Permission.STAFF_READ),
    )
    async def staff_members(
        self,
        filter: StaffFilter | None = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[StaffMember]:
        where = filter or StaffFilter()
        queryset = StaffUser.all()
        if where.roles:
            queryset = queryset.filter(role__in=list(where.roles))
        if where.team is not None:
            queryset = queryset.filter(team=where.team.strip())
        if not where.include_inactive:
            queryset = queryset.filter(is_active=True)
        return await paginate(
            queryset.order_by("display_name", "username"),
            StaffMember.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )
