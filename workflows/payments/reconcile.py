"""Daily reconciliation: our ledger against the providers' records for one day.

Each order, refund and payout of the day (Asia/Shanghai) is queried at its provider and
compared with what we recorded: orders and refunds at the payment providers, payouts at
the transfer providers (those and the bank platform). Providers' statement files (Alipay
bill download, WeChat trade bills) would make this one request per day; per-record
queries give the same answer without another file format, at the cost of a request per
record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from models.clock import local_midnight
from models.payments import (
    LedgerEntry,
    LedgerKind,
    OrderStatus,
    PaymentOrder,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
)
from payments.base import (
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    RefundState,
    TradeState,
    TransferProvider,
    TransferState,
)


@dataclass(frozen=True)
class Difference:
    kind: str  # MISSING_PAYMENT, UNCONFIRMED_PAYMENT, AMOUNT_MISMATCH, MISSING_LEDGER, ...
    reference: str  # our order, refund or transfer number
    ours: str
    theirs: str


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local (Beijing) day, from its midnight to the next."""
    start = local_midnight(day)
    return start, start + timedelta(days=1)


async def reconcile(
    providers: Mapping[str, PaymentProvider],
    day: date,
    *,
    transfer_providers: Mapping[str, TransferProvider],
) -> list[Difference]:
    start, end = day_bounds(day)
    differences: list[Difference] = []
    for order in await PaymentOrder.filter(created_at__gte=start, created_at__lt=end):
        provider = providers.get(order.provider)
        if provider is None:
            continue
        try:
            theirs = await provider.query(order.order_number)
        except (ProviderUnavailable, ProviderRejected) as exc:
            differences.append(
                Difference("UNREACHABLE", order.order_number, str(order.status), type(exc).__name__)
            )
            continue
        paid_here = order.status is OrderStatus.PAID
        paid_there = theirs.state is TradeState.PAID
        if paid_there and not paid_here:
            differences.append(
                Difference(
                    "MISSING_PAYMENT", order.order_number, str(order.status), str(theirs.state)
                )
            )
        elif paid_here and not paid_there:
            differences.append(
                Difference(
                    "UNCONFIRMED_PAYMENT", order.order_number, str(order.status), str(theirs.state)
                )
            )
        elif paid_here and theirs.amount is not None and theirs.amount != order.amount:
            differences.append(
                Difference(
                    "AMOUNT_MISMATCH", order.order_number, f"{order.amount}", f"{theirs.amount}"
                )
            )
        if paid_here and not await LedgerEntry.exists(
            order_id=order.id, kind=LedgerKind.PREMIUM_RECEIVED
        ):
            differences.append(Difference("MISSING_LEDGER", order.order_number, "PAID", "-"))
    for refund in await Refund.filter(created_at__gte=start, created_at__lt=end):
        order = await PaymentOrder.get(id=refund.order_id)
        provider = providers.get(order.provider)
        if provider is None:
            continue
        try:
            result = await provider.query_refund(order.order_number, refund.refund_number)
        except (ProviderUnavailable, ProviderRejected) as exc:
            differences.append(
                Difference(
                    "UNREACHABLE", refund.refund_number, str(refund.status), type(exc).__name__
                )
            )
            continue
        done_here = refund.status is RefundStatus.SUCCESS
        if done_here != (result.state is RefundState.SUCCESS):
            differences.append(
                Difference(
                    "REFUND_STATUS", refund.refund_number, str(refund.status), str(result.state)
                )
            )
    for payout in await Payout.filter(created_at__gte=start, created_at__lt=end):
        payer = transfer_providers.get(payout.provider)
        if payer is None:
            continue
        try:
            transfer = await payer.query_transfer(payout.transfer_number)
        except (ProviderUnavailable, ProviderRejected) as exc:
            differences.append(
                Difference(
                    "UNREACHABLE", payout.transfer_number, str(payout.status), type(exc).__name__
                )
            )
            continue
        done_here = payout.status is PayoutStatus.SUCCESS
        if done_here != (transfer.state is TransferState.SUCCESS):
            differences.append(
                Difference(
                    "PAYOUT_STATUS", payout.transfer_number, str(payout.status), str(transfer.state)
                )
            )
    return differences
