"""The demo's sum-insured increase is made by the real workflows and waits for
underwriting in the staff review queue."""

from __future__ import annotations

from decimal import Decimal

from api.demo import seed
from api.demo_cover_changes import seed_cover_changes
from api.demo_endorsements import seed_endorsements
from api.services import Services
from api.settings import Settings
from models.endorsements import EndorsementStatus, EndorsementType
from models.policies import Policy
from workflows.policy_service.endorsements import review_queue


async def test_the_demo_has_a_sum_insured_increase_waiting_for_review(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_endorsements(services)
    endorsement = await seed_cover_changes(services)
    assert endorsement is not None
    assert endorsement.type is EndorsementType.SUM_INSURED
    assert endorsement.status is EndorsementStatus.NEEDS_REVIEW
    policy = await Policy.get(id=endorsement.policy_id)
    assert Decimal(endorsement.after["sumInsured"]) == policy.sum_insured + 1000000
    assert endorsement.amount is not None and endorsement.amount > 0
    assert endorsement.id in {row.id for row in await review_queue()}
