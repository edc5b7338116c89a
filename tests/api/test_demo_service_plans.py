"""The demo's service plan for 张伟 is made by the real workflows from the base demo's
policies: the gaps his in-force policies leave, products sold online that close them,
and one interest that put a visit on the agents' list."""

from __future__ import annotations

import uuid

from api.demo import seed
from api.demo_service_plans import seed_service_plans
from api.services import Services
from api.settings import Settings
from models.policies import Product
from models.service_plans import ServicePlanInterest
from models.visits import FollowUpVisit, VisitTrigger


async def test_zhang_wei_has_a_plan_with_gaps_suggestions_and_a_follow_up(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    plan = await seed_service_plans(services)
    assert plan is not None
    assert {g["code"] for g in plan.gaps} == {
        "SPOUSE_NO_HEALTH",  # his wife insures him, he does not insure her
        "PARENTS_NO_ACCIDENT",  # his father's accident policy is not in force yet
        "PARENTS_NO_HEALTH",  # his father's health policy lapsed
    }
    kinds = {item["kind"] for item in plan.existing_cover}
    assert kinds == {"AUTO", "HEALTH", "ACCIDENT", "PROPERTY", "TRAVEL"}
    online = {p.id: p.kind.value for p in await Product.filter(sold_online=True)}
    for gap in plan.gaps:
        assert gap["product_ids"], gap["code"]
        assert all(online[pid] == gap["kind"] for pid in map(uuid.UUID, gap["product_ids"]))
    interest = await ServicePlanInterest.get(plan_id=plan.id)
    visit = await FollowUpVisit.get(id=interest.visit_id)
    assert visit.trigger is VisitTrigger.NEW_POLICY_INTEREST
