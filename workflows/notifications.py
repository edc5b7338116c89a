"""A customer's side of notifications: devices, inbox reads, channel choices, quiet
hours and WeChat subscribe-message grants."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from strawberry import relay
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.notifications import (
    Channel,
    Device,
    DevicePlatform,
    Notification,
    NotificationPreference,
    QuietHours,
    WechatConsent,
)
from push.fanout import DEFAULT_QUIET_HOURS, default_channels
from push.templates import TEMPLATES
from workflows.errors import DomainError

TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DEVICE_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_:\-.]{32,255}$")
MAX_WECHAT_GRANTS = 50  # a runaway client must not bank unlimited messages


class NotificationErrorCode(StrEnum):
    INVALID_TOKEN = "INVALID_TOKEN"
    UNKNOWN_KIND = "UNKNOWN_KIND"
    CHANNEL_NOT_AVAILABLE = "CHANNEL_NOT_AVAILABLE"
    INVALID_TIME = "INVALID_TIME"
    NOTHING_SELECTED = "NOTHING_SELECTED"
    UNKNOWN_TEMPLATE = "UNKNOWN_TEMPLATE"


class NotificationError(DomainError):
    codes = NotificationErrorCode


def kind_title(kind: str) -> str:
    return TEMPLATES[kind].title


def available_channels(kind: str) -> list[Channel]:
    return default_channels(TEMPLATES[kind])


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_customer_id(global_id: relay.GlobalID) -> uuid.UUID | None:
    if global_id.type_name != "Customer":
        return None
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError:
        return None


async def unread_count(customer_id: uuid.UUID) -> int:
    return await Notification.filter(customer_id=customer_id, read_at=None).count()


async def register_device(customer_id: uuid.UUID, platform: DevicePlatform, token: str) -> Device:
    """A token belongs to one installation: registering it moves it to this customer
    (the phone changed hands or another account logged in)."""
    token = token.strip()
    if not DEVICE_TOKEN_PATTERN.match(token):
        raise NotificationError(NotificationErrorCode.INVALID_TOKEN, "设备推送令牌无效", "token")
    async with in_transaction():
        device = await Device.filter(token=token).select_for_update().first()
        if device is None:
            return await Device.create(customer_id=customer_id, platform=platform, token=token)
        await Device.filter(id=device.id).update(customer_id=customer_id, platform=platform)
        await device.refresh_from_db()
        return device


async def unregister_device(customer_id: uuid.UUID, token: str) -> None:
    await Device.filter(customer_id=customer_id, token=token.strip()).delete()


async def mark_read(
    customer_id: uuid.UUID, ids: list[relay.GlobalID] | None, *, mark_all: bool
) -> list[Notification]:
    """Mark the customer's unread entries read (these, or all); the entries this call
    read, newest first, as they are now (the answer a client's cache updates from).
    An entry arriving meanwhile stays unread: only what was unread when asked is read."""
    unread = Notification.filter(customer_id=customer_id, read_at=None)
    if not mark_all:
        wanted = [
            uuid.UUID(gid.node_id)
            for gid in ids or []
            if gid.type_name == "Notification" and _is_uuid(gid.node_id)
        ]
        if not wanted:
            raise NotificationError(
                NotificationErrorCode.NOTHING_SELECTED, "请选择要标记为已读的消息", "ids"
            )
        unread = unread.filter(id__in=wanted)
    chosen = await unread.values_list("id", flat=True)
    if not chosen:
        return []
    now = datetime.now(UTC)
    await Notification.filter(id__in=chosen, read_at=None).update(read_at=now)
    return await Notification.filter(id__in=chosen).order_by("-created_at", "-id")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def preferences(customer_id: uuid.UUID) -> dict[str, list[Channel]]:
    saved = {
        p.kind: [Channel(c) for c in p.channels]
        for p in await NotificationPreference.filter(customer_id=customer_id)
    }
    return {
        kind: saved.get(kind, default_channels(template)) for kind, template in TEMPLATES.items()
    }


async def set_preference(
    customer_id: uuid.UUID, kind: str, channels: list[Channel]
) -> list[Channel]:
    if kind not in TEMPLATES:
        raise NotificationError(NotificationErrorCode.UNKNOWN_KIND, "没有这种消息类型", "kind")
    allowed = available_channels(kind)
    if any(channel not in allowed for channel in channels):
        raise NotificationError(
            NotificationErrorCode.CHANNEL_NOT_AVAILABLE, "该消息不支持所选的通知方式", "channels"
        )
    chosen = [c for c in allowed if c in channels]  # stable order, no duplicates
    await NotificationPreference.update_or_create(
        customer_id=customer_id, kind=kind, defaults={"channels": [str(c) for c in chosen]}
    )
    return chosen


async def quiet_hours(customer_id: uuid.UUID) -> tuple[int, int] | None:
    saved = await QuietHours.get_or_none(customer_id=customer_id)
    if saved is None:
        return DEFAULT_QUIET_HOURS
    if saved.start_minute == saved.end_minute:
        return None  # switched off
    return saved.start_minute, saved.end_minute


def _minute(value: str, field: str) -> int:
    match = TIME_PATTERN.match(value.strip())
    if match is None:
        raise NotificationError(
            NotificationErrorCode.INVALID_TIME, "时间格式应为 HH:MM，例如 22:00", field
        )
    return int(match.group(1)) * 60 + int(match.group(2))


async def set_quiet_hours(
    customer_id: uuid.UUID, start: str | None, end: str | None
) -> tuple[int, int] | None:
    """Both None switches quiet hours off (stored as an empty interval)."""
    if start is None and end is None:
        start_minute = end_minute = 0
    else:
        start_minute = _minute(start or "", "start")
        end_minute = _minute(end or "", "end")
        if start_minute == end_minute:
            raise NotificationError(
                NotificationErrorCode.INVALID_TIME, "开始和结束时间不能相同", "end"
            )
    await QuietHours.update_or_create(
        customer_id=customer_id,
        defaults={"start_minute": start_minute, "end_minute": end_minute},
    )
    return await quiet_hours(customer_id)


async def record_wechat_grants(
    customer_id: uuid.UUID, template_ids: list[str], templates: Mapping[str, Mapping[str, Any]]
) -> int:
    """Count one sendable message per accepted template, as WeChat does."""
    known = {str(t["template_id"]) for t in templates.values() if "template_id" in t}
    unknown = [t for t in template_ids if t not in known]
    if unknown:
        raise NotificationError(
            NotificationErrorCode.UNKNOWN_TEMPLATE, "订阅消息模板无效", "acceptedTemplateIds"
        )
    for template_id in template_ids:
        consent, _ = await WechatConsent.get_or_create(
            customer_id=customer_id, template_id=template_id
        )
        await WechatConsent.filter(id=consent.id, remaining__lt=MAX_WECHAT_GRANTS).update(
            remaining=F("remaining") + 1
        )
    return len(template_ids)
