"""Claims: the report of a loss (报案) and its life to closure, with its timeline, the
decision line by line, and staff-only investigation notes.

``version`` increments on every state change: a staff action names the version it saw,
so two adjusters acting at once cannot both win.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity, Stored
from models.policies import money_field

if TYPE_CHECKING:
    from models.customers import Customer
    from models.policies import Beneficiary, Coverage, InsuredPerson, Policy
    from models.staff import StaffUser


class ClaimStatus(StrEnum):
    REPORTED = "REPORTED"
    DOCUMENTS_PENDING = "DOCUMENTS_PENDING"
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    MORE_INFO_REQUESTED = "MORE_INFO_REQUESTED"
    APPROVED = "APPROVED"
    PARTIALLY_APPROVED = "PARTIALLY_APPROVED"
    REJECTED = "REJECTED"
    PAYING = "PAYING"
    PAID = "PAID"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"


class ReportChannel(StrEnum):
    APP = "APP"
    MINI_PROGRAM = "MINI_PROGRAM"
    PHONE = "PHONE"
    WEB = "WEB"
    COUNTER = "COUNTER"


class RejectionReason(StrEnum):
    NOT_COVERED = "NOT_COVERED"
    OUTSIDE_POLICY_PERIOD = "OUTSIDE_POLICY_PERIOD"
    EXCLUSION_APPLIES = "EXCLUSION_APPLIES"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"
    BELOW_DEDUCTIBLE = "BELOW_DEDUCTIBLE"


class Claim(Entity):
    report_number = fields.CharField(max_length=32, unique=True)
    policy: fields.ForeignKeyRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="claims", on_delete=fields.RESTRICT, db_index=True
    )
    policy_id: uuid.UUID
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="claims", on_delete=fields.RESTRICT, db_index=True
    )
    customer_id: uuid.UUID
    # Whom the loss befell (one of the policy's insured persons); null on older claims.
    insured_person: fields.ForeignKeyNullableRelation[InsuredPerson] = fields.ForeignKeyField(
        "models.InsuredPerson", related_name="claims", null=True, on_delete=fields.SET_NULL
    )
    insured_person_id: uuid.UUID | None
    # Who is paid: the insured person (the holder for a minor); null when staff must find
    # out (an insured without an account, an unreadable age), and on claims from before
    # payees (their claimant is paid). See workflows.claims.rules.payee_of.
    payee: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer",
        related_name="claims_paid_to",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,  # customers' claim lists look here too
    )
    payee_id: uuid.UUID | None
    # Documents asked because of that person (their ID, the relation, guardianship for a
    # minor), kept with the claim: the product's checklist plus these is the claim's.
    # Paid to beneficiaries in shares (PayoutShare), each choosing their own account.
    pays_shares = fields.BooleanField(default=False, db_default=False)  # rows that exist
    person_documents: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(
        null=True  # null on claims from before (a column added to rows that exist)
    )
    loss_type = fields.CharField(max_length=32)
    loss_at = fields.DatetimeField()
    loss_location = fields.CharField(max_length=255)
    description = fields.TextField()
    channel = fields.CharEnumField(ReportChannel, max_length=16)
    contact_name = fields.CharField(max_length=64)
    contact_phone_encrypted = fields.TextField()
    contact_phone_masked = fields.CharField(max_length=16)
    status = fields.CharEnumField(ClaimStatus, max_length=24, db_index=True)
    version = fields.IntField(default=1)
    late_report = fields.BooleanField(default=False)
    late_reason = fields.TextField(null=True)
    possible_duplicate = fields.BooleanField(default=False)
    fraud_flag = fields.BooleanField(default=False)  # staff only, never shown to customers
    fraud_signals: fields.JSONField[list[str]] = fields.JSONField(default=list)  # why, for staff
    assignee: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="assigned_claims", null=True, on_delete=fields.SET_NULL
    )
    assignee_id: uuid.UUID | None
    missing_documents_explanation = fields.TextField(null=True)
    more_info_requested_at = fields.DatetimeField(null=True)
    more_info_items: fields.JSONField[list[str]] = fields.JSONField(default=list)
    more_info_reason = fields.TextField(null=True)
    submitted_at = fields.DatetimeField(null=True)
    # What the customer asks for, declared at submission (optional): a small claim with
    # its documents complete is fast-tracked (workflows.commitments.fast_track).
    claimed_amount = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    fast_track = fields.BooleanField(default=False, db_default=False, db_index=True)
    decided_at = fields.DatetimeField(null=True)
    rejection_reason = fields.CharEnumField(RejectionReason, max_length=32, null=True)
    rejection_explanation = fields.TextField(null=True)
    approved_amount = money_field(default=Decimal(0))
    pending_approval = fields.BooleanField(default=False)  # above the adjuster's authority
    paid_amount = money_field(default=Decimal(0))
    payout_reference = fields.CharField(max_length=64, null=True)
    # Where the payee wants the money: the provider ("alipay", "wechat", "bank") and the
    # account there, sealed (workflows.payments.accounts), with its masked form.
    payout_provider = fields.CharField(max_length=16, null=True)
    payout_account_encrypted = fields.TextField(null=True)
    payout_account_masked = fields.CharField(max_length=64, null=True)
    # A keyed hash of provider + account (PiiCipher.lookup_hash): the same account on
    # different customers' claims is a risk signal, found without decrypting.
    payout_account_hash = fields.CharField(max_length=64, null=True, db_index=True)
    paid_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    events: fields.ReverseRelation[ClaimEvent]
    lines: fields.ReverseRelation[ClaimLine]
    shares: fields.ReverseRelation[PayoutShare]

    class Meta:
        table = "claim"


class PayoutShare(Entity):
    """One beneficiary's share of a claim paid to beneficiaries (a death benefit): the
    approved amount split by the shares named on the policy, each paid to the account its
    beneficiary chose. The claim is PAID when every share is paid."""

    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="shares", on_delete=fields.CASCADE, db_index=True
    )
    claim_id: uuid.UUID
    beneficiary: fields.ForeignKeyNullableRelation[Beneficiary] = fields.ForeignKeyField(
        "models.Beneficiary", related_name="claim_shares", null=True, on_delete=fields.SET_NULL
    )
    beneficiary_id: uuid.UUID | None
    # The beneficiary's own account with us; null: staff find out where to pay (four eyes).
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer",
        related_name="claim_shares",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,  # customers' claim lists look here too
    )
    customer_id: uuid.UUID | None
    name = fields.CharField(max_length=64)  # as on the policy
    share_percent = fields.DecimalField(max_digits=5, decimal_places=2)
    position = fields.IntField()  # the first share takes the rounding remainder
    amount = money_field(default=Decimal(0))  # its part of the approved amount, once decided
    payout_provider = fields.CharField(max_length=16, null=True)
    payout_account_encrypted = fields.TextField(null=True)
    payout_account_masked = fields.CharField(max_length=64, null=True)
    # A keyed hash of provider + account (PiiCipher.lookup_hash): the same account on
    # different customers' claims is a risk signal, found without decrypting.
    payout_account_hash = fields.CharField(max_length=64, null=True, db_index=True)
    paid_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payout_share"
        unique_together = (("claim", "position"), ("claim", "customer"))


class ClaimEvent(Entity):
    """One entry of a claim's timeline: who moved it from where to where, and why."""

    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    claim_id: uuid.UUID
    actor_kind = fields.CharField(max_length=16)  # customer, staff, system
    actor_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(ClaimStatus, max_length=24, null=True)
    to_status = fields.CharEnumField(ClaimStatus, max_length=24)
    note = fields.TextField(default="")  # shown to the customer

    class Meta:
        table = "claim_event"


