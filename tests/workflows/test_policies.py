"""Policy status follows time: expiry, start of a paid pending policy, lapse after the
60-day grace period (announced)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.services import Services
from models.notifications import OutboxEvent
from models.policies import Policy, PolicyStatus, PremiumInstallment
from tests.factories import make_customer, make_policy
from workflows.policies import refresh_policy_statuses


async def test_statuses_follow_time(services: Services) -> None:
    now = datetime.now(UTC)
    holder = await make_customer(services)
    ended = await make_policy(services, holder, installments=0)
    await Policy.filter(id=ended.id).update(ends_at=now - timedelta(minutes=1))
    pending_paid = await make_policy(services, holder, status=PolicyStatus.PENDING)
    pending_unpaid = await make_policy(services, holder, status=PolicyStatus.PENDING)
    await PremiumInstallment.filter(policy_id=pending_unpaid.id).update(paid_at=None)
    grace_over = await make_policy(services, holder, installments=1)
    await PremiumInstallment.filter(policy_id=grace_over.id).update(
        paid_at=None, due_date=(now - timedelta(days=61)).date()
    )
    in_grace = await make_policy(services, holder, installments=1)
    await PremiumInstallment.filter(policy_id=in_grace.id).update(
        paid_at=None, due_date=(now - timedelta(days=30)).date()
    )

    assert await refresh_policy_statuses(now) == {"expired": 1, "started": 1, "lapsed": 1}
    statuses = {p.id: p.status for p in await Policy.all()}
    assert statuses == {
        ended.id: PolicyStatus.EXPIRED,
        pending_paid.id: PolicyStatus.ACTIVE,
        pending_unpaid.id: PolicyStatus.PENDING,
        grace_over.id: PolicyStatus.LAPSED,
        in_grace.id: PolicyStatus.ACTIVE,
    }
    lapse = await OutboxEvent.get(event_type="policy.lapsed")
    assert lapse.customer_id == holder.id and lapse.payload["policy_number"] == grace_over.number
    assert await refresh_policy_statuses(now) == {"expired": 0, "started": 0, "lapsed": 0}
