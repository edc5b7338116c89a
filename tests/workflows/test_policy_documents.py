"""Policy documents and e-invoices in the workflow: what the PDFs say (read back with
pypdf), one stored document per subject and version under concurrency, verification,
and e-invoice requests through the sandbox provider to an issued PDF."""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimLine, ClaimStatus
from models.customers import Customer
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
from models.notifications import OutboxEvent
from models.payments import OrderStatus, PaymentOrder
from models.policies import Coverage, InsuredPerson, Policy, PremiumInstallment
from models.policy_documents import (
    DocumentKind,
    InvoiceRequest,
    InvoiceStatus,
    InvoiceTitleKind,
    PolicyDocument,
)
from payments.invoicing import SANDBOX_REFUSED_TITLE, SandboxInvoiceProvider
from tests.conftest import postgres_only
from tests.factories import id_number, make_claim, make_customer, make_policy
from workflows.access import Actor
from workflows.idempotency import IdempotencyError
from workflows.policy_service import documents as docs
from workflows.policy_service.invoices import (
    InvoiceError,
    InvoiceErrorCode,
    check_tax_number,
    process_invoices,
    request_invoice,
    valid_uscc,
)

FULL_ID = id_number("310104", "19850512", "123")


def customer(c: Customer) -> Actor:
    return Actor(kind=SubjectKind.CUSTOMER, subject_id=c.id)


async def pdf_bytes(services: Services, document: PolicyDocument) -> bytes:
    stream = await services.storage.get(document.storage_key)
    return b"".join([chunk async for chunk in stream])


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def insured_with_known_id(services: Services, policy: Policy) -> str:
    sealed = services.pii.seal_id_number(FULL_ID)
    await InsuredPerson.filter(policy_id=policy.id).update(
        id_number_encrypted=sealed.encrypted,
        id_number_hash=sealed.lookup_hash,
        id_number_masked=sealed.masked,
    )
    return sealed.masked


async def paid_order(holder: Customer, policy: Policy, sequence: int = 1) -> PaymentOrder:
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=sequence)
    now = datetime.now(UTC)
    return await PaymentOrder.create(
        order_number=f"PO2026120{sequence}{secrets.randbelow(10**6):06d}",
        customer=holder,
        policy=policy,
        installment=installment,
        provider="sandbox",
        method="SANDBOX",
        amount=installment.amount,
        status=OrderStatus.PAID,
        paid_at=now,
        provider_trade_no=f"SBX{secrets.token_hex(6)}",
        expires_at=now + timedelta(minutes=30),
    )


async def test_the_e_policy_shows_the_policy_number_and_only_the_masked_id(
    services: Services, db: str
) -> None:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    masked = await insured_with_known_id(services, policy)

    document = await docs.issue_policy_document(services.documents, policy.id)

    data = await pdf_bytes(services, document)
    assert hashlib.sha256(data).hexdigest() == document.sha256
    assert document.size == len(data)
    text = pdf_text(data)
    assert policy.number in text
    assert masked in text
    assert FULL_ID not in text
    assert "电子保单" in text and "主险" in text  # Chinese, through the CID font
    assert document.verification_code in text  # printed, as in its QR code
    assert services.documents.verify_url(document.verification_code) in text.replace("\n", "")
    assert document.holder_name_masked == "张*"


async def test_unchanged_data_gives_the_same_document_and_a_change_a_new_version(
    services: Services, db: str
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    first = await docs.issue_policy_document(services.documents, policy.id)
    again = await docs.issue_policy_document(services.documents, policy.id)
    assert again.id == first.id

    await Coverage.filter(policy_id=policy.id).update(name="主险（批改后）")
    second = await docs.issue_policy_document(services.documents, policy.id)

    assert second.version == 2 and second.id != first.id
    assert "主险（批改后）" in pdf_text(await pdf_bytes(services, second))
    old = await docs.verify_document(first.sha256)
    assert old is not None and old.superseded
    new = await docs.verify_document(second.verification_code)
    assert new is not None and not new.superseded


async def test_verify_document_knows_our_hashes_and_nothing_else(
    services: Services, db: str
) -> None:
    holder = await make_customer(services, "欧阳娜娜")
    policy = await make_policy(services, holder)
    document = await docs.issue_policy_document(services.documents, policy.id)

    by_file = await docs.verify_document(document.sha256)
    by_code = await docs.verify_document(document.verification_code.upper())
    assert by_file is not None and by_code is not None
    assert (by_file.number, by_file.kind) == (document.number, DocumentKind.POLICY)
    assert by_file.holder_name_masked == "欧***"
    assert await docs.verify_document(secrets.token_hex(32)) is None
    with pytest.raises(docs.DocumentError):
        await docs.verify_document("not-a-hash")


@postgres_only
async def test_concurrent_first_requests_store_one_document(services: Services, db: str) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)

    issued = await asyncio.gather(
        *(docs.issue_policy_document(services.documents, policy.id) for _ in range(8))
    )

    assert len({d.id for d in issued}) == 1
    rows = await PolicyDocument.filter(subject_key=f"policy:{policy.id}")
    assert len(rows) == 1
    root = services.settings.storage_root / "documents"
    stored = [p for p in root.rglob("*.pdf")]
    assert [p.name for p in stored] == [rows[0].storage_key.rsplit("/", 1)[1]]


