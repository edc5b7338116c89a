"""The service team (服务团队建设): teams with a supervisor and skills, membership (one
team per staff member, enforced by a unique key), leave periods, training courses and
certificates with expiry, the permissions a certificate is required for, the warnings
sent before a certificate runs out, and supervisors' quality reviews of closed cases.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.staff import StaffUser


class SkillKind(StrEnum):
    LOSS_TYPE = "LOSS_TYPE"  # a claim's loss type (Claim.loss_type: MEDICAL, VEHICLE, …)
    COMPLAINT_CLASS = "COMPLAINT_CLASS"  # a complaint's content class (CLAIM, PAYMENT, …)
    LANGUAGE = "LANGUAGE"  # a language or dialect spoken (粤语, 英语, …)
    CHANNEL = "CHANNEL"  # a channel worked (PHONE, VISIT channels, ONLINE, …)


class CertificateKind(StrEnum):
    CLAIMS_ADJUSTER = "CLAIMS_ADJUSTER"  # 理赔员资格
    UNDERWRITER = "UNDERWRITER"  # 核保资格
    COMPLAINT_HANDLER = "COMPLAINT_HANDLER"  # 投诉处理培训合格
    SERVICE_BASICS = "SERVICE_BASICS"  # 客户服务基础


class ReviewSubject(StrEnum):
    CLAIM = "CLAIM"
    COMPLAINT = "COMPLAINT"
    VISIT = "VISIT"


class Team(Entity):
    """A team of service staff: who supervises it, and what it works (its skills)."""

    name = fields.CharField(max_length=64, unique=True)
    description = fields.CharField(max_length=300, default="")
    supervisor: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="supervised_teams", null=True, on_delete=fields.SET_NULL
    )
    supervisor_id: uuid.UUID | None
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "team"


class TeamSkill(Entity):
    """One skill of a team (kind + value), a row so assignment filters on it in SQL."""

    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="skills", on_delete=fields.CASCADE
    )
    team_id: uuid.UUID
    kind = fields.CharEnumField(SkillKind, max_length=16)
    value = fields.CharField(max_length=32)

    class Meta:
        table = "team_skill"
        unique_together = (("team", "kind", "value"),)


class TeamMember(Entity):
    """A staff member's team: ``staff`` is unique, so one team each, whatever races."""

    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="members", on_delete=fields.RESTRICT
    )
    team_id: uuid.UUID
    staff: fields.OneToOneRelation[StaffUser] = fields.OneToOneField(
        "models.StaffUser", related_name="team_membership", on_delete=fields.CASCADE
    )
    staff_id: uuid.UUID
    moved_by = fields.UUIDField(null=True)

    class Meta:
        table = "team_member"


class StaffLeave(Entity):
    """A period a staff member is absent (leave, training, sick): never assigned then."""

    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="leaves", on_delete=fields.CASCADE
    )
    staff_id: uuid.UUID
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField(db_index=True)
    reason = fields.CharField(max_length=200, default="")
    recorded_by = fields.UUIDField(null=True)

    class Meta:
        table = "staff_leave"


class Course(Entity):
    """A training course: passing it grants a certificate of ``kind`` for a while."""

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    certificate_kind = fields.CharEnumField(CertificateKind, max_length=24)
    valid_months = fields.IntField()

    class Meta:
        table = "training_course"


class Certificate(Entity):
    """A qualification a staff member holds until ``expires_on`` (inclusive, Shanghai)."""

    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="certificates", on_delete=fields.CASCADE
    )
    staff_id: uuid.UUID
    kind = fields.CharEnumField(CertificateKind, max_length=24)
    course: fields.ForeignKeyNullableRelation[Course] = fields.ForeignKeyField(
        "models.Course", related_name="certificates", null=True, on_delete=fields.SET_NULL
    )
    course_id: uuid.UUID | None
    number = fields.CharField(max_length=32, unique=True)
    issued_on: date = fields.DateField()
    expires_on: date = fields.DateField(db_index=True)
    revoked_at = fields.DatetimeField(null=True)
    granted_by = fields.UUIDField(null=True)

    class Meta:
        table = "staff_certificate"


class CertificateRequirement(Entity):
    """Data: a permission that needs a valid certificate of ``kind``. A permission with
    no row needs none."""

    permission = fields.CharField(max_length=48, unique=True)
    kind = fields.CharEnumField(CertificateKind, max_length=24)

    class Meta:
        table = "certificate_requirement"


class CertificateWarning(Entity):
    """The one warning before a certificate expires (its key is unique: sent once)."""

    certificate: fields.OneToOneRelation[Certificate] = fields.OneToOneField(
        "models.Certificate", related_name="warning", on_delete=fields.CASCADE
    )
    certificate_id: uuid.UUID

    class Meta:
        table = "certificate_warning"


class QualityReview(Entity):
    """A supervisor's score of one closed case against the checklist, one per case."""

    subject_kind = fields.CharEnumField(ReviewSubject, max_length=16)
    subject_id = fields.UUIDField()
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="quality_reviews", on_delete=fields.CASCADE
    )
    staff_id: uuid.UUID
    reviewer: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="quality_reviews_given", on_delete=fields.RESTRICT
    )
    reviewer_id: uuid.UUID
    scores: fields.JSONField[dict[str, Any]] = fields.JSONField()
    score = fields.IntField()  # 0–100: the share of checklist points earned
    note = fields.CharField(max_length=1000, default="")
    reviewed_at: datetime = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "quality_review"
        unique_together = (("subject_kind", "subject_id"),)
