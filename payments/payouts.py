"""Claim payouts by provider transfer: the claim moves PAYING → PAID from the transfer's
real outcome, never from our wish.

Each payout has one transfer number (``out_biz_no`` / ``out_bill_no``) for its whole
life. On a timeout the outcome is unknown: ask the provider first, and only if it has
never heard of the transfer send the same request again, with the same number, which
the provider accepts at most once. WeChat may wait for the customer to confirm receipt
(WAIT_USER_CONFIRM); failures stay visible to staff, who may start a new payout.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus
from models.customers import WechatIdentity
from models.payments import LedgerEntry, LedgerKind, Payout, PayoutStatus
from models.staff import StaffRole
from payments.base import (
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    TransferRequest,
    TransferResult,
    TransferState,
)
from push.outbox import emit
from workflows.access import Actor
from workflows.claims import ClaimError, ClaimErrorCode, load_claim, mark_paid, next_number

log = logging.getLogger("anxin.payouts")

RESULT_STATUS = {
    TransferState.PROCESSING: PayoutStatus.PROCESSING,
    TransferState.WAIT_USER_CONFIRM: PayoutStatus.WAIT_USER_CONFIRM,
    TransferState.SUCCESS: PayoutStatus.SUCCESS,
    TransferState.FAILED: PayoutStatus.FAILED,
}


async def start_payout(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    claim_id: uuid.UUID,
    provider_name: str,
    payee_id: str,
    *,
    notify_base_url: str,
) -> Payout:
    claim = await load_claim(actor, claim_id)
    if claim.status is not ClaimStatus.PAYING:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "只有赔款支付中的案件可以发起转账")
    provider = providers.get(provider_name)
    if provider is None:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "暂不支持该转账方式", "method")
    if not payee_id.strip():
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写收款账户", "payeeId")
    open_payout = await Payout.filter(claim_id=claim.id, status__not=PayoutStatus.FAILED).exists()
    if open_payout:
        raise ClaimError(ClaimErrorCode.CONFLICT, "该案件已有进行中的转账")
    payout = await Payout.create(
        claim_id=claim.id,
        transfer_number=await next_number("TF"),
        provider=provider.name,
        payee_id=payee_id.strip(),
        amount=claim.approved_amount,
    )
    request = TransferRequest(
        transfer_number=payout.transfer_number,
        amount=payout.amount,
        payee_id=payout.payee_id,
        payee_name=None,
        remark=f"安心保险理赔款 {claim.report_number}",
        notify_url=f"{notify_base_url.rstrip('/')}/payments/{provider.name}/notify",
    )
    result = await _transfer_once(provider, request)
    return await apply_result(payout, result)


async def _transfer_once(provider: PaymentProvider, request: TransferRequest) -> TransferResult:
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
    """Record what the provider says; on success the claim is paid (once)."""
    status = RESULT_STATUS.get(result.state, PayoutStatus.PROCESSING)
    now = datetime.now(UTC)
    async with in_transaction():
        current = await Payout.filter(id=payout.id).select_for_update().get()
        if current.status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED):
            return current  # settled before: a late callback or query changes nothing
        await Payout.filter(id=payout.id).update(
            status=status,
            provider_transfer_id=result.provider_transfer_id or current.provider_transfer_id,
            confirm_package=result.confirm_package,
            failure_reason=(result.failure_reason or "")[:255] or None,
            finished_at=now if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED) else None,
        )
        claim = await Claim.get(id=payout.claim_id)
        if status is PayoutStatus.SUCCESS:
            await _record_payout(current, result)
            await mark_paid(
                claim,
                None,
                result.provider_transfer_id or current.transfer_number,
                claim.version,
            )
        elif status is PayoutStatus.FAILED:
            log.warning("payout %s failed: %s", current.transfer_number, result.failure_reason)
            await emit(
                "claim.payout_failed",
                entity_type="claim",
                entity_id=claim.id,
                customer_id=None,  # staff act on it; the customer is told when it is paid
                payload={
                    "_staff_channels": ["staff:claim-queue"],
                    "transfer_number": current.transfer_number,
                },
            )
    await payout.refresh_from_db()
    return payout


async def _record_payout(payout: Payout, result: TransferResult) -> None:
    """Once per payout: the caller holds the payout's row lock and saw it unsettled."""
    await LedgerEntry.create(
        kind=LedgerKind.PAYOUT,
        provider=payout.provider,
        provider_txn_id=result.provider_transfer_id or payout.transfer_number,
        amount=-payout.amount,
        reference=payout.transfer_number,
    )


