"""From one committed event to a customer's inbox entry and deliveries, following their
preferences and quiet hours. Runs inside the relay's transaction, and is repeatable:
a second run for the same event creates nothing new."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from models.clock import SHANGHAI
from models.customers import Customer, WechatIdentity
from models.notifications import (
    Channel,
    Delivery,
    Device,
    DevicePlatform,
    Notification,
    NotificationPreference,
    OutboxEvent,
    QuietHours,
)
from push.templates import TEMPLATES, EventTemplate, render

DEFAULT_QUIET_HOURS = (22 * 60, 8 * 60)  # 22:00 to 08:00, Asia/Shanghai
PLATFORM_CHANNEL = {DevicePlatform.IOS: Channel.APNS, DevicePlatform.ANDROID: Channel.FCM}


def default_channels(template: EventTemplate) -> list[Channel]:
    return [*template.channels, *([Channel.SMS] if template.sms else [])]


def quiet_until(now: datetime, start_minute: int, end_minute: int) -> datetime | None:
    """The end of the quiet period ``now`` falls in (Asia/Shanghai), or None."""
    local = now.astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    overnight = start_minute > end_minute
    inside = (
        (minute >= start_minute or minute < end_minute)
        if overnight
        else start_minute <= minute < end_minute
    )
    if not inside:
        return None
    end = datetime.combine(local.date(), time(end_minute // 60, end_minute % 60), SHANGHAI)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(UTC)


async def chosen_channels(customer_id: uuid.UUID, template: EventTemplate) -> list[Channel]:
    preference = await NotificationPreference.get_or_none(
        customer_id=customer_id, kind=template.kind
    )
    if preference is None:
        return default_channels(template)
    allowed = set(default_channels(template))
    return [Channel(c) for c in preference.channels if Channel(c) in allowed]


async def _targets(customer_id: uuid.UUID, channels: list[Channel]) -> list[tuple[Channel, str]]:
    targets: list[tuple[Channel, str]] = []
    if Channel.APNS in channels or Channel.FCM in channels:
        for device in await Device.filter(customer_id=customer_id).order_by("created_at"):
            channel = PLATFORM_CHANNEL[device.platform]
            if channel in channels:
                targets.append((channel, device.token))
    if Channel.WECHAT in channels:
        for identity in await WechatIdentity.filter(customer_id=customer_id):
            targets.append((Channel.WECHAT, identity.openid))
    if Channel.SMS in channels:
        targets.append((Channel.SMS, f"customer:{customer_id}"))
    if Channel.EMAIL in channels and await Customer.exists(
        id=customer_id, email_encrypted__isnull=False
    ):
        targets.append((Channel.EMAIL, f"customer:{customer_id}"))
    return targets


def display_values(payload: Mapping[str, Any]) -> dict[str, str]:
    """What templates may show: the event's display values (keys with ``_`` are routing)."""
    return {k: str(v) for k, v in payload.items() if not k.startswith("_")}


@dataclass
class FanOut:
    notification: Notification | None  # the inbox entry, for live subscribers
    due_deliveries: list[uuid.UUID]  # to send now (quiet hours hold the others back)


async def fan_out(event: OutboxEvent, now: datetime | None = None) -> FanOut:
    """Write the inbox entry and deliveries of ``event``."""
    template = TEMPLATES.get(event.event_type)
    if event.customer_id is None or template is None:
        return FanOut(None, [])
    message = render(event.event_type, event.payload)
    notification, created = await Notification.get_or_create(
        customer_id=event.customer_id,
        event_id=event.event_id,
        defaults={
            "kind": message.kind,
            "title": message.title,
            "body": message.body,
            "deep_link": message.deep_link,
            "mini_program_page": message.mini_program_page,
            "urgent": message.urgent,
            "data": display_values(event.payload),
        },
    )
    if not created:  # a relay crashed after writing this: resend what is still pending
        pending = await Delivery.filter(notification_id=notification.id, sent_at=None)
        return FanOut(notification, [d.id for d in pending])
    now = now or datetime.now(UTC)
    not_before = None
    if not message.urgent:
        quiet = await QuietHours.get_or_none(customer_id=event.customer_id)
        start, end = (quiet.start_minute, quiet.end_minute) if quiet else DEFAULT_QUIET_HOURS
        not_before = quiet_until(now, start, end)
    channels = await chosen_channels(event.customer_id, template)
    deliveries = [
        Delivery(
            id=uuid.uuid4(),
            notification_id=notification.id,
            channel=channel,
            target=target,
            next_attempt_at=not_before,
        )
        for channel, target in await _targets(event.customer_id, channels)
    ]
    if deliveries:
        await Delivery.bulk_create(deliveries)
    return FanOut(notification, [d.id for d in deliveries if d.next_attempt_at is None])


def notification_from_message(entry: Mapping[str, Any], customer_id: uuid.UUID) -> Notification:
    """The inbox entry carried in a bus message: each subscriber has it without a query
    of its own (1,000 sockets of one customer, one database read: the relay's)."""
    return Notification(
        id=uuid.UUID(entry["id"]),
        customer_id=customer_id,
        event_id=uuid.UUID(entry["eventId"]),
        kind=entry["kind"],
        title=entry["title"],
        body=entry["body"],
        deep_link=entry["deepLink"],
        mini_program_page=entry["miniProgramPage"],
        urgent=entry["urgent"],
        created_at=datetime.fromisoformat(entry["createdAt"]),
        read_at=None,
    )


def notification_message(notification: Notification) -> dict[str, Any]:
    return {
        "id": str(notification.id),
        "eventId": str(notification.event_id),
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "deepLink": notification.deep_link,
        "miniProgramPage": notification.mini_program_page,
        "urgent": notification.urgent,
        "createdAt": notification.created_at.isoformat(),
    }
