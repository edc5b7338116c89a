"""Demo value-added services (增值服务): a partner catalogue (sandbox partners: no outside
service) and 张伟's bookings in several states — a check-up done and rated, another
missed, a green-channel appointment confirmed, a cancelled one, an online consultation
waiting, a past roadside tow done and a roadside request en route now (follow it with
`bookingUpdated` and move it with `advanceSandboxBooking` in GraphiQL).

Made by the real workflow functions; the partners' progress goes through the same signed
callback path as a real partner's. Entitlements come from his policies in force (car,
health, travel), so the demo does not depend on his membership tier; the check-up also
counts GOLD and PLATINUM members, dental only PLATINUM ones (he sees why not).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from models.benefits import (
    BenefitService,
    BookingMethod,
    Partner,
    PartnerKind,
    RoadsideNeed,
    ServiceBooking,
    ServiceKind,
)
from models.customers import Customer
from models.ids import global_id
from models.policies import Policy, PolicyStatus
from workflows import benefits, commitments
from workflows.surveys import rate

ZHANG_WEI = "13800000001"
PARTNERS = [
    ("RENHE_MED", "仁和医疗网络", PartnerKind.MEDICAL),
    ("XINGLIN_ONLINE", "杏林在线问诊", PartnerKind.MEDICAL),
    ("KANGTAI_CHECK", "康泰体检", PartnerKind.HEALTH),
    ("CHANGXING_ROAD", "畅行道路救援", PartnerKind.AUTO),
    ("GLOBAL_TRAVEL_AID", "环球旅行援助", PartnerKind.TRAVEL),
]
# code, name, kind, partner, tiers, product kinds, product codes, yearly quota, method, text
SERVICES = [
    ("GREEN_CHANNEL", "就医绿色通道", ServiceKind.GREEN_CHANNEL, "RENHE_MED", [], ["HEALTH"], [],
     2, BookingMethod.APPOINTMENT, "三甲医院专家门诊预约与陪诊。"),
    ("DENTAL_CLEAN", "齿科洁牙", ServiceKind.DENTAL, "RENHE_MED", ["PLATINUM"], [], [],
     1, BookingMethod.APPOINTMENT, "合作齿科门诊洁牙一次。"),
    ("ONLINE_DOCTOR", "在线问诊", ServiceKind.ONLINE_DOCTOR, "XINGLIN_ONLINE",
     ["SILVER", "GOLD", "PLATINUM"], ["HEALTH"], [], 12, BookingMethod.ON_DEMAND,
     "全科医生在线图文问诊，7×24小时。"),
    ("ANNUAL_CHECK_UP", "年度体检", ServiceKind.CHECK_UP, "KANGTAI_CHECK", ["GOLD", "PLATINUM"],
     [], ["HEALTH-MILLION-2026"], 2, BookingMethod.APPOINTMENT, "全国连锁体检中心标准套餐。"),
    ("ROADSIDE", "道路救援", ServiceKind.ROADSIDE, "CHANGXING_ROAD", [], ["AUTO"], [],
     4, BookingMethod.ON_DEMAND, "拖车、搭电、换胎、送油、开锁，城区60分钟内到达。"),
    ("TRAVEL_HELP", "旅行紧急救援", ServiceKind.TRAVEL_EMERGENCY, "GLOBAL_TRAVEL_AID", [],
     ["TRAVEL"], [], 3, BookingMethod.ON_DEMAND, "境外就医指引、紧急转运协助。"),
]  # fmt: skip


async def seed_catalogue() -> dict[str, BenefitService]:
    partners = {
        code: await Partner.create(code=code, name=name, kind=kind) for code, name, kind in PARTNERS
    }
    found = {}
    for code, name, kind, partner, tiers, kinds, products, quota, method, text in SERVICES:
        found[code] = await BenefitService.create(
            code=code,
            name=name,
            description=text,
            kind=kind,
            partner=partners[partner],
            tiers=tiers,
            product_kinds=kinds,
            product_codes=products,
            yearly_quota=quota,
            booking_method=method,
        )
    return found


async def _progress(services: Services, booking: ServiceBooking, *states: str) -> None:
    """The sandbox partner reports each state, signed, through the notify path."""
    partner = await Partner.get(id=booking.partner_id)
    directory = services.partners
    sandbox = directory.sandbox(partner.code) if directory else None
    if directory is None or sandbox is None:
        return
    for sequence, state in enumerate(states, start=1):
        eta = 18 if state == "EN_ROUTE" else None
        headers, body = sandbox.notification(booking.number, state, sequence, eta)
        await benefits.handle_notification(directory, partner.code, headers, body)


async def seed_benefits(services: Services) -> list[ServiceBooking]:
    """The catalogue, and 张伟's bookings (none if he is not in the demo)."""
    found = await seed_catalogue()
    customer = await Customer.get_or_none(phone_hash=services.pii.phone_hash(ZHANG_WEI))
    if customer is None or services.partners is None:
        return []
    deps = services.bookings
    soon = datetime.now(UTC) + timedelta(days=7)
    made: list[ServiceBooking] = []

    async def book(code: str, *states: str, days: int = 7) -> ServiceBooking:
        booking = await benefits.book_service(
            deps,
            customer.id,
            found[code].id,
            preferred_at=soon + timedelta(days=days)
            if found[code].booking_method is BookingMethod.APPOINTMENT
            else None,
            note="演示预约",
        )
        await _progress(services, booking, *states)
        made.append(booking)
        return booking

    check_up = await book("ANNUAL_CHECK_UP", "CONFIRMED", "DONE")
    subject = global_id("ServiceBooking", check_up.id)
    await rate(customer.id, "BOOKING", subject, 5, [], "体检安排很顺利")
    await book("ANNUAL_CHECK_UP", "CONFIRMED", "NO_SHOW", days=10)
    await book("GREEN_CHANNEL", "CONFIRMED", days=3)
    cancelled = await book("GREEN_CHANNEL", days=5)
    await benefits.cancel_booking(deps, customer.id, cancelled.id, "时间冲突")
    await book("ONLINE_DOCTOR")
    car = await Policy.filter(
        holder_id=customer.id, status=PolicyStatus.ACTIVE, product__code="AUTO-COMM-2026"
    ).first()
    if car is not None:
        for need, states in (
            (RoadsideNeed.BATTERY, ("CONFIRMED", "DISPATCHED", "EN_ROUTE", "ARRIVED", "DONE")),
            (RoadsideNeed.TOW, ("CONFIRMED", "DISPATCHED", "EN_ROUTE")),
        ):
            request = benefits.Roadside(
                policy_id=car.id,
                latitude=Decimal("39.990464"),
                longitude=Decimal("116.480881"),
                need=need,
                plate_number="京N8A123",
                address="北京市朝阳区望京街",
            )
            booking = await benefits.request_roadside(deps, customer.id, request)
            await _progress(services, booking, *states)
            made.append(booking)
    # The roadside promise's cases: kept for the tow that arrived, open for the one en route.
    while await commitments.evaluate_events():
        pass
    return [await ServiceBooking.get(id=b.id) for b in made]
