"""A payment-account change (变更缴费/领款账户): the withholding agreement the policy's
premiums are collected with (代扣协议, signed by the customer at the provider) and the
account its payouts go to (a bank card in the holder's own name, or an Alipay account).

A payout account alone takes effect at once. A new agreement is asked for here (a
PENDING ``CollectionAgreement`` with our external number) and the change waits,
REQUESTED and still cancellable, until the provider's signed notification says it was
signed (``workflows.policy_service.agreements``): then the change is approved and takes
effect in that notification's transaction — the new agreement in force, the one before
it ended, the payout account on file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.customers import Customer
from models.endorsements import Endorsement
from models.payout_accounts import BANK, PROVIDER_NAMES, PayoutAccount
from models.pii import PiiCipher
from models.policies import Policy, PolicyStatus
from models.policy_accounts import AgreementStatus, CollectionAgreement, PolicyAccount
from payments.agreements import AgreementProvider, AgreementSignRequest
from payments.base import TransferProvider
from workflows.access import Actor
from workflows.auth import WechatIdentityUnavailable, wechat_identity_for
from workflows.claims import ClaimError
from workflows.numbering import Prefix, next_number
from workflows.payments.accounts import AccountChoice, bank_card_account, typed_account
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode

FIELD = "paymentAccount"
CHANGEABLE = (PolicyStatus.ACTIVE, PolicyStatus.PENDING, PolicyStatus.LAPSED)
AGREEMENT_NAMES = {"alipay": "支付宝代扣"}


@dataclass(frozen=True)
class NewPaymentAccount:
    """At least one of: sign a withholding agreement with ``collection_provider``;
    pay this policy's payouts to ``payout``."""

    collection_provider: str | None = None
    payout: AccountChoice | None = None


@dataclass(frozen=True)
class Checked:
    payout: PayoutAccount | None
    collector: AgreementProvider | None


def agreement_provider(
    providers: Mapping[str, object], name: str | None
) -> AgreementProvider | None:
    """The provider that offers withholding agreements under ``name``, if configured."""
    provider = providers.get(name or "")
    return provider if isinstance(provider, AgreementProvider) else None


async def checked(
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    policy: Policy,
    wish: NewPaymentAccount,
) -> Checked:
    """The new accounts, or the first thing wrong with them. A payout account is the
    holder's own: a bank card in the holder's name, their WeChat login, or an Alipay
    account (Alipay checks the name against it when paying)."""
    if policy.status not in CHANGEABLE:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保单已终止，不能变更账户", "policyId"
        )
    if wish.collection_provider is None and wish.payout is None:
        raise EndorsementError(EndorsementErrorCode.REQUIRED, "请填写要变更的缴费或领款账户", FIELD)
    collector = None
    if wish.collection_provider is not None:
        collector = agreement_provider(providers, wish.collection_provider)
        if collector is None:
            raise EndorsementError(
                EndorsementErrorCode.PROVIDER_NOT_CONFIGURED,
                "暂不支持该自动扣款方式",
                f"{FIELD}.collection",
            )
    payout = None
    if wish.payout is not None:
        payout = await _payout_account(providers, actor, policy, wish.payout)
    return Checked(payout, collector)


async def _payout_account(
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    policy: Policy,
    choice: AccountChoice,
) -> PayoutAccount:
    field = f"{FIELD}.payout"
    if choice.provider not in providers:
        raise EndorsementError(
            EndorsementErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该收款方式", f"{field}.provider"
        )
    try:
        if choice.provider == "wechat":
            try:
                identity = await wechat_identity_for(actor, providers["wechat"].app_id)
            except WechatIdentityUnavailable as unavailable:
                raise EndorsementError(
                    EndorsementErrorCode.INVALID_ACCOUNT, unavailable.message, f"{field}.provider"
                ) from None
            return PayoutAccount("wechat", identity.openid)
        if choice.provider == BANK:
            holder = await Customer.get(id=policy.holder_id).only("id", "name")
            return bank_card_account(choice.bank_card, holder.name)
        return typed_account(choice.provider, choice.account)
    except ClaimError as error:  # the payee checks of the claim path, in this domain's code
        raise EndorsementError(
            EndorsementErrorCode.INVALID_ACCOUNT, error.message, f"{field}.{error.field or ''}"
        ) from None


async def on_file(policy_id: Any) -> dict[str, Any]:
    """What is on file now, as shown (masked)."""
    agreement = await CollectionAgreement.get_or_none(live_key=str(policy_id))
    account = await PolicyAccount.get_or_none(policy_id=policy_id)
    return {
        "collection": _agreement_shown(agreement) if agreement else None,
        "payout": account.payout_masked if account else None,
    }


def _agreement_shown(agreement: CollectionAgreement) -> str:
    name = AGREEMENT_NAMES.get(agreement.provider, agreement.provider)
    return f"{name} {agreement.payer_masked}" if agreement.payer_masked else name


