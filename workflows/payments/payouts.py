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
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
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
from workflows.claims import (
    SETTLED,
    STAFF_QUEUE,
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    load_claim,
    lock_claim,
    mark_paid,
    payee_of,
    record_change,
    transition,
)
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.numbering import Prefix, next_number

log = logging.getLogger("anxin.payouts")

RESULT_STATUS = {
    TransferState.PROCESSING: PayoutStatus.PROCESSING,
    TransferState.WAIT_USER_CONFIRM: PayoutStatus.WAIT_USER_CONFIRM,
    TransferState.SUCCESS: PayoutStatus.SUCCESS,
    TransferState.FAILED: PayoutStatus.FAILED,
}
ENDED = (PayoutStatus.FAILED, PayoutStatus.CANCELLED)
PROVIDER_NAMES = {"alipay": "支付宝", "wechat": "微信零钱", "sandbox": "测试账户"}


def mask_account(provider_name: str, account: str) -> str:
    """How an account is shown in timelines and notices: enough to recognise, not to use."""
    label = PROVIDER_NAMES.get(provider_name, provider_name)
    if provider_name == "wechat":
        return label  # the openid means nothing to a person
    name, at, domain = account.partition("@")
    if at:
        return f"{label} {name[:2]}***@{domain}"
    return f"{label} {account[:3]}****{account[-4:]}" if len(account) > 7 else f"{label} ****"


def _live_key(claim: Claim) -> str:
    return f"claim:{claim.id}"


async def start_payout(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    notify_base_url: str,
    provider_name: str | None = None,
    payee_id: str | None = None,
    reason: str | None = None,
) -> Payout:
    """Pay the approved amount to the account the payee chose. Another account (named
    by staff with a reason) waits for a second staff member's approval. The database
    allows one live payout per claim, whoever races to start one."""
    await load_claim(actor, claim_id, ClaimAction.START_PAYOUT)
    payee_id = (payee_id or "").strip() or None
    try:
        async with in_transaction():
            # Everything is decided under the claim's row lock: the account the payee
            # chose cannot change, nor a payout be recorded by hand, in between.
            claim = await _locked_paying_claim(claim_id)
            chosen = (claim.payout_provider, claim.payout_account)
            named = (provider_name, payee_id)
            override = named != (None, None) and named != chosen
            if override:
                provider_name, payee_id, reason = _other_account(provider_name, payee_id, reason)
            else:
                provider_name, payee_id = chosen
                if not provider_name or not payee_id:
                    raise ClaimError(
                        ClaimErrorCode.PAYOUT_ACCOUNT_MISSING, "收款人尚未选择收款账户", "claimId"
                    )
            provider = providers.get(provider_name)
            if provider is None:
                raise ClaimError(
                    ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该转账方式", "provider"
                )
            account = mask_account(provider.name, payee_id)
            payout = await Payout.create(
                claim_id=claim.id,
                transfer_number=await next_number(Prefix.TRANSFER),
                provider=provider.name,
                payee_id=payee_id,
                amount=claim.approved_amount,
                status=PayoutStatus.AWAITING_APPROVAL if override else PayoutStatus.PROCESSING,
                live_key=_live_key(claim),
                requested_by=actor.subject_id,
                reason=reason or "",
            )
            if override:
                await record_change(
                    claim, actor, "propose_payout", f"经办人申请将赔款支付至{account}：{reason}"
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
                await record_change(claim, actor, "send_payout", f"赔款正在转入{account}")
    except IntegrityError:
        raise ClaimError(
            ClaimErrorCode.PAYOUT_IN_PROGRESS, "该案件已有进行中的转账", "claimId"
        ) from None
    if override:
        return payout
    return await _send(provider, claim, payout, notify_base_url)


async def _locked_paying_claim(claim_id: uuid.UUID) -> Claim:
    """The claim's row, locked for the caller's transaction, if it waits for its money."""
    claim = await lock_claim(claim_id)
    if claim.status is not ClaimStatus.PAYING:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "只有赔款支付中的案件可以发起转账")
    return claim


