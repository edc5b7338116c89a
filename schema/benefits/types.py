"""Value-added services in GraphQL: the catalogue, a customer's entitlements, bookings
(roadside requests included), partner figures; and their node resolvers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import benefits as m
from models.clock import local_time
from models.membership import MemberTier
from models.policies import ProductKind
from schema.commitments import CommitmentCase, cases_on
from schema.errors import CODE, Error, ErrorCodes, answers_with
from schema.membership import types as membership_types  # noqa: F401 - registers MemberTier
from schema.policies import types as policy_types  # noqa: F401 - registers ProductKind first
from workflows import benefits as flows
from workflows.access import Actor, Permission
from workflows.benefits.bookings import STATE_TEXT
from workflows.idempotency import IdempotencyError

strawberry.enum(m.PartnerKind, description="What a partner does: MEDICAL, HEALTH, TRAVEL, AUTO.")
strawberry.enum(
    m.ServiceKind,
    description="A value-added service: GREEN_CHANNEL (就医绿通), ONLINE_DOCTOR (在线问诊), "
    "CHECK_UP (体检), DENTAL (齿科), ROADSIDE (道路救援), TRAVEL_EMERGENCY (旅行救援).",
)
strawberry.enum(
    m.BookingMethod,
    description="APPOINTMENT: pick a time, the partner confirms it; ON_DEMAND: as soon as "
    "possible.",
)
strawberry.enum(
    m.BookingState,
    description="REQUESTED → CONFIRMED → (roadside: DISPATCHED → EN_ROUTE → ARRIVED) → DONE; "
    "or CANCELLED (quota given back) or NO_SHOW (quota used).",
)
strawberry.enum(m.Entitlement, description="Why a booking was allowed: the TIER or a POLICY.")
strawberry.enum(
    m.RoadsideNeed, description="What the car needs: TOW, BATTERY, TYRE, FUEL, LOCKOUT."
)

BENEFIT_CODES = ErrorCodes(
    "BenefitErrorCode",
    "Why a value-added service action failed.",
    flows.BenefitError,
    IdempotencyError,
)


@answers_with(BENEFIT_CODES)
@strawberry.type(description="A failed value-added service action.")
class BenefitError(Error):
    code: str = strawberry.field(graphql_type=BENEFIT_CODES.enum, description=CODE)


@strawberry.type(description="Staff: a company that delivers value-added services (合作机构).")
class Partner(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(
        description="Stable code; its callbacks go to /partners/{code}/notify."
    )
    name: str = strawberry.field(description="Its name, in Chinese.")
    kind: m.PartnerKind = strawberry.field(description="What it does.")
    base_url: str | None = strawberry.field(
        description="Where its API is; null: the sandbox partner (development only). Its "
        "shared secret is a setting (ANXIN_PARTNER_SECRETS), never shown."
    )
    active: bool = strawberry.field(description="Inactive: its services cannot be booked.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")

    @classmethod
    def from_model(cls, row: m.Partner) -> Partner:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            kind=row.kind,
            base_url=row.base_url,
            active=row.active,
            version=row.version,
        )


@strawberry.type(description="A value-added service of the catalogue (增值服务).")
class BenefitService(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    description: str = strawberry.field(description="What it is, in Chinese.")
    kind: m.ServiceKind = strawberry.field(description="Which kind of service.")
    partner_name: str = strawberry.field(description="Who delivers it.")
    tiers: list[MemberTier] = strawberry.field(description="Membership tiers that include it.")
    product_kinds: list[ProductKind] = strawberry.field(
        description="Policies in force of these product kinds include it."
    )
    product_codes: list[str] = strawberry.field(
        description="Policies in force of these products include it."
    )
    yearly_quota: int = strawberry.field(description="Uses per customer and calendar year.")
    booking_method: m.BookingMethod = strawberry.field(description="How it is booked.")
    active: bool = strawberry.field(description="Whether it can be booked.")
    version: int = strawberry.field(description="Staff: pass as `expectedVersion` to change it.")

    @classmethod
    def from_model(cls, row: m.BenefitService) -> BenefitService:
        """``row`` with its partner fetched."""
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            description=row.description,
            kind=row.kind,
            partner_name=row.partner.name,
            tiers=[MemberTier(t) for t in row.tiers],
            product_kinds=[ProductKind(k) for k in row.product_kinds],
            product_codes=list(row.product_codes),
            yearly_quota=row.yearly_quota,
            booking_method=row.booking_method,
            active=row.active,
            version=row.version,
        )


@strawberry.type(
    description="A service as it stands for me this year: may I use it, why, how often."
)
class ServiceEntitlement:
    """Computed for the caller (not stored): it lives inside `valueAddedServices` and has
    no identity of its own; its service has one."""

    service: BenefitService = strawberry.field(description="The service.")
    entitled: bool = strawberry.field(description="Whether I may book it.")
    reason: str = strawberry.field(
        description="Why (e.g. 金卡会员权益, 保单AX…附带) or what would entitle me, in Chinese."
    )
    policy_number: str | None = strawberry.field(description="The policy it comes with, if any.")
    used_this_year: int = strawberry.field(description="Uses taken this calendar year.")
    left_this_year: int = strawberry.field(
        description="Uses left this calendar year (0 when I am not entitled)."
    )

    @classmethod
    def from_entitled(cls, found: flows.Entitled) -> ServiceEntitlement:
        return cls(
            service=BenefitService.from_model(found.service),
            entitled=found.entitled,
            reason=found.reason,
            policy_number=found.policy.number if found.policy else None,
            used_this_year=found.used,
            left_this_year=found.left if found.entitled else 0,
        )


@strawberry.type(description="Where and what a roadside request is about.")
class RoadsideDetails:
    """Part of its booking (no identity of its own)."""

    need: m.RoadsideNeed = strawberry.field(description="What the car needs.")
    latitude: float = strawberry.field(description="Where the car is (WGS-84 latitude).")
    longitude: float = strawberry.field(description="Where the car is (WGS-84 longitude).")
    address: str = strawberry.field(description="The address as the customer gave it.")
    plate_number: str = strawberry.field(description="The car's plate number.")


@strawberry.type(description="A booking of a value-added service (roadside requests too).")
class ServiceBooking(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="Booking number, e.g. FW20261202000001.")
    service: BenefitService = strawberry.field(description="The service booked.")
    partner_name: str = strawberry.field(description="Who delivers it.")
    customer_name: str = strawberry.field(description="Whose booking it is.")
    state: m.BookingState = strawberry.field(description="Where it stands.")
    state_text: str = strawberry.field(description="The state in Chinese, for display.")
    entitlement: m.Entitlement = strawberry.field(description="Why it was allowed.")
    policy_number: str | None = strawberry.field(description="The policy it came with.")
    quota_year: int = strawberry.field(description="The calendar year whose quota it uses.")
    preferred_at: datetime | None = strawberry.field(description="APPOINTMENT: the time asked for.")
    scheduled_at: datetime | None = strawberry.field(description="The time the partner confirmed.")
    note: str = strawberry.field(description="The customer's note.")
    requested_at: datetime = strawberry.field(description="When it was requested.")
    confirmed_at: datetime | None = strawberry.field(description="When the partner confirmed.")
    dispatched_at: datetime | None = strawberry.field(description="Roadside: when help was sent.")
    eta_at: datetime | None = strawberry.field(description="Roadside: expected arrival.")
    arrived_at: datetime | None = strawberry.field(description="Roadside: when help arrived.")
    finished_at: datetime | None = strawberry.field(
        description="When it ended (done, cancelled or no-show)."
    )
    cancel_reason: str = strawberry.field(description="Why it was cancelled, if it was.")
    roadside: RoadsideDetails | None = strawberry.field(description="Roadside requests only.")
    cancellable: bool = strawberry.field(description="Whether `cancelBooking` can cancel it now.")
    rateable: bool = strawberry.field(
        description="Done: rate it with `rateService` (subjectType BOOKING, subjectId this id)."
    )

    @classmethod
    def from_model(cls, row: m.ServiceBooking) -> ServiceBooking:
        """``row`` with service__partner, partner, customer and policy fetched."""

        def at(value: datetime | None) -> datetime | None:
            return local_time(value) if value else None

        roadside = None
        if row.need is not None:
            roadside = RoadsideDetails(
                need=row.need,
                latitude=float(row.latitude or Decimal(0)),
                longitude=float(row.longitude or Decimal(0)),
                address=row.address,
                plate_number=row.plate_number,
            )
        return cls(
            id=str(row.id),
            number=row.number,
            service=BenefitService.from_model(row.service),
            partner_name=row.partner.name,
            customer_name=row.customer.name,
            state=row.state,
            state_text=STATE_TEXT[row.state],
            entitlement=row.entitlement,
            policy_number=row.policy.number if row.policy else None,
            quota_year=row.quota_year,
            preferred_at=at(row.preferred_at),
            scheduled_at=at(row.scheduled_at),
            note=row.note,
            requested_at=local_time(row.requested_at),
            confirmed_at=at(row.confirmed_at),
            dispatched_at=at(row.dispatched_at),
            eta_at=at(row.eta_at),
            arrived_at=at(row.arrived_at),
            finished_at=at(row.finished_at),
            cancel_reason=row.cancel_reason,
            roadside=roadside,
            cancellable=row.state in (m.BookingState.REQUESTED, m.BookingState.CONFIRMED),
            rateable=row.state is m.BookingState.DONE,
        )

    @strawberry.field(
        description="Roadside requests: the service promise on this booking "
        "(承诺60分钟内到达救援现场) and whether it was kept; empty for other bookings."
    )
    async def commitments(self, info: Info) -> list[CommitmentCase]:
        return await cases_on(info, self.id)


BOOKING_RELATED = ("service__partner", "partner", "customer", "policy")


async def load_booking(actor: Actor, object_id: uuid.UUID) -> ServiceBooking | None:
    """The customer's own booking, or any for staff with BENEFIT_MANAGE; else None."""
    if actor.is_customer:
        queryset = m.ServiceBooking.filter(id=object_id, customer_id=actor.subject_id)
    elif actor.can(Permission.BENEFIT_MANAGE):
        queryset = m.ServiceBooking.filter(id=object_id)
    else:
        return None
    row = await queryset.select_related(*BOOKING_RELATED).first()
    return ServiceBooking.from_model(row) if row else None


