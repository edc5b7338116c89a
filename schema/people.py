"""Customers, staff members and the viewer (``me``)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from models.customers import Customer as CustomerModel
from models.staff import StaffRole, StaffUser
from workflows.access import ROLE_PERMISSIONS, Permission

strawberry.enum(StaffRole, description="A staff role.")
strawberry.enum(Permission, description="What a staff operation requires; roles grant these.")


@strawberry.type(description="A customer of the insurer: policy holder, insured or beneficiary.")
class Customer(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Full name as on the policy documents.")
    phone: str = strawberry.field(description="Mobile number, masked (`138****0001`).")
    id_number: str | None = strawberry.field(
        description="ID-card number, masked (`110***********1234`); null if not on file."
    )

    @classmethod
    def from_model(cls, model: CustomerModel) -> Customer:
        return cls(
            id=str(model.id),
            name=model.name,
            phone=model.phone_masked,
            id_number=model.id_number_masked,
        )


@strawberry.type(description="A member of the insurer's service staff.")
class StaffMember(relay.Node):
    id: relay.NodeID[str]
    username: str = strawberry.field(description="Login name.")
    display_name: str = strawberry.field(description="Name shown to colleagues and customers.")
    role: StaffRole = strawberry.field(description="The role, which grants the permissions.")
    team: str | None = strawberry.field(description="The team (e.g. 理赔一组), if any.")
    active: bool = strawberry.field(description="False once the account is disabled.")

    @classmethod
    def from_model(cls, model: StaffUser) -> StaffMember:
        return cls(
            id=str(model.id),
            username=model.username,
            display_name=model.display_name,
            role=model.role,
            team=model.team,
            active=model.is_active,
        )


@strawberry.type(description="Who is logged in: a customer or a staff member.")
class Viewer:
    customer: Customer | None = strawberry.field(description="Set when a customer is logged in.")
    staff_member: StaffMember | None = strawberry.field(
        description="Set when a staff member is logged in."
    )
    permissions: list[Permission] = strawberry.field(
        description="What this caller may do as staff (empty for customers)."
    )

    @classmethod
    def for_customer(cls, customer: CustomerModel) -> Viewer:
        return cls(customer=Customer.from_model(customer), staff_member=None, permissions=[])

    @classmethod
    def for_staff(cls, staff: StaffUser, withheld: frozenset[Permission] = frozenset()) -> Viewer:
        """``withheld``: what a missing or expired certificate takes away (the actor's)."""
        return cls(
            customer=None,
            staff_member=StaffMember.from_model(staff),
            permissions=sorted(ROLE_PERMISSIONS[staff.role] - withheld),
        )
