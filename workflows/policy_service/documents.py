"""Policy documents (电子保单, 保费收据, 理赔决定书, 年度对账单, 批单): built from the
data when first asked for, stored once in the object store, verifiable by anyone.

Issuing: a document's content is a ``Sheet``; its SHA-256 (``content_digest``) is
compared with the latest stored version of the same subject and kind, and only a
changed content is issued again, as the next version (the e-policy after an endorsement,
the statement of the running year after another payment). Concurrent first requests
race on the unique (kind, subject, version): one row wins, the others delete the file
they stored and return the winner's, so a subject has one document per version.

Verifying: each PDF prints a verification code (SHA-256 of its number and content) and
a QR code of ``<public base URL>/verify/<code>``; ``verify_document`` also accepts the
SHA-256 of the file's bytes (as ``sha256sum`` prints it). The answer tells the kind,
number, issue time and the holder's masked name, nothing else.

Who reads what: the holder reads every document of their policy; an insured person who
is not the holder reads the e-policy (it names them and their cover) and the settlement
notices of claims they may see, not the holder's receipts or invoices; a beneficiary
reads none (they learn of their share through the claim). A payer reads the receipt of
their order, a customer their own statement. Staff read with POLICY_READ (claim notices
with CLAIM_READ, statements with CUSTOMER_READ), and every staff read is logged.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from anyio import to_thread
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from models.claims import Claim, ClaimLine, ClaimStatus
from models.clock import local_date, local_midnight, local_today
from models.customers import Customer
from models.endorsements import Endorsement, EndorsementStatus
from models.payments import OrderStatus, PaymentOrder
from models.policies import (
    Beneficiary,
    Coverage,
    InsuredPerson,
    Policy,
    PremiumInstallment,
    Product,
)
from models.policy_documents import DocumentKind, PolicyDocument
from models.privacy import PiiField, PiiSubjectKind
from storage.base import ObjectStorage
from workflows.access import Actor, Permission, visible_claims
from workflows.claims.rules import REJECTION_NAMES
from workflows.errors import DomainError
from workflows.numbering import Prefix, next_number
from workflows.policy_service.certificates import EndorsementCertificate, certificate
from workflows.policy_service.names import FREQUENCIES, RELATIONS
from workflows.policy_service.pdf import (
    Sheet,
    SheetTable,
    content_digest,
    render,
    verification_code,
)
from workflows.privacy import reveal as privacy
from workflows.privacy.reveal import RevealLimits

security = logging.getLogger("anxin.security")
K = DocumentKind
_HEX64 = re.compile(r"[0-9a-f]{64}")
FIRST_STATEMENT_YEAR = 2000

KIND_TITLES = {
    K.POLICY: "电子保单",
    K.PREMIUM_RECEIPT: "保费收据",
    K.CLAIM_NOTICE: "理赔决定书",
    K.YEARLY_STATEMENT: "年度对账单",
    K.ENDORSEMENT: "批单",
    K.INVOICE: "电子发票",
}
PROVIDERS = {"alipay": "支付宝", "wechat": "微信支付", "sandbox": "沙箱支付", "bank": "银行转账"}
DECIDED = frozenset(
    {
        ClaimStatus.APPROVED,
        ClaimStatus.PARTIALLY_APPROVED,
        ClaimStatus.REJECTED,
        ClaimStatus.PAYING,
        ClaimStatus.PAID,
        ClaimStatus.CLOSED,
    }
)
# Kinds whose content never changes once issued: no need to rebuild them to compare.
SETTLED_KINDS = frozenset({K.PREMIUM_RECEIPT, K.CLAIM_NOTICE, K.INVOICE})
APPEAL_TEXT = (
    "如您对本决定有异议，可在收到本决定书之日起通过安心保险App、小程序或客服热线申请复核，"
    "也可以向保险行业纠纷调解组织申请调解，依约定申请仲裁，或依法向人民法院提起诉讼。"
)


class DocumentErrorCode(StrEnum):
    NOT_FOUND = "DOCUMENT_NOT_FOUND"  # missing or not yours: the same answer
    NOT_DECIDED = "CLAIM_NOT_DECIDED"
    INVALID_YEAR = "INVALID_YEAR"
    INVALID_HASH = "INVALID_DOCUMENT_HASH"


class DocumentError(DomainError):
    codes = DocumentErrorCode


@dataclass(frozen=True)
class DocumentDeps:
    """What issuing documents needs: where the files go, and the public address the QR
    codes point to."""

    storage: ObjectStorage
    public_base_url: str
    # Staff reads of documents are PII reveals: logged, counted towards the hourly alert.
    reveal_limits: RevealLimits = field(default_factory=RevealLimits)

    def verify_url(self, code: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/verify/{code}"


def mask_name(name: str) -> str:
    """张伟 → 张*, 欧阳娜娜 → 欧***: the first character only."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _day(value: datetime | date) -> str:
    day = local_date(value) if isinstance(value, datetime) else value
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


