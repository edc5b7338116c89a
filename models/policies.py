"""Products, policies and what hangs off a policy: coverages, insured persons,
beneficiaries and the premium schedule.

Money is ``Decimal`` with two places; policy periods are stored in UTC and counted in
Asia/Shanghai days by the schema layer.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer
    from models.endorsements import Endorsement


def money_field(default: Decimal | None = None) -> fields.DecimalField[Decimal]:
    """Yuan with two places; no default unless one is given."""
    return fields.DecimalField(max_digits=14, decimal_places=2, default=default)


class ProductKind(StrEnum):
    AUTO = "AUTO"
    HEALTH = "HEALTH"
    ACCIDENT = "ACCIDENT"
    PROPERTY = "PROPERTY"
    TRAVEL = "TRAVEL"


class PolicyStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    LAPSED = "LAPSED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    # Bought online, accepted, first premium not yet paid: no list shows it as a policy.
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    # Bought online but never paid (the payment window ran out): never a policy.
    NOT_TAKEN_UP = "NOT_TAKEN_UP"


class PaymentFrequency(StrEnum):
    SINGLE = "SINGLE"
    ANNUAL = "ANNUAL"
    SEMI_ANNUAL = "SEMI_ANNUAL"
    QUARTERLY = "QUARTERLY"
    MONTHLY = "MONTHLY"


class Product(Entity):
    """An insurance product and the terms later workflows read.

    ``loss_types`` is a list of ``{"code", "name", "documents": [{"code", "name",
    "required"}]}``: which losses the product covers and what each claim needs.
    """

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharEnumField(ProductKind, max_length=16)
    description = fields.TextField(default="")
    report_time_limit_hours = fields.IntField()
    cooling_off_days = fields.IntField(default=0)
    renewable = fields.BooleanField(default=True)
    loss_types: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    # As filed with the regulator (保险产品备案编号, and 保险名称 when it is not ``name``):
    # reported with every claim payout by WeChat Pay (insurance-claim transfer scene).
    filing_number = fields.CharField(max_length=64, null=True)
    filing_name = fields.CharField(max_length=64, null=True)
    # Simple products a customer can buy in the app (accident, travel, simple health):
    # quoted from the rating tables of the policy service, suggested by service plans.
    sold_online = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "product"


class Policy(Entity):
    number = fields.CharField(max_length=32, unique=True)
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="policies", on_delete=fields.RESTRICT
    )
    holder: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="policies_held", on_delete=fields.RESTRICT, db_index=True
    )
    holder_id: uuid.UUID
    product_id: uuid.UUID
    status = fields.CharEnumField(PolicyStatus, max_length=16, db_index=True)
    starts_at = fields.DatetimeField(db_index=True)  # anniversaries are found by it
    ends_at = fields.DatetimeField()
    sum_insured = money_field()
    premium = money_field()
    payment_frequency = fields.CharEnumField(PaymentFrequency, max_length=16)
    issued_at = fields.DatetimeField()

    coverages: fields.ReverseRelation[Coverage]
    insured_persons: fields.ReverseRelation[InsuredPerson]
    beneficiaries: fields.ReverseRelation[Beneficiary]
    installments: fields.ReverseRelation[PremiumInstallment]

    class Meta:
        table = "policy"


class Coverage(Entity):
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="coverages", on_delete=fields.CASCADE
    )
    policy_id: uuid.UUID
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    sum_insured = money_field()
    deductible = money_field(default=Decimal(0))
    used_amount = money_field(default=Decimal(0))
    position = fields.IntField(default=0)

    class Meta:
        table = "coverage"
        unique_together = (("policy", "code"),)


class PolicyPerson(Entity):
    """A person named on a policy, linked to a customer account when one has their ID."""

    name = fields.CharField(max_length=64)
    id_number_encrypted = fields.TextField()
    id_number_hash = fields.CharField(max_length=64, db_index=True)
    id_number_masked = fields.CharField(max_length=32)
    position = fields.IntField(default=0)

    class Meta:
        abstract = True


class InsuredPerson(PolicyPerson):
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="insured_persons", on_delete=fields.CASCADE, db_index=True
    )
    policy_id: uuid.UUID
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer",
        related_name="insured_in",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    customer_id: uuid.UUID | None
    relation_to_holder = fields.CharField(max_length=16)
    # The last day (Asia/Shanghai) a member removed from a family policy is covered; null
    # while insured. The row stays: closed claims still name whom they befell.
    covered_until = fields.DateField(null=True)

    class Meta:
        table = "insured_person"


class Beneficiary(PolicyPerson):
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="beneficiaries", on_delete=fields.CASCADE, db_index=True
    )
    policy_id: uuid.UUID
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer",
        related_name="beneficiary_of",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    customer_id: uuid.UUID | None
    relation_to_insured = fields.CharField(max_length=16)
    share_percent = fields.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        table = "beneficiary"


class PremiumInstallment(Entity):
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="installments", on_delete=fields.CASCADE
    )
    policy_id: uuid.UUID
    sequence = fields.IntField()
    due_date = fields.DateField()
    amount = money_field()
    paid_at = fields.DatetimeField(null=True)
    # A premium a change of the policy asks for (an endorsement's premium difference,
    # a reinstatement's overdue premium): paying it makes the change effective.
    endorsement: fields.ForeignKeyNullableRelation[Endorsement] = fields.ForeignKeyField(
        "models.Endorsement", related_name="installments", null=True, on_delete=fields.RESTRICT
    )
    endorsement_id: uuid.UUID | None
    # Not owed any more: the change that asked for it expired unpaid (never a paid one).
    cancelled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "premium_installment"
        unique_together = (("policy", "sequence"),)
