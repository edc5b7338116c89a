"""Refunds of premiums paid in error or of a policy cancelled in its cooling-off period
(staff permission PAYMENT_REFUND): full or partial, never more than was paid, each with
its own idempotency key and its own number, which providers accept at most once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from tortoise.transactions import in_transaction

from models.ids import global_id
from models.payments import (
    LedgerEntry,
    LedgerKind,
    OrderStatus,
    PaymentOrder,
    Refund,
    RefundReason,
    RefundStatus,
)
from payments.base import (
    PaymentNotification,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    RefundState,
)
from push.outbox import emit
from workflows.access import Actor
from workflows.idempotency import once
from workflows.jobs import MINUTE, Job
from workflows.numbering import Prefix, next_number
from workflows.payments.orders import PAYMENT_ALERTS, PaymentError, PaymentErrorCode

log = logging.getLogger("anxin.refunds")
REASON_TEXT = {
    RefundReason.PAID_IN_ERROR: "误缴保费退还",
    RefundReason.COOLING_OFF_CANCELLATION: "犹豫期退保退费",
    RefundReason.DUPLICATE_PAYMENT: "重复缴费退还",
    RefundReason.COMPLAINT_REMEDY: "投诉处理退费",
    RefundReason.ENDORSEMENT: "保单批改退费",
}


async def refundable(order: PaymentOrder) -> Decimal:
    """What can still be refunded: paid less refunds that did not fail."""
    taken = await Refund.filter(order_id=order.id).exclude(status=RefundStatus.FAILED)
    return order.amount - sum((r.amount for r in taken), Decimal(0))


async def request_refund(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    order_id: uuid.UUID,
    amount: Decimal,
    reason: RefundReason,
    note: str,
    idempotency_key: str,
    *,
    notify_base_url: str,
) -> dict[str, str]:
    request = {"order": str(order_id), "amount": f"{amount}", "reason": str(reason)}

    async def run() -> dict[str, str]:
        refund = await start_refund(
            providers, actor, order_id, amount, reason, note, notify_base_url
        )
        return {"refund_id": str(refund.id)}

    return await once(f"{actor.subject_id}:refundPayment", idempotency_key, request, run)


async def start_refund(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    order_id: uuid.UUID,
    amount: Decimal,
    reason: RefundReason,
    note: str,
    notify_base_url: str,
) -> Refund:
    """Refund ``amount`` of a paid order now (the caller took care of idempotency)."""
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise PaymentError(
            PaymentErrorCode.INVALID_AMOUNT, "退款金额须为正数，最多两位小数", "amount"
        )
    async with in_transaction():
        order = await PaymentOrder.filter(id=order_id).select_for_update().first()
        if order is None:
            raise PaymentError(PaymentErrorCode.ORDER_NOT_FOUND, "未找到该支付订单", "orderId")
        if order.status is not OrderStatus.PAID:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE, "只有已支付的订单可以退款", "orderId")
        if amount > await refundable(order):
            raise PaymentError(PaymentErrorCode.INVALID_AMOUNT, "退款金额超过可退金额", "amount")
        assert actor.subject_id is not None
        refund = await Refund.create(
            order_id=order.id,
            refund_number=await next_number(Prefix.REFUND),
            amount=amount,
            reason=reason,
            note=note.strip()[:500],
            requested_by=actor.subject_id,
        )
    return await _send(providers[order.provider], order, refund, notify_base_url)


async def queue_refund(order: PaymentOrder, reason: RefundReason, note: str) -> Refund:
    """A refund the system owes (a duplicate payment): recorded in the caller's
    transaction, sent by ``follow_up_refunds``, so a crash cannot forget it."""
    return await Refund.create(
        order_id=order.id,
        refund_number=await next_number(Prefix.REFUND),
        amount=await refundable(order),
        reason=reason,
        note=note,
        status=RefundStatus.QUEUED,
        requested_by=None,
    )


async def queue_remedy_refund(
    order_id: uuid.UUID, amount: Decimal, note: str, requested_by: uuid.UUID | None
) -> Refund:
    """A fee refunded to settle a complaint (its resolution approved)."""
    return await queue_partial_refund(
        order_id, amount, RefundReason.COMPLAINT_REMEDY, note, requested_by
    )


async def queue_partial_refund(
    order_id: uuid.UUID,
    amount: Decimal,
    reason: RefundReason,
    note: str,
    requested_by: uuid.UUID | None,
) -> Refund:
    """Part of a paid order the system owes back (a complaint's remedy, a change of the
    policy that lowers its premium): recorded in the caller's transaction under the
    order's row lock, never more than is refundable, and sent by ``follow_up_refunds``
    like any refund the system owes."""
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise PaymentError(
            PaymentErrorCode.INVALID_AMOUNT, "退款金额须为正数，最多两位小数", "amount"
        )
    async with in_transaction():
        order = await PaymentOrder.filter(id=order_id).select_for_update().first()
        if order is None:
            raise PaymentError(PaymentErrorCode.ORDER_NOT_FOUND, "未找到该支付订单", "orderId")
        if order.status is not OrderStatus.PAID:
            raise PaymentError(PaymentErrorCode.NOT_PAYABLE, "只有已支付的订单可以退款", "orderId")
        if amount > await refundable(order):
            raise PaymentError(PaymentErrorCode.INVALID_AMOUNT, "退款金额超过可退金额", "amount")
        return await Refund.create(
            order_id=order.id,
            refund_number=await next_number(Prefix.REFUND),
            amount=amount,
            reason=reason,
            note=note[:500],
            status=RefundStatus.QUEUED,
            requested_by=requested_by,
        )


async def _send(
    provider: PaymentProvider, order: PaymentOrder, refund: Refund, notify_base_url: str
) -> Refund:
    try:
        result = await provider.refund(
            RefundRequest(
                order_number=order.order_number,
                refund_number=refund.refund_number,
                amount=refund.amount,
                total=order.amount,
                reason=REASON_TEXT[refund.reason],
                notify_url=f"{notify_base_url.rstrip('/')}/payments/{provider.name}/notify",
            )
        )
    except ProviderRejected as rejected:
        result = RefundResult(refund.refund_number, RefundState.FAILED)
        log.warning("refund %s refused: %s", refund.refund_number, rejected.code)
    except ProviderUnavailable:
        if refund.status is RefundStatus.QUEUED:
            return refund  # sent again later with the same number, which refunds at most once
        result = RefundResult(refund.refund_number, RefundState.PROCESSING)  # followed up
    return await apply_refund_result(refund, result)


async def apply_refund_result(refund: Refund, result: RefundResult) -> Refund:
    """Record the provider's word; a success writes one ledger entry and tells the
    customer. Settled refunds do not change again."""
    status = RefundStatus(result.state.value)
    async with in_transaction():
        current = await Refund.filter(id=refund.id).select_for_update().get()
        if current.status not in (RefundStatus.QUEUED, RefundStatus.PROCESSING):
            return current
        await Refund.filter(id=refund.id).update(
            status=status,
            provider_refund_id=result.provider_refund_id,
            finished_at=datetime.now(UTC) if status is not RefundStatus.PROCESSING else None,
        )
        if status is RefundStatus.FAILED and current.reason is RefundReason.DUPLICATE_PAYMENT:
            log.error("refund %s of a duplicate payment failed", current.refund_number)
            await emit(
                "payment.duplicate_refund_failed",
                entity_type="payment",
                entity_id=current.order_id,
                customer_id=None,  # staff must return the money another way
                payload={"_staff_channels": [PAYMENT_ALERTS], "refund": current.refund_number},
            )
        if status is RefundStatus.SUCCESS:
            order = await PaymentOrder.get(id=current.order_id)
            await LedgerEntry.create(
                kind=LedgerKind.REFUND,
                provider=order.provider,
                provider_txn_id=result.provider_refund_id or current.refund_number,
                amount=-current.amount,
                order_id=order.id,
                reference=current.refund_number,
            )
            await emit(
                "payment.refunded",
                entity_type="payment",
                entity_id=order.id,
                customer_id=order.customer_id,
                payload={
                    "order_id": global_id("PaymentOrder", order.id),
                    "amount": f"{current.amount:.2f}",
                    "reason": REASON_TEXT[current.reason],
                },
            )
    await refund.refresh_from_db()
    return refund


async def follow_up_refunds(
    providers: Mapping[str, PaymentProvider], *, notify_base_url: str
) -> int:
    """The worker's job: send the refunds the system queued, and ask about those in
    flight. One refund that fails here is logged and retried on the next run."""
    settled = 0
    for refund in await Refund.filter(
        status__in=[RefundStatus.QUEUED, RefundStatus.PROCESSING]
    ).limit(200):
        order = await PaymentOrder.get(id=refund.order_id)
        provider = providers.get(order.provider)
        if provider is None:
            continue
        try:
            if refund.status is RefundStatus.QUEUED:
                updated = await _send(provider, order, refund, notify_base_url)
            else:
                result = await provider.query_refund(order.order_number, refund.refund_number)
                updated = await apply_refund_result(refund, result)
        except (ProviderUnavailable, ProviderRejected):
            continue
        except Exception:
            log.exception("refund %s not followed up", refund.refund_number)
            continue
        settled += updated.status not in (RefundStatus.QUEUED, RefundStatus.PROCESSING)
    return settled


async def record_refund_notification(notification: PaymentNotification) -> bool:
    """A provider's refund callback (verified by the provider module)."""
    refund = await Refund.get_or_none(refund_number=notification.refund_number or "")
    if refund is None:
        return False
    result = RefundResult(
        refund.refund_number, RefundState(notification.state), notification.provider_trade_no
    )
    await apply_refund_result(refund, result)
    return True


JOBS = (
    Job(
        "refunds",
        MINUTE,
        lambda deps: follow_up_refunds(
            deps.payment_providers, notify_base_url=deps.notify_base_url
        ),
    ),
)
