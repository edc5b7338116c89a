"""Premium payment orders and provider callbacks.

The amount always comes from the installment on the server. A callback is believed only
after its signature (the provider module), then its app id, merchant, our order number
and the exact amount (here); then, under the order's row lock, the order is marked paid,
the installment paid, one ledger entry and one outbox event written — all in one
transaction, so a hundred copies of one callback have exactly one effect.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.endorsements import Endorsement, EndorsementStatus
from models.ids import global_id
from models.payments import (
    LedgerEntry,
    LedgerKind,
    OrderStatus,
    PaymentOrder,
    RefundReason,
)
from models.pii import PiiCipher
from models.policies import Policy, PremiumInstallment
from payments.base import (
    CallbackReply,
    InvalidNotification,
    PaymentMethod,
    PaymentNotification,
    PaymentProvider,
    PayRequest,
    ProviderRejected,
    ProviderUnavailable,
    TradeState,
    TransferProvider,
)
from push.outbox import emit
from workflows.access import Actor, payable_policies
from workflows.auth import WechatIdentityUnavailable, wechat_identity_for
from workflows.errors import DomainError
from workflows.idempotency import once
from workflows.jobs import MINUTE, Job
from workflows.numbering import Prefix, next_number
from workflows.payments.closing import mark_closed
from workflows.policy_service.premiums import premium_installment_paid

log = logging.getLogger("anxin.payments")
security_log = logging.getLogger("anxin.security")
ORDER_LIFETIME = timedelta(minutes=30)
PAYMENT_ALERTS = "staff:payment-alerts"
PREMIUM_OWED = ("PENDING", "ACTIVE", "LAPSED", "AWAITING_PAYMENT")

METHOD_PROVIDER = {
    PaymentMethod.ALIPAY_APP: "alipay",
    PaymentMethod.ALIPAY_MINI_PROGRAM: "alipay",
    PaymentMethod.WECHAT_JSAPI: "wechat",
    PaymentMethod.SANDBOX: "sandbox",
}


class PaymentErrorCode(StrEnum):
    INSTALLMENT_NOT_FOUND = "INSTALLMENT_NOT_FOUND"
    ALREADY_PAID = "ALREADY_PAID"
    NOT_PAYABLE = "NOT_PAYABLE"
    METHOD_NOT_AVAILABLE = "METHOD_NOT_AVAILABLE"
    PAYER_REQUIRED = "PAYER_REQUIRED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    POLICY_NOT_FOUND = "POLICY_NOT_FOUND"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"


class PaymentError(DomainError):
    codes = PaymentErrorCode


async def create_premium_payment(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    installment_id: uuid.UUID,
    method: PaymentMethod,
    idempotency_key: str,
    *,
    notify_base_url: str,
    payer_id: str | None = None,
) -> dict[str, Any]:
    """An order for one installment and what the client needs to pay it; the same
    idempotency key returns the same order. ``replaced_order_id`` names the open order
    of the installment this one replaced (closed now), so the client can update it."""
    scope = f"{actor.subject_id}:createPremiumPayment"
    request = {"installment": str(installment_id), "method": str(method)}

    async def run() -> dict[str, Any]:
        order, replaced = await _new_order(
            providers, actor, installment_id, method, notify_base_url, payer_id
        )
        return {"order_id": str(order.id), "replaced_order_id": replaced and str(replaced)}

    answer = await once(scope, idempotency_key, request, run)
    return answer


async def _payable_installment(actor: Actor, installment_id: uuid.UUID) -> PremiumInstallment:
    installment = await PremiumInstallment.get_or_none(id=installment_id)
    policy = None
    if installment is not None:
        policy = await payable_policies(actor).filter(id=installment.policy_id).first()
    if installment is None or policy is None or policy.holder_id != actor.subject_id:
        # Only the holder pays premium; others' installments answer like missing ones.
        raise PaymentError(
            PaymentErrorCode.INSTALLMENT_NOT_FOUND, "未找到该期保费", "installmentId"
        )
    if installment.paid_at is not None:
        raise PaymentError(PaymentErrorCode.ALREADY_PAID, "该期保费已缴纳", "installmentId")
    if installment.cancelled_at is not None or (
        installment.endorsement_id is not None
        and not await Endorsement.exists(
            id=installment.endorsement_id, status=EndorsementStatus.APPROVED
        )
    ):
        # A change's premium is due only while the change waits for it (not expired).
        raise PaymentError(
            PaymentErrorCode.NOT_PAYABLE, "该保全申请已失效，无需缴纳", "installmentId"
        )
    if str(policy.status) not in PREMIUM_OWED:
        raise PaymentError(
            PaymentErrorCode.NOT_PAYABLE, "保单已终止，无需缴纳该期保费", "installmentId"
        )
    return installment


async def _new_order(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    installment_id: uuid.UUID,
    method: PaymentMethod,
    notify_base_url: str,
    payer_id: str | None,
) -> tuple[PaymentOrder, uuid.UUID | None]:
    """The order to pay, and the ID of the open order it replaced (closed), if any."""
    installment = await _payable_installment(actor, installment_id)
    provider = providers.get(METHOD_PROVIDER[method])
    if provider is None:
        raise PaymentError(PaymentErrorCode.METHOD_NOT_AVAILABLE, "暂不支持该支付方式", "method")
    if method is PaymentMethod.WECHAT_JSAPI:
        payer_id = await _wechat_payer(actor, provider.app_id)
    if method in (PaymentMethod.WECHAT_JSAPI, PaymentMethod.ALIPAY_MINI_PROGRAM) and not payer_id:
        raise PaymentError(PaymentErrorCode.PAYER_REQUIRED, "请在小程序中登录后支付", "method")
    now = datetime.now(UTC)
    open_order = await PaymentOrder.get_or_none(open_key=str(installment.id))
    replaced = None
    if open_order is not None:
        if _reusable(open_order, provider.name, method, now, payer_id):
            return open_order, None  # a second tap, another device: the same order to pay
        if not open_order.checkout and open_order.created_at > now - CHECKOUT_GRACE:
            raise _in_progress()  # still being opened at the provider by another request
        await _close_open_order(providers, open_order, now)
        replaced = open_order.id
    policy = await Policy.get(id=installment.policy_id).select_related("product")
    number = await next_number(Prefix.ORDER, now)
    try:
        order = await PaymentOrder.create(
            order_number=number,
            customer_id=actor.subject_id,
            policy_id=policy.id,
            installment_id=installment.id,
            provider=provider.name,
            method=str(method),
            amount=installment.amount,
            expires_at=now + ORDER_LIFETIME,
            open_key=str(installment.id),
            payer_id=payer_id,
        )
    except IntegrityError:
        # Someone created the installment's open order at this very moment.
        raced = await PaymentOrder.get_or_none(open_key=str(installment.id))
        if raced is not None and _reusable(raced, provider.name, method, now, payer_id):
            return raced, replaced
        raise _in_progress() from None
    request = PayRequest(
        order_number=number,
        amount=installment.amount,
        subject=f"{policy.product.name} 第{installment.sequence}期保费",
        method=method,
        notify_url=f"{notify_base_url.rstrip('/')}/payments/{provider.name}/notify",
        expires_at=order.expires_at,
        payer_id=payer_id,
    )
    try:
        checkout = await provider.checkout(request)
    except ProviderUnavailable:
        await mark_closed(order, now)
        raise PaymentError(
            PaymentErrorCode.PROVIDER_UNAVAILABLE, "支付服务暂时不可用，请稍后重试"
        ) from None
    except ProviderRejected as exc:
        await mark_closed(order, now)
        log.warning("checkout refused for %s: %s", number, exc.code)
        raise PaymentError(
            PaymentErrorCode.PROVIDER_REJECTED, "支付下单失败，请更换支付方式"
        ) from None
    await PaymentOrder.filter(id=order.id).update(checkout=dict(checkout.params))
    await order.refresh_from_db()
    return order, replaced


REUSE_MARGIN = timedelta(minutes=5)  # an order about to expire is replaced, not offered
CHECKOUT_GRACE = timedelta(minutes=1)  # an order still without checkout after this: abandoned


def _in_progress() -> PaymentError:
    return PaymentError(
        PaymentErrorCode.PAYMENT_IN_PROGRESS, "该期保费正在支付中，请稍后重试", "installmentId"
    )


def _reusable(
    order: PaymentOrder,
    provider: str,
    method: PaymentMethod,
    now: datetime,
    payer_id: str | None,
) -> bool:
    """Offered again only once the provider opened it (it has what the app pays with),
    and to the same payer (a JSAPI order can be paid only by the WeChat user it names)."""
    return (
        bool(order.checkout)
        and order.provider == provider
        and order.method == str(method)
        and order.payer_id == payer_id
        and order.expires_at > now + REUSE_MARGIN
    )


async def _wechat_payer(actor: Actor, app_id: str) -> str:
    """The openid that pays a JSAPI order: the session's own mini-program login."""
    try:
        return (await wechat_identity_for(actor, app_id)).openid
    except WechatIdentityUnavailable as unavailable:
        raise PaymentError(PaymentErrorCode.PAYER_REQUIRED, unavailable.message, "method") from None


