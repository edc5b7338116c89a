"""Issue a paid application's policy, and let unpaid ones expire.

Both take the application's row lock first, so a payment callback racing the expiry
job has exactly one outcome: the payment that locks first issues the policy (the job
then finds it ISSUED); the job that locks first expires the application (the payment
then finds it EXPIRED and its money goes back through the refund path). Expiry never
leaves a policy anyone sees: the row made at acceptance becomes NOT_TAKEN_UP.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.ids import global_id
from models.payments import PaymentOrder, RefundReason
from models.policies import Policy, PolicyStatus, Product
from models.policy_applications import ApplicationStatus, PolicyApplication
from payments.base import PaymentProvider
from push.outbox import emit
from workflows.jobs import MINUTE, Job
from workflows.numbering import Prefix, next_number
from workflows.payments.closing import close_open_orders

PENDING_PAYMENT = (ApplicationStatus.ACCEPTED, ApplicationStatus.EXPIRED)


async def issue_paid_application(order: PaymentOrder) -> None:
    """In the payment's transaction: if ``order`` pays an application's first premium,
    issue its policy; if the application expired meanwhile, refund the payment."""
    application = (
        await PolicyApplication.filter(policy_id=order.policy_id, status__in=PENDING_PAYMENT)
        .select_for_update()
        .first()
    )
    if application is None:
        return  # an ordinary installment of an issued policy
    if application.status is ApplicationStatus.EXPIRED:
        from workflows.payments.refunds import queue_refund

        await queue_refund(order, RefundReason.PAID_IN_ERROR, "投保申请已过支付期限，保费原路退还")
        return
    now = datetime.now(UTC)
    policy = await Policy.get(id=order.policy_id)
    product = await Product.get(id=policy.product_id)
    number = await next_number(Prefix.POLICY, now)
    status = PolicyStatus.ACTIVE if policy.starts_at <= now else PolicyStatus.PENDING
    await Policy.filter(id=policy.id, status=PolicyStatus.AWAITING_PAYMENT).update(
        number=number, status=status, issued_at=now
    )
    await PolicyApplication.filter(id=application.id).update(
        status=ApplicationStatus.ISSUED, issued_at=now
    )
    cooling_off_until = local_date(now) + timedelta(days=product.cooling_off_days)
    await emit(
        "policy.issued",
        entity_type="policy",
        entity_id=policy.id,
        customer_id=policy.holder_id,
        payload={
            "policy_id": global_id("Policy", policy.id),
            "policy_number": number,
            "product_name": product.name,
            "start_date": f"{local_date(policy.starts_at):%Y年%m月%d日}",
            "cooling_off_until": f"{cooling_off_until:%Y年%m月%d日}",
            "renewal": "1" if application.renewal_of_id else "",
        },
    )


async def expire_applications(
    providers: Mapping[str, PaymentProvider], now: datetime | None = None
) -> int:
    """Accepted applications not paid by their deadline, and referred ones whose cover
    would have started undecided, expire; their open orders close (here and at the
    provider). A payment that still arrives is refunded (``issue_paid_application``)."""
    now = now or datetime.now(UTC)
    due = PolicyApplication.filter(
        Q(status=ApplicationStatus.ACCEPTED, pay_by__lte=now)
        | Q(status=ApplicationStatus.REFERRED, starts_at__lte=now)
    ).values_list("id", flat=True)
    expired = 0
    for application_id in await due:
        async with in_transaction():
            application = (
                await PolicyApplication.filter(
                    id=application_id,
                    status__in=[ApplicationStatus.ACCEPTED, ApplicationStatus.REFERRED],
                )
                .select_for_update()
                .first()
            )
            if application is None:
                continue  # paid or decided meanwhile
            await PolicyApplication.filter(id=application.id).update(
                status=ApplicationStatus.EXPIRED, renewal_key=None
            )
            if application.policy_id is not None:
                await Policy.filter(
                    id=application.policy_id, status=PolicyStatus.AWAITING_PAYMENT
                ).update(status=PolicyStatus.NOT_TAKEN_UP)
            await emit(
                "application.expired",
                entity_type="policy_application",
                entity_id=application.id,
                customer_id=application.customer_id,
                payload={
                    "application_id": global_id("PolicyApplication", application.id),
                    "application_number": application.number,
                    "plan_name": application.plan_name,
                },
            )
        expired += 1
        if application.policy_id is not None:
            await close_open_orders(providers, now, policy_id=application.policy_id)
    return expired


JOBS = (
    Job(
        "application-expiry",
        MINUTE,
        lambda deps: expire_applications(deps.payment_providers),
    ),
)
