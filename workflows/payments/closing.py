"""Closing open premium orders: here by a conditional update (the order's own row lock,
so a payment being recorded keeps it PAID), then at the provider."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from models.payments import OrderStatus, PaymentOrder
from payments.base import PaymentProvider, ProviderRejected, ProviderUnavailable


async def mark_closed(order: PaymentOrder, now: datetime) -> int:
    """An open order closes (expired, replaced, refused): it frees its installment."""
    return await PaymentOrder.filter(id=order.id, status=OrderStatus.CREATED).update(
        status=OrderStatus.CLOSED, closed_at=now, open_key=None
    )


async def close_open_orders(
    providers: Mapping[str, PaymentProvider], now: datetime, **where: Any
) -> None:
    """Close the open orders ``where`` selects, after what made them pointless committed
    (an application or a change expired). One paid meanwhile stays PAID: its payment is
    recorded and refunded by whoever handles the expired subject. The provider is told
    on a best-effort basis (an order never opened there is refused: nothing to do)."""
    for order in await PaymentOrder.filter(**where, status=OrderStatus.CREATED):
        provider = providers.get(order.provider)
        if await mark_closed(order, now) and provider is not None:
            with contextlib.suppress(ProviderUnavailable, ProviderRejected):
                await provider.close(order.order_number)
