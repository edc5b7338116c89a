"""Policy lookup types (保单查询): products, policies and what hangs off a policy.

Scalar fields are plain attributes (no resolver call per field); related lists go
through the request's DataLoaders.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import policies as m
from models.clock import local_time, local_today
from schema.common import Connection, CursorArg, Money, PageArg, cny
from schema.people import Customer
from workflows.access import visible_policies
from workflows.policies import installment_overdue
from workflows.policy_service import renewal

if TYPE_CHECKING:
    from schema.policy_service.endorsements import Endorsement
    from schema.policy_service.payment_accounts import AccountOnFile

# The domain enums, exposed as they are (annotations use the Python classes).
strawberry.enum(m.ProductKind, description="The line of business of a product.")
strawberry.enum(m.PolicyStatus, description="Where a policy is in its life.")
strawberry.enum(m.PaymentFrequency, description="How often premium is due.")


@strawberry.enum(description="How the caller is named on a policy.")
class PolicyRole(StrEnum):
    HOLDER = "HOLDER"
    INSURED = "INSURED"
    BENEFICIARY = "BENEFICIARY"


@strawberry.enum(description="Whether a premium installment has been paid.")
class InstallmentStatus(StrEnum):
    PAID = "PAID"
    UNPAID = "UNPAID"
    OVERDUE = "OVERDUE"
    CANCELLED = "CANCELLED"


# Premium is owed only while cover runs (or could be revived by paying).
PREMIUM_OWED = (
    m.PolicyStatus.PENDING,
    m.PolicyStatus.ACTIVE,
    m.PolicyStatus.LAPSED,
    m.PolicyStatus.AWAITING_PAYMENT,  # bought online: its first premium issues it
)


RENEWAL_WINDOW_DAYS = 60


@strawberry.type(description="A document a claim of this loss type needs.")
class RequiredDocument:
    code: str = strawberry.field(description="Stable code of the checklist item.")
    name: str = strawberry.field(description="What to provide, in Chinese.")
    required: bool = strawberry.field(
        description="False for documents that help but may be absent."
    )


@strawberry.type(description="A kind of loss a product covers, and the documents a claim needs.")
class LossType:
    code: str = strawberry.field(description="Stable code, e.g. `COLLISION`.")
    name: str = strawberry.field(description="Name in Chinese, e.g. `碰撞`.")
    documents: list[RequiredDocument] = strawberry.field(description="The checklist for a claim.")


@strawberry.type(description="An insurance product and the terms of its policies.")
class Product(relay.Node):
    model: strawberry.Private[m.Product]
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Product code.")
    name: str = strawberry.field(description="Product name in Chinese.")
    kind: m.ProductKind = strawberry.field(description="Line of business.")
    description: str = strawberry.field(description="Short description for customers.")
    report_time_limit_hours: int = strawberry.field(
        description="Within how many hours of a loss it should be reported (报案时效)."
    )
    cooling_off_days: int = strawberry.field(
        description="Days after issue within which the policy can be cancelled in full (犹豫期)."
    )

    @strawberry.field(description="The losses this product covers.")
    def loss_types(self) -> list[LossType]:
        """Built only when asked for: most product answers need just name and kind."""
        return [
            LossType(
                code=lt["code"],
                name=lt["name"],
                documents=[RequiredDocument(**doc) for doc in lt.get("documents", [])],
            )
            for lt in self.model.loss_types
        ]

    @classmethod
    def from_model(cls, model: m.Product) -> Product:
        return cls(
            model=model,
            id=str(model.id),
            code=model.code,
            name=model.name,
            kind=model.kind,
            description=model.description,
            report_time_limit_hours=model.report_time_limit_hours,
            cooling_off_days=model.cooling_off_days,
        )


@strawberry.type(description="One coverage (保障责任) of a policy and how much of it is left.")
class Coverage(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Coverage code within the product.")
    name: str = strawberry.field(description="Name in Chinese, e.g. `车辆损失险`.")
    sum_insured: Money = strawberry.field(description="The most this coverage pays (保额).")
    deductible: Money = strawberry.field(description="Deductible per claim (免赔额).")
    used_amount: Money = strawberry.field(description="Already paid out under this coverage.")
    remaining_amount: Money = strawberry.field(description="Sum insured less what was paid.")

    @classmethod
    def from_model(cls, model: m.Coverage) -> Coverage:
        return cls(
            id=str(model.id),
            code=model.code,
            name=model.name,
            sum_insured=cny(model.sum_insured),
            deductible=cny(model.deductible),
            used_amount=cny(model.used_amount),
            remaining_amount=cny(max(model.sum_insured - model.used_amount, Decimal(0))),
        )


@strawberry.type(description="A person insured by a policy (被保险人).")
class InsuredPerson(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_holder: str = strawberry.field(
        description="Relation to the policy holder: SELF, SPOUSE, CHILD, PARENT, OTHER."
    )
    covered_until: date | None = strawberry.field(
        default=None,
        description="A member removed from the policy: the last day covered (Asia/Shanghai); "
        "null while insured.",
    )

    @classmethod
    def from_model(cls, model: m.InsuredPerson) -> InsuredPerson:
        return cls(
            id=str(model.id),
            name=model.name,
            id_number=model.id_number_masked,
            relation_to_holder=model.relation_to_holder,
            covered_until=model.covered_until,
        )


@strawberry.type(description="A beneficiary of a policy (受益人) and their share.")
class Beneficiary(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_insured: str = strawberry.field(
        description="Relation to the insured: SPOUSE, CHILD, PARENT, OTHER."
    )
    share_percent: Decimal = strawberry.field(description="Share of the benefit, in percent.")

    @classmethod
    def from_model(cls, model: m.Beneficiary) -> Beneficiary:
        return cls(
            id=str(model.id),
            name=model.name,
            id_number=model.id_number_masked,
            relation_to_insured=model.relation_to_insured,
            share_percent=model.share_percent,
        )


@strawberry.type(description="One premium installment of a policy's schedule.")
class PremiumInstallment(relay.Node):
    id: relay.NodeID[str]
    sequence: int = strawberry.field(description="1 for the first installment, and so on.")
    due_date: date = strawberry.field(description="Due date (Asia/Shanghai).")
    amount: Money = strawberry.field(description="Amount due.")
    status: InstallmentStatus = strawberry.field(
        description="PAID; UNPAID (not yet due or due today); OVERDUE; CANCELLED (not "
        "owed any more: the policy was cancelled or has expired, or the change that asked "
        "for it expired unpaid)."
    )
    paid_at: datetime | None = strawberry.field(description="When it was paid.")

    @classmethod
    def from_model(
        cls, model: m.PremiumInstallment, policy_status: m.PolicyStatus
    ) -> PremiumInstallment:
        if model.paid_at is not None:
            status = InstallmentStatus.PAID
        elif policy_status not in PREMIUM_OWED or model.cancelled_at is not None:
            status = InstallmentStatus.CANCELLED
        elif installment_overdue(model.due_date, local_today()):
            status = InstallmentStatus.OVERDUE
        else:
            status = InstallmentStatus.UNPAID
        return cls(
            id=str(model.id),
            sequence=model.sequence,
            due_date=model.due_date,
            amount=cny(model.amount),
            status=status,
            paid_at=local_time(model.paid_at) if model.paid_at else None,
        )


@strawberry.type(description="An insurance policy (保单).")
class Policy(relay.Node):
    model: strawberry.Private[m.Policy]
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Policy number, as printed on the policy.")
    status: m.PolicyStatus = strawberry.field(description="Current status.")
    product: Product = strawberry.field(description="The product this policy is of.")
    starts_at: datetime = strawberry.field(description="Start of cover (Asia/Shanghai).")
    ends_at: datetime = strawberry.field(description="End of cover (Asia/Shanghai).")
    issued_at: datetime = strawberry.field(description="When the policy was issued.")
    sum_insured: Money = strawberry.field(description="Total sum insured (保额).")
    premium: Money = strawberry.field(description="Premium per policy period (保费).")
    payment_frequency: m.PaymentFrequency = strawberry.field(description="How premium is paid.")
    days_to_expiry: int | None = strawberry.field(
        description="Whole days until cover ends (Asia/Shanghai); null unless ACTIVE."
    )
    renewable: bool = strawberry.field(
        description=f"Whether it can be renewed now: the product renews and the policy is "
        f"active or expired within {RENEWAL_WINDOW_DAYS} days of its end."
    )

    @classmethod
    def from_model(cls, model: m.Policy) -> Policy:
        ends_local = local_time(model.ends_at)
        days_left = (ends_local.date() - local_today()).days
        active = model.status is m.PolicyStatus.ACTIVE
        return cls(
            model=model,
            id=str(model.id),
            number=model.number,
            status=model.status,
            product=Product.from_model(model.product),
            starts_at=local_time(model.starts_at),
            ends_at=ends_local,
            issued_at=local_time(model.issued_at),
            sum_insured=cny(model.sum_insured),
            premium=cny(model.premium),
            payment_frequency=model.payment_frequency,
            days_to_expiry=max(days_left, 0) if active else None,
            renewable=model.product.renewable
            and model.status in (m.PolicyStatus.ACTIVE, m.PolicyStatus.EXPIRED)
            and abs(days_left) <= RENEWAL_WINDOW_DAYS,
        )

    @strawberry.field(description="The policy holder (投保人).")
    async def holder(self, info: Info) -> Customer:
        customer = await info.context.loaders.customers.load(self.model.holder_id)
        return Customer.from_model(customer)

    @strawberry.field(description="Coverages, in the order of the policy schedule.")
    async def coverages(self, info: Info) -> list[Coverage]:
        rows = await info.context.loaders.coverages.load(self.model.id)
        return [Coverage.from_model(row) for row in rows]

    @strawberry.field(
        description="Persons insured by this policy today (a member removed from it is "
        "listed through their last covered day)."
    )
    async def insured_persons(self, info: Info) -> list[InsuredPerson]:
        rows = await info.context.loaders.insured_persons.load(self.model.id)
        today = local_today()
        return [
            InsuredPerson.from_model(row)
            for row in rows
            if row.covered_until is None or row.covered_until >= today
        ]

    @strawberry.field(description="Beneficiaries and their shares.")
    async def beneficiaries(self, info: Info) -> list[Beneficiary]:
        rows = await info.context.loaders.beneficiaries.load(self.model.id)
        return [Beneficiary.from_model(row) for row in rows]

    @strawberry.field(description="The premium schedule, first installment first.")
    async def installments(self, info: Info) -> list[PremiumInstallment]:
        rows = await info.context.loaders.installments.load(self.model.id)
        return [PremiumInstallment.from_model(row, self.model.status) for row in rows]

    @strawberry.field(
        description="The earliest unpaid installment; null if all are paid or the policy "
        "owes no more premium (cancelled, expired)."
    )
    async def next_premium_due(self, info: Info) -> PremiumInstallment | None:
        if self.model.status not in PREMIUM_OWED:
            return None
        rows = await info.context.loaders.installments.load(self.model.id)
        unpaid = [row for row in rows if row.paid_at is None and row.cancelled_at is None]
        return PremiumInstallment.from_model(unpaid[0], self.model.status) if unpaid else None

    @strawberry.field(
        description="Its changes (批单), the newest first: the holder and insured see them, "
        "staff who read policies too."
    )
    async def endorsements(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[Annotated[Endorsement, strawberry.lazy("schema.policy_service.endorsements")]]:
        from schema.policy_service.endorsements import policy_endorsements

        return await policy_endorsements(info.context.actor, self.model.id, first, after)

    @strawberry.field(
        description="Its withholding agreement, payout account and automatic renewal: for "
        "the holder and staff (null for others)."
    )
    async def account_on_file(
        self, info: Info
    ) -> Annotated[AccountOnFile, strawberry.lazy("schema.policy_service.payment_accounts")] | None:
        from schema.policy_service.payment_accounts import account_on_file

        actor = info.context.actor
        return await account_on_file(actor, self.model.id, self.model.holder_id)

    @strawberry.field(description="The policy this one renewed (续保), if it was a renewal.")
    async def renewed_from(self, info: Info) -> Policy | None:
        return await _linked(info, await renewal.renewed_from(self.model.id))

    @strawberry.field(description="The policy that renewed this one, once issued.")
    async def renewed_by(self, info: Info) -> Policy | None:
        return await _linked(info, await renewal.renewed_by(self.model.id))

    @strawberry.field(description="How the logged-in customer is named on this policy.")
    async def my_roles(self, info: Info) -> list[PolicyRole]:
        actor = info.context.actor
        if not actor.is_customer:
            return []
        loaders = info.context.loaders
        roles = []
        if self.model.holder_id == actor.subject_id:
            roles.append(PolicyRole.HOLDER)
        insured = await loaders.insured_persons.load(self.model.id)
        if any(person.customer_id == actor.subject_id for person in insured):
            roles.append(PolicyRole.INSURED)
        beneficiaries = await loaders.beneficiaries.load(self.model.id)
        if any(person.customer_id == actor.subject_id for person in beneficiaries):
            roles.append(PolicyRole.BENEFICIARY)
        return roles


async def _linked(info: Info, policy_id: uuid.UUID | None) -> Policy | None:
    """A linked policy, if the caller may see it."""
    if policy_id is None:
        return None
    row = (
        await visible_policies(info.context.actor)
        .filter(id=policy_id)
        .select_related("product")
        .first()
    )
    return Policy.from_model(row) if row else None
