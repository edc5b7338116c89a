"""The underwriters' queue (UNDERWRITE permission): referred applications and one
decision each, with a reason."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import payload_errors
from schema.permissions import staff_only
from schema.policy_service.application_types import ApplicationError_, PolicyApplication
from schema.policy_service.applications import ApplicationPayload
from workflows.access import Permission
from workflows.policy_service import referrals
from workflows.policy_service.rating import ApplicationError


@strawberry.enum(description="An underwriter's decision.")
class UnderwritingDecision(StrEnum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"


@strawberry.input(description="An underwriter's decision on a referred application.")
class DecideApplicationInput:
    application_id: relay.GlobalID = strawberry.field(description="The referred application.")
    decision: UnderwritingDecision = strawberry.field(description="ACCEPT or DECLINE.")
    reason: str = strawberry.field(
        description="Why (≤ 500 字): the customer is told it when declined."
    )


@strawberry.type
class UnderwritingQueries:
    @strawberry.field(
        description="Underwriters: applications referred by the rules, the earliest first; "
        "`underwritingNotes` says why each was referred.",
        permission_classes=staff_only(Permission.UNDERWRITE),
    )
    async def underwriting_queue(
        self, first: PageArg = None, after: CursorArg = None
    ) -> Connection[PolicyApplication]:
        return await paginate(
            referrals.underwriting_queue(),
            PolicyApplication.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )


@strawberry.type
class UnderwritingMutations:
    @strawberry.mutation(
        description="Underwriters: accept or decline a referred application with a reason; "
        "one decision per application, whoever decides at once. Accepted: the customer "
        "is told to pay the first premium.",
        permission_classes=staff_only(Permission.UNDERWRITE),
    )
    async def decide_application(
        self,
        info: Info,
        input: Annotated[
            DecideApplicationInput,
            strawberry.argument(description="The application, decision and reason."),
        ],
    ) -> ApplicationPayload:
        try:
            application = await referrals.decide_application(
                info.context.actor,
                node_uuid(input.application_id, "PolicyApplication"),
                input.decision == UnderwritingDecision.ACCEPT,
                input.reason,
            )
        except ApplicationError as error:
            return ApplicationPayload(errors=payload_errors(error, ApplicationError_))
        return ApplicationPayload(application=PolicyApplication.from_model(application), errors=[])
