"""Claim payouts by provider transfer: the claim moves PAYING → PAID from the transfer's
real outcome, never from our wish.

Each payout has one transfer number (``out_biz_no`` / ``out_bill_no``) for its whole
life. On a timeout the outcome is unknown: ask the provider first, and only if it has
never heard of the transfer send the same request again, with the same number, which
the provider accepts at most once. WeChat may wait for the customer to confirm receipt
(WAIT_USER_CONFIRM); failures stay visible to staff, who may start a new payout.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus, PayoutShare
from models.customers import Customer
from models.payments import LedgerEntry, LedgerKind, Payout, PayoutStatus
from models.payout_accounts import PayoutAccount
from models.pii import PiiCipher
from models.policies import Policy, Product
from models.staff import StaffRole
from payments.base import (
    InvalidNotification,
    PaymentNotification,
    ProviderRejected,
    ProviderUnavailable,
    TransferProvider,
    TransferRequest,
    TransferResult,
    TransferState,
)
from payments.wechat import NAME_REQUIRED_FROM_FEN, REPORT_INFO_MAX
from push.outbox import emit, emit_once
from workflows.access import Actor
from workflows.claims import (
    STAFF_QUEUE,
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    load_claim,
    lock_claim,
    mark_paid,
    payee_of,
    record_change,
)
from workflows.complaints import goodwill
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.numbering import Prefix, next_number
from workflows.payments.on_file import adopt_accounts_on_file
from workflows.policy_service import surrender_payouts

log = logging.getLogger("anxin.payouts")
security_log = logging.getLogger("anxin.security")

RESULT_STATUS = {
    TransferState.PROCESSING: PayoutStatus.PROCESSING,
    TransferState.WAIT_USER_CONFIRM: PayoutStatus.WAIT_USER_CONFIRM,
    TransferState.SUCCESS: PayoutStatus.SUCCESS,
    TransferState.FAILED: PayoutStatus.FAILED,
}
ENDED = (PayoutStatus.FAILED, PayoutStatus.CANCELLED)
AWAITING = PayoutStatus.AWAITING_APPROVAL
WECHAT_NAME_REQUIRED_FROM = Decimal(NAME_REQUIRED_FROM_FEN) / 100


@dataclass(frozen=True)
class Destination:
    """Where one payout of a claim goes: to the claim's payee, or, on a claim paid to
    beneficiaries, to one beneficiary's share. Each has its own chosen account and at
    most one live payout (``live_key``)."""

    claim: Claim
    share: PayoutShare | None

    @property
    def payee(self) -> uuid.UUID | None:
        return self.share.customer_id if self.share else payee_of(self.claim)

    @property
    def amount(self) -> Decimal:
        return self.share.amount if self.share else self.claim.approved_amount

    @property
    def provider(self) -> str | None:
        return (self.share or self.claim).payout_provider

    @property
    def account_encrypted(self) -> str | None:
        return (self.share or self.claim).payout_account_encrypted

    @property
    def live_key(self) -> str:
        return f"share:{self.share.id}" if self.share else f"claim:{self.claim.id}"

    @property
    def whose(self) -> str:
        """How the timeline names it: "" for the claim, "受益人张三的" for a share."""
        return f"受益人{self.share.name}的" if self.share else ""


async def destination_of(claim: Claim, share_id: uuid.UUID | None) -> Destination:
    """The claim itself, or one of its shares: a claim paid in shares is paid share by
    share (``shareId`` required), any other claim as a whole."""
    if not claim.pays_shares:
        if share_id is not None:
            raise ClaimError(ClaimErrorCode.SHARE_NOT_FOUND, "该案件不按受益份额支付", "shareId")
        return Destination(claim, None)
    if share_id is None:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请指明支付哪一位受益人的份额", "shareId")
    share = await PayoutShare.get_or_none(id=share_id, claim_id=claim.id)
    if share is None:
        raise ClaimError(ClaimErrorCode.SHARE_NOT_FOUND, "未找到该受益份额", "shareId")
    return Destination(claim, share)


async def start_payout(
    providers: Mapping[str, TransferProvider],
    pii: PiiCipher,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    notify_base_url: str,
    share_id: uuid.UUID | None = None,
    other_account: PayoutAccount | None = None,
    reason: str | None = None,
) -> Payout:
    """Pay the approved amount (or one beneficiary's share) to the account its payee
    chose. Another account (named by staff with a reason) waits for a second staff
    member's approval. The database allows one live payout per claim or share, whoever
    races to start one."""
    await load_claim(actor, claim_id, ClaimAction.START_PAYOUT)
    try:
        async with in_transaction():
            # Everything is decided under the claim's row lock: the account the payee
            # chose cannot change, nor a payout be recorded by hand, in between.
            claim = await _locked_paying_claim(claim_id)
            destination = await destination_of(claim, share_id)
            if other_account is not None:
                reason = _why_another_account(reason)
                account, sealed = other_account, other_account.seal(pii)
            elif destination.account_encrypted and destination.provider:
                sealed = destination.account_encrypted
                account = PayoutAccount.unseal(pii, destination.provider, sealed)
            else:
                raise ClaimError(
                    ClaimErrorCode.PAYOUT_ACCOUNT_MISSING, "收款人尚未选择收款账户", "claimId"
                )
            provider = providers.get(account.provider)
            if provider is None:
                raise ClaimError(
                    ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该转账方式", "provider"
                )
            check_name_on_file(
                account.provider,
                destination.amount,
                account.holder_name or await payee_name(destination),
            )
            check_product_filed(account.provider, await product_of(claim))
            payout = await Payout.create(
                claim_id=claim.id,
                share_id=destination.share.id if destination.share else None,
                transfer_number=await next_number(Prefix.TRANSFER),
                provider=provider.name,
                payee_encrypted=sealed,
                payee_masked=account.masked,
                amount=destination.amount,
                status=PayoutStatus.PROCESSING if other_account is None else AWAITING,
                live_key=destination.live_key,
                requested_by=actor.subject_id,
                reason=reason or "",
            )
            whose = destination.whose
            if other_account is not None:
                await record_change(
                    claim,
                    actor,
                    "propose_payout",
                    f"经办人申请将{whose}赔款支付至{account.masked}：{reason}",
                )
                await emit(
                    "claim.payout_proposed",
                    entity_type="claim",
                    entity_id=claim.id,
                    customer_id=None,  # for a second staff member to approve
                    payload={
                        "_staff_channels": [STAFF_QUEUE],
                        "claim_number": claim.report_number,
                    },
                )
            else:
                await record_change(
                    claim, actor, "send_payout", f"{whose}赔款正在转入{account.masked}"
                )
    except IntegrityError:
        raise ClaimError(
            ClaimErrorCode.PAYOUT_IN_PROGRESS, "该案件已有进行中的转账", "claimId"
        ) from None
    if other_account is not None:
        return payout
    return await _send(provider, pii, claim, payout, notify_base_url)


async def _locked_paying_claim(claim_id: uuid.UUID) -> Claim:
    """The claim's row, locked for the caller's transaction, if it waits for its money."""
    claim = await lock_claim(claim_id)
    if claim.status is not ClaimStatus.PAYING:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "只有赔款支付中的案件可以发起转账")
    return claim


def _why_another_account(reason: str | None) -> str:
    """Staff naming another account than the payee's say why."""
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError(
            ClaimErrorCode.REQUIRED, "向收款人选择以外的账户付款，须说明原因", "reason"
        )
    if len(reason) > 500:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "不能超过500个字", "reason")
    return reason