async def follow_up_payouts(providers: Mapping[str, PaymentProvider]) -> int:
    """The worker's job: ask about payouts still in flight."""
    settled = 0
    for payout in await Payout.filter(
        status__in=[PayoutStatus.PROCESSING, PayoutStatus.WAIT_USER_CONFIRM]
    ).limit(200):
        provider = providers.get(payout.provider)
        if provider is None:
            continue
        try:
            result = await provider.query_transfer(payout.transfer_number)
        except (ProviderUnavailable, ProviderRejected):
            continue
        if result.state is TransferState.NOT_FOUND:
            continue
        updated = await apply_result(payout, result)
        settled += updated.status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED)
    return settled


async def record_transfer_notification(
    notification_number: str, state: str, provider_transfer_id: str | None
) -> bool:
    """A provider's transfer callback (verified by the provider module)."""
    payout = await Payout.get_or_none(transfer_number=notification_number)
    if payout is None:
        return False
    result = TransferResult(notification_number, TransferState(state), provider_transfer_id)
    await apply_result(payout, result)
    return True


async def choose_payout_account(
    actor: Actor, claim_id: uuid.UUID, provider_name: str, account: str | None, wechat_app_id: str
) -> Claim:
    """The customer says where the money goes: an Alipay account, or WeChat (the openid
    of their mini-program login). Possible until the payout starts."""
    claim = await load_claim(actor, claim_id)
    if claim.status in (
        ClaimStatus.PAID,
        ClaimStatus.CLOSED,
        ClaimStatus.WITHDRAWN,
        ClaimStatus.REJECTED,
    ):
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "该案件已无需设置收款账户")
    if await Payout.filter(claim_id=claim.id, status__not=PayoutStatus.FAILED).exists():
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "转账已发起，不能再修改收款账户")
    if provider_name == "wechat":
        identity = await WechatIdentity.filter(
            customer_id=claim.customer_id, app_id=wechat_app_id
        ).first()
        if identity is None:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请先在小程序中登录以绑定微信", "provider")
        account = identity.openid
    elif provider_name == "alipay":
        account = (account or "").strip()
        if not account or len(account) > 100:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请填写支付宝账户", "account")
    else:
        raise ClaimError(ClaimErrorCode.INVALID_CHECKLIST_ITEM, "不支持的收款方式", "provider")
    await Claim.filter(id=claim.id).update(payout_provider=provider_name, payout_account=account)
    await claim.refresh_from_db()
    return claim


async def start_chosen_payouts(
    providers: Mapping[str, PaymentProvider], *, notify_base_url: str
) -> int:
    """The worker pays approved claims to the account their customer chose (staff may
    also start a payout themselves, e.g. by bank transfer recorded by hand)."""
    started = 0
    waiting = await Claim.filter(status=ClaimStatus.PAYING, payout_provider__not_isnull=True)
    for claim in waiting:
        if await Payout.filter(claim_id=claim.id).exists():
            continue  # in flight, or failed: staff decide what next
        provider_name, account = claim.payout_provider, claim.payout_account
        if provider_name is None or provider_name not in providers or not account:
            continue
        system = Actor(kind=SubjectKind.STAFF, subject_id=None, role=StaffRole.ADMIN)
        try:
            await start_payout(
                providers,
                system,
                claim.id,
                provider_name,
                account,
                notify_base_url=notify_base_url,
            )
        except ClaimError as error:
            log.warning("automatic payout of %s not started: %s", claim.report_number, error)
            continue
        started += 1
    return started