async def _close_open_order(
    providers: Mapping[str, PaymentProvider], order: PaymentOrder, now: datetime
) -> None:
    """Replace an installment's open order (another method, or about to expire): close it
    at the provider first, so the customer cannot pay both. If it was paid meanwhile,
    that payment is recorded and the installment is paid."""
    provider = providers.get(order.provider)
    if provider is not None:
        try:
            if await paid_state_from_provider(provider, order):
                raise PaymentError(PaymentErrorCode.ALREADY_PAID, "该期保费已缴纳", "installmentId")
            await provider.close(order.order_number)
        except ProviderUnavailable:
            raise PaymentError(
                PaymentErrorCode.PROVIDER_UNAVAILABLE,
                "上一笔支付暂时无法关闭，请稍后重试",
                "installmentId",
            ) from None
        except ProviderRejected as exc:
            # Typically "no such trade": never opened at the provider. Should it be paid
            # later after all, the payment is recorded and refunded as a duplicate.
            log.info("closing %s at %s: %s", order.order_number, provider.name, exc.code)
    await mark_closed(order, now)


async def handle_callback(
    provider: TransferProvider,
    headers: Mapping[str, str],
    body: bytes,
    *,
    transfers_only: bool = False,
    pii: PiiCipher | None = None,
) -> CallbackReply:
    """Verify, check, record. Anything wrong changes nothing and is a security event.

    ``transfers_only``: the provider only pays out (a bank platform, not a payment
    provider), so it is believed about its own transfers and nothing else. ``pii``
    opens a payout's sealed account, to check the payee a transfer notice names."""
    try:
        notification = provider.parse_notification(headers, body, datetime.now(UTC))
        if transfers_only and notification.kind != "transfer":
            raise InvalidNotification(f"a {notification.kind} notice from a payout-only provider")
        if notification.kind == "refund" and notification.merchant_id != provider.merchant_id:
            # Refund notices carry no app id at WeChat: the merchant must match.
            raise InvalidNotification("merchant does not match ours")
        if notification.kind == "refund":
            from workflows.payments.refunds import record_refund_notification

            if not await record_refund_notification(notification):
                raise InvalidNotification(f"unknown refund {notification.refund_number}")
        elif notification.kind == "transfer":
            from workflows.payments.payouts import record_transfer_notification

            # Only this provider's payout, for its merchant, amount, bill and payee: one
            # provider's callback never settles another's transfer (a mismatch alerts staff).
            await record_transfer_notification(provider, notification, pii)
        else:
            # Not transfers_only: the caller found it among the payment providers.
            await record_payment(cast("PaymentProvider", provider), notification)
    except InvalidNotification as exc:
        security_log.warning("rejected %s callback: %s", provider.name, exc)
        return provider.reply(False)
    return provider.reply(True)


