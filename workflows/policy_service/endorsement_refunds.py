"""Premium a change of a policy gives back (批改退费): a lower sum insured, a member
removed. Refunded through the refund path, against the policy's paid premium orders,
the newest first, each never beyond what it can still refund; the refunds are QUEUED in
the caller's transaction (the one that makes the change effective) and sent by the
refunds job, so a crash between the change and the money cannot forget the money.

A policy whose premium was not paid online (no paid order can take the amount) cannot
be refunded this way: the change is refused up front (``REFUND_NOT_POSSIBLE``) rather
than made with its money owed by nobody.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from models.payments import OrderStatus, PaymentOrder, Refund, RefundReason
from workflows.payments import refunds
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode


async def _paid_orders(policy_id: uuid.UUID) -> list[PaymentOrder]:
    return await PaymentOrder.filter(policy_id=policy_id, status=OrderStatus.PAID).order_by(
        "-paid_at", "-order_number"
    )


async def refundable_total(policy_id: uuid.UUID) -> Decimal:
    """What the policy's paid orders can still give back together."""
    total = Decimal(0)
    for order in await _paid_orders(policy_id):
        total += await refunds.refundable(order)
    return total


async def check_refundable(policy_id: uuid.UUID, amount: Decimal) -> None:
    if amount > 0 and await refundable_total(policy_id) < amount:
        raise EndorsementError(
            EndorsementErrorCode.REFUND_NOT_POSSIBLE,
            "该保单的保费未通过线上支付，无法在线退还保费，请联系客服办理",
            "policyId",
        )


async def queue_refunds(
    policy_id: uuid.UUID, amount: Decimal, note: str, requested_by: uuid.UUID | None
) -> list[Refund]:
    """Queue ``amount`` back over the policy's paid orders (caller's transaction)."""
    left, queued = amount, []
    for order in await _paid_orders(policy_id):
        if left <= 0:
            break
        part = min(left, await refunds.refundable(order))
        if part <= 0:
            continue
        queued.append(
            await refunds.queue_partial_refund(
                order.id, part, RefundReason.ENDORSEMENT, note, requested_by
            )
        )
        left -= part
    if left > 0:  # checked at the request; paid orders do not shrink except by refunds
        raise EndorsementError(
            EndorsementErrorCode.REFUND_NOT_POSSIBLE,
            "可退保费不足，请联系客服办理",
            "policyId",
        )
    return queued
