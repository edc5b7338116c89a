"""A payment-frequency change (变更缴费方式): from the next unpaid installment on, the
premium still owed is re-cut into installments of the new frequency up to the end of
cover; paid installments are never touched, nor an endorsement's own premium. The
amount owed stays the same to the cent (the last installment takes the rounding).

Installment rows are reused in place where they exist (a closed payment order may name
one); a row that would be left over is deleted, unless a payment order names it: then
the change is refused and staff help (it does not happen unless a customer opened and
abandoned an order for a far installment).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Any

from models.clock import local_date
from models.payments import PaymentOrder
from models.policies import PaymentFrequency, Policy, PolicyStatus, PremiumInstallment
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode
from workflows.policy_service.names import FREQUENCIES

MONTHS = {
    PaymentFrequency.ANNUAL: 12,
    PaymentFrequency.SEMI_ANNUAL: 6,
    PaymentFrequency.QUARTERLY: 3,
    PaymentFrequency.MONTHLY: 1,
}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Recut:
    owed: Decimal
    schedule: list[tuple[date, Decimal]]


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _unpaid(policy: Policy) -> Any:
    return PremiumInstallment.filter(
        policy_id=policy.id, paid_at=None, endorsement_id=None
    ).order_by("sequence")


async def plan(policy: Policy, frequency: PaymentFrequency) -> Recut:
    """The new schedule, or why there is none."""
    if policy.status is not PolicyStatus.ACTIVE:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE,
            "只有有效保单可以变更缴费方式",
            "policyId",
        )
    if frequency is policy.payment_frequency:
        raise EndorsementError(
            EndorsementErrorCode.NOTHING_TO_CHANGE,
            "新的缴费方式与当前相同",
            "paymentFrequency.frequency",
        )
    rows = await _unpaid(policy)
    if not rows:
        raise EndorsementError(
            EndorsementErrorCode.NOTHING_TO_CHANGE,
            "保费已全部缴清，无需变更缴费方式",
            "paymentFrequency.frequency",
        )
    owed = sum((row.amount for row in rows), Decimal(0))
    start, end = rows[0].due_date, local_date(policy.ends_at)
    dates = [start]
    if frequency is not PaymentFrequency.SINGLE:
        while (following := add_months(start, MONTHS[frequency] * len(dates))) < end:
            dates.append(following)
    each = (owed / len(dates)).quantize(CENT, rounding=ROUND_DOWN)
    amounts = [each] * (len(dates) - 1) + [owed - each * (len(dates) - 1)]
    return Recut(owed, list(zip(dates, amounts, strict=True)))


def values(policy: Policy, frequency: PaymentFrequency, recut: Recut) -> dict[str, Any]:
    return {
        "frequency": str(frequency),
        "frequencyName": FREQUENCIES[frequency],
        "previous": str(policy.payment_frequency),
        "owed": f"{recut.owed:.2f}",
        "installments": [[d.isoformat(), f"{a:.2f}"] for d, a in recut.schedule],
    }


async def apply(policy_id: Any, after: dict[str, Any]) -> None:
    """Re-cut the unpaid installments (caller's transaction, under the policy's lock)."""
    policy = await Policy.get(id=policy_id)
    frequency = PaymentFrequency(after["frequency"])
    recut = await plan(policy, frequency)
    if f"{recut.owed:.2f}" != after["owed"]:
        raise EndorsementError(
            EndorsementErrorCode.CONFLICT, "应缴保费已变化，请重新申请", "paymentFrequency"
        )
    rows = await _unpaid(policy)
    if await PaymentOrder.filter(
        installment_id__in=[row.id for row in rows], open_key__not_isnull=True
    ).exists():
        raise EndorsementError(
            EndorsementErrorCode.PAYMENT_IN_PROGRESS,
            "有一笔保费正在支付中，请完成或取消后再变更缴费方式",
            "paymentFrequency",
        )
    for row, (due, amount) in zip(rows, recut.schedule, strict=False):
        await PremiumInstallment.filter(id=row.id).update(due_date=due, amount=amount)
    for row in rows[len(recut.schedule) :]:
        if await PaymentOrder.exists(installment_id=row.id):
            raise EndorsementError(
                EndorsementErrorCode.PAYMENT_IN_PROGRESS,
                "该保单有缴费记录需人工处理，请联系客服变更缴费方式",
                "paymentFrequency",
            )
        await row.delete()
    if len(recut.schedule) > len(rows):
        last = await PremiumInstallment.filter(policy_id=policy.id).order_by("-sequence").first()
        sequence = last.sequence if last else 0
        for due, amount in recut.schedule[len(rows) :]:
            sequence += 1
            await PremiumInstallment.create(
                policy_id=policy.id, sequence=sequence, due_date=due, amount=amount
            )
    await Policy.filter(id=policy.id).update(payment_frequency=frequency)
