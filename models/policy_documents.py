"""Documents the insurer issues as PDFs (electronic policy, premium receipts, claim
settlement notices, yearly statements, endorsement certificates, e-invoices) and the
customers' e-invoice requests.

A document is stored once per subject, kind and version (unique), with the SHA-256 of
its bytes and a verification code (the SHA-256 of its content, printed and put in its
QR code), so anyone holding a copy can ask whether the insurer issued it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity
from models.policies import money_field

if TYPE_CHECKING:
    from models.customers import Customer
    from models.payments import PaymentOrder
    from models.policies import Policy


class DocumentKind(StrEnum):
    POLICY = "POLICY"  # 电子保单
    PREMIUM_RECEIPT = "PREMIUM_RECEIPT"  # 保费收据, one per paid order
    CLAIM_NOTICE = "CLAIM_NOTICE"  # 理赔决定书, one per decided claim
    YEARLY_STATEMENT = "YEARLY_STATEMENT"  # 年度对账单, one per customer and year
    ENDORSEMENT = "ENDORSEMENT"  # 批单
    INVOICE = "INVOICE"  # 电子发票, as the invoicing provider issued it


class PolicyDocument(Entity):
    """One issued PDF. ``subject_key`` names what it is about (``policy:<id>``,
    ``order:<id>``, ``claim:<id>``, ``statement:<customer id>:<year>``,
    ``endorsement:<id>``, ``invoice:<id>``), unique with kind and version: concurrent
    first requests store one document. ``customer`` is the owner (the holder, the
    claimant, the payer), ``policy`` the policy it belongs to when there is one."""

    kind = fields.CharEnumField(DocumentKind, max_length=24)
    subject_key = fields.CharField(max_length=96)
    version = fields.IntField(default=1)
    number = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=64)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="documents", on_delete=fields.RESTRICT, db_index=True
    )
    customer_id: uuid.UUID
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="documents", null=True, on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID | None
    holder_name_masked = fields.CharField(max_length=32)  # all a verifier is told of a person
    storage_key = fields.CharField(max_length=512)
    file_name = fields.CharField(max_length=128)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64, unique=True)  # of the stored bytes
    verification_code = fields.CharField(max_length=64, unique=True)  # printed, in the QR
    # SHA-256 of what the document says (not its number or date): a subject whose data
    # changed (an endorsement, a new payment in the year) gets a new version.
    content_digest = fields.CharField(max_length=64)
    issued_at = fields.DatetimeField()

    class Meta:
        table = "policy_document"
        unique_together = (("kind", "subject_key", "version"),)


class InvoiceTitleKind(StrEnum):
    PERSONAL = "PERSONAL"  # 个人
    COMPANY = "COMPANY"  # 单位, with its tax number


class InvoiceStatus(StrEnum):
    REQUESTED = "REQUESTED"  # saved, not yet sent to the provider
    SUBMITTED = "SUBMITTED"  # the provider has it, we poll
    ISSUED = "ISSUED"  # the PDF is attached
    FAILED = "FAILED"  # the provider refused it, or it could not be sent


class InvoiceRequest(Entity):
    """A customer's request for an e-invoice (电子发票) of a paid premium order.
    ``live_key`` is the order's id while the request is not FAILED (unique): an order has
    at most one live request, whoever races."""

    number = fields.CharField(max_length=32, unique=True)
    order: fields.ForeignKeyRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder", related_name="invoice_requests", on_delete=fields.RESTRICT
    )
    order_id: uuid.UUID
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="invoice_requests", on_delete=fields.RESTRICT, db_index=True
    )
    customer_id: uuid.UUID
    title_kind = fields.CharEnumField(InvoiceTitleKind, max_length=16)
    title = fields.CharField(max_length=100)
    tax_number = fields.CharField(max_length=20, null=True)  # a company's, not personal data
    email_encrypted = fields.TextField(null=True)
    email_masked = fields.CharField(max_length=128, null=True)
    amount = money_field()
    status = fields.CharEnumField(
        InvoiceStatus, max_length=16, default=InvoiceStatus.REQUESTED, db_index=True
    )
    provider = fields.CharField(max_length=32)
    provider_ref = fields.CharField(max_length=64, null=True)
    invoice_number = fields.CharField(max_length=32, null=True)
    failure_reason = fields.CharField(max_length=255, null=True)
    attempts = fields.IntField(default=0)
    document: fields.ForeignKeyNullableRelation[PolicyDocument] = fields.ForeignKeyField(
        "models.PolicyDocument", related_name="invoices", null=True, on_delete=fields.RESTRICT
    )
    document_id: uuid.UUID | None
    submitted_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    live_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "invoice_request"
