"""The demo's risk signals come from the rules over the demo's own claims and surveys,
in three review states."""

from __future__ import annotations

from api.demo import seed, seed_claims, seed_service_quality
from api.demo_risk import seed_risk
from api.services import Services
from api.settings import Settings
from models.risk import RiskRuleKind, RiskSignal, RiskSignalStatus


async def test_the_demo_has_signals_in_three_states(settings: Settings, services: Services) -> None:
    await seed(settings, services.pii)
    await seed_claims(services)
    await seed_service_quality()
    assert await seed_risk() >= 4
    kinds = set(await RiskSignal.all().values_list("kind", flat=True))
    assert {RiskRuleKind.EARLY_CLAIM, RiskRuleKind.FREQUENT_CLAIMS} <= kinds
    statuses = set(await RiskSignal.all().values_list("status", flat=True))
    assert statuses == {
        RiskSignalStatus.NEW,
        RiskSignalStatus.REVIEWING,
        RiskSignalStatus.DISMISSED,
    }
