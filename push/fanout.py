"""From committed events to customers' inbox entries and deliveries, following their
preferences and quiet hours. Runs inside the relay's transaction on a whole batch, and is
repeatable: a second run for the same event creates nothing new."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from models.clock import SHANGHAI
from models.customers import Customer, WechatIdentity
from models.inbox_rows import DeliveryRow, InboxRow, insert_deliveries, insert_inbox
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
from models.privacy import MarketingConsent
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


@dataclass
class Recipients:
    """What fan-out needs to know of a batch's customers, read in one query per table
    (not one per event: 1,000 events of 1,000 customers cost 5 reads, not 5,000)."""

    preferences: dict[tuple[uuid.UUID, str], list[str]]
    quiet_hours: dict[uuid.UUID, tuple[int, int]]
    devices: dict[uuid.UUID, list[tuple[DevicePlatform, str]]]  # (platform, token)
    wechat_openids: dict[uuid.UUID, list[str]]
    with_email: set[uuid.UUID]
    marketing_consent: set[uuid.UUID]  # who may receive marketing (营销信息)

    @classmethod
    async def read(cls, customer_ids: set[uuid.UUID]) -> Recipients:
        ids = list(customer_ids)
        preferences = {
            (customer_id, kind): list(channels)
            for customer_id, kind, channels in await NotificationPreference.filter(
                customer_id__in=ids
            ).values_list("customer_id", "kind", "channels")
        }
        quiet = {
            customer_id: (start, end)
            for customer_id, start, end in await QuietHours.filter(customer_id__in=ids).values_list(
                "customer_id", "start_minute", "end_minute"
            )
        }
        devices: dict[uuid.UUID, list[tuple[DevicePlatform, str]]] = {}
        for customer_id, platform, token in (
            await Device.filter(customer_id__in=ids)
            .order_by("created_at", "id")
            .values_list("customer_id", "platform", "token")
        ):
            devices.setdefault(customer_id, []).append((DevicePlatform(platform), token))
        openids: dict[uuid.UUID, list[str]] = {}
        for customer_id, openid in (
            await WechatIdentity.filter(customer_id__in=ids)
            .order_by("id")
            .values_list("customer_id", "openid")
        ):
            openids.setdefault(customer_id, []).append(openid)
        with_email = set(
            await Customer.filter(id__in=ids, email_encrypted__isnull=False).values_list(
                "id", flat=True
            )
        )
        consenting = set(
            await MarketingConsent.filter(customer_id__in=ids, given=True).values_list(
                "customer_id", flat=True
            )
        )
        return cls(preferences, quiet, devices, openids, with_email, consenting)  # type: ignore[arg-type]

    def channels(self, customer_id: uuid.UUID, template: EventTemplate) -> list[Channel]:
        chosen = self.preferences.get((customer_id, template.kind))
        if chosen is None:
            return default_channels(template)
        allowed = set(default_channels(template))
        return [Channel(c) for c in chosen if Channel(c) in allowed]

    def targets(self, customer_id: uuid.UUID, channels: list[Channel]) -> list[tuple[Channel, str]]:
        targets: list[tuple[Channel, str]] = []
        for platform, token in self.devices.get(customer_id, []):
            channel = PLATFORM_CHANNEL[platform]
            if channel in channels:
                targets.append((channel, token))
        if Channel.WECHAT in channels:
            targets.extend((Channel.WECHAT, o) for o in self.wechat_openids.get(customer_id, []))
        if Channel.SMS in channels:
            targets.append((Channel.SMS, f"customer:{customer_id}"))
        if Channel.EMAIL in channels and customer_id in self.with_email:
            targets.append((Channel.EMAIL, f"customer:{customer_id}"))
        return targets

    def not_before(self, customer_id: uuid.UUID, now: datetime) -> datetime | None:
        start, end = self.quiet_hours.get(customer_id, DEFAULT_QUIET_HOURS)
        return quiet_until(now, start, end)


def display_values(payload: Mapping[str, Any]) -> dict[str, str]:
    """What templates may show: the event's display values (keys with ``_`` are routing)."""
    return {k: str(v) for k, v in payload.items() if not k.startswith("_")}


@dataclass
class FanOut:
    notification: Notification | InboxRow | None  # the inbox entry, for live subscribers
    due_deliveries: list[uuid.UUID]  # to send now (quiet hours hold the others back)


async def fan_out(events: Sequence[OutboxEvent], now: datetime | None = None) -> list[FanOut]:
    """Write the inbox entries and deliveries of ``events`` (one result per event, in
    order), with a fixed number of statements per batch whatever its size, the rows as
    tuples (``models.inbox_rows``), not model objects."""
    now = now or datetime.now(UTC)
    results = [FanOut(None, []) for _ in events]
    ours = [
        (i, e)
        for i, e in enumerate(events)
        if e.customer_id is not None and e.event_type in TEMPLATES
    ]
    if not ours:
        return results
    # A relay that crashed after writing some of these: resend what is still pending.
    written = {
        (n.customer_id, n.event_id): n
        for n in await Notification.filter(event_id__in=[e.event_id for _, e in ours])
    }
    pending: dict[uuid.UUID, list[uuid.UUID]] = {}
    if written:
        for delivery_id, notification_id in await Delivery.filter(
            notification_id__in=[n.id for n in written.values()], sent_at=None
        ).values_list("id", "notification_id"):
            pending.setdefault(notification_id, []).append(delivery_id)
    new = [(i, e) for i, e in ours if (e.customer_id, e.event_id) not in written]
    recipients = await Recipients.read({e.customer_id for _, e in new if e.customer_id})
    notifications: list[InboxRow] = []
    deliveries: list[DeliveryRow] = []
    for i, event in ours:
        customer_id = event.customer_id
        assert customer_id is not None
        if (found := written.get((customer_id, event.event_id))) is not None:
            results[i] = FanOut(found, pending.get(found.id, []))
            continue
        template = TEMPLATES[event.event_type]
        if template.marketing and customer_id not in recipients.marketing_consent:
            continue  # no marketing without consent: no inbox entry, no delivery
        message = render(event.event_type, event.payload)
        notification = InboxRow(
            id=uuid.uuid4(),
            customer_id=customer_id,
            event_id=event.event_id,
            kind=message.kind,
            title=message.title,
            body=message.body,
            deep_link=message.deep_link,
            mini_program_page=message.mini_program_page,
            urgent=message.urgent,
            data=display_values(event.payload),
            created_at=event.created_at,  # when it happened: the inbox keeps event order
        )
        notifications.append(notification)
        not_before = None if message.urgent else recipients.not_before(customer_id, now)
        mine = [
            DeliveryRow(uuid.uuid4(), notification.id, channel, target, not_before)
            for channel, target in recipients.targets(
                customer_id, recipients.channels(customer_id, template)
            )
        ]
        deliveries.extend(mine)
        due = [] if not_before is not None else [d.id for d in mine]
        results[i] = FanOut(notification, due)
    await insert_inbox(notifications)
    await insert_deliveries(deliveries, now)
    return results


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


def notification_message(notification: Notification | InboxRow) -> dict[str, Any]:
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
