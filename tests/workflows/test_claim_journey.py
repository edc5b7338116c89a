"""Steps of the claim journey as customers and adjusters meet them (issue 12)."""

from __future__ import annotations

from decimal import Decimal

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus
from models.notifications import OutboxEvent
from models.policies import Coverage
from models.staff import StaffRole
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows import claims
from workflows.access import Actor

LIMIT = Decimal("50000")


async def _under_review(services: Services, **fields: object) -> tuple[Claim, Coverage, Actor]:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW, **fields)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    actor = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.ADJUSTER)
    return claim, await Coverage.get(policy_id=policy.id), actor


def _line(coverage: Coverage, amount: str) -> claims.DecisionLine:
    return claims.DecisionLine(coverage.id, Decimal(amount), Decimal(amount), "按发票核定")


async def test_a_decision_is_announced_once_as_paying(services: Services) -> None:
    claim, coverage, adjuster = await _under_review(services)
    before = await OutboxEvent.filter(entity_id=str(claim.id)).count()
    decided = await claims.decide_claim(
        adjuster, claim.id, [_line(coverage, "2500")], claim.version, authority_limit=LIMIT
    )
    assert decided.status is ClaimStatus.PAYING
    events = await OutboxEvent.filter(entity_id=str(claim.id)).offset(before)
    assert [(e.event_type, e.payload["status"]) for e in events] == [("claim.decided", "PAYING")]


async def test_the_decision_asks_for_an_account_when_none_is_on_file(
    services: Services,
) -> None:
    without, coverage, adjuster = await _under_review(services)
    await claims.decide_claim(
        adjuster, without.id, [_line(coverage, "2500")], without.version, authority_limit=LIMIT
    )
    chosen, coverage, adjuster = await _under_review(
        services, payout_provider="sandbox", payout_account="acct-1"
    )
    await claims.decide_claim(
        adjuster, chosen.id, [_line(coverage, "2500")], chosen.version, authority_limit=LIMIT
    )
    asks = {
        claim.id: (
            await OutboxEvent.get(entity_id=str(claim.id), event_type="claim.decided")
        ).payload["decision"]
        for claim in (without, chosen)
    }
    assert asks[without.id] == "同意赔付2000.00元，请在App中选择收款账户"
    assert asks[chosen.id] == "同意赔付2000.00元"
