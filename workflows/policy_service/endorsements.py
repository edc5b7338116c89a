"""Changes of a policy (保全) as endorsements (批单): the holder asks
(``request_policy_change``, one change type per request), the insured consents where the
law asks, staff with POLICY_SERVICE review what needs review, and the change takes
effect — its effect and its EFFECTIVE step in one transaction, under the policy's row
lock, so a change takes effect once however many approvals race.

Types built: BENEFICIARIES (``beneficiaries``), SURRENDER (``surrender``: a change type,
not a mutation of its own; effective at once, its value paid by the payouts job) and
CONTACT (``contact``: the new phone verified by SMS code; effective at once) and
PAYMENT_FREQUENCY (``payment_frequency``: unpaid installments re-cut; effective at once)
and REINSTATEMENT (``reinstatement``: reviewed; approval adds one installment of the
overdue premiums and interest, whose payment makes it effective: ``installment_paid``),
and INSURED_MEMBER (``insured_member``: a family member added; the premium difference is
one installment at once, and its payment makes the member insured), SUM_INSURED
(``sum_insured``: an increase reviewed and paid, a decrease refunded; in force from the
next day by its job) and MEMBER_REMOVAL (``member_removal``: cover ends tonight, the
unearned premium refunded); their requests are in ``cover_changes``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.clock import local_today
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
from models.ids import global_id
from models.payments import PaymentOrder, RefundReason
from models.pii import PiiCipher
from models.policies import (
    InsuredPerson,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
)
from payments.base import TransferProvider
from push.outbox import emit
from workflows.access import Actor, visible_policies
from workflows.auth import AuthDeps
from workflows.idempotency import once
from workflows.numbering import Prefix, next_number
from workflows.payments.accounts import AccountChoice
from workflows.policy_service import (
    beneficiaries,
    contact,
    cover_changes,
    frequency,
    members,
    payment_account,
    reinstatement,
    sum_insured,
    surrender,
)
from workflows.policy_service.endorsement_rules import (
    CANCELLABLE,
    REASON_LIMIT,
    STAFF_QUEUE,
    EndorsementError,
    EndorsementErrorCode,
)
from workflows.policy_service.endorsement_state import (
    EndorsementAction,
    add_to_timeline,
    announce,
    load_endorsement,
    lock,
    not_stale,
    transition,
)
from workflows.policy_service.names import FREQUENCIES

log = logging.getLogger("anxin.endorsements")

S = EndorsementStatus
T = EndorsementType
IN_FORCE = (PolicyStatus.PENDING, PolicyStatus.ACTIVE, PolicyStatus.LAPSED)


@dataclass(frozen=True)
class SurrenderRequest:
    """The holder confirms the quoted value and says where it goes."""

    confirmed_amount: Decimal
    account: AccountChoice


@dataclass(frozen=True)
class ChangeRequest:
    """One change of one policy: exactly one of the per-type values is given."""

    policy_id: uuid.UUID
    beneficiaries: list[beneficiaries.NewBeneficiary] | None = None
    surrender: SurrenderRequest | None = None
    contact: contact.NewContact | None = None
    payment_frequency: PaymentFrequency | None = None
    reinstatement: reinstatement.HealthDeclaration | None = None
    insured_member: members.NewMember | None = None
    sum_insured: Decimal | None = None  # the new sum insured
    member_removal: uuid.UUID | None = None  # the InsuredPerson to remove
    payment_account: payment_account.NewPaymentAccount | None = None

    def fingerprint(self) -> dict[str, Any]:
        return {
            "policy": str(self.policy_id),
            "beneficiaries": [
                [p.name, p.id_number, p.relation_to_insured, str(p.share_percent)]
                for p in self.beneficiaries or []
            ]
            if self.beneficiaries is not None
            else None,
            "surrender": [
                str(self.surrender.confirmed_amount),
                self.surrender.account.provider,
                self.surrender.account.account,
                repr(self.surrender.account.bank_card),
            ]
            if self.surrender
            else None,
            "contact": [
                self.contact.phone,
                self.contact.sms_code,
                self.contact.email,
                self.contact.address,
            ]
            if self.contact
            else None,
            "frequency": str(self.payment_frequency) if self.payment_frequency else None,
            "reinstatement": [
                self.reinstatement.healthy_since_lapse,
                self.reinstatement.notes,
            ]
            if self.reinstatement
            else None,
            "member": [
                self.insured_member.name,
                self.insured_member.id_number,
                self.insured_member.relation_to_holder,
            ]
            if self.insured_member
            else None,
            "sumInsured": str(self.sum_insured) if self.sum_insured is not None else None,
            "memberRemoval": str(self.member_removal) if self.member_removal else None,
            "account": [
                self.payment_account.collection_provider,
                repr(self.payment_account.payout),
            ]
            if self.payment_account
            else None,
        }


async def holders_policy(actor: Actor, policy_id: uuid.UUID) -> Policy:
    """The policy, if the caller sees it (else NOT_FOUND) and holds it (else NOT_ALLOWED:
    an insured or a beneficiary does not change the holder's contract)."""
    policy = await visible_policies(actor).filter(id=policy_id).first()
    if policy is None:
        raise EndorsementError(EndorsementErrorCode.POLICY_NOT_FOUND, "未找到该保单", "policyId")
    if policy.holder_id != actor.subject_id:
        raise EndorsementError(
            EndorsementErrorCode.NOT_ALLOWED, "只有投保人可以申请变更保单", "policyId"
        )
    return policy


async def request_policy_change(
    services: AuthDeps,
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    change: ChangeRequest,
    idempotency_key: str,
) -> Endorsement:
    """Ask for one change; the same key with the same input returns the first answer.
    ``services``: the PII cipher, and the SMS-code check of a new phone."""
    pii = services.pii
    given = [
        v
        for v in (
            change.beneficiaries,
            change.surrender,
            change.contact,
            change.payment_frequency,
            change.reinstatement,
            change.insured_member,
            change.sum_insured,
            change.member_removal,
            change.payment_account,
        )
        if v is not None
    ]
    if len(given) != 1:
        raise EndorsementError(
            EndorsementErrorCode.ONE_CHANGE_REQUIRED, "每次申请请只填写一项变更", "input"
        )

    async def run() -> dict[str, Any]:
        policy = await holders_policy(actor, change.policy_id)
        if change.beneficiaries is not None:
            endorsement = await _request_beneficiaries(pii, actor, policy, change.beneficiaries)
        elif change.contact is not None:
            endorsement = await _request_contact(services, actor, policy, change.contact)
        elif change.payment_frequency is not None:
            endorsement = await _request_frequency(pii, actor, policy, change.payment_frequency)
        elif change.reinstatement is not None:
            endorsement = await _request_reinstatement(actor, policy, change.reinstatement)
        elif change.insured_member is not None:
            endorsement = await _request_member(pii, actor, policy, change.insured_member)
        elif change.sum_insured is not None:
            endorsement = await cover_changes.request_sum_insured(
                _create, actor, policy, change.sum_insured
            )
        elif change.member_removal is not None:
            endorsement = await cover_changes.request_member_removal(
                _create, actor, policy, change.member_removal
            )
        elif change.payment_account is not None:
            endorsement = await _request_account(
                pii, providers, actor, policy, change.payment_account
            )
        else:
            assert change.surrender is not None
            endorsement = await _request_surrender(pii, providers, actor, policy, change.surrender)
        return {"endorsement_id": str(endorsement.id)}

    answer = await once(
        f"{actor.subject_id}:requestPolicyChange", idempotency_key, change.fingerprint(), run
    )
    return await Endorsement.get(id=uuid.UUID(answer["endorsement_id"]))


async def _create(
    policy: Policy,
    actor: Actor,
    kind: EndorsementType,
    *,
    before: dict[str, Any],
    after: dict[str, Any],
    sealed: str | None,
    note: str,
    amount: Decimal | None = None,
    consent_required: bool = False,
) -> Endorsement:
    """The endorsement, REQUESTED, on its timeline and announced (caller's transaction).
    One open change of each type per policy: a second is refused by the database."""
    try:
        async with in_transaction():
            endorsement = await Endorsement.create(
                number=await next_number(Prefix.ENDORSEMENT),
                policy_id=policy.id,
                type=kind,
                status=S.REQUESTED,
                requested_by_id=actor.subject_id,
                before=before,
                after=after,
                sealed_after=sealed,
                amount=amount,
                consent_required=consent_required,
                open_key=f"{policy.id}:{kind}",
            )
    except IntegrityError:
        raise EndorsementError(
            EndorsementErrorCode.CHANGE_PENDING, "该保单已有同类变更正在办理", "policyId"
        ) from None
    await add_to_timeline(endorsement, actor, "request", None, S.REQUESTED, note)
    await announce(endorsement, "endorsement.requested")
    return endorsement


async def _request_beneficiaries(
    pii: PiiCipher, actor: Actor, policy: Policy, people: list[beneficiaries.NewBeneficiary]
) -> Endorsement:
    checked = beneficiaries.checked(people)
    if policy.status not in IN_FORCE:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保单已终止，不能变更受益人", "policyId"
        )
    consent_needed, insured = await beneficiaries.consenting_insured(policy)
    async with in_transaction():
        endorsement = await _create(
            policy,
            actor,
            T.BENEFICIARIES,
            before=await beneficiaries.before_values(policy),
            after=beneficiaries.after_values(checked),
            sealed=beneficiaries.seal(pii, checked),
            note="投保人申请变更受益人",
            consent_required=consent_needed,
        )
        if not consent_needed:
            endorsement = await transition(
                endorsement,
                actor,
                to=S.APPROVED,
                action="approve",
                note="投保人即被保险人，无需被保险人同意",
            )
            return await _take_effect(pii, endorsement, None)
        if insured is None:
            return await transition(
                endorsement,
                None,
                to=S.NEEDS_REVIEW,
                action="refer",
                note="被保险人未注册，需人工核验被保险人的书面同意",
            )
        await emit(
            "endorsement.consent_requested",
            entity_type="endorsement",
            entity_id=endorsement.id,
            customer_id=insured.customer_id,
            payload={
                "endorsement_id": global_id("Endorsement", endorsement.id),
                "endorsement_number": endorsement.number,
                "policy_number": policy.number,
            },
        )
    return endorsement


