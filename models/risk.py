"""Risk signals (发现潜在风险和问题): rules that look across claims, payments and
surveys, and the signals they open for staff with the evidence.

A rule and a subject (a customer, an insured person, a loss type) have at most one signal that is
not yet decided: ``open_key`` is unique while the signal is NEW or REVIEWING and NULL once
dismissed or confirmed, so concurrent evaluations open one signal, and a subject may be
signalled again after a decision only by new evidence (``evidence_key`` changes).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer


class RiskRuleKind(StrEnum):
    EARLY_CLAIM = "EARLY_CLAIM"  # a claim soon after the policy started
    FREQUENT_CLAIMS = "FREQUENT_CLAIMS"  # many claims by one customer in the window
    FREQUENT_INSURED_CLAIMS = "FREQUENT_INSURED_CLAIMS"  # many claims on one insured person
    REUSED_PHOTO = "REUSED_PHOTO"  # a photo near-identical to one of another claim
    SHARED_PAYOUT_ACCOUNT = "SHARED_PAYOUT_ACCOUNT"  # one account on different customers' claims
    LOSS_TYPE_SPIKE = "LOSS_TYPE_SPIKE"  # a loss type far above its usual weekly count
    RETENTION_RISK = "RETENTION_RISK"  # premiums late again and again, or long overdue
    UNHAPPY_OPEN_CLAIM = "UNHAPPY_OPEN_CLAIM"  # an unhappy customer whose claim is open


class RiskSeverity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class RiskSubjectKind(StrEnum):
    CLAIM = "CLAIM"
    CUSTOMER = "CUSTOMER"
    INSURED_PERSON = "INSURED_PERSON"  # one insured person (by ID number hash), across policies
    PAYOUT_ACCOUNT = "PAYOUT_ACCOUNT"
    PHOTO = "PHOTO"  # one photo (by its hashes) on several claims
    POLICY = "POLICY"
    LOSS_TYPE = "LOSS_TYPE"


class RiskSignalStatus(StrEnum):
    NEW = "NEW"
    REVIEWING = "REVIEWING"
    DISMISSED = "DISMISSED"  # looked at: nothing wrong (with the reason)
    CONFIRMED = "CONFIRMED"  # a real risk: handled outside (investigation, a call)


class RiskRule(Entity):
    """A rule as data: staff change thresholds and windows, or switch it off."""

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharEnumField(RiskRuleKind, max_length=32)
    severity = fields.CharEnumField(RiskSeverity, max_length=16)
    threshold = fields.IntField()  # a count, days or a percentage: see the kind
    minimum = fields.IntField(default=1)  # spikes: the least recent count that matters
    window_days = fields.IntField()
    enabled = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    updated_by = fields.UUIDField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "risk_rule"


class RiskSignal(Entity):
    number = fields.CharField(max_length=32, unique=True)  # FX + local day + sequence
    rule: fields.ForeignKeyRelation[RiskRule] = fields.ForeignKeyField(
        "models.RiskRule", related_name="signals", on_delete=fields.RESTRICT
    )
    rule_id: uuid.UUID
    kind = fields.CharEnumField(RiskRuleKind, max_length=32, db_index=True)
    severity = fields.CharEnumField(RiskSeverity, max_length=16)
    status = fields.CharEnumField(RiskSignalStatus, max_length=16, db_index=True)
    subject_kind = fields.CharEnumField(RiskSubjectKind, max_length=16)
    subject_key = fields.CharField(max_length=96)  # e.g. a claim id, a loss type
    customer: fields.ForeignKeyNullableRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="risk_signals", null=True, on_delete=fields.SET_NULL
    )
    customer_id: uuid.UUID | None
    open_key = fields.CharField(max_length=160, null=True, unique=True)  # rule + subject
    # The evidence that opened it: decided signals are not reopened by the same evidence.
    evidence_key = fields.CharField(max_length=64)
    summary = fields.CharField(max_length=255)  # in Chinese, for the queue
    # [{"kind": "CLAIM", "id": "<uuid>", "label": "BA…"}, …]: links for staff
    evidence: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    first_seen_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    version = fields.IntField(default=1)
    reviewer_id: uuid.UUID | None = fields.UUIDField(null=True)
    decided_at = fields.DatetimeField(null=True)
    decision_note = fields.TextField(null=True)

    class Meta:
        table = "risk_signal"
        unique_together = (("rule", "subject_key", "evidence_key"),)


class RiskSignalEvent(Entity):
    """The signal's timeline: opened, evidence added, review started, decided."""

    signal: fields.ForeignKeyRelation[RiskSignal] = fields.ForeignKeyField(
        "models.RiskSignal", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    signal_id: uuid.UUID
    actor_id = fields.UUIDField(null=True)  # null: the rules
    action = fields.CharField(max_length=32)
    from_status = fields.CharEnumField(RiskSignalStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(RiskSignalStatus, max_length=16)
    note = fields.TextField(default="")

    class Meta:
        table = "risk_signal_event"
        ordering = ("created_at",)


class RiskEventSeen(Entity):
    """An outbox event the rules have evaluated (evaluating again is harmless)."""

    outbox_event_id = fields.BigIntField(unique=True)

    class Meta:
        table = "risk_event_seen"


class RiskSweep(Entity):
    """The nightly evaluation of every rule over all data: one row per local day, so one
    worker runs it however many there are."""

    day: date = fields.DateField(unique=True)
    finished_at: datetime | None = fields.DatetimeField(null=True)
    signals_opened = fields.IntField(default=0)
    seconds = fields.FloatField(null=True)

    class Meta:
        table = "risk_sweep"