def _other_account(
    provider_name: str | None, payee_id: str | None, reason: str | None
) -> tuple[str, str, str]:
    """Staff naming another account than the payee's: all of it, and why."""
    if not provider_name or not payee_id:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写收款方式和收款账户", "payeeId")
    if len(payee_id) > 128:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "收款账户过长", "payeeId")
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError(
            ClaimErrorCode.REQUIRED, "向申请人选择以外的账户付款，须说明原因", "reason"
        )
    if len(reason) > 500:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "不能超过500个字", "reason")
    return provider_name, payee_id, reason


async def approve_payout(
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    claim_id: uuid.UUID,
    *,
    notify_base_url: str,
) -> Payout:
    """A second staff member approves paying another account (four eyes): never the one
    who proposed it. The payee is told where their money goes."""
    claim = await load_claim(actor, claim_id, ClaimAction.APPROVE_PAYOUT)
    payout = await Payout.get_or_none(claim_id=claim.id, status=PayoutStatus.AWAITING_APPROVAL)
    if payout is None:
        raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该案件没有待审批的转账", "claimId")
    if payout.requested_by == actor.subject_id:
        raise ClaimError(
            ClaimErrorCode.SECOND_PERSON_REQUIRED, "须由另一位同事审批此转账", "claimId"
        )
    provider = providers.get(payout.provider)
    if provider is None:
        raise ClaimError(ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该转账方式", "provider")
    account = mask_account(payout.provider, payout.payee_id)
    async with in_transaction():
        claim = await _locked_paying_claim(claim.id)  # the claim first, as everywhere
        approved = await Payout.filter(id=payout.id, status=PayoutStatus.AWAITING_APPROVAL).update(
            status=PayoutStatus.PROCESSING, approved_by=actor.subject_id
        )
        if not approved:
            raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该转账已被处理", "claimId")
        await record_change(
            claim,
            actor,
            "approve_payout",
            f"赔款将支付至{account}（已复核）",
            event_type="claim.payout_account_changed",
            event_extra={"account": account},
            tell=payee_of(claim),
        )
    await payout.refresh_from_db()
    return await _send(provider, claim, payout, notify_base_url)


async def cancel_payout(actor: Actor, claim_id: uuid.UUID, reason: str) -> Payout:
    """Turn down a proposal to pay another account; the claim may be paid again."""
    claim = await load_claim(actor, claim_id, ClaimAction.APPROVE_PAYOUT)
    why = (reason or "").strip()
    if not why or len(why) > 500:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请说明原因（500字以内）", "reason")
    payout = await Payout.get_or_none(claim_id=claim.id, status=PayoutStatus.AWAITING_APPROVAL)
    if payout is None:
        raise ClaimError(ClaimErrorCode.NO_PENDING_PAYOUT, "该案件没有待审批的转账", "claimId")
    async with in_transaction():
        claim = await lock_claim(claim.id)  # the claim first, as everywhere
        cancelled = await Payout.filter(id=payout.id, status=PayoutStatus.AWAITING_APPROVAL).update(
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


async def _send(
    provider: PaymentProvider, claim: Claim, payout: Payout, notify_base_url: str
) -> Payout:
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
    """Record what the provider says; on success the claim is paid (once). A success for
    a claim that is no longer waiting for money (paid twice, by an old second payout) is
    recorded in the ledger and raised with staff, never dropped and never a crash."""
    status = RESULT_STATUS.get(result.state, PayoutStatus.PROCESSING)
    now = datetime.now(UTC)
    async with in_transaction():
        # The claim's row first, then the payout's: the order every payout path locks in.
        claim = await lock_claim(payout.claim_id)
        current = await Payout.filter(id=payout.id).select_for_update().get()
        if current.status in (PayoutStatus.SUCCESS, *ENDED):
            return current  # settled before: a late callback or query changes nothing
        await Payout.filter(id=payout.id).update(
            status=status,
            provider_transfer_id=result.provider_transfer_id or current.provider_transfer_id,
            confirm_package=result.confirm_package,
            failure_reason=(result.failure_reason or "")[:255] or None,
            finished_at=now if status in (PayoutStatus.SUCCESS, PayoutStatus.FAILED) else None,
            live_key=None if status is PayoutStatus.FAILED else current.live_key,
        )
        if status is PayoutStatus.SUCCESS:
            await _record_payout(current, result)
            if claim.status is ClaimStatus.PAYING:
                await mark_paid(
                    claim,
                    None,
                    result.provider_transfer_id or current.transfer_number,
                    claim.version,
                )
            else:
                log.error(
                    "payout %s succeeded for claim %s which is %s: paid twice",
                    current.transfer_number,
                    claim.report_number,
                    claim.status,
                )
                await _tell_staff(claim, "claim.payout_duplicate", current)
        elif status is PayoutStatus.FAILED:
            log.warning("payout %s failed: %s", current.transfer_number, result.failure_reason)
            await _tell_staff(claim, "claim.payout_failed", current)
    await payout.refresh_from_db()
    return payout


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
    providers: Mapping[str, PaymentProvider],
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
                claim = await Claim.get(id=payout.claim_id)
                updated = await _send(provider, claim, payout, notify_base_url)
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
    providers: Mapping[str, PaymentProvider],
    actor: Actor,
    claim_id: uuid.UUID,
    provider_name: str,
    account: str | None,
    wechat_app_id: str,
) -> Claim:
    """The payee says where their money goes: an Alipay account, or WeChat (the openid of
    their mini-program login). Possible until the payout starts; every change is on the
    timeline and told to the payee (a change they did not make is a red flag)."""
    claim = await load_claim(actor, claim_id, ClaimAction.CHOOSE_PAYOUT_ACCOUNT)
    _refuse_settled(claim)  # early, for a clear answer; again under the lock below
    if provider_name not in providers:
        raise ClaimError(ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该收款方式", "provider")
    if provider_name == "wechat":
        identity = await WechatIdentity.filter(
            customer_id=payee_of(claim), app_id=wechat_app_id
        ).first()
        if identity is None:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请先在小程序中登录以绑定微信", "provider")
        account = identity.openid
    else:
        account = (account or "").strip()
        if not account:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请填写收款账户", "account")
        if len(account) > 100:
            raise ClaimError(ClaimErrorCode.TOO_LONG, "收款账户过长", "account")
    shown = mask_account(provider_name, account)
    async with in_transaction():
        # Under the claim's lock, as a payout starts: never "chosen B" while A is paid.
        claim = await lock_claim(claim.id)
        _refuse_settled(claim)  # paid by hand meanwhile: nothing left to choose
        if await Payout.exists(live_key=_live_key(claim)):
            raise ClaimError(ClaimErrorCode.PAYOUT_IN_PROGRESS, "转账已发起，不能再修改收款账户")
        claim = await transition(
            claim,
            actor,
            action="choose_payout_account",
            note=f"收款账户已设置为{shown}",
            event_type="claim.payout_account_changed",
            event_extra={"account": shown},
            tell=payee_of(claim),  # a change they did not make is a red flag
            payout_provider=provider_name,
            payout_account=account,
        )
    return claim


def _refuse_settled(claim: Claim) -> None:
    if claim.status in SETTLED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "该案件已无需设置收款账户")


async def start_chosen_payouts(
    providers: Mapping[str, PaymentProvider], *, notify_base_url: str
) -> int:
    """The worker pays approved claims to the account their customer chose (staff may
    also start a payout themselves, e.g. by bank transfer recorded by hand)."""
    started = 0
    waiting = await Claim.filter(status=ClaimStatus.PAYING, payout_provider__not_isnull=True)
    for claim in waiting:
        if await Payout.filter(claim_id=claim.id).exclude(status=PayoutStatus.CANCELLED).exists():
            continue  # in flight, or failed: staff decide what next (a turned-down proposal
            # leaves the payee's own choice to be paid)
        provider_name, account = claim.payout_provider, claim.payout_account
        if provider_name is None or provider_name not in providers or not account:
            continue
        system = Actor(kind=SubjectKind.STAFF, subject_id=None, role=StaffRole.ADMIN)
        try:
            await start_payout(providers, system, claim.id, notify_base_url=notify_base_url)
        except ClaimError as error:
            log.warning("automatic payout of %s not started: %s", claim.report_number, error)
            continue
        started += 1
    return started


async def pay_out(deps: JobDeps) -> None:
    """Pay approved claims to the accounts their payees chose, then settle transfers
    in flight."""
    await start_chosen_payouts(deps.payment_providers, notify_base_url=deps.notify_base_url)
    await follow_up_payouts(deps.payment_providers, notify_base_url=deps.notify_base_url)


JOBS = (Job("payouts", MINUTE, pay_out),)