async def _awaiting_approval(claim: Claim, share_id: uuid.UUID | None) -> Payout:
    """The proposal to pay another account that staff approve or turn down: the one of
    the claim, or of the share named when several shares wait."""
    waiting = await Payout.filter(claim_id=claim.id, status=AWAITING).order_by("created_at")
    if share_id is not None:
        waiting = [payout for payout in waiting if payout.share_id == share_id]
    if not waiting:
        raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该案件没有待审批的转账", "claimId")
    if len(waiting) > 1:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请指明审批哪一份受益份额的转账", "shareId")
    return waiting[0]


async def approve_payout(
    providers: Mapping[str, TransferProvider],
    pii: PiiCipher,
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    notify_base_url: str,
    share_id: uuid.UUID | None = None,
) -> Payout:
    """A second staff member approves paying another account (four eyes): never the one
    who proposed it. The payee is told where their money goes."""
    claim = await load_claim(actor, claim_id, ClaimAction.APPROVE_PAYOUT)
    payout = await _awaiting_approval(claim, share_id)
    if payout.requested_by == actor.subject_id:
        raise ClaimError(
            ClaimErrorCode.SECOND_PERSON_REQUIRED, "须由另一位同事审批此转账", "claimId"
        )
    provider = providers.get(payout.provider)
    if provider is None:
        raise ClaimError(ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该转账方式", "provider")
    async with in_transaction():
        claim = await _locked_paying_claim(claim.id)  # the claim first, as everywhere
        approved = await Payout.filter(id=payout.id, status=AWAITING).update(
            status=PayoutStatus.PROCESSING, approved_by=actor.subject_id
        )
        if not approved:
            raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该转账已被处理", "claimId")
        destination = await destination_of(claim, payout.share_id)
        await record_change(
            claim,
            actor,
            "approve_payout",
            f"{destination.whose}赔款将支付至{payout.payee_masked}（已复核）",
            event_type="claim.payout_account_changed",
            event_extra={"account": payout.payee_masked},
            tell=destination.payee,
        )
    await payout.refresh_from_db()
    return await _send(provider, pii, claim, payout, notify_base_url)


async def cancel_payout(
    actor: Actor, claim_id: uuid.UUID, reason: str, share_id: uuid.UUID | None = None
) -> Payout:
    """Turn down a proposal to pay another account; the claim may be paid again."""
    claim = await load_claim(actor, claim_id, ClaimAction.APPROVE_PAYOUT)
    why = (reason or "").strip()
    if not why or len(why) > 500:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请说明原因（500字以内）", "reason")
    payout = await _awaiting_approval(claim, share_id)
    async with in_transaction():
        claim = await lock_claim(claim.id)  # the claim first, as everywhere
        cancelled = await Payout.filter(id=payout.id, status=AWAITING).update(
            status=PayoutStatus.CANCELLED,
            live_key=None,
            failure_reason=why[:255],
            finished_at=datetime.now(UTC),
        )
        if not cancelled:
            raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该转账已被处理", "claimId")
        await record_change(claim, actor, "cancel_payout", f"转账申请未获批准：{why}")
    await payout.refresh_from_db()
    return payout


def check_name_on_file(provider: str, amount: Decimal, name: str | None) -> None:
    """WeChat pays 2,000 yuan or more only with the payee's real name, which it checks
    against the account's real-name record (any other transfer pays without one, or
    checks the name it is given). A payee with no name on file cannot be paid that way:
    refused before anything is recorded or sent, rather than a payout that fails."""
    if provider == "wechat" and amount >= WECHAT_NAME_REQUIRED_FROM and not name:
        raise ClaimError(
            ClaimErrorCode.PAYEE_NAME_REQUIRED,
            "微信单笔2000元及以上的赔款须核验收款人姓名，收款人尚未登记姓名："
            "请补充收款人姓名，或改用银行卡收款",
            "provider",
        )


def check_product_filed(provider: str, product: Product) -> None:
    """WeChat reports every claim payout with the insured product as filed (filing
    number and filed name, at most 32 characters each): a product without them cannot
    be paid through WeChat, refused before anything is recorded or sent."""
    if provider != "wechat":
        return
    number, name = product.filing_number or "", product.filing_name or product.name
    if not number or len(number) > REPORT_INFO_MAX or len(name) > REPORT_INFO_MAX:
        raise ClaimError(
            ClaimErrorCode.PRODUCT_NOT_FILED,
            f"产品“{product.name}”未登记保险产品备案编号或备案名称（32字以内），"
            "暂不能通过微信支付赔款",
            "provider",
        )


async def product_of(claim: Claim) -> Product:
    policy = await Policy.get(id=claim.policy_id).select_related("product")
    return policy.product


async def _send(
    provider: TransferProvider,
    pii: PiiCipher,
    claim: Claim | None,
    payout: Payout,
    notify_base_url: str,
) -> Payout:
    """Send ``payout``: a claim's (``claim`` given) or a surrender value (``claim`` None:
    paid to the policy holder, named by the policy's number)."""
    account = PayoutAccount.unseal(pii, payout.provider, payout.payee_encrypted)
    if claim is None:
        surrender = await surrender_payouts.surrender_of(payout)
        product, name, remark = surrender.product, surrender.holder_name, surrender.remark
    else:
        product = await product_of(claim)
        name = await payee_name(await destination_of(claim, payout.share_id))
        remark = (
            f"安心保险补偿款 {claim.report_number}"
            if payout.remedy_id
            else f"安心保险理赔款 {claim.report_number}"
        )
    request = TransferRequest(
        transfer_number=payout.transfer_number,
        amount=payout.amount,
        payee_id=account.account,
        payee_name=account.holder_name or name,
        payee_bank=account.bank_name,
        remark=remark,
        notify_url=f"{notify_base_url.rstrip('/')}/payments/{provider.name}/notify",
        product_filing_no=product.filing_number,
        product_name=product.filing_name or product.name,
    )
    result = await _transfer_once(provider, request)
    return await apply_result(payout, result)


async def payee_name(destination: Destination) -> str | None:
    """The payee's name on file, for the provider's real-name check (Alipay; WeChat
    from 2,000 yuan): money to an account in another person's name is refused by the
    provider, not paid."""
    if destination.payee is None:
        return None  # staff established the account: its holder is not on file
    customer = await Customer.get_or_none(id=destination.payee).only("id", "name")
    return customer.name if customer and customer.name else None


async def _transfer_once(provider: TransferProvider, request: TransferRequest) -> TransferResult:
    try:
        return await provider.transfer(request)
    except ProviderRejected as rejected:
        return TransferResult(
            request.transfer_number, TransferState.FAILED, failure_reason=str(rejected)
        )
    except ProviderUnavailable:
        pass
    # Unknown outcome: ask before trying again, and retry only with the same number.
    try:
        known = await provider.query_transfer(request.transfer_number)
        if known.state is not TransferState.NOT_FOUND:
            return known
        return await provider.transfer(request)
    except ProviderRejected as rejected:
        return TransferResult(
            request.transfer_number, TransferState.FAILED, failure_reason=str(rejected)
        )
    except ProviderUnavailable:
        return TransferResult(request.transfer_number, TransferState.PROCESSING)


async def apply_result(payout: Payout, result: TransferResult) -> Payout:
    """Record what the provider says; on success the claim is paid (once). A success for
    a claim that is no longer waiting for money (paid twice, by an old second payout) is
    recorded in the ledger and raised with staff, never dropped and never a crash."""
    status = RESULT_STATUS.get(result.state, PayoutStatus.PROCESSING)
    now = datetime.now(UTC)
    if payout.claim_id is None:
        return await _apply_surrender_result(payout, result, status, now)
    async with in_transaction():
        # The claim's row first, then the payout's: the order every payout path locks in.
        claim = await lock_claim(payout.claim_id)
        current = await Payout.filter(id=payout.id).select_for_update().get()
        if current.status in (PayoutStatus.SUCCESS, *ENDED):
            return current  # settled before: a late callback or query changes nothing
        # A query names no package (WeChat's answers to queries carry none): while the
        # bill still waits for the payee, what the transfer answered stays usable.
        waiting = status is PayoutStatus.WAIT_USER_CONFIRM
        await Payout.filter(id=payout.id).update(
            status=status,
            provider_transfer_id=result.provider_transfer_id or current.provider_transfer_id,
            confirm_package=result.confirm_package
            or (current.confirm_package if waiting else None),
            confirm_parameters=dict(result.confirm_parameters or {})
            or (current.confirm_parameters if waiting else None),
            failure_reason=(result.failure_reason or "")[:255] or None,
            finished_at=now if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED) else None,
            live_key=None if status is PayoutStatus.FAILED else current.live_key,
        )
        if current.remedy_id is not None:  # a complaint's goodwill payment, not the claim's
            if status is PayoutStatus.SUCCESS:
                await _record_payout(current, result)
            if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED):
                await goodwill.settled(current, status, result.failure_reason)
        elif status is PayoutStatus.SUCCESS:
            await _record_payout(current, result)
            reference = result.provider_transfer_id or current.transfer_number
            if current.share_id is not None:
                await _share_paid(claim, current, reference, now)
            elif claim.status is ClaimStatus.PAYING:
                await mark_paid(claim, None, reference, claim.version)
            else:
                await _paid_twice(claim, current)
        elif status is PayoutStatus.FAILED:
            log.warning("payout %s failed: %s", current.transfer_number, result.failure_reason)
            await _tell_staff(claim, "claim.payout_failed", current)
    await payout.refresh_from_db()
    return payout


