"""Satisfaction surveys (满意度调查), quick ratings (客户评价) and service-recovery tasks.

A template is versioned: editing makes a new version, and every invitation and answer
keeps the version it was made for. ``questions`` is a list of ``{"id", "kind", "text",
"required", "options": [{"id", "text"}]}`` with kinds RATING (1-5), NPS (0-10),
SINGLE_CHOICE, MULTIPLE_CHOICE and TEXT.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity, Stored

if TYPE_CHECKING:
    from models.complaints import Complaint
    from models.customers import Customer


class QuestionKind(StrEnum):
    RATING = "RATING"
    NPS = "NPS"
    SINGLE_CHOICE = "SINGLE_CHOICE"
    MULTIPLE_CHOICE = "MULTIPLE_CHOICE"
    TEXT = "TEXT"


class SurveyChannel(StrEnum):
    APP = "APP"
    MINI_PROGRAM = "MINI_PROGRAM"
    LINK = "LINK"  # the link token alone, e.g. from an SMS or e-mail
    THIRD_PARTY = "THIRD_PARTY"  # imported from the outside survey company


class SurveyTemplate(Entity):
    code = fields.CharField(max_length=32)
    version = fields.IntField()
    title = fields.CharField(max_length=128)
    questions: fields.JSONField[list[dict[str, Any]]] = fields.JSONField()
    active = fields.BooleanField(default=True)

    class Meta:
        table = "survey_template"
        unique_together = (("code", "version"),)


class SurveyInvitation(Entity):
    template: fields.ForeignKeyRelation[SurveyTemplate] = fields.ForeignKeyField(
        "models.SurveyTemplate", related_name="invitations", on_delete=fields.RESTRICT
    )
    template_id: uuid.UUID
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer",
        related_name="survey_invitations",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    customer_id: uuid.UUID
    trigger = fields.CharField(max_length=32)  # claim.closed, payout, complaint, relationship
    subject_type = fields.CharField(max_length=32)
    subject_id = fields.CharField(max_length=64)
    # Invitations made before link tokens were derived (see push/survey_links.py) kept
    # their random token's hash; new ones store nothing about their token.
    token_hash = fields.CharField(max_length=64, unique=True, null=True)
    expires_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    # For figures, fixed when invited: the period (Asia/Shanghai) and what was served.
    day = fields.CharField(max_length=10, db_index=True)  # 2026-11-30
    week = fields.CharField(max_length=8)  # 2026-W48
    month = fields.CharField(max_length=7)  # 2026-11
    product_kind = fields.CharField(max_length=16, null=True)
    staff_id = fields.UUIDField(null=True)  # who handled the case

    class Meta:
        table = "survey_invitation"
        unique_together = (("trigger", "subject_type", "subject_id"),)


class SurveyResponse(Entity):
    invitation: fields.OneToOneRelation[SurveyInvitation] = fields.OneToOneField(
        "models.SurveyInvitation", related_name="response", on_delete=fields.CASCADE
    )
    invitation_id: uuid.UUID
    template: fields.ForeignKeyRelation[SurveyTemplate] = fields.ForeignKeyField(
        "models.SurveyTemplate", related_name="responses", on_delete=fields.RESTRICT
    )
    template_id: uuid.UUID
    answers: fields.JSONField[dict[str, Any]] = fields.JSONField()
    answers_hash = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=16)  # APP, MINI_PROGRAM, LINK

    class Meta:
        table = "survey_response"


class ServiceRating(Entity):
    """A quick rating of one subject by one customer (updatable)."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="ratings", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    subject_type = fields.CharField(max_length=32)  # CLAIM, POLICY, PAYMENT, VISIT, STAFF
    subject_id = fields.CharField(max_length=64)
    stars = fields.IntField()
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    comment = fields.TextField(default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service_rating"
        unique_together = (("customer", "subject_type", "subject_id"),)


class RecoveryTask(Entity):
    """A supervisor calls an unhappy customer back within 24 hours (服务补救)."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="recovery_tasks", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    source = fields.CharField(max_length=32)  # survey, rating or visit
    source_id = fields.UUIDField()
    reason = fields.CharField(max_length=255)
    due_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)
    outcome = fields.TextField(default="")  # what the supervisor agreed with the customer
    done_by = fields.UUIDField(null=True)
    # ``customer:subject`` while open, NULL once done: the database keeps one open task
    # per customer and subject, however many unhappy ratings or answers arrive for it.
    open_key = fields.CharField(max_length=160, null=True, unique=True)
    # An unhappy answer about a complaint's handling: the complaint shows the task and
    # complaint supervisors are told.
    complaint: fields.ForeignKeyNullableRelation[Complaint] = fields.ForeignKeyField(
        "models.Complaint", related_name="recovery_tasks", null=True, on_delete=fields.SET_NULL
    )
    complaint_id: uuid.UUID | None

    class Meta:
        table = "recovery_task"
        unique_together = (("source", "source_id"),)


class SurveyAnswer(Stored):
    """One answer, flattened for figures: plain GROUP BY over numbers and choices, with
    the invitation's period, product kind, handling staff and the answer's channel."""

    id = fields.BigIntField(primary_key=True)
    response: fields.ForeignKeyRelation[SurveyResponse] = fields.ForeignKeyField(
        "models.SurveyResponse", related_name="flat_answers", on_delete=fields.CASCADE
    )
    response_id: uuid.UUID
    question_id = fields.CharField(max_length=16)
    kind = fields.CharEnumField(QuestionKind, max_length=16)
    number = fields.IntField(null=True)
    choice = fields.CharField(max_length=32, null=True)
    channel = fields.CharField(max_length=16)
    day = fields.CharField(max_length=10, db_index=True)
    week = fields.CharField(max_length=8)
    month = fields.CharField(max_length=7)
    product_kind = fields.CharField(max_length=16, null=True)
    staff_id = fields.UUIDField(null=True)

    class Meta:
        table = "survey_answer"


class SurveyExport(Entity):
    """An export for the third-party survey company: who made it, what it held, and the
    file, which housekeeping deletes after a day (pseudonymised data is still personal)."""

    staff_id = fields.UUIDField()
    template_code = fields.CharField(max_length=32)
    first_day = fields.CharField(max_length=10)
    last_day = fields.CharField(max_length=10)
    file_format = fields.CharField(max_length=8)
    rows = fields.IntField()
    storage_key = fields.CharField(max_length=128)
    file_name = fields.CharField(max_length=96)
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "survey_export"
