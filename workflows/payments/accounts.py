"""Payout accounts as a payee chooses them: checked before anything is stored, always
the payee's own (sealing and masking are ``models.payout_accounts``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from models.claims import Claim, PayoutShare
from models.customers import Customer
from models.payments import Payout
from models.payout_accounts import BANK, PayoutAccount
from models.pii import PiiCipher
from payments.base import TransferProvider
from workflows.access import Actor
from workflows.auth import WechatIdentityUnavailable, wechat_identity_for
from workflows.claims import (
    SETTLED,
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    load_claim,
    lock_claim,
    record_change,
    transition,
)
from workflows.payments.payouts import check_name_on_file, destination_of, payee_name

CARD_DIGITS = range(15, 20)  # UnionPay debit cards are 16 to 19 digits; some old ones 15


@dataclass(frozen=True)
class BankCard:
    """A bank card as typed by a person, checked before anything is stored."""

    holder_name: str
    bank_name: str
    card_number: str


@dataclass(frozen=True)
class AccountChoice:
    """What a payee submits: the provider, and the Alipay account or the bank card."""

    provider: str
    account: str | None = None
    bank_card: BankCard | None = None


def bank_card_account(card: BankCard | None, owner_name: str | None) -> PayoutAccount:
    """A bank card the payee may be paid to: well-formed, and in the payee's own name
    (claim money goes to the payee's own account; ``owner_name``: their name on file)."""
    if card is None:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写银行卡信息", "bankCard")
    holder = card.holder_name.strip()
    bank = card.bank_name.strip()
    number = "".join(card.card_number.split()).replace("-", "")
    if not holder:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写持卡人姓名", "bankCard.holderName")
    if len(holder) > 64:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "持卡人姓名过长", "bankCard.holderName")
    if owner_name and holder != owner_name:
        raise ClaimError(
            ClaimErrorCode.ACCOUNT_NAME_MISMATCH,
            "理赔款只能支付至收款人本人名下的银行卡",
            "bankCard.holderName",
        )
    if len(bank) < 2:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写开户银行", "bankCard.bankName")
    if len(bank) > 32:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "开户银行名称过长", "bankCard.bankName")
    if not number.isdigit() or len(number) not in CARD_DIGITS or not luhn_valid(number):
        raise ClaimError(
            ClaimErrorCode.INVALID_CARD_NUMBER, "银行卡号有误，请核对", "bankCard.cardNumber"
        )
    return PayoutAccount(BANK, number, holder, bank)


def luhn_valid(number: str) -> bool:
    """The check digit UnionPay cards carry: catches a mistyped or swapped digit."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(number)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def typed_account(provider: str, account: str | None, field: str = "account") -> PayoutAccount:
    """An Alipay (or sandbox) account as typed: present and of a sane length."""
    account = (account or "").strip()
    if not account:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请填写收款账户", field)
    if len(account) > 100:
        raise ClaimError(ClaimErrorCode.TOO_LONG, "收款账户过长", field)
    return PayoutAccount(provider, account)


def staff_named_account(
    provider: str | None, account: str | None, card: BankCard | None
) -> PayoutAccount | None:
    """Another account than the payee's choice, named by staff (it then waits for a
    second staff member); None when staff name none: the payee's own choice is paid."""
    if provider is None and account is None and card is None:
        return None
    if not provider:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请选择收款方式", "provider")
    if provider == BANK:
        return bank_card_account(card, None)  # e.g. an heir's card: its holder is not on file
    return typed_account(provider, account, "payeeId")


async def choose_payout_account(
    providers: Mapping[str, TransferProvider],
    pii: PiiCipher,
    actor: Actor,
    claim_id: uuid.UUID,
    choice: AccountChoice,
) -> Claim:
    """The payee says where their money goes: an Alipay account, WeChat (the openid of
    their mini-program login) or a bank card in their own name; a beneficiary paid a
    share, for their share. Possible until the payout starts; every change is on the
    timeline and told to the payee (a change they did not make is a red flag)."""
    claim = await load_claim(actor, claim_id, ClaimAction.CHOOSE_PAYOUT_ACCOUNT)
    _refuse_settled(claim)  # early, for a clear answer; again under the lock below
    if choice.provider not in providers:
        raise ClaimError(ClaimErrorCode.PROVIDER_NOT_CONFIGURED, "暂不支持该收款方式", "provider")
    share_id = None
    if claim.pays_shares:
        share = await PayoutShare.get(claim_id=claim.id, customer_id=actor.subject_id)
        share_id = share.id
    account = await _account(providers, actor, choice)
    sealed, account_hash = account.seal(pii), account.lookup_hash(pii)
    async with in_transaction():
        # Under the claim's lock, as a payout starts: never "chosen B" while A is paid.
        claim = await lock_claim(claim.id)
        _refuse_settled(claim)  # paid by hand meanwhile: nothing left to choose
        destination = await destination_of(claim, share_id)
        if await Payout.exists(live_key=destination.live_key):
            raise ClaimError(ClaimErrorCode.PAYOUT_IN_PROGRESS, "转账已发起，不能再修改收款账户")
        # Once the amount is decided, a choice that could not be paid is refused now.
        check_name_on_file(
            account.provider,
            destination.amount,
            account.holder_name or await payee_name(destination),
        )
        note = f"{destination.whose}收款账户已设置为{account.masked}"
        if destination.share is None:
            claim = await transition(
                claim,
                actor,
                action="choose_payout_account",
                note=note,
                event_type="claim.payout_account_changed",
                event_extra={"account": account.masked},
                tell=actor.subject_id,  # a change they did not make is a red flag
                payout_provider=account.provider,
                payout_account_encrypted=sealed,
                payout_account_masked=account.masked,
                payout_account_hash=account_hash,
            )
        else:
            await PayoutShare.filter(id=destination.share.id).update(
                payout_provider=account.provider,
                payout_account_encrypted=sealed,
                payout_account_masked=account.masked,
                payout_account_hash=account_hash,
            )
            await record_change(
                claim,
                actor,
                "choose_payout_account",
                note,
                event_type="claim.payout_account_changed",
                event_extra={"account": account.masked},
                tell=actor.subject_id,
            )
    return claim


async def _account(
    providers: Mapping[str, TransferProvider], actor: Actor, choice: AccountChoice
) -> PayoutAccount:
    """The account chosen, checked: always the caller's own (they are the payee). WeChat:
    the openid of this session's mini-program login, under the app id WeChat Pay pays
    from (``wechat_identity_for`` states the rule for several identities)."""
    if choice.provider == "wechat":
        try:
            identity = await wechat_identity_for(actor, providers["wechat"].app_id)
        except WechatIdentityUnavailable as unavailable:
            raise ClaimError(ClaimErrorCode.REQUIRED, unavailable.message, "provider") from None
        return PayoutAccount("wechat", identity.openid)
    if choice.provider == BANK:
        me = await Customer.get(id=actor.subject_id).only("id", "name")
        return bank_card_account(choice.bank_card, me.name)
    return typed_account(choice.provider, choice.account)


def _refuse_settled(claim: Claim) -> None:
    if claim.status in SETTLED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "该案件已无需设置收款账户")