async def service_node(actor: Actor, object_id: uuid.UUID) -> BenefitService | None:
    """Anyone logged in sees the active catalogue; staff (BENEFIT_MANAGE) all of it."""
    row = await m.BenefitService.filter(id=object_id).select_related("partner").first()
    if row is None or not (row.active or actor.can(Permission.BENEFIT_MANAGE)):
        return None
    return BenefitService.from_model(row)


async def partner_node(actor: Actor, object_id: uuid.UUID) -> Partner | None:
    if not actor.can(Permission.BENEFIT_MANAGE):
        return None
    row = await m.Partner.get_or_none(id=object_id)
    return Partner.from_model(row) if row else None


@strawberry.type(description="Staff: how one partner served in a period (so a bad one shows).")
class PartnerFigures:
    """Computed per request (no identity of its own); its partner has one."""

    partner: Partner = strawberry.field(description="The partner.")
    bookings: int = strawberry.field(description="Bookings requested in the period.")
    done: int = strawberry.field(description="Of those, DONE.")
    no_show: int = strawberry.field(description="Of those, NO_SHOW.")
    cancelled_by_partner: int = strawberry.field(
        description="Cancelled by the partner or not taken by it (the customer's own "
        "cancellations do not count against it)."
    )
    open: int = strawberry.field(description="Not ended yet.")
    completion_rate: Decimal | None = strawberry.field(
        description="DONE ÷ bookings the partner ended (done, no-show, its cancellations); "
        "null: none ended."
    )
    average_rating: Decimal | None = strawberry.field(description="Customers' stars (1-5).")
    ratings: int = strawberry.field(description="How many ratings the average is of.")
    median_minutes_to_confirm: Decimal | None = strawberry.field(
        description="Median minutes from request to the partner's confirmation."
    )

    @classmethod
    def from_figures(cls, f: flows.PartnerFigures) -> PartnerFigures:
        return cls(
            partner=Partner.from_model(f.partner),
            bookings=f.bookings,
            done=f.done,
            no_show=f.no_show,
            cancelled_by_partner=f.cancelled_by_partner,
            open=f.open,
            completion_rate=f.completion_rate,
            average_rating=f.average_rating,
            ratings=f.ratings,
            median_minutes_to_confirm=f.median_minutes_to_confirm,
        )
