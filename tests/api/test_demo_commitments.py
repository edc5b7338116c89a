"""The demo's service commitments are made by the real workflows: 张伟's fast-tracked
small claims, one with both promises kept, one broken with its goodwill and call back."""

from __future__ import annotations

from collections import Counter

from api.demo import seed
from api.demo_commitments import seed_commitments
from api.services import Services
from api.settings import Settings
from models.claims import Claim
from models.commitments import CaseStatus, CommitmentCase
from models.membership import PointsEntry, PointsKind
from models.surveys import RecoveryTask


async def test_the_demo_has_kept_and_broken_promises(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_commitments(services)
    assert await Claim.filter(fast_track=True).count() == 2
    cases = await CommitmentCase.all().select_related("commitment")
    found = Counter((c.commitment.code, c.status) for c in cases)
    assert found == Counter(
        {
            ("SMALL_CLAIM_DECISION", CaseStatus.KEPT): 1,
            ("SMALL_CLAIM_PAYMENT", CaseStatus.KEPT): 1,
            ("SMALL_CLAIM_DECISION", CaseStatus.BROKEN): 1,
        }
    )
    broken = next(c for c in cases if c.status is CaseStatus.BROKEN)
    assert await PointsEntry.filter(
        customer_id=broken.customer_id, kind=PointsKind.GOODWILL, source=f"commitment:{broken.id}"
    ).exists()
    assert await RecoveryTask.filter(source="commitment", source_id=broken.id).exists()
