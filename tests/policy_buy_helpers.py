"""Online products with rating tables for the buy-online and renewal tests (their own
data, not the demo's)."""

from __future__ import annotations

from typing import Any

from models.policies import Product, ProductKind
from models.policy_applications import RatingForm, RatingPlan
from tests.factories import make_product

HEALTH = [
    {
        "code": "HOSPITAL",
        "text": "过去两年内是否住院？",
        "if_yes": "REFER",
        "reason": "两年内住院史",
    },
    {"code": "CANCER", "text": "是否患有恶性肿瘤？", "if_yes": "DECLINE", "reason": "恶性肿瘤病史"},
]


async def accident_product(**fields: Any) -> Product:
    """Two plans: BASIC (18-65) and PLUS (18-50); ages 18-40 and 41-65 priced apart."""
    product = await make_product(
        ProductKind.ACCIDENT, sold_online=True, cooling_off_days=15, **fields
    )
    await RatingForm.create(
        product=product,
        occupation_factors={"1": "1.00", "2": "1.20", "3": "1.50"},
        health_questions=HEALTH,
        refer_above_sum_insured="1000000",
    )
    await RatingPlan.create(
        product=product,
        code="BASIC",
        name="基础版",
        position=0,
        coverages=[
            {"code": "DEATH", "name": "意外身故伤残", "sum_insured": "500000", "deductible": "0"},
            {"code": "MEDICAL", "name": "意外医疗", "sum_insured": "20000", "deductible": "100"},
        ],
        min_age=18,
        max_age=65,
        max_occupation_class=3,
        term_days=365,
        rates=[
            {"min_age": 18, "max_age": 40, "premium": "100.00"},
            {"min_age": 41, "max_age": 65, "premium": "150.00"},
        ],
    )
    await RatingPlan.create(
        product=product,
        code="PLUS",
        name="尊享版",
        position=1,
        coverages=[
            {"code": "DEATH", "name": "意外身故伤残", "sum_insured": "1000000", "deductible": "0"},
            {"code": "MEDICAL", "name": "意外医疗", "sum_insured": "50000", "deductible": "0"},
        ],
        min_age=18,
        max_age=50,
        max_occupation_class=2,
        term_days=365,
        rates=[
            {"min_age": 18, "max_age": 40, "premium": "200.00"},
            {"min_age": 41, "max_age": 50, "premium": "300.00"},
        ],
    )
    return product


async def travel_product() -> Product:
    product = await make_product(ProductKind.TRAVEL, sold_online=True, renewable=False)
    await RatingForm.create(
        product=product,
        occupation_factors={"1": "1.00", "2": "1.00", "3": "1.00", "4": "1.30"},
        destination_factors={
            "ASIA": {"name": "亚洲", "factor": "1.00"},
            "EUROPE": {"name": "欧洲（申根）", "factor": "1.60"},
        },
        health_questions=[],
    )
    await RatingPlan.create(
        product=product,
        code="TRIP",
        name="境外旅行",
        coverages=[
            {"code": "MEDICAL", "name": "境外医疗", "sum_insured": "300000", "deductible": "0"}
        ],
        min_age=0,
        max_age=80,
        max_occupation_class=4,
        term_days=None,
        rates=[
            {"min_age": 0, "max_age": 80, "max_days": 7, "premium": "50.00"},
            {"min_age": 0, "max_age": 80, "max_days": 30, "premium": "120.00"},
        ],
    )
    return product
