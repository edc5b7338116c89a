"""Booking a service: entitlement, the quota (one ``BenefitUsage`` row per use, unique per
customer, service, year and slot), the booking and its event in one transaction; then
the partner is told, outside the transaction (no row lock held over the network). A
partner that cannot take it cancels the booking at once and gives the quota back.

Roadside assistance is a booking of the ROADSIDE service of a car policy in force, with
the place, the need and the vehicle."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.benefits import (
    BenefitService,
    BenefitUsage,
    BookingMethod,
    BookingState,
    Entitlement,
    RoadsideNeed,
    ServiceBooking,
    ServiceKind,
)
from models.customers import Customer
from models.ids import global_id
from models.pii import PiiCipher
from models.policies import Policy, ProductKind
from push.outbox import emit
from workflows.benefits.entitlement import (
    decide,
    held_or_insured,
    in_force,
    policies_in_force,
    quota_year,
)
from workflows.benefits.errors import BenefitError, BenefitErrorCode
from workflows.benefits.partners import (
    BookingRequest,
    PartnerDirectory,
    PartnerError,
    PartnerRejected,
)
from workflows.membership import tier_of
from workflows.numbering import Prefix, next_number

log = logging.getLogger("anxin.benefits")
MAX_NOTE = 500
MAX_AHEAD = timedelta(days=180)
CANCELLABLE = frozenset({BookingState.REQUESTED, BookingState.CONFIRMED})
STATE_TEXT = {
    BookingState.REQUESTED: "已提交",
    BookingState.CONFIRMED: "已确认",
    BookingState.DISPATCHED: "已派车",
    BookingState.EN_ROUTE: "救援车辆正在赶来",
    BookingState.ARRIVED: "已到达",
    BookingState.DONE: "已完成",
    BookingState.CANCELLED: "已取消",
    BookingState.NO_SHOW: "未到场",
}
# Mainland China with its islands: a coordinate outside is a client bug or a forgery.
LATITUDE = (Decimal("3.5"), Decimal("54.0"))
LONGITUDE = (Decimal("73.0"), Decimal("136.0"))
PLATE = re.compile(r"^[\u4e00-\u9fa5][A-Z][A-Z0-9]{5,6}$")


@dataclass(frozen=True)
class BookingDeps:
    partners: PartnerDirectory
    pii: PiiCipher  # the customer's phone goes to the partner who calls them


@dataclass(frozen=True)
class Roadside:
    policy_id: uuid.UUID
    latitude: Decimal
    longitude: Decimal
    need: RoadsideNeed
    plate_number: str
    address: str = ""
    note: str = ""


def event_payload(booking: ServiceBooking, service: BenefitService) -> dict[str, Any]:
    """Display values for the notification texts, and the times a promise is measured by."""
    eta = booking.eta_at.astimezone(UTC).isoformat() if booking.eta_at else ""
    return {
        "booking_id": global_id("ServiceBooking", booking.id),
        "booking_number": booking.number,
        "service_name": service.name,
        "service_kind": service.kind.value,
        "state": booking.state.value,
        "state_text": STATE_TEXT[booking.state],
        "requested_at": booking.requested_at.astimezone(UTC).isoformat(),
        "arrived_at": booking.arrived_at.astimezone(UTC).isoformat() if booking.arrived_at else "",
        "eta_at": eta,
        "eta_minutes": _eta_minutes(booking),
        "_staff_channels": ["benefits:bookings"],
    }


def _eta_minutes(booking: ServiceBooking) -> str:
    if booking.eta_at is None:
        return ""
    minutes = (booking.eta_at - datetime.now(UTC)).total_seconds() / 60
    return str(max(1, round(minutes)))


async def emit_state(booking: ServiceBooking, service: BenefitService) -> None:
    """``booking.<state>`` (booking.requested, booking.en_route, ...) in the caller's
    transaction: the customer's notification, the live subscription, the commitments."""
    await emit(
        f"booking.{booking.state.value.lower()}",
        entity_type="booking",
        entity_id=booking.id,
        customer_id=booking.customer_id,
        payload=event_payload(booking, service),
    )


async def take_slot(
    customer_id: uuid.UUID, service: BenefitService, year: int, booking_id: uuid.UUID
) -> int:
    """One unit of the yearly quota, decided by the unique (customer, service, year, slot):
    ON CONFLICT DO NOTHING, so a concurrent booking of the same slot waits for ours and
    finds it taken (and tries the next free one) without aborting either transaction."""
    taken = set(
        await BenefitUsage.filter(
            customer_id=customer_id, service_id=service.id, year=year
        ).values_list("slot", flat=True)
    )
    for slot in range(1, service.yearly_quota + 1):
        if slot in taken:
            continue
        usage_id = uuid.uuid4()
        await BenefitUsage.bulk_create(
            [
                BenefitUsage(
                    id=usage_id,
                    customer_id=customer_id,
                    service_id=service.id,
                    year=year,
                    slot=slot,
                    booking_id=booking_id,
                )
            ],
            ignore_conflicts=True,
        )
        if await BenefitUsage.filter(id=usage_id).exists():
            return slot
    raise BenefitError(
        BenefitErrorCode.QUOTA_USED_UP,
        f"“{service.name}”今年的{service.yearly_quota}次已用完",
        "serviceId",
    )


