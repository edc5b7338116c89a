"""``serviceDashboard`` over GraphQL: supervisors and admins read it, an agent and a
customer are refused, a range beyond the bounds is a user error, and the figures are
the workflow's (a claim reported today shows in today's funnel)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from api.services import Services
from models.claims import ClaimStatus
from models.clock import local_today
from models.staff import StaffRole
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql

DASHBOARD = """query($p: DashboardPeriod!, $from: Date!, $to: Date!) {
  serviceDashboard(period: $p, from: $from, to: $to) {
   errors { code field message }
   dashboard {
    period from to periods overdueClaimsNow
    claimFunnel { period segment reported complete completeRatio { count total ratePercent }
      toComplete { count medianHours p90Hours } }
    clockBreaches { period decision { count total } payment { count total } }
    payouts { lossType count total { amount currency } average { amount } }
    premiumCollection { period due dueAmount { amount } paidOnTime { count total } lapse { total } }
    deliveries { channel total sent failed delivered { ratePercent } }
    surveys { period responses csat { count total } nps }
    complaints { period received } topRootCauses { category name count total }
    conversations { period started handedOff { count total } }
    workload { staffId displayName claims claimsOverdue total }
  } } }"""


async def test_the_dashboard_over_graphql(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer, installments=0)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    await make_claim(customer, policy, ClaimStatus.REPORTED, assignee=adjuster)
    today = local_today().isoformat()
    window = {"p": "DAY", "from": today, "to": today}

    for token in (
        await staff_token(services, await make_staff(StaffRole.AGENT)),
        await customer_token(services, customer),
    ):
        denied = await gql(client, DASHBOARD, window, token=token, allow_errors=True)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await gql(client, DASHBOARD, window, allow_errors=True)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    for role in (StaffRole.SUPERVISOR, StaffRole.ADMIN):
        token = await staff_token(services, await make_staff(role))
        answer = (await gql(client, DASHBOARD, window, token=token))["data"]["serviceDashboard"]
        assert answer["errors"] == []
        board = answer["dashboard"]
        assert (board["period"], board["from"], board["periods"]) == ("DAY", today, [today])
        first = board["claimFunnel"][0]
        assert (first["segment"], first["reported"], first["complete"]) == ("ALL", 1, 0)
        assert first["completeRatio"] == {"count": 0, "total": 1, "ratePercent": "0.0"}
        assert {s["segment"] for s in board["claimFunnel"]} == {
            "ALL",
            "KIND:AUTO",
            "CHANNEL:APP",
        }
        [load] = board["workload"]
        assert (load["claims"], load["total"]) == (1, 1)
        assert load["staffId"] and len(board["surveys"]) == 1

    long = {"p": "DAY", "from": today, "to": (local_today() + timedelta(days=62)).isoformat()}
    refused = (await gql(client, DASHBOARD, long, token=token))["data"]["serviceDashboard"]
    assert refused["dashboard"] is None
    [error] = refused["errors"]
    assert (error["code"], error["field"]) == ("RANGE_TOO_LONG", "to")
    assert "62" in error["message"]
    backwards = {"p": "MONTH", "from": today, "to": "2000-01-01"}
    refused = (await gql(client, DASHBOARD, backwards, token=token))["data"]["serviceDashboard"]
    assert refused["errors"][0]["code"] == "INVALID_RANGE"
