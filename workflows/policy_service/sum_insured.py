"""A change of the sum insured (变更保额) within the product's limits.

Rules (stated in the README):
- The new sum lies within ``ProductServiceTerms.sum_insured_min``/``max`` (a product
  without limits does not change its sum); no coverage falls under what it has already
  paid (``used_amount``).
- It applies to losses from the next day (Asia/Shanghai): the endorsement's
  ``effective_date``; the coverages' amounts are changed that day by the
  ``sum-insured-changes`` job, so a loss of today is assessed at today's sum.
- The premium difference is the policy's own rate — its term premium per yuan of sum
  insured, which the product's rating table set at issue for this insured's age and
  occupation — times the change, pro rata by day for the rest of the term from the
  effective date. The rating tables price fixed plan levels only; a sum between them has
  no row, and the policy's rate scales the table's answer linearly.
- An increase needs underwriting: NEEDS_REVIEW in the policy-service review queue
  (POLICY_SERVICE). Approval re-rates from the next day and asks the difference as one
  installment (paid with ``createPremiumPayment``); the payment fixes the effective date
  (the day after it), and the days paid for while the payment was late are refunded.
- A decrease is approved at once; on its effective date the difference is refunded
  through the refund path against the policy's paid orders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.clock import local_date, local_today
from models.endorsements import (
    Endorsement,
    EndorsementStatus,
    EndorsementType,
    ProductServiceTerms,
)
from models.payments import PaymentOrder, RefundReason
from models.policies import Coverage, Policy, PolicyStatus, PremiumInstallment
from workflows.access import Actor
from workflows.jobs import MINUTE, Job
from workflows.payments import refunds
from workflows.policy_service import endorsement_refunds
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode
from workflows.policy_service.endorsement_state import add_to_timeline, lock, transition

log = logging.getLogger("anxin.endorsements")
CENT = Decimal("0.01")
S = EndorsementStatus
E = EndorsementErrorCode
MAX_SUM = Decimal("100000000")  # an input bound beyond any product's limit


@dataclass(frozen=True)
class CoverageChange:
    code: str
    name: str
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class SumInsuredQuote:
    before: Decimal
    after: Decimal
    term_premium: Decimal  # the policy's premium for its term, before the change
    difference: Decimal  # signed: > 0 due from the holder, < 0 refunded
    effective_date: date
    days_left: int
    term_days: int
    coverages: list[CoverageChange]

    @property
    def increase(self) -> bool:
        return self.after > self.before


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _out_of_range(terms: ProductServiceTerms) -> str:
    low, high = terms.sum_insured_min, terms.sum_insured_max
    if low is not None and high is not None:
        return f"保额应在{low:.0f}元至{high:.0f}元之间"
    return f"保额不能低于{low:.0f}元" if low is not None else f"保额不能高于{high:.0f}元"


async def quote(policy: Policy, new_sum: Decimal, effective: date) -> SumInsuredQuote:
    """The change and its premium difference from ``effective``, or why not."""
    field = "sumInsured.sumInsured"
    if policy.status is not PolicyStatus.ACTIVE:
        raise EndorsementError(E.POLICY_NOT_IN_FORCE, "只有有效保单可以变更保额", "policyId")
    terms = await ProductServiceTerms.get_or_none(product_id=policy.product_id)
    if (
        terms is None
        or (terms.sum_insured_min is None and terms.sum_insured_max is None)
        or policy.sum_insured <= 0
    ):
        raise EndorsementError(E.SUM_INSURED_NOT_ADJUSTABLE, "该产品不支持变更保额", "policyId")
    if new_sum <= 0 or new_sum > MAX_SUM or new_sum != new_sum.quantize(CENT):
        raise EndorsementError(E.SUM_INSURED_OUT_OF_RANGE, "请填写正确的保额", field)
    if (terms.sum_insured_min is not None and new_sum < terms.sum_insured_min) or (
        terms.sum_insured_max is not None and new_sum > terms.sum_insured_max
    ):
        raise EndorsementError(E.SUM_INSURED_OUT_OF_RANGE, _out_of_range(terms), field)
    if new_sum == policy.sum_insured:
        raise EndorsementError(E.NOTHING_TO_CHANGE, "新保额与现保额相同", field)
    start, end = local_date(policy.starts_at), local_date(policy.ends_at)
    if effective >= end:
        raise EndorsementError(
            E.POLICY_NOT_IN_FORCE, "保险期间即将届满，请在续保时调整保额", "policyId"
        )
    ratio = new_sum / policy.sum_insured
    changes = []
    for coverage in await Coverage.filter(policy_id=policy.id).order_by("position", "code"):
        after = _cents(coverage.sum_insured * ratio)
        if after < coverage.used_amount:
            raise EndorsementError(
                E.BELOW_AMOUNT_PAID,
                f"{coverage.name}已赔付{coverage.used_amount}元，保额不能低于已赔付金额",
                field,
            )
        changes.append(CoverageChange(coverage.code, coverage.name, coverage.sum_insured, after))
    days_left, term_days = (end - effective).days, max((end - start).days, 1)
    difference = _cents(
        policy.premium * (new_sum - policy.sum_insured) / policy.sum_insured * days_left / term_days
    )
    if difference < 0:
        await endorsement_refunds.check_refundable(policy.id, -difference)
    return SumInsuredQuote(
        policy.sum_insured,
        new_sum,
        policy.premium,
        difference,
        effective,
        days_left,
        term_days,
        changes,
    )


def before_values(quoted: SumInsuredQuote) -> dict[str, Any]:
    return {
        "sumInsured": f"{quoted.before:.2f}",
        "premium": f"{quoted.term_premium:.2f}",
        "coverages": [
            {"code": c.code, "name": c.name, "sumInsured": f"{c.before:.2f}"}
            for c in quoted.coverages
        ],
    }


def after_values(quoted: SumInsuredQuote) -> dict[str, Any]:
    return {
        "sumInsured": f"{quoted.after:.2f}",
        "difference": f"{quoted.difference:.2f}",
        "effectiveDate": quoted.effective_date.isoformat(),
        "daysLeft": quoted.days_left,
        "termDays": quoted.term_days,
        "coverages": [
            {"code": c.code, "name": c.name, "sumInsured": f"{c.after:.2f}"}
            for c in quoted.coverages
        ],
    }


def describe(quoted: SumInsuredQuote) -> str:
    money = (
        f"应补保费{quoted.difference}元"
        if quoted.difference >= 0
        else f"应退保费{-quoted.difference}元"
    )
    return (
        f"保额由{quoted.before}元变更为{quoted.after}元，自{quoted.effective_date}起生效，{money}"
    )


async def approved(endorsement: Endorsement, actor: Actor) -> Endorsement:
    """An increase approved by staff (caller's transaction): re-rated from the next day
    and its difference asked as one installment."""
    from workflows.policy_service import members

    policy = await Policy.filter(id=endorsement.policy_id).select_for_update().get()
    effective = local_today() + timedelta(days=1)
    quoted = await quote(policy, Decimal(endorsement.after["sumInsured"]), effective)
    free = quoted.difference <= 0  # a change too small to cost a cent
    await Endorsement.filter(id=endorsement.id).update(
        amount=quoted.difference,
        after=after_values(quoted),
        version=F("version") + 1,
        **({"effective_date": effective} if free else {}),
    )
    await endorsement.refresh_from_db()
    if free:
        return endorsement
    installment = await members.add_installment(endorsement)
    await add_to_timeline(
        endorsement,
        actor,
        "premium_due",
        S.APPROVED,
        S.APPROVED,
        f"核保通过，请缴纳补缴保费{installment.amount}元；缴费次日起按新保额{quoted.after}元承保",
    )
    return endorsement


def _daily(after: dict[str, Any]) -> Decimal:
    return Decimal(after["difference"]) / max(int(after["daysLeft"]), 1)


async def premium_paid(
    endorsement: Endorsement, installment: PremiumInstallment, order: PaymentOrder
) -> None:
    """An increase's difference was paid (the payment's transaction, the endorsement
    locked): effective from the next day; days paid for but passed while the payment was
    late are refunded from this order."""
    effective = local_today() + timedelta(days=1)
    planned = date.fromisoformat(endorsement.after["effectiveDate"])
    after = dict(endorsement.after)
    note = f"补缴保费{installment.amount}元已缴纳，自{effective}起按新保额承保"
    late = (effective - planned).days
    if late > 0:
        extra = min(_cents(_daily(after) * late), installment.amount)
        if extra > 0:
            refund = await refunds.queue_partial_refund(
                order.id, extra, RefundReason.ENDORSEMENT, "保额变更延迟缴费期间保费退还", None
            )
            after["refunds"] = [*after.get("refunds", []), refund.refund_number]
            after["difference"] = f"{Decimal(after['difference']) - extra:.2f}"
            note += f"；延迟缴费{late}天，退还{extra}元"
        after["effectiveDate"] = effective.isoformat()
        after["daysLeft"] = int(after["daysLeft"]) - late
    await Endorsement.filter(id=endorsement.id).update(
        effective_date=effective, after=after, version=F("version") + 1
    )
    await add_to_timeline(endorsement, None, "paid", S.APPROVED, S.APPROVED, note)


async def _apply(endorsement: Endorsement, day: date) -> bool:
    """The new sum in force (its own transaction, the policy and endorsement locked)."""
    policy = await Policy.filter(id=endorsement.policy_id).select_for_update().get()
    current = await lock(endorsement.id)
    if current.status is not S.APPROVED or current.effective_date is None:
        return False
    if current.effective_date > day:
        return False
    if policy.status is not PolicyStatus.ACTIVE:
        log.warning("sum insured change %s: policy not active, left", current.number)
        return False
    after = current.after
    new_sum = Decimal(after["sumInsured"])
    ratio = new_sum / policy.sum_insured
    for coverage in await Coverage.filter(policy_id=policy.id):
        amount = max(_cents(coverage.sum_insured * ratio), coverage.used_amount)
        await Coverage.filter(id=coverage.id).update(sum_insured=amount)
    difference = Decimal(after["difference"])
    await Policy.filter(id=policy.id).update(
        sum_insured=new_sum, premium=policy.premium + difference
    )
    note = f"保额已变更为{new_sum}元"
    updates: dict[str, Any] = {}
    if difference < 0:
        queued = await endorsement_refunds.queue_refunds(
            policy.id, -difference, "降低保额退还保费", None
        )
        updates["after"] = after | {"refunds": [r.refund_number for r in queued]}
        note += f"，退还保费{-difference}元（{'、'.join(r.refund_number for r in queued)}）"
    await transition(
        current,
        None,
        to=S.EFFECTIVE,
        action="effect",
        note=note,
        effective_at=datetime.now(UTC),
        **updates,
    )
    return True


async def apply_due(today: date | None = None) -> int:
    """The job: changes whose effective date has come take effect, each on its own."""
    day = today or local_today()
    done = 0
    for endorsement in await Endorsement.filter(
        type=EndorsementType.SUM_INSURED, status=S.APPROVED, effective_date__lte=day
    ).limit(200):
        try:
            async with in_transaction():
                done += await _apply(endorsement, day)
        except Exception:
            log.exception("sum insured change %s not applied", endorsement.number)
    return done


JOBS = (Job("sum-insured-changes", 5 * MINUTE, lambda deps: apply_due()),)
