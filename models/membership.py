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
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer


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
