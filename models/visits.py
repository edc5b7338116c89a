"""Follow-up visits (定期回访): the rules staff set, the visits the worker makes from
them, and every contact attempt.

A visit is planned from a rule (after a claim is closed, on a policy anniversary, before
renewal, or every few months for high-value customers). Staff call, write or meet the
customer and record each attempt; a customer who cannot be reached is tried again a few
days later, up to the rule's limit. Customers see their upcoming visits and may ask for
another time or decline.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.claims import Claim
    from models.customers import Customer
    from models.policies import Policy
    from models.staff import StaffUser
    from models.surveys import SurveyInvitation


class VisitTrigger(StrEnum):
    CLAIM_CLOSED = "CLAIM_CLOSED"
    POLICY_ANNIVERSARY = "POLICY_ANNIVERSARY"
    BEFORE_RENEWAL = "BEFORE_RENEWAL"
    HIGH_VALUE = "HIGH_VALUE"
    CALLBACK = "CALLBACK"  # asked for in online service outside agents' hours
    NEW_POLICY_INTEREST = "NEW_POLICY_INTEREST"  # a product suggested by a service plan
    RETENTION_RISK = "RETENTION_RISK"  # premiums late again and again: a call before lapse


class VisitChannel(StrEnum):
    PHONE = "PHONE"
    EMAIL = "EMAIL"
    FACE_TO_FACE = "FACE_TO_FACE"


class VisitStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    DONE = "DONE"
    UNREACHABLE = "UNREACHABLE"  # tried as often as the rule allows
    DECLINED = "DECLINED"  # the customer does not want it


class VisitRule(Entity):
    """How the worker plans one kind of visit. ``days`` means: after closure
    (CLAIM_CLOSED), how far ahead to plan (POLICY_ANNIVERSARY, HIGH_VALUE) or how long
    before the end (BEFORE_RENEWAL)."""

    trigger = fields.CharEnumField(VisitTrigger, max_length=24, unique=True)
    enabled = fields.BooleanField(default=True)
    channel = fields.CharEnumField(VisitChannel, max_length=16)
    days = fields.IntField()
    every_months = fields.IntField(null=True)  # HIGH_VALUE only
    min_annual_premium = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    max_attempts = fields.IntField(default=3)
    retry_after_days = fields.IntField(default=2)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)
    updated_by = fields.UUIDField(null=True)

    class Meta:
        table = "visit_rule"


class FollowUpVisit(Entity):
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="visits", on_delete=fields.CASCADE, db_index=True
    )
    customer_id: uuid.UUID
    trigger = fields.CharEnumField(VisitTrigger, max_length=24)
    subject = fields.CharField(max_length=96)  # what it is about, e.g. policy id and year
    purpose = fields.CharField(max_length=64)  # shown to staff and customer, in Chinese
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="visits", null=True, on_delete=fields.SET_NULL
    )
    policy_id: uuid.UUID | None
    claim: fields.ForeignKeyNullableRelation[Claim] = fields.ForeignKeyField(
        "models.Claim", related_name="visits", null=True, on_delete=fields.SET_NULL
    )
    claim_id: uuid.UUID | None
    channel = fields.CharEnumField(VisitChannel, max_length=16)
    status = fields.CharEnumField(VisitStatus, max_length=16, default=VisitStatus.SCHEDULED)
    due_at = fields.DatetimeField(db_index=True)  # the work list's order; staff move it
    # The time the call was agreed: by the plan, the retry rule or the customer's own
    # request, never by staff alone. The phone number is shown only when both this and
    # ``due_at`` are near (NULL: never rescheduled by staff, ``due_at`` is the plan's).
    agreed_due_at = fields.DatetimeField(null=True)
    assignee: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="visits", null=True, on_delete=fields.SET_NULL
    )
    assignee_id: uuid.UUID | None
    attempts = fields.IntField(default=0)
    max_attempts = fields.IntField()  # from the rule, when planned
    retry_after_days = fields.IntField()
    # The customer's wish: another time (with a note) or no visit at all.
    preferred_time = fields.DatetimeField(null=True)
    customer_note = fields.CharField(max_length=200, default="")
    change_requested_at = fields.DatetimeField(null=True)
    # The outcome, once reached (or the last attempt's note).
    needs = fields.TextField(default="")
    next_action = fields.TextField(default="")
    new_policy_interest = fields.BooleanField(default=False)
    complaint_raised = fields.BooleanField(default=False)
    completed_at = fields.DatetimeField(null=True)
    completed_by = fields.UUIDField(null=True)
    survey_invitation: fields.ForeignKeyNullableRelation[SurveyInvitation] = fields.ForeignKeyField(
        "models.SurveyInvitation", related_name=False, null=True, on_delete=fields.SET_NULL
    )  # e-mail visits carry a survey
    survey_invitation_id: uuid.UUID | None
    version = fields.IntField(default=1)

    attempt_log: fields.ReverseRelation[VisitAttempt]

    class Meta:
        table = "follow_up_visit"
        unique_together = (("trigger", "subject"),)


class VisitAttempt(Entity):
    """One call, e-mail or meeting, reached or not, by whom."""

    visit: fields.ForeignKeyRelation[FollowUpVisit] = fields.ForeignKeyField(
        "models.FollowUpVisit", related_name="attempt_log", on_delete=fields.CASCADE
    )
    visit_id: uuid.UUID
    staff_id = fields.UUIDField(null=True)  # None: the worker (e-mail visits)
    reached = fields.BooleanField()
    note = fields.TextField(default="")

    class Meta:
        table = "visit_attempt"


DEFAULT_RULES: dict[VisitTrigger, dict[str, Any]] = {
    VisitTrigger.CLAIM_CLOSED: {"channel": VisitChannel.PHONE, "days": 7},
    VisitTrigger.POLICY_ANNIVERSARY: {"channel": VisitChannel.EMAIL, "days": 14},
    VisitTrigger.BEFORE_RENEWAL: {"channel": VisitChannel.PHONE, "days": 30},
    VisitTrigger.HIGH_VALUE: {
        "channel": VisitChannel.FACE_TO_FACE,
        "days": 14,
        "every_months": 6,
        "min_annual_premium": Decimal("20000.00"),
    },
    # Not planned: made when a customer asks for a call back (``days``: unused).
    VisitTrigger.CALLBACK: {"channel": VisitChannel.PHONE, "days": 0, "retry_after_days": 1},
    # Not planned: made when a customer marks interest in a product their service plan
    # suggests (``days``: days until the call, at the visit hour).
    VisitTrigger.NEW_POLICY_INTEREST: {"channel": VisitChannel.PHONE, "days": 1},
    # Not planned: made when the retention risk rule opens a signal (``days``: days
    # until the call, at the visit hour).
    VisitTrigger.RETENTION_RISK: {"channel": VisitChannel.PHONE, "days": 1},
}