async def test_documents_follow_the_callers_role_on_the_policy(services: Services, db: str) -> None:
    holder = await make_customer(services, "张伟")
    insured = await make_customer(services, "李娜")
    beneficiary = await make_customer(services, "王芳")
    stranger = await make_customer(services, "赵强")
    policy = await make_policy(
        services, holder, insured=[holder, insured], beneficiaries=[beneficiary]
    )
    await paid_order(holder, policy)

    mine = await docs.policy_documents(services.documents, customer(holder), policy.id)
    theirs = await docs.policy_documents(services.documents, customer(insured), policy.id)

    assert [d.kind for d in mine] == [DocumentKind.POLICY, DocumentKind.PREMIUM_RECEIPT]
    assert [d.kind for d in theirs] == [DocumentKind.POLICY]
    receipt = mine[1]
    assert await docs.readable_document(customer(insured), receipt.id) is None
    assert await docs.readable_document(customer(insured), mine[0].id) is not None
    for outsider in (beneficiary, stranger):
        with pytest.raises(docs.DocumentError):
            await docs.policy_documents(services.documents, customer(outsider), policy.id)
        assert await docs.readable_document(customer(outsider), mine[0].id) is None


async def test_a_settlement_notice_only_for_a_decided_claim(services: Services, db: str) -> None:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    pending = await make_claim(holder, policy, ClaimStatus.UNDER_REVIEW)
    decided = await make_claim(
        holder,
        policy,
        ClaimStatus.APPROVED,
        decided_at=datetime.now(UTC),
        approved_amount=Decimal("3500.00"),
    )
    coverage = await Coverage.get(policy_id=policy.id)
    await ClaimLine.create(
        claim=decided,
        coverage=coverage,
        claimed_amount=Decimal("4000.00"),
        deductible_applied=Decimal("500.00"),
        approved_amount=Decimal("3500.00"),
        reason="扣除免赔额",
    )

    with pytest.raises(docs.DocumentError) as refused:
        await docs.claim_notice(services.documents, customer(holder), pending.id)
    notice = await docs.claim_notice(services.documents, customer(holder), decided.id)

    assert refused.value.code is docs.DocumentErrorCode.NOT_DECIDED
    text = pdf_text(await pdf_bytes(services, notice))
    assert "理赔决定书" in text and decided.report_number in text and "3,500.00" in text