async def _apply_surrender_result(
    payout: Payout, result: TransferResult, status: PayoutStatus, now: datetime
) -> Payout:
    """A surrender value's transfer settles like a claim's, under the payout's own lock
    (there is no claim): recorded in the ledger once, told on the endorsement."""
    async with in_transaction():
        current = await Payout.filter(id=payout.id).select_for_update().get()
        if current.status in (PayoutStatus.SUCCESS, *ENDED):
            return current
        waiting = status is PayoutStatus.WAIT_USER_CONFIRM
        await Payout.filter(id=payout.id).update(
            status=status,
            provider_transfer_id=result.provider_transfer_id or current.provider_transfer_id,
            confirm_package=result.confirm_package
            or (current.confirm_package if waiting else None),
            confirm_parameters=dict(result.confirm_parameters or {})
            or (current.confirm_parameters if waiting else None),
            failure_reason=(result.failure_reason or "")[:255] or None,
            finished_at=now if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED) else None,
            live_key=None if status is PayoutStatus.FAILED else current.live_key,
        )
        if status is PayoutStatus.SUCCESS:
            await _record_payout(current, result)
        if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED):
            await surrender_payouts.settled(current, status, result.failure_reason)
    await payout.refresh_from_db()
    return payout


async def _share_paid(claim: Claim, payout: Payout, reference: str, now: datetime) -> None:
    """One beneficiary's share arrived: they are told; the claim is PAID with the last."""
    share = await PayoutShare.filter(id=payout.share_id).select_for_update().get()
    if share.paid_at is not None or claim.status is not ClaimStatus.PAYING:
        await _paid_twice(claim, payout)
        return
    await PayoutShare.filter(id=share.id).update(paid_at=now)
    await record_change(
        claim,
        None,
        "share_paid",
        f"受益人{share.name}的份额{share.amount}元已支付",
        event_type="claim.paid" if share.customer_id else None,
        event_extra={"amount": f"{share.amount:.2f}"},
        tell=share.customer_id,
    )
    if not await PayoutShare.filter(claim_id=claim.id, paid_at__isnull=True).exists():
        await mark_paid(claim, None, reference, claim.version)