async def _request_contact(
    services: AuthDeps, actor: Actor, policy: Policy, wish: contact.NewContact
) -> Endorsement:
    assert actor.subject_id is not None
    values = await contact.checked(services, wish)
    async with in_transaction():
        endorsement = await _create(
            policy,
            actor,
            T.CONTACT,
            before=await contact.before_values(actor.subject_id, values),
            after=contact.after_values(values),
            sealed=contact.seal(services.pii, values),
            note="投保人申请变更联系方式" + ("（新手机号已短信验证）" if "phone" in values else ""),
        )
        endorsement = await transition(
            endorsement, actor, to=S.APPROVED, action="approve", note="联系方式变更无需审核"
        )
        return await _take_effect(services.pii, endorsement, None)


async def _request_frequency(
    pii: PiiCipher, actor: Actor, policy: Policy, wanted: PaymentFrequency
) -> Endorsement:
    recut = await frequency.plan(policy, wanted)
    async with in_transaction():
        endorsement = await _create(
            policy,
            actor,
            T.PAYMENT_FREQUENCY,
            before={"frequency": str(policy.payment_frequency)},
            after=frequency.values(policy, wanted, recut),
            sealed=None,
            note=f"投保人申请将缴费方式变更为{FREQUENCIES[wanted]}",
        )
        endorsement = await transition(
            endorsement, actor, to=S.APPROVED, action="approve", note="缴费方式变更无需审核"
        )
        return await _take_effect(pii, endorsement, None)


