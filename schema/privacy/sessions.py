"""Staff sessions in GraphQL for admins (SESSION_MANAGE): the active ones, and revoke."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.auth import AuthSession
from models.ids import global_id
from models.staff import StaffUser
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import payload_errors
from schema.permissions import staff_only
from schema.privacy.audit import PrivacyError_
from workflows.access import Actor, Permission
from workflows.privacy import sessions
from workflows.privacy.rules import PrivacyError

MANAGE = staff_only(Permission.SESSION_MANAGE)


@strawberry.type(description="A staff member's login session (one refresh-token family).")
class StaffSession(relay.Node):
    id: relay.NodeID[str]
    staff_id: strawberry.ID = strawberry.field(description="Whose (`StaffMember` global ID).")
    username: str = strawberry.field(description="Their login name.")
    display_name: str = strawberry.field(description="Their name.")
    channel: str = strawberry.field(description="Where they logged in, e.g. `staff_console`.")
    started_at: datetime = strawberry.field(description="When they logged in.")
    last_used_at: datetime = strawberry.field(
        description="Its last use (recorded at most once a minute)."
    )
    expires_at: datetime = strawberry.field(description="When it ends unless refreshed.")
    revoked_at: datetime | None = strawberry.field(description="When it was ended; null: live.")
    revoked_reason: str | None = strawberry.field(
        description="Why: `logout`, `idle`, `revoked_by_admin`, `refresh_token_reuse`…"
    )


async def session_views(rows: list[AuthSession]) -> list[StaffSession]:
    staff = {s.id: s for s in await StaffUser.filter(id__in={r.subject_id for r in rows})}
    views = []
    for row in rows:
        member = staff.get(row.subject_id)
        views.append(
            StaffSession(
                id=str(row.id),
                staff_id=strawberry.ID(global_id("StaffMember", row.subject_id)),
                username=member.username if member else "",
                display_name=member.display_name if member else "",
                channel=row.channel,
                started_at=row.created_at,
                last_used_at=row.last_used_at or row.created_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
                revoked_reason=row.revoked_reason,
            )
        )
    return views


async def staff_session_node(actor: Actor, object_id: uuid.UUID) -> StaffSession | None:
    row = await sessions.staff_session(actor, object_id)
    return (await session_views([row]))[0] if row else None


@strawberry.input(description="The staff session to end.")
class RevokeStaffSessionInput:
    session_id: relay.GlobalID = strawberry.field(description="The `StaffSession`'s `id`.")


@strawberry.type(description="The session after it was ended.")
class RevokeStaffSessionPayload:
    session: StaffSession | None = strawberry.field(description="As ended; null when refused.")
    errors: list[PrivacyError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class SessionQueries:
    @strawberry.field(
        description="Admins (SESSION_MANAGE): live staff sessions — not revoked, not "
        "expired, used within the idle timeout — the most recently used first.",
        permission_classes=MANAGE,
    )
    async def active_staff_sessions(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[StaffSession]:
        idle = info.context.services.settings.staff_idle_timeout_seconds
        page = await paginate(
            sessions.active_staff_sessions(info.context.actor, idle),
            lambda row: row,
            first=first,
            after=after,
            last=None,
            before=None,
        )
        views = await session_views([edge.node for edge in page.edges])
        for edge, view in zip(page.edges, views, strict=True):
            edge.node = view
        return page


@strawberry.type
class SessionMutations:
    @strawberry.mutation(
        description="Admins (SESSION_MANAGE): end a staff member's session; its tokens "
        "stop working at once and its live subscriptions are closed.",
        permission_classes=MANAGE,
    )
    async def revoke_staff_session(
        self,
        info: Info,
        input: Annotated[
            RevokeStaffSessionInput,
            strawberry.argument(description="The staff session an admin ends now."),
        ],
    ) -> RevokeStaffSessionPayload:
        try:
            row = await sessions.revoke_staff_session(
                info.context.actor, node_uuid(input.session_id, "StaffSession")
            )
        except PrivacyError as error:
            return RevokeStaffSessionPayload(
                session=None, errors=payload_errors(error, PrivacyError_)
            )
        return RevokeStaffSessionPayload(session=(await session_views([row]))[0], errors=[])