class ClaimLine(Entity):
    """The decision for one coverage: what was claimed, what is paid, and why."""

    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="lines", on_delete=fields.CASCADE, db_index=True
    )
    claim_id: uuid.UUID
    coverage: fields.ForeignKeyRelation[Coverage] = fields.ForeignKeyField(
        "models.Coverage", related_name="claim_lines", on_delete=fields.RESTRICT
    )
    coverage_id: uuid.UUID
    claimed_amount = money_field()
    deductible_applied = money_field(default=Decimal(0))
    approved_amount = money_field()
    reason = fields.TextField()

    class Meta:
        table = "claim_line"


class InvestigationNote(Entity):
    """Staff-only notes of an investigation, never shown to the customer."""

    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="notes", on_delete=fields.CASCADE, db_index=True
    )
    claim_id: uuid.UUID
    author: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="claim_notes", on_delete=fields.RESTRICT
    )
    author_id: uuid.UUID
    text = fields.TextField()

    class Meta:
        table = "investigation_note"


class DailySequence(Stored):
    """Per-day counters for readable business numbers (BA20261129000001)."""

    id = fields.IntField(primary_key=True)
    prefix = fields.CharField(max_length=8)
    day = fields.CharField(max_length=8)
    value = fields.IntField(default=0)

    class Meta:
        table = "daily_sequence"
        unique_together = (("prefix", "day"),)


class ClaimDocument(Entity):
    """A photo or document for one checklist item. Stored re-encoded (no EXIF) under a
    random key, and reachable only through short-lived signed URLs."""

    claim: fields.ForeignKeyRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="documents", on_delete=fields.RESTRICT, db_index=True
    )
    claim_id: uuid.UUID
    checklist_code = fields.CharField(max_length=32)
    storage_key = fields.CharField(max_length=255, unique=True)
    thumbnail_key = fields.CharField(max_length=255, null=True)
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64, db_index=True)
    original_sha256 = fields.CharField(max_length=64, db_index=True)
    phash = fields.CharField(max_length=16, null=True)  # dHash, 64 bits as hex
    # The dHash's four 16-bit bands (storage.images.hash_bands), indexed: a near-duplicate
    # shares one within a bit, so an upload's check reads a few rows, never every photo.
    phash_band_0 = fields.IntField(null=True, db_index=True)
    phash_band_1 = fields.IntField(null=True, db_index=True)
    phash_band_2 = fields.IntField(null=True, db_index=True)
    phash_band_3 = fields.IntField(null=True, db_index=True)
    width = fields.IntField(null=True)
    height = fields.IntField(null=True)
    file_name = fields.CharField(max_length=128)
    uploaded_by_kind = fields.CharField(max_length=16)
    uploaded_by_id = fields.UUIDField(null=True)

    class Meta:
        table = "claim_document"
