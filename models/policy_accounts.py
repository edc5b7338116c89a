"""A policy's accounts on file (缴费/领款账户): the withholding agreement its premiums
are collected with (代扣协议, signed at the provider), the account its payouts go to,
and whether it renews itself (自动续保) — set by a PAYMENT_ACCOUNT change and by
``setAutoRenewal``.

The payout account is personal data, sealed like every payout account
(``models.payout_accounts``) and shown masked. An agreement number is the provider's
handle to charge the customer: it is stored as given (a charge needs it) but never
shown; the payer is shown as the provider masks it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer
    from models.endorsements import Endorsement
    from models.payments import PaymentOrder
    from models.policies import Policy


class AgreementStatus(StrEnum):
    PENDING = "PENDING"  # asked for: the customer has not signed at the provider yet
    ACTIVE = "ACTIVE"  # signed: premiums may be collected with it
    ENDED = "ENDED"  # replaced, ended by the customer at the provider, or by us
    ABANDONED = "ABANDONED"  # never signed: the change asking for it was cancelled


class CollectionAgreement(Entity):
    """One signing of a withholding agreement for one policy."""

    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="collection_agreements", on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="collection_agreements", on_delete=fields.RESTRICT
    )
    customer_id: uuid.UUID
    endorsement: fields.ForeignKeyNullableRelation[Endorsement] = fields.ForeignKeyField(
        "models.Endorsement", related_name="agreements", on_delete=fields.RESTRICT, null=True
    )
    endorsement_id: uuid.UUID | None
    provider = fields.CharField(max_length=16)
    external_agreement_no = fields.CharField(max_length=32, unique=True)  # ours
    agreement_no = fields.CharField(max_length=64, null=True, unique=True)  # the provider's
    status = fields.CharEnumField(AgreementStatus, max_length=16, default=AgreementStatus.PENDING)
    payer_id = fields.CharField(max_length=64, null=True)  # Alipay: 2088… user id
    payer_masked = fields.CharField(max_length=64, null=True)
    signed_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    # The policy's id while ACTIVE, else NULL: at most one agreement in force per policy.
    live_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "collection_agreement"


class PolicyAccount(Entity):
    """What is on file for one policy besides the agreement."""

    policy: fields.OneToOneRelation[Policy] = fields.OneToOneField(
        "models.Policy", related_name="account_on_file", on_delete=fields.CASCADE
    )
    policy_id: uuid.UUID
    payout_provider = fields.CharField(max_length=16, null=True)
    payout_encrypted = fields.TextField(null=True)
    payout_masked = fields.CharField(max_length=64, null=True)
    auto_renewal = fields.BooleanField(default=False)
    auto_renewal_changed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "policy_account"


class ChargePurpose(StrEnum):
    RENEWAL = "RENEWAL"  # an automatic renewal's premium
    INSTALLMENT = "INSTALLMENT"  # a regular installment, collected when due


class ChargeOutcome(StrEnum):
    CHARGING = "CHARGING"  # taken by a job run; the charge is under way
    PAID = "PAID"
    IN_PROCESS = "IN_PROCESS"  # the provider has not decided: its callback or a query will
    FAILED = "FAILED"


class WithholdingAttempt(Entity):
    """One charge with a withholding agreement, for one purpose on one local day: the
    unique ``attempt_key`` (``renewal:<policy>:<day>``, ``installment:<id>:<day>``) is
    taken before anything is charged, so two job runs charge once and a failed charge is
    tried again at most once a day."""

    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="withholding_attempts", on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID
    purpose = fields.CharEnumField(ChargePurpose, max_length=16)
    day = fields.DateField()  # Asia/Shanghai
    attempt_key = fields.CharField(max_length=96, unique=True)
    order: fields.ForeignKeyNullableRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder",
        related_name="withholding_attempts",
        null=True,
        on_delete=fields.RESTRICT,
    )
    order_id: uuid.UUID | None
    outcome = fields.CharEnumField(ChargeOutcome, max_length=16)
    detail = fields.CharField(max_length=200, default="")

    class Meta:
        table = "withholding_attempt"