async def _service(service_id: uuid.UUID) -> BenefitService:
    service = await BenefitService.filter(id=service_id).select_related("partner").first()
    if service is None:
        raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该服务", "serviceId")
    if not (service.active and service.partner.active):
        raise BenefitError(BenefitErrorCode.SERVICE_UNAVAILABLE, "该服务暂停提供", "serviceId")
    return service


def _note(note: str, field: str = "note") -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise BenefitError(BenefitErrorCode.INVALID_INPUT, f"备注不超过{MAX_NOTE}个字符", field)
    return note


async def book_service(
    deps: BookingDeps,
    customer_id: uuid.UUID,
    service_id: uuid.UUID,
    *,
    preferred_at: datetime | None = None,
    note: str = "",
) -> ServiceBooking:
    """Book a service the customer is entitled to (tier, or a policy in force of an
    included product) with quota left; sent to the partner at once."""
    now = datetime.now(UTC)
    service = await _service(service_id)
    if service.kind is ServiceKind.ROADSIDE:
        raise BenefitError(
            BenefitErrorCode.INVALID_INPUT, "道路救援请使用“道路救援”申请", "serviceId"
        )
    note = _note(note)
    if service.booking_method is BookingMethod.APPOINTMENT:
        if preferred_at is None or not now < preferred_at <= now + MAX_AHEAD:
            raise BenefitError(
                BenefitErrorCode.INVALID_TIME, "请选择未来180天内的预约时间", "preferredAt"
            )
    else:
        preferred_at = None
    tier = await tier_of(customer_id)
    entitlement, policy, reason = decide(service, tier, await policies_in_force(customer_id, now))
    if entitlement is None:
        raise BenefitError(BenefitErrorCode.NOT_ENTITLED, f"暂不可预约：{reason}", "serviceId")
    booking = await _create(
        customer_id, service, entitlement, policy, now, preferred_at=preferred_at, note=note
    )
    return await _send(deps, booking, service, policy)


async def request_roadside(
    deps: BookingDeps, customer_id: uuid.UUID, request: Roadside
) -> ServiceBooking:
    """Roadside assistance for a car policy in force the customer holds or is insured by."""
    now = datetime.now(UTC)
    if not (
        LATITUDE[0] <= request.latitude <= LATITUDE[1]
        and LONGITUDE[0] <= request.longitude <= LONGITUDE[1]
    ):
        raise BenefitError(BenefitErrorCode.INVALID_LOCATION, "定位不在服务范围内", "latitude")
    plate = request.plate_number.strip().upper()
    if not PLATE.match(plate):
        raise BenefitError(BenefitErrorCode.INVALID_INPUT, "车牌号格式不正确", "plateNumber")
    address = request.address.strip()
    if len(address) > 200:
        raise BenefitError(BenefitErrorCode.INVALID_INPUT, "地址不超过200个字符", "address")
    note = _note(request.note)
    mine = (
        await Policy.filter(held_or_insured(customer_id), id=request.policy_id)
        .select_related("product")
        .first()
    )
    if mine is None:
        raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该保单", "policyId")
    if mine.product.kind is not ProductKind.AUTO:
        raise BenefitError(
            BenefitErrorCode.NOT_A_CAR_POLICY, "道路救援仅适用于车险保单", "policyId"
        )
    if not await Policy.filter(in_force(now), id=mine.id).exists():
        raise BenefitError(BenefitErrorCode.POLICY_NOT_IN_FORCE, "该保单不在保障期内", "policyId")
    candidates = (
        await BenefitService.filter(kind=ServiceKind.ROADSIDE, active=True, partner__active=True)
        .select_related("partner")
        .order_by("code")
    )
    tier = await tier_of(customer_id)
    service = next((s for s in candidates if decide(s, tier, [mine])[0] is not None), None)
    if service is None:
        raise BenefitError(BenefitErrorCode.NOT_ENTITLED, "该保单不含道路救援服务", "policyId")
    entitlement = decide(service, tier, [mine])[0]
    assert entitlement is not None
    booking = await _create(
        customer_id,
        service,
        entitlement,
        mine,
        now,
        note=note,
        need=request.need,
        latitude=request.latitude.quantize(Decimal("0.000001")),
        longitude=request.longitude.quantize(Decimal("0.000001")),
        address=address,
        plate_number=plate,
    )
    return await _send(deps, booking, service, mine)


