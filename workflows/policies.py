"""A policy's status follows time: cover ends (EXPIRED), a first premium paid on a
pending policy starts it once its period begins (ACTIVE), and premium unpaid beyond the
60-day grace period of the Insurance Law, art. 36 (宽限期), suspends it (LAPSED).
The worker applies these rules every few minutes; each lapse is announced. A policy
can also be cancelled in its cooling-off period (犹豫期), with every premium refunded."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.clock import local_date, local_today
from models.ids import global_id
from models.payments import OrderStatus, PaymentOrder, RefundReason
from models.policies import Policy, PolicyStatus, PremiumInstallment
from payments.base import PaymentProvider
from push.outbox import emit
from workflows.access import Actor
from workflows.errors import DomainError
from workflows.idempotency import once
from workflows.jobs import MINUTE, Job
from workflows.payments import refunds


class PolicyErrorCode(StrEnum):
    POLICY_NOT_FOUND = "POLICY_NOT_FOUND"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    COOLING_OFF_OVER = "COOLING_OFF_OVER"


class PolicyError(DomainError):
    codes = PolicyErrorCode


GRACE_DAYS = 60  # an installment unpaid this long after its due date lapses the policy


def installment_overdue(due_date: date, today: date) -> bool:
    """A premium is overdue from the day after its due date (days in Asia/Shanghai)."""
    return due_date < today


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
    # The contract's own premiums lapse it; a change's premium left unpaid (a higher sum
    # insured, a member added) only leaves that change waiting.
    long_overdue = PremiumInstallment.filter(
        paid_at=None, due_date__lt=today - timedelta(days=GRACE_DAYS), endorsement_id=None
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


async def cancel_in_cooling_off(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    policy_id: uuid.UUID,
    idempotency_key: str,
    *,
    notify_base_url: str,
) -> dict[str, str]:
    """Cancel a policy within its cooling-off period (犹豫期): the policy becomes
    CANCELLED and every premium paid for it is refunded in full."""
    request = {"policy": str(policy_id)}

    async def run() -> dict[str, str]:
        policy = await Policy.get_or_none(id=policy_id).select_related("product")
        if policy is None:
            raise PolicyError(PolicyErrorCode.POLICY_NOT_FOUND, "未找到该保单", "policyId")
        last_day = local_date(policy.issued_at) + timedelta(days=policy.product.cooling_off_days)
        if policy.status not in (PolicyStatus.ACTIVE, PolicyStatus.PENDING):
            raise PolicyError(PolicyErrorCode.NOT_CANCELLABLE, "保单当前状态不能退保", "policyId")
        if policy.product.cooling_off_days <= 0 or local_today() > last_day:
            raise PolicyError(
                PolicyErrorCode.COOLING_OFF_OVER, "已超过犹豫期，请按一般退保处理", "policyId"
            )
        async with in_transaction():
            changed = await Policy.filter(
                id=policy.id, status__in=[PolicyStatus.ACTIVE, PolicyStatus.PENDING]
            ).update(status=PolicyStatus.CANCELLED)
            if not changed:
                raise PolicyError(
                    PolicyErrorCode.NOT_CANCELLABLE, "保单当前状态不能退保", "policyId"
                )
            await emit(
                "policy.cancelled",
                entity_type="policy",
                entity_id=policy.id,
                customer_id=policy.holder_id,
                payload={
                    "policy_id": global_id("Policy", policy.id),
                    "policy_number": policy.number,
                    "reason": "cooling_off",
                },
            )
        for order in await PaymentOrder.filter(policy_id=policy.id, status=OrderStatus.PAID):
            amount = await refunds.refundable(order)
            if amount > 0:
                await refunds.start_refund(
                    providers,
                    actor,
                    order.id,
                    amount,
                    RefundReason.COOLING_OFF_CANCELLATION,
                    "犹豫期退保",
                    notify_base_url,
                )
        return {"policy_id": str(policy.id)}

    return await once(f"{actor.subject_id}:cancelInCoolingOff", idempotency_key, request, run)


JOBS = (Job("policy-statuses", 5 * MINUTE, lambda deps: refresh_policy_statuses()),)
