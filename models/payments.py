"""Payment orders, the append-only ledger of money movements, and idempotency records.

The ledger has one row per provider transaction (unique on provider and transaction
id), so a callback delivered a hundred times records the money once.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity, Stored
from models.policies import money_field

if TYPE_CHECKING:
    from models.claims import Claim, PayoutShare
    from models.complaint_remedies import ComplaintRemedy
    from models.customers import Customer
    from models.endorsements import Endorsement
    from models.policies import Policy, PremiumInstallment


class OrderStatus(StrEnum):
    CREATED = "CREATED"  # waiting for the customer to pay
    PAID = "PAID"
    CLOSED = "CLOSED"  # expired or closed unpaid


class LedgerKind(StrEnum):
    PREMIUM_RECEIVED = "PREMIUM_RECEIVED"
    REFUND = "REFUND"
    PAYOUT = "PAYOUT"


class PaymentOrder(Entity):
    order_number = fields.CharField(max_length=32, unique=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="payment_orders", on_delete=fields.RESTRICT, db_index=True
    )
    customer_id: uuid.UUID
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="payment_orders", on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID
    installment: fields.ForeignKeyRelation[PremiumInstallment] = fields.ForeignKeyField(
        "models.PremiumInstallment",
        related_name="payment_orders",
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    installment_id: uuid.UUID
    provider = fields.CharField(max_length=16)
    method = fields.CharField(max_length=32)
    amount = money_field()
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.CREATED)
    checkout: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    # WeChat JSAPI: the openid the order was opened for (only that WeChat user can pay
    # it), so another WeChat user of the same customer gets an order of their own.
    payer_id = fields.CharField(max_length=128, null=True)
    provider_trade_no = fields.CharField(max_length=64, null=True)
    expires_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # The installment's id while this order is open (CREATED), else NULL: the unique
    # constraint lets one installment have at most one open order, whoever races.
    open_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "payment_order"


class RefundStatus(StrEnum):
    QUEUED = "QUEUED"  # decided by the system (a duplicate payment), sent by the worker
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class RefundReason(StrEnum):
    PAID_IN_ERROR = "PAID_IN_ERROR"
    COOLING_OFF_CANCELLATION = "COOLING_OFF_CANCELLATION"  # 犹豫期退保
    DUPLICATE_PAYMENT = "DUPLICATE_PAYMENT"
    COMPLAINT_REMEDY = "COMPLAINT_REMEDY"  # a fee refunded to settle a complaint
    ENDORSEMENT = "ENDORSEMENT"  # 批改退费: a lower sum insured, a member removed


class Refund(Entity):
    """A full or partial refund of a paid order, requested by staff."""

    order: fields.ForeignKeyRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder", related_name="refunds", on_delete=fields.RESTRICT, db_index=True
    )
    order_id: uuid.UUID
    refund_number = fields.CharField(max_length=32, unique=True)
    amount = money_field()
    reason = fields.CharEnumField(RefundReason, max_length=32)
    note = fields.TextField(default="")
    status = fields.CharEnumField(RefundStatus, max_length=16, default=RefundStatus.PROCESSING)
    provider_refund_id = fields.CharField(max_length=64, null=True)
    requested_by = fields.UUIDField(null=True)  # staff; None: the system (duplicate payment)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refund"


class PayoutStatus(StrEnum):
    AWAITING_APPROVAL = "AWAITING_APPROVAL"  # to an account the claimant did not choose
    QUEUED = "QUEUED"  # recorded (a goodwill payment approved): the worker sends it
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"  # WeChat: the customer must confirm receipt
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # a proposal to another account, turned down


class Payout(Entity):
    """A payout made by the gateway: a claim's money, or a surrender value (``claim`` null,
    ``endorsement`` the surrender). Its transfer number is sent with every try, so a retry
    after a timeout can never pay twice; ``live_key`` (unique) lets a claim (or a
    surrender) have at most one payout that is not FAILED or CANCELLED, whoever races to
    start one."""

    claim: fields.ForeignKeyNullableRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="payouts", null=True, on_delete=fields.RESTRICT, db_index=True
    )
    claim_id: uuid.UUID | None
    # A surrender's value (退保金), paid to the account the holder chose; else null.
    endorsement: fields.ForeignKeyNullableRelation[Endorsement] = fields.ForeignKeyField(
        "models.Endorsement", related_name="payouts", null=True, on_delete=fields.RESTRICT
    )
    endorsement_id: uuid.UUID | None
    transfer_number = fields.CharField(max_length=32, unique=True)
    # A beneficiary's share, when the claim pays several people; else null.
    share: fields.ForeignKeyNullableRelation[PayoutShare] = fields.ForeignKeyField(
        "models.PayoutShare", related_name="payouts", null=True, on_delete=fields.RESTRICT
    )
    share_id: uuid.UUID | None
    provider = fields.CharField(max_length=16)
    payee_encrypted = fields.TextField()  # the receiving account, sealed
    payee_masked = fields.CharField(max_length=64)
    amount = money_field()
    status = fields.CharEnumField(PayoutStatus, max_length=24, default=PayoutStatus.PROCESSING)
    provider_transfer_id = fields.CharField(max_length=64, null=True)
    confirm_package = fields.TextField(null=True)
    # WeChat, while WAIT_USER_CONFIRM: the wx.requestMerchantTransfer parameters
    confirm_parameters: fields.JSONField[dict[str, str]] | None = fields.JSONField(null=True)
    failure_reason = fields.CharField(max_length=255, null=True)
    finished_at = fields.DatetimeField(null=True)
    # "claim:<id>" (or "share:<id>", "goodwill:<id>", "surrender:<id>") while live
    live_key = fields.CharField(max_length=64, null=True, unique=True)
    requested_by = fields.UUIDField(null=True)  # the staff member who started it (None: worker)
    approved_by = fields.UUIDField(null=True)  # a second staff member, for another account
    reason = fields.TextField(default="")  # why another account than the claimant's choice
    # A goodwill payment settling a complaint (paid to the account the customer chose on
    # ``claim``); null for the claim's own money. It never pays the claim.
    remedy: fields.ForeignKeyNullableRelation[ComplaintRemedy] = fields.ForeignKeyField(
        "models.ComplaintRemedy", related_name="payouts", null=True, on_delete=fields.RESTRICT
    )
    remedy_id: uuid.UUID | None

    class Meta:
        table = "payout"


class LedgerEntry(Stored):
    """One movement of money, never updated or deleted."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(LedgerKind, max_length=24)
    provider = fields.CharField(max_length=16)
    provider_txn_id = fields.CharField(max_length=64)
    amount = money_field()  # positive in, negative out
    order: fields.ForeignKeyNullableRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder", related_name="ledger", null=True, on_delete=fields.RESTRICT
    )
    order_id: uuid.UUID | None
    reference = fields.CharField(max_length=64)  # our order, refund or transfer number
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "ledger_entry"
        unique_together = (("provider", "kind", "provider_txn_id"),)


class IdempotencyRecord(Stored):
    """The first answer to a keyed request, replayed to retries with the same input."""

    id = fields.BigIntField(primary_key=True)
    scope = fields.CharField(max_length=96)  # who + which operation
    key = fields.CharField(max_length=128)
    request_hash = fields.CharField(max_length=64)
    response: fields.JSONField[dict[str, Any]] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "idempotency_record"
        unique_together = (("scope", "key"),)
