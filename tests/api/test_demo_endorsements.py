"""The demo's changes of policies are made by the real workflows, in several states."""

from __future__ import annotations

from collections import Counter

from api.demo import seed
from api.demo_endorsements import seed_endorsements
from api.services import Services
from api.settings import Settings
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType


async def test_the_demo_has_endorsements_in_several_states(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_endorsements(services)
    states = Counter(
        (row.type, row.status) for row in await Endorsement.all().only("type", "status")
    )
    S, T = EndorsementStatus, EndorsementType
    assert states == Counter(
        {
            (T.BENEFICIARIES, S.EFFECTIVE): 1,
            (T.PAYMENT_FREQUENCY, S.EFFECTIVE): 1,
            (T.BENEFICIARIES, S.CANCELLED): 1,
            (T.REINSTATEMENT, S.NEEDS_REVIEW): 1,
            (T.BENEFICIARIES, S.REJECTED): 1,
            (T.BENEFICIARIES, S.REQUESTED): 1,
            (T.BENEFICIARIES, S.NEEDS_REVIEW): 1,
            (T.CONTACT, S.EFFECTIVE): 1,
        }
    )
