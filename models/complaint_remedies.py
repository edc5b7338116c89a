"""What a complaint puts right and what it teaches: the proposed resolution (an
explanation and its remedies: apology, re-review of a claim, goodwill payment, fee
refund), the root cause with its corrective action (溯源整改), and the customer's
attachments.

A resolution waiting for a supervisor holds ``open_key`` (the complaint's id): the
database keeps at most one pending per complaint. Money remedies point at the ledger's
own rows (a ``Payout`` names its remedy; a remedy names its ``Refund``) so the money is
tracked where all money is.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity
from models.policies import money_field

if TYPE_CHECKING:
    from models.claims import Claim
    from models.complaints import Complaint
    from models.payments import PaymentOrder, Payout, Refund


class RemedyKind(StrEnum):
    APOLOGY = "APOLOGY"  # 致歉
    CLAIM_REREVIEW = "CLAIM_REREVIEW"  # the claim goes back to review
    GOODWILL_PAYMENT = "GOODWILL_PAYMENT"  # 补偿款, through the payout path
    FEE_REFUND = "FEE_REFUND"  # part or all of a premium payment, through the refund path


class ResolutionStatus(StrEnum):
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    CARRIED_OUT = "CARRIED_OUT"
    REJECTED = "REJECTED"


class ComplaintResolution(Entity):
    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="resolutions", on_delete=fields.CASCADE, db_index=True
    )
    complaint_id: uuid.UUID
    explanation = fields.TextField()
    status = fields.CharEnumField(ResolutionStatus, max_length=24)
    total_amount = money_field(Decimal(0))  # money remedies together
    proposed_by = fields.UUIDField()
    decided_by = fields.UUIDField(null=True)  # the approving or refusing supervisor
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.TextField(default="")
    carried_out_at = fields.DatetimeField(null=True)
    # The complaint's id while AWAITING_APPROVAL, else NULL: one pending per complaint.
    open_key = fields.CharField(max_length=64, null=True, unique=True)

    class Meta:
        table = "complaint_resolution"


class ComplaintRemedy(Entity):
    resolution: fields.ForeignKeyRelation[ComplaintResolution] = fields.ForeignKeyField(
        "models.ComplaintResolution", related_name="remedies", on_delete=fields.CASCADE
    )
    resolution_id: uuid.UUID
    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="remedies", on_delete=fields.CASCADE, db_index=True
    )
    complaint_id: uuid.UUID
    kind = fields.CharEnumField(RemedyKind, max_length=24)
    position = fields.IntField()
    amount = money_field(Decimal(0))
    note = fields.TextField(default="")  # what the customer is told about this remedy
    # CLAIM_REREVIEW: the claim reopened; GOODWILL_PAYMENT: the claim whose account the
    # customer chose (the account the money goes to).
    claim: fields.ForeignKeyNullableRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="complaint_remedies", null=True, on_delete=fields.RESTRICT
    )
    claim_id: uuid.UUID | None
    payment_order: fields.ForeignKeyNullableRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder",
        related_name="complaint_remedies",
        null=True,
        on_delete=fields.RESTRICT,
    )
    payment_order_id: uuid.UUID | None
    refund: fields.ForeignKeyNullableRelation[Refund] = fields.ForeignKeyField(
        "models.Refund", related_name="complaint_remedies", null=True, on_delete=fields.RESTRICT
    )
    refund_id: uuid.UUID | None
    carried_out_at = fields.DatetimeField(null=True)
    payouts: fields.ReverseRelation[Payout]

    class Meta:
        table = "complaint_remedy"


class RootCauseCategory(StrEnum):
    PRODUCT_DESIGN = "PRODUCT_DESIGN"  # 产品设计
    SALES_CONDUCT = "SALES_CONDUCT"  # 销售行为
    CLAIM_HANDLING = "CLAIM_HANDLING"  # 理赔处理
    SERVICE_ATTITUDE = "SERVICE_ATTITUDE"  # 服务态度
    PROCESS_RULE = "PROCESS_RULE"  # 流程制度
    SYSTEM_FAULT = "SYSTEM_FAULT"  # 系统故障
    COMMUNICATION = "COMMUNICATION"  # 沟通解释不到位
    THIRD_PARTY = "THIRD_PARTY"  # 第三方机构
    CUSTOMER_MISUNDERSTANDING = "CUSTOMER_MISUNDERSTANDING"  # 客户误解
    OTHER = "OTHER"


class ComplaintRootCause(Entity):
    """Why it happened and what the responsible unit changes by when, tracked until done
    (``done_at``)."""

    complaint: fields.OneToOneRelation[Complaint] = fields.OneToOneField(
        "models.Complaint", related_name="root_cause", on_delete=fields.CASCADE
    )
    complaint_id: uuid.UUID
    category = fields.CharEnumField(RootCauseCategory, max_length=32, db_index=True)
    responsible_unit = fields.CharField(max_length=64)
    corrective_action = fields.TextField()
    due_on = fields.DateField()  # Asia/Shanghai calendar day
    recorded_by = fields.UUIDField()
    done_at = fields.DatetimeField(null=True, db_index=True)
    done_note = fields.TextField(default="")
    done_by = fields.UUIDField(null=True)

    class Meta:
        table = "complaint_root_cause"


class ComplaintAttachment(Entity):
    """A photo or document filed with a complaint, through the image pipeline of claim
    documents (re-encoded without EXIF, random key, signed links only)."""

    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="attachments", on_delete=fields.RESTRICT, db_index=True
    )
    complaint_id: uuid.UUID
    storage_key = fields.CharField(max_length=255, unique=True)
    thumbnail_key = fields.CharField(max_length=255, null=True)
    content_type = fields.CharField(max_length=64)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    width = fields.IntField(null=True)
    height = fields.IntField(null=True)
    file_name = fields.CharField(max_length=128)
    uploaded_by_kind = fields.CharField(max_length=16)
    uploaded_by_id = fields.UUIDField(null=True)

    class Meta:
        table = "complaint_attachment"
