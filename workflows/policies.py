"""A policy's status follows time: cover ends (EXPIRED), a first premium paid on a
pending policy starts it once its period begins (ACTIVE), and premium unpaid beyond the
60-day grace period of the Insurance Law, art. 36 (宽限期), suspends it (LAPSED).
The worker applies these rules every few minutes; each lapse is announced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.policies import Policy, PolicyStatus, PremiumInstallment
from push.outbox import emit
from workflows.ids import global_id

GRACE_DAYS = 60


async def refresh_policy_statuses(now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    today = local_date(now)
    expired = await Policy.filter(
        status__in=[PolicyStatus.ACTIVE, PolicyStatus.LAPSED], ends_at__lte=now
    ).update(status=PolicyStatus.EXPIRED)
    first_paid = PremiumInstallment.filter(sequence=1, paid_at__not_isnull=True).values("policy_id")
    started = await Policy.filter(
        status=PolicyStatus.PENDING,
        starts_at__lte=now,
        ends_at__gt=now,
        id__in=Subquery(first_paid),
    ).update(status=PolicyStatus.ACTIVE)
    long_overdue = PremiumInstallment.filter(
        paid_at=None, due_date__lt=today - timedelta(days=GRACE_DAYS)
    ).values("policy_id")
    lapsed = 0
    for policy in await Policy.filter(
        status=PolicyStatus.ACTIVE, id__in=Subquery(long_overdue)
    ).select_related("product"):
        async with in_transaction():
            changed = await Policy.filter(id=policy.id, status=PolicyStatus.ACTIVE).update(
                status=PolicyStatus.LAPSED
            )
            if changed:
                lapsed += 1
                await emit(
                    "policy.lapsed",
                    entity_type="policy",
                    entity_id=policy.id,
                    customer_id=policy.holder_id,
                    payload={
                        "policy_id": global_id("Policy", policy.id),
                        "policy_number": policy.number,
                        "product_name": policy.product.name,
                    },
                )
    return {"expired": expired, "started": started, "lapsed": lapsed}
