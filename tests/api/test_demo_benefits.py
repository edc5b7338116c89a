"""The demo's value-added services are made by the real workflows: a sandbox partner
catalogue and 张伟's bookings in several states, his roadside request en route."""

from __future__ import annotations

from api.demo import seed
from api.demo_benefits import seed_benefits
from api.services import Services
from api.settings import Settings
from models.benefits import BenefitService, BookingState, Partner, ServiceBooking
from models.commitments import CaseStatus, CommitmentCase
from models.surveys import ServiceRating
from workflows.benefits import entitlements


async def test_zhang_wei_has_bookings_in_several_states_and_a_roadside_request_en_route(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    bookings = await seed_benefits(services)
    assert await Partner.all().count() == 5 and await BenefitService.all().count() == 6
    states = sorted(b.state.value for b in bookings)
    assert states == sorted(
        ["DONE", "NO_SHOW", "CONFIRMED", "CANCELLED", "REQUESTED", "DONE", "EN_ROUTE"]
    )
    en_route = next(b for b in bookings if b.state is BookingState.EN_ROUTE)
    assert en_route.need is not None and en_route.eta_at is not None
    done_roadside = next(b for b in bookings if b.need is not None and b.state is BookingState.DONE)
    assert done_roadside.arrived_at is not None
    # The roadside promise: kept for the tow that arrived, still open for the one en route.
    cases = {
        c.subject_id: c for c in await CommitmentCase.filter(commitment__code="ROADSIDE_ARRIVAL")
    }
    assert set(cases) == {en_route.id, done_roadside.id}
    assert cases[en_route.id].status is CaseStatus.PENDING
    assert cases[done_roadside.id].status is CaseStatus.KEPT
    assert await ServiceRating.filter(subject_type="BOOKING").count() == 1
    customer_id = bookings[0].customer_id
    seen = {e.service.code: e for e in await entitlements(customer_id)}
    assert seen["ANNUAL_CHECK_UP"].left == 0  # one done, one missed: both used
    assert seen["GREEN_CHANNEL"].left == 1  # the cancelled one came back
    assert not seen["DENTAL_CLEAN"].entitled and "铂金会员" in seen["DENTAL_CLEAN"].reason
    assert await ServiceBooking.filter(customer_id=customer_id).count() == 7