async def _paid_twice(claim: Claim, payout: Payout) -> None:
    """A success for money no longer owed (an old second payout): in the ledger already,
    and raised with staff, never dropped and never a crash."""
    log.error(
        "payout %s succeeded for claim %s which is %s: paid twice",
        payout.transfer_number,
        claim.report_number,
        claim.status,
    )
    await _tell_staff(claim, "claim.payout_duplicate", payout)


async def _tell_staff(claim: Claim, event_type: str, payout: Payout) -> None:
    await emit(
        event_type,
        entity_type="claim",
        entity_id=claim.id,
        customer_id=None,  # staff act on it; the customer is told when it is paid
        payload={
            "_staff_channels": [STAFF_QUEUE],
            "transfer_number": payout.transfer_number,
        },
    )


async def _record_payout(payout: Payout, result: TransferResult) -> None:
    """Once per payout: the caller holds the payout's row lock and saw it unsettled."""
    await LedgerEntry.create(
        kind=LedgerKind.PAYOUT,
        provider=payout.provider,
        provider_txn_id=result.provider_transfer_id or payout.transfer_number,
        amount=-payout.amount,
        reference=payout.transfer_number,
    )


RESEND_AFTER = timedelta(minutes=2)  # a transfer the provider never heard of by then


async def follow_up_payouts(
    providers: Mapping[str, TransferProvider],
    pii: PiiCipher,
    *,
    notify_base_url: str,
    now: datetime | None = None,
) -> int:
    """The worker's job: ask about payouts still in flight. A payout the provider never
    heard of (the process died between recording it and sending it) is sent again with
    its own transfer number, which the provider pays at most once. One payout that
    cannot be settled is logged and left for the next run; it never stops the others."""
    now = now or datetime.now(UTC)
    settled = 0
    for payout in await Payout.filter(
        status__in=[PayoutStatus.PROCESSING, PayoutStatus.WAIT_USER_CONFIRM]
    ).limit(200):
        provider = providers.get(payout.provider)
        if provider is None:
            continue
        try:
            result = await provider.query_transfer(payout.transfer_number)
            if result.state is not TransferState.NOT_FOUND:
                updated = await apply_result(payout, result)
            elif payout.created_at < now - RESEND_AFTER:
                log.warning(
                    "payout %s never reached %s: sent again", payout.transfer_number, provider.name
                )
                claim = await Claim.get_or_none(id=payout.claim_id) if payout.claim_id else None
                updated = await _send(provider, pii, claim, payout, notify_base_url)
            else:
                continue
        except (ProviderUnavailable, ProviderRejected):
            continue
        except Exception:
            log.exception("payout %s not followed up", payout.transfer_number)
            continue
        settled += updated.status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED)
    return settled


