"""Automatic premium collection (自动扣款): an installment of a policy with a withholding
agreement on file is charged with it on its due day (and, if refused, once a day after
that while it is unpaid and the policy owes premium), by the ``premium-collection`` job.

Only installments due on or after the day the agreement was signed: an agreement is
for premiums to come (自下一期起), an older arrear is the customer's to pay by hand.
Regular installments only: an endorsement's premium (a reinstatement, a member added)
is paid when the customer chooses to. A refusal tells the customer, with the
installment to pay by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from models.clock import local_date, local_today
from models.ids import global_id
from models.policies import Policy, PolicyStatus, PremiumInstallment
from models.policy_accounts import ChargeOutcome, ChargePurpose, CollectionAgreement
from push.outbox import emit
from workflows.jobs import HOUR, Job, JobDeps
from workflows.policy_service.withholding import charge, settle, take_attempt

log = logging.getLogger("anxin.collection")
OWING = (PolicyStatus.ACTIVE, PolicyStatus.LAPSED)
BATCH = 200


async def collect_due_premiums(deps: JobDeps, now: datetime | None = None) -> dict[str, int]:
    """Charge today's (and earlier refused) installments of policies with an agreement."""
    now = now or datetime.now(UTC)
    counts = {"charged": 0, "failed": 0}
    agreements = {
        a.policy_id: a
        for a in await CollectionAgreement.filter(live_key__not_isnull=True).limit(10 * BATCH)
    }
    due = (
        await PremiumInstallment.filter(
            policy_id__in=list(agreements),
            paid_at=None,
            endorsement_id=None,
            due_date__lte=local_today(),
            policy__status__in=OWING,
        )
        .select_related("policy__product")
        .order_by("due_date")
        .limit(BATCH)
    )
    for installment in due:
        agreement = agreements[installment.policy_id]
        signed = agreement.signed_at
        if signed is None or installment.due_date < local_date(signed):
            continue
        try:
            outcome = await _collect(deps, agreement, installment, now)
        except Exception:  # one installment's surprise must not stop the others
            log.exception("collection of installment %s failed", installment.id)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


async def _collect(
    deps: JobDeps,
    agreement: CollectionAgreement,
    installment: PremiumInstallment,
    now: datetime,
) -> str | None:
    payer = deps.payment_providers.get(agreement.provider)
    if payer is None:
        return None
    attempt = await take_attempt(installment.policy_id, ChargePurpose.INSTALLMENT, installment.id)
    if attempt is None:
        return None  # today's attempt was made (or is being made by another run)
    policy: Policy = installment.policy
    charged = await charge(
        payer,
        agreement,
        installment,
        policy.holder_id,
        f"{policy.product.name} 第{installment.sequence}期保费",
        deps.notify_base_url,
        now,
    )
    await settle(attempt, charged)
    if charged.outcome is not ChargeOutcome.FAILED:
        return "charged"
    await emit(
        "premium.withholding_failed",
        entity_type="policy",
        entity_id=policy.id,
        customer_id=policy.holder_id,
        payload={
            "policy_id": global_id("Policy", policy.id),
            "policy_number": policy.number,
            "installment_id": global_id("PremiumInstallment", installment.id),
            "sequence": str(installment.sequence),
            "amount": f"{installment.amount:.2f}",
        },
    )
    log.info(
        "collection of %s #%s refused: %s", policy.number, installment.sequence, charged.reason
    )
    return "failed"


JOBS = (Job("premium-collection", HOUR, collect_due_premiums, first_after=90),)
