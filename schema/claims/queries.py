"""Claim queries: my claims, one claim, the archive of a closed claim and the staff
queue."""

from __future__ import annotations

import json
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.policies import ProductKind
from schema.claims.enums import ClaimStatus
from schema.claims.parts import ClaimArchive
from schema.claims.types import STAFF_READ, Claim
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import UserInputError
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated
from workflows import claims as flows
from workflows.access import Actor, visible_claims


@strawberry.input(description="Narrow the staff claim queue; empty lists mean no restriction.")
class ClaimQueueFilter:
    status: list[ClaimStatus] | None = strawberry.field(
        default=None, description="Only claims in one of these statuses."
    )
    product_kind: list[ProductKind] | None = strawberry.field(
        default=None, description="Only claims on policies of products of these kinds."
    )
    overdue: bool | None = strawberry.field(default=None, description="Only overdue claims.")
    fraud_flag: bool | None = strawberry.field(default=None, description="Only flagged ones.")
    assignee_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Assigned to this staff member."
    )
    unassigned: bool | None = strawberry.field(default=None, description="Only unassigned.")


def _queue(where: ClaimQueueFilter | None, actor: Actor) -> Any:
    queryset = visible_claims(actor)
    if where is None:
        return queryset
    if where.status:
        queryset = queryset.filter(status__in=list(where.status))
    if where.product_kind:
        queryset = queryset.filter(policy__product__kind__in=list(where.product_kind))
    if where.fraud_flag is not None:
        queryset = queryset.filter(fraud_flag=where.fraud_flag)
    if where.unassigned:
        queryset = queryset.filter(assignee_id=None)
    if where.assignee_id is not None:
        queryset = queryset.filter(assignee_id=node_uuid(where.assignee_id, "StaffMember"))
    if where.overdue:
        queryset = queryset.filter(flows.overdue_claims())
    return queryset


@strawberry.type
class ClaimQueries:
    @strawberry.field(description="My claims, newest first.", permission_classes=CUSTOMER_ONLY)
    async def my_claims(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[Claim]:
        queryset = visible_claims(info.context.actor).order_by("-created_at", "-id")
        return await paginate(
            queryset, Claim.from_model, first=first, after=after, last=None, before=None
        )

    @strawberry.field(
        description="One claim; null if it does not exist or you may not see it.",
        permission_classes=[IsAuthenticated],
    )
    async def claim(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The claim's ID.")],
    ) -> Claim | None:
        row = await visible_claims(info.context.actor).filter(id=node_uuid(id, "Claim")).first()
        return Claim.from_model(row) if row else None

    @strawberry.field(
        description="Staff (CLAIM_READ): the archive export of a closed claim.",
        permission_classes=STAFF_READ,
    )
    async def claim_archive(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The claim's ID.")],
    ) -> ClaimArchive | None:
        try:
            exported = await flows.archive(info.context.actor, node_uuid(id, "Claim"))
        except flows.ClaimError as error:
            if error.code is flows.ClaimErrorCode.CLAIM_NOT_FOUND:
                return None
            raise UserInputError(error.message) from None
        storage = info.context.services.storage
        ttl = info.context.services.settings.signed_url_ttl_seconds
        return ClaimArchive(
            report_number=exported["claim"]["reportNumber"],
            manifest=json.dumps(exported, ensure_ascii=False, indent=2),
            file_urls=[
                storage.signed_url(f["storageKey"], expires_in=ttl, filename=f["fileName"])
                for f in exported["files"]
            ],
        )

    @strawberry.field(
        description="Staff (CLAIM_READ): the claim queue, fast-tracked claims (`fastTrack`) "
        "first, then oldest submission first. The order is total (ties broken by ID) and a "
        "claim's place is fixed at submission, so cursors stay valid while staff page.",
        permission_classes=STAFF_READ,
    )
    async def claim_queue(
        self,
        info: Info,
        filter: Annotated[
            ClaimQueueFilter | None, strawberry.argument(description="Narrow the queue.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[Claim]:
        queryset = _queue(filter, info.context.actor).order_by(
            "-fast_track", "submitted_at", "created_at", "id"
        )
        return await paginate(
            queryset, Claim.from_model, first=first, after=after, last=None, before=None
        )
