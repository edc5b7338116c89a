"""Demo membership (会员制度): the tiers of the demo customers computed by the real rules
from the base demo's policies (张伟: gold — five policies in force, his son insured, more
than ¥5,000 paid this year, a customer for over a year), his points history (premiums
paid at 1 point per ¥10, a survey, a health task, a car-wash voucher redeemed), and a
downgrade in its grace period: 刘洋 was gold last year and now qualifies for silver only,
so he keeps gold until the grace ends.

Made by the real workflow functions; the premiums' points are credited with
``award_points`` from the base demo's paid installments, as the events consumer does
from ``payment.received`` (the base demo writes paid installments without events).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.services import Services
from models.clock import local_date
from models.customers import Customer
from models.membership import HealthTask, Membership, MemberTier, Reward
from models.policies import Policy, PremiumInstallment
from workflows.membership import award_points
from workflows.membership.health import complete_task, ensure_programmes
from workflows.membership.ledger import ensure_rewards, redeem
from workflows.membership.standing import recompute
from workflows.membership.store import current_rules

ZHANG_WEI = "13800000001"
LIU_YANG = "13800000004"
SINCE = timedelta(days=730)  # points history from the last two years


async def _premium_points(customer: Customer, now: datetime) -> None:
    rules = await current_rules()
    paid = await PremiumInstallment.filter(
        policy__holder_id=customer.id, paid_at__gte=now - SINCE
    ).order_by("paid_at")
    numbers = dict(await Policy.filter(holder_id=customer.id).values_list("id", "number"))
    for installment in paid:
        assert installment.paid_at is not None
        points = int(installment.amount // rules.points.yuan_per_point)
        if points <= 0:
            continue
        await award_points(
            customer.id,
            points,
            f"payment:demo-{installment.id}",
            f"缴纳保费{numbers.get(installment.policy_id, '')}",
            expires_on=rules.points_expire_on(local_date(installment.paid_at)),
        )


async def seed_membership(services: Services) -> dict[str, Membership]:
    now = datetime.now(UTC)
    await ensure_rewards()
    await ensure_programmes()
    customers = await Customer.all().order_by("created_at")
    by_phone = {services.pii.phone_hash(p): p for p in (ZHANG_WEI, LIU_YANG)}
    named = {by_phone[c.phone_hash]: c for c in customers if c.phone_hash in by_phone}
    liu = named.get(LIU_YANG)
    if liu is not None:  # gold since last year, before his auto policy ran out
        await Membership.create(
            customer=liu,
            tier=MemberTier.GOLD,
            tier_since=now - timedelta(days=400),
            recomputed_at=now - timedelta(days=1),
        )
    zhang = named.get(ZHANG_WEI)
    if zhang is not None:
        await _premium_points(zhang, now)
        rules = await current_rules()
        await award_points(
            zhang.id,
            rules.points.survey_points,
            "survey:demo-relationship",
            "参与满意度调查",
            expires_on=rules.points_expire_on(local_date(now)),
        )
        task = await HealthTask.get(code="READ_REPORT")
        await complete_task(zhang.id, task.id, None, now)
    rows = await recompute([c.id for c in customers], now)
    if zhang is not None:
        car_wash = await Reward.get(code="CAR_WASH")
        await redeem(zhang.id, car_wash.id, "demo-car-wash-1", now)
    return {str(c.name): rows[c.id] for c in customers}