async def before_values(policy: Policy, wish: Checked) -> dict[str, Any]:
    now = await on_file(policy.id)
    return {
        "collection": now["collection"] if wish.collector else None,
        "payout": now["payout"] if wish.payout else None,
    }


def after_values(wish: Checked) -> dict[str, Any]:
    return {
        "collection": AGREEMENT_NAMES.get(wish.collector.name, wish.collector.name)
        if wish.collector
        else None,
        "collectionProvider": wish.collector.name if wish.collector else None,
        "payout": wish.payout.masked if wish.payout else None,
        "payoutProvider": wish.payout.provider if wish.payout else None,
        "payoutProviderName": PROVIDER_NAMES.get(wish.payout.provider) if wish.payout else None,
    }


def seal(pii: PiiCipher, wish: Checked) -> str | None:
    return wish.payout.seal(pii) if wish.payout else None


async def ask_for_agreement(endorsement: Endorsement, provider: str) -> CollectionAgreement:
    """The agreement the customer is to sign (caller's transaction)."""
    return await CollectionAgreement.create(
        policy_id=endorsement.policy_id,
        customer_id=endorsement.requested_by_id,
        endorsement_id=endorsement.id,
        provider=provider,
        external_agreement_no=await next_number(Prefix.AGREEMENT),
        status=AgreementStatus.PENDING,
    )


def sign_url(provider: AgreementProvider, agreement: CollectionAgreement, base_url: str) -> str:
    """The provider's sign page for a pending agreement (signed fresh on each ask)."""
    return provider.agreement_sign_url(
        AgreementSignRequest(
            external_agreement_no=agreement.external_agreement_no,
            notify_url=agreement_notify_url(base_url, provider.name),
        )
    )


def agreement_notify_url(base_url: str, provider: str) -> str:
    return f"{base_url.rstrip('/')}/payments/{provider}/agreements/notify"


async def apply_payout(endorsement: Endorsement) -> str:
    """Put the new payout account on file (caller's transaction, under the policy's
    lock); the note for the timeline."""
    after = endorsement.after
    if not after.get("payoutProvider") or endorsement.sealed_after is None:
        return ""
    fields = {
        "payout_provider": after["payoutProvider"],
        "payout_encrypted": endorsement.sealed_after,
        "payout_masked": after["payout"],
    }
    await ensure_account_row(endorsement.policy_id)
    await PolicyAccount.filter(policy_id=endorsement.policy_id).update(**fields)
    return f"领款账户已变更为{after['payout']}"


async def ensure_account_row(policy_id: Any) -> None:
    """The policy's ``PolicyAccount`` row exists (created once, whoever races)."""
    if await PolicyAccount.exists(policy_id=policy_id):
        return
    try:
        async with in_transaction():
            await PolicyAccount.create(policy_id=policy_id)
    except IntegrityError:
        pass  # created meanwhile


def payout_on_file(pii: PiiCipher, account: PolicyAccount | None) -> PayoutAccount | None:
    """The policy's payout account on file, opened (for a payout)."""
    if account is None or not account.payout_provider or not account.payout_encrypted:
        return None
    return PayoutAccount.unseal(pii, account.payout_provider, account.payout_encrypted)


def describe(after: Mapping[str, Any]) -> str:
    parts = []
    if after.get("collection"):
        parts.append(f"自动扣款账户变更为{after['collection']}")
    if after.get("payout"):
        parts.append(f"领款账户变更为{after['payout']}")
    return "，".join(parts)


async def abandon_agreements(endorsement: Endorsement) -> None:
    """The change was withdrawn before signing: its agreement will not be kept (a
    signing that still arrives is ended at once)."""
    await CollectionAgreement.filter(
        endorsement_id=endorsement.id, status=AgreementStatus.PENDING
    ).update(status=AgreementStatus.ABANDONED)


async def surrender_account(
    pii: PiiCipher,
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    policy: Policy,
    choice: AccountChoice,
) -> PayoutAccount:
    """Where a surrender value goes: the account chosen now, or (no provider given) the
    payout account on file."""
    if choice.provider:
        from workflows.policy_service.surrender import chosen_account

        return await chosen_account(providers, actor, choice)
    account = payout_on_file(pii, await PolicyAccount.get_or_none(policy_id=policy.id))
    if account is None:
        raise EndorsementError(
            EndorsementErrorCode.REQUIRED,
            "该保单没有约定的领款账户，请选择退保金收款账户",
            "surrender.provider",
        )
    if account.provider not in providers:
        raise EndorsementError(
            EndorsementErrorCode.PROVIDER_NOT_CONFIGURED,
            "约定的领款方式暂不可用，请选择其他收款账户",
            "surrender.provider",
        )
    return account
