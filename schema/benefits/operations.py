"""Value-added service queries, mutations and the live booking subscription."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info
from tortoise.expressions import Q

from models import benefits as m
from models.clock import local_midnight
from models.membership import MemberTier
from models.policies import ProductKind
from push.bus import current_then_changes
from schema.benefits.types import (
    BOOKING_RELATED,
    BenefitError,
    BenefitService,
    Partner,
    PartnerFigures,
    ServiceBooking,
    ServiceEntitlement,
    load_booking,
)
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import UserInputError, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from workflows import benefits as flows
from workflows.access import Permission
from workflows.benefits.errors import BenefitErrorCode
from workflows.idempotency import IdempotencyError, once
from workflows.limits import wait_text

STAFF = staff_only(Permission.BENEFIT_MANAGE)
MAX_FIGURE_DAYS = 366


# ------------------------------------------------------------------ inputs


@strawberry.input(description="Book a value-added service I am entitled to.")
class BookServiceInput:
    service_id: relay.GlobalID = strawberry.field(description="The BenefitService's `id`.")
    preferred_at: datetime | None = strawberry.field(
        default=None,
        description="APPOINTMENT services: the time I would like (with offset), within 180 days.",
    )
    note: str = strawberry.field(default="", description="Anything the partner should know (≤500).")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="8-128 characters: a retry with the same key returns the first booking.",
    )


@strawberry.input(description="Ask for roadside assistance (道路救援) for a car policy.")
class RoadsideAssistanceInput:
    policy_id: relay.GlobalID = strawberry.field(description="My car policy in force.")
    latitude: float = strawberry.field(description="Where the car is (WGS-84, from the app).")
    longitude: float = strawberry.field(description="Where the car is (WGS-84, from the app).")
    need: m.RoadsideNeed = strawberry.field(description="What the car needs.")
    plate_number: str = strawberry.field(description="The car's plate number, e.g. 沪A12345.")
    address: str = strawberry.field(default="", description="The address, if known (≤200).")
    note: str = strawberry.field(default="", description="Anything the crew should know (≤500).")


@strawberry.input(description="Cancel one of my bookings that is not under way.")
class CancelBookingInput:
    booking_id: relay.GlobalID = strawberry.field(description="The ServiceBooking's `id`.")
    reason: str = strawberry.field(default="", description="Why, if you like (≤500).")


@strawberry.input(description="Staff: create a partner (no `partnerId`) or change one.")
class SavePartnerInput:
    partner_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The Partner to change; null to create one."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw (when changing)."
    )
    code: str = strawberry.field(description="2-32 capitals, digits or _, e.g. JIUYUAN_AUTO.")
    name: str = strawberry.field(description="Its name (≤64).")
    kind: m.PartnerKind = strawberry.field(description="What it does.")
    base_url: str | None = strawberry.field(
        default=None, description="Its API (http(s), ≤200); null: the sandbox (development)."
    )
    active: bool = strawberry.field(default=True, description="Whether its services can be booked.")


@strawberry.input(description="Staff: create a service (no `serviceId`) or change one.")
class SaveBenefitServiceInput:
    service_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The BenefitService to change; null to create one."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw (when changing)."
    )
    code: str = strawberry.field(description="2-32 capitals, digits or _.")
    name: str = strawberry.field(description="Its name (≤64).")
    description: str = strawberry.field(default="", description="What it is (≤1000).")
    kind: m.ServiceKind = strawberry.field(description="Which kind of service.")
    partner_id: relay.GlobalID = strawberry.field(description="The Partner who delivers it.")
    tiers: list[MemberTier] = strawberry.field(
        default_factory=list, description="Membership tiers that include it."
    )
    product_kinds: list[ProductKind] = strawberry.field(
        default_factory=list, description="Product kinds whose policies in force include it."
    )
    product_codes: list[str] = strawberry.field(
        default_factory=list, description="Products whose policies in force include it (≤20)."
    )
    yearly_quota: int = strawberry.field(description="Uses per customer and year (1-100).")
    booking_method: m.BookingMethod = strawberry.field(description="How it is booked.")
    active: bool = strawberry.field(default=True, description="Whether it can be booked.")


@strawberry.input(description="Development only: the sandbox partner reports a booking's progress.")
class AdvanceSandboxBookingInput:
    booking_id: relay.GlobalID = strawberry.field(description="A booking with a sandbox partner.")
    state: m.BookingState = strawberry.field(description="The state the partner reports.")
    eta_minutes: int | None = strawberry.field(default=None, description="EN_ROUTE: minutes away.")


@strawberry.input(description="Staff: narrow the booking list.")
class BookingFilter:
    state: list[m.BookingState] | None = strawberry.field(
        default=None, description="Only bookings in one of these states."
    )
    partner_id: relay.GlobalID | None = strawberry.field(default=None, description="One partner.")
    service_id: relay.GlobalID | None = strawberry.field(default=None, description="One service.")
    requested_from: date | None = strawberry.field(
        default=None, description="Requested on or after this day (Asia/Shanghai)."
    )
    requested_to: date | None = strawberry.field(
        default=None, description="Requested on or before this day (Asia/Shanghai)."
    )


# ------------------------------------------------------------------ payloads


@strawberry.type(description="The booking after my request.")
class BookingPayload:
    booking: ServiceBooking | None = strawberry.field(description="As saved; null when refused.")
    errors: list[BenefitError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The partner after a staff change.")
class PartnerPayload:
    partner: Partner | None = strawberry.field(description="As saved; null when refused.")
    errors: list[BenefitError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The service after a staff change.")
class BenefitServicePayload:
    service: BenefitService | None = strawberry.field(description="As saved; null when refused.")
    errors: list[BenefitError] = strawberry.field(description="Empty on success.")


# ------------------------------------------------------------------ helpers


async def _limit(info: Info) -> None:
    """Each booking creates work at a partner: per customer, THROTTLED past the rate."""
    services = info.context.services
    decision = await services.limiter.hit(
        "booking", str(info.context.actor.subject_id), services.settings.limit_bookings_per_customer
    )
    if not decision.allowed:
        wait = decision.retry_after
        raise flows.BenefitError(
            BenefitErrorCode.THROTTLED, f"操作过于频繁，请{wait_text(wait)}后再试", retry_after=wait
        )


async def _booking_payload(
    info: Info, call: Callable[[], Awaitable[m.ServiceBooking]]
) -> BookingPayload:
    try:
        row = await call()
    except (flows.BenefitError, IdempotencyError) as error:
        return BookingPayload(booking=None, errors=payload_errors(error, BenefitError))
    return BookingPayload(booking=await load_booking(info.context.actor, row.id), errors=[])


def _coordinate(value: float, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise flows.BenefitError(BenefitErrorCode.INVALID_LOCATION, "定位无效", field)
    return number


def _bookings_filtered(where: BookingFilter) -> Q:
    conditions = Q()
    if where.state:
        conditions &= Q(state__in=list(where.state))
    if where.partner_id is not None:
        conditions &= Q(partner_id=node_uuid(where.partner_id, "Partner"))
    if where.service_id is not None:
        conditions &= Q(service_id=node_uuid(where.service_id, "BenefitService"))
    if where.requested_from is not None:
        conditions &= Q(requested_at__gte=local_midnight(where.requested_from))
    if where.requested_to is not None:
        conditions &= Q(requested_at__lt=local_midnight(where.requested_to + timedelta(days=1)))
    return conditions


# ------------------------------------------------------------------ queries


@strawberry.type
class BenefitQueries:
    @strawberry.field(
        description="Value-added services as they stand for me this year: each active "
        "service, whether I may book it and why, and the uses left.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def value_added_services(self, info: Info) -> list[ServiceEntitlement]:
        found = await flows.entitlements(info.context.actor.subject_id)
        return [ServiceEntitlement.from_entitled(f) for f in found]

    @strawberry.field(
        description="My bookings of value-added services, the newest first.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_bookings(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[ServiceBooking]:
        queryset = m.ServiceBooking.filter(customer_id=info.context.actor.subject_id)
        return await paginate(
            queryset.select_related(*BOOKING_RELATED).order_by("-requested_at", "-id"),
            ServiceBooking.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Staff (BENEFIT_MANAGE): all bookings, the newest first.",
        permission_classes=STAFF,
    )
    async def service_bookings(
        self,
        filter: Annotated[
            BookingFilter | None, strawberry.argument(description="Narrow it.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[ServiceBooking]:
        queryset = m.ServiceBooking.filter(_bookings_filtered(filter or BookingFilter()))
        return await paginate(
            queryset.select_related(*BOOKING_RELATED).order_by("-requested_at", "-id"),
            ServiceBooking.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Staff (BENEFIT_MANAGE): the whole catalogue, inactive services too.",
        permission_classes=STAFF,
    )
    async def benefit_services(self) -> list[BenefitService]:
        rows = await m.BenefitService.all().select_related("partner").order_by("code").limit(200)
        return [BenefitService.from_model(row) for row in rows]

    @strawberry.field(description="Staff (BENEFIT_MANAGE): the partners.", permission_classes=STAFF)
    async def partners(self) -> list[Partner]:
        return [
            Partner.from_model(row) for row in await m.Partner.all().order_by("code").limit(200)
        ]

    @strawberry.field(
        description="Staff (BENEFIT_MANAGE): each partner's figures for bookings requested "
        "in a period (at most 366 days), the worst completion rate first.",
        permission_classes=STAFF,
    )
    async def partner_figures(
        self,
        since: Annotated[date, strawberry.argument(description="First day (Asia/Shanghai).")],
        until: Annotated[date, strawberry.argument(description="Last day, included.")],
    ) -> list[PartnerFigures]:
        if not since <= until <= since + timedelta(days=MAX_FIGURE_DAYS - 1):
            raise UserInputError(f"期间须为1到{MAX_FIGURE_DAYS}天")
        figures = await flows.partner_figures(
            local_midnight(since), local_midnight(until + timedelta(days=1))
        )
        return [PartnerFigures.from_figures(f) for f in figures]


# ------------------------------------------------------------------ mutations


@strawberry.type
class BenefitMutations:
    @strawberry.mutation(
        description="Book a value-added service: checks that my tier or a policy in force "
        "includes it and that uses are left this year, then sends it to the partner. "
        "Limited per customer (THROTTLED).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def book_service(
        self,
        info: Info,
        input: Annotated[
            BookServiceInput,
            strawberry.argument(description="The service, the time for appointments, a note."),
        ],
    ) -> BookingPayload:
        customer_id = info.context.actor.subject_id
        service_id = node_uuid(input.service_id, "BenefitService")

        async def book() -> m.ServiceBooking:
            return await flows.book_service(
                info.context.services.bookings,
                customer_id,
                service_id,
                preferred_at=input.preferred_at,
                note=input.note,
            )

        async def call() -> m.ServiceBooking:
            if input.idempotency_key is None:
                await _limit(info)
                return await book()

            async def run() -> dict[str, str]:
                await _limit(info)
                return {"booking_id": str((await book()).id)}

            request = {
                "service": str(service_id),
                "preferred_at": input.preferred_at.isoformat() if input.preferred_at else None,
                "note": input.note,
            }
            answer = await once(f"book_service:{customer_id}", input.idempotency_key, request, run)
            return await m.ServiceBooking.get(id=uuid.UUID(answer["booking_id"]))

        return await _booking_payload(info, call)

    @strawberry.mutation(
        description="Ask for roadside assistance (道路救援) for my car policy in force: the "
        "place (from the app), the need and the car go to the roadside partner; follow it "
        "with `bookingUpdated`. Limited per customer (THROTTLED).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_roadside_assistance(
        self,
        info: Info,
        input: Annotated[
            RoadsideAssistanceInput,
            strawberry.argument(description="The policy, where the car is, what it needs."),
        ],
    ) -> BookingPayload:
        async def call() -> m.ServiceBooking:
            request = flows.Roadside(
                policy_id=node_uuid(input.policy_id, "Policy"),
                latitude=_coordinate(input.latitude, "latitude"),
                longitude=_coordinate(input.longitude, "longitude"),
                need=input.need,
                plate_number=input.plate_number[:32],
                address=input.address,
                note=input.note,
            )
            await _limit(info)
            return await flows.request_roadside(
                info.context.services.bookings, info.context.actor.subject_id, request
            )

        return await _booking_payload(info, call)

    @strawberry.mutation(
        description="Cancel one of my bookings that is not under way (REQUESTED or "
        "CONFIRMED); the use is given back to this year's quota.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def cancel_booking(
        self,
        info: Info,
        input: Annotated[
            CancelBookingInput, strawberry.argument(description="The booking and why.")
        ],
    ) -> BookingPayload:
        return await _booking_payload(
            info,
            lambda: flows.cancel_booking(
                info.context.services.bookings,
                info.context.actor.subject_id,
                node_uuid(input.booking_id, "ServiceBooking"),
                input.reason,
            ),
        )

    @strawberry.mutation(
        description="Development only: the sandbox partner reports a booking's progress "
        "through the same signed callback path as a real partner.",
        permission_classes=[IsAuthenticated],
    )
    async def advance_sandbox_booking(
        self,
        info: Info,
        input: Annotated[
            AdvanceSandboxBookingInput,
            strawberry.argument(description="The sandbox booking and the state to report."),
        ],
    ) -> BookingPayload:
        actor = info.context.actor
        booking = await load_booking(actor, node_uuid(input.booking_id, "ServiceBooking"))
        row = (
            await m.ServiceBooking.filter(id=uuid.UUID(booking.id))
            .select_related("partner")
            .first()
            if booking
            else None
        )
        partners = info.context.services.partners
        sandbox = partners.sandbox(row.partner.code) if row and partners else None
        if row is None or row.partner.base_url or sandbox is None:
            error = flows.BenefitError(BenefitErrorCode.NOT_FOUND, "未找到沙箱预约", "bookingId")
            return BookingPayload(booking=None, errors=payload_errors(error, BenefitError))
        headers, body = sandbox.notification(
            row.number, input.state.value, row.partner_sequence + 1, input.eta_minutes
        )
        await flows.handle_notification(partners, row.partner.code, headers, body)
        return BookingPayload(booking=await load_booking(actor, row.id), errors=[])

    @strawberry.mutation(
        description="Staff (BENEFIT_MANAGE): create or change a partner.",
        permission_classes=STAFF,
    )
    async def save_partner(
        self,
        input: Annotated[
            SavePartnerInput,
            strawberry.argument(
                description="The partner (by id when changing, at the version you saw), its "
                "code, name, kind and API address."
            ),
        ],
    ) -> PartnerPayload:
        change = flows.PartnerChange(
            code=input.code[:64],
            name=input.name[:200],
            kind=input.kind,
            base_url=input.base_url[:300] if input.base_url else None,
            active=input.active,
        )
        partner_id = node_uuid(input.partner_id, "Partner") if input.partner_id else None
        try:
            row = await flows.save_partner(change, partner_id, input.expected_version)
        except flows.BenefitError as error:
            return PartnerPayload(partner=None, errors=payload_errors(error, BenefitError))
        return PartnerPayload(partner=Partner.from_model(row), errors=[])

    @strawberry.mutation(
        description="Staff (BENEFIT_MANAGE): create or change a service of the catalogue: "
        "who is entitled, the yearly quota, how it is booked.",
        permission_classes=STAFF,
    )
    async def save_benefit_service(
        self,
        input: Annotated[
            SaveBenefitServiceInput,
            strawberry.argument(
                description="The service (by id when changing, at the version you saw), its "
                "partner, who is entitled, the yearly quota and how it is booked."
            ),
        ],
    ) -> BenefitServicePayload:
        if len(input.product_codes) > 50 or len(input.tiers) > 10 or len(input.product_kinds) > 10:
            error = flows.BenefitError(BenefitErrorCode.INVALID_INPUT, "列表过长", "productCodes")
            return BenefitServicePayload(service=None, errors=payload_errors(error, BenefitError))
        change = flows.ServiceChange(
            code=input.code[:64],
            name=input.name[:200],
            description=input.description[:2000],
            kind=input.kind,
            partner_id=node_uuid(input.partner_id, "Partner"),
            tiers=list(input.tiers),
            product_kinds=list(input.product_kinds),
            product_codes=[c[:64] for c in input.product_codes],
            yearly_quota=input.yearly_quota,
            booking_method=input.booking_method,
            active=input.active,
        )
        service_id = node_uuid(input.service_id, "BenefitService") if input.service_id else None
        try:
            row = await flows.save_service(change, service_id, input.expected_version)
        except flows.BenefitError as error:
            return BenefitServicePayload(service=None, errors=payload_errors(error, BenefitError))
        await row.fetch_related("partner")
        return BenefitServicePayload(service=BenefitService.from_model(row), errors=[])


# ------------------------------------------------------------------ subscription


@strawberry.type
class BenefitSubscriptions:
    @strawberry.subscription(
        description="One booking live (roadside: dispatched, en route with ETA, arrived, "
        "done): its current state at once, then again after each change; refused like a "
        "missing booking if not yours.",
        permission_classes=[IsAuthenticated],
    )
    async def booking_updated(
        self,
        info: Info,
        booking_id: Annotated[relay.GlobalID, strawberry.argument(description="The booking.")],
    ) -> AsyncGenerator[ServiceBooking, None]:
        actor = info.context.actor
        object_id = node_uuid(booking_id, "ServiceBooking")
        if await load_booking(actor, object_id) is None:
            raise UserInputError("未找到该预约")

        async def current() -> ServiceBooking | None:
            return await load_booking(actor, object_id)

        async for state in current_then_changes(
            info.context.services.bus, f"booking:{object_id}", current
        ):
            yield state