async def record_transfer_notification(
    provider: TransferProvider, notice: PaymentNotification, pii: PiiCipher | None
) -> None:
    """A provider's transfer callback (its signature verified by the provider module):
    it settles our payout only if it is about that payout exactly, as payment callbacks
    are checked: this provider's transfer number, our merchant, the amount we sent, the
    provider's bill number we were given, and the payee we paid (WeChat's notice names no
    app id, so the openid, which exists under one app id only, stands for it). A notice
    that names our payout but differs changes nothing and alerts staff, once per
    difference."""
    payout = await Payout.get_or_none(transfer_number=notice.order_number, provider=provider.name)
    if payout is None:
        raise InvalidNotification(f"unknown transfer {notice.order_number}")
    differences = _differences(payout, notice, pii)
    if notice.merchant_id != provider.merchant_id:
        differences.insert(0, "merchant")
    if differences:
        await _alert_mismatch(payout, notice, differences)
        raise InvalidNotification(
            f"transfer {payout.transfer_number}: {', '.join(differences)} differ from our payout"
        )
    result = TransferResult(
        payout.transfer_number,
        TransferState(notice.state),
        notice.provider_trade_no,
        failure_reason=notice.failure_reason,
    )
    await apply_result(payout, result)


def _differences(payout: Payout, notice: PaymentNotification, pii: PiiCipher | None) -> list[str]:
    """What a transfer notice says otherwise than our payout (names only, no values)."""
    differences = []
    if notice.amount != payout.amount:
        differences.append("amount")
    if (
        payout.provider_transfer_id
        and notice.provider_trade_no
        and notice.provider_trade_no != payout.provider_transfer_id
    ):
        differences.append("bill number")
    if notice.payee_id is not None:
        if pii is None:
            differences.append("payee (not checkable)")
        elif PayoutAccount.unseal(pii, payout.provider, payout.payee_encrypted).account != (
            notice.payee_id
        ):
            differences.append("payee")
    return differences


