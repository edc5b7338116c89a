"""E-invoices (电子发票) for paid premiums: the customer asks, a job hands the request to
the invoicing provider and polls it, the PDF is attached and the customer told.

States::

    REQUESTED ──submit──▶ SUBMITTED ──status ISSUED──▶ ISSUED  (PDF attached, notified)
        │                     │
        └──refused───▶ FAILED ◀──status FAILED──┘              (notified, may ask again)

One live request per order: ``live_key`` (unique) holds the order's id while the
request is not FAILED, whoever races. A provider that is down leaves the request where
it is for the next run (the provider issues once per our serial, the request number).
Workers claim a request by a conditional update of ``attempts``, so two workers never
submit or store the same request at once.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.customers import Customer
from models.payments import OrderStatus, PaymentOrder, Refund, RefundStatus
from models.pii import PiiCipher
from models.policies import Policy
from models.policy_documents import DocumentKind, InvoiceRequest, InvoiceStatus, InvoiceTitleKind
from payments.invoicing import (
    InvoiceProvider,
    InvoiceProviderUnavailable,
    InvoiceRefused,
    InvoiceState,
    InvoiceSubmission,
)
from push.outbox import emit
from workflows.access import Actor
from workflows.errors import DomainError
from workflows.idempotency import once
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.numbering import Prefix, next_number
from workflows.policy_service.documents import DocumentDeps, store_issued_pdf

log = logging.getLogger("anxin.invoices")
ITEM = "*保险服务*保险费"
TITLE_LIMIT = 100
EMAIL_LIMIT = 254
BATCH = 20
MAX_ATTEMPTS = 50  # then the request fails and the customer may ask again
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TAX_CHARS = re.compile(r"[0-9A-Z]+")
# GB 32100-2015: 统一社会信用代码, 18 characters of this alphabet, the last a check.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class InvoiceErrorCode(StrEnum):
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_PAID = "ORDER_NOT_PAID"
    ORDER_REFUNDED = "ORDER_REFUNDED"
    ALREADY_REQUESTED = "INVOICE_ALREADY_REQUESTED"
    INVALID_TITLE = "INVALID_INVOICE_TITLE"
    INVALID_TAX_NUMBER = "INVALID_TAX_NUMBER"
    INVALID_EMAIL = "INVALID_EMAIL"
    NO_PROVIDER = "INVOICING_UNAVAILABLE"


class InvoiceError(DomainError):
    codes = InvoiceErrorCode


def valid_uscc(code: str) -> bool:
    """A unified social credit code (统一社会信用代码) with a correct check character."""
    if len(code) != 18 or any(c not in _USCC_ALPHABET for c in code):
        return False
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(code, _USCC_WEIGHTS, strict=False))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def check_tax_number(raw: str) -> str:
    """A taxpayer number (纳税人识别号): 15 or 20 characters (old tax registration
    numbers), or an 18-character unified social credit code with its checksum."""
    code = raw.strip().upper()
    if len(code) not in (15, 18, 20) or not _TAX_CHARS.fullmatch(code):
        raise InvoiceError(
            InvoiceErrorCode.INVALID_TAX_NUMBER,
            "纳税人识别号应为15、18或20位数字或大写字母",
            "taxNumber",
        )
    if len(code) == 18 and not valid_uscc(code):
        raise InvoiceError(
            InvoiceErrorCode.INVALID_TAX_NUMBER, "统一社会信用代码校验位不正确", "taxNumber"
        )
    return code


async def request_invoice(
    actor: Actor,
    pii: PiiCipher,
    provider: InvoiceProvider | None,
    order_id: uuid.UUID,
    *,
    title_kind: InvoiceTitleKind,
    title: str,
    tax_number: str | None,
    email: str | None,
    idempotency_key: str,
) -> uuid.UUID:
    """Ask for an e-invoice of one of the caller's paid orders; the id of the request."""
    title = title.strip()
    tax = tax_number.strip() if tax_number else ""
    mail = email.strip() if email else ""
    request = {
        "order": str(order_id),
        "kind": str(title_kind),
        "title": title,
        "tax": tax,
        "email": mail,
    }

    async def run() -> dict[str, str]:
        invoice = await _create(actor, pii, provider, order_id, title_kind, title, tax, mail)
        return {"invoice_id": str(invoice.id)}

    answer = await once(f"invoice:{actor.subject_id}", idempotency_key, request, run)
    return uuid.UUID(answer["invoice_id"])


