"""Value-added services (增值服务) and the partners who deliver them (第三方合作).

``Partner`` is a company we send bookings to (a hospital network, a roadside-assistance
provider); its shared secret is never stored here (``ANXIN_PARTNER_SECRETS``, see the
README). ``BenefitService`` is one service of the catalogue: which tiers and which
products include it and how many times a customer may use it per year.

``ServiceBooking`` is one use. The yearly quota is enforced by the database, not by a
count in Python: a booking that uses the quota holds one ``BenefitUsage`` row, unique
per (customer, service, year, slot) with ``slot`` in 1..quota; two concurrent bookings
for the last slot insert the same key and only one row exists afterwards. Cancelling
deletes the row, which gives the slot back.

``PartnerEvent`` records every callback event a partner sent, unique per partner and
event id: a replayed callback finds its row and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import Customer
    from models.policies import Policy


class PartnerKind(StrEnum):
    MEDICAL = "MEDICAL"  # hospitals, online doctors, dentists
    HEALTH = "HEALTH"  # check-up centres, health management
    TRAVEL = "TRAVEL"  # travel emergency assistance
    AUTO = "AUTO"  # roadside assistance and towing


class ServiceKind(StrEnum):
    GREEN_CHANNEL = "GREEN_CHANNEL"  # 就医绿色通道 (hospital booking)
    ONLINE_DOCTOR = "ONLINE_DOCTOR"  # 在线问诊
    CHECK_UP = "CHECK_UP"  # 年度体检
    DENTAL = "DENTAL"  # 齿科
    ROADSIDE = "ROADSIDE"  # 道路救援 / 拖车
    TRAVEL_EMERGENCY = "TRAVEL_EMERGENCY"  # 旅行紧急救援


class BookingMethod(StrEnum):
    APPOINTMENT = "APPOINTMENT"  # the customer picks a time; the partner confirms it
    ON_DEMAND = "ON_DEMAND"  # as soon as possible (a doctor online, a tow truck)


class BookingState(StrEnum):
    REQUESTED = "REQUESTED"  # sent to the partner, not confirmed yet
    CONFIRMED = "CONFIRMED"  # the partner accepted it (and the time)
    DISPATCHED = "DISPATCHED"  # roadside: a vehicle is assigned
    EN_ROUTE = "EN_ROUTE"  # roadside: on the way, with an ETA
    ARRIVED = "ARRIVED"  # roadside: at the customer
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"  # the customer did not come (or was not there)


TERMINAL_STATES = frozenset({BookingState.DONE, BookingState.CANCELLED, BookingState.NO_SHOW})


class Entitlement(StrEnum):
    TIER = "TIER"  # the customer's membership tier includes the service
    POLICY = "POLICY"  # a policy in force of a product that includes it


class RoadsideNeed(StrEnum):
    TOW = "TOW"  # 拖车
    BATTERY = "BATTERY"  # 搭电
    TYRE = "TYRE"  # 换胎
    FUEL = "FUEL"  # 送油
    LOCKOUT = "LOCKOUT"  # 开锁


class Partner(Entity):
    code = fields.CharField(max_length=32, unique=True)  # in the callback URL
    name = fields.CharField(max_length=64)
    kind = fields.CharEnumField(PartnerKind, max_length=16)
    # Where its API is; NULL: the sandbox partner (development only).
    base_url = fields.CharField(max_length=200, null=True)
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "partner"


class BenefitService(Entity):
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    description = fields.TextField(default="")
    kind = fields.CharEnumField(ServiceKind, max_length=24)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="services", on_delete=fields.RESTRICT
    )
    partner_id: uuid.UUID
    # Who is entitled: members of these tiers, or holders/insured persons of a policy in
    # force of one of these product kinds or product codes.
    tiers: fields.JSONField[list[str]] = fields.JSONField(default=list)
    product_kinds: fields.JSONField[list[str]] = fields.JSONField(default=list)
    product_codes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    yearly_quota = fields.IntField()  # uses per customer and calendar year (Asia/Shanghai)
    booking_method = fields.CharEnumField(BookingMethod, max_length=16)
    active = fields.BooleanField(default=True)
    version = fields.IntField(default=1)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "benefit_service"


class ServiceBooking(Entity):
    number = fields.CharField(max_length=32, unique=True)  # FW20261202000001
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="service_bookings", on_delete=fields.RESTRICT
    )
    customer_id: uuid.UUID
    service: fields.ForeignKeyRelation[BenefitService] = fields.ForeignKeyField(
        "models.BenefitService", related_name="bookings", on_delete=fields.RESTRICT
    )
    service_id: uuid.UUID
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="bookings", on_delete=fields.RESTRICT
    )
    partner_id: uuid.UUID
    entitlement = fields.CharEnumField(Entitlement, max_length=8)
    # The policy the entitlement came from (POLICY), and a roadside request's car policy.
    policy: fields.ForeignKeyNullableRelation[Policy] = fields.ForeignKeyField(
        "models.Policy", related_name="service_bookings", null=True, on_delete=fields.RESTRICT
    )
    policy_id: uuid.UUID | None
    quota_year = fields.IntField()
    state = fields.CharEnumField(BookingState, max_length=16, db_index=True)
    preferred_at: datetime | None = fields.DatetimeField(null=True)  # APPOINTMENT
    scheduled_at: datetime | None = fields.DatetimeField(null=True)  # as the partner confirmed
    note = fields.CharField(max_length=500, default="")
    partner_reference = fields.CharField(max_length=64, null=True)
    # The times a service promise is measured by (arrives within 60 minutes: arrived_at -
    # requested_at), each set once, by the first event that reaches its state.
    requested_at: datetime = fields.DatetimeField()
    confirmed_at: datetime | None = fields.DatetimeField(null=True)
    dispatched_at: datetime | None = fields.DatetimeField(null=True)
    arrived_at: datetime | None = fields.DatetimeField(null=True)
    finished_at: datetime | None = fields.DatetimeField(null=True)  # DONE, CANCELLED, NO_SHOW
    eta_at: datetime | None = fields.DatetimeField(null=True)  # EN_ROUTE: expected arrival
    cancel_reason = fields.CharField(max_length=200, default="")
    # The last partner event applied: later events with a lower sequence are stale.
    partner_sequence = fields.IntField(default=0)
    # Roadside assistance (道路救援).
    need = fields.CharEnumField(RoadsideNeed, max_length=16, null=True)
    latitude: Decimal | None = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    longitude: Decimal | None = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    address = fields.CharField(max_length=200, default="")
    plate_number = fields.CharField(max_length=16, default="")
    version = fields.IntField(default=1)

    class Meta:
        table = "service_booking"
        ordering = ("-requested_at",)


class BenefitUsage(Entity):
    """One used unit of a yearly quota: the unique key is the quota."""

    customer_id = fields.UUIDField()
    service_id = fields.UUIDField()
    year = fields.IntField()
    slot = fields.IntField()  # 1..yearly_quota
    booking_id = fields.UUIDField(unique=True)

    class Meta:
        table = "benefit_usage"
        unique_together = (("customer_id", "service_id", "year", "slot"),)


class PartnerEvent(Entity):
    """A callback event as received (replays are refused by the unique key)."""

    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="events", on_delete=fields.CASCADE
    )
    partner_id: uuid.UUID
    event_id = fields.CharField(max_length=64)
    booking_id = fields.UUIDField(null=True)
    sequence = fields.IntField()
    state = fields.CharField(max_length=16)
    applied = fields.BooleanField()  # False: stale or not a valid transition, ignored
    body: fields.JSONField[dict[str, Any]] = fields.JSONField()

    class Meta:
        table = "partner_event"
        unique_together = (("partner", "event_id"),)
