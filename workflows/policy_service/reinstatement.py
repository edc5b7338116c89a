"""Reinstating a lapsed policy (复效) within the product's reinstatement period: the
overdue premiums plus simple interest at the product's rate (per day overdue, /365) as
one installment of the policy, paid through the existing premium payment; a health
declaration the holder makes, reviewed by staff (POLICY_SERVICE). Approval adds the
installment; its payment (``premium_installment_paid``) makes the change effective in
the payment's own transaction: the overdue installments are settled by it and the
policy is ACTIVE again.

The lapse day is not stored: it is counted as the policy lapses (``GRACE_DAYS`` after
the earliest unpaid installment's due date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.clock import local_today
from models.endorsements import Endorsement, ProductServiceTerms
from models.policies import Policy, PolicyStatus, PremiumInstallment
from workflows.policies import GRACE_DAYS
from workflows.policy_service.endorsement_rules import (
    REASON_LIMIT,
    EndorsementError,
    EndorsementErrorCode,
)

CENT = Decimal("0.01")
DEFAULT_DAYS = 730
DEFAULT_RATE = Decimal("0.0350")


@dataclass(frozen=True)
class HealthDeclaration:
    """The holder's answers for the insured: healthy since the lapse, and any notes."""

    healthy_since_lapse: bool
    notes: str = ""


@dataclass(frozen=True)
class ReinstatementQuote:
    overdue: list[PremiumInstallment]
    premiums: Decimal
    interest: Decimal
    lapsed_on: date
    last_day: date

    @property
    def total(self) -> Decimal:
        return self.premiums + self.interest


async def quote(policy: Policy, today: date | None = None) -> ReinstatementQuote:
    if policy.status is not PolicyStatus.LAPSED:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "只有已失效的保单可以申请复效", "policyId"
        )
    today = today or local_today()
    terms = await ProductServiceTerms.get_or_none(product_id=policy.product_id)
    days = terms.reinstatement_days if terms else DEFAULT_DAYS
    rate = terms.reinstatement_interest_rate if terms else DEFAULT_RATE
    overdue = await PremiumInstallment.filter(
        policy_id=policy.id, paid_at=None, endorsement_id=None, due_date__lt=today
    ).order_by("sequence")
    if not overdue:
        raise EndorsementError(
            EndorsementErrorCode.NOTHING_TO_CHANGE, "该保单没有欠缴的保费", "policyId"
        )
    lapsed_on = overdue[0].due_date + timedelta(days=GRACE_DAYS)
    last_day = lapsed_on + timedelta(days=days)
    if today > last_day:
        raise EndorsementError(
            EndorsementErrorCode.REINSTATEMENT_PERIOD_OVER,
            f"已超过复效期（失效后{days}天），不能申请复效",
            "policyId",
        )
    premiums = sum((row.amount for row in overdue), Decimal(0))
    interest = sum(
        (row.amount * rate * (today - row.due_date).days / 365 for row in overdue), Decimal(0)
    ).quantize(CENT, rounding=ROUND_HALF_UP)
    return ReinstatementQuote(overdue, premiums, interest, lapsed_on, last_day)


def checked(declaration: HealthDeclaration) -> HealthDeclaration:
    notes = declaration.notes.strip()
    if len(notes) > REASON_LIMIT:
        raise EndorsementError(
            EndorsementErrorCode.TOO_LONG,
            f"健康告知说明不能超过{REASON_LIMIT}个字",
            "reinstatement.notes",
        )
    if not declaration.healthy_since_lapse and not notes:
        raise EndorsementError(
            EndorsementErrorCode.REQUIRED,
            "请说明失效以来的健康变化情况",
            "reinstatement.notes",
        )
    return HealthDeclaration(declaration.healthy_since_lapse, notes)


def values(quoted: ReinstatementQuote, declaration: HealthDeclaration) -> dict[str, Any]:
    return {
        "premiums": f"{quoted.premiums:.2f}",
        "interest": f"{quoted.interest:.2f}",
        "total": f"{quoted.total:.2f}",
        "lapsedOn": quoted.lapsed_on.isoformat(),
        "installments": [str(row.id) for row in quoted.overdue],
        "healthy": declaration.healthy_since_lapse,
        "notes": declaration.notes,
    }


async def add_installment(endorsement: Endorsement) -> PremiumInstallment:
    """The one installment the holder pays to reinstate (caller's transaction, under the
    policy's lock): due today, paid through the existing premium payment."""
    last = (
        await PremiumInstallment.filter(policy_id=endorsement.policy_id)
        .order_by("-sequence")
        .first()
    )
    return await PremiumInstallment.create(
        policy_id=endorsement.policy_id,
        sequence=(last.sequence if last else 0) + 1,
        due_date=local_today(),
        amount=Decimal(endorsement.after["total"]),
        endorsement_id=endorsement.id,
    )


async def apply(endorsement: Endorsement) -> bool:
    """The policy ACTIVE again, its overdue installments settled by the reinstatement's
    (in the payment's transaction, under the policy's lock); False if the policy is no
    longer lapsed (expired meanwhile): the money is kept and staff decide."""
    policy = await Policy.filter(id=endorsement.policy_id).select_for_update().get()
    if policy.status is not PolicyStatus.LAPSED:
        return False
    await PremiumInstallment.filter(id__in=endorsement.after["installments"], paid_at=None).update(
        paid_at=datetime.now(UTC)
    )
    await Policy.filter(id=policy.id).update(status=PolicyStatus.ACTIVE)
    return True