async def _request_reinstatement(
    actor: Actor, policy: Policy, declaration: reinstatement.HealthDeclaration
) -> Endorsement:
    declared = reinstatement.checked(declaration)
    quoted = await reinstatement.quote(policy)
    async with in_transaction():
        endorsement = await _create(
            policy,
            actor,
            T.REINSTATEMENT,
            before={"status": str(policy.status)},
            after=reinstatement.values(quoted, declared),
            sealed=None,
            amount=quoted.total,
            note=f"投保人申请复效：欠缴保费{quoted.premiums}元，利息{quoted.interest}元",
        )
        return await transition(
            endorsement, None, to=S.NEEDS_REVIEW, action="refer", note="复效申请需审核健康告知"
        )


async def _request_member(
    pii: PiiCipher, actor: Actor, policy: Policy, wish: members.NewMember
) -> Endorsement:
    member, amount = await members.quote(policy, wish)
    async with in_transaction():
        await Policy.filter(id=policy.id).select_for_update().get()
        endorsement = await _create(
            policy,
            actor,
            T.INSURED_MEMBER,
            before={"insured": await InsuredPerson.filter(policy_id=policy.id).count()},
            after=members.values(member, amount),
            sealed=members.seal(pii, member),
            amount=amount,
            note=f"投保人申请增加被保险人{member.name}，应补保费{amount}元",
        )
        endorsement = await transition(
            endorsement, actor, to=S.APPROVED, action="approve", note="按产品费率补缴保费"
        )
        installment = await members.add_installment(endorsement)
        await add_to_timeline(
            endorsement,
            None,
            "premium_due",
            S.APPROVED,
            S.APPROVED,
            f"请缴纳补缴保费{installment.amount}元，缴费后新增被保险人生效",
        )
    return endorsement


