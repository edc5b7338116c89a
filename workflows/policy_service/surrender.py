"""Surrender (退保) after the cooling-off period: the surrender value from the product's
table is quoted first (``quote``); the holder confirms that amount and chooses where it
goes; the policy then ends (CANCELLED) and the value is paid through the payout path
(a QUEUED payout the payouts job sends, ``live_key`` ``surrender:<policy>``: one
surrender payout per policy, whoever races).

The value: the premium paid for the policy × the percentage of the policy year in the
product's table (``ProductServiceTerms.surrender_values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.clock import local_date, local_today
from models.customers import Customer
from models.endorsements import Endorsement, ProductServiceTerms
from models.payments import Payout, PayoutStatus
from models.payout_accounts import BANK, PayoutAccount
from models.pii import PiiCipher
from models.policies import Policy, PolicyStatus, PremiumInstallment
from payments.base import TransferProvider
from workflows.access import Actor
from workflows.auth import WechatIdentityUnavailable, wechat_identity_for
from workflows.claims import ClaimError
from workflows.numbering import Prefix, next_number
from workflows.payments.accounts import AccountChoice, bank_card_account, typed_account
from workflows.payments.payouts import check_name_on_file, check_product_filed
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode

SURRENDERABLE = (PolicyStatus.ACTIVE, PolicyStatus.LAPSED)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class SurrenderQuote:
    """What the holder is shown before confirming."""

    policy: Policy
    premium_paid: Decimal
    policy_year: int
    percent: Decimal
    amount: Decimal
    as_of: date


def _percent_for(table: list[dict[str, Any]], year: int) -> Decimal | None:
    rows = sorted(table, key=lambda row: int(row["year"]))
    chosen = None
    for row in rows:
        if int(row["year"]) <= year:
            chosen = Decimal(str(row["percent"]))
    return chosen


async def quote(policy: Policy) -> SurrenderQuote:
    """The surrender value today, or why there is none."""
    if policy.status not in SURRENDERABLE:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保单当前状态不能退保", "policyId"
        )
    product = await policy.product
    today = local_today()
    if product.cooling_off_days > 0 and today <= local_date(policy.issued_at) + timedelta(
        days=product.cooling_off_days
    ):
        raise EndorsementError(
            EndorsementErrorCode.COOLING_OFF,
            "保单仍在犹豫期内，请使用犹豫期退保（全额退还保费）",
            "policyId",
        )
    terms = await ProductServiceTerms.get_or_none(product_id=product.id)
    year = (today - local_date(policy.starts_at)).days // 365 + 1
    percent = _percent_for(terms.surrender_values, year) if terms else None
    if percent is None:
        raise EndorsementError(
            EndorsementErrorCode.NO_SURRENDER_VALUE, "该产品没有现金价值，不能办理退保", "policyId"
        )
    paid = sum(
        (
            row.amount
            # Regular premiums only: a reinstatement's installment settles overdue ones
            # (marked paid) and its interest is no premium.
            for row in await PremiumInstallment.filter(
                policy_id=policy.id, paid_at__not_isnull=True, endorsement_id=None
            )
        ),
        Decimal(0),
    )
    amount = (paid * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if amount <= 0:
        raise EndorsementError(
            EndorsementErrorCode.NO_SURRENDER_VALUE, "该保单当前没有可退还的现金价值", "policyId"
        )
    return SurrenderQuote(policy, paid, year, percent, amount, today)


async def chosen_account(
    providers: Mapping[str, TransferProvider], actor: Actor, choice: AccountChoice
) -> PayoutAccount:
    """The holder's own account, checked as a claim payee's is (a bank card in their own
    name; WeChat: the openid of this mini-program session)."""
    field = "surrender.account"
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
            me = await Customer.get(id=actor.subject_id).only("id", "name")
            return bank_card_account(choice.bank_card, me.name)
        return typed_account(choice.provider, choice.account)
    except ClaimError as error:  # the payee checks of the claim path, in this domain's code
        raise EndorsementError(
            EndorsementErrorCode.INVALID_ACCOUNT, error.message, f"{field}.{error.field or ''}"
        ) from None


async def check_payable(account: PayoutAccount, amount: Decimal, policy: Policy) -> None:
    holder = await Customer.get(id=policy.holder_id).only("id", "name")
    try:
        check_name_on_file(account.provider, amount, account.holder_name or holder.name)
        check_product_filed(account.provider, await policy.product)
    except ClaimError as error:
        raise EndorsementError(
            EndorsementErrorCode.INVALID_ACCOUNT, error.message, "surrender.account"
        ) from None


async def apply(pii: PiiCipher, endorsement: Endorsement, provider: str) -> Payout:
    """The policy ends and its value is queued for the payouts job (in the caller's
    transaction, which holds the policy's row lock and saw it surrenderable)."""
    assert endorsement.sealed_after is not None and endorsement.amount is not None
    await Policy.filter(id=endorsement.policy_id).update(status=PolicyStatus.CANCELLED)
    account = PayoutAccount.unseal(pii, provider, endorsement.sealed_after)
    return await Payout.create(
        claim_id=None,
        endorsement_id=endorsement.id,
        transfer_number=await next_number(Prefix.TRANSFER),
        provider=provider,
        payee_encrypted=endorsement.sealed_after,
        payee_masked=account.masked,
        amount=endorsement.amount,
        status=PayoutStatus.QUEUED,
        live_key=f"surrender:{endorsement.policy_id}",
        requested_by=None,
        reason="退保",
    )
