"""The in-app inbox, devices, notification preferences and the live ``myNotifications``
subscription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import notifications as m
from models.clock import local_time
from push.fanout import notification_from_message
from schema.common import Connection, CursorArg, PageArg, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, staff_only
from schema.shared_events import per_event
from workflows import notifications as flows
from workflows.access import Actor, Permission

strawberry.enum(m.Channel, description="A way of reaching a customer.")
strawberry.enum(m.DevicePlatform, description="The operating system of an app installation.")
strawberry.enum(m.DeliveryStatus, description="Where one message on one channel stands.")
NOTIFICATION_CODES = ErrorCodes(
    "NotificationErrorCode", "Why a notification change failed.", flows.NotificationError
)


@answers_with(NOTIFICATION_CODES)
@strawberry.type(description="A failed notification-related change.")
class NotificationError(Error):
    code: str = strawberry.field(graphql_type=NOTIFICATION_CODES.enum, description=CODE)


@strawberry.type(description="How one message went out on one channel (staff only).")
class Delivery:
    channel: m.Channel = strawberry.field(description="The channel.")
    status: m.DeliveryStatus = strawberry.field(description="Current status.")
    attempts: int = strawberry.field(description="Tries so far.")
    last_error: str | None = strawberry.field(description="Why the last try failed.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next.")
    sent_at: datetime | None = strawberry.field(description="When the provider accepted it.")


@strawberry.type(description="An entry of the customer's in-app inbox.")
class Notification(relay.Node):
    model: strawberry.Private[m.Notification]
    id: relay.NodeID[str]
    kind: str = strawberry.field(description="The kind of event, e.g. `claim.decided`.")
    title: str = strawberry.field(description="Short title, in Chinese.")
    body: str = strawberry.field(description="The message, in Chinese.")
    deep_link: str = strawberry.field(description="Where the app opens on tap.")
    mini_program_page: str = strawberry.field(description="The mini-program page to open.")
    urgent: bool = strawberry.field(description="Urgent messages may break quiet hours.")
    read: bool = strawberry.field(description="Whether the customer has read it.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_model(cls, model: m.Notification) -> Notification:
        return cls(
            model=model,
            id=str(model.id),
            kind=model.kind,
            title=model.title,
            body=model.body,
            deep_link=model.deep_link,
            mini_program_page=model.mini_program_page,
            urgent=model.urgent,
            read=model.read_at is not None,
            created_at=local_time(model.created_at),
        )

    @strawberry.field(
        description="Staff: how it went out on each channel.",
        permission_classes=staff_only(Permission.NOTIFICATION_READ),
    )
    async def deliveries(self, info: Info) -> list[Delivery]:
        rows = await info.context.loaders.deliveries.load(self.model.id)
        return [
            Delivery(
                channel=row.channel,
                status=row.status,
                attempts=row.attempts,
                last_error=row.last_error,
                next_attempt_at=local_time(row.next_attempt_at) if row.next_attempt_at else None,
                sent_at=local_time(row.sent_at) if row.sent_at else None,
            )
            for row in rows
        ]


@strawberry.type(description="Which channels carry one kind of event to me.")
class NotificationPreference(relay.Node):
    """An entity: one per customer and kind of event, changed by
    `setNotificationPreference`. Its ID is derived from the two (``preference_id``), so
    a kind the customer never changed (no row, the defaults) has the same ID before and
    after its first change."""

    id: relay.NodeID[str]
    kind: str = strawberry.field(description="The kind of event.")
    title: str = strawberry.field(description="Its name, in Chinese.")
    channels: list[m.Channel] = strawberry.field(description="The channels I chose.")
    available_channels: list[m.Channel] = strawberry.field(
        description="The channels this kind can use."
    )


@strawberry.type(description="No non-urgent push between these times (Asia/Shanghai).")
class QuietHours:
    start: str = strawberry.field(description="`HH:MM`, e.g. `22:00`.")
    end: str = strawberry.field(description="`HH:MM`, e.g. `08:00`.")


@strawberry.type(description="A registered app installation.")
class Device(relay.Node):
    """An entity: one row per push token, its customer's while registered to them."""

    id: relay.NodeID[str]
    platform: m.DevicePlatform = strawberry.field(description="iOS or Android.")
    registered_at: datetime = strawberry.field(description="When it was first registered.")


@strawberry.input(description="Register this app installation for push messages.")
class RegisterDeviceInput:
    platform: m.DevicePlatform = strawberry.field(description="iOS or Android.")
    token: str = strawberry.field(description="The APNs device token or FCM registration token.")


@strawberry.input(description="Stop push messages to this app installation.")
class UnregisterDeviceInput:
    token: str = strawberry.field(description="The token given to `registerDevice`.")


@strawberry.input(description="Mark inbox entries as read.")
class MarkNotificationsReadInput:
    ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="These entries; omit with `all: true`."
    )
    all: bool = strawberry.field(default=False, description="Every unread entry.")


@strawberry.input(description="Choose the channels of one kind of event.")
class SetNotificationPreferenceInput:
    kind: str = strawberry.field(description="The kind of event.")
    channels: list[m.Channel] = strawberry.field(description="Any of its available channels.")


