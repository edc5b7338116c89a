"""``node(id:)``: any object by global ID, with the same visibility rules as its own
field. An object the caller may not see answers exactly like a missing one: null."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry import relay
from strawberry.types import Info

from models import policies as m
from models.customers import Customer as CustomerModel
from models.staff import StaffUser
from schema.people import Customer, StaffMember
from schema.policies.types import (
    Beneficiary,
    Coverage,
    InsuredPerson,
    Policy,
    PremiumInstallment,
    Product,
)
from workflows.access import Actor, Permission, visible_policies


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _policy(actor: Actor, object_id: uuid.UUID) -> Policy | None:
    row = await visible_policies(actor).filter(id=object_id).select_related("product").first()
    return Policy.from_model(row) if row else None


def _policy_child(model: Any, node_type: Any) -> Callable[[Actor, uuid.UUID], Awaitable[Any]]:
    """Coverages, persons and installments are visible exactly when their policy is."""

    async def load(actor: Actor, object_id: uuid.UUID) -> Any:
        row = await model.get_or_none(id=object_id)
        if row is None or not await visible_policies(actor).filter(id=row.policy_id).exists():
            return None
        return node_type.from_model(row)

    return load


async def _product(actor: Actor, object_id: uuid.UUID) -> Product | None:
    row = await m.Product.get_or_none(id=object_id)
    return Product.from_model(row) if row else None


async def _customer(actor: Actor, object_id: uuid.UUID) -> Customer | None:
    if not (actor.subject_id == object_id or actor.can(Permission.CUSTOMER_READ)):
        return None
    row = await CustomerModel.get_or_none(id=object_id)
    return Customer.from_model(row) if row else None


async def _staff_member(actor: Actor, object_id: uuid.UUID) -> StaffMember | None:
    if not ((actor.is_staff and actor.subject_id == object_id) or actor.can(Permission.STAFF_READ)):
        return None
    row = await StaffUser.get_or_none(id=object_id)
    return StaffMember.from_model(row) if row else None


NODE_RESOLVERS: dict[str, Callable[[Actor, uuid.UUID], Awaitable[relay.Node | None]]] = {
    "Policy": _policy,
    "Product": _product,
    "Coverage": _policy_child(m.Coverage, Coverage),
    "InsuredPerson": _policy_child(m.InsuredPerson, InsuredPerson),
    "Beneficiary": _policy_child(m.Beneficiary, Beneficiary),
    "PremiumInstallment": _policy_child(m.PremiumInstallment, PremiumInstallment),
    "Customer": _customer,
    "StaffMember": _staff_member,
}


async def resolve_node(info: Info, global_id: relay.GlobalID) -> relay.Node | None:
    resolver = NODE_RESOLVERS.get(global_id.type_name)
    object_id = parse_uuid(global_id.node_id)
    if resolver is None or object_id is None:
        return None
    return await resolver(info.context.actor, object_id)
