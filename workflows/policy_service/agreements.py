"""The provider's word on a withholding agreement (代扣协议): signed, or ended.

A notification is believed only after its signature (the provider module), then its
app id, and our external agreement number; then, under the agreement's row lock, it has
its effect once however often it arrives: a signing puts the agreement in force and the
PAYMENT_ACCOUNT change that asked for it takes effect (REQUESTED → APPROVED → EFFECTIVE,
one transaction); the agreement before it ends and is unsigned at the provider after
commit. An ending turns automatic renewal off (nothing left to charge) and tells the
customer. A signing for a change that was cancelled meanwhile is ended at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models.clock import local_today
from models.endorsements import EndorsementStatus
from models.ids import global_id
from models.policy_accounts import AgreementStatus, CollectionAgreement, PolicyAccount
from payments.agreements import AgreementNotification, AgreementProvider, AgreementState
from payments.base import (
    CallbackReply,
    InvalidNotification,
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
)
from push.outbox import emit
from workflows.policy_service import payment_account
from workflows.policy_service.endorsement_state import lock, transition

log = logging.getLogger("anxin.agreements")
security_log = logging.getLogger("anxin.security")
S = EndorsementStatus


async def handle_agreement_callback(provider: PaymentProvider, body: bytes) -> CallbackReply:
    """Verify, check, record; anything wrong changes nothing and is a security event."""
    if not isinstance(provider, AgreementProvider):
        return provider.reply(False)
    try:
        notice = provider.parse_agreement_notification(body)
        if notice.app_id != provider.app_id:
            raise InvalidNotification("app id does not match ours")
        to_unsign = await record_agreement(provider.name, notice)
    except InvalidNotification as exc:
        security_log.warning("rejected %s agreement callback: %s", provider.name, exc)
        return provider.reply(False)
    for number in to_unsign:
        await unsign_quietly(provider, number)
    return provider.reply(True)


async def record_agreement(provider: str, notice: AgreementNotification) -> list[str]:
    """Apply a verified notification once; the agreement numbers to end at the provider."""
    now = datetime.now(UTC)
    found = await CollectionAgreement.get_or_none(
        external_agreement_no=notice.external_agreement_no, provider=provider
    )
    if found is None:
        raise InvalidNotification(f"unknown agreement {notice.external_agreement_no}")
    async with in_transaction():
        # The change's lock first, then the agreement's: the order a cancellation takes.
        if found.endorsement_id is not None:
            await lock(found.endorsement_id)
        agreement = await CollectionAgreement.filter(id=found.id).select_for_update().get()
        if agreement.agreement_no not in (None, notice.agreement_no):
            raise InvalidNotification("agreement_no differs from the one on file")
        if notice.state is AgreementState.ENDED:
            await _ended(agreement, notice, now)
            return []
        if agreement.status in (AgreementStatus.ACTIVE, AgreementStatus.ENDED):
            return []  # signed already (a retry), or ended: nothing more to do
        return await _signed(agreement, notice, now)


async def _signed(
    agreement: CollectionAgreement, notice: AgreementNotification, now: datetime
) -> list[str]:
    endorsement = await lock(agreement.endorsement_id) if agreement.endorsement_id else None
    if endorsement is None or endorsement.status is not S.REQUESTED:
        # The change was cancelled before the customer signed: not kept.
        await CollectionAgreement.filter(id=agreement.id).update(
            status=AgreementStatus.ENDED,
            agreement_no=notice.agreement_no,
            signed_at=notice.occurred_at or now,
            ended_at=now,
        )
        log.info("agreement %s signed after its change ended", agreement.external_agreement_no)
        return [notice.agreement_no]
    policy_key = str(agreement.policy_id)
    previous = await CollectionAgreement.filter(live_key=policy_key).first()
    if previous is not None:
        await CollectionAgreement.filter(id=previous.id).update(
            status=AgreementStatus.ENDED, live_key=None, ended_at=now
        )
    await CollectionAgreement.filter(id=agreement.id).update(
        status=AgreementStatus.ACTIVE,
        agreement_no=notice.agreement_no,
        payer_id=notice.payer_id,
        payer_masked=(notice.payer_masked or "")[:64] or None,
        signed_at=notice.occurred_at or now,
        live_key=policy_key,
    )
    await agreement.refresh_from_db()
    endorsement = await transition(
        endorsement, None, to=S.APPROVED, action="sign", note="客户已完成代扣协议签约"
    )
    note = await payment_account.apply_payout(endorsement)
    shown = payment_account.describe(endorsement.after)
    await transition(
        endorsement,
        None,
        to=S.EFFECTIVE,
        action="effect",
        note=shown or note or "账户变更已生效",
        effective_date=local_today(),
        effective_at=now,
    )
    return [previous.agreement_no] if previous is not None and previous.agreement_no else []


async def _ended(
    agreement: CollectionAgreement, notice: AgreementNotification, now: datetime
) -> None:
    if agreement.status is AgreementStatus.ENDED:
        return  # a retry, or we ended it ourselves
    was_live = agreement.live_key is not None
    await CollectionAgreement.filter(id=agreement.id).update(
        status=AgreementStatus.ENDED, live_key=None, ended_at=notice.occurred_at or now
    )
    if not was_live:
        return
    turned_off = await PolicyAccount.filter(
        policy_id=agreement.policy_id, auto_renewal=True
    ).update(auto_renewal=False, auto_renewal_changed_at=now)
    await emit(
        "policy.collection_agreement_ended",
        entity_type="policy",
        entity_id=agreement.policy_id,
        customer_id=agreement.customer_id,
        payload={
            "policy_id": global_id("Policy", agreement.policy_id),
            "auto_renewal_off": bool(turned_off),
        },
    )


async def unsign_quietly(provider: AgreementProvider, agreement_no: str) -> None:
    """End a replaced agreement at the provider. Ours is ended already and never
    charged again; a failure here is logged for staff, not retried by the customer."""
    try:
        await provider.unsign(agreement_no)
    except (ProviderUnavailable, ProviderRejected) as exc:
        log.warning("agreement not unsigned at %s: %s", provider.name, type(exc).__name__)
