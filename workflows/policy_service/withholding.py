"""Charging an installment with a policy's withholding agreement (代扣), shared by the
automatic renewal and the collection of installments when they fall due.

Each charge first takes its ``WithholdingAttempt`` (unique per purpose, subject and
local day: two job runs charge once, a failure is retried at most once a day), then
opens an order for the installment (its ``open_key``: never two open orders for one
installment, whoever races, the customer paying by hand included), then asks the
provider. A paid answer goes through ``record_payment``, the path of every premium
callback, so what the installment pays for (a renewal's policy) happens in that
payment's transaction, and the provider's own callback for the trade later finds it
recorded. A refusal closes the order; "in process" or no answer leaves it open for the
trade's callback or the silent-orders job's query.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.clock import local_today
from models.payments import PaymentOrder
from models.policies import PremiumInstallment
from models.policy_accounts import (
    ChargeOutcome,
    ChargePurpose,
    CollectionAgreement,
    WithholdingAttempt,
)
from payments.agreements import AgreementProvider, WithholdRequest
from payments.base import (
    InvalidNotification,
    PaymentNotification,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    TradeState,
)
from workflows.numbering import Prefix, next_number
from workflows.payments.closing import mark_closed
from workflows.payments.orders import ORDER_LIFETIME, record_payment

log = logging.getLogger("anxin.withholding")
METHOD = "WITHHOLDING"  # PaymentOrder.method of a charge made with an agreement


@dataclass(frozen=True)
class Charged:
    outcome: ChargeOutcome
    order: PaymentOrder | None
    reason: str = ""


async def take_attempt(
    policy_id: object, purpose: ChargePurpose, subject: object
) -> WithholdingAttempt | None:
    """Today's attempt for ``subject``, or None when it was taken already."""
    day = local_today()
    try:
        async with in_transaction():
            return await WithholdingAttempt.create(
                policy_id=policy_id,
                purpose=purpose,
                day=day,
                attempt_key=f"{purpose.value.lower()}:{subject}:{day.isoformat()}",
                outcome=ChargeOutcome.CHARGING,
            )
    except IntegrityError:
        return None


async def settle(attempt: WithholdingAttempt, charged: Charged) -> Charged:
    await WithholdingAttempt.filter(id=attempt.id).update(
        outcome=charged.outcome,
        order_id=charged.order.id if charged.order else None,
        detail=charged.reason[:200],
    )
    return charged


async def charge(
    payer: PaymentProvider,
    agreement: CollectionAgreement,
    installment: PremiumInstallment,
    customer_id: object,
    subject: str,
    notify_base_url: str,
    now: datetime,
) -> Charged:
    """Charge ``installment`` with ``agreement`` (the caller took today's attempt)."""
    if not isinstance(payer, AgreementProvider) or not agreement.agreement_no:
        return Charged(ChargeOutcome.FAILED, None, "自动扣款方式不可用")
    provider: AgreementProvider = payer
    try:
        order = await PaymentOrder.create(
            order_number=await next_number(Prefix.ORDER, now),
            customer_id=customer_id,
            policy_id=installment.policy_id,
            installment_id=installment.id,
            provider=payer.name,
            method=METHOD,
            amount=installment.amount,
            expires_at=now + ORDER_LIFETIME,
            open_key=str(installment.id),
        )
    except IntegrityError:
        return Charged(ChargeOutcome.FAILED, None, "该期保费正在支付中")
    request = WithholdRequest(
        order_number=order.order_number,
        agreement_no=agreement.agreement_no,
        amount=order.amount,
        subject=subject,
        notify_url=f"{notify_base_url.rstrip('/')}/payments/{payer.name}/notify",
    )
    try:
        status = await provider.withhold(request)
    except ProviderRejected as refused:
        await mark_closed(order, now)
        return Charged(ChargeOutcome.FAILED, order, refused.code)
    except ProviderUnavailable:
        return Charged(ChargeOutcome.IN_PROCESS, order, "扣款结果待确认")
    if status.state is not TradeState.PAID or status.amount is None:
        return Charged(ChargeOutcome.IN_PROCESS, order, "扣款处理中")
    notification = PaymentNotification(
        kind="payment",
        order_number=order.order_number,
        state=TradeState.PAID,
        amount=status.amount,
        provider_trade_no=status.provider_trade_no,
        app_id=payer.app_id,
        merchant_id=payer.merchant_id,
        occurred_at=status.paid_at,
    )
    try:
        await record_payment(payer, notification)
    except InvalidNotification as exc:  # e.g. another amount than ours: staff look
        log.error("withholding charge %s not recorded: %s", order.order_number, exc)
        return Charged(ChargeOutcome.IN_PROCESS, order, "扣款待核对")
    return Charged(ChargeOutcome.PAID, order)
