"""Complaints (消费投诉): what a customer complains about, from which channel, how it is
classified, who handles it, its clocks, and its timeline.

``version`` increments on every change of the row: a staff action names the version it
saw, so two handlers acting at once cannot both win. The customer may be unknown at
intake (a letter without a matching phone number): ``customer`` is null until found.
The complaint text is the customer's own words about their matter and is kept as
written; contact details are never stored here (they live on the customer).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.claims import Claim
    from models.crisis import CrisisIncident
    from models.customers import Customer
    from models.payments import PaymentOrder
    from models.policies import Policy
    from models.staff import StaffUser
    from models.visits import FollowUpVisit


class ComplaintChannel(StrEnum):
    APP = "APP"
    MINI_PROGRAM = "MINI_PROGRAM"
    PHONE = "PHONE"
    COUNTER = "COUNTER"  # 现场
    LETTER = "LETTER"
    EMAIL = "EMAIL"
    REGULATOR = "REGULATOR"  # referred by the regulator (监管转办)
    MEDIA = "MEDIA"


class ComplaintClass(StrEnum):
    SERVICE = "SERVICE"
    PRODUCT = "PRODUCT"
    CLAIM = "CLAIM"
    SALES = "SALES"  # sales and consultation
    PAYMENT = "PAYMENT"
    PRIVACY = "PRIVACY"


class Urgency(StrEnum):
    GENERAL = "GENERAL"  # 一般
    URGENT = "URGENT"  # 紧急
    MAJOR = "MAJOR"  # 重大


class ComplaintStatus(StrEnum):
    RECEIVED = "RECEIVED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    INFO_REQUESTED = "INFO_REQUESTED"
    ANSWERED = "ANSWERED"
    ACCEPTED = "ACCEPTED"
    REVIEW_REQUESTED = "REVIEW_REQUESTED"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"


class Complaint(Entity):
    number = fields.CharField(max_length=32, unique=True)  # TS + local day + sequence
    channel = fields.CharEnumField(ComplaintChannel, max_length=16)
    content_class = fields.CharEnumField(ComplaintClass, max_length=16, db_index=True)
    urgency = fields.CharEnumField(Urgency, max_length=16, db_index=True)
    # The system's proposal at intake, kept beside what staff confirmed (the figures
    # compare the two).
    proposed_class = fields.CharEnumField(ComplaintClass, max_length=16)
    proposed_urgency = fields.CharEnumField(Urgency, max_length=16)
    classification_confirmed = fields.BooleanField(default=False)
    status = fields.CharEnumField(ComplaintStatus, max_length=24, db_index=True)
    version = fields.IntField(default=1)
    text = fields.TextField()
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="complaints", null=True, on_delete=fields.RESTRICT
    )
    customer_id: uuid.UUID | None
    # What it is about, each optional.
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="complaints", null=True, on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID | None
    claim: fields.ForeignKeyNullableRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="complaints", null=True, on_delete=fields.RESTRICT
    )
    claim_id: uuid.UUID | None
    payment_order: fields.ForeignKeyNullableRelation[PaymentOrder] = fields.ForeignKeyField(
        "models.PaymentOrder", related_name="complaints", null=True, on_delete=fields.RESTRICT
    )
    payment_order_id: uuid.UUID | None
    visit: fields.ForeignKeyNullableRelation[FollowUpVisit] = fields.ForeignKeyField(
        "models.FollowUpVisit", related_name="complaints", null=True, on_delete=fields.RESTRICT
    )
    visit_id: uuid.UUID | None
    staff_subject: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser",
        related_name="complaints_about",
        null=True,
        on_delete=fields.RESTRICT,
    )
    staff_subject_id: uuid.UUID | None
    recorded_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="complaints_recorded", null=True, on_delete=fields.SET_NULL
    )
    recorded_by_id: uuid.UUID | None
    handler: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser",
        related_name="complaints_handled",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    handler_id: uuid.UUID | None
    # Clocks: receipt, first response due/done, answer due (15 → 30 → 60 days).
    received_at = fields.DatetimeField()
    first_response_due_at = fields.DatetimeField()
    first_responded_at = fields.DatetimeField(null=True)
    answer_due_at = fields.DatetimeField(db_index=True)
    extensions = fields.IntField(default=0)  # 0, 1 (to 30 days) or 2 (to 60 days)
    escalated_at = fields.DatetimeField(null=True)  # the 80 % warning went out
    breached_at = fields.DatetimeField(null=True)  # the answer clock ran out unanswered
    # The first-response clock ran out with nobody having contacted the customer.
    first_response_breached_at = fields.DatetimeField(null=True)
    answer = fields.TextField(null=True)
    # The crisis incident it is part of (answered consistently with its statement).
    incident: fields.ForeignKeyNullableRelation[CrisisIncident] = fields.ForeignKeyField(
        "models.CrisisIncident", related_name="complaints", null=True, on_delete=fields.SET_NULL
    )
    incident_id: uuid.UUID | None
    answered_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "complaint"


class ComplaintEvent(Entity):
    """One line of a complaint's timeline (``internal`` lines are for staff only)."""

    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    complaint_id: uuid.UUID
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(ComplaintStatus, max_length=24, null=True)
    to_status = fields.CharEnumField(ComplaintStatus, max_length=24)
    note = fields.TextField()
    internal = fields.BooleanField(default=False)

    class Meta:
        table = "complaint_event"


class ClassificationCorrection(Entity):
    """Staff's decision on the system's proposal, kept so the rules can be checked
    against staff (share of proposals accepted)."""

    complaint: fields.ForeignKeyRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="corrections", on_delete=fields.CASCADE, db_index=True
    )
    complaint_id: uuid.UUID
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser",
        related_name="complaint_corrections",
        null=True,
        on_delete=fields.SET_NULL,
    )
    staff_id: uuid.UUID | None
    proposed_class = fields.CharEnumField(ComplaintClass, max_length=16)
    proposed_urgency = fields.CharEnumField(Urgency, max_length=16)
    chosen_class = fields.CharEnumField(ComplaintClass, max_length=16)
    chosen_urgency = fields.CharEnumField(Urgency, max_length=16)
    accepted = fields.BooleanField()  # both axes as proposed

    class Meta:
        table = "complaint_classification"
