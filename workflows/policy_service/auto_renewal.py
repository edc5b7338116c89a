"""Automatic renewal (自动续保): a policy whose holder opted in (``set_auto_renewal``, only
with a withholding agreement on file) is renewed by the ``auto-renewals`` job.

When: the reminder (``policy.auto_renewal_reminder``: "将于X日自动续保，扣款¥Y") goes
``REMIND_BEFORE`` (10 days) before the policy ends; the charge is made from
``CHARGE_BEFORE`` (7 days) before it ends, inside the renewal offer's window.

How: the renewal is made exactly as ``renewPolicy`` makes it (``renewal.renew_policy``:
a RENEWAL application, accepted by rule, its policy row unseen until paid) and its
installment is charged with the agreement (``AgreementProvider.withhold``). A paid
charge goes through ``record_payment``, the path of every premium callback, so the new
policy is issued in the payment's transaction and starts when the old one ends. The
provider's own callback for the same trade then finds it recorded: one effect.

Failures: a refused charge closes its order (no policy is issued), tells the customer
with a link to pay by hand (the renewal offer), and is tried again the next day — at
most once a day (the unique ``AutoRenewalCharge`` per policy and local day, taken
before anything is charged: two job runs at once charge once) — until the policy ends.
An answer of "in process" (or no answer) leaves the order open: the trade's callback
or the silent-orders job settles it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from models.auth import SubjectKind
from models.clock import local_date
from models.ids import global_id
from models.policies import Policy, PolicyStatus, PremiumInstallment
from models.policy_accounts import (
    ChargeOutcome,
    ChargePurpose,
    CollectionAgreement,
    PolicyAccount,
    WithholdingAttempt,
)
from models.policy_applications import ApplicationStatus, PolicyApplication
from payments.agreements import AgreementProvider
from payments.base import (
    PaymentProvider,
)
from push.outbox import emit, emit_once
from workflows.access import Actor, visible_policies
from workflows.idempotency import IdempotencyError
from workflows.jobs import HOUR, Job, JobDeps
from workflows.policy_service import payment_account, renewal
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode
from workflows.policy_service.rating import ApplicationError
from workflows.policy_service.withholding import Charged, charge, settle, take_attempt

log = logging.getLogger("anxin.auto_renewal")

REMIND_BEFORE = timedelta(days=10)
CHARGE_BEFORE = timedelta(days=7)
RENEWABLE_STATUSES = (PolicyStatus.ACTIVE, PolicyStatus.PENDING)
BATCH = 200


async def set_auto_renewal(actor: Actor, policy_id: uuid.UUID, enabled: bool) -> Policy:
    """The holder turns automatic renewal on (an agreement must be on file and the
    product renewable) or off (always possible)."""
    policy = await visible_policies(actor).filter(id=policy_id).select_related("product").first()
    if policy is None:
        raise EndorsementError(EndorsementErrorCode.POLICY_NOT_FOUND, "未找到该保单", "policyId")
    if policy.holder_id != actor.subject_id:
        raise EndorsementError(
            EndorsementErrorCode.NOT_ALLOWED, "只有投保人可以设置自动续保", "policyId"
        )
    if enabled:
        if not policy.product.renewable or policy.status not in RENEWABLE_STATUSES:
            raise EndorsementError(
                EndorsementErrorCode.NOT_RENEWABLE, "该保单不支持自动续保", "policyId"
            )
        if not await CollectionAgreement.exists(live_key=str(policy.id)):
            raise EndorsementError(
                EndorsementErrorCode.NO_AGREEMENT_ON_FILE,
                "请先签约自动扣款账户（变更缴费账户），再开通自动续保",
                "enabled",
            )
    await payment_account.ensure_account_row(policy.id)
    await PolicyAccount.filter(policy_id=policy.id).update(
        auto_renewal=enabled, auto_renewal_changed_at=datetime.now(UTC)
    )
    return policy


async def run_auto_renewals(deps: JobDeps, now: datetime | None = None) -> dict[str, int]:
    """Remind, then charge, the opted-in policies whose end is near."""
    now = now or datetime.now(UTC)
    counts = {"reminded": 0, "charged": 0, "failed": 0}
    opted = await PolicyAccount.filter(auto_renewal=True).values_list("policy_id", flat=True)
    due = (
        await Policy.filter(
            id__in=list(opted),
            status__in=RENEWABLE_STATUSES,
            ends_at__gt=now,
            ends_at__lte=now + REMIND_BEFORE,
        )
        .select_related("product")
        .order_by("ends_at")
        .limit(BATCH)
    )
    for policy in due:
        try:
            outcome = await _renew_one(deps, policy, now)
        except Exception:  # one policy's surprise must not stop the others
            log.exception("automatic renewal of %s failed", policy.number)
            continue
        if outcome:
            counts[outcome] += 1
    return counts


async def _renew_one(deps: JobDeps, policy: Policy, now: datetime) -> str | None:
    offer = await renewal._offer(deps.pii, policy, now)
    if offer.application is not None and offer.application.status is ApplicationStatus.ISSUED:
        return None  # renewed already (by hand, or by an earlier charge)
    if now < policy.ends_at - CHARGE_BEFORE:
        if offer.available and await _remind(policy, offer.premium, now):
            return "reminded"
        return None
    agreement = await CollectionAgreement.get_or_none(live_key=str(policy.id))
    payer = deps.payment_providers.get(agreement.provider) if agreement else None
    if agreement is None or payer is None or not isinstance(payer, AgreementProvider):
        return None  # the agreement ended (auto-renewal was turned off with it)
    if await PolicyApplication.exists(
        renewal_of_id=policy.id, status=ApplicationStatus.ACCEPTED, pay_by__lte=now
    ):
        return None  # past its payment window: the expiry job frees it, the next run renews
    attempt = await take_attempt(policy.id, ChargePurpose.RENEWAL, policy.id)
    if attempt is None:
        return None  # today's attempt was made (or is being made by another run)
    return await _charge(deps, payer, policy, agreement, attempt, offer.premium, now)


async def _remind(policy: Policy, premium: Decimal, now: datetime) -> bool:
    charge_day = local_date(max(policy.ends_at - CHARGE_BEFORE, now))
    return await emit_once(
        "policy.auto_renewal_reminder",
        dedupe_key=f"auto-renewal-reminder:{policy.id}:{local_date(policy.ends_at)}",
        entity_type="policy",
        entity_id=policy.id,
        customer_id=policy.holder_id,
        payload={
            "policy_id": global_id("Policy", policy.id),
            "policy_number": policy.number,
            "charge_date": f"{charge_day:%m月%d日}",
            "amount": f"{premium:.2f}" if premium is not None else "",
        },
    )


async def _charge(
    deps: JobDeps,
    payer: PaymentProvider,
    policy: Policy,
    agreement: CollectionAgreement,
    attempt: WithholdingAttempt,
    premium: Decimal,
    now: datetime,
) -> str:
    holder = Actor(kind=SubjectKind.CUSTOMER, subject_id=policy.holder_id)
    try:
        application = await _application(deps, holder, policy, premium, attempt, now)
        installment = await PremiumInstallment.get(policy_id=application.policy_id, sequence=1)
    except (ApplicationError, IdempotencyError) as error:
        charged = Charged(ChargeOutcome.FAILED, None, error.message)
        return await _failed(policy, attempt, charged, now)
    if installment.paid_at is not None:
        await settle(attempt, Charged(ChargeOutcome.PAID, None, "已缴费"))
        return "charged"
    charged = await charge(
        payer,
        agreement,
        installment,
        policy.holder_id,
        f"{policy.product.name} 自动续保保费",
        deps.notify_base_url,
        now,
    )
    await settle(attempt, charged)
    if charged.outcome is ChargeOutcome.FAILED:
        return await _failed(policy, attempt, charged, now)
    if charged.outcome is ChargeOutcome.PAID and charged.order is not None:
        renewed = await Policy.get(id=application.policy_id)
        await emit(
            "policy.auto_renewed",
            entity_type="policy",
            entity_id=renewed.id,
            customer_id=policy.holder_id,
            payload={
                "policy_id": global_id("Policy", renewed.id),
                "old_policy_number": policy.number,
                "policy_number": renewed.number,
                "amount": f"{charged.order.amount:.2f}",
                "start_date": f"{local_date(renewed.starts_at):%Y年%m月%d日}",
            },
        )
    return "charged"


async def _application(
    deps: JobDeps,
    holder: Actor,
    policy: Policy,
    premium: Decimal,
    attempt: WithholdingAttempt,
    now: datetime,
) -> PolicyApplication:
    """The live renewal application, or a new one made as ``renewPolicy`` makes it."""
    live = await PolicyApplication.filter(
        renewal_of_id=policy.id, status=ApplicationStatus.ACCEPTED, pay_by__gt=now
    ).first()
    if live is not None:
        return live
    if await PolicyApplication.exists(
        renewal_of_id=policy.id, status__in=(ApplicationStatus.ACCEPTED, ApplicationStatus.REFERRED)
    ):
        # Referred to an underwriter (rare: renewals are accepted by rule): not ours to pay.
        raise ApplicationError(renewal.E.RENEWAL_EXISTS, "续保申请尚在处理中", "policyId")
    # One key per attempt: a retry of this attempt finds its application, a later
    # attempt (after an expiry) makes a new one.
    application_id = await renewal.renew_policy(
        deps.pii, holder, policy.id, premium, f"auto-renewal:{attempt.id}"
    )
    application = await PolicyApplication.get(id=application_id)
    if application.status is not ApplicationStatus.ACCEPTED:
        raise ApplicationError(renewal.E.RENEWAL_EXISTS, "续保申请尚在处理中", "policyId")
    return application


async def _failed(
    policy: Policy, attempt: WithholdingAttempt, charged: Charged, now: datetime
) -> str:
    await settle(attempt, charged)
    last_chance = policy.ends_at - now <= timedelta(days=1)
    await emit(
        "policy.auto_renewal_failed",
        entity_type="policy",
        entity_id=policy.id,
        customer_id=policy.holder_id,
        payload={
            "policy_id": global_id("Policy", policy.id),
            "policy_number": policy.number,
            "end_date": f"{local_date(policy.ends_at):%Y年%m月%d日}",
            "retry": "" if last_chance else "我们将于明日再次尝试扣款，",
        },
    )
    log.info("automatic renewal charge of %s failed: %s", policy.number, charged.reason)
    return "failed"


JOBS = (Job("auto-renewals", HOUR, run_auto_renewals, first_after=60),)
