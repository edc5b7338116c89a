"""Staff change whose money a claim is: to an insured person who linked an account after
the report, or to the policyholder; every refusal changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimEvent, ClaimStatus, ReportChannel
from models.customers import Customer
from models.notifications import OutboxEvent
from models.payout_accounts import PayoutAccount
from models.policies import InsuredPerson, Policy
from models.staff import StaffRole
from push.templates import TEMPLATES
from tests.factories import make_claim, make_customer, make_policy, make_product, make_staff
from workflows import claims
from workflows.access import Actor
from workflows.payments import payouts
from workflows.payments.accounts import AccountChoice, choose_payout_account

REASON = "被保险人已于12月3日注册并关联账户，经本人来电确认"
Code = claims.ClaimErrorCode


@dataclass
class LeftToStaff:
    """张伟 reported a loss of his father 张建国, who had no account: no payee yet."""

    claim: Claim
    policy: Policy
    holder: Customer
    person: InsuredPerson


async def left_to_staff(services: Services) -> LeftToStaff:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder, product=await make_product())
    person = await InsuredPerson.get(policy_id=policy.id)
    await InsuredPerson.filter(id=person.id).update(customer_id=None, name="张建国")
    report = claims.LossReport(
        policy_id=policy.id,
        loss_type="COLLISION",
        loss_at=datetime.now(UTC) - timedelta(hours=2),
        location="上海市浦东新区",
        description="追尾",
        channel=ReportChannel.APP,
        contact_name="张伟",
        contact_phone="13800000001",
        insured_person_id=person.id,
    )
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    outcome = await claims.report_loss(services.pii, me, report)
    assert outcome.claim is not None and claims.payee_of(outcome.claim) is None
    return LeftToStaff(outcome.claim, policy, holder, person)


async def paying(claim: Claim) -> Claim:
    """The claim approved and waiting for its money (the decision is tested elsewhere)."""
    await Claim.filter(id=claim.id).update(
        status=ClaimStatus.PAYING, approved_amount=Decimal(800), decided_at=datetime.now(UTC)
    )
    return await Claim.get(id=claim.id)


async def staff(role: StaffRole = StaffRole.SUPERVISOR) -> Actor:
    member = await make_staff(role)
    return Actor(kind=SubjectKind.STAFF, subject_id=member.id, role=role)


def customer(person: Customer) -> Actor:
    return Actor(kind=SubjectKind.CUSTOMER, subject_id=person.id)


def told(event: OutboxEvent) -> str:
    return TEMPLATES[event.event_type].body.format(**event.payload)


async def choose(services: Services, who: Customer, claim: Claim, account: str) -> Claim:
    return await choose_payout_account(
        services.transfer_providers,
        services.pii,
        customer(who),
        claim.id,
        AccountChoice("sandbox", account),
    )


async def test_staff_pay_the_insured_who_linked_an_account_then_the_holder(
    services: Services,
) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    father = await make_customer(services, "张建国")
    await InsuredPerson.filter(id=case.person.id).update(customer_id=father.id)  # linked later
    supervisor = await staff()

    changed = await claims.change_payee(
        supervisor, claim.id, claims.PayTo.INSURED, f"  {REASON} ", claim.version
    )
    assert (changed.payee_id, changed.version) == (father.id, claim.version + 1)
    assert changed.status is ClaimStatus.PAYING
    step = await ClaimEvent.get(claim_id=claim.id, action="change_payee")
    assert (step.actor_kind, step.actor_id) == ("staff", supervisor.subject_id)
    assert step.note == f"收款人已变更为被保险人。原因：{REASON}"
    [notice] = await OutboxEvent.filter(entity_id=str(claim.id), event_type="claim.payee_changed")
    assert notice.customer_id == father.id  # no one was the payee before: no one else told
    assert told(notice) == (
        f"理赔{claim.report_number}的收款人已变更，赔款将支付给您，请在App中选择收款账户。"
    )

    # The new payee chooses where the money goes; the claimant, who is not paid, cannot.
    chosen = await choose(services, father, changed, "13912345678")
    assert chosen.payout_account_masked == "测试账户 139****5678"
    with pytest.raises(claims.ClaimError) as not_his:
        await choose(services, case.holder, changed, "13700000000")
    assert not_his.value.code is Code.NOT_ALLOWED

    # The father asks that his son be paid: his own account is dropped with him.
    moved = await claims.change_payee(
        supervisor,
        claim.id,
        claims.PayTo.POLICYHOLDER,
        "被保险人来电要求赔款付给投保人",
        chosen.version,
    )
    assert (moved.payee_id, moved.payout_provider, moved.payout_account_encrypted) == (
        case.holder.id,
        None,
        None,
    )
    assert claims.roles_of(customer(case.holder), moved, case.holder.id) == {
        claims.ClaimRole.CLAIMANT,
        claims.ClaimRole.HOLDER,
        claims.ClaimRole.PAYEE,
    }
    second = await OutboxEvent.filter(
        entity_id=str(claim.id), event_type="claim.payee_changed"
    ).offset(1)
    assert {e.customer_id: told(e) for e in second} == {
        case.holder.id: (
            f"理赔{claim.report_number}的收款人已变更，赔款将支付给您，请在App中选择收款账户。"
        ),
        father.id: (
            f"理赔{claim.report_number}的收款人已变更，赔款将不再支付给您，您设置的收款账户已作废。"
            "如有疑问，请联系客服。"
        ),
    }
    with pytest.raises(claims.ClaimError) as no_longer:
        await choose(services, father, moved, "13912345678")
    assert no_longer.value.code is Code.CLAIM_NOT_FOUND  # nothing of his left to see
    assert (await choose(services, case.holder, moved, "13700000000")).payout_account_masked


async def test_a_new_payee_reads_nothing_of_the_former_payees_account(
    services: Services,
) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    father = await make_customer(services, "张建国")
    await InsuredPerson.filter(id=case.person.id).update(customer_id=father.id)
    supervisor = await staff()
    claim = await claims.change_payee(
        supervisor, claim.id, claims.PayTo.INSURED, REASON, claim.version
    )
    claim = await choose(services, father, claim, "13912345678")
    claim = await claims.change_payee(
        supervisor, claim.id, claims.PayTo.POLICYHOLDER, "应被保险人要求", claim.version
    )
    events = await ClaimEvent.filter(claim_id=claim.id).order_by("created_at")

    def seen_by(actor: Actor) -> list[str]:
        return [e.action for e in claims.timeline_for(actor, claim, events)]

    assert seen_by(supervisor).count("change_payee") == 2
    assert "choose_payout_account" in seen_by(supervisor)
    holder_now_payee = seen_by(customer(case.holder))
    assert "choose_payout_account" not in holder_now_payee  # the father's account
    assert holder_now_payee[-1] == "change_payee"  # the step that made him the payee
    assert holder_now_payee.count("change_payee") == 1
    assert claims.payee_since(events) == events[-1].created_at
    # A claimant who is not the payee reads neither who is paid nor where.
    claim = await claims.change_payee(
        supervisor, claim.id, claims.PayTo.INSURED, "投保人撤回请求", claim.version
    )
    events = await ClaimEvent.filter(claim_id=claim.id).order_by("created_at")
    assert not {"change_payee", "choose_payout_account"} & set(seen_by(customer(case.holder)))


async def test_the_payee_is_told_to_choose_only_once_money_is_decided(
    services: Services,
) -> None:
    case = await left_to_staff(services)
    claim = case.claim  # just reported
    await claims.change_payee(
        await staff(), claim.id, claims.PayTo.POLICYHOLDER, REASON, claim.version
    )
    notice = await OutboxEvent.get(entity_id=str(claim.id), event_type="claim.payee_changed")
    assert notice.customer_id == case.holder.id
    assert notice.payload["change"] == "赔款将支付给您"  # asked for an account at the decision


async def test_only_staff_who_pay_claims_change_the_payee(services: Services) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    for who, code in [
        (await staff(StaffRole.ADJUSTER), Code.NOT_ALLOWED),  # decides amounts, not payees
        (customer(case.holder), Code.NOT_ALLOWED),  # the claimant and holder
        (customer(await make_customer(services, "赵强")), Code.CLAIM_NOT_FOUND),
    ]:
        with pytest.raises(claims.ClaimError) as refused:
            await claims.change_payee(who, claim.id, claims.PayTo.POLICYHOLDER, REASON, 2)
        assert refused.value.code is code
    after = await Claim.get(id=claim.id)
    assert (after.payee_id, after.version) == (None, claim.version)


Change = Callable[[Claim], Awaitable[Claim]]


async def refused(
    claim: Claim, change: Change, code: claims.ClaimErrorCode, field: str | None
) -> None:
    """``change`` is refused with ``code`` on ``field`` and leaves everything as it was."""
    before = await Claim.get(id=claim.id)
    steps = await ClaimEvent.filter(claim_id=claim.id).count()
    events = await OutboxEvent.filter(entity_id=str(claim.id)).count()
    with pytest.raises(claims.ClaimError) as error:
        await change(before)
    assert (error.value.code, error.value.field) == (code, field)
    after = await Claim.get(id=claim.id)
    assert (after.version, after.payee_id, after.status) == (
        before.version,
        before.payee_id,
        before.status,
    )
    assert (after.payout_provider, after.payout_account_encrypted) == (
        before.payout_provider,
        before.payout_account_encrypted,
    )
    assert await ClaimEvent.filter(claim_id=claim.id).count() == steps
    assert await OutboxEvent.filter(entity_id=str(claim.id)).count() == events


def to(pay_to: claims.PayTo, reason: str = REASON, version: int | None = None) -> Change:
    async def change(claim: Claim) -> Claim:
        actor = Actor(kind=SubjectKind.STAFF, subject_id=uuid.uuid4(), role=StaffRole.SUPERVISOR)
        expected = claim.version if version is None else version
        return await claims.change_payee(actor, claim.id, pay_to, reason, expected)

    return change


async def test_bad_input_and_a_stale_version_change_nothing(services: Services) -> None:
    claim = await paying((await left_to_staff(services)).claim)
    holder = claims.PayTo.POLICYHOLDER
    await refused(claim, to(holder, reason="   "), Code.REQUIRED, "reason")
    await refused(claim, to(holder, reason="因" * 501), Code.TOO_LONG, "reason")
    await refused(claim, to(holder, version=claim.version - 1), Code.CONFLICT, "expectedVersion")
    done = await to(holder, reason="因" * 500)(claim)
    assert done.payee_id is not None


async def test_an_insured_without_an_account_cannot_be_made_the_payee(
    services: Services,
) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    await refused(claim, to(claims.PayTo.INSURED), Code.PAYEE_HAS_NO_ACCOUNT, "payTo")
    # A claim from before insured persons were named has no insured to pay.
    old_style = await make_claim(case.holder, case.policy, ClaimStatus.PAYING)
    await refused(old_style, to(claims.PayTo.INSURED), Code.PAYEE_HAS_NO_ACCOUNT, "payTo")


async def test_the_same_payee_again_is_refused(services: Services) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    claim = await to(claims.PayTo.POLICYHOLDER)(claim)
    await refused(claim, to(claims.PayTo.POLICYHOLDER), Code.PAYEE_UNCHANGED, "payTo")
    # Its claimant is already paid for a claim from before payees: nothing would change.
    old_style = await make_claim(case.holder, case.policy, ClaimStatus.PAYING)
    await refused(old_style, to(claims.PayTo.POLICYHOLDER), Code.PAYEE_UNCHANGED, "payTo")


@pytest.mark.parametrize(
    "status",
    [ClaimStatus.PAID, ClaimStatus.CLOSED, ClaimStatus.WITHDRAWN, ClaimStatus.REJECTED],
)
async def test_a_settled_claim_keeps_its_payee(services: Services, status: ClaimStatus) -> None:
    case = await left_to_staff(services)
    await Claim.filter(id=case.claim.id).update(status=status)
    await refused(case.claim, to(claims.PayTo.POLICYHOLDER), Code.ILLEGAL_TRANSITION, "claimId")


async def test_a_live_payout_keeps_the_payee_until_it_ends(services: Services) -> None:
    case = await left_to_staff(services)
    claim = await paying(case.claim)
    supervisor = await staff()
    providers, url = services.transfer_providers, services.settings.public_base_url
    await payouts.start_payout(
        providers,
        services.pii,
        supervisor,
        claim.id,
        notify_base_url=url,
        other_account=PayoutAccount("sandbox", "13700000000"),
        reason="被保险人无账户，经核实付至其本人银行卡对应账户",
    )  # waits for a second person's approval: live, and holding the claim's money
    claim = await Claim.get(id=claim.id)
    await refused(claim, to(claims.PayTo.POLICYHOLDER), Code.PAYOUT_IN_PROGRESS, "claimId")
    await payouts.cancel_payout(await staff(), claim.id, "改为支付给投保人")
    changed = await to(claims.PayTo.POLICYHOLDER)(await Claim.get(id=claim.id))
    assert changed.payee_id == case.holder.id