async def _alert_mismatch(
    payout: Payout, notice: PaymentNotification, differences: list[str]
) -> None:
    """Staff hear of a signed notice that contradicts our payout: once per payout and
    difference, however often the provider repeats it."""
    security_log.error(
        "%s transfer notice for %s differs in %s: nothing recorded",
        payout.provider,
        payout.transfer_number,
        ", ".join(differences),
    )
    fingerprint = hashlib.sha256(
        "\n".join(
            [*differences, str(notice.amount), notice.provider_trade_no or "", notice.state]
        ).encode()
    ).hexdigest()[:32]
    if payout.claim_id is None:
        await surrender_payouts.mismatch(payout, fingerprint, differences)
        return
    claim = await Claim.get(id=payout.claim_id).only("id", "report_number")
    await emit_once(
        "claim.payout_mismatch",
        dedupe_key=f"payout-mismatch:{payout.id}:{fingerprint}",
        entity_type="claim",
        entity_id=claim.id,
        customer_id=None,  # staff look into it; the customer's money is not affected
        payload={
            "_staff_channels": [STAFF_QUEUE],
            "claim_number": claim.report_number,
            "transfer_number": payout.transfer_number,
            "differences": differences,
        },
    )


async def start_chosen_payouts(
    providers: Mapping[str, TransferProvider], pii: PiiCipher, *, notify_base_url: str
) -> int:
    """The worker pays approved claims (and beneficiaries' shares) to the accounts their
    payees chose (staff may also start a payout themselves, or record one made by hand)."""
    started = 0
    system = Actor(kind=SubjectKind.STAFF, subject_id=None, role=StaffRole.ADMIN)
    waiting = await Claim.filter(
        Q(payout_provider__not_isnull=True) | Q(pays_shares=True), status=ClaimStatus.PAYING
    )
    for claim in waiting:
        for destination in await _destinations(claim):
            if destination.provider not in providers or not destination.account_encrypted:
                continue
            share_id = destination.share.id if destination.share else None
            made = Payout.filter(claim_id=claim.id, share_id=share_id, remedy_id=None)
            if await made.exclude(status=PayoutStatus.CANCELLED).exists():
                continue  # in flight, or failed: staff decide what next (a turned-down
                # proposal leaves the payee's own choice to be paid)
            try:
                await start_payout(
                    providers,
                    pii,
                    system,
                    claim.id,
                    share_id=share_id,
                    notify_base_url=notify_base_url,
                )
            except ClaimError as error:
                await _blocked(claim, destination, error)
                continue
            started += 1
    return started


