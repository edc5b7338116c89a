"""Renewal (续保): an offer for a renewable policy before it ends, re-rated from the
product's rating tables when it has them (else the current premium), with what changed
since last year; one tap makes a RENEWAL application, accepted by rule and paid like
any first premium. The new policy starts exactly when the old one ends (no gap) and is
linked to it through its application (``renewedFrom`` / ``renewedBy``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.clock import local_date, local_today
from models.pii import PiiCipher
from models.policies import Beneficiary, Coverage, InsuredPerson, Policy, PolicyStatus, Product
from models.policy_applications import (
    ApplicationKind,
    ApplicationStatus,
    PolicyApplication,
    RatingForm,
    RatingPlan,
)
from workflows.access import Actor, visible_policies
from workflows.idempotency import once
from workflows.numbering import Prefix, next_number
from workflows.policy_service.applications import settle_outcome
from workflows.policy_service.identity import age_on, parse_id_number
from workflows.policy_service.rating import ApplicationError, QuoteAnswers, price
from workflows.policy_service.rating import ApplicationErrorCode as E
from workflows.policy_service.underwriting import Outcome

RENEWAL_WINDOW = timedelta(days=60)  # offers open this long before the policy ends
LIVE = (ApplicationStatus.REFERRED, ApplicationStatus.ACCEPTED, ApplicationStatus.ISSUED)


@dataclass
class RenewalOffer:
    policy: Policy
    available: bool
    reason: str  # why not, when not available
    starts_at: datetime
    ends_at: datetime
    premium: Decimal
    re_rated: bool  # from the rating tables (else the current premium)
    changes: list[str] = field(default_factory=list)
    plan: RatingPlan | None = None
    application: PolicyApplication | None = None  # a renewal already asked for


async def _held_policy(actor: Actor, policy_id: uuid.UUID) -> Policy:
    policy = (
        await visible_policies(actor)
        .filter(id=policy_id, holder_id=actor.subject_id)
        .select_related("product")
        .first()
    )
    if policy is None:  # only the holder renews; others' policies answer as missing
        raise ApplicationError(E.POLICY_NOT_FOUND, "未找到该保单", "policyId")
    return policy


async def renewal_offer(pii: PiiCipher, actor: Actor, policy_id: uuid.UUID) -> RenewalOffer:
    """The offer for one of the caller's policies (available or why not)."""
    return await _offer(pii, await _held_policy(actor, policy_id), datetime.now(UTC))


async def _offer(pii: PiiCipher, policy: Policy, now: datetime) -> RenewalOffer:
    product: Product = policy.product
    starts_at = policy.ends_at
    ends_at = policy.ends_at + (policy.ends_at - policy.starts_at)
    offer = RenewalOffer(policy, True, "", starts_at, ends_at, policy.premium, False)
    offer.application = (
        await PolicyApplication.filter(renewal_of_id=policy.id, status__in=LIVE)
        .order_by("-created_at")
        .first()
    )
    if not product.renewable:
        return _unavailable(offer, "该产品不支持续保")
    if policy.status not in (PolicyStatus.ACTIVE, PolicyStatus.PENDING):
        return _unavailable(offer, "保单当前状态不能续保")
    if policy.ends_at <= now:
        return _unavailable(offer, "保单已到期，请重新投保")
    if policy.ends_at - now > RENEWAL_WINDOW:
        opens = local_date(policy.ends_at - RENEWAL_WINDOW)
        return _unavailable(offer, f"续保将于{opens:%Y年%m月%d日}开放")
    await _re_rate(pii, offer)
    return offer


def _unavailable(offer: RenewalOffer, reason: str) -> RenewalOffer:
    offer.available = False
    offer.reason = reason
    return offer


async def _re_rate(pii: PiiCipher, offer: RenewalOffer) -> None:
    """The premium from the rating tables where the product has them, and the changes."""
    policy = offer.policy
    first = await PolicyApplication.filter(policy_id=policy.id).first()
    form = await RatingForm.get_or_none(product_id=policy.product_id)
    plan = None
    if first is not None and first.plan_id is not None:
        plan = await RatingPlan.get_or_none(id=first.plan_id)
    insured = await InsuredPerson.filter(policy_id=policy.id).order_by("position").first()
    if form is None or plan is None or insured is None:
        offer.changes.append(f"续保保费与上年相同：{policy.premium:.2f}元")
        return
    facts = parse_id_number(pii.decrypt(insured.id_number_encrypted, "id_number"), local_today())
    if facts is None:
        offer.changes.append(f"续保保费与上年相同：{policy.premium:.2f}元")
        return
    answers = first.answers if first else {}
    age = age_on(facts.birth_date, local_date(offer.starts_at))
    priced = price(
        form,
        plan,
        QuoteAnswers(
            age,
            int(answers.get("occupation_class") or 1),
            answers.get("destination"),
            answers.get("travel_days"),
        ),
    )
    offer.plan = plan
    if priced.premium is None:
        _unavailable(offer, "；".join(priced.reasons))
        return
    offer.premium = priced.premium
    offer.re_rated = True
    last_age = answers.get("age")
    if last_age is not None and last_age != age:
        offer.changes.append(f"被保险人年龄由{last_age}周岁变为{age}周岁")
    if priced.premium != policy.premium:
        offer.changes.append(f"保费由{policy.premium:.2f}元调整为{priced.premium:.2f}元")
    else:
        offer.changes.append(f"保费不变：{policy.premium:.2f}元")
    offer.changes.extend(await _coverage_changes(policy, plan))