async def _create(
    actor: Actor,
    pii: PiiCipher,
    provider: InvoiceProvider | None,
    order_id: uuid.UUID,
    title_kind: InvoiceTitleKind,
    title: str,
    tax: str,
    mail: str,
) -> InvoiceRequest:
    if provider is None:
        raise InvoiceError(InvoiceErrorCode.NO_PROVIDER, "电子发票服务暂未开通")
    if not 1 <= len(title) <= TITLE_LIMIT:
        raise InvoiceError(
            InvoiceErrorCode.INVALID_TITLE, f"发票抬头应为1到{TITLE_LIMIT}个字", "title"
        )
    tax_number: str | None = None
    if title_kind is InvoiceTitleKind.COMPANY:
        if not tax:
            raise InvoiceError(
                InvoiceErrorCode.INVALID_TAX_NUMBER, "单位抬头须填写纳税人识别号", "taxNumber"
            )
        tax_number = check_tax_number(tax)
    elif tax:
        raise InvoiceError(
            InvoiceErrorCode.INVALID_TAX_NUMBER, "个人抬头无需填写纳税人识别号", "taxNumber"
        )
    if mail and (len(mail) > EMAIL_LIMIT or not _EMAIL.fullmatch(mail)):
        raise InvoiceError(InvoiceErrorCode.INVALID_EMAIL, "电子邮箱格式不正确", "email")
    order = await PaymentOrder.get_or_none(id=order_id, customer_id=actor.subject_id)
    if order is None or not actor.is_customer:
        raise InvoiceError(InvoiceErrorCode.ORDER_NOT_FOUND, "未找到该缴费订单", "orderId")
    if order.status is not OrderStatus.PAID:
        raise InvoiceError(InvoiceErrorCode.ORDER_NOT_PAID, "该订单尚未支付，暂不能开票", "orderId")
    refunded = sum(
        (r.amount for r in await Refund.filter(order_id=order.id, status=RefundStatus.SUCCESS)),
        Decimal(0),
    )
    amount = order.amount - refunded
    if amount <= 0:
        raise InvoiceError(InvoiceErrorCode.ORDER_REFUNDED, "该订单已全额退款，无法开票", "orderId")
    sealed = pii.seal_email(mail) if mail else None
    number = await next_number(Prefix.INVOICE)
    try:
        return await InvoiceRequest.create(
            number=number,
            order=order,
            customer_id=order.customer_id,
            title_kind=title_kind,
            title=title,
            tax_number=tax_number,
            email_encrypted=sealed.encrypted if sealed else None,
            email_masked=sealed.masked if sealed else None,
            amount=amount,
            provider=provider.name,
            live_key=str(order.id),
        )
    except IntegrityError:
        raise InvoiceError(
            InvoiceErrorCode.ALREADY_REQUESTED, "该订单已申请过电子发票", "orderId"
        ) from None


def _submission(invoice: InvoiceRequest, order: PaymentOrder, pii: PiiCipher) -> InvoiceSubmission:
    return InvoiceSubmission(
        serial=invoice.number,
        title=invoice.title,
        tax_number=invoice.tax_number,
        amount=invoice.amount,
        item=ITEM,
        order_number=order.order_number,
        email=pii.decrypt(invoice.email_encrypted, "email") if invoice.email_encrypted else None,
    )


async def _claim(invoice: InvoiceRequest) -> bool:
    """Take the request for this run; False when another worker took it first."""
    taken = await InvoiceRequest.filter(
        id=invoice.id, status=invoice.status, attempts=invoice.attempts
    ).update(attempts=invoice.attempts + 1)
    invoice.attempts += 1
    return taken == 1


