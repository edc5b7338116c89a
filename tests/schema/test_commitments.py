"""Commitments through GraphQL: the customer sees the promise on their claim with its
status in Chinese; staff see fast-tracked claims first in the queue (stable pages) and
the figures per period and per handler."""

from __future__ import annotations

from decimal import Decimal

import httpx

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.staff import StaffRole
from models.work_calendar import WorkCalendarDay
from tests.claims_helpers import gid
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.workflows.test_commitments import beijing
from workflows import commitments
from workflows.access import Actor
from workflows.team import teams

MINE = """query($id: ID!) { claim(id: $id) { fastTrack claimedAmount { amount }
  commitments { title status statusText deadline } } }"""
QUEUE = """query($after: String) { claimQueue(first: 2, after: $after) {
  edges { cursor node { reportNumber fastTrack } } pageInfo { hasNextPage endCursor } } }"""
FIGURES = """query($from: Date!, $to: Date!) { serviceCommitments(from: $from, to: $to,
  period: MONTH) { commitment { code } total { kept broken keptRate }
  periods { start tally { kept broken } } handlers { handler { id } role tally { broken } }
  teams { teamName tally { broken } } } }"""


async def test_the_promise_on_the_claim_the_queue_and_the_figures(
    client: httpx.AsyncClient, services: Services
) -> None:
    await WorkCalendarDay.all().delete()
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    admin = Actor(SubjectKind.STAFF, (await make_staff(StaffRole.ADMIN)).id, role=StaffRole.ADMIN)
    team = await teams.create_team(admin, "理赔一组")
    await teams.move_member(admin, adjuster.id, team.id)
    S = ClaimStatus
    made = []
    for n, fast in enumerate([False, True, False, True]):
        made.append(
            await make_claim(
                customer,
                policy,
                S.UNDER_REVIEW,
                fast_track=fast,
                claimed_amount=Decimal(3000),
                submitted_at=beijing(f"2026-10-0{n + 1}"),
                assignee_id=adjuster.id,
            )
        )
    for claim in made:
        await commitments.evaluate_subject("claim", claim.id, now=beijing("2026-10-05"))
    await commitments.sweep(now=beijing("2026-10-09"))  # all due 8 October 10:00

    me = await customer_token(services, customer)
    seen = (await gql(client, MINE, {"id": gid("Claim", made[1].id)}, token=me))["data"]["claim"]
    assert seen["fastTrack"] and seen["claimedAmount"] == {"amount": "3000.00"}
    assert seen["commitments"] == [
        {
            "title": "承诺1个工作日内审核",
            "status": "BROKEN",
            "statusText": "未兑现",
            "deadline": "2026-10-08T10:00:00+08:00",
        }
    ]

    staff = await staff_token(services, adjuster)
    pages, after = [], None
    while True:
        page = (await gql(client, QUEUE, {"after": after}, token=staff))["data"]["claimQueue"]
        pages += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["reportNumber"] for n in pages] == [
        made[i].report_number for i in (1, 3, 0, 2)
    ]  # fast track first, then oldest submission; each once across the pages

    boss = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    window = {"from": "2026-10-01", "to": "2026-10-31"}
    figures = (await gql(client, FIGURES, window, token=boss))["data"]["serviceCommitments"]
    decision = next(f for f in figures if f["commitment"]["code"] == "SMALL_CLAIM_DECISION")
    assert decision["total"] == {"kept": 0, "broken": 2, "keptRate": 0.0}
    assert decision["periods"] == [{"start": "2026-10-01", "tally": {"kept": 0, "broken": 2}}]
    assert decision["handlers"] == [
        {
            "handler": {"id": gid("StaffMember", adjuster.id)},
            "role": "ADJUSTER",
            "tally": {"broken": 2},
        }
    ]
    assert decision["teams"] == [{"teamName": "理赔一组", "tally": {"broken": 2}}]
    refused = await gql(client, FIGURES, window, token=me, allow_errors=True)
    assert refused["data"] is None or refused["data"]["serviceCommitments"] is None
