"""Demo changes of cover (变更保额): the million-yuan medical product gets its sum-insured
limits (1,000,000–10,000,000 yuan) in its service terms, and 张伟 asks to raise the sum
of his active medical policy by 1,000,000: an increase, so it waits in the staff review
queue for underwriting (log in as staff with POLICY_SERVICE to approve it; 张伟 then
sees the premium difference to pay). Made through the workflow functions, after the
endorsements demo (which creates the product's service terms).
"""

from __future__ import annotations

from decimal import Decimal

from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from models.endorsements import Endorsement, ProductServiceTerms
from models.policies import Policy, PolicyStatus, Product
from workflows.access import Actor
from workflows.policy_service import endorsements as flow

MEDICAL = "HEALTH-MILLION-2026"
LIMITS = (Decimal("1000000"), Decimal("10000000"))
ZHANG_WEI = "13800000001"


async def seed_cover_changes(services: Services) -> Endorsement | None:
    product = await Product.get_or_none(code=MEDICAL)
    holder = await Customer.get_or_none(phone_hash=services.pii.phone_hash(ZHANG_WEI))
    if product is None or holder is None:
        return None
    terms, _ = await ProductServiceTerms.get_or_create(product_id=product.id)
    terms.sum_insured_min, terms.sum_insured_max = LIMITS
    await terms.save(update_fields=["sum_insured_min", "sum_insured_max"])
    policy = (
        await Policy.filter(holder_id=holder.id, product_id=product.id, status=PolicyStatus.ACTIVE)
        .order_by("number")
        .first()
    )
    if policy is None:
        return None
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    change = flow.ChangeRequest(policy.id, sum_insured=policy.sum_insured + Decimal("1000000"))
    return await flow.request_policy_change(services, {}, me, change, "demo-sum-insured-up")
