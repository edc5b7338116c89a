"""Crisis response (危机应对预案): the rules that open an incident, the incident with its
assessment, response team, action checklist, statements and post-incident review, and
its timeline.

``CrisisIncident.open_key`` is ``"<rule id>:<key>"`` while the incident is open and null
once closed: the unique index lets one rule and key (a class, a product) have at most
one open incident, however many complaints arrive at once. ``version`` increments on
every change of the incident or of anything in it (team, actions, statements, review),
so two managers acting at once cannot both win.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.staff import StaffUser


class CrisisRuleKind(StrEnum):
    MAJOR_COMPLAINT = "MAJOR_COMPLAINT"  # a complaint classified 重大
    CLASS_SPIKE = "CLASS_SPIKE"  # N complaints of one class within the window
    PRODUCT_SPIKE = "PRODUCT_SPIKE"  # N complaints about one product within the window
    KEYWORDS = "KEYWORDS"  # media or regulator words, or a media/regulator channel


class CrisisSeverity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class SpreadRisk(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class CrisisScope(StrEnum):
    COMPLAINANTS = "COMPLAINANTS"  # the customers who complained
    PRODUCT_HOLDERS = "PRODUCT_HOLDERS"  # and every holder of an in-force policy of the products


class CrisisStatus(StrEnum):
    IDENTIFIED = "IDENTIFIED"
    ASSESSED = "ASSESSED"
    RESPONDING = "RESPONDING"
    COMMUNICATING = "COMMUNICATING"
    REVIEWING = "REVIEWING"
    CLOSED = "CLOSED"


class CrisisTeamRole(StrEnum):
    LEAD = "LEAD"  # 组长
    COMMUNICATIONS = "COMMUNICATIONS"  # 对外沟通
    CUSTOMER_CARE = "CUSTOMER_CARE"  # 客户安抚
    LEGAL = "LEGAL"  # 法务合规
    OPERATIONS = "OPERATIONS"  # 业务处置


class StatementAudience(StrEnum):
    CUSTOMERS = "CUSTOMERS"
    MEDIA = "MEDIA"
    REGULATOR = "REGULATOR"
    OTHER = "OTHER"


class StatementStatus(StrEnum):
    DRAFT = "DRAFT"
    APPROVED = "APPROVED"
    RELEASED = "RELEASED"


class CrisisRule(Entity):
    """When an incident opens by itself. Staff with CRISIS_MANAGE edit them."""

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharEnumField(CrisisRuleKind, max_length=24)
    threshold = fields.IntField(default=1)  # complaints within the window (spikes)
    window_hours = fields.IntField(default=24)
    keywords: fields.JSONField[list[str]] = fields.JSONField(default=list)
    severity = fields.CharEnumField(CrisisSeverity, max_length=16)  # of the incident it opens
    enabled = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    updated_by = fields.UUIDField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "crisis_rule"


class CrisisIncident(Entity):
    number = fields.CharField(max_length=32, unique=True)  # WJ + local day + sequence
    title = fields.CharField(max_length=128)
    status = fields.CharEnumField(CrisisStatus, max_length=16, db_index=True)
    version = fields.IntField(default=1)
    rule: fields.ForeignKeyNullableRelation[CrisisRule] = fields.ForeignKeyField(
        "models.CrisisRule", related_name="incidents", null=True, on_delete=fields.RESTRICT
    )
    rule_id: uuid.UUID | None
    rule_key = fields.CharField(max_length=64, null=True)  # e.g. "class:CLAIM", "product:<id>"
    open_key = fields.CharField(max_length=128, null=True, unique=True)
    opened_by = fields.UUIDField(null=True)  # staff who opened it by hand; null: a rule
    opened_at = fields.DatetimeField()
    severity = fields.CharEnumField(CrisisSeverity, max_length=16)
    spread_risk = fields.CharEnumField(SpreadRisk, max_length=16, null=True)
    scope = fields.CharEnumField(CrisisScope, max_length=16, null=True)
    assessment = fields.TextField(null=True)
    customers_affected = fields.IntField(default=0)
    policies_affected = fields.IntField(default=0)
    assessed_at = fields.DatetimeField(null=True)
    # The post-incident review (复盘): closing requires it.
    review_causes = fields.TextField(null=True)
    review_changes = fields.TextField(null=True)
    review_timeline: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(null=True)
    reviewed_by = fields.UUIDField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "crisis_incident"


class CrisisEvent(Entity):
    """One line of an incident's timeline (the review's timeline is made from these)."""

    incident: fields.ForeignKeyRelation[CrisisIncident] = fields.ForeignKeyField(
        "models.CrisisIncident", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    incident_id: uuid.UUID
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.UUIDField(null=True)
    action = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(CrisisStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(CrisisStatus, max_length=16)
    note = fields.TextField()

    class Meta:
        table = "crisis_event"


class CrisisTeamMember(Entity):
    incident: fields.ForeignKeyRelation[CrisisIncident] = fields.ForeignKeyField(
        "models.CrisisIncident", related_name="team", on_delete=fields.CASCADE
    )
    incident_id: uuid.UUID
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="crisis_teams", on_delete=fields.RESTRICT
    )
    staff_id: uuid.UUID
    role = fields.CharEnumField(CrisisTeamRole, max_length=16)

    class Meta:
        table = "crisis_team_member"
        unique_together = (("incident", "staff"),)


class CrisisAction(Entity):
    """One item of the response checklist: what, whose, by when, done."""

    incident: fields.ForeignKeyRelation[CrisisIncident] = fields.ForeignKeyField(
        "models.CrisisIncident", related_name="actions", on_delete=fields.CASCADE, db_index=True
    )
    incident_id: uuid.UUID
    title = fields.CharField(max_length=200)
    owner: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="crisis_actions", on_delete=fields.RESTRICT
    )
    owner_id: uuid.UUID
    due_at = fields.DatetimeField()
    done_at = fields.DatetimeField(null=True)
    done_by = fields.UUIDField(null=True)
    done_note = fields.TextField(null=True)

    class Meta:
        table = "crisis_action"


class CrisisStatement(Entity):
    """A statement to one audience: drafted, approved by a second manager, released.
    A released customer statement goes to every affected customer once (the outbox
    events carry ``crisis-notice:<statement>:<customer>`` as their unique key)."""

    incident: fields.ForeignKeyRelation[CrisisIncident] = fields.ForeignKeyField(
        "models.CrisisIncident", related_name="statements", on_delete=fields.CASCADE, db_index=True
    )
    incident_id: uuid.UUID
    audience = fields.CharEnumField(StatementAudience, max_length=16)
    party = fields.CharField(max_length=64, null=True)  # e.g. the newspaper, the regulator
    text = fields.TextField()
    status = fields.CharEnumField(StatementStatus, max_length=16, default=StatementStatus.DRAFT)
    drafted_by = fields.UUIDField()
    approved_by = fields.UUIDField(null=True)
    approved_at = fields.DatetimeField(null=True)
    released_by = fields.UUIDField(null=True)
    released_at = fields.DatetimeField(null=True)
    notified = fields.IntField(default=0)  # customers sent the notice

    class Meta:
        table = "crisis_statement"


class CrisisEventSeen(Entity):
    """A complaint outbox event the rules have evaluated (marked after the evaluation,
    which is safe to repeat: two workers may both evaluate one event)."""

    outbox_event_id = fields.BigIntField(unique=True)

    class Meta:
        table = "crisis_event_seen"
