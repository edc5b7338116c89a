"""A decision that loses a race writes nothing: an adjuster's decideClaim racing a
supervisor's approveClaimDecision (or another adjuster) never leaves decision lines that
disagree with the approved amount, and the loser adds no timeline entry or event."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.claims import Claim, ClaimEvent, ClaimLine
from models.notifications import OutboxEvent
from models.staff import StaffRole
from tests.conftest import postgres_only
from tests.factories import make_staff, staff_token
from tests.schema.test_claims import APPROVE, DECIDE, cast, do, line, under_review

__all__ = ["cast"]  # the fixture

ROUNDS = 6


async def lines_agree_with_the_claim(claim_id: str) -> None:
    claim = await Claim.get(id=relay.GlobalID.from_id(claim_id).node_id)
    lines = await ClaimLine.filter(claim_id=claim.id)
    assert sum((row.approved_amount for row in lines), Decimal(0)) == claim.approved_amount
    decided = await OutboxEvent.filter(event_type="claim.decided", entity_id=claim.id).count()
    assert decided == 1
    assert await ClaimEvent.filter(claim_id=claim.id, action="decide").count() == 1


@postgres_only
async def test_decide_racing_an_approval_leaves_consistent_lines(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    for _ in range(ROUNDS):
        claim = await under_review(client, cast)
        proposed = await do(
            client,
            DECIDE,
            cast["adjuster_token"],
            claimId=claim["id"],
            expectedVersion=claim["version"],
            lines=line(cast, "60500.00", "60000.00"),
        )
        assert proposed["errors"] == []
        version = proposed["claim"]["version"]
        decided, approved = await asyncio.gather(
            do(
                client,
                DECIDE,
                cast["adjuster_token"],
                claimId=claim["id"],
                expectedVersion=version,
                lines=line(cast, "40500.00", "40000.00"),
            ),
            do(
                client,
                APPROVE,
                cast["supervisor_token"],
                claimId=claim["id"],
                expectedVersion=version,
            ),
        )
        assert sorted([bool(decided["errors"]), bool(approved["errors"])]) == [False, True]
        await lines_agree_with_the_claim(claim["id"])


@postgres_only
async def test_adjusters_deciding_different_amounts_at_once_leave_the_winners_lines(
    client: httpx.AsyncClient, services: Services, cast: dict[str, Any]
) -> None:
    other = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    for _ in range(ROUNDS):
        claim = await under_review(client, cast)
        results = await asyncio.gather(
            *[
                do(
                    client,
                    DECIDE,
                    token,
                    claimId=claim["id"],
                    expectedVersion=claim["version"],
                    lines=line(cast, f"{amount + 500}.00", f"{amount}.00"),
                )
                for token, amount in ((cast["adjuster_token"], 2000), (other, 3000))
            ]
        )
        assert sum(not r["errors"] for r in results) == 1
        await lines_agree_with_the_claim(claim["id"])