async def test_the_yearly_statement_is_reissued_when_the_year_gains_a_payment(
    services: Services, db: str
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    year = datetime.now(UTC).year
    await paid_order(holder, policy)
    first = await docs.yearly_statement(services.documents, customer(holder), year)
    same = await docs.yearly_statement(services.documents, customer(holder), year)
    await paid_order(holder, policy, sequence=2)
    second = await docs.yearly_statement(services.documents, customer(holder), year)

    assert same.id == first.id
    assert second.version == 2
    assert "1,200.00" in pdf_text(await pdf_bytes(services, second))
    with pytest.raises(docs.DocumentError):
        await docs.yearly_statement(services.documents, customer(holder), year + 1)


async def test_an_effective_endorsement_gets_its_certificate(services: Services, db: str) -> None:
    """The 批单 of a change that took effect is issued with the policy's documents, its
    lines from the endorsement's stored (masked) before and after values; a change not
    yet effective has none."""
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    shown = {"idNumber": "110***********1234", "relation": "SPOUSE"}
    effective = await Endorsement.create(
        number="PD20261202000001",
        policy=policy,
        type=EndorsementType.BENEFICIARIES,
        status=EndorsementStatus.EFFECTIVE,
        requested_by=holder,
        before={"beneficiaries": []},
        after={"beneficiaries": [{"name": "李娜", "share": "100.00", **shown}]},
        effective_date=datetime.now(UTC).date(),
        effective_at=datetime.now(UTC),
    )
    await Endorsement.create(
        number="PD20261202000002",
        policy=policy,
        type=EndorsementType.PAYMENT_FREQUENCY,
        status=EndorsementStatus.NEEDS_REVIEW,
        requested_by=holder,
        before={"frequency": "ANNUAL"},
        after={"frequency": "MONTHLY"},
    )

    listed = await docs.policy_documents(services.documents, customer(holder), policy.id)

    certificates = [d for d in listed if d.kind == DocumentKind.ENDORSEMENT]
    assert [d.subject_key for d in certificates] == [f"endorsement:{effective.id}"]
    text = pdf_text(await pdf_bytes(services, certificates[0]))
    assert "PD20261202000001" in text and "变更受益人" in text and "法定受益人" in text
    assert "110***********1234" in text and "李娜" in text and "配偶" in text
    again = await docs.policy_documents(services.documents, customer(holder), policy.id)
    assert [d.id for d in again if d.kind == DocumentKind.ENDORSEMENT] == [certificates[0].id]


def test_tax_numbers() -> None:
    # Published codes of real companies (Alibaba, Tencent, Baidu) pass the checksum.
    for code in ("91330100716105852F", "9144030071526726XG", "91110000802100433B"):
        assert valid_uscc(code), code
    assert not valid_uscc("91330100716105852E")
    assert check_tax_number(" 9144030071526726xg ") == "9144030071526726XG"
    assert check_tax_number("110105123456789") == "110105123456789"
    for bad in ("91330100716105852E", "1234", "11010512345678-", "9133010071610585"):
        with pytest.raises(InvoiceError):
            check_tax_number(bad)


async def test_an_invoice_request_is_issued_with_its_pdf_and_announced(
    services: Services, db: str
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    provider = SandboxInvoiceProvider()

    invoice_id = await request_invoice(
        customer(holder),
        services.pii,
        provider,
        order.id,
        title_kind=InvoiceTitleKind.COMPANY,
        title="深圳市腾讯计算机系统有限公司",
        tax_number="9144030071526726XG",
        email="finance@example.com",
        idempotency_key="invoice-key-0001",
    )
    again = await request_invoice(
        customer(holder),
        services.pii,
        provider,
        order.id,
        title_kind=InvoiceTitleKind.COMPANY,
        title="深圳市腾讯计算机系统有限公司",
        tax_number="9144030071526726XG",
        email="finance@example.com",
        idempotency_key="invoice-key-0001",
    )
    assert again == invoice_id
    assert (await InvoiceRequest.get(id=invoice_id)).status is InvoiceStatus.REQUESTED

    moved = await process_invoices(provider, services.documents, services.pii)

    invoice = await InvoiceRequest.get(id=invoice_id)
    assert moved == 2 and invoice.status is InvoiceStatus.ISSUED
    assert invoice.email_masked == "f***@example.com"
    assert invoice.document_id is not None
    document = await PolicyDocument.get(id=invoice.document_id)
    text = pdf_text(await pdf_bytes(services, document))
    assert "9144030071526726XG" in text and "600.00" in text
    assert await docs.verify_document(document.sha256) is not None
    event = await OutboxEvent.get(event_type="invoice.issued", entity_id=str(invoice.id))
    assert event.customer_id == holder.id and event.payload["policy_number"] == policy.number
    with pytest.raises(InvoiceError) as twice:
        await request_invoice(
            customer(holder),
            services.pii,
            provider,
            order.id,
            title_kind=InvoiceTitleKind.PERSONAL,
            title="张伟",
            tax_number=None,
            email=None,
            idempotency_key="invoice-key-0002",
        )
    assert twice.value.code is InvoiceErrorCode.ALREADY_REQUESTED
    with pytest.raises(IdempotencyError):  # the same key with another input
        await request_invoice(
            customer(holder),
            services.pii,
            provider,
            order.id,
            title_kind=InvoiceTitleKind.PERSONAL,
            title="张伟",
            tax_number=None,
            email=None,
            idempotency_key="invoice-key-0001",
        )


async def test_a_refused_invoice_fails_and_frees_the_order(services: Services, db: str) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    provider = SandboxInvoiceProvider()
    common = {"tax_number": None, "email": None}
    refused_id = await request_invoice(
        customer(holder),
        services.pii,
        provider,
        order.id,
        title_kind=InvoiceTitleKind.PERSONAL,
        title=SANDBOX_REFUSED_TITLE,
        idempotency_key="refused-key-01",
        **common,
    )

    await process_invoices(provider, services.documents, services.pii)

    refused = await InvoiceRequest.get(id=refused_id)
    assert refused.status is InvoiceStatus.FAILED and refused.live_key is None
    assert await OutboxEvent.exists(event_type="invoice.failed", entity_id=str(refused_id))
    retry = await request_invoice(
        customer(holder),
        services.pii,
        provider,
        order.id,
        title_kind=InvoiceTitleKind.PERSONAL,
        title="张伟",
        idempotency_key="refused-key-02",
        **common,
    )
    assert retry != refused_id


async def test_invoice_requests_that_are_refused_at_once(services: Services, db: str) -> None:
    holder = await make_customer(services)
    other = await make_customer(services)
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    unpaid = await PaymentOrder.create(
        order_number="PO20261202999001",
        customer=holder,
        policy=policy,
        installment=installment,
        provider="sandbox",
        method="SANDBOX",
        amount=installment.amount,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
    )
    provider = SandboxInvoiceProvider()
    personal, company = InvoiceTitleKind.PERSONAL, InvoiceTitleKind.COMPANY
    codes = InvoiceErrorCode
    cases = [
        (other, order.id, personal, "赵强", None, codes.ORDER_NOT_FOUND),
        (holder, unpaid.id, personal, "张伟", None, codes.ORDER_NOT_PAID),
        (holder, order.id, company, "某公司", None, codes.INVALID_TAX_NUMBER),
        (holder, order.id, personal, "张伟", "110105123456789", codes.INVALID_TAX_NUMBER),
        (holder, order.id, personal, "", None, codes.INVALID_TITLE),
        (holder, order.id, personal, "长" * 101, None, codes.INVALID_TITLE),
    ]
    for n, (who, order_id, kind, title, tax, code) in enumerate(cases):
        with pytest.raises(InvoiceError) as refused:
            await request_invoice(
                customer(who),
                services.pii,
                provider,
                order_id,
                title_kind=kind,
                title=title,
                tax_number=tax,
                email=None,
                idempotency_key=f"refused-at-once-{n}",
            )
        assert refused.value.code is code, n
    with pytest.raises(InvoiceError) as unavailable:
        await request_invoice(
            customer(holder),
            services.pii,
            None,
            order.id,
            title_kind=InvoiceTitleKind.PERSONAL,
            title="张伟",
            tax_number=None,
            email=None,
            idempotency_key="no-provider-1",
        )
    assert unavailable.value.code is InvoiceErrorCode.NO_PROVIDER
    assert not await InvoiceRequest.exists()


@postgres_only
async def test_concurrent_invoice_requests_for_one_order_make_one(
    services: Services, db: str
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    provider = SandboxInvoiceProvider()

    async def ask(n: int) -> str:
        try:
            await request_invoice(
                customer(holder),
                services.pii,
                provider,
                order.id,
                title_kind=InvoiceTitleKind.PERSONAL,
                title="张伟",
                tax_number=None,
                email=None,
                idempotency_key=f"concurrent-key-{n}",
            )
        except InvoiceError as error:
            return str(error.code)
        return "ok"

    answers = await asyncio.gather(*(ask(n) for n in range(6)))

    assert sorted(answers) == sorted(["ok"] + [str(InvoiceErrorCode.ALREADY_REQUESTED)] * 5)
    assert await InvoiceRequest.filter(order_id=order.id).count() == 1


async def test_the_scheduled_invoice_job_issues_with_the_services_provider(
    services: Services, db: str
) -> None:
    from api.jobs import job_deps
    from push.templates import render
    from workflows.schedule import SCHEDULE

    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    invoice_id = await request_invoice(
        customer(holder),
        services.pii,
        services.invoice_provider,
        order.id,
        title_kind=InvoiceTitleKind.PERSONAL,
        title="张伟",
        tax_number=None,
        email=None,
        idempotency_key="scheduled-job-1",
    )
    job = next(j for j in SCHEDULE if j.name == "invoices")

    await job.run(job_deps(services))

    assert (await InvoiceRequest.get(id=invoice_id)).status is InvoiceStatus.ISSUED
    event = await OutboxEvent.get(event_type="invoice.issued", entity_id=str(invoice_id))
    message = render(event.event_type, event.payload)
    assert policy.number in message.body and "600.00" in message.body