async def _request_account(
    pii: PiiCipher,
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    policy: Policy,
    wish: payment_account.NewPaymentAccount,
) -> Endorsement:
    """A payout account alone is effective at once; a new agreement waits, REQUESTED,
    for the customer to sign it at the provider (``agreements.record_agreement``)."""
    accounts = await payment_account.checked(providers, actor, policy, wish)
    async with in_transaction():
        endorsement = await _create(
            policy,
            actor,
            T.PAYMENT_ACCOUNT,
            before=await payment_account.before_values(policy, accounts),
            after=payment_account.after_values(accounts),
            sealed=payment_account.seal(pii, accounts),
            note="投保人申请" + payment_account.describe(payment_account.after_values(accounts)),
        )
        if accounts.collector is not None:
            await payment_account.ask_for_agreement(endorsement, accounts.collector.name)
            await add_to_timeline(
                endorsement,
                None,
                "sign_requested",
                S.REQUESTED,
                S.REQUESTED,
                "请在支付宝完成代扣协议签约，签约后变更生效",
            )
            return endorsement
        endorsement = await transition(
            endorsement, actor, to=S.APPROVED, action="approve", note="领款账户变更无需审核"
        )
        return await _take_effect(pii, endorsement, None)


async def installment_paid(order: PaymentOrder) -> None:
    """An endorsement's installment was paid (in the payment's transaction, called once
    per installment by ``premium_installment_paid``): the change takes effect."""
    installment = await PremiumInstallment.get(id=order.installment_id)
    if installment.endorsement_id is None:
        return
    endorsement = await lock(installment.endorsement_id)
    if endorsement.status is S.EXPIRED:
        # Paid after the change expired (``expiry``): the money goes back, nothing applies.
        from workflows.payments.refunds import queue_refund

        await queue_refund(order, RefundReason.PAID_IN_ERROR, "保全申请已失效，保费原路退还")
        return
    if endorsement.status is not S.APPROVED:
        log.error("endorsement %s paid while %s", endorsement.number, endorsement.status)
        return
    if endorsement.type is T.SUM_INSURED:  # effective from the next day, by its job
        await sum_insured.premium_paid(endorsement, installment, order)
        return
    notes = {
        T.REINSTATEMENT: f"复效保费{installment.amount}元已缴纳，保单恢复有效",
        T.INSURED_MEMBER: f"补缴保费{installment.amount}元已缴纳，新增被保险人已生效",
    }
    applied = (endorsement.type is T.REINSTATEMENT and await reinstatement.apply(endorsement)) or (
        endorsement.type is T.INSURED_MEMBER and await members.apply(endorsement)
    )
    if applied:
        await transition(
            endorsement,
            None,
            to=S.EFFECTIVE,
            action="effect",
            note=notes[endorsement.type],
            effective_date=local_today(),
            effective_at=datetime.now(UTC),
        )
        return
    log.error("endorsement %s paid but not applicable: left for staff", endorsement.number)
    await add_to_timeline(
        endorsement, None, "paid", endorsement.status, endorsement.status, "款项已收到，待人工处理"
    )
    await emit(
        "endorsement.paid_not_applied",
        entity_type="endorsement",
        entity_id=endorsement.id,
        customer_id=None,
        payload={"_staff_channels": [STAFF_QUEUE], "endorsement_number": endorsement.number},
    )


