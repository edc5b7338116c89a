"""Putting a complaint right: a resolution with an apology, a claim re-review that
reopens the claim, a goodwill payment that goes out through the payout worker and a fee
refund through the refund worker, approved by a second person; the answer states them;
closure requires the root cause, tracked until its corrective action is done; an
unhappy complaint survey opens a recovery task the complaint shows; two supervisors
approving at once on PostgreSQL pay once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimEvent, ClaimStatus, RejectionReason
from models.complaint_remedies import (
    ComplaintRemedy,
    ComplaintRootCause,
    RemedyKind,
    ResolutionStatus,
    RootCauseCategory,
)
from models.complaints import Complaint, ComplaintChannel, ComplaintEvent, ComplaintStatus
from models.customers import Customer
from models.notifications import OutboxEvent
from models.payments import (
    LedgerEntry,
    LedgerKind,
    OrderStatus,
    PaymentOrder,
    Payout,
    PayoutStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from models.policies import Policy, PremiumInstallment
from models.staff import StaffRole
from models.surveys import RecoveryTask, SurveyInvitation
from tests.conftest import postgres_only
from tests.factories import chosen_account, make_claim, make_customer, make_policy, make_staff
from tests.workflows.test_complaints import as_customer, as_staff, refused
from workflows import claims, surveys
from workflows.access import Actor
from workflows.complaints import handling, intake, remedies, root_causes
from workflows.complaints.intake import Subjects
from workflows.complaints.remedies import RemedyInput
from workflows.complaints.rules import ComplaintError, ComplaintErrorCode
from workflows.payments.payouts import follow_up_payouts, send_queued_payouts
from workflows.payments.refunds import follow_up_refunds

E = ComplaintErrorCode
R = RemedyKind
S = ComplaintStatus
URL = "http://127.0.0.1"
LIMIT = Decimal("500.00")
_serial = count(1)


async def paid_order(customer: Customer, policy: Policy) -> PaymentOrder:
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=1)
    return await PaymentOrder.create(
        order_number=f"PO{next(_serial):012d}R",
        customer=customer,
        policy=policy,
        installment=installment,
        provider="sandbox",
        method="SANDBOX",
        amount=installment.amount,
        status=OrderStatus.PAID,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
        paid_at=datetime.now(UTC),
    )


async def in_progress(services: Services, customer: Customer, **subjects: object) -> Complaint:
    """A complaint of ``customer`` handled by an agent (returned as ``handler_id``)."""
    complaint = await intake.file_complaint(
        as_customer(customer), ComplaintChannel.APP, "理赔被拒，理由不成立", Subjects(**subjects)
    )
    agent = await make_staff(StaffRole.AGENT)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    complaint = await handling.assign(boss, complaint.id, complaint.version, agent.id)
    return await handling.respond(as_staff(agent), complaint.id, complaint.version, "已致电")


async def test_a_complaint_walk_reopens_the_claim_and_pays_goodwill(services: Services) -> None:
    customer = await make_customer(services, "张伟")
    policy = await make_policy(services, customer)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.REJECTED,
        assignee_id=adjuster.id,
        decided_at=datetime.now(UTC),
        **chosen_account(services, "sandbox", "2088000000000001"),
    )
    order = await paid_order(customer, policy)
    complaint = await in_progress(services, customer, claim_id=claim.id)
    assert complaint.handler_id is not None
    handler = Actor(kind=SubjectKind.STAFF, subject_id=complaint.handler_id, role=StaffRole.AGENT)
    supervisor = as_staff(await make_staff(StaffRole.SUPERVISOR))
    wanted = [
        RemedyInput(R.APOLOGY, note="对审核中解释不充分向您致歉"),
        RemedyInput(R.CLAIM_REREVIEW, note="补充的门诊病历未被审核"),
        RemedyInput(R.GOODWILL_PAYMENT, amount=Decimal("800.00")),
        RemedyInput(R.FEE_REFUND, amount=Decimal("100.00"), payment_order_id=order.id),
    ]
    # Bad proposals change nothing.
    await refused(
        E.INVALID_AMOUNT,
        remedies.propose(
            handler,
            services.pii,
            complaint.id,
            complaint.version,
            "说明",
            [RemedyInput(R.GOODWILL_PAYMENT, amount=Decimal("1.001"))],
            approval_limit=LIMIT,
        ),
    )
    await refused(
        E.INVALID_REMEDY,
        remedies.propose(
            handler,
            services.pii,
            complaint.id,
            complaint.version,
            "说明",
            [RemedyInput(R.APOLOGY, note="a"), RemedyInput(R.APOLOGY, note="b")],
            approval_limit=LIMIT,
        ),
    )
    done = await remedies.propose(
        handler,
        services.pii,
        complaint.id,
        complaint.version,
        "经复查，审核遗漏了补充材料",
        wanted,
        approval_limit=LIMIT,
    )
    assert done.resolution.status is ResolutionStatus.AWAITING_APPROVAL
    assert done.resolution.total_amount == Decimal("900.00") and done.claims == []
    assert not await Payout.exists() and not await Refund.exists()
    assert (await claims.load_claim(supervisor, claim.id, claims.ClaimAction.VIEW)).status is (
        ClaimStatus.REJECTED
    )
    complaint = done.complaint
    # One pending proposal per complaint; the answer waits for it.
    await refused(
        E.REMEDY_PENDING,
        remedies.propose(
            handler,
            services.pii,
            complaint.id,
            complaint.version,
            "再提",
            wanted[:1],
            approval_limit=LIMIT,
        ),
    )
    await refused(E.REMEDY_PENDING, handling.answer(handler, complaint.id, complaint.version, "答"))
    # Approval: a complaint supervisor, not the proposer.
    await refused(E.NOT_ALLOWED, remedies.approve(handler, services.pii, done.resolution.id))

    approved = await remedies.approve(supervisor, services.pii, done.resolution.id)
    assert approved.resolution.status is ResolutionStatus.CARRIED_OUT
    assert approved.resolution.decided_by == supervisor.subject_id
    [reopened] = approved.claims
    assert reopened.id == claim.id and reopened.status is ClaimStatus.UNDER_REVIEW
    assert reopened.rejection_reason is None and reopened.decided_at is None
    step = await ClaimEvent.get(claim_id=claim.id, action="reopen_review")
    assert step.from_status is ClaimStatus.REJECTED and complaint.number in step.note
    assert await OutboxEvent.exists(event_type="claim.reopened", customer_id=customer.id)
    await refused(E.ALREADY_DECIDED, remedies.approve(supervisor, services.pii, done.resolution.id))

    [payout] = await Payout.all()
    assert payout.status is PayoutStatus.QUEUED and payout.amount == Decimal("800.00")
    assert payout.claim_id == claim.id and payout.remedy_id is not None
    [refund] = await Refund.all()
    assert refund.status is RefundStatus.QUEUED and refund.reason is RefundReason.COMPLAINT_REMEDY
    assert refund.amount == Decimal("100.00") and refund.order_id == order.id

    # The workers: the goodwill payment goes out once, the claim stays in review.
    assert (
        await send_queued_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
        == 1
    )
    assert (
        await send_queued_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
        == 0
    )
    await follow_up_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
    await payout.refresh_from_db()
    assert payout.status is PayoutStatus.SUCCESS
    assert await LedgerEntry.filter(kind=LedgerKind.PAYOUT).count() == 1
    claim = await claims.load_claim(supervisor, claim.id, claims.ClaimAction.VIEW)
    assert claim.status is ClaimStatus.UNDER_REVIEW and claim.paid_at is None
    assert await OutboxEvent.exists(event_type="complaint.goodwill_paid", customer_id=customer.id)
    await follow_up_refunds(services.payment_providers, notify_base_url=URL)
    await refund.refresh_from_db()
    assert refund.status is RefundStatus.SUCCESS

    # The answer states the remedies; the customer's timeline shows them.
    complaint = await Complaint.get(id=complaint.id)
    complaint = await handling.answer(handler, complaint.id, complaint.version, "维持部分结论")
    answer = complaint.answer or ""
    for said in (
        "向您致歉",
        f"理赔案件{claim.report_number}已重新进入审核",
        "补偿款800.00元",
        "退还保费100.00元",
    ):
        assert said in answer
    public = await ComplaintEvent.filter(complaint_id=complaint.id, internal=False).values_list(
        "action", flat=True
    )
    assert {"carry_out_remedies", "goodwill_paid"} <= set(public)

    # Closing takes the root cause; the corrective action is tracked until done.
    complaint = await handling.accept(as_customer(customer), complaint.id, complaint.version)
    await refused(E.ROOT_CAUSE_REQUIRED, handling.close(handler, complaint.id, complaint.version))
    due = root_causes.today() + timedelta(days=30)
    await refused(
        E.INVALID_DATE,
        root_causes.record(
            handler,
            complaint.id,
            complaint.version,
            RootCauseCategory.CLAIM_HANDLING,
            "理赔部",
            "补充材料入口",
            root_causes.today() - timedelta(days=1),
        ),
    )
    complaint, cause = await root_causes.record(
        handler,
        complaint.id,
        complaint.version,
        RootCauseCategory.CLAIM_HANDLING,
        "理赔部",
        "补充材料上传后提醒审核人员",
        due,
    )
    complaint = await handling.close(handler, complaint.id, complaint.version)
    assert complaint.status is S.CLOSED
    assert [c.id for c in await root_causes.open_actions()] == [cause.id]
    assert await root_causes.open_actions(overdue=True, on=due + timedelta(days=1)).count() == 1
    assert await root_causes.open_actions(overdue=True).count() == 0
    _, cause = await root_causes.complete(supervisor, cause.id, "已上线提醒功能")
    assert cause.done_at is not None and cause.done_by == supervisor.subject_id
    await refused(E.ALREADY_DECIDED, root_causes.complete(supervisor, cause.id, "再次"))
    assert await root_causes.open_actions().count() == 0
    now = datetime.now(UTC)
    [top] = await root_causes.top_root_causes(now - timedelta(days=1), now + timedelta(days=1), 5)
    assert (top.category, top.complaints, top.open_actions) == (
        RootCauseCategory.CLAIM_HANDLING,
        1,
        0,
    )


async def test_within_authority_at_once_and_refusals_undo_everything(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    complaint = await in_progress(services, customer)
    handler = as_staff(await make_staff(StaffRole.SUPERVISOR))  # a supervisor may act too
    # No account of the customer's own: no goodwill payment, nothing recorded.
    await refused(
        E.NO_KNOWN_ACCOUNT,
        remedies.propose(
            handler,
            services.pii,
            complaint.id,
            complaint.version,
            "说明",
            [RemedyInput(R.GOODWILL_PAYMENT, amount=Decimal("50.00"))],
            approval_limit=LIMIT,
        ),
    )
    await make_claim(
        customer,
        policy,
        ClaimStatus.PAID,
        **chosen_account(services, "sandbox", "2088000000000009"),
    )
    done = await remedies.propose(
        handler,
        services.pii,
        complaint.id,
        complaint.version,
        "客服未及时回电",
        [RemedyInput(R.APOLOGY, note="回电不及时"), RemedyInput(R.GOODWILL_PAYMENT, amount=LIMIT)],
        approval_limit=LIMIT,
    )
    assert done.resolution.status is ResolutionStatus.CARRIED_OUT  # not above the limit
    assert done.resolution.decided_by is None
    [payout] = await Payout.all()
    assert payout.status is PayoutStatus.QUEUED and payout.amount == LIMIT
    assert await ComplaintRemedy.filter(carried_out_at__not_isnull=True).count() == 2

    # A re-review of a claim whose money is moving is refused at approval: nothing kept.
    other = await make_customer(services)
    other_policy = await make_policy(services, other)
    paying = await make_claim(
        other,
        other_policy,
        ClaimStatus.PAYING,
        **chosen_account(services, "sandbox", "2088000000000002"),
    )
    await Payout.create(
        claim_id=paying.id,
        transfer_number=f"TR{next(_serial):010d}",
        provider="sandbox",
        payee_encrypted="x",
        payee_masked="x",
        amount=Decimal("10.00"),
        status=PayoutStatus.PROCESSING,
        live_key=f"claim:{paying.id}",
    )
    second = await in_progress(services, other, claim_id=paying.id)
    proposer = as_staff(await make_staff(StaffRole.SUPERVISOR))
    waiting = await remedies.propose(
        proposer,
        services.pii,
        second.id,
        second.version,
        "重新审核",
        [RemedyInput(R.CLAIM_REREVIEW, note="金额有误"), RemedyInput(R.APOLOGY, note="抱歉")],
        approval_limit=LIMIT,
    )
    assert waiting.resolution.status is ResolutionStatus.AWAITING_APPROVAL  # always for re-review
    await refused(
        E.SECOND_PERSON_REQUIRED, remedies.approve(proposer, services.pii, waiting.resolution.id)
    )
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    await refused(
        E.REMEDY_NOT_POSSIBLE, remedies.approve(boss, services.pii, waiting.resolution.id)
    )
    await waiting.resolution.refresh_from_db()
    assert waiting.resolution.status is ResolutionStatus.AWAITING_APPROVAL
    assert (await claims.lock_claim(paying.id)).status is ClaimStatus.PAYING
    # Withdrawn while it waits: it can no longer be carried out, only refused.
    third = await in_progress(services, other)
    pending = await remedies.propose(
        proposer,
        services.pii,
        third.id,
        third.version,
        "补偿",
        [
            RemedyInput(R.APOLOGY, note="抱歉"),
            RemedyInput(R.GOODWILL_PAYMENT, amount=Decimal("900")),
        ],
        approval_limit=LIMIT,
    )
    await handling.withdraw(as_customer(other), third.id, pending.complaint.version, "已解决")
    await refused(E.ILLEGAL_TRANSITION, remedies.approve(boss, services.pii, pending.resolution.id))
    await remedies.reject(boss, pending.resolution.id, "客户已撤回")
    rejected = await remedies.reject(boss, waiting.resolution.id, "款项已在支付")
    assert rejected.resolution.status is ResolutionStatus.REJECTED
    complaint = await handling.answer(proposer, second.id, rejected.complaint.version, "已核实")
    assert "处理方案" not in (complaint.answer or "")  # nothing was carried out


async def test_a_paying_claim_with_no_money_moved_goes_back_to_review(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.PAYING,
        approved_amount=Decimal("300.00"),
        decided_at=datetime.now(UTC),
    )
    staff = as_staff(await make_staff(StaffRole.SUPERVISOR))
    claim = await claims.reopen_review(staff, claim.id, "核定金额有误", "投诉TS1")
    assert claim.status is ClaimStatus.UNDER_REVIEW and claim.approved_amount == 0
    # Review resumes as any review: a new decision can be made.
    claim = await claims.reject_claim(
        staff, claim.id, RejectionReason.NOT_COVERED, "复核后仍不属于保险责任", claim.version
    )
    assert claim.status is ClaimStatus.REJECTED and claim.decided_at is not None
    closed = await make_claim(customer, policy, ClaimStatus.PAID)
    with pytest.raises(claims.ClaimError) as caught:
        await claims.reopen_review(staff, closed.id, "再来", "投诉TS1")
    assert caught.value.code is claims.ClaimErrorCode.ILLEGAL_TRANSITION


async def test_the_sweep_closes_without_a_root_cause_and_it_shows(services: Services) -> None:
    customer = await make_customer(services)
    complaint = await in_progress(services, customer)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    complaint = await handling.answer(boss, complaint.id, complaint.version, "已处理")
    await handling.sweep_clocks(datetime.now(UTC) + timedelta(days=8))
    assert (await Complaint.get(id=complaint.id)).status is S.CLOSED
    assert [c.id for c in await root_causes.missing()] == [complaint.id]
    complaint = await Complaint.get(id=complaint.id)
    await root_causes.record(
        boss,
        complaint.id,
        complaint.version,
        RootCauseCategory.SERVICE_ATTITUDE,
        "客服中心",
        "回电时限培训",
        root_causes.today(),
    )
    assert await root_causes.missing().count() == 0
    assert await ComplaintRootCause.exists(complaint_id=complaint.id)


async def test_a_poor_complaint_survey_opens_recovery_on_the_complaint(services: Services) -> None:
    customer = await make_customer(services)
    complaint = await in_progress(services, customer)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    complaint = await handling.answer(boss, complaint.id, complaint.version, "已处理")
    complaint, _ = await root_causes.record(
        boss,
        complaint.id,
        complaint.version,
        RootCauseCategory.COMMUNICATION,
        "客服中心",
        "解释话术",
        root_causes.today(),
    )
    complaint = await handling.close(boss, complaint.id, complaint.version)
    invitation = await SurveyInvitation.get(subject_type="complaint", subject_id=str(complaint.id))
    poor = [surveys.Answer("q1", 1), surveys.Answer("q2", None, ("slow",))]
    await surveys.submit(invitation, poor, "APP")
    [task] = await RecoveryTask.all()
    assert task.complaint_id == complaint.id and task.done_at is None
    assert (await Complaint.get(id=complaint.id)).status is S.CLOSED  # stays closed
    [line] = await ComplaintEvent.filter(complaint_id=complaint.id, action="recovery_opened")
    assert line.internal and "满意度评分1分" in line.note
    told = await OutboxEvent.get(event_type="complaint.recovery_opened")
    assert "staff:complaint-supervisors" in told.payload["_staff_channels"]


async def test_a_good_survey_opens_nothing(services: Services) -> None:
    customer = await make_customer(services)
    complaint = await in_progress(services, customer)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    complaint = await handling.answer(boss, complaint.id, complaint.version, "已处理")
    await handling.sweep_clocks(datetime.now(UTC) + timedelta(days=8))
    invitation = await SurveyInvitation.get(subject_type="complaint", subject_id=str(complaint.id))
    await surveys.submit(
        invitation, [surveys.Answer("q1", 5), surveys.Answer("q2", None, ("ok",))], "APP"
    )
    assert not await RecoveryTask.exists()


@postgres_only
async def test_two_supervisors_approving_at_once_pay_once(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    await make_claim(
        customer,
        policy,
        ClaimStatus.PAID,
        **chosen_account(services, "sandbox", "2088000000000003"),
    )
    complaint = await in_progress(services, customer)
    proposer = as_staff(await make_staff(StaffRole.SUPERVISOR))
    done = await remedies.propose(
        proposer,
        services.pii,
        complaint.id,
        complaint.version,
        "补偿",
        [RemedyInput(R.GOODWILL_PAYMENT, amount=Decimal("2000.00"))],
        approval_limit=LIMIT,
    )
    a = as_staff(await make_staff(StaffRole.SUPERVISOR))
    b = as_staff(await make_staff(StaffRole.SUPERVISOR))
    results = await asyncio.gather(
        *(remedies.approve(who, services.pii, done.resolution.id) for who in (a, b, a, b)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, ComplaintError)]
    assert len(errors) == 3 and {e.code for e in errors} == {E.ALREADY_DECIDED}, results
    assert await Payout.filter(remedy_id__not_isnull=True).count() == 1
    sent = await asyncio.gather(
        *(
            send_queued_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
            for _ in range(3)
        )
    )
    assert sum(sent) == 1
    assert await LedgerEntry.filter(kind=LedgerKind.PAYOUT).count() == 1
