"""Readable business numbers (报案号 BA…, order PO…, refund RF…, transfer TF…): a prefix,
the local day (Asia/Shanghai) and a per-day sequence, e.g. ``BA20261129000042``.

One counter row per prefix and day; the increment holds the row until its transaction
commits, so concurrent callers never share a number.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from enum import StrEnum

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.claims import DailySequence
from models.clock import local_date


class Prefix(StrEnum):
    """What a number names; the prefix is printed on letters and receipts."""

    REPORT = "BA"  # a reported loss, and the claim it becomes (报案号)
    ORDER = "PO"  # a premium payment order
    REFUND = "RF"  # a premium refund
    TRANSFER = "TF"  # a claim payout transfer
    COMPLAINT = "TS"  # a complaint (投诉)
    CRISIS = "WJ"  # a crisis incident (危机)
    KNOWLEDGE = "KB"  # a knowledge-base entry (知识库条目)
    DOCUMENT = "DZ"  # an issued document: e-policy, receipt, notice, statement (电子单证)
    INVOICE = "FP"  # an e-invoice request (发票申请)
    ENDORSEMENT = "PD"  # a change of a policy (批单)
    APPLICATION = "TB"  # an application for a policy (投保单)
    POLICY = "AX"  # a policy issued online (保单号)
    RISK_SIGNAL = "FX"  # a risk signal for staff (风险信号)
    BOOKING = "FW"  # a booking of a value-added service (增值服务预约)
    AGREEMENT = "DK"  # a withholding agreement we ask a customer to sign (代扣协议)


async def next_number(prefix: Prefix, now: datetime | None = None) -> str:
    """The next number of ``prefix`` for the local day of ``now``."""
    [number] = await next_numbers(prefix, 1, now)
    return number


async def next_numbers(prefix: Prefix, count: int, now: datetime | None = None) -> list[str]:
    """``count`` consecutive numbers of ``prefix`` in one increment (a batch of rows
    numbered at once, e.g. the nightly risk signals)."""
    day = local_date(now or datetime.now(UTC)).strftime("%Y%m%d")
    with contextlib.suppress(IntegrityError):  # created concurrently: fine
        await DailySequence.get_or_create(prefix=prefix.value, day=day)
    async with in_transaction():  # the update holds the row until commit
        await DailySequence.filter(prefix=prefix.value, day=day).update(value=F("value") + count)
        row = await DailySequence.get(prefix=prefix.value, day=day)
    return [
        f"{prefix.value}{day}{value:06d}" for value in range(row.value - count + 1, row.value + 1)
    ]