async def _coverage_changes(policy: Policy, plan: RatingPlan) -> list[str]:
    before = {c.code: c for c in await Coverage.filter(policy_id=policy.id)}
    after = {c["code"]: c for c in plan.coverages}
    changes = []
    for code, cover in after.items():
        old = before.get(code)
        amount = Decimal(cover["sum_insured"])
        if old is None:
            changes.append(f"新增保障：{cover['name']}，保额{amount:.0f}元")
        elif old.sum_insured != amount:
            changes.append(f"{cover['name']}保额由{old.sum_insured:.0f}元调整为{amount:.0f}元")
    changes.extend(f"不再提供：{old.name}" for code, old in before.items() if code not in after)
    return changes


async def renew_policy(
    pii: PiiCipher,
    actor: Actor,
    policy_id: uuid.UUID,
    expected_premium: Decimal,
    idempotency_key: str,
) -> uuid.UUID:
    """One tap: a RENEWAL application at the offered premium, accepted by rule; its
    installment is paid with ``createPremiumPayment``. The same key returns it again."""
    request = {"policy": str(policy_id), "premium": f"{expected_premium:.2f}"}

    async def run() -> dict[str, Any]:
        application = await _renew(pii, actor, policy_id, expected_premium)
        return {"application_id": str(application.id)}

    answer = await once(f"{actor.subject_id}:renewPolicy", idempotency_key, request, run)
    return uuid.UUID(answer["application_id"])


async def _renew(
    pii: PiiCipher, actor: Actor, policy_id: uuid.UUID, expected_premium: Decimal
) -> PolicyApplication:
    now = datetime.now(UTC)
    policy = await _held_policy(actor, policy_id)
    offer = await _offer(pii, policy, now)
    if offer.application is not None:
        raise ApplicationError(E.RENEWAL_EXISTS, "该保单已申请续保", "policyId")
    if not offer.available:
        raise ApplicationError(E.NOT_RENEWABLE, offer.reason, "policyId")
    if offer.premium != expected_premium:
        raise ApplicationError(
            E.PREMIUM_CHANGED, f"续保保费已更新为{offer.premium:.2f}元，请确认后再续保", "premium"
        )
    insured = await InsuredPerson.filter(policy_id=policy.id).order_by("position").first()
    if insured is None:
        raise ApplicationError(E.NOT_RENEWABLE, "保单缺少被保险人信息，请联系客服续保", "policyId")
    facts = parse_id_number(pii.decrypt(insured.id_number_encrypted, "id_number"), local_today())
    if facts is None:
        raise ApplicationError(E.NOT_RENEWABLE, "被保险人证件信息有误，请联系客服续保", "policyId")
    first = await PolicyApplication.filter(policy_id=policy.id).first()
    beneficiaries = [
        {
            "name": b.name,
            "relation": b.relation_to_insured,
            "share": f"{b.share_percent:.2f}",
            "id_encrypted": b.id_number_encrypted,
            "id_hash": b.id_number_hash,
            "id_masked": b.id_number_masked,
            "consent_at": now.isoformat(),
        }
        for b in await Beneficiary.filter(policy_id=policy.id).order_by("position")
    ]
    form = await RatingForm.get_or_none(product_id=policy.product_id)
    try:
        async with in_transaction():
            application = await PolicyApplication.create(
                number=await next_number(Prefix.APPLICATION, now),
                kind=ApplicationKind.RENEWAL,
                customer_id=policy.holder_id,
                product_id=policy.product_id,
                plan_id=offer.plan.id if offer.plan else None,
                plan_name=offer.plan.name if offer.plan else policy.product.name,
                status=ApplicationStatus.REFERRED,
                answers=(first.answers if first else {}) | {"changes": offer.changes},
                insured_relation=insured.relation_to_holder,
                insured_name=insured.name,
                insured_id_encrypted=insured.id_number_encrypted,
                insured_id_hash=insured.id_number_hash,
                insured_id_masked=insured.id_number_masked,
                insured_birth_date=facts.birth_date,
                insured_sex=str(facts.sex),
                beneficiaries=beneficiaries,
                sum_insured=policy.sum_insured,
                premium=offer.premium,
                starts_at=offer.starts_at,
                ends_at=offer.ends_at,
                renewal_of_id=policy.id,
                renewal_key=str(policy.id),
            )
            outcome = Outcome("ACCEPT", "续保自动核保通过")
            await settle_outcome(application, outcome, form, decided_by=None, now=now)
    except IntegrityError:
        raise ApplicationError(E.RENEWAL_EXISTS, "该保单已申请续保", "policyId") from None
    return application


async def renewed_from(policy_id: uuid.UUID) -> uuid.UUID | None:
    """The policy this one renewed, if it was issued as a renewal."""
    row = await PolicyApplication.filter(
        policy_id=policy_id, kind=ApplicationKind.RENEWAL, status=ApplicationStatus.ISSUED
    ).first()
    return row.renewal_of_id if row else None


async def renewed_by(policy_id: uuid.UUID) -> uuid.UUID | None:
    """The policy that renewed this one, once issued."""
    row = await PolicyApplication.filter(
        renewal_of_id=policy_id, status=ApplicationStatus.ISSUED
    ).first()
    return row.policy_id if row else None
