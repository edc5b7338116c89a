"""The buy-online demo is made by the real workflows: two online products with rating
tables, 张伟's application waiting for an underwriter, and his accident policy bought
online a year ago with its renewal offer open."""

from __future__ import annotations

from api.demo import seed
from api.demo_policy_buy import seed_policy_buy
from api.services import Services
from api.settings import Settings
from models.auth import SubjectKind
from models.policies import PolicyStatus, Product
from models.policy_applications import ApplicationStatus, PolicyApplication, RatingPlan
from workflows.access import Actor
from workflows.policy_service import referrals, renewal


async def test_the_demo_has_online_products_a_referral_and_a_renewal_offer(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_policy_buy(services)
    online = await Product.filter(sold_online=True).values_list("code", flat=True)
    assert sorted(online) == ["ACCIDENT-PLUS-2026", "HEALTH-MILLION-2026", "TRAVEL-ABROAD-2026"]
    assert await RatingPlan.all().count() == 7
    [waiting] = await referrals.underwriting_queue()
    assert waiting.insured_relation == "SPOUSE" and waiting.reasons
    issued = await PolicyApplication.get(status=ApplicationStatus.ISSUED).prefetch_related("policy")
    assert issued.policy is not None and issued.policy.status is PolicyStatus.ACTIVE
    holder = Actor(SubjectKind.CUSTOMER, issued.customer_id)
    offer = await renewal.renewal_offer(services.pii, holder, issued.policy.id)
    assert offer.available and offer.re_rated and offer.starts_at == issued.policy.ends_at
