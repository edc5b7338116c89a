"""Steps of the claim journey as customers and adjusters meet them (issue 12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimEvent, ClaimLine, ClaimStatus, ReportChannel
from models.customers import Customer
from models.notifications import OutboxEvent
from models.payout_accounts import PayoutAccount
from models.policies import Coverage, Policy
from models.staff import StaffRole
from tests.factories import (
    chosen_account,
    make_claim,
    make_customer,
    make_policy,
    make_product,
    make_staff,
)
from workflows import claims
from workflows.access import Actor

LIMIT = Decimal("50000")


async def _under_review(services: Services, **fields: object) -> tuple[Claim, Coverage, Actor]:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW, **fields)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    actor = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.ADJUSTER)
    return claim, await Coverage.get(policy_id=policy.id), actor


def _line(coverage: Coverage, amount: str) -> claims.DecisionLine:
    return claims.DecisionLine(coverage.id, Decimal(amount), Decimal(amount), "按发票核定")


async def test_a_decision_is_announced_once_as_paying(services: Services) -> None:
    claim, coverage, adjuster = await _under_review(services)
    before = await OutboxEvent.filter(entity_id=str(claim.id)).count()
    decided = await claims.decide_claim(
        adjuster, claim.id, [_line(coverage, "2500")], claim.version, authority_limit=LIMIT
    )
    assert decided.status is ClaimStatus.PAYING
    events = await OutboxEvent.filter(entity_id=str(claim.id)).offset(before)
    assert [(e.event_type, e.payload["status"]) for e in events] == [("claim.decided", "PAYING")]


async def test_the_decision_asks_for_an_account_when_none_is_on_file(
    services: Services,
) -> None:
    without, coverage, adjuster = await _under_review(services)
    await claims.decide_claim(
        adjuster, without.id, [_line(coverage, "2500")], without.version, authority_limit=LIMIT
    )
    chosen, coverage, adjuster = await _under_review(
        services, **chosen_account(services, "sandbox", "acct-1")
    )
    await claims.decide_claim(
        adjuster, chosen.id, [_line(coverage, "2500")], chosen.version, authority_limit=LIMIT
    )
    asks = {
        claim.id: (
            await OutboxEvent.get(entity_id=str(claim.id), event_type="claim.decided")
        ).payload["decision"]
        for claim in (without, chosen)
    }
    assert asks[without.id] == "同意赔付2000.00元，请在App中选择收款账户"
    assert asks[chosen.id] == "同意赔付2000.00元"


def _report(policy: Policy, channel: ReportChannel) -> claims.LossReport:
    return claims.LossReport(
        policy_id=policy.id,
        loss_type="COLLISION",
        loss_at=datetime.now(UTC) - timedelta(hours=2),
        location="上海市浦东新区",
        description="追尾",
        channel=channel,
        contact_name="张伟",
        contact_phone="13800000001",
    )


async def test_a_phone_report_tells_the_customer_by_sms_what_to_upload(
    services: Services,
) -> None:
    from push.templates import TEMPLATES

    customer = await make_customer(services)
    product = await make_product()
    photos = {"code": "D01", "name": "事故现场照片", "required": True}
    product.loss_types = [{"code": "COLLISION", "name": "碰撞", "documents": [photos]}]
    await product.save()
    policy = await make_policy(services, customer, product=product)
    agent = await make_staff(StaffRole.AGENT)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=agent.id, role=StaffRole.AGENT)
    outcome = await claims.report_loss(
        services.pii, staff, _report(policy, ReportChannel.PHONE), on_behalf_of=customer.id
    )
    assert outcome.claim is not None
    assert outcome.next_steps[0] == "报案号和材料清单已通过短信发送给客户"
    event = await OutboxEvent.get(entity_id=str(outcome.claim.id))
    assert event.event_type == "claim.reported_by_staff"
    assert TEMPLATES[event.event_type].sms
    text = TEMPLATES[event.event_type].body.format(**event.payload)
    assert text == (
        f"您的报案{outcome.claim.report_number}已受理。请在安心App或小程序“我的理赔”中上传："
        "事故现场照片；也可到柜面提交。"
    )


async def test_the_hotline_is_a_setting_and_no_number_is_made_up(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
    report = _report(policy, ReportChannel.APP)
    plain = await claims.report_loss(services.pii, me, report, dry_run=True)
    assert plain.next_steps[-1] == "如需帮助可在“我的理赔”中联系客服"
    named = await claims.report_loss(services.pii, me, report, dry_run=True, hotline="400-820-0000")
    assert named.next_steps[-1] == "如需帮助请致电客服热线400-820-0000"


async def test_the_archive_shows_beijing_times(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    loss_at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 07:30 the next day in Beijing
    claim = await make_claim(
        customer, policy, ClaimStatus.CLOSED, loss_at=loss_at, closed_at=loss_at
    )
    await ClaimEvent.create(
        claim_id=claim.id,
        actor_kind="staff",
        action="close",
        from_status=ClaimStatus.PAID,
        to_status=ClaimStatus.CLOSED,
        note="案件已结案",
    )
    reader = await make_staff(StaffRole.ADJUSTER)
    actor = Actor(kind=SubjectKind.STAFF, subject_id=reader.id, role=StaffRole.ADJUSTER)
    archived = await claims.archive(actor, claim.id)
    assert archived["claim"]["lossAt"] == "2026-11-21T07:30:00+08:00"
    assert archived["claim"]["closedAt"] == "2026-11-21T07:30:00+08:00"
    assert archived["timeline"][0]["at"].endswith("+08:00")


async def test_staff_submit_for_the_customer_only_with_their_consent_recorded(
    services: Services,
) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.REPORTED, channel=ReportChannel.PHONE)
    agent = await make_staff(StaffRole.AGENT)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=agent.id, role=StaffRole.AGENT)
    in_the_app = await make_claim(customer, policy, ClaimStatus.REPORTED)
    with pytest.raises(claims.ClaimError) as own_report:
        await claims.submit_claim(staff, in_the_app.id, None, consent="客户同意")
    assert own_report.value.code is claims.ClaimErrorCode.NOT_ALLOWED  # the customer's own
    with pytest.raises(claims.ClaimError) as refused:
        await claims.submit_claim(staff, claim.id, None)
    assert (refused.value.code, refused.value.field) == (
        claims.ClaimErrorCode.REQUIRED,
        "customerConsent",
    )
    consent = "客户张伟12月1日来电口头同意"
    submitted = await claims.submit_claim(staff, claim.id, None, consent=consent)
    assert submitted.status is ClaimStatus.SUBMITTED
    entry = await ClaimEvent.filter(claim_id=claim.id, action="submit").get()
    assert (entry.actor_kind, entry.note) == (
        "staff",
        f"经客户同意，由工作人员代为提交（{consent}），等待审核",
    )
    adjuster = await make_staff(StaffRole.ADJUSTER)
    reviewer = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.ADJUSTER)
    other = await make_claim(customer, policy, ClaimStatus.REPORTED, channel=ReportChannel.PHONE)
    with pytest.raises(claims.ClaimError) as not_theirs:
        await claims.submit_claim(reviewer, other.id, None, consent=consent)
    assert not_theirs.value.code is claims.ClaimErrorCode.NOT_ALLOWED


async def test_every_checklist_has_a_catch_all_and_asked_items_stay_missing(
    services: Services,
) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.MORE_INFO_REQUESTED,
        more_info_items=["维修厂定损单"],
    )
    checklist = await claims.claim_checklist(claim)
    assert checklist[-1] == {"code": "OTHER", "name": "其他材料", "required": False}
    assert await claims.missing_documents(claim, checklist) == ["维修厂定损单"]
    assert claims.still_missing(claim, checklist, ["OTHER"]) == ["维修厂定损单"]
    claim.status = ClaimStatus.UNDER_REVIEW  # the customer answered the request
    assert claims.still_missing(claim, checklist, []) == []


async def _proposal_above_the_limit(services: Services) -> tuple[Claim, Actor]:
    claim, coverage, adjuster = await _under_review(services)
    proposed = await claims.decide_claim(
        adjuster, claim.id, [_line(coverage, "80000")], claim.version, authority_limit=LIMIT
    )
    assert proposed.pending_approval
    return proposed, adjuster


async def test_a_proposal_shows_no_amount_until_a_supervisor_approves_it(
    services: Services,
) -> None:
    proposed, _ = await _proposal_above_the_limit(services)
    assert proposed.approved_amount == Decimal(0)  # the customer sees no amount yet
    boss = await make_staff(StaffRole.SUPERVISOR)
    supervisor = Actor(kind=SubjectKind.STAFF, subject_id=boss.id, role=StaffRole.SUPERVISOR)
    approved = await claims.approve_pending_decision(supervisor, proposed.id, proposed.version)
    assert (approved.status, approved.approved_amount) == (ClaimStatus.PAYING, Decimal("79500"))


async def test_a_proposal_ends_when_the_claim_leaves_review(services: Services) -> None:
    proposed, adjuster = await _proposal_above_the_limit(services)
    asked = await claims.request_more_info(
        adjuster, proposed.id, ["维修厂定损单"], "需核实维修金额", proposed.version
    )
    assert not asked.pending_approval
    assert await ClaimLine.filter(claim_id=proposed.id).count() == 0
    boss = await make_staff(StaffRole.SUPERVISOR)
    supervisor = Actor(kind=SubjectKind.STAFF, subject_id=boss.id, role=StaffRole.SUPERVISOR)
    with pytest.raises(claims.ClaimError) as stale:
        await claims.approve_pending_decision(supervisor, proposed.id, asked.version)
    assert stale.value.code is claims.ClaimErrorCode.NO_PENDING_DECISION


async def test_a_turned_down_proposal_leaves_the_chosen_account_to_be_paid(
    services: Services,
) -> None:
    from models.payments import Payout, PayoutStatus
    from workflows.payments import payouts

    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.PAYING,
        approved_amount=Decimal(800),
        **chosen_account(services, "sandbox", "13912345678"),
    )
    boss = await make_staff(StaffRole.SUPERVISOR)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=boss.id, role=StaffRole.SUPERVISOR)
    providers, pii = services.transfer_providers, services.pii
    url = services.settings.public_base_url
    await payouts.start_payout(
        providers,
        pii,
        staff,
        claim.id,
        notify_base_url=url,
        other_account=PayoutAccount("sandbox", "13700000000"),
        reason="客户来电要求改付配偶账户",
    )
    await payouts.cancel_payout(staff, claim.id, "未能核实")
    assert await payouts.start_chosen_payouts(providers, pii, notify_base_url=url) == 1
    paid = await Payout.exclude(status=PayoutStatus.CANCELLED).get(claim_id=claim.id)
    assert PayoutAccount.unseal(pii, "sandbox", paid.payee_encrypted).account == "13912345678"


async def test_a_family_policy_names_whom_the_loss_befell_and_the_checklist_follows(
    services: Services,
) -> None:
    from models.policies import InsuredPerson
    from tests.factories import id_number

    holder = await make_customer(services, "张伟")
    child = await make_customer(services, "张小明")
    policy = await make_policy(services, holder, insured=[holder, child])
    minor = services.pii.seal_id_number(id_number("110101", "20150601", "123"))
    await InsuredPerson.filter(policy_id=policy.id, customer_id=child.id).update(
        id_number_encrypted=minor.encrypted, id_number_masked=minor.masked
    )
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    report = _report(policy, ReportChannel.APP)
    with pytest.raises(claims.ClaimError) as unnamed:
        await claims.report_loss(services.pii, me, report, dry_run=True)
    assert (unnamed.value.code, unnamed.value.field) == (
        claims.ClaimErrorCode.REQUIRED,
        "insuredPersonId",
    )
    elsewhere = await make_policy(services, holder)
    stranger = await InsuredPerson.get(policy_id=elsewhere.id)
    with pytest.raises(claims.ClaimError) as foreign:
        await claims.report_loss(
            services.pii, me, replace(report, insured_person_id=stranger.id), dry_run=True
        )
    assert foreign.value.code is claims.ClaimErrorCode.INSURED_PERSON_NOT_FOUND
    for_child = await InsuredPerson.get(policy_id=policy.id, customer_id=child.id)
    outcome = await claims.report_loss(
        services.pii, me, replace(report, insured_person_id=for_child.id)
    )
    assert outcome.claim is not None and outcome.claim.insured_person_id == for_child.id
    asked = [d["code"] for d in outcome.checklist]
    assert asked == ["INSURED_ID", "RELATION", "GUARDIAN", "OTHER"]
    assert await claims.claim_checklist(outcome.claim) == outcome.checklist
    for_me = await InsuredPerson.get(policy_id=policy.id, customer_id=holder.id)
    own = await claims.report_loss(
        services.pii, me, replace(report, insured_person_id=for_me.id), dry_run=True
    )
    assert [d["code"] for d in own.checklist] == ["OTHER"]


async def test_the_insured_is_paid_and_the_holder_for_a_minor(services: Services) -> None:
    from models.policies import InsuredPerson
    from tests.factories import id_number
    from workflows.payments.accounts import AccountChoice, choose_payout_account

    holder = await make_customer(services, "张伟")
    spouse = await make_customer(services, "李娜")
    child = await make_customer(services, "张小明")
    policy = await make_policy(services, holder, insured=[holder, spouse, child])
    minor = services.pii.seal_id_number(id_number("110101", "20150601", "123"))
    await InsuredPerson.filter(policy_id=policy.id, customer_id=child.id).update(
        id_number_encrypted=minor.encrypted, id_number_masked=minor.masked
    )
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    wife = Actor(kind=SubjectKind.CUSTOMER, subject_id=spouse.id)

    async def report_for(person: Customer) -> Claim:
        insured = await InsuredPerson.get(policy_id=policy.id, customer_id=person.id)
        outcome = await claims.report_loss(
            services.pii,
            me,
            replace(_report(policy, ReportChannel.APP), insured_person_id=insured.id),
        )
        assert outcome.claim is not None
        return outcome.claim

    for_spouse = await report_for(spouse)
    assert for_spouse.payee_id == spouse.id  # the holder reported; the money is hers
    with pytest.raises(claims.ClaimError) as not_his:
        await choose_payout_account(
            services.transfer_providers,
            services.pii,
            me,
            for_spouse.id,
            AccountChoice("sandbox", "13900000000"),
        )
    assert not_his.value.code is claims.ClaimErrorCode.NOT_ALLOWED
    chosen = await choose_payout_account(
        services.transfer_providers,
        services.pii,
        wife,
        for_spouse.id,
        AccountChoice("sandbox", "13912345678"),
    )
    assert chosen.payout_account_masked == "测试账户 139****5678"
    notice = await OutboxEvent.get(
        entity_id=str(for_spouse.id), event_type="claim.payout_account_changed"
    )
    assert notice.customer_id == spouse.id
    for_child = await report_for(child)
    assert for_child.payee_id == holder.id  # a minor's money goes to the holder


async def test_whom_to_pay_when_the_insured_cannot_choose(services: Services) -> None:
    """A death benefit goes to whoever claims it (beneficiary shares are not built yet);
    an adult insured without an account, or an age that cannot be read, is left to staff:
    no customer chooses where that money goes."""
    from models.policies import InsuredPerson
    from tests.factories import make_product

    holder = await make_customer(services, "张伟")
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    product = await make_product()
    product.loss_types = [
        {"code": "COLLISION", "name": "碰撞", "documents": []},
        {"code": "DEATH", "name": "身故", "documents": [], "payee": "BENEFICIARIES"},
    ]
    await product.save()
    policy = await make_policy(services, holder, product=product)
    father = await InsuredPerson.get(policy_id=policy.id)
    await InsuredPerson.filter(id=father.id).update(customer_id=None, name="张建国")
    report = replace(_report(policy, ReportChannel.APP), insured_person_id=father.id)
    no_account = await claims.report_loss(services.pii, me, report)
    assert no_account.claim is not None and no_account.claim.payee_id is None
    assert claims.payee_of(no_account.claim) is None  # staff find out whom to pay
    death = await claims.report_loss(services.pii, me, replace(report, loss_type="DEATH"))
    # Paid to beneficiaries, and none is named (heirs by law): staff establish them.
    assert death.claim is not None and death.claim.payee_id is None
    assert not death.claim.pays_shares and claims.payee_of(death.claim) is None
    old_style = services.pii.seal_id_number("110105800112123")  # 15 digits: born 1980
    await InsuredPerson.filter(id=father.id).update(
        customer_id=holder.id, id_number_encrypted=old_style.encrypted
    )
    adult = await claims.report_loss(
        services.pii, me, replace(report, loss_at=report.loss_at + timedelta(minutes=1))
    )
    assert adult.claim is not None and adult.claim.payee_id == holder.id
    assert "GUARDIAN" not in [d["code"] for d in adult.checklist]
    passport = services.pii.seal_id_number("E12345678")
    await InsuredPerson.filter(id=father.id).update(id_number_encrypted=passport.encrypted)
    unknown = await claims.report_loss(
        services.pii, me, replace(report, loss_at=report.loss_at + timedelta(minutes=2))
    )
    assert unknown.claim is not None and unknown.claim.payee_id is None


async def test_the_payee_is_asked_for_an_account_and_told_of_the_payment(
    services: Services,
) -> None:
    from models.policies import InsuredPerson

    holder = await make_customer(services, "张伟")
    spouse = await make_customer(services, "李娜")
    policy = await make_policy(services, holder, insured=[holder, spouse])
    her = await InsuredPerson.get(policy_id=policy.id, customer_id=spouse.id)
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    outcome = await claims.report_loss(
        services.pii, me, replace(_report(policy, ReportChannel.APP), insured_person_id=her.id)
    )
    assert outcome.claim is not None
    await Claim.filter(id=outcome.claim.id).update(status=ClaimStatus.UNDER_REVIEW)
    claim = await Claim.get(id=outcome.claim.id)
    coverage = await Coverage.get(policy_id=policy.id)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.ADJUSTER)
    await claims.decide_claim(
        staff, claim.id, [_line(coverage, "2500")], claim.version, authority_limit=LIMIT
    )
    told = {
        e.customer_id: e.payload["decision"]
        for e in await OutboxEvent.filter(entity_id=str(claim.id), event_type="claim.decided")
    }
    assert told == {
        holder.id: "同意赔付2000.00元",  # the claimant: told, not asked
        spouse.id: "同意赔付2000.00元，请在App中选择收款账户",  # the payee: asked
    }
