"""Demo service plan (定制化服务): 张伟 answered the needs and risk-tolerance questionnaire
(married, a son of 11, his father over 60, a car, trips abroad), so the app's
`myServicePlan` shows his cover, the gaps the rules found and why, and he asked an
agent about one suggested product: agent.li finds a NEW_POLICY_INTEREST visit with the
plan on the visit list.

Made by the real workflow functions, after the online-sales demo
(``api/demo_policy_buy.py``): the products it suggests are the ones sold online there,
each with its quote form and rating tables, so every suggestion can be quoted.
"""

from __future__ import annotations

from api.services import Services
from models.customers import Customer
from models.service_plans import ServicePlan
from workflows.policy_service.service_plans import (
    Answers,
    IncomeBand,
    RiskAttitude,
    make_plan,
    mark_interest,
    suggested_product_ids,
)

ZHANG_WEI = "13800000001"
ANSWERS = Answers(
    has_spouse=True,
    children_ages=(11,),
    parents_over_60=1,
    income_band=IncomeBand.FROM_100K_TO_300K,
    has_social_medical_insurance=True,
    owns_car=True,
    travels_abroad=True,
    risk_attitude=RiskAttitude.BALANCED,
)


async def seed_service_plans(services: Services) -> ServicePlan | None:
    customer = await Customer.get_or_none(phone_hash=services.pii.phone_hash(ZHANG_WEI))
    if customer is None:
        return None
    plan = await make_plan(customer.id, ANSWERS)
    suggested = suggested_product_ids(plan)
    if suggested:  # he asked about the first one (for his father)
        await mark_interest(customer.id, plan.id, suggested[0])
    return plan
