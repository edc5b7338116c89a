"""Policy lookup types (保单查询): products, policies and what hangs off a policy.

Scalar fields are plain attributes (no resolver call per field), and so are the
holder, the lists and the caller's roles: read with a page of policies when the query
asks for them, through the request's DataLoaders otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import strawberry
from graphql import FieldNode, FragmentSpreadNode, SelectionNode
from strawberry import relay
from strawberry.types import Info

from models import policies as m
from models.clock import local_time, local_today
from schema.common import Connection, CursorArg, Money, PageArg, cny
from schema.loaders import Loaders
from schema.people import Customer
from schema.policies.rows import (
    BeneficiaryRow,
    CoverageRow,
    InstallmentRow,
    InsuredRow,
    PolicyChildren,
)
from workflows.access import Actor, visible_policies
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
    # decoded (a model's) or as the database gives it (a page's row: JSON text)
    loss_type_data: strawberry.Private[list[dict[str, Any]] | str | bytes]
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
        data = self.loss_type_data
        if isinstance(data, str | bytes):
            data = m.Product._meta.fields_map["loss_types"].to_python_value(data)
        return [
            LossType(
                code=lt["code"],
                name=lt["name"],
                documents=[RequiredDocument(**doc) for doc in lt.get("documents", [])],
            )
            for lt in data
        ]

    @classmethod
    def from_model(cls, model: m.Product) -> Product:
        return cls(
            loss_type_data=model.loss_types,
            id=str(model.id),
            code=model.code,
            name=model.name,
            kind=model.kind,
            description=model.description,
            report_time_limit_hours=model.report_time_limit_hours,
            cooling_off_days=model.cooling_off_days,
        )

    @classmethod
    def from_row(cls, row: dict[str, Any], prefix: str) -> Product:
        """From the columns of a ``values()`` row named ``prefix`` + the model's field."""
        return cls(
            loss_type_data=row[f"{prefix}loss_types"],
            id=str(row[f"{prefix}id"]),
            code=row[f"{prefix}code"],
            name=row[f"{prefix}name"],
            kind=row[f"{prefix}kind"],
            description=row[f"{prefix}description"],
            report_time_limit_hours=row[f"{prefix}report_time_limit_hours"],
            cooling_off_days=row[f"{prefix}cooling_off_days"],
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
    def from_model(cls, model: m.Coverage | CoverageRow) -> Coverage:
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
    def from_model(cls, model: m.InsuredPerson | InsuredRow) -> InsuredPerson:
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
    def from_model(cls, model: m.Beneficiary | BeneficiaryRow) -> Beneficiary:
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
        cls,
        model: m.PremiumInstallment | InstallmentRow,
        policy_status: m.PolicyStatus,
        today: date | None = None,
    ) -> PremiumInstallment:
        """``today`` (Asia/Shanghai) when the caller has it: a page asks once, not per
        installment."""
        if model.paid_at is not None:
            status = InstallmentStatus.PAID
        elif policy_status not in PREMIUM_OWED or model.cancelled_at is not None:
            status = InstallmentStatus.CANCELLED
        elif installment_overdue(model.due_date, today or local_today()):
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
    """What hangs off a policy (holder, lists, roles) are plain attributes: built with the
    policy when the query asks for them (``policy_nodes``: one statement for the lists
    of a whole page), otherwise awaitables that read them through the request's
    DataLoaders only if they are resolved after all."""

    policy_id: strawberry.Private[uuid.UUID]
    holder_id: strawberry.Private[uuid.UUID]
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
    holder: Customer = strawberry.field(description="The policy holder (投保人).")
    coverages: list[Coverage] = strawberry.field(
        description="Coverages, in the order of the policy schedule."
    )
    insured_persons: list[InsuredPerson] = strawberry.field(
        description="Persons insured by this policy today (a member removed from it is "
        "listed through their last covered day)."
    )
    beneficiaries: list[Beneficiary] = strawberry.field(
        description="Beneficiaries and their shares."
    )
    installments: list[PremiumInstallment] = strawberry.field(
        description="The premium schedule, first installment first."
    )
    next_premium_due: PremiumInstallment | None = strawberry.field(
        description="The earliest unpaid installment; null if all are paid or the policy "
        "owes no more premium (cancelled, expired)."
    )

    @classmethod
    def from_model(cls, model: m.Policy, reads: Reads) -> Policy:
        """A policy read as a model (with its product); its lists are read if resolved."""
        return _policy(
            reads,
            model.id,
            model.holder_id,
            number=model.number,
            status=model.status,
            product=Product.from_model(model.product),
            starts_at=model.starts_at,
            ends_at=model.ends_at,
            issued_at=model.issued_at,
            sum_insured=model.sum_insured,
            premium=model.premium,
            payment_frequency=model.payment_frequency,
            renews=model.product.renewable,
        )

    @strawberry.field(
        description="Its changes (批单), the newest first: the holder and insured see them, "
        "staff who read policies too."
    )
    async def endorsements(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[Annotated[Endorsement, strawberry.lazy("schema.policy_service.endorsements")]]:
        from schema.policy_service.endorsements import policy_endorsements

        return await policy_endorsements(info.context.actor, self.policy_id, first, after)

    @strawberry.field(
        description="Its withholding agreement, payout account and automatic renewal: for "
        "the holder and staff (null for others)."
    )
    async def account_on_file(
        self, info: Info
    ) -> Annotated[AccountOnFile, strawberry.lazy("schema.policy_service.payment_accounts")] | None:
        from schema.policy_service.payment_accounts import account_on_file

        actor = info.context.actor
        return await account_on_file(actor, self.policy_id, self.holder_id)

    @strawberry.field(description="The policy this one renewed (续保), if it was a renewal.")
    async def renewed_from(self, info: Info) -> Policy | None:
        return await _linked(info, await renewal.renewed_from(self.policy_id))

    @strawberry.field(description="The policy that renewed this one, once issued.")
    async def renewed_by(self, info: Info) -> Policy | None:
        return await _linked(info, await renewal.renewed_by(self.policy_id))

    my_roles: list[PolicyRole] = strawberry.field(
        description="How the logged-in customer is named on this policy."
    )


class Reads(Protocol):
    """Who reads (for ``myRoles``) and the request's DataLoaders: the GraphQL context."""

    @property
    def actor(self) -> Actor: ...

    @property
    def loaders(self) -> Loaders: ...


@dataclass
class OwnReads:
    """For a policy built outside a resolver's context: its own DataLoaders."""

    actor: Actor
    loaders: Loaders = field(default_factory=Loaders)


class _Later:
    """An attribute resolved only if the query asks for it: awaiting it reads it (the
    executor awaits any awaitable a field returns, a plain attribute's too)."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], Awaitable[Any]]) -> None:
        self._read = read

    def __await__(self) -> Generator[Any, None, Any]:
        return self._read().__await__()


def _policy(
    reads: Reads,
    policy_id: uuid.UUID,
    holder_id: uuid.UUID,
    *,
    number: str,
    status: m.PolicyStatus,
    product: Product,
    starts_at: datetime,
    ends_at: datetime,
    issued_at: datetime,
    sum_insured: Decimal,
    premium: Decimal,
    payment_frequency: m.PaymentFrequency,
    renews: bool,
    holder: Customer | None = None,
    kids: PolicyChildren | None = None,
) -> Policy:
    """A policy; ``holder`` and ``kids`` when read with it, else read when resolved."""
    ends_local = local_time(ends_at)
    days_left = (ends_local.date() - local_today()).days
    lists: dict[str, Any]
    if kids is not None:
        lists = _lists(kids, status, holder_id, reads.actor)
    else:

        async def read(name: str) -> Any:
            found = await reads.loaders.policy_children.load(policy_id)
            return _lists(found, status, holder_id, reads.actor)[name]

        lists = {name: _Later(partial(read, name)) for name in LIST_FIELDS}
    return Policy(
        policy_id=policy_id,
        holder_id=holder_id,
        id=str(policy_id),
        number=number,
        status=status,
        product=product,
        starts_at=local_time(starts_at),
        ends_at=ends_local,
        issued_at=local_time(issued_at),
        sum_insured=cny(sum_insured),
        premium=cny(premium),
        payment_frequency=payment_frequency,
        days_to_expiry=max(days_left, 0) if status is m.PolicyStatus.ACTIVE else None,
        renewable=renews
        and status in (m.PolicyStatus.ACTIVE, m.PolicyStatus.EXPIRED)
        and abs(days_left) <= RENEWAL_WINDOW_DAYS,
        holder=holder if holder is not None else _Later(partial(_holder, reads, holder_id)),  # type: ignore[arg-type]
        **lists,
    )


LIST_FIELDS = (
    "coverages",
    "insured_persons",
    "beneficiaries",
    "installments",
    "next_premium_due",
    "my_roles",
)
# The GraphQL names of what ``policy_nodes`` reads with a page when the query asks.
LIST_NAMES = frozenset({"coverages", "insuredPersons", "beneficiaries", "installments"})
LIST_NAMES |= {"nextPremiumDue", "myRoles"}


async def _holder(reads: Reads, holder_id: uuid.UUID) -> Customer:
    customer = await reads.loaders.customers.load(holder_id)
    assert customer is not None  # a foreign key
    return Customer.from_model(customer)


def _lists(
    kids: PolicyChildren, status: m.PolicyStatus, holder_id: uuid.UUID, actor: Actor
) -> dict[str, Any]:
    """Every list field of a policy from its rows."""
    today = local_today()
    unpaid = [row for row in kids.installments if row.paid_at is None and row.cancelled_at is None]
    return {
        "coverages": [Coverage.from_model(row) for row in kids.coverages],
        "insured_persons": [
            InsuredPerson.from_model(row)
            for row in kids.insured
            if row.covered_until is None or row.covered_until >= today
        ],
        "beneficiaries": [Beneficiary.from_model(row) for row in kids.beneficiaries],
        "installments": [
            PremiumInstallment.from_model(row, status, today) for row in kids.installments
        ],
        "next_premium_due": PremiumInstallment.from_model(unpaid[0], status, today)
        if status in PREMIUM_OWED and unpaid
        else None,
        "my_roles": _roles(kids, holder_id, actor),
    }


def _roles(kids: PolicyChildren, holder_id: uuid.UUID, actor: Actor) -> list[PolicyRole]:
    """How the logged-in customer is named on the policy (nothing for staff)."""
    if not actor.is_customer:
        return []
    me = str(actor.subject_id)  # the rows keep customer IDs as text
    roles = []
    if str(holder_id) == me:
        roles.append(PolicyRole.HOLDER)
    if any(person.customer_id == me for person in kids.insured):
        roles.append(PolicyRole.INSURED)
    if any(person.customer_id == me for person in kids.beneficiaries):
        roles.append(PolicyRole.BENEFICIARY)
    return roles


def _selected_names(info: Info) -> set[str]:
    """Every field name in the selection below ``info``'s field, fragments included
    (more than the policy's own: reading a list not needed costs one statement, missing
    one would only defer it to the DataLoaders). Read from the document's nodes, as
    strawberry's ``selected_fields`` does, without building its objects (~50 per page)."""
    raw = info._raw_info
    fragments = raw.fragments
    names: set[str] = set()
    pending: list[SelectionNode] = list(raw.field_nodes)
    while pending:
        node = pending.pop()
        if isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            selection_set = fragment.selection_set if fragment is not None else None
        else:
            if isinstance(node, FieldNode):  # the field itself too, as strawberry's
                names.add(node.name.value)
            selection_set = node.selection_set  # type: ignore[attr-defined]
        if selection_set is not None:
            pending.extend(selection_set.selections)
    return names


async def policy_nodes(info: Info, rows: list[dict[str, Any]]) -> list[Policy]:
    """Policies from ``PAGE_COLUMNS`` rows (product and holder joined), with the lists
    of all of them read in one statement when the query asks for any."""
    reads: Reads = info.context
    wanted = _selected_names(info)
    kids = (
        await reads.loaders.policy_children.load_many([row["id"] for row in rows])
        if wanted & LIST_NAMES
        else [None] * len(rows)
    )
    return [
        _policy(
            reads,
            row["id"],
            row["holder_id"],
            number=row["number"],
            status=row["status"],
            product=Product.from_row(row, "product__"),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            issued_at=row["issued_at"],
            sum_insured=row["sum_insured"],
            premium=row["premium"],
            payment_frequency=row["payment_frequency"],
            renews=row["product__renewable"],
            holder=Customer(
                id=str(row["holder_id"]),
                name=row["holder__name"],
                phone=row["holder__phone_masked"],
                id_number=row["holder__id_number_masked"],
            ),
            kids=found,
        )
        for row, found in zip(rows, kids, strict=True)
    ]


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
    return Policy.from_model(row, info.context) if row else None