# Issuing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Draft:
    kind: DocumentKind
    subject_key: str
    customer_id: uuid.UUID
    policy_id: uuid.UUID | None
    holder_name: str
    file_stem: str
    sheet: Sheet


async def _latest(kind: DocumentKind, subject_key: str) -> PolicyDocument | None:
    return (
        await PolicyDocument.filter(kind=kind, subject_key=subject_key).order_by("-version").first()
    )


async def _issue(deps: DocumentDeps, draft: _Draft) -> PolicyDocument:
    digest = content_digest(draft.sheet)
    latest = await _latest(draft.kind, draft.subject_key)
    if latest is not None and latest.content_digest == digest:
        return latest
    version = latest.version + 1 if latest else 1
    number = await next_number(Prefix.DOCUMENT)
    now = datetime.now(UTC)
    code = verification_code(digest, number)
    pdf = await to_thread.run_sync(
        functools.partial(
            render,
            draft.sheet,
            number=number,
            issued_on=_day(now),
            code=code,
            verify_url=deps.verify_url(code),
        )
    )
    return await _store(
        deps,
        draft.kind,
        draft.subject_key,
        version,
        pdf,
        number=number,
        title=draft.sheet.title,
        customer_id=draft.customer_id,
        policy_id=draft.policy_id,
        holder_name=draft.holder_name,
        file_name=f"{draft.file_stem}.pdf",
        digest=digest,
        code=code,
        issued_at=now,
    )


async def _store(
    deps: DocumentDeps,
    kind: DocumentKind,
    subject_key: str,
    version: int,
    pdf: bytes,
    *,
    number: str,
    title: str,
    customer_id: uuid.UUID,
    policy_id: uuid.UUID | None,
    holder_name: str,
    file_name: str,
    digest: str,
    code: str,
    issued_at: datetime,
) -> PolicyDocument:
    """Store the file, then its row; a lost race removes the file and returns the winner."""
    key = f"documents/{uuid.uuid4().hex}/{uuid.uuid4().hex}.pdf"
    await deps.storage.put(key, _chunks(pdf), "application/pdf")
    try:
        return await PolicyDocument.create(
            kind=kind,
            subject_key=subject_key,
            version=version,
            number=number,
            title=title,
            customer_id=customer_id,
            policy_id=policy_id,
            holder_name_masked=mask_name(holder_name),
            storage_key=key,
            file_name=file_name,
            size=len(pdf),
            sha256=hashlib.sha256(pdf).hexdigest(),
            verification_code=code,
            content_digest=digest,
            issued_at=issued_at,
        )
    except IntegrityError:
        await deps.storage.delete(key)
        winner = await PolicyDocument.get_or_none(
            kind=kind, subject_key=subject_key, version=version
        )
        if winner is None:  # another constraint: a bug, not a race
            raise
        return winner


