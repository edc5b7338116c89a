"""Whose money a claim is: staff change its payee (``Claim.payee_id``), e.g. to the
insured person who linked an account after the report, or to assign one to a claim that
was left to staff.

The payee is set at report time (``reporting._payee``); staff may only name someone the
policy already names (its insured person's linked account, its holder), never an account
of their choosing, so this needs no second person the way paying another account does.
"""

from __future__ import annotations

import uuid

from tortoise.transactions import in_transaction

from models.claims import Claim
from models.payments import Payout
from models.policies import InsuredPerson, Policy
from workflows.access import Actor
from workflows.claims.rules import (
    AWAITING_ACCOUNT,
    SETTLED,
    STATUS_NAMES,
    A,
    ClaimError,
    ClaimErrorCode,
    PayTo,
    payee_of,
    required_text,
)
from workflows.claims.state import announce, load_claim, lock_claim, transition

WHO = {PayTo.INSURED: "被保险人", PayTo.POLICYHOLDER: "投保人"}


async def change_payee(
    actor: Actor, claim_id: uuid.UUID, pay_to: PayTo, reason: str, expected_version: int
) -> Claim:
    """Make ``pay_to`` the claim's payee (staff with CLAIM_PAY: see ``STAFF_MAY``).

    Refused, changing nothing: a stale version (CONFLICT), a settled claim
    (ILLEGAL_TRANSITION), a live payout (PAYOUT_IN_PROGRESS: its money is on its way to
    the current payee's account), an insured person the claim does not name or who has no
    account (PAYEE_HAS_NO_ACCOUNT), and the payee it already has (PAYEE_UNCHANGED: a
    refusal rather than a silent success, so staff learn that nothing was changed and no
    one was told). The account the former payee chose was theirs: it is cleared, and the
    new payee chooses their own. The new payee is told (and asked for an account once
    the claim is approved), the former one that the money is no longer theirs to direct.
    """
    claim = await load_claim(actor, claim_id, A.CHANGE_PAYEE)
    why = required_text(reason, "reason", 500)
    async with in_transaction():
        # Under the claim's lock, as a payout starts and an account is chosen: never a new
        # payee while the former one's transfer is being made.
        claim = await lock_claim(claim.id, expected_version)
        if claim.status in SETTLED:
            raise ClaimError(
                ClaimErrorCode.ILLEGAL_TRANSITION,
                f"当前状态（{STATUS_NAMES[claim.status]}）不能变更收款人",
                "claimId",
            )
        if await Payout.exists(claim_id=claim.id, live_key__not_isnull=True):
            raise ClaimError(
                ClaimErrorCode.PAYOUT_IN_PROGRESS, "转账已发起，不能变更收款人", "claimId"
            )
        if claim.pays_shares:
            raise ClaimError(
                ClaimErrorCode.ILLEGAL_TRANSITION,
                "该案件按受益份额支付给各受益人，不能指定单一收款人",
                "payTo",
            )
        payee = await _payee(claim, pay_to)
        former = payee_of(claim)
        if payee == former:
            raise ClaimError(ClaimErrorCode.PAYEE_UNCHANGED, "收款人未发生变化", "payTo")
        had_account = bool(claim.payout_provider or claim.payout_account_encrypted)
        cleared = "，原收款账户已作废" if had_account else ""
        ask = "，请在App中选择收款账户" if claim.status in AWAITING_ACCOUNT else ""
        claim = await transition(
            claim,
            actor,
            action="change_payee",
            note=f"收款人已变更为{WHO[pay_to]}{cleared}。原因：{why}",
            expected_version=expected_version,
            event_type="claim.payee_changed",
            event_extra={"change": f"赔款将支付给您{ask}"},
            tell=payee,
            payee_id=payee,
            payout_provider=None,
            payout_account_encrypted=None,
            payout_account_masked=None,
            payout_account_hash=None,
        )
        if former is not None:
            told = "赔款将不再支付给您" + ("，您设置的收款账户已作废" if had_account else "")
            await announce(
                claim,
                "claim.payee_changed",
                {"change": f"{told}。如有疑问，请联系客服"},
                to=former,
            )
    return claim


async def _payee(claim: Claim, pay_to: PayTo) -> uuid.UUID:
    """The customer ``pay_to`` names on ``claim``'s policy."""
    if pay_to is PayTo.POLICYHOLDER:
        policy = await Policy.get(id=claim.policy_id).only("id", "holder_id")
        return policy.holder_id
    if claim.insured_person_id is None:
        raise ClaimError(ClaimErrorCode.PAYEE_HAS_NO_ACCOUNT, "该案件未记录出险的被保险人", "payTo")
    person = await InsuredPerson.get_or_none(id=claim.insured_person_id).only("id", "customer_id")
    if person is None or person.customer_id is None:
        raise ClaimError(
            ClaimErrorCode.PAYEE_HAS_NO_ACCOUNT,
            "被保险人尚未关联安心账户，请先为其关联账户",
            "payTo",
        )
    return person.customer_id