async def _fail(invoice: InvoiceRequest, reason: str) -> None:
    order = await PaymentOrder.get(id=invoice.order_id)
    policy = await Policy.get(id=order.policy_id)
    async with in_transaction():
        changed = await InvoiceRequest.filter(id=invoice.id, status=invoice.status).update(
            status=InvoiceStatus.FAILED,
            failure_reason=reason[:255],
            finished_at=datetime.now(UTC),
            live_key=None,
        )
        if changed:
            await emit(
                "invoice.failed",
                entity_type="invoice",
                entity_id=invoice.id,
                customer_id=invoice.customer_id,
                payload={
                    "invoice_id": str(invoice.id),
                    "policy_number": policy.number,
                    "amount": f"{invoice.amount:.2f}",
                    "reason": reason[:100],
                },
            )


async def process_invoices(
    provider: InvoiceProvider, documents: DocumentDeps, pii: PiiCipher
) -> int:
    """One run: submit what was requested, poll what was submitted. How many moved."""
    moved = 0
    for invoice in await InvoiceRequest.filter(status=InvoiceStatus.REQUESTED).limit(BATCH):
        if not await _claim(invoice):
            continue
        order = await PaymentOrder.get(id=invoice.order_id)
        try:
            reference = await provider.submit(_submission(invoice, order, pii))
        except InvoiceRefused as refused:
            await _fail(invoice, str(refused) or "开票平台拒绝了该请求")
            moved += 1
            continue
        except InvoiceProviderUnavailable:
            log.warning("invoicing provider unavailable for %s", invoice.number)
            if invoice.attempts >= MAX_ATTEMPTS:
                await _fail(invoice, "开票平台暂时无法受理，请稍后重新申请")
            continue
        await InvoiceRequest.filter(id=invoice.id, status=InvoiceStatus.REQUESTED).update(
            status=InvoiceStatus.SUBMITTED, provider_ref=reference, submitted_at=datetime.now(UTC)
        )
        invoice.status, invoice.provider_ref = InvoiceStatus.SUBMITTED, reference
        moved += 1
        moved += await _poll(provider, documents, pii, invoice, order)
    for invoice in await InvoiceRequest.filter(status=InvoiceStatus.SUBMITTED).limit(BATCH):
        if not await _claim(invoice):
            continue
        order = await PaymentOrder.get(id=invoice.order_id)
        moved += await _poll(provider, documents, pii, invoice, order)
    return moved


async def _poll(
    provider: InvoiceProvider,
    documents: DocumentDeps,
    pii: PiiCipher,
    invoice: InvoiceRequest,
    order: PaymentOrder,
) -> int:
    try:
        result = await provider.status(invoice.provider_ref or "", _submission(invoice, order, pii))
    except InvoiceProviderUnavailable:
        return 0
    if result.state is InvoiceState.FAILED:
        await _fail(invoice, result.reason or "开票失败")
        return 1
    if result.state is not InvoiceState.ISSUED or result.pdf is None:
        return 0
    customer = await Customer.get(id=invoice.customer_id)
    policy = await Policy.get(id=order.policy_id)
    document = await store_issued_pdf(
        documents,
        DocumentKind.INVOICE,
        f"invoice:{invoice.id}",
        result.pdf,
        title="电子发票",
        customer_id=invoice.customer_id,
        policy_id=policy.id,
        holder_name=customer.name,
        file_name=f"电子发票_{result.invoice_number or invoice.number}.pdf",
    )
    async with in_transaction():
        changed = await InvoiceRequest.filter(id=invoice.id, status=InvoiceStatus.SUBMITTED).update(
            status=InvoiceStatus.ISSUED,
            invoice_number=result.invoice_number,
            document_id=document.id,
            finished_at=datetime.now(UTC),
        )
        if changed:
            await emit(
                "invoice.issued",
                entity_type="invoice",
                entity_id=invoice.id,
                customer_id=invoice.customer_id,
                payload={
                    "invoice_id": str(invoice.id),
                    "policy_number": policy.number,
                    "amount": f"{invoice.amount:.2f}",
                },
            )
    return 1


async def _run(deps: JobDeps) -> None:
    if deps.invoice_provider is not None:
        documents = DocumentDeps(deps.storage, deps.notify_base_url)
        await process_invoices(deps.invoice_provider, documents, deps.pii)


JOBS = (Job("invoices", MINUTE, _run),)
