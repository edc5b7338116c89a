"""Applications for a policy bought online (投保单) in GraphQL: the node, its parts and
the error type every buy-online and renewal operation answers with."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import policies as pm
from models import policy_applications as m
from models.clock import local_time
from schema.common import Money, cny
from schema.errors import CODE, Error, ErrorCodes, answers_with
from schema.policies.types import Policy, PremiumInstallment, Product, Reads
from workflows.access import Actor, visible_policies
from workflows.idempotency import IdempotencyError
from workflows.policy_service.applications import visible_applications
from workflows.policy_service.rating import ApplicationError

strawberry.enum(
    m.ApplicationKind, description="NEW: a policy bought online; RENEWAL: the next term of one."
)
strawberry.enum(
    m.ApplicationStatus,
    description="REFERRED: waiting for an underwriter; ACCEPTED: pay the first premium by "
    "`payBy`; DECLINED: not insurable (see `decisionReason`); ISSUED: paid, the policy is "
    "issued; EXPIRED: not paid (or not decided) in time, no policy.",
)

APPLICATION_CODES = ErrorCodes(
    "ApplicationErrorCode",
    "Why a quote, application, underwriting decision or renewal was refused.",
    ApplicationError,
    IdempotencyError,
)


@answers_with(APPLICATION_CODES)
@strawberry.type(
    name="ApplicationError", description="A refused quote, application, decision or renewal."
)
class ApplicationError_(Error):
    code: str = strawberry.field(graphql_type=APPLICATION_CODES.enum, description=CODE)


@strawberry.type(description="A beneficiary named on an application (masked).")
class ApplicationBeneficiary:
    """Part of its application: no identity of its own."""

    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_insured: str = strawberry.field(
        description="SPOUSE, CHILD, PARENT, SIBLING or OTHER."
    )
    share_percent: str = strawberry.field(
        description="Share of the benefit in percent, e.g. `60.00`."
    )
    consent_recorded_at: datetime | None = strawberry.field(
        description="When the consent to name them was recorded (the insured's, when the "
        "holder is not the insured)."
    )


@strawberry.type(description="An application for a policy (投保单), new or renewal.")
class PolicyApplication(relay.Node):
    model: strawberry.Private[m.PolicyApplication]
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Application number (投保单号), e.g. `TB…`.")
    kind: m.ApplicationKind = strawberry.field(description="NEW or RENEWAL.")
    status: m.ApplicationStatus = strawberry.field(description="Where it stands.")
    plan_name: str = strawberry.field(description="The plan applied for.")
    premium: Money = strawberry.field(description="The premium to pay (from the rating tables).")
    sum_insured: Money = strawberry.field(description="Total sum insured of the plan.")
    starts_at: datetime = strawberry.field(description="Start of cover (Asia/Shanghai).")
    ends_at: datetime = strawberry.field(description="End of cover (Asia/Shanghai).")
    insured_name: str = strawberry.field(description="The insured's name.")
    insured_id_number: str = strawberry.field(description="The insured's ID number, masked.")
    insured_relation: str = strawberry.field(
        description="The insured's relation to the holder: SELF, SPOUSE, CHILD or PARENT."
    )
    beneficiaries_by_law: bool = strawberry.field(
        description="True: the beneficiaries are the heirs by law (法定受益人)."
    )
    beneficiaries: list[ApplicationBeneficiary] = strawberry.field(
        description="Named beneficiaries; empty when by law."
    )
    pricing: list[str] = strawberry.field(
        description="How the premium was worked out (age band, factors), in Chinese."
    )
    changes: list[str] = strawberry.field(
        description="RENEWAL: what changed since last year, in Chinese; else empty."
    )
    decision_reason: str = strawberry.field(
        description="Why it was accepted or declined (empty while referred)."
    )
    decided_at: datetime | None = strawberry.field(description="When it was decided.")
    decided_by_underwriter: bool = strawberry.field(
        description="True when an underwriter decided it, false when the rules did."
    )
    pay_by: datetime | None = strawberry.field(
        description="ACCEPTED: pay the first premium before this, or the application expires."
    )
    issued_at: datetime | None = strawberry.field(description="ISSUED: when.")
    created_at: datetime = strawberry.field(description="When it was made.")

    @strawberry.field(description="The product applied for.")
    async def product(self, info: Info) -> Product:
        row = await pm.Product.get(id=self.model.product_id)
        return Product.from_model(row)

    @strawberry.field(
        description="Underwriters only: every rule that fired (why it was referred); "
        "empty for customers."
    )
    def underwriting_notes(self, info: Info) -> list[str]:
        return list(self.model.reasons) if info.context.actor.is_staff else []

    @strawberry.field(
        description="ACCEPTED: the first premium, to pay with `createPremiumPayment` (its "
        "`id` is the installmentId); null otherwise."
    )
    async def installment_to_pay(self, info: Info) -> PremiumInstallment | None:
        if self.model.status is not m.ApplicationStatus.ACCEPTED or self.model.policy_id is None:
            return None
        row = await pm.PremiumInstallment.get_or_none(policy_id=self.model.policy_id, sequence=1)
        return PremiumInstallment.from_model(row, pm.PolicyStatus.PENDING) if row else None

    @strawberry.field(description="ISSUED: the policy it became; null before.")
    async def policy(self, info: Info) -> Policy | None:
        if self.model.policy_id is None:
            return None
        return await policy_view(info.context, self.model.policy_id)

    @strawberry.field(description="RENEWAL: the policy renewed; null otherwise.")
    async def renewal_of(self, info: Info) -> Policy | None:
        if self.model.renewal_of_id is None:
            return None
        return await policy_view(info.context, self.model.renewal_of_id)

    @classmethod
    def from_model(cls, model: m.PolicyApplication) -> PolicyApplication:
        answers = model.answers or {}
        return cls(
            model=model,
            id=str(model.id),
            number=model.number,
            kind=model.kind,
            status=model.status,
            plan_name=model.plan_name,
            premium=cny(model.premium),
            sum_insured=cny(model.sum_insured),
            starts_at=local_time(model.starts_at),
            ends_at=local_time(model.ends_at),
            insured_name=model.insured_name,
            insured_id_number=model.insured_id_masked,
            insured_relation=model.insured_relation,
            beneficiaries_by_law=not model.beneficiaries,
            beneficiaries=[
                ApplicationBeneficiary(
                    name=row["name"],
                    id_number=row["id_masked"],
                    relation_to_insured=row["relation"],
                    share_percent=row["share"],
                    consent_recorded_at=local_time(datetime.fromisoformat(row["consent_at"]))
                    if row.get("consent_at")
                    else None,
                )
                for row in model.beneficiaries
            ],
            pricing=list(answers.get("pricing", [])),
            changes=list(answers.get("changes", [])),
            decision_reason=model.decision_reason,
            decided_at=local_time(model.decided_at) if model.decided_at else None,
            decided_by_underwriter=model.decided_by is not None,
            pay_by=local_time(model.pay_by) if model.pay_by else None,
            issued_at=local_time(model.issued_at) if model.issued_at else None,
            created_at=local_time(model.created_at),
        )


async def policy_view(reads: Reads, policy_id: uuid.UUID) -> Policy | None:
    """A policy as the caller may see it (never one not yet issued)."""
    query = visible_policies(reads.actor).filter(id=policy_id).select_related("product")
    row = await query.first()
    return Policy.from_model(row, reads) if row else None


async def application_node(actor: Actor, object_id: uuid.UUID) -> PolicyApplication | None:
    """The holder sees their own applications; underwriters all; nobody else any."""
    row = await visible_applications(actor).filter(id=object_id).first()
    return PolicyApplication.from_model(row) if row else None
