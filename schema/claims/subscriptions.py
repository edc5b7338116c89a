"""Live claim updates: one claim for whoever may see it, the queue for staff."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import claims as m
from push.bus import current_then_changes
from schema.claims.types import STAFF_READ, Claim
from schema.common import node_uuid
from schema.errors import UserInputError
from schema.permissions import IsAuthenticated
from workflows import claims as flows
from workflows.access import visible_claims


@strawberry.type(description="A change in the staff claim queue.")
class ClaimQueueChange:
    event_type: str = strawberry.field(description="What happened, e.g. `claim.updated`.")
    claim: Claim | None = strawberry.field(description="The claim as it is now.")


@strawberry.type
class ClaimSubscriptions:
    @strawberry.subscription(
        description="One claim live: its current state at once (so a client that "
        "reconnects catches up on what it missed), then again after each change; refused "
        "like a missing claim if not yours.",
        permission_classes=[IsAuthenticated],
    )
    async def claim_updated(
        self,
        info: Info,
        claim_id: Annotated[relay.GlobalID, strawberry.argument(description="The claim.")],
    ) -> AsyncGenerator[Claim, None]:
        actor = info.context.actor
        try:
            claim = await flows.load_claim(
                actor, node_uuid(claim_id, "Claim"), flows.ClaimAction.VIEW
            )
        except flows.ClaimError:
            raise UserInputError("未找到该理赔案件") from None

        async def current() -> Claim | None:
            row = await visible_claims(actor).filter(id=claim.id).first()
            return Claim.from_model(row) if row is not None else None

        async for state in current_then_changes(
            info.context.services.bus, f"claim:{claim.id}", current
        ):
            yield state

    @strawberry.subscription(
        description="Staff (CLAIM_READ): the claim queue changes.", permission_classes=STAFF_READ
    )
    async def claim_queue_changed(self, info: Info) -> AsyncGenerator[ClaimQueueChange, None]:
        async for event in info.context.services.bus.subscribe(flows.STAFF_QUEUE):
            row = await m.Claim.get_or_none(id=event["entityId"])
            yield ClaimQueueChange(
                event_type=event["type"], claim=Claim.from_model(row) if row else None
            )
