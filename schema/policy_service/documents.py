"""Policy documents and e-invoices in GraphQL: `policyDocuments(policyId)` (issuing what is
missing), `claimSettlementNotice`, `myYearlyStatement`, the public `verifyDocument(hash)`,
`requestInvoice` and `myInvoiceRequests`.

`PolicyDocument` and `InvoiceRequest` are Nodes; who may read which document is decided
in `workflows.policy_service.documents` (holder, insured for the e-policy, payer, staff
with a logged read)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import policy_documents as m
from models.clock import local_time
from schema.common import Connection, CursorArg, Money, PageArg, cny, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated
from storage.base import ObjectStorage
from workflows.access import Actor, Permission
from workflows.idempotency import IdempotencyError
from workflows.policy_service import documents as docs
from workflows.policy_service import invoices

strawberry.enum(m.DocumentKind, name="DocumentKind", description="What a document is.")
strawberry.enum(
    m.InvoiceTitleKind, name="InvoiceTitleKind", description="Whom an invoice is made out to."
)
strawberry.enum(
    m.InvoiceStatus, name="InvoiceStatus", description="Where an e-invoice request stands."
)
DOCUMENT_CODES = ErrorCodes(
    "DocumentErrorCode",
    "Why a document or invoice action failed.",
    docs.DocumentError,
    invoices.InvoiceError,
    IdempotencyError,
)


@answers_with(DOCUMENT_CODES)
@strawberry.type(name="DocumentError", description="A failed document or invoice action.")
class DocumentError_(Error):
    code: str = strawberry.field(graphql_type=DOCUMENT_CODES.enum, description=CODE)


def _ttl(info: Info) -> int:
    ttl: int = info.context.services.settings.signed_url_ttl_seconds
    return ttl


@strawberry.type(description="A PDF the insurer issued: e-policy, receipt, notice, statement.")
class PolicyDocument(relay.Node):
    """A stored document; its download link is signed when read."""

    model: strawberry.Private[m.PolicyDocument]
    id: relay.NodeID[str]
    kind: m.DocumentKind = strawberry.field(description="What it is.")
    title: str = strawberry.field(description="Its title in Chinese, e.g. 电子保单.")
    number: str = strawberry.field(description="The document number printed on it (DZ…).")
    version: int = strawberry.field(
        description="1 for the first issue; a later version when the data it shows changed."
    )
    file_name: str = strawberry.field(description="The name to save it under.")
    size: int = strawberry.field(description="Bytes.")
    sha256: str = strawberry.field(
        description="SHA-256 of the file (hex): `verifyDocument` accepts it."
    )
    verification_code: str = strawberry.field(
        description="The code printed on it and in its QR code: `verifyDocument` accepts it."
    )
    issued_at: datetime = strawberry.field(description="When it was issued (Asia/Shanghai).")

    @classmethod
    def from_model(cls, row: m.PolicyDocument) -> PolicyDocument:
        return cls(
            model=row,
            id=str(row.id),
            kind=row.kind,
            title=row.title,
            number=row.number,
            version=row.version,
            file_name=row.file_name,
            size=row.size,
            sha256=row.sha256,
            verification_code=row.verification_code,
            issued_at=local_time(row.issued_at),
        )

    @strawberry.field(description="A short-lived signed link to download the PDF.")
    def download_url(self, info: Info) -> str:
        storage: ObjectStorage = info.context.services.storage
        return storage.signed_url(
            self.model.storage_key, expires_in=_ttl(info), filename=self.file_name
        )

    @strawberry.field(description="The public page that tells whether we issued it.")
    def verify_url(self, info: Info) -> str:
        documents: docs.DocumentDeps = info.context.services.documents
        return documents.verify_url(self.verification_code)


async def policy_document_node(actor: Actor, object_id: uuid.UUID) -> PolicyDocument | None:
    row = await docs.readable_document(actor, object_id)
    return PolicyDocument.from_model(row) if row else None


@strawberry.type(description="A customer's request for an e-invoice (电子发票) of a paid premium.")
class InvoiceRequest(relay.Node):
    model: strawberry.Private[m.InvoiceRequest]
    id: relay.NodeID[str]
    number: str = strawberry.field(description="The request number (FP…).")
    status: m.InvoiceStatus = strawberry.field(description="Where it stands.")
    title_kind: m.InvoiceTitleKind = strawberry.field(description="Personal or company.")
    title: str = strawberry.field(description="The invoice title (发票抬头).")
    tax_number: str | None = strawberry.field(description="A company's taxpayer number.")
    email_masked: str | None = strawberry.field(
        description="Where the platform sends a copy, masked; null: none."
    )
    amount: Money = strawberry.field(description="The invoiced amount (the order less refunds).")
    invoice_number: str | None = strawberry.field(description="The invoice number, once issued.")
    failure_reason: str | None = strawberry.field(description="Why it failed, in Chinese.")
    requested_at: datetime = strawberry.field(description="When it was asked for.")
    finished_at: datetime | None = strawberry.field(description="When it was issued or failed.")

    @classmethod
    def from_model(cls, row: m.InvoiceRequest) -> InvoiceRequest:
        return cls(
            model=row,
            id=str(row.id),
            number=row.number,
            status=row.status,
            title_kind=row.title_kind,
            title=row.title,
            tax_number=row.tax_number,
            email_masked=row.email_masked,
            amount=cny(row.amount),
            invoice_number=row.invoice_number,
            failure_reason=row.failure_reason,
            requested_at=local_time(row.created_at),
            finished_at=local_time(row.finished_at) if row.finished_at else None,
        )

    @strawberry.field(description="The payment order it is for.")
    def order_id(self) -> relay.GlobalID:
        return relay.GlobalID("PaymentOrder", str(self.model.order_id))

    @strawberry.field(description="The invoice PDF once issued; null before.")
    async def document(self) -> PolicyDocument | None:
        if self.model.document_id is None:
            return None
        row = await m.PolicyDocument.get_or_none(id=self.model.document_id)
        return PolicyDocument.from_model(row) if row else None


async def invoice_request_node(actor: Actor, object_id: uuid.UUID) -> InvoiceRequest | None:
    """The customer's own; staff who may read policies."""
    row = await m.InvoiceRequest.get_or_none(id=object_id)
    if row is None:
        return None
    if not (
        (actor.is_customer and row.customer_id == actor.subject_id)
        or actor.can(Permission.POLICY_READ)
    ):
        return None
    return InvoiceRequest.from_model(row)


