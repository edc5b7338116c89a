"""What an e-invoicing provider (电子发票服务平台: the tax-control service the insurer
uses, e.g. 百望云, 诺诺) is to anxin: submit a request, ask how it stands. The sandbox
issues at once, as a small PDF, and needs no state (``status`` is asked with what was
submitted, as a provider that looks a request up by our serial number would be).

Errors say what to do next::

    InvoiceProviderError
     ├── InvoiceProviderUnavailable   timeout, 5xx: try again later (same serial)
     └── InvoiceRefused               refused for good (title, tax number): the request fails
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from reportlab.lib.pagesizes import A5, landscape
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
SANDBOX_REFUSED_TITLE = "SANDBOX-REFUSE"  # a title that makes the sandbox refuse (tests, demos)


class InvoiceProviderError(Exception):
    pass


class InvoiceProviderUnavailable(InvoiceProviderError):
    pass


class InvoiceRefused(InvoiceProviderError):
    pass


class InvoiceState(StrEnum):
    PENDING = "PENDING"
    ISSUED = "ISSUED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class InvoiceSubmission:
    serial: str  # ours (the request number): the provider issues once per serial
    title: str
    tax_number: str | None
    amount: Decimal
    item: str  # 货物或应税劳务名称, e.g. "*保险服务*保费"
    order_number: str
    email: str | None = None


@dataclass(frozen=True)
class InvoiceResult:
    state: InvoiceState
    invoice_number: str | None = None
    pdf: bytes | None = None
    reason: str | None = None


class InvoiceProvider(Protocol):
    name: str

    async def submit(self, submission: InvoiceSubmission) -> str:
        """Hand the request over; returns the provider's reference."""
        ...

    async def status(self, reference: str, submission: InvoiceSubmission) -> InvoiceResult:
        """How the request stands; the PDF once issued."""
        ...


class SandboxInvoiceProvider:
    """Development: issues every invoice at once (a title of ``SANDBOX-REFUSE`` is
    refused), with a PDF that says it is not a real invoice."""

    name = "sandbox"

    async def submit(self, submission: InvoiceSubmission) -> str:
        if submission.title == SANDBOX_REFUSED_TITLE:
            raise InvoiceRefused("购买方名称与税号不匹配")
        return f"SBX-{submission.serial}"

    async def status(self, reference: str, submission: InvoiceSubmission) -> InvoiceResult:
        number = "".join(c for c in reference if c.isdigit())[-20:].rjust(20, "0")
        return InvoiceResult(InvoiceState.ISSUED, number, _sandbox_pdf(number, submission))


def _sandbox_pdf(number: str, submission: InvoiceSubmission) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=landscape(A5), invariant=True)
    canvas.setTitle(f"电子发票 {number}")
    canvas.setFont(FONT, 16)
    canvas.drawString(40, 370, "电子发票（普通发票）  沙箱样票，非真实发票")
    canvas.setFont(FONT, 10)
    lines = [
        f"发票号码：{number}",
        f"购买方名称：{submission.title}",
        f"购买方纳税人识别号：{submission.tax_number or '（个人）'}",
        f"项目名称：{submission.item}",
        f"价税合计：¥{submission.amount:.2f}",
        f"订单号：{submission.order_number}",
        "销售方：安心财产保险股份有限公司",
    ]
    for i, line in enumerate(lines):
        canvas.drawString(40, 330 - 22 * i, line)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