async def record_payment(provider: PaymentProvider, notification: PaymentNotification) -> bool:
    """Apply a verified payment notification once; True if this call recorded it."""
    if notification.kind != "payment" or notification.state != TradeState.PAID:
        return False  # refunds and closings are handled by their own flows
    if notification.app_id != provider.app_id or notification.merchant_id != provider.merchant_id:
        raise InvalidNotification("app id or merchant does not match ours")
    # One read, without a lock or a transaction, answers a provider's retry of a recorded
    # payment (PAID is final), an unknown order and another amount (an order's number,
    # provider and amount never change). No joins: most callbacks are retries.
    order = await PaymentOrder.filter(
        order_number=notification.order_number, provider=provider.name
    ).first()
    if order is None:
        raise InvalidNotification(f"unknown order {notification.order_number}")
    if order.amount != notification.amount:
        raise InvalidNotification(f"amount {notification.amount} differs from order {order.amount}")
    if order.status is OrderStatus.PAID:
        return False  # a repeated callback: already recorded
    paid_at = notification.occurred_at or datetime.now(UTC)
    async with in_transaction():
        # The conditional update takes the order's row lock: of copies of one callback
        # racing here, one marks it paid and goes on; the others wait for its commit,
        # then find it paid and change nothing.
        marked = (
            await PaymentOrder.filter(id=order.id)
            .exclude(status=OrderStatus.PAID)
            .update(
                status=OrderStatus.PAID,
                paid_at=paid_at,
                provider_trade_no=notification.provider_trade_no,
                open_key=None,
            )
        )
        if not marked:
            return False  # a repeated callback: recorded meanwhile
        first_payment = await PremiumInstallment.filter(
            id=order.installment_id, paid_at=None
        ).update(paid_at=paid_at)
        try:
            await LedgerEntry.create(
                kind=LedgerKind.PREMIUM_RECEIVED,
                provider=provider.name,
                provider_txn_id=notification.provider_trade_no or order.order_number,
                amount=order.amount,
                order_id=order.id,
                reference=order.order_number,
            )
        except IntegrityError:
            raise InvalidNotification("transaction already recorded for another order") from None
        if not first_payment:
            await _refund_duplicate(order)
            return True
        policy_number = await premium_installment_paid(order)
        await emit(
            "payment.received",
            entity_type="payment",
            entity_id=order.id,
            customer_id=order.customer_id,
            payload={
                "order_id": global_id("PaymentOrder", order.id),
                "policy_number": policy_number,
                "amount": f"{order.amount:.2f}",
            },
        )
    log.info("payment %s recorded", order.order_number)
    return True