async def store_issued_pdf(
    deps: DocumentDeps,
    kind: DocumentKind,
    subject_key: str,
    pdf: bytes,
    *,
    title: str,
    customer_id: uuid.UUID,
    policy_id: uuid.UUID | None,
    holder_name: str,
    file_name: str,
) -> PolicyDocument:
    """A PDF made elsewhere (an e-invoice from the invoicing provider), recorded as ours
    with its hash: verifiable by its SHA-256 (it carries no QR code of ours)."""
    latest = await _latest(kind, subject_key)
    if latest is not None:
        return latest
    digest = hashlib.sha256(pdf).hexdigest()
    number = await next_number(Prefix.DOCUMENT)
    return await _store(
        deps,
        kind,
        subject_key,
        1,
        pdf,
        number=number,
        title=title,
        customer_id=customer_id,
        policy_id=policy_id,
        holder_name=holder_name,
        file_name=file_name,
        digest=digest,
        code=verification_code(digest, number),
        issued_at=datetime.now(UTC),
    )


# What each kind says ------------------------------------------------------------------


async def _policy_draft(policy: Policy) -> _Draft:
    product = await Product.get(id=policy.product_id)
    holder = await Customer.get(id=policy.holder_id)
    coverages = await Coverage.filter(policy_id=policy.id).order_by("position", "code")
    # A member removed from the policy is listed through their last covered day.
    insured = [
        person
        for person in await InsuredPerson.filter(policy_id=policy.id).order_by("position")
        if person.covered_until is None or person.covered_until >= local_today()
    ]
    beneficiaries = await Beneficiary.filter(policy_id=policy.id).order_by("position")
    installments = await PremiumInstallment.filter(policy_id=policy.id).order_by("sequence")
    lines = [
        ("保单号", policy.number),
        ("产品名称", product.filing_name or product.name),
        ("投保人", holder.name),
        ("投保人证件号码", holder.id_number_masked or "—"),
        ("保险期间", f"自{_day(policy.starts_at)}零时起至{_day(policy.ends_at)}二十四时止"),
        ("基本保险金额", f"人民币{_yuan(policy.sum_insured)}元"),
        ("保险费", f"人民币{_yuan(policy.premium)}元（{FREQUENCIES[policy.payment_frequency]}）"),
        ("签单日期", _day(policy.issued_at)),
        ("产品备案编号", product.filing_number or "—"),
    ]
    tables = [
        SheetTable(
            "保障责任",
            ["保障项目", "保险金额（元）", "免赔额（元）"],
            [[c.name, _yuan(c.sum_insured), _yuan(c.deductible)] for c in coverages],
        ),
        SheetTable(
            "被保险人",
            ["姓名", "与投保人关系", "证件号码"],
            [
                [
                    p.name,
                    RELATIONS.get(p.relation_to_holder, p.relation_to_holder),
                    p.id_number_masked,
                ]
                for p in insured
            ],
        ),
        SheetTable(
            "身故受益人",
            ["姓名", "与被保险人关系", "证件号码", "受益比例"],
            [
                [
                    b.name,
                    RELATIONS.get(b.relation_to_insured, b.relation_to_insured),
                    b.id_number_masked,
                    f"{b.share_percent:.0f}%",
                ]
                for b in beneficiaries
            ]
            or [["法定受益人", "—", "—", "—"]],
        ),
        SheetTable(
            "缴费计划",
            ["期次", "应缴日期", "应缴金额（元）"],
            [[str(i.sequence), _day(i.due_date), _yuan(i.amount)] for i in installments],
        ),
    ]
    notes = [
        f"犹豫期：自签收本保单之日起{product.cooling_off_days}日内，投保人可申请解除合同，"
        "保险人退还已收全部保险费。"
        if product.cooling_off_days
        else "本产品无犹豫期。",
        f"出险后请于{product.report_time_limit_hours}小时内通过安心保险App、小程序或客服热线报案。",
        "保险责任、责任免除等以本产品经备案的保险条款为准；证件号码已作脱敏处理。",
    ]
    return _Draft(
        K.POLICY,
        f"policy:{policy.id}",
        policy.holder_id,
        policy.id,
        holder.name,
        f"电子保单_{policy.number}",
        Sheet(KIND_TITLES[K.POLICY], lines, tables, notes),
    )


