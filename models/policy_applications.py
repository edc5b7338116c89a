"""Buying simple products online (投保/承保) and renewing policies (续保): the quote form
and rating tables of each online product (data, not code), and applications with their
underwriting outcome.

An accepted application owns a policy row in status AWAITING_PAYMENT that no customer
or staff list shows; the first premium's payment callback issues it (number, status,
issue time) in the payment's own transaction. An application whose payment window runs
out leaves that row NOT_TAKEN_UP, still unseen.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity
from models.policies import money_field

if TYPE_CHECKING:
    from models.customers import Customer
    from models.policies import Policy, Product


class RatingForm(Entity):
    """The quote form and underwriting rules of one online product.

    ``occupation_factors``: occupation class ("1".."6") to a premium factor; a class not
    listed is not insurable. ``destination_factors``: travel destination code to
    ``{"name", "factor"}`` (empty for products that are not travel).
    ``health_questions``: ``[{"code", "text", "if_yes": "REFER"|"DECLINE", "reason"}]``.
    ``refer_above_sum_insured``: a plan insuring more than this goes to an underwriter.
    """

    product: fields.OneToOneRelation[Product] = fields.OneToOneField(
        "models.Product", related_name="rating_form", on_delete=fields.CASCADE
    )
    product_id: uuid.UUID
    occupation_factors: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    destination_factors: fields.JSONField[dict[str, dict[str, str]]] = fields.JSONField(
        default=dict
    )
    health_questions: fields.JSONField[list[dict[str, str]]] = fields.JSONField(default=list)
    refer_above_sum_insured = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    payment_window_minutes = fields.IntField(default=24 * 60)
    min_start_days = fields.IntField(default=1)  # cover starts at the earliest this many days on
    max_start_days = fields.IntField(default=90)

    class Meta:
        table = "rating_form"


class RatingPlan(Entity):
    """One plan of an online product: its coverages and its premium table.

    ``coverages``: ``[{"code", "name", "sum_insured", "deductible"}]``.
    ``rates``: rows ``{"min_age", "max_age", "max_days"?, "premium"}``, the first row that
    fits the insured's age (and the trip's days, for travel) prices the plan before the
    occupation and destination factors. ``term_days``: the cover's length, or null when
    the trip's days set it (travel).
    """

    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="rating_plans", on_delete=fields.CASCADE
    )
    product_id: uuid.UUID
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    position = fields.IntField(default=0)
    coverages: fields.JSONField[list[dict[str, str]]] = fields.JSONField(default=list)
    min_age = fields.IntField(default=0)
    max_age = fields.IntField(default=65)
    max_occupation_class = fields.IntField(default=3)
    term_days = fields.IntField(null=True)
    rates: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)

    class Meta:
        table = "rating_plan"
        unique_together = (("product", "code"),)


class ApplicationKind(StrEnum):
    NEW = "NEW"  # 新保
    RENEWAL = "RENEWAL"  # 续保


class ApplicationStatus(StrEnum):
    REFERRED = "REFERRED"  # waiting for an underwriter
    ACCEPTED = "ACCEPTED"  # accepted, waiting for the first premium
    DECLINED = "DECLINED"
    ISSUED = "ISSUED"  # paid: the policy is issued
    EXPIRED = "EXPIRED"  # not paid within the payment window (or never decided in time)


class PolicyApplication(Entity):
    """A customer's application for a policy (投保单), new or renewal.

    The insured's ID number is sealed like every ID number. ``beneficiaries`` holds
    ``{"name", "relation", "share", "id_encrypted", "id_hash", "id_masked",
    "consent_at"}`` rows (empty: beneficiaries by law, 法定受益人).
    """

    number = fields.CharField(max_length=32, unique=True)
    kind = fields.CharEnumField(ApplicationKind, max_length=16)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="policy_applications", on_delete=fields.RESTRICT
    )
    customer_id: uuid.UUID
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "models.Product", related_name="applications", on_delete=fields.RESTRICT
    )
    product_id: uuid.UUID
    plan: fields.ForeignKeyNullableRelation[RatingPlan] = fields.ForeignKeyField(
        "models.RatingPlan", related_name="applications", null=True, on_delete=fields.SET_NULL
    )
    plan_id: uuid.UUID | None
    plan_name = fields.CharField(max_length=64)
    status = fields.CharEnumField(ApplicationStatus, max_length=16, db_index=True)
    answers: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    insured_relation = fields.CharField(max_length=16)
    insured_name = fields.CharField(max_length=64)
    insured_id_encrypted = fields.TextField()
    insured_id_hash = fields.CharField(max_length=64, db_index=True)
    insured_id_masked = fields.CharField(max_length=32)
    insured_birth_date = fields.DateField()
    insured_sex = fields.CharField(max_length=8)
    beneficiaries: fields.JSONField[list[dict[str, str]]] = fields.JSONField(default=list)
    sum_insured = money_field()
    premium = money_field()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    reasons: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the rules' findings
    decision_reason = fields.TextField(default="")
    decided_by = fields.UUIDField(null=True)  # the underwriter; None: decided by rule
    decided_at = fields.DatetimeField(null=True)
    pay_by = fields.DatetimeField(null=True, db_index=True)
    issued_at = fields.DatetimeField(null=True)
    # The policy row made at acceptance (AWAITING_PAYMENT until paid).
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="applications", null=True, on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID | None
    # RENEWAL: the policy renewed. ``renewal_key`` is its id while the renewal is live
    # (not DECLINED or EXPIRED): one live renewal per policy, whoever races.
    renewal_of: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="renewals", null=True, on_delete=fields.RESTRICT
    )
    renewal_of_id: uuid.UUID | None
    renewal_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "policy_application"