async def _refund_duplicate(order: PaymentOrder) -> None:
    """The installment was already paid by another order: the money is booked, a refund
    is queued in the same transaction (the worker sends it) and staff are told. Money
    is never silently kept twice."""
    from workflows.payments.refunds import queue_refund

    security_log.warning("order %s paid an installment already paid", order.order_number)
    await queue_refund(order, RefundReason.DUPLICATE_PAYMENT, "同一期保费重复支付，自动退还")
    await emit(
        "payment.duplicate",
        entity_type="payment",
        entity_id=order.id,
        customer_id=None,  # staff watch it; the customer is told when the refund lands
        payload={"_staff_channels": [PAYMENT_ALERTS], "order_number": order.order_number},
    )


async def paid_state_from_provider(provider: PaymentProvider, order: PaymentOrder) -> bool:
    """Ask the provider about an order that got no callback; record it if paid."""
    status = await provider.query(order.order_number)
    if status.state is not TradeState.PAID or status.amount is None:
        return False
    notification = PaymentNotification(
        kind="payment",
        order_number=order.order_number,
        state=TradeState.PAID,
        amount=status.amount,
        provider_trade_no=status.provider_trade_no,
        app_id=provider.app_id,
        merchant_id=provider.merchant_id,
        occurred_at=status.paid_at,
    )
    return await record_payment(provider, notification)


QUERY_AFTER = timedelta(minutes=2)  # a callback normally arrives within seconds


async def settle_silent_orders(
    providers: Mapping[str, PaymentProvider], now: datetime | None = None
) -> dict[str, int]:
    """The worker's job for orders that got no callback: ask the provider after a short
    delay (record the payment if it happened), and close orders past their expiry."""
    now = now or datetime.now(UTC)
    counts = {"recorded": 0, "closed": 0}
    silent = (
        await PaymentOrder.filter(status=OrderStatus.CREATED, created_at__lt=now - QUERY_AFTER)
        .order_by("created_at")
        .limit(200)
    )
    for order in silent:
        provider = providers.get(order.provider)
        if provider is None:
            continue
        try:
            if await paid_state_from_provider(provider, order):
                counts["recorded"] += 1
                continue
            if order.expires_at <= now:
                await provider.close(order.order_number)
                counts["closed"] += await mark_closed(order, now)
        except (ProviderUnavailable, ProviderRejected, InvalidNotification) as exc:
            log.warning("order %s not settled: %s", order.order_number, type(exc).__name__)
    return counts


JOBS = (Job("silent-orders", MINUTE, lambda deps: settle_silent_orders(deps.payment_providers)),)
