"""Value-added services over GraphQL: what I am entitled to, booking (typed errors,
idempotency, the rate limit), cancelling, roadside status pushed live over a WebSocket
from the partner's callbacks, rating a done booking, and the staff views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette
from strawberry import relay

from api.services import Services
from models.benefits import BenefitService, BookingState, Partner, PartnerEvent, ServiceBooking
from models.clock import local_today
from models.membership import MemberTier
from models.staff import StaffRole
from push.outbox import OutboxRelay
from tests.api.test_subscription_catch_up import next_data, subscribe
from tests.benefits_helpers import catalogue, make_member
from tests.bus import subscribed
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from workflows.benefits.partners import SandboxPartner

ENTITLED = """{ valueAddedServices { entitled reason usedThisYear leftThisYear policyNumber
  service { id code name kind yearlyQuota bookingMethod partnerName tiers } } }"""
BOOK = """mutation($input: BookServiceInput!) { bookService(input: $input) {
  booking { id number state stateText entitlement cancellable service { code } }
  errors { field code message retryAfterSeconds } } }"""
CANCEL = """mutation($input: CancelBookingInput!) { cancelBooking(input: $input) {
  booking { id state cancellable cancelReason } errors { code } } }"""
ROADSIDE = """mutation($input: RoadsideAssistanceInput!) {
  requestRoadsideAssistance(input: $input) {
  booking { id number state roadside { need latitude longitude plateNumber address } }
  errors { field code } } }"""
MINE = """{ myBookings(first: 10) { totalCount edges { node { id number state } } } }"""
LIVE = """subscription($id: ID!) { bookingUpdated(bookingId: $id) {
  id state etaAt arrivedAt } }"""
RATE = """mutation($input: RateServiceInput!) { rateService(input: $input) {
  rating { stars } errors { code } } }"""
STAFF_LIST = """query($filter: BookingFilter) { serviceBookings(filter: $filter, first: 50) {
  totalCount edges { node { number state partnerName customerName } } } }"""
FIGURES = """query($since: Date!, $until: Date!) { partnerFigures(since: $since, until: $until) {
  partner { code } bookings done completionRate averageRating ratings
  medianMinutesToConfirm cancelledByPartner } }"""


def gid(type_name: str, object_id: object) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


def later() -> str:
    return (datetime.now(UTC) + timedelta(days=5)).isoformat()


async def test_i_see_what_i_am_entitled_to_and_why(
    client: httpx.AsyncClient, services: Services
) -> None:
    await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    data = (await gql(client, ENTITLED, token=token))["data"]["valueAddedServices"]
    by_code = {row["service"]["code"]: row for row in data}
    assert by_code["CHECK_UP"]["entitled"] and by_code["CHECK_UP"]["reason"] == "金卡会员权益"
    assert by_code["CHECK_UP"]["leftThisYear"] == 2
    assert not by_code["ROADSIDE"]["entitled"] and by_code["ROADSIDE"]["leftThisYear"] == 0
    car = await make_policy(services, customer)
    data = (await gql(client, ENTITLED, token=token))["data"]["valueAddedServices"]
    road = next(row for row in data if row["service"]["code"] == "ROADSIDE")
    assert road["entitled"] and road["policyNumber"] == car.number and road["leftThisYear"] == 3


async def test_booking_cancelling_and_my_bookings(
    client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    service_id = gid("BenefitService", found["check_up"].id)
    no_time = await gql(client, BOOK, {"input": {"serviceId": service_id}}, token=token)
    assert no_time["data"]["bookService"]["errors"][0]["code"] == "INVALID_TIME"
    booked = await gql(
        client, BOOK, {"input": {"serviceId": service_id, "preferredAt": later()}}, token=token
    )
    payload = booked["data"]["bookService"]
    assert payload["errors"] == []
    booking = payload["booking"]
    assert booking["state"] == "REQUESTED" and booking["entitlement"] == "TIER"
    assert booking["cancellable"] and booking["service"]["code"] == "CHECK_UP"
    mine = (await gql(client, MINE, token=token))["data"]["myBookings"]
    assert mine["totalCount"] == 1 and mine["edges"][0]["node"]["id"] == booking["id"]
    other = await customer_token(services, await make_customer(services))
    theirs = await gql(client, CANCEL, {"input": {"bookingId": booking["id"]}}, token=other)
    assert theirs["data"]["cancelBooking"]["errors"][0]["code"] == "NOT_FOUND"
    node = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": booking["id"]}, token=other
    )
    assert node["data"]["node"] is None
    cancelled = await gql(client, CANCEL, {"input": {"bookingId": booking["id"]}}, token=token)
    assert cancelled["data"]["cancelBooking"]["booking"]["state"] == "CANCELLED"
    assert not cancelled["data"]["cancelBooking"]["booking"]["cancellable"]


async def test_the_same_idempotency_key_books_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    variables = {
        "input": {
            "serviceId": gid("BenefitService", found["check_up"].id),
            "preferredAt": later(),
            "idempotencyKey": "book-key-0001",
        }
    }
    first = await gql(client, BOOK, variables, token=token)
    again = await gql(client, BOOK, variables, token=token)
    assert (
        first["data"]["bookService"]["booking"]["id"]
        == again["data"]["bookService"]["booking"]["id"]
    )
    assert await ServiceBooking.all().count() == 1
    variables["input"]["note"] = "换个说法"
    reused = await gql(client, BOOK, variables, token=token)
    assert reused["data"]["bookService"]["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limit_bookings_per_customer": "3/1h"}


async def test_booking_is_rate_limited_per_customer(
    client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    variables = {"input": {"serviceId": gid("BenefitService", found["doctor"].id)}}
    codes = [
        (await gql(client, BOOK, variables, token=token))["data"]["bookService"]["errors"][0]
        for _ in range(4)
    ]
    assert [c["code"] for c in codes] == ["NOT_ENTITLED"] * 3 + ["THROTTLED"]
    assert codes[-1]["retryAfterSeconds"] > 0


async def test_roadside_status_is_pushed_live_and_the_done_booking_can_be_rated(
    app: Starlette, services: Services
) -> None:
    await catalogue()  # the sandbox partner: development's default
    customer = await make_customer(services, name="张伟")
    car = await make_policy(services, customer)
    token = await customer_token(services, customer)
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        variables = {
            "input": {
                "policyId": gid("Policy", car.id),
                "latitude": 31.2304,
                "longitude": 121.4737,
                "need": "TOW",
                "plateNumber": "沪A12345",
                "address": "延安高架",
            }
        }
        requested = await gql(client, ROADSIDE, variables, token=token)
        payload = requested["data"]["requestRoadsideAssistance"]
        assert payload["errors"] == []
        booking = payload["booking"]
        assert booking["roadside"]["need"] == "TOW" and booking["roadside"]["latitude"] == 31.2304
        row = await ServiceBooking.get(id=relay.GlobalID.from_id(booking["id"]).node_id)
        sandbox = services.partners.sandbox("ROAD_CO")  # type: ignore[union-attr]
        assert isinstance(sandbox, SandboxPartner)
        relay_events = OutboxRelay(services.bus, services.queue)
        await relay_events.relay_once()
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await subscribe(ws, token, LIVE, {"id": booking["id"]})
            assert (await next_data(ws, "bookingUpdated"))["state"] == "REQUESTED"
            await subscribed(services.bus, f"booking:{row.id}")
            for sequence, (state, eta) in enumerate(
                [("DISPATCHED", None), ("EN_ROUTE", 20), ("ARRIVED", None), ("DONE", None)],
                start=1,
            ):
                headers, body = sandbox.notification(row.number, state, sequence, eta)
                response = await client.post(
                    "/partners/ROAD_CO/notify", content=body, headers=headers
                )
                assert response.json()["applied"] is True
                await relay_events.relay_once()
                pushed = await next_data(ws, "bookingUpdated")
                assert pushed["state"] == state
                if state == "EN_ROUTE":
                    assert pushed["etaAt"] is not None
                if state == "ARRIVED":
                    assert pushed["arrivedAt"] is not None
        rated = await gql(
            client,
            RATE,
            {"input": {"subjectType": "BOOKING", "subjectId": booking["id"], "stars": 5}},
            token=token,
        )
        assert rated["data"]["rateService"] == {"rating": {"stars": 5}, "errors": []}
        stranger = await customer_token(services, await make_customer(services))
        bad = await gql(
            client,
            RATE,
            {"input": {"subjectType": "BOOKING", "subjectId": booking["id"], "stars": 1}},
            token=stranger,
        )
        assert bad["data"]["rateService"]["errors"][0]["code"] == "NOT_FOUND"


async def test_a_booking_not_done_cannot_be_rated_and_nobody_else_can_watch_it(
    app: Starlette, client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    booked = await gql(
        client,
        BOOK,
        {
            "input": {
                "serviceId": gid("BenefitService", found["check_up"].id),
                "preferredAt": later(),
            }
        },
        token=token,
    )
    booking_id = booked["data"]["bookService"]["booking"]["id"]
    rated = await gql(
        client,
        RATE,
        {"input": {"subjectType": "BOOKING", "subjectId": booking_id, "stars": 4}},
        token=token,
    )
    assert rated["data"]["rateService"]["errors"][0]["code"] == "NOT_FOUND"
    stranger = await customer_token(services, await make_customer(services))
    transport = ASGIWebSocketTransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as ws_client,
        aconnect_ws("/graphql", ws_client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await subscribe(ws, stranger, LIVE, {"id": booking_id})
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "error" or message["payload"].get("errors"), message


async def test_staff_manage_the_catalogue_list_bookings_and_see_partner_figures(
    client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    refused = await gql(client, "{ partners { code } }", token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    save = """mutation($input: SavePartnerInput!) { savePartner(input: $input) {
      partner { id code baseUrl version } errors { field code } } }"""
    created = await gql(
        client,
        save,
        {"input": {"code": "BAD_CO", "name": "慢吞吞救援", "kind": "AUTO"}},
        token=supervisor,
    )
    partner = created["data"]["savePartner"]["partner"]
    assert partner["code"] == "BAD_CO" and partner["baseUrl"] is None
    bad_url = await gql(
        client,
        save,
        {"input": {"code": "EVIL", "name": "x", "kind": "AUTO", "baseUrl": "ftp://u:p@x/"}},
        token=supervisor,
    )
    assert bad_url["data"]["savePartner"]["errors"] == [
        {"field": "baseUrl", "code": "INVALID_INPUT"}
    ]
    duplicate = await gql(
        client,
        save,
        {"input": {"code": "ROAD_CO", "name": "重复", "kind": "AUTO"}},
        token=supervisor,
    )
    assert duplicate["data"]["savePartner"]["errors"][0]["code"] == "DUPLICATE_CODE"
    stale = await gql(
        client,
        save,
        {
            "input": {
                "partnerId": partner["id"],
                "expectedVersion": 7,
                "code": "BAD_CO",
                "name": "改名",
                "kind": "AUTO",
            }
        },
        token=supervisor,
    )
    assert stale["data"]["savePartner"]["errors"][0]["code"] == "VERSION_CONFLICT"
    service = """mutation($input: SaveBenefitServiceInput!) { saveBenefitService(input: $input) {
      service { code tiers yearlyQuota partnerName } errors { field code } } }"""
    saved = await gql(
        client,
        service,
        {
            "input": {
                "code": "DENTAL",
                "name": "齿科洁牙",
                "kind": "DENTAL",
                "partnerId": partner["id"],
                "tiers": ["PLATINUM"],
                "yearlyQuota": 1,
                "bookingMethod": "APPOINTMENT",
            }
        },
        token=supervisor,
    )
    assert saved["data"]["saveBenefitService"]["service"] == {
        "code": "DENTAL",
        "tiers": ["PLATINUM"],
        "yearlyQuota": 1,
        "partnerName": "慢吞吞救援",
    }
    # Bookings: one done and one cancelled by the slow partner's peer ROAD_CO.
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    await make_policy(services, customer)
    token = await customer_token(services, customer)
    for _ in range(2):
        await gql(
            client,
            BOOK,
            {
                "input": {
                    "serviceId": gid("BenefitService", found["check_up"].id),
                    "preferredAt": later(),
                }
            },
            token=token,
        )
    rows = await ServiceBooking.all().order_by("requested_at")
    await ServiceBooking.filter(id=rows[0].id).update(
        state=BookingState.DONE, confirmed_at=rows[0].requested_at + timedelta(minutes=30)
    )
    await ServiceBooking.filter(id=rows[1].id).update(
        state=BookingState.CANCELLED, cancel_reason="合作机构取消"
    )
    listed = await gql(client, STAFF_LIST, {"filter": {"state": ["DONE"]}}, token=supervisor)
    assert listed["data"]["serviceBookings"]["totalCount"] == 1
    health = await Partner.get(code="HEALTH_CO")
    by_partner = await gql(
        client, STAFF_LIST, {"filter": {"partnerId": gid("Partner", health.id)}}, token=supervisor
    )
    assert by_partner["data"]["serviceBookings"]["totalCount"] == 2
    today = local_today().isoformat()  # the figures count Shanghai days
    old = await gql(client, STAFF_LIST, {"filter": {"requestedTo": "2020-01-01"}}, token=supervisor)
    assert old["data"]["serviceBookings"]["totalCount"] == 0
    figures = (await gql(client, FIGURES, {"since": today, "until": today}, token=supervisor))[
        "data"
    ]["partnerFigures"]
    health_line = next(f for f in figures if f["partner"]["code"] == "HEALTH_CO")
    assert health_line["bookings"] == 2 and health_line["done"] == 1
    assert float(health_line["completionRate"]) == 0.5  # done 1 of the 2 the partner ended
    assert float(health_line["medianMinutesToConfirm"]) == 30.0
    assert health_line["cancelledByPartner"] == 1
    too_long = await gql(
        client,
        FIGURES,
        {"since": "2024-01-01", "until": today},
        token=supervisor,
        allow_errors=True,
    )
    assert too_long["errors"]
    assert await BenefitService.filter(code="DENTAL").exists()


async def test_in_development_the_sandbox_partner_reports_progress_through_the_callback_path(
    client: httpx.AsyncClient, services: Services
) -> None:
    found = await catalogue()
    customer = await make_customer(services)
    await make_member(customer.id, MemberTier.GOLD)
    token = await customer_token(services, customer)
    booked = await gql(
        client,
        BOOK,
        {
            "input": {
                "serviceId": gid("BenefitService", found["check_up"].id),
                "preferredAt": later(),
            }
        },
        token=token,
    )
    booking_id = booked["data"]["bookService"]["booking"]["id"]
    advance = """mutation($input: AdvanceSandboxBookingInput!) {
      advanceSandboxBooking(input: $input) { booking { state confirmedAt } errors { code } } }"""
    moved = await gql(
        client, advance, {"input": {"bookingId": booking_id, "state": "CONFIRMED"}}, token=token
    )
    assert moved["data"]["advanceSandboxBooking"]["booking"]["state"] == "CONFIRMED"
    assert moved["data"]["advanceSandboxBooking"]["booking"]["confirmedAt"]
    stranger = await customer_token(services, await make_customer(services))
    theirs = await gql(
        client, advance, {"input": {"bookingId": booking_id, "state": "DONE"}}, token=stranger
    )
    assert theirs["data"]["advanceSandboxBooking"]["errors"][0]["code"] == "NOT_FOUND"
    assert await PartnerEvent.filter(applied=True).count() == 1
