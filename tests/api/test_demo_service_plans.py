"""The demo's service plan for 张伟 is made by the real workflows from the base demo's
policies: the gaps his in-force policies leave, products sold online that close them
(each of which can be quoted: the online-sales demo gave it a rating form), and one
interest that put a visit on the agents' list."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from api.demo import seed
from api.demo_policy_buy import seed_policy_buy
from api.demo_service_plans import seed_service_plans
from api.services import Services
from api.settings import Settings
from models.policies import Product
from models.service_plans import ServicePlanInterest
from models.visits import FollowUpVisit, VisitTrigger
from workflows.policy_service.quotes import QuoteRequest, quote
from workflows.policy_service.service_plans import suggested_product_ids

# Whom each gap's product would insure: his wife (35), his father (over 60).
GAP_AGES = {"SPOUSE_NO_HEALTH": 35, "PARENTS_NO_ACCIDENT": 62, "PARENTS_NO_HEALTH": 62}


async def test_zhang_wei_has_a_plan_with_gaps_suggestions_and_a_follow_up(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_policy_buy(services)  # the demo's order: what is sold online first
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


async def test_every_product_the_demo_plan_suggests_can_be_quoted(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_policy_buy(services)
    plan = await seed_service_plans(services)
    assert plan is not None and suggested_product_ids(plan)
    start = date.today() + timedelta(days=7)
    quoted = set()
    for gap in plan.gaps:
        age = GAP_AGES[gap["code"]]
        birth = date(start.year - age - 1, start.month, 1)
        for product_id in map(uuid.UUID, gap["product_ids"]):
            answer = await quote(
                QuoteRequest(product_id, start, occupation_class=1, birth_date=birth)
            )
            assert any(p.available for p in answer.prices), (gap["code"], answer.product.code)
            quoted.add(product_id)
    assert quoted == set(suggested_product_ids(plan))
    health = await Product.get(code="HEALTH-MILLION-2026")
    assert health.id in quoted  # the medical product has its rating form now