async def _receipt_draft(order: PaymentOrder) -> _Draft:
    policy = await Policy.get(id=order.policy_id)
    product = await Product.get(id=policy.product_id)
    payer = await Customer.get(id=order.customer_id)
    installment = await PremiumInstallment.get(id=order.installment_id)
    paid_at = order.paid_at or order.created_at
    lines = [
        ("交款人", payer.name),
        ("保单号", policy.number),
        ("产品名称", product.name),
        ("缴费期次", f"第{installment.sequence}期（应缴日期{_day(installment.due_date)}）"),
        ("实收金额", f"人民币{_yuan(order.amount)}元"),
        ("支付方式", PROVIDERS.get(order.provider, order.provider)),
        ("支付订单号", order.order_number),
        ("交易流水号", order.provider_trade_no or "—"),
        ("收款日期", _day(paid_at)),
    ]
    notes = ["本收据仅证明保险费已收讫；如需报销凭证，请在App中申请电子发票。"]
    return _Draft(
        K.PREMIUM_RECEIPT,
        f"order:{order.id}",
        order.customer_id,
        policy.id,
        payer.name,
        f"保费收据_{order.order_number}",
        Sheet(KIND_TITLES[K.PREMIUM_RECEIPT], lines, [], notes),
    )


async def _claim_notice_draft(claim: Claim) -> _Draft:
    policy = await Policy.get(id=claim.policy_id)
    product = await Product.get(id=policy.product_id)
    claimant = await Customer.get(id=claim.customer_id)
    loss_names = {t.get("code"): t.get("name") for t in product.loss_types}
    rejected = claim.status is ClaimStatus.REJECTED
    if rejected:
        outcome = "拒绝赔付"
    elif claim.status is ClaimStatus.PARTIALLY_APPROVED:
        outcome = "部分赔付"
    else:
        outcome = "同意赔付"
    lines = [
        ("报案号", claim.report_number),
        ("保单号", policy.number),
        ("申请人", claimant.name),
        ("出险类型", str(loss_names.get(claim.loss_type) or claim.loss_type)),
        ("出险日期", _day(claim.loss_at)),
        ("出险地点", claim.loss_location),
        ("理赔结论", outcome),
        ("核定赔付金额", f"人民币{_yuan(claim.approved_amount)}元"),
        ("决定日期", _day(claim.decided_at or claim.created_at)),
    ]
    tables: list[SheetTable] = []
    notes: list[str] = []
    if rejected:
        reason = REJECTION_NAMES.get(claim.rejection_reason) if claim.rejection_reason else None
        notes.append(f"拒赔原因：{reason or '见说明'}。{claim.rejection_explanation or ''}")
    else:
        claim_lines = await ClaimLine.filter(claim_id=claim.id).select_related("coverage")
        tables.append(
            SheetTable(
                "理算明细",
                ["保障项目", "申请金额（元）", "免赔额（元）", "核定金额（元）", "说明"],
                [
                    [
                        line.coverage.name,
                        _yuan(line.claimed_amount),
                        _yuan(line.deductible_applied),
                        _yuan(line.approved_amount),
                        line.reason,
                    ]
                    for line in claim_lines
                ],
            )
        )
        notes.append("赔款将支付至您在理赔申请中指定的收款账户。")
    notes.append(APPEAL_TEXT)
    return _Draft(
        K.CLAIM_NOTICE,
        f"claim:{claim.id}",
        claim.customer_id,
        policy.id,
        claimant.name,
        f"理赔决定书_{claim.report_number}",
        Sheet(KIND_TITLES[K.CLAIM_NOTICE], lines, tables, notes),
    )


