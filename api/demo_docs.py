"""Demo documents: 张伟's first premium paid through a (sandbox) order, his e-policies
issued, the receipt of that order, and an e-invoice for it issued by the sandbox
invoicing provider. Other documents are issued when first asked for, as in production."""

from __future__ import annotations

from datetime import timedelta

from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from models.payments import OrderStatus, PaymentOrder
from models.policies import Policy, PremiumInstallment
from models.policy_documents import InvoiceTitleKind
from workflows.access import Actor
from workflows.numbering import Prefix, next_number
from workflows.policy_service import documents, invoices

ZHANG_WEI_PHONE = "13800000001"


async def seed_documents(services: Services) -> None:
    customer = await Customer.get_or_none(phone_hash=services.pii.phone_hash(ZHANG_WEI_PHONE))
    if customer is None:
        return
    policies = await Policy.filter(holder_id=customer.id).order_by("number")
    for policy in policies:
        await documents.issue_policy_document(services.documents, policy.id)
    first_paid = (
        await PremiumInstallment.filter(
            policy_id__in=[p.id for p in policies], paid_at__not_isnull=True
        )
        .order_by("paid_at")
        .first()
    )
    if first_paid is None or first_paid.paid_at is None:
        return
    async with in_transaction():
        order = await PaymentOrder.create(
            order_number=await next_number(Prefix.ORDER, first_paid.paid_at),
            customer=customer,
            policy_id=first_paid.policy_id,
            installment=first_paid,
            provider="sandbox",
            method="SANDBOX",
            amount=first_paid.amount,
            status=OrderStatus.PAID,
            paid_at=first_paid.paid_at,
            provider_trade_no=f"SBX{first_paid.id.hex[:16]}",
            expires_at=first_paid.paid_at + timedelta(minutes=30),
        )
    await documents.issue_receipt(services.documents, order)
    if services.invoice_provider is None:
        return
    await invoices.request_invoice(
        Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id),
        services.pii,
        services.invoice_provider,
        order.id,
        title_kind=InvoiceTitleKind.PERSONAL,
        title=customer.name,
        tax_number=None,
        email=None,
        idempotency_key=f"demo-invoice-{order.id}",
    )
    await invoices.process_invoices(services.invoice_provider, services.documents, services.pii)
