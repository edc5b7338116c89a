"""Membership (会员制度): a customer's tier and the points ledger (积分).

``Membership`` holds the tier a customer has now (one row per customer, created on first
computation); a customer without a row is STANDARD. ``PointsEntry`` is append-only: points
earned are positive, redeemed or expired points negative; a balance is the sum. ``source``
names the event an entry comes from (``payment:<id>``, ``survey:<id>``, ``goodwill:<case>``)
and is unique per customer, so a duplicate event cannot award twice: the database decides.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity, Stored

if TYPE_CHECKING:
    from models.customers import Customer
    from models.staff import StaffUser


class MemberTier(StrEnum):
    """Ordered from the lowest; ``TIER_ORDER`` compares them."""

    STANDARD = "STANDARD"  # 普通
    SILVER = "SILVER"  # 银卡
    GOLD = "GOLD"  # 金卡
    PLATINUM = "PLATINUM"  # 铂金


TIER_ORDER: dict[MemberTier, int] = {tier: rank for rank, tier in enumerate(MemberTier)}


class PointsKind(StrEnum):
    EARNED = "EARNED"  # premiums paid, renewals, surveys, health tasks
    GOODWILL = "GOODWILL"  # a broken service promise, by rule
    REDEEMED = "REDEEMED"  # spent on a benefit (negative)
    EXPIRED = "EXPIRED"  # lapsed unspent (negative)
    REVERSED = "REVERSED"  # a premium refunded: its points taken back, as far as unspent


class Membership(Entity):
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="membership"
    )
    customer_id: uuid.UUID
    tier = fields.CharEnumField(MemberTier, max_length=16, default=MemberTier.STANDARD)
    tier_since = fields.DatetimeField()
    # A downgrade waits: the customer keeps ``tier`` until then, unless re-qualified.
    pending_tier = fields.CharEnumField(MemberTier, max_length=16, null=True)
    grace_until: date | None = fields.DateField(null=True)
    recomputed_at: datetime = fields.DatetimeField()
    version = fields.IntField(default=1)
    # The agent named in ``myMembership`` while the tier lists a dedicated agent.
    dedicated_agent: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="dedicated_members", null=True, on_delete=fields.SET_NULL
    )
    dedicated_agent_id: uuid.UUID | None

    class Meta:
        table = "membership"


class PointsEntry(Entity):
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="points_entries"
    )
    customer_id: uuid.UUID
    points = fields.IntField()  # positive earned, negative spent or expired
    kind = fields.CharEnumField(PointsKind, max_length=16)
    source = fields.CharField(max_length=160)  # the event it comes from; unique per customer
    reason = fields.CharField(max_length=200)  # shown in the history (Chinese)
    expires_on: date | None = fields.DateField(null=True)  # earned points only

    class Meta:
        table = "points_entry"
        unique_together = (("customer", "source"),)
        ordering = ("-created_at",)


class MembershipRuleSet(Entity):
    """The tier rules as one document staff change (MEMBERSHIP_MANAGE): thresholds per
    tier, each tier's privileges and yearly allowances, the downgrade grace and the
    points rules. One row (``code`` ``default``); ``version`` guards concurrent edits."""

    code = fields.CharField(max_length=32, unique=True)
    document: fields.JSONField[dict[str, Any]] = fields.JSONField()
    version = fields.IntField(default=1)
    updated_by = fields.UUIDField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "membership_rule_set"


class Reward(Entity):
    """What points buy (体检券, 洗车券 …): a small catalogue as data."""

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=200, default="")
    points_cost = fields.IntField()
    min_tier = fields.CharEnumField(MemberTier, max_length=16, default=MemberTier.STANDARD)
    per_year = fields.IntField()  # redemptions per customer and calendar year
    active = fields.BooleanField(default=True)
    position = fields.IntField(default=0)

    class Meta:
        table = "membership_reward"
        ordering = ("position", "code")


class Redemption(Entity):
    """Points spent on a reward: written with its REDEEMED ledger entry under the
    customer's Membership row lock; the idempotency key is unique per customer."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="redemptions"
    )
    customer_id: uuid.UUID
    reward: fields.ForeignKeyRelation[Reward] = fields.ForeignKeyField(
        "models.Reward", related_name="redemptions", on_delete=fields.RESTRICT
    )
    reward_id: uuid.UUID
    points = fields.IntField()
    year = fields.IntField()  # calendar year (Asia/Shanghai) for the yearly limit
    voucher_code = fields.CharField(max_length=24, unique=True)
    idempotency_key = fields.CharField(max_length=128)

    class Meta:
        table = "membership_redemption"
        unique_together = (("customer", "idempotency_key"),)
        ordering = ("-created_at",)


class MembershipEventSeen(Stored):
    """An outbox event the membership consumer has handled (points, recompute)."""

    outbox_event_id = fields.BigIntField(primary_key=True)
    seen_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "membership_event_seen"


class HealthPeriod(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    ONCE = "ONCE"


class HealthProgramme(Entity):
    """A health-management programme (每日步数, 体检后随访) with tasks that earn points."""

    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=300, default="")
    active = fields.BooleanField(default=True)
    position = fields.IntField(default=0)
    tasks: fields.ReverseRelation[HealthTask]

    class Meta:
        table = "health_programme"
        ordering = ("position", "code")


class HealthTask(Entity):
    """One task of a programme: done once per period, declared by the customer."""

    programme: fields.ForeignKeyRelation[HealthProgramme] = fields.ForeignKeyField(
        "models.HealthProgramme", related_name="tasks", on_delete=fields.CASCADE
    )
    programme_id: uuid.UUID
    code = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    description = fields.CharField(max_length=300, default="")
    period = fields.CharEnumField(HealthPeriod, max_length=8)
    points = fields.IntField()
    value_label = fields.CharField(max_length=16, null=True)  # e.g. 步数; None: yes/no task
    min_value = fields.IntField(null=True)  # the least that counts as done
    max_value = fields.IntField(null=True)  # above: not believable, refused
    position = fields.IntField(default=0)

    class Meta:
        table = "health_task"
        unique_together = (("programme", "code"),)
        ordering = ("position", "code")


class HealthTaskCompletion(Entity):
    """The customer's own declaration that a task is done for a period (never device
    data taken as fact); unique per customer, task and period."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="health_completions"
    )
    customer_id: uuid.UUID
    task: fields.ForeignKeyRelation[HealthTask] = fields.ForeignKeyField(
        "models.HealthTask", related_name="completions", on_delete=fields.CASCADE
    )
    task_id: uuid.UUID
    period_key = fields.CharField(max_length=16)  # 2026-12-02, 2026-W49, once
    value = fields.IntField(null=True)
    points = fields.IntField()

    class Meta:
        table = "health_task_completion"
        unique_together = (("customer", "task", "period_key"),)
        ordering = ("-created_at",)