async def _statement_draft(customer: Customer, year: int) -> _Draft:
    start, end = local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))
    policies = await Policy.filter(
        holder_id=customer.id, starts_at__lt=end, ends_at__gte=start
    ).order_by("starts_at", "number")
    orders = await PaymentOrder.filter(
        customer_id=customer.id, status=OrderStatus.PAID, paid_at__gte=start, paid_at__lt=end
    ).order_by("paid_at", "order_number")
    claims = await Claim.filter(
        customer_id=customer.id, paid_at__gte=start, paid_at__lt=end
    ).order_by("paid_at", "report_number")
    numbers = {p.id: p.number for p in await Policy.filter(id__in=[o.policy_id for o in orders])}
    claim_policies = await Policy.filter(id__in=[c.policy_id for c in claims])
    claim_numbers = {p.id: p.number for p in claim_policies}
    premiums = sum((o.amount for o in orders), Decimal(0))
    payouts = sum((c.paid_amount for c in claims), Decimal(0))
    lines = [
        ("客户", customer.name),
        ("对账期间", f"{year}年01月01日至{year}年12月31日"),
        ("本年缴纳保费合计", f"人民币{_yuan(premiums)}元（{len(orders)}笔）"),
        ("本年获得赔款合计", f"人民币{_yuan(payouts)}元（{len(claims)}笔）"),
    ]
    tables = [
        SheetTable(
            "本年有效保单",
            ["保单号", "保险期间", "保险费（元）"],
            [
                [p.number, f"{_day(p.starts_at)}至{_day(p.ends_at)}", _yuan(p.premium)]
                for p in policies
            ],
        ),
        SheetTable(
            "保费缴纳明细",
            ["缴费日期", "保单号", "订单号", "金额（元）"],
            [
                [
                    _day(o.paid_at or o.created_at),
                    numbers[o.policy_id],
                    o.order_number,
                    _yuan(o.amount),
                ]
                for o in orders
            ],
        ),
        SheetTable(
            "赔款明细",
            ["支付日期", "保单号", "报案号", "金额（元）"],
            [
                [
                    _day(c.paid_at or c.created_at),
                    claim_numbers[c.policy_id],
                    c.report_number,
                    _yuan(c.paid_amount),
                ]
                for c in claims
            ],
        ),
    ]
    running = year == local_today().year
    notes = ["本对账单按北京时间统计。"]
    if running:
        notes.append("本年度尚未结束，本对账单反映截至签发日期的记录，新的缴费或赔款将生成新版本。")
    return _Draft(
        K.YEARLY_STATEMENT,
        f"statement:{customer.id}:{year}",
        customer.id,
        None,
        customer.name,
        f"年度对账单_{year}",
        Sheet(f"{year}年度对账单", lines, tables, notes),
    )


def _endorsement_draft(
    certificate: EndorsementCertificate, endorsement_id: uuid.UUID, policy: Policy, holder: Customer
) -> _Draft:
    lines = [
        ("批单号", certificate.number),
        ("保单号", certificate.policy_number),
        ("投保人", holder.name),
        ("批改类型", certificate.change_type),
        ("生效日期", _day(certificate.effective_date)),
    ]
    table = SheetTable(
        "批改内容", ["项目", "变更前", "变更后"], [list(line) for line in certificate.lines]
    )
    notes = [certificate.note] if certificate.note else []
    notes.append("本批单是保险合同的组成部分，与保险合同具有同等效力；未变更事项以原保险合同为准。")
    return _Draft(
        K.ENDORSEMENT,
        f"endorsement:{endorsement_id}",
        policy.holder_id,
        policy.id,
        holder.name,
        f"批单_{certificate.number}",
        Sheet(KIND_TITLES[K.ENDORSEMENT], lines, [table], notes),
    )


# Entry points without an actor (issuance, endorsements, jobs) -----------------------


async def issue_policy_document(deps: DocumentDeps, policy_id: uuid.UUID) -> PolicyDocument:
    """The e-policy as the policy now stands (a new version only if it changed); the
    policy workflows call it at issuance and after an endorsement takes effect."""
    policy = await Policy.get(id=policy_id)
    return await _issue(deps, await _policy_draft(policy))


async def issue_receipt(deps: DocumentDeps, order: PaymentOrder) -> PolicyDocument:
    """The receipt of a paid order (issued once)."""
    existing = await _latest(K.PREMIUM_RECEIPT, f"order:{order.id}")
    return existing or await _issue(deps, await _receipt_draft(order))