async def _request_surrender(
    pii: PiiCipher,
    providers: Mapping[str, TransferProvider],
    actor: Actor,
    policy: Policy,
    wish: SurrenderRequest,
) -> Endorsement:
    quoted = await surrender.quote(policy)
    if wish.confirmed_amount != quoted.amount:
        raise EndorsementError(
            EndorsementErrorCode.AMOUNT_CHANGED,
            f"退保金额已更新为{quoted.amount}元，请确认后重新提交",
            "surrender.confirmedAmount",
        )
    account = await payment_account.surrender_account(pii, providers, actor, policy, wish.account)
    await surrender.check_payable(account, quoted.amount, policy)
    try:
        async with in_transaction():
            locked = await Policy.filter(id=policy.id).select_for_update().get()
            if locked.status not in surrender.SURRENDERABLE:
                raise EndorsementError(
                    EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保单当前状态不能退保", "policyId"
                )
            endorsement = await _create(
                policy,
                actor,
                T.SURRENDER,
                before={"status": str(locked.status)},
                after={
                    "status": str(PolicyStatus.CANCELLED),
                    "amount": f"{quoted.amount:.2f}",
                    "premiumPaid": f"{quoted.premium_paid:.2f}",
                    "policyYear": quoted.policy_year,
                    "percent": f"{quoted.percent}",
                    "account": account.masked,
                    "provider": account.provider,
                },
                sealed=account.seal(pii),
                amount=quoted.amount,
                note=f"投保人确认退保，退保金{quoted.amount}元",
            )
            endorsement = await transition(
                endorsement, actor, to=S.APPROVED, action="confirm", note="退保申请已确认"
            )
            return await _take_effect(pii, endorsement, None)
    except IntegrityError:  # a racing surrender queued the policy's payout first
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保单当前状态不能退保", "policyId"
        ) from None


async def _take_effect(
    pii: PiiCipher, endorsement: Endorsement, actor: Actor | None
) -> Endorsement:
    """APPROVED → EFFECTIVE with its effect, in one transaction under the policy's lock."""
    async with in_transaction():
        policy = await Policy.filter(id=endorsement.policy_id).select_for_update().get()
        if endorsement.type is T.BENEFICIARIES:
            if policy.status not in IN_FORCE:
                raise EndorsementError(
                    EndorsementErrorCode.POLICY_NOT_IN_FORCE,
                    "保单已终止，不能变更受益人",
                    "policyId",
                )
            await beneficiaries.apply(pii, endorsement)
            note = "受益人变更已生效"
        elif endorsement.type is T.CONTACT:
            await contact.apply(pii, endorsement)
            note = "联系方式变更已生效"
        elif endorsement.type is T.PAYMENT_FREQUENCY:
            await frequency.apply(endorsement.policy_id, endorsement.after)
            note = f"缴费方式已变更为{endorsement.after['frequencyName']}，自下一期保费起生效"
        elif endorsement.type is T.PAYMENT_ACCOUNT:
            note = await payment_account.apply_payout(endorsement)
        else:
            payout = await surrender.apply(pii, endorsement, endorsement.after["provider"])
            note = f"保单已退保终止，退保金{payout.amount}元将支付至{payout.payee_masked}"
        return await transition(
            endorsement,
            actor,
            to=S.EFFECTIVE,
            action="effect",
            note=note,
            effective_date=local_today(),
            effective_at=datetime.now(UTC),
        )


