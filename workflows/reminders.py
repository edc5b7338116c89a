"""Scheduled reminders, computed by the worker from the data: premium due (7 days and 1
day before), premium overdue, policy expiring (30 and 7 days before).

Each reminder is an outbox event with a dedupe key, so running the computation every few
minutes, on several workers, or after a day of downtime sends each reminder once. A
worker that was down catches up with the nearest stage only (no stale "7 days left"
the day before).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models.clock import local_date, local_midnight, local_today
from models.ids import global_id
from models.policies import Policy, PolicyStatus, PremiumInstallment
from models.policy_accounts import CollectionAgreement
from push.outbox import emit_once
from workflows.jobs import MINUTE, Job
from workflows.policies import installment_overdue

DUE_STAGES = ((1, "1d"), (7, "7d"))  # (at most this many days left, stage)
EXPIRY_STAGES = ((7, "7d"), (30, "30d"))


def stage_for(days_left: int, stages: tuple[tuple[int, str], ...]) -> str | None:
    for limit, stage in stages:
        if days_left <= limit:
            return stage
    return None


def _installment_payload(installment: PremiumInstallment) -> dict[str, str]:
    policy = installment.policy
    return {
        "policy_id": global_id("Policy", policy.id),
        "policy_number": policy.number,
        "sequence": str(installment.sequence),
        "amount": f"{installment.amount:.2f}",
        "due_date": f"{installment.due_date:%Y年%m月%d日}",
    }


async def premium_reminders(today: date) -> int:
    sent = 0
    # The term, not only the status: a policy that has ended may still say LAPSED until
    # the status job has run, and its premiums are no longer owed.
    unpaid = PremiumInstallment.filter(
        paid_at=None,
        cancelled_at=None,
        policy__status__in=[PolicyStatus.ACTIVE, PolicyStatus.LAPSED],
        policy__ends_at__gt=min(datetime.now(UTC), local_midnight(today + timedelta(days=1))),
        due_date__lte=today + timedelta(days=DUE_STAGES[-1][0]),
    ).select_related("policy")
    # Collected automatically (a withholding agreement on file): told of the charge, not
    # asked to pay (the collection job charges on the due day).
    withheld = {
        policy_id: local_date(signed)
        for policy_id, signed in await CollectionAgreement.filter(
            live_key__not_isnull=True
        ).values_list("policy_id", "signed_at")
        if signed is not None
    }
    async for installment in unpaid:
        days_left = (installment.due_date - today).days
        signed_on = withheld.get(installment.policy_id)
        automatic = (
            signed_on is not None
            and installment.endorsement_id is None
            and installment.due_date >= signed_on
        )
        if installment_overdue(installment.due_date, today):
            event_type, key = "premium.overdue", f"premium.overdue:{installment.id}"
        elif automatic:
            stage = stage_for(days_left, DUE_STAGES)
            event_type = "premium.due_withholding"
            key = f"premium.due:{installment.id}:{stage}"  # one reminder per stage either way
        else:
            stage = stage_for(days_left, DUE_STAGES)
            event_type, key = "premium.due", f"premium.due:{installment.id}:{stage}"
        sent += await emit_once(
            event_type,
            dedupe_key=key,
            entity_type="policy",
            entity_id=installment.policy.id,
            customer_id=installment.policy.holder_id,
            payload=_installment_payload(installment),
        )
    return sent


async def expiry_reminders(today: date) -> int:
    sent = 0
    horizon = local_midnight(today + timedelta(days=EXPIRY_STAGES[-1][0] + 1))
    expiring = Policy.filter(status=PolicyStatus.ACTIVE, ends_at__lt=horizon).select_related(
        "product"
    )
    async for policy in expiring:
        end = local_date(policy.ends_at)
        days_left = (end - today).days
        stage = stage_for(days_left, EXPIRY_STAGES) if days_left >= 0 else None
        if stage is None:
            continue
        # A renewable policy's reminder opens its renewal offer; another's only tells.
        kind = "policy.expiring" if policy.product.renewable else "policy.ending"
        sent += await emit_once(
            kind,
            dedupe_key=f"policy.expiring:{policy.id}:{stage}",
            entity_type="policy",
            entity_id=policy.id,
            customer_id=policy.holder_id,
            payload={
                "policy_id": global_id("Policy", policy.id),
                "policy_number": policy.number,
                "product_name": policy.product.name,
                "end_date": f"{end:%Y年%m月%d日}",
                "days": str(days_left),
            },
        )
    return sent


async def run_reminders(today: date | None = None) -> int:
    today = today or local_today()
    return await premium_reminders(today) + await expiry_reminders(today)


JOBS = (Job("reminders", 5 * MINUTE, lambda deps: run_reminders()),)