async def issue_claim_notice(deps: DocumentDeps, claim: Claim) -> PolicyDocument:
    """The settlement notice of a decided claim (issued once)."""
    if claim.status not in DECIDED or claim.decided_at is None:
        raise DocumentError(DocumentErrorCode.NOT_DECIDED, "该案件尚未作出理赔决定", "claimId")
    existing = await _latest(K.CLAIM_NOTICE, f"claim:{claim.id}")
    return existing or await _issue(deps, await _claim_notice_draft(claim))


async def issue_endorsement_certificate(
    deps: DocumentDeps,
    endorsement_id: uuid.UUID,
    policy_id: uuid.UUID,
    certificate: EndorsementCertificate,
) -> PolicyDocument:
    """The 批单 of an endorsement (a new version only if its certificate changed)."""
    policy = await Policy.get(id=policy_id)
    holder = await Customer.get(id=policy.holder_id)
    return await _issue(deps, _endorsement_draft(certificate, endorsement_id, policy, holder))


# Entry points for callers ------------------------------------------------------------


async def _log_staff_read(
    actor: Actor, document: PolicyDocument, limits: RevealLimits, via: str
) -> None:
    """A staff read of a whole document (names, ID numbers, amounts): one PII access
    row (``workflows.privacy``), its purpose the operation it was read through."""
    security.info(
        "staff %s read document %s (%s) of customer %s",
        actor.subject_id,
        document.number,
        document.kind,
        document.customer_id,
    )
    subject = privacy.Subject(PiiSubjectKind.POLICY_DOCUMENT, document.id, document.customer_id)
    purpose = f"{via}：{document.title} {document.number}"
    await privacy.record(actor, subject, PiiField.DOCUMENT, purpose, limits)


async def _policy_role(actor: Actor, policy_id: uuid.UUID) -> tuple[Policy, str]:
    """The policy and the caller's role on it (holder, insured, staff); a policy the
    caller may not read documents of is missing to them."""
    policy = await Policy.get_or_none(id=policy_id)
    if policy is not None:
        if actor.is_customer and actor.subject_id is not None:
            if policy.holder_id == actor.subject_id:
                return policy, "holder"
            if await InsuredPerson.exists(policy_id=policy.id, customer_id=actor.subject_id):
                return policy, "insured"
        elif actor.can(Permission.POLICY_READ):
            return policy, "staff"
    raise DocumentError(DocumentErrorCode.NOT_FOUND, "未找到该保单", "policyId")


async def policy_documents(
    deps: DocumentDeps, actor: Actor, policy_id: uuid.UUID
) -> list[PolicyDocument]:
    """The documents of a policy the caller may read, issuing what is missing: the
    e-policy; for the holder and staff also the receipts of its paid orders, its 批单 and
    e-invoices; the settlement notices of its decided claims the caller may see.
    Latest versions only, e-policy first."""
    policy, role = await _policy_role(actor, policy_id)
    documents = [await issue_policy_document(deps, policy.id)]
    if role != "insured":
        for order in await PaymentOrder.filter(
            policy_id=policy.id, status=OrderStatus.PAID
        ).order_by("paid_at", "order_number"):
            documents.append(await issue_receipt(deps, order))
    if actor.is_customer or actor.can(Permission.CLAIM_READ):
        claims = visible_claims(actor).filter(
            policy_id=policy.id, decided_at__not_isnull=True, status__in=list(DECIDED)
        )
        for claim in await claims.order_by("decided_at", "report_number"):
            documents.append(await issue_claim_notice(deps, claim))
    if role != "insured":
        for endorsement in await Endorsement.filter(
            policy_id=policy.id, status=EndorsementStatus.EFFECTIVE
        ).order_by("effective_at", "number"):
            if not await _latest(K.ENDORSEMENT, f"endorsement:{endorsement.id}"):
                await issue_endorsement_certificate(
                    deps, endorsement.id, policy.id, certificate(endorsement, policy.number)
                )
        stored = await PolicyDocument.filter(
            policy_id=policy.id, kind__in=[K.ENDORSEMENT, K.INVOICE]
        ).order_by("issued_at", "version")
        latest: dict[tuple[str, str], PolicyDocument] = {}
        for document in stored:
            latest[(document.kind, document.subject_key)] = document
        documents.extend(latest.values())
    if actor.is_staff:
        for document in documents:
            await _log_staff_read(actor, document, deps.reveal_limits, "查看保单资料")
    return documents