@strawberry.input(description="Set quiet hours; both null switches them off.")
class SetQuietHoursInput:
    start: str | None = strawberry.field(description="`HH:MM`.")
    end: str | None = strawberry.field(description="`HH:MM`.")


@strawberry.input(
    description="The mini-program reports the templates a user accepted in "
    "`wx.requestSubscribeMessage`: each grant allows one message."
)
class ReportWechatSubscriptionInput:
    accepted_template_ids: list[str] = strawberry.field(description="Templates answered accept.")


@strawberry.type(description="The result of registering or unregistering a device.")
class DevicePayload:
    device: Device | None = strawberry.field(description="The device, when registered.")
    errors: list[NotificationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of marking notifications read.")
class MarkNotificationsReadPayload:
    notifications: list[Notification] = strawberry.field(
        default_factory=list,
        description="The entries this call marked read (`read: true`), newest first; "
        "entries that were read already are not repeated.",
    )
    unread_count: int = strawberry.field(
        description="Unread entries left (what `unreadNotificationCount` answers now)."
    )
    errors: list[NotificationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of changing a preference.")
class NotificationPreferencePayload:
    preference: NotificationPreference | None = strawberry.field(description="As saved.")
    errors: list[NotificationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of setting quiet hours.")
class QuietHoursPayload:
    quiet_hours: QuietHours | None = strawberry.field(description="As saved; null when off.")
    errors: list[NotificationError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of reporting WeChat subscription grants.")
class ReportWechatSubscriptionPayload:
    recorded: int = strawberry.field(description="How many grants were counted.")
    errors: list[NotificationError] = strawberry.field(description="Empty on success.")


# The uuid5 namespace of preference IDs: clients keep IDs made under it, never change it.
PREFERENCE_IDS = uuid.UUID("0d6f6c55-5c1e-4d43-9d0b-6a3f1e6b2a7c")


def preference_id(customer_id: uuid.UUID, kind: str) -> uuid.UUID:
    """A customer's preference for a kind has this ID whether or not a row holds it."""
    return uuid.uuid5(PREFERENCE_IDS, f"{customer_id}/{kind}")


def _preference(
    customer_id: uuid.UUID, kind: str, channels: list[m.Channel]
) -> NotificationPreference:
    return NotificationPreference(
        id=str(preference_id(customer_id, kind)),
        kind=kind,
        title=flows.kind_title(kind),
        channels=channels,
        available_channels=flows.available_channels(kind),
    )


def _quiet(hours: tuple[int, int] | None) -> QuietHours | None:
    if hours is None:
        return None
    return QuietHours(start=flows.format_minute(hours[0]), end=flows.format_minute(hours[1]))


def _customer_id(info: Info) -> uuid.UUID:
    subject = info.context.actor.subject_id
    assert subject is not None
    return subject


def _device(device: m.Device) -> Device:
    return Device(
        id=str(device.id), platform=device.platform, registered_at=local_time(device.created_at)
    )


async def preference_node(actor: Actor, object_id: uuid.UUID) -> NotificationPreference | None:
    """As `notificationPreferences`: a customer's own; the ID names one of their kinds."""
    if not actor.is_customer or actor.subject_id is None:
        return None
    chosen = await flows.preferences(actor.subject_id)
    for kind, channels in chosen.items():
        if preference_id(actor.subject_id, kind) == object_id:
            return _preference(actor.subject_id, kind, channels)
    return None


async def device_node(actor: Actor, object_id: uuid.UUID) -> Device | None:
    """As `registerDevice` answers it: a customer's own installations only."""
    if not actor.is_customer:
        return None
    row = await m.Device.get_or_none(id=object_id, customer_id=actor.subject_id)
    return _device(row) if row else None


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="My inbox, newest first.", permission_classes=CUSTOMER_ONLY)
    async def notifications(
        self,
        info: Info,
        unread_only: Annotated[
            bool, strawberry.argument(description="Only entries I have not read.")
        ] = False,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[Notification]:
        queryset = m.Notification.filter(customer_id=_customer_id(info))
        if unread_only:
            queryset = queryset.filter(read_at=None)
        return await paginate(
            queryset.order_by("-created_at", "-id"),
            Notification.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="How many inbox entries I have not read.", permission_classes=CUSTOMER_ONLY
    )
    async def unread_notification_count(self, info: Info) -> int:
        return await flows.unread_count(_customer_id(info))

    @strawberry.field(
        description="My channel choice for every kind of event.", permission_classes=CUSTOMER_ONLY
    )
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        customer_id = _customer_id(info)
        chosen = await flows.preferences(customer_id)
        return [_preference(customer_id, kind, channels) for kind, channels in chosen.items()]

    @strawberry.field(
        description="My quiet hours; null when off.", permission_classes=CUSTOMER_ONLY
    )
    async def quiet_hours(self, info: Info) -> QuietHours | None:
        return _quiet(await flows.quiet_hours(_customer_id(info)))

    @strawberry.field(
        description="Staff: a customer's inbox with delivery status, newest first.",
        permission_classes=staff_only(Permission.NOTIFICATION_READ),
    )
    async def customer_notifications(
        self,
        customer_id: Annotated[relay.GlobalID, strawberry.argument(description="The customer.")],
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[Notification]:
        queryset = m.Notification.filter(customer_id=flows.parse_customer_id(customer_id))
        return await paginate(
            queryset.order_by("-created_at", "-id"),
            Notification.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        description="Register this device for push.", permission_classes=CUSTOMER_ONLY
    )
    async def register_device(
        self,
        info: Info,
        input: Annotated[
            RegisterDeviceInput,
            strawberry.argument(description="The platform and push token of this installation."),
        ],
    ) -> DevicePayload:
        try:
            device = await flows.register_device(_customer_id(info), input.platform, input.token)
        except flows.NotificationError as error:
            return DevicePayload(device=None, errors=payload_errors(error, NotificationError))
        return DevicePayload(device=_device(device), errors=[])

    @strawberry.mutation(
        description="Stop push to this device (e.g. at logout).", permission_classes=CUSTOMER_ONLY
    )
    async def unregister_device(
        self,
        info: Info,
        input: Annotated[
            UnregisterDeviceInput,
            strawberry.argument(description="The push token to stop sending to."),
        ],
    ) -> DevicePayload:
        await flows.unregister_device(_customer_id(info), input.token)
        return DevicePayload(device=None, errors=[])

    @strawberry.mutation(description="Mark inbox entries read.", permission_classes=CUSTOMER_ONLY)
    async def mark_notifications_read(
        self,
        info: Info,
        input: Annotated[
            MarkNotificationsReadInput,
            strawberry.argument(description="Which inbox entries to mark read: some, or all."),
        ],
    ) -> MarkNotificationsReadPayload:
        customer_id = _customer_id(info)
        try:
            changed = await flows.mark_read(customer_id, input.ids, mark_all=input.all)
        except flows.NotificationError as error:
            return MarkNotificationsReadPayload(
                unread_count=await flows.unread_count(customer_id),
                errors=payload_errors(error, NotificationError),
            )
        return MarkNotificationsReadPayload(
            notifications=[Notification.from_model(row) for row in changed],
            unread_count=await flows.unread_count(customer_id),
            errors=[],
        )

    @strawberry.mutation(
        description="Choose the channels of one kind of event.", permission_classes=CUSTOMER_ONLY
    )
    async def set_notification_preference(
        self,
        info: Info,
        input: Annotated[
            SetNotificationPreferenceInput,
            strawberry.argument(description="The kind of event and the channels to carry it."),
        ],
    ) -> NotificationPreferencePayload:
        customer_id = _customer_id(info)
        try:
            channels = await flows.set_preference(customer_id, input.kind, input.channels)
        except flows.NotificationError as error:
            return NotificationPreferencePayload(
                preference=None, errors=payload_errors(error, NotificationError)
            )
        return NotificationPreferencePayload(
            preference=_preference(customer_id, input.kind, channels), errors=[]
        )

    @strawberry.mutation(description="Set or clear quiet hours.", permission_classes=CUSTOMER_ONLY)
    async def set_quiet_hours(
        self,
        info: Info,
        input: Annotated[
            SetQuietHoursInput,
            strawberry.argument(description="The quiet period, or both null to switch it off."),
        ],
    ) -> QuietHoursPayload:
        try:
            hours = await flows.set_quiet_hours(_customer_id(info), input.start, input.end)
        except flows.NotificationError as error:
            return QuietHoursPayload(
                quiet_hours=None, errors=payload_errors(error, NotificationError)
            )
        return QuietHoursPayload(quiet_hours=_quiet(hours), errors=[])

    @strawberry.mutation(
        description="Record WeChat subscribe-message grants.", permission_classes=CUSTOMER_ONLY
    )
    async def report_wechat_subscription(
        self,
        info: Info,
        input: Annotated[
            ReportWechatSubscriptionInput,
            strawberry.argument(
                description="The templates the user accepted in `wx.requestSubscribeMessage`."
            ),
        ],
    ) -> ReportWechatSubscriptionPayload:
        try:
            recorded = await flows.record_wechat_grants(
                _customer_id(info),
                input.accepted_template_ids,
                info.context.services.settings.wechat_message_templates,
            )
        except flows.NotificationError as error:
            return ReportWechatSubscriptionPayload(
                recorded=0, errors=payload_errors(error, NotificationError)
            )
        return ReportWechatSubscriptionPayload(recorded=recorded, errors=[])


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(
        description="My new inbox entries, live.", permission_classes=CUSTOMER_ONLY
    )
    async def my_notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        customer_id = _customer_id(info)
        async for event in info.context.services.bus.subscribe(f"customer:{customer_id}"):
            entry = event.get("notification")
            if entry is not None:
                # One object per message for all this customer's sockets in this process:
                # their answers are then computed once (schema.shared_events).
                yield per_event(
                    event, ("notification", customer_id), partial(_live, entry, customer_id)
                )


def _live(entry: dict[str, Any], customer_id: uuid.UUID) -> Notification:
    return Notification.from_model(notification_from_message(entry, customer_id))
