"""Changes to a policy after issue (保全): each one an endorsement (批单) with its number,
its before/after values, a state machine and a timeline; and the product's service terms
the changes read (surrender values, reinstatement period, sum-insured limits, the
premium of a family member), kept beside the product rather than on it.

``before``/``after`` hold display values only (names, masked ID numbers, shares): what
the customer and staff may see. The full new values a change needs to take effect (a
beneficiary's ID number, an account number) are sealed with the PiiCipher in
``sealed_after``, never stored in clear. ``version`` increments on every change of the
row: a staff decision names the version it saw, so two reviewers cannot both win.
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
    from models.policies import Policy, Product


class EndorsementType(StrEnum):
    BENEFICIARIES = "BENEFICIARIES"  # 变更受益人
    SURRENDER = "SURRENDER"  # 退保
    CONTACT = "CONTACT"  # 变更联系方式: phone (verified by SMS code), e-mail, address
    PAYMENT_FREQUENCY = "PAYMENT_FREQUENCY"  # 变更缴费方式, from the next unpaid installment
    REINSTATEMENT = "REINSTATEMENT"  # 复效: overdue premiums + interest paid, reviewed
    INSURED_MEMBER = "INSURED_MEMBER"  # 增加被保险人 on a family health policy, premium paid
    SUM_INSURED = "SUM_INSURED"  # 变更保额 within the product's limits, from the next day
    MEMBER_REMOVAL = "MEMBER_REMOVAL"  # 减少被保险人 on a family health policy, refunded
    PAYMENT_ACCOUNT = "PAYMENT_ACCOUNT"  # 变更缴费/领款账户: withholding agreement, payout account


class EndorsementStatus(StrEnum):
    REQUESTED = "REQUESTED"  # asked for; waiting for the insured's consent if needed
    NEEDS_REVIEW = "NEEDS_REVIEW"  # in the staff review queue
    APPROVED = "APPROVED"  # decided; effective when applied (or paid)
    EFFECTIVE = "EFFECTIVE"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"  # withdrawn by the customer before approval
    EXPIRED = "EXPIRED"  # not finished in time: never signed, or its premium never paid


class Endorsement(Entity):
    number = fields.CharField(max_length=32, unique=True)  # PQ + local day + sequence
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="endorsements", on_delete=fields.RESTRICT, db_index=True
    )
    policy_id: uuid.UUID
    type = fields.CharEnumField(EndorsementType, max_length=24)
    status = fields.CharEnumField(EndorsementStatus, max_length=16, db_index=True)
    version = fields.IntField(default=1)
    requested_by: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="endorsements", on_delete=fields.RESTRICT, db_index=True
    )
    requested_by_id: uuid.UUID
    before: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    after: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    # The full new values, PiiCipher-sealed (an insured member: the row to store, its ID
    # number sealed on its own).
    sealed_after = fields.TextField(null=True)
    # Money the change moves: a surrender value paid out, a premium difference due.
    amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    # The insured's consent, where the law asks for it (保险法第四十一条).
    consent_required = fields.BooleanField(default=False)
    consented_at = fields.DatetimeField(null=True)
    consented_by = fields.UUIDField(null=True)  # the insured customer, or staff who checked
    reviewed_by = fields.UUIDField(null=True)
    reason = fields.TextField(default="")  # the reviewer's reason, or the customer's
    effective_date = fields.DateField(null=True)  # Asia/Shanghai
    decided_at = fields.DatetimeField(null=True)
    effective_at = fields.DatetimeField(null=True)
    # A live endorsement of the policy's kind while it is not ended: at most one open
    # change of each type per policy, whoever races ("<policy>:<type>").
    open_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "endorsement"


class EndorsementEvent(Entity):
    """One line of an endorsement's timeline."""

    endorsement: fields.ForeignKeyRelation[Endorsement] = fields.ForeignKeyField(
        "models.Endorsement", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    endorsement_id: uuid.UUID
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(EndorsementStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(EndorsementStatus, max_length=16)
    note = fields.TextField()

    class Meta:
        table = "endorsement_event"


class CustomerAddress(Entity):
    """A customer's postal address for letters about their policies (联系地址), sealed
    like every contact detail and shown masked; set by a CONTACT change."""

    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="address", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    address_encrypted = fields.TextField()
    address_masked = fields.CharField(max_length=64)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "customer_address"


class ProductServiceTerms(Entity):
    """What the changes of a product's policies read.

    ``surrender_values``: the cash value table as ``[{"year": 1, "percent": "70"}, …]`` —
    in policy year ``year`` (1 = the first year of cover) the surrender value is
    ``percent`` % of the premium paid; years past the table take its last row. A product
    without terms (or an empty table) has no surrender value beyond the cooling-off
    cancellation.
    """

    product: fields.OneToOneRelation[Product] = fields.OneToOneField(
        "models.Product", related_name="service_terms", on_delete=fields.CASCADE
    )
    product_id: uuid.UUID
    surrender_values: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    reinstatement_days = fields.IntField(default=730)  # 复效期: two years after lapse
    reinstatement_interest_rate = fields.DecimalField(
        max_digits=6, decimal_places=4, default=Decimal("0.0350")
    )
    sum_insured_min = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    sum_insured_max = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    member_premium = fields.DecimalField(max_digits=14, decimal_places=2, null=True)

    class Meta:
        table = "product_service_terms"