@strawberry.type(description="What anyone holding a document may learn about it.")
class DocumentVerification:
    issued: bool = strawberry.field(description="True if we issued a document with this hash.")
    kind: m.DocumentKind | None = strawberry.field(description="What it is; null if not ours.")
    title: str | None = strawberry.field(description="Its title; null if not ours.")
    number: str | None = strawberry.field(description="Its document number; null if not ours.")
    version: int | None = strawberry.field(description="Its version; null if not ours.")
    issued_at: datetime | None = strawberry.field(description="When it was issued.")
    holder_name_masked: str | None = strawberry.field(
        description="The name of whom it was issued to, masked (张*); nothing else is told."
    )
    superseded: bool | None = strawberry.field(
        description="True if a later version of the same document was issued since."
    )


@strawberry.type(description="The result of `verifyDocument`.")
class VerifyDocumentResult:
    verification: DocumentVerification | None = strawberry.field(
        description="The answer; null when the hash was malformed."
    )
    errors: list[DocumentError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Ask for an e-invoice of a paid premium order.")
class RequestInvoiceInput:
    order_id: relay.GlobalID = strawberry.field(description="Your paid `PaymentOrder`.")
    title_kind: m.InvoiceTitleKind = strawberry.field(description="Personal or company.")
    title: str = strawberry.field(
        description="The invoice title: your name, or the company's (≤ 100 字)."
    )
    tax_number: str | None = strawberry.field(
        default=None,
        description="Company titles: the taxpayer number (15, 18 or 20 characters; an "
        "18-character unified social credit code is checksummed). Personal: leave empty.",
    )
    email: str | None = strawberry.field(
        default=None, description="Where the invoicing platform sends a copy (optional)."
    )
    idempotency_key: str = strawberry.field(
        description="8–128 characters; a retry with the same key returns the same request."
    )


@strawberry.type(description="The result of `requestInvoice`.")
class RequestInvoicePayload:
    invoice_request: InvoiceRequest | None = strawberry.field(
        description="The request, REQUESTED until the invoicing job hands it over."
    )
    errors: list[DocumentError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A policy's documents, or why there are none.")
class PolicyDocumentsResult:
    documents: list[PolicyDocument] = strawberry.field(
        description="E-policy first, then receipts, settlement notices, 批单 and invoices "
        "(latest versions); empty with an error when the policy is not yours."
    )
    errors: list[DocumentError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="One document, or why there is none.")
class PolicyDocumentResult:
    document: PolicyDocument | None = strawberry.field(description="The document.")
    errors: list[DocumentError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class DocumentQueries:
    @strawberry.field(
        description="The documents of a policy you hold (or are insured by: the e-policy "
        "and your claims' notices), issued on first request, with download links.",
        permission_classes=[IsAuthenticated],
    )
    async def policy_documents(
        self,
        info: Info,
        policy_id: Annotated[relay.GlobalID, strawberry.argument(description="The policy.")],
    ) -> PolicyDocumentsResult:
        try:
            rows = await docs.policy_documents(
                info.context.services.documents,
                info.context.actor,
                node_uuid(policy_id, "Policy"),
            )
        except docs.DocumentError as error:
            return PolicyDocumentsResult(documents=[], errors=payload_errors(error, DocumentError_))
        return PolicyDocumentsResult(
            documents=[PolicyDocument.from_model(row) for row in rows], errors=[]
        )

    @strawberry.field(
        description="The settlement notice (理赔决定书) of a decided claim you may see.",
        permission_classes=[IsAuthenticated],
    )
    async def claim_settlement_notice(
        self,
        info: Info,
        claim_id: Annotated[relay.GlobalID, strawberry.argument(description="The claim.")],
    ) -> PolicyDocumentResult:
        try:
            row = await docs.claim_notice(
                info.context.services.documents, info.context.actor, node_uuid(claim_id, "Claim")
            )
        except docs.DocumentError as error:
            return PolicyDocumentResult(document=None, errors=payload_errors(error, DocumentError_))
        return PolicyDocumentResult(document=PolicyDocument.from_model(row), errors=[])

    @strawberry.field(
        description="Your yearly statement (年度对账单): policies, premiums paid, payouts.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_yearly_statement(
        self,
        info: Info,
        year: Annotated[int, strawberry.argument(description="The calendar year, e.g. 2026.")],
    ) -> PolicyDocumentResult:
        try:
            row = await docs.yearly_statement(
                info.context.services.documents, info.context.actor, year
            )
        except docs.DocumentError as error:
            return PolicyDocumentResult(document=None, errors=payload_errors(error, DocumentError_))
        return PolicyDocumentResult(document=PolicyDocument.from_model(row), errors=[])

    @strawberry.field(
        description="Public: whether we issued a document, by the verification code printed "
        "on it (and in its QR code) or the SHA-256 of its file. Tells only its kind, "
        "number, issue time and the masked name of whom it was issued to."
    )
    async def verify_document(
        self,
        hash: Annotated[str, strawberry.argument(description="64 hexadecimal characters.")],
    ) -> VerifyDocumentResult:
        try:
            found = await docs.verify_document(hash[:128])
        except docs.DocumentError as error:
            return VerifyDocumentResult(
                verification=None, errors=payload_errors(error, DocumentError_)
            )
        if found is None:
            return VerifyDocumentResult(
                verification=DocumentVerification(
                    issued=False,
                    kind=None,
                    title=None,
                    number=None,
                    version=None,
                    issued_at=None,
                    holder_name_masked=None,
                    superseded=None,
                ),
                errors=[],
            )
        return VerifyDocumentResult(
            verification=DocumentVerification(
                issued=True,
                kind=found.kind,
                title=found.title,
                number=found.number,
                version=found.version,
                issued_at=local_time(found.issued_at),
                holder_name_masked=found.holder_name_masked,
                superseded=found.superseded,
            ),
            errors=[],
        )

    @strawberry.field(
        description="My e-invoice requests, newest first.", permission_classes=CUSTOMER_ONLY
    )
    async def my_invoice_requests(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[InvoiceRequest]:
        queryset = m.InvoiceRequest.filter(customer_id=info.context.actor.subject_id)
        return await paginate(
            queryset.order_by("-created_at", "-id"),
            InvoiceRequest.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )


@strawberry.type
class DocumentMutations:
    @strawberry.mutation(
        description="Ask for an e-invoice (电子发票) of one of your paid premium orders; "
        "one live request per order. Issued by the invoicing platform within minutes.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_invoice(
        self,
        info: Info,
        input: Annotated[
            RequestInvoiceInput,
            strawberry.argument(description="The order, the title and tax number."),
        ],
    ) -> RequestInvoicePayload:
        services = info.context.services
        try:
            invoice_id = await invoices.request_invoice(
                info.context.actor,
                services.pii,
                services.invoice_provider,
                node_uuid(input.order_id, "PaymentOrder"),
                title_kind=input.title_kind,
                title=input.title[: invoices.TITLE_LIMIT + 1],
                tax_number=input.tax_number[:64] if input.tax_number else None,
                email=input.email[: invoices.EMAIL_LIMIT + 1] if input.email else None,
                idempotency_key=input.idempotency_key,
            )
        except (invoices.InvoiceError, IdempotencyError) as error:
            return RequestInvoicePayload(
                invoice_request=None, errors=payload_errors(error, DocumentError_)
            )
        row = await m.InvoiceRequest.get(id=invoice_id)
        return RequestInvoicePayload(invoice_request=InvoiceRequest.from_model(row), errors=[])
