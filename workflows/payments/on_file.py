"""A policy's payout account on file (set by a PAYMENT_ACCOUNT change) used by the
claim payout path: a claim waiting for its money (PAYING) whose payee has chosen no
account, and whose payee is the policy's holder (the account on file is the holder's
own), takes the account on file — recorded on its timeline and told to the payee, as a
choice they made themselves would be — and the payouts job then pays it like any
chosen account. A payee who is not the holder (an insured family member, a
beneficiary's share) still chooses their own: the holder's account is not theirs.
"""

from __future__ import annotations

import logging

from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimStatus
from models.payout_accounts import PayoutAccount
from models.pii import PiiCipher
from models.policies import Policy
from models.policy_accounts import PolicyAccount
from workflows.claims import lock_claim, payee_of, transition

log = logging.getLogger("anxin.payouts")
BATCH = 200


async def adopt_accounts_on_file(pii: PiiCipher) -> int:
    """Give waiting claims of holders the account on file; how many took one."""
    adopted = 0
    waiting = await Claim.filter(
        status=ClaimStatus.PAYING, payout_provider__isnull=True, pays_shares=False
    ).limit(BATCH)
    for claim in waiting:
        payee = payee_of(claim)
        policy = await Policy.get(id=claim.policy_id).only("id", "holder_id")
        if payee is None or payee != policy.holder_id:
            continue
        account = await PolicyAccount.get_or_none(policy_id=policy.id)
        if account is None or not account.payout_provider or not account.payout_encrypted:
            continue
        shown = PayoutAccount.unseal(pii, account.payout_provider, account.payout_encrypted)
        async with in_transaction():
            locked = await lock_claim(claim.id)
            if locked.status is not ClaimStatus.PAYING or locked.payout_provider is not None:
                continue  # chosen (or paid) meanwhile: their choice stands
            await transition(
                locked,
                None,
                action="choose_payout_account",
                note=f"收款账户按保单约定的领款账户设置为{shown.masked}",
                event_type="claim.payout_account_changed",
                event_extra={"account": shown.masked},
                tell=payee,
                payout_provider=account.payout_provider,
                payout_account_encrypted=account.payout_encrypted,
                payout_account_masked=shown.masked,
            )
        adopted += 1
        log.info("claim %s takes the payout account on file", claim.report_number)
    return adopted
