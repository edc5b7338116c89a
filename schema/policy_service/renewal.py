"""Renewal (续保) in GraphQL: ``renewalOffer`` for one of your policies and the one-tap
``renewPolicy``; the new policy is paid like any first premium and linked to the old
(``Policy.renewedFrom`` / ``Policy.renewedBy``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.clock import local_time
from schema.common import Money, cny, node_uuid
from schema.errors import payload_errors
from schema.permissions import CUSTOMER_ONLY
from schema.policies.types import Policy
from schema.policy_service.application_types import (
    ApplicationError_,
    PolicyApplication,
    policy_view,
)
from schema.scalars import Amount
from workflows.idempotency import IdempotencyError
from workflows.policy_service import renewal
from workflows.policy_service.applications import visible_applications
from workflows.policy_service.rating import ApplicationError


@strawberry.type(description="What renewing a policy would cost and change (续保报价).")
class RenewalOffer:
    policy: Policy = strawberry.field(description="The policy to renew.")
    available: bool = strawberry.field(description="Whether it can be renewed now.")
    unavailable_reason: str = strawberry.field(
        description="Why not, in Chinese (e.g. when the renewal window opens); empty if available."
    )
    starts_at: datetime = strawberry.field(
        description="Start of the new term: exactly the end of the current one (no gap)."
    )
    ends_at: datetime = strawberry.field(description="End of the new term.")
    premium: Money = strawberry.field(
        description="The renewal premium; send it back to `renewPolicy` to confirm it."
    )
    re_rated: bool = strawberry.field(
        description="True: re-rated from the product's rating tables (e.g. a new age band); "
        "false: the current premium."
    )
    changes: list[str] = strawberry.field(description="What changes since last year, in Chinese.")
    application: PolicyApplication | None = strawberry.field(
        description="The renewal already applied for (pay its `installmentToPay`), if any."
    )


@strawberry.input(description="Renew a policy at the offered premium.")
class RenewPolicyInput:
    policy_id: relay.GlobalID = strawberry.field(description="Your policy.")
    premium: Amount = strawberry.field(
        description="The premium of the offer you saw: refused if it has changed since."
    )
    idempotency_key: str = strawberry.field(
        description="A client-made unique key (8-128 characters): a retry returns the same "
        "application."
    )


@strawberry.type(description="A renewal applied for.")
class RenewPolicyPayload:
    application: PolicyApplication | None = strawberry.field(
        default=None,
        description="The RENEWAL application, ACCEPTED: pay its `installmentToPay`.",
    )
    policy: Policy | None = strawberry.field(
        default=None, description="The policy renewed (its offer now names the application)."
    )
    errors: list[ApplicationError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class RenewalQueries:
    @strawberry.field(
        description="The renewal offer for a policy you hold: available from 60 days before "
        "it ends; null if it is not yours.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def renewal_offer(
        self,
        info: Info,
        policy_id: Annotated[relay.GlobalID, strawberry.argument(description="Your policy.")],
    ) -> RenewalOffer | None:
        try:
            offer = await renewal.renewal_offer(
                info.context.services.pii, info.context.actor, node_uuid(policy_id, "Policy")
            )
        except ApplicationError:
            return None
        return RenewalOffer(
            policy=Policy.from_model(offer.policy, info.context),
            available=offer.available,
            unavailable_reason=offer.reason,
            starts_at=local_time(offer.starts_at),
            ends_at=local_time(offer.ends_at),
            premium=cny(offer.premium),
            re_rated=offer.re_rated,
            changes=offer.changes,
            application=PolicyApplication.from_model(offer.application)
            if offer.application
            else None,
        )


@strawberry.type
class RenewalMutations:
    @strawberry.mutation(
        description="Renew a policy you hold in one tap at the offered premium: a RENEWAL "
        "application, accepted at once; pay its `installmentToPay` with "
        "`createPremiumPayment` and the new policy is issued, starting when this one ends.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def renew_policy(
        self,
        info: Info,
        input: Annotated[
            RenewPolicyInput, strawberry.argument(description="The policy and offered premium.")
        ],
    ) -> RenewPolicyPayload:
        actor = info.context.actor
        policy_id = node_uuid(input.policy_id, "Policy")
        try:
            application_id = await renewal.renew_policy(
                info.context.services.pii, actor, policy_id, input.premium, input.idempotency_key
            )
        except (ApplicationError, IdempotencyError) as error:
            return RenewPolicyPayload(errors=payload_errors(error, ApplicationError_))
        row = await visible_applications(actor).filter(id=application_id).first()
        return RenewPolicyPayload(
            application=PolicyApplication.from_model(row) if row else None,
            policy=await policy_view(info.context, policy_id),
            errors=[],
        )