async def _blocked(claim: Claim, destination: Destination, error: ClaimError) -> None:
    """The worker cannot pay what the payee chose (e.g. no name on file for a large
    WeChat payout): staff hear of it once, not every minute the job runs."""
    told = await emit_once(
        "claim.payout_blocked",
        dedupe_key=f"payout-blocked:{destination.live_key}:{error.code}",
        entity_type="claim",
        entity_id=claim.id,
        customer_id=None,
        payload={
            "_staff_channels": [STAFF_QUEUE],
            "claim_number": claim.report_number,
            "code": str(error.code),
            "message": error.message,
        },
    )
    level = logging.WARNING if told else logging.DEBUG
    log.log(level, "automatic payout of %s not started: %s", claim.report_number, error.code)


async def _destinations(claim: Claim) -> list[Destination]:
    if not claim.pays_shares:
        return [Destination(claim, None)]
    shares = await PayoutShare.filter(claim_id=claim.id, paid_at__isnull=True).order_by("position")
    return [Destination(claim, share) for share in shares]


async def queue_goodwill_payout(
    pii: PiiCipher, claim: Claim, remedy_id: uuid.UUID, amount: Decimal, actor: Actor
) -> Payout:
    """A complaint's goodwill payment, recorded for the worker to send (in the caller's
    transaction, which holds the claim's row lock) to the account the claim's payee
    chose. ``live_key`` is the remedy's: however many approvals race, one payout."""
    if not claim.payout_account_encrypted or not claim.payout_provider:
        raise ClaimError(ClaimErrorCode.PAYOUT_ACCOUNT_MISSING, "客户尚未选择收款账户", "claimId")
    account = PayoutAccount.unseal(pii, claim.payout_provider, claim.payout_account_encrypted)
    check_name_on_file(
        account.provider, amount, account.holder_name or await payee_name(Destination(claim, None))
    )
    check_product_filed(account.provider, await product_of(claim))
    try:
        async with in_transaction():
            return await Payout.create(
                claim_id=claim.id,
                remedy_id=remedy_id,
                transfer_number=await next_number(Prefix.TRANSFER),
                provider=account.provider,
                payee_encrypted=claim.payout_account_encrypted,
                payee_masked=account.masked,
                amount=amount,
                status=PayoutStatus.QUEUED,
                live_key=f"goodwill:{remedy_id}",
                requested_by=actor.subject_id,
                reason="投诉补偿",
            )
    except IntegrityError:
        raise ClaimError(
            ClaimErrorCode.PAYOUT_IN_PROGRESS, "该补偿款已在支付中", "remedyId"
        ) from None