async def _create(
    customer_id: uuid.UUID,
    service: BenefitService,
    entitlement: Entitlement,
    policy: Policy | None,
    now: datetime,
    **fields: Any,
) -> ServiceBooking:
    year = quota_year(now)
    async with in_transaction():
        booking = await ServiceBooking.create(
            number=await next_number(Prefix.BOOKING, now),
            customer_id=customer_id,
            service_id=service.id,
            partner_id=service.partner_id,
            entitlement=entitlement,
            policy_id=policy.id if policy else None,
            quota_year=year,
            state=BookingState.REQUESTED,
            requested_at=now,
            **fields,
        )
        await take_slot(customer_id, service, year, booking.id)
        await emit_state(booking, service)
    return booking


async def _send(
    deps: BookingDeps, booking: ServiceBooking, service: BenefitService, policy: Policy | None
) -> ServiceBooking:
    customer = await Customer.get(id=booking.customer_id)
    roadside = None
    if booking.need is not None:
        roadside = {
            "need": booking.need.value,
            "latitude": str(booking.latitude),
            "longitude": str(booking.longitude),
            "address": booking.address,
            "plateNumber": booking.plate_number,
        }
    request = BookingRequest(
        booking_number=booking.number,
        service_code=service.code,
        service_kind=service.kind.value,
        customer_name=customer.name,
        customer_phone=deps.pii.decrypt(customer.phone_encrypted, "phone"),
        preferred_at=booking.preferred_at,
        note=booking.note,
        policy_number=policy.number if policy else None,
        roadside=roadside,
    )
    adapter = deps.partners.adapter(service.partner.code, service.partner.base_url)
    try:
        if adapter is None:
            raise PartnerError(f"{service.partner.code}: not configured")
        answer = await adapter.create(request)
    except PartnerError as exc:
        log.warning("booking %s not taken by partner: %s", booking.number, exc)
        rejected = isinstance(exc, PartnerRejected)
        await _close(booking.id, BookingState.CANCELLED, "合作机构未能受理", release=True)
        raise BenefitError(
            BenefitErrorCode.PARTNER_REJECTED if rejected else BenefitErrorCode.PARTNER_UNAVAILABLE,
            "合作机构暂时无法受理，名额已退回，请稍后再试"
            if not rejected
            else "合作机构未能受理该预约，名额已退回",
        ) from None
    if answer.reference:
        await ServiceBooking.filter(id=booking.id).update(partner_reference=answer.reference)
    return await ServiceBooking.get(id=booking.id)


async def _close(
    booking_id: uuid.UUID, state: BookingState, reason: str, *, release: bool
) -> ServiceBooking | None:
    """End a booking that may still be cancelled; False when it moved on meanwhile."""
    async with in_transaction():
        booking = await ServiceBooking.filter(id=booking_id).select_for_update().first()
        if booking is None or booking.state not in CANCELLABLE:
            return None
        now = datetime.now(UTC)
        await ServiceBooking.filter(id=booking_id).update(
            state=state, finished_at=now, cancel_reason=reason[:200], version=F("version") + 1
        )
        if release:
            await BenefitUsage.filter(booking_id=booking_id).delete()
        await booking.refresh_from_db()
        service = await BenefitService.get(id=booking.service_id)
        await emit_state(booking, service)
    return booking


async def cancel_booking(
    deps: BookingDeps, customer_id: uuid.UUID, booking_id: uuid.UUID, reason: str = ""
) -> ServiceBooking:
    """The customer cancels a booking not yet under way; the quota is given back and the
    partner told (a partner that cannot be reached is logged: the booking is ours)."""
    reason = _note(reason, "reason")
    booking = await ServiceBooking.get_or_none(id=booking_id, customer_id=customer_id)
    if booking is None:
        raise BenefitError(BenefitErrorCode.NOT_FOUND, "未找到该预约", "bookingId")
    closed = await _close(booking_id, BookingState.CANCELLED, reason or "客户取消", release=True)
    if closed is None:
        raise BenefitError(
            BenefitErrorCode.NOT_CANCELLABLE, "该预约已在进行中或已结束，无法取消", "bookingId"
        )
    partner = await closed.partner
    adapter = deps.partners.adapter(partner.code, partner.base_url)
    if adapter is not None:
        try:
            await adapter.cancel(closed.number, closed.partner_reference, reason or "客户取消")
        except PartnerError as exc:
            log.warning("partner not told of cancelled booking %s: %s", closed.number, exc)
    return closed


__all__ = [
    "BookingDeps",
    "Roadside",
    "book_service",
    "cancel_booking",
    "emit_state",
    "request_roadside",
    "take_slot",
]