async def claim_notice(deps: DocumentDeps, actor: Actor, claim_id: uuid.UUID) -> PolicyDocument:
    """The settlement notice of a decided claim the caller may see (issued if missing)."""
    claim = await visible_claims(actor).filter(id=claim_id).first()
    if claim is None:
        raise DocumentError(DocumentErrorCode.NOT_FOUND, "未找到该案件", "claimId")
    document = await issue_claim_notice(deps, claim)
    if actor.is_staff:
        await _log_staff_read(actor, document, deps.reveal_limits, "查看理赔决定书")
    return document


async def yearly_statement(deps: DocumentDeps, actor: Actor, year: int) -> PolicyDocument:
    """A customer's own statement of ``year`` (the running year: as of today, reissued
    when something was added)."""
    if not FIRST_STATEMENT_YEAR <= year <= local_today().year:
        raise DocumentError(DocumentErrorCode.INVALID_YEAR, "对账年度无效", "year")
    customer = await Customer.get_or_none(id=actor.subject_id) if actor.is_customer else None
    if customer is None:
        raise DocumentError(DocumentErrorCode.NOT_FOUND, "仅客户本人可获取年度对账单", "year")
    return await _issue(deps, await _statement_draft(customer, year))


async def readable_document(
    actor: Actor, document_id: uuid.UUID, limits: RevealLimits | None = None
) -> PolicyDocument | None:
    """A stored document by id, if the caller may read it (the rules of the module
    docstring); None otherwise, as for a missing one. Staff reads are logged (``node``
    has no settings at hand: the default alert limit then)."""
    document = await PolicyDocument.get_or_none(id=document_id)
    if document is None or not await _may_read(actor, document):
        return None
    if actor.is_staff:
        await _log_staff_read(actor, document, limits or RevealLimits(), "按编号查看文件")
    return document


async def _may_read(actor: Actor, document: PolicyDocument) -> bool:
    if actor.is_customer and actor.subject_id is not None:
        me = actor.subject_id
        if document.customer_id == me:
            return True
        policy = await Policy.get_or_none(id=document.policy_id) if document.policy_id else None
        if policy is None:
            return False
        if document.kind is K.CLAIM_NOTICE:
            claim_id = uuid.UUID(document.subject_key.removeprefix("claim:"))
            return await visible_claims(actor).filter(id=claim_id).exists()
        if policy.holder_id == me:
            return True
        return document.kind is K.POLICY and await InsuredPerson.exists(
            policy_id=policy.id, customer_id=me
        )
    if document.kind is K.CLAIM_NOTICE:
        return actor.can(Permission.CLAIM_READ)
    if document.kind is K.YEARLY_STATEMENT:
        return actor.can(Permission.CUSTOMER_READ)
    return actor.can(Permission.POLICY_READ)


@dataclass(frozen=True)
class Verification:
    """What anyone may learn about a document they hold."""

    kind: DocumentKind
    title: str
    number: str
    version: int
    issued_at: datetime
    holder_name_masked: str
    superseded: bool  # a later version of the same document exists


async def verify_document(code: str) -> Verification | None:
    """Whether we issued the document with this verification code or file SHA-256
    (64 hex digits); None if we did not."""
    code = code.strip().lower()
    if not _HEX64.fullmatch(code):
        raise DocumentError(DocumentErrorCode.INVALID_HASH, "验真码应为64位十六进制字符", "hash")
    document = await PolicyDocument.filter(Q(sha256=code) | Q(verification_code=code)).first()
    if document is None:
        return None
    newer = await PolicyDocument.exists(
        kind=document.kind, subject_key=document.subject_key, version__gt=document.version
    )
    return Verification(
        kind=document.kind,
        title=document.title,
        number=document.number,
        version=document.version,
        issued_at=document.issued_at,
        holder_name_masked=document.holder_name_masked,
        superseded=newer,
    )