async def send_queued_payouts(
    providers: Mapping[str, TransferProvider], pii: PiiCipher, *, notify_base_url: str
) -> int:
    """The worker sends payouts recorded for it (goodwill payments, surrender values):
    each taken by a conditional update (one sender, however many workers), then sent like
    any payout; a
    crash between the two is caught by ``follow_up_payouts`` (never heard of: resent
    with the same transfer number)."""
    sent = 0
    for payout in await Payout.filter(status=PayoutStatus.QUEUED).limit(200):
        provider = providers.get(payout.provider)
        if provider is None:
            continue
        taken = await Payout.filter(id=payout.id, status=PayoutStatus.QUEUED).update(
            status=PayoutStatus.PROCESSING
        )
        if not taken:
            continue
        await payout.refresh_from_db()
        try:
            claim = await Claim.get(id=payout.claim_id) if payout.claim_id else None
            await _send(provider, pii, claim, payout, notify_base_url)
        except Exception:
            log.exception("payout %s not sent", payout.transfer_number)
            continue
        sent += 1
    return sent


async def pay_out(deps: JobDeps) -> None:
    """Pay approved claims to the accounts their payees chose, send goodwill payments,
    then settle transfers in flight."""
    providers, pii = deps.transfer_providers, deps.pii
    await adopt_accounts_on_file(pii)  # holders' claims with no account chosen
    await start_chosen_payouts(providers, pii, notify_base_url=deps.notify_base_url)
    await send_queued_payouts(providers, pii, notify_base_url=deps.notify_base_url)
    await follow_up_payouts(providers, pii, notify_base_url=deps.notify_base_url)


JOBS = (Job("payouts", MINUTE, pay_out),)
