"""The outbox, the in-app inbox, devices, preferences and per-channel deliveries.

A workflow writes its state change and an ``OutboxEvent`` in one transaction. The relay
turns each committed event into inbox ``Notification`` rows and ``Delivery`` rows (one per
channel and target) and publishes it live. Unique keys make every step repeatable
without a second effect: one notification per event and customer, one delivery per
notification, channel and target.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity, Stored

if TYPE_CHECKING:
    from models.customers import Customer


class Channel(StrEnum):
    APNS = "APNS"
    FCM = "FCM"
    WECHAT = "WECHAT"
    SMS = "SMS"
    EMAIL = "EMAIL"


class DevicePlatform(StrEnum):
    IOS = "IOS"
    ANDROID = "ANDROID"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # the last try failed; another is scheduled
    DEAD = "DEAD"  # gave up: retries exhausted or the target is gone
    SKIPPED = "SKIPPED"  # nothing to send to (e.g. no WeChat consent left)


class OutboxEvent(Stored):
    """An event to announce, written in the transaction of the change it announces.

    The integer key orders events, and the relay publishes them in that order, which for one
    entity is commit order (its workflow holds the entity's row lock).
    """

    id = fields.BigIntField(primary_key=True)
    event_id = fields.UUIDField(unique=True, default=uuid.uuid4)
    event_type = fields.CharField(max_length=64)
    entity_type = fields.CharField(max_length=32)
    entity_id = fields.CharField(max_length=64)
    customer_id = fields.UUIDField(null=True)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    published_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "outbox_event"


class Notification(Entity):
    """One entry of a customer's in-app inbox."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="notifications", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    event_id = fields.UUIDField()
    kind = fields.CharField(max_length=64)
    title = fields.CharField(max_length=128)
    body = fields.TextField()
    deep_link = fields.CharField(max_length=255)
    mini_program_page = fields.CharField(max_length=255)
    urgent = fields.BooleanField(default=False)
    data: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)  # display values
    read_at = fields.DatetimeField(null=True)

    deliveries: fields.ReverseRelation[Delivery]

    class Meta:
        table = "notification"
        unique_together = (("customer", "event_id"),)
        indexes = (("customer_id", "read_at"),)


class Device(Entity):
    """An app installation that can receive push messages."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="devices", on_delete=fields.CASCADE, db_index=True
    )
    customer_id: uuid.UUID
    platform = fields.CharEnumField(DevicePlatform, max_length=16)
    token = fields.CharField(max_length=255, unique=True)
    last_seen_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "device"


class NotificationPreference(Entity):
    """Which channels a customer wants for one kind of event (absent: the defaults)."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="notification_preferences", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    kind = fields.CharField(max_length=64)
    channels: fields.JSONField[list[str]] = fields.JSONField(default=list)

    class Meta:
        table = "notification_preference"
        unique_together = (("customer", "kind"),)


class QuietHours(Entity):
    """No non-urgent push between ``start_minute`` and ``end_minute`` (Asia/Shanghai)."""

    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="quiet_hours", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    start_minute = fields.IntField()
    end_minute = fields.IntField()

    class Meta:
        table = "quiet_hours"


class WechatConsent(Entity):
    """One-time subscribe-message grants left per customer and template: WeChat allows
    one message per grant, so each send uses one up."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="wechat_consents", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)

    class Meta:
        table = "wechat_consent"
        unique_together = (("customer", "template_id"),)


class Delivery(Entity):
    """One message on one channel to one target, with the status staff see."""

    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    notification_id: uuid.UUID
    channel = fields.CharEnumField(Channel, max_length=16)
    target = fields.CharField(max_length=255)  # device token, openid, phone hash, e-mail hash
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    last_error = fields.CharField(max_length=255, null=True)
    provider_message_id = fields.CharField(max_length=128, null=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"
        unique_together = (("notification", "channel", "target"),)