def _reason(reason: str | None, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise EndorsementError(EndorsementErrorCode.REQUIRED, "请说明原因", "reason")
    if len(text) > REASON_LIMIT:
        raise EndorsementError(
            EndorsementErrorCode.TOO_LONG, f"原因不能超过{REASON_LIMIT}个字", "reason"
        )
    return text


async def consent(
    pii: PiiCipher,
    actor: Actor,
    endorsement_id: uuid.UUID,
    agree: bool,
    expected_version: int | None = None,
) -> Endorsement:
    """The insured agrees (the change is approved and takes effect) or refuses (it is
    rejected); recorded with who and when."""
    endorsement = await load_endorsement(actor, endorsement_id, EndorsementAction.CONSENT)
    not_stale(endorsement, expected_version)
    if not endorsement.consent_required or endorsement.status is not S.REQUESTED:
        raise EndorsementError(
            EndorsementErrorCode.CONSENT_NOT_REQUIRED, "该批单无需您的同意", "endorsementId"
        )
    policy = await Policy.get(id=endorsement.policy_id).only("id", "holder_id")
    if policy.holder_id == actor.subject_id:
        raise EndorsementError(
            EndorsementErrorCode.NOT_ALLOWED, "须由被保险人本人同意", "endorsementId"
        )
    now = datetime.now(UTC)
    if not agree:
        return await transition(
            endorsement,
            actor,
            to=S.REJECTED,
            action="consent_refused",
            note="被保险人不同意此项变更",
            expected_version=expected_version,
            reason="被保险人不同意",
        )
    async with in_transaction():
        endorsement = await transition(
            endorsement,
            actor,
            to=S.APPROVED,
            action="consent",
            note="被保险人已同意此项变更",
            expected_version=expected_version,
            consented_at=now,
            consented_by=actor.subject_id,
        )
        return await _take_effect(pii, endorsement, None)


async def approve(
    pii: PiiCipher,
    actor: Actor,
    endorsement_id: uuid.UUID,
    expected_version: int,
    reason: str | None,
) -> Endorsement:
    """Staff (POLICY_SERVICE) approve a change in review; it takes effect at once. A
    beneficiary change referred for the insured's written consent records that staff
    checked it."""
    endorsement = await load_endorsement(actor, endorsement_id, EndorsementAction.REVIEW)
    text = _reason(reason, required=endorsement.consent_required)
    updates: dict[str, Any] = {"reviewed_by": actor.subject_id, "reason": text}
    if endorsement.consent_required:
        updates |= {"consented_at": datetime.now(UTC), "consented_by": actor.subject_id}
    not_stale(endorsement, expected_version)
    if endorsement.status is not S.NEEDS_REVIEW:
        raise EndorsementError(
            EndorsementErrorCode.ILLEGAL_TRANSITION, "该批单不在待审核状态", "endorsementId"
        )
    async with in_transaction():
        endorsement = await transition(
            endorsement,
            actor,
            to=S.APPROVED,
            action="approve",
            note=f"审核通过：{text}" if text else "审核通过",
            expected_version=expected_version,
            **updates,
        )
        if endorsement.type is T.REINSTATEMENT:
            # Effective when paid: one installment of the overdue premiums and interest.
            await Policy.filter(id=endorsement.policy_id).select_for_update().get()
            installment = await reinstatement.add_installment(endorsement)
            await add_to_timeline(
                endorsement,
                actor,
                "premium_due",
                S.APPROVED,
                S.APPROVED,
                f"请缴纳复效保费{installment.amount}元，缴费后保单恢复有效",
            )
            return endorsement
        if endorsement.type is T.SUM_INSURED:  # an increase: its difference is asked
            return await sum_insured.approved(endorsement, actor)
        return await _take_effect(pii, endorsement, actor)


async def reject(
    actor: Actor, endorsement_id: uuid.UUID, expected_version: int, reason: str | None
) -> Endorsement:
    """Staff (POLICY_SERVICE) reject a change in review, with the reason told."""
    endorsement = await load_endorsement(actor, endorsement_id, EndorsementAction.REVIEW)
    text = _reason(reason, required=True)
    not_stale(endorsement, expected_version)
    if endorsement.status is not S.NEEDS_REVIEW:
        raise EndorsementError(
            EndorsementErrorCode.ILLEGAL_TRANSITION, "该批单不在待审核状态", "endorsementId"
        )
    return await transition(
        endorsement,
        actor,
        to=S.REJECTED,
        action="reject",
        note=f"审核未通过：{text}",
        expected_version=expected_version,
        reviewed_by=actor.subject_id,
        reason=text,
    )


async def cancel(
    actor: Actor, endorsement_id: uuid.UUID, expected_version: int | None = None
) -> Endorsement:
    """The holder who asked withdraws the change before it is approved."""
    endorsement = await load_endorsement(actor, endorsement_id, EndorsementAction.CANCEL)
    not_stale(endorsement, expected_version)
    if endorsement.status not in CANCELLABLE:
        raise EndorsementError(
            EndorsementErrorCode.ILLEGAL_TRANSITION,
            "该批单已批准或已结束，不能撤销",
            "endorsementId",
        )
    async with in_transaction():
        endorsement = await transition(
            endorsement,
            actor,
            to=S.CANCELLED,
            action="cancel",
            note="投保人撤销了申请",
            expected_version=expected_version,
        )
        if endorsement.type is T.PAYMENT_ACCOUNT:  # an agreement not signed yet: abandoned
            await payment_account.abandon_agreements(endorsement)
        return endorsement


def review_queue() -> QuerySet[Endorsement]:
    """What waits for staff, the oldest first."""
    return Endorsement.filter(status=S.NEEDS_REVIEW).order_by("created_at")
