"""A complaint's life through every state of the workflow: intake from the app and by
staff, recusal, classification, both extensions, information asked and given, answer
with the outside routes, review at the second level, closure with a survey, withdrawal,
the clock sweep; concurrent assignment clicks on PostgreSQL give one effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimEvent, ClaimStatus
from models.complaint_remedies import RootCauseCategory
from models.complaints import (
    ClassificationCorrection,
    Complaint,
    ComplaintChannel,
    ComplaintClass,
    ComplaintEvent,
    ComplaintStatus,
    Urgency,
)
from models.customers import Customer
from models.notifications import OutboxEvent
from models.staff import StaffRole, StaffUser
from models.surveys import SurveyInvitation
from tests.conftest import postgres_only
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows.access import Actor
from workflows.complaints import handling, intake, root_causes
from workflows.complaints.intake import Subjects
from workflows.complaints.rules import OUTSIDE_ROUTES, ComplaintError, ComplaintErrorCode

S = ComplaintStatus
E = ComplaintErrorCode


def as_customer(customer: Customer) -> Actor:
    return Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)


def as_staff(staff: StaffUser) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=staff.id, role=staff.role)


async def refused(code: ComplaintErrorCode, call: object) -> None:
    with pytest.raises(ComplaintError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code is code


async def test_a_claim_complaint_through_every_state(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    decider = await make_staff(StaffRole.AGENT)  # later moved to handling: still recused
    handler = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    reviewer = await make_staff(StaffRole.SUPERVISOR)
    claim = await make_claim(customer, policy, ClaimStatus.REJECTED, assignee_id=adjuster.id)
    await ClaimEvent.create(
        claim_id=claim.id,
        actor_kind="staff",
        actor_id=decider.id,
        action="decide",
        from_status=ClaimStatus.UNDER_REVIEW,
        to_status=ClaimStatus.REJECTED,
        note="拒赔",
    )
    me = as_customer(customer)

    complaint = await intake.file_complaint(
        me,
        ComplaintChannel.APP,
        "我的理赔被拒赔了，理由不合理，请重新审核",
        Subjects(claim_id=claim.id),
    )
    assert complaint.status is S.RECEIVED and complaint.number.startswith("TS")
    assert complaint.content_class is ComplaintClass.CLAIM
    assert complaint.answer_due_at - complaint.received_at == timedelta(days=15)
    assert await OutboxEvent.exists(event_type="complaint.received", customer_id=customer.id)

    # Staff confirm a correction of the urgency; the decision is kept.
    boss = as_staff(supervisor)
    complaint = await handling.classify(
        boss, complaint.id, complaint.version, ComplaintClass.CLAIM, Urgency.URGENT
    )
    [kept] = await ClassificationCorrection.filter(complaint_id=complaint.id)
    assert not kept.accepted and kept.chosen_urgency is Urgency.URGENT
    assert complaint.first_response_due_at - complaint.received_at == timedelta(hours=2)

    # Recusal: neither the claim's decider nor its assignee; nothing changes.
    for recused in (decider, adjuster):
        await refused(E.RECUSED, handling.assign(boss, complaint.id, complaint.version, recused.id))
    assert (await Complaint.get(id=complaint.id)).handler_id is None
    # Without a name: the least loaded handler who is not recused.
    await StaffUser.filter(id__not_in=[handler.id, decider.id]).update(is_active=False)
    complaint = await handling.assign(boss, complaint.id, complaint.version)
    assert complaint.status is S.ASSIGNED and complaint.handler_id == handler.id
    await StaffUser.all().update(is_active=True)

    agent = as_staff(handler)
    complaint = await handling.respond(agent, complaint.id, complaint.version, "已致电客户")
    assert complaint.status is S.IN_PROGRESS and complaint.first_responded_at is not None

    complaint = await handling.extend(agent, complaint.id, complaint.version, "需调取医院记录")
    assert complaint.answer_due_at - complaint.received_at == timedelta(days=30)
    await refused(
        E.NOT_ALLOWED, handling.extend(agent, complaint.id, complaint.version, "仍需核实")
    )
    await refused(E.REASON_REQUIRED, handling.extend(boss, complaint.id, complaint.version, " "))
    complaint = await handling.extend(boss, complaint.id, complaint.version, "需第三方鉴定")
    assert complaint.answer_due_at - complaint.received_at == timedelta(days=60)
    await refused(
        E.NO_MORE_EXTENSIONS, handling.extend(boss, complaint.id, complaint.version, "再延")
    )
    assert await OutboxEvent.filter(event_type="complaint.extended").count() == 2

    complaint = await handling.request_info(agent, complaint.id, complaint.version, "就诊经过")
    assert complaint.status is S.INFO_REQUESTED
    complaint = await handling.provide_info(me, complaint.id, complaint.version, "三月住院")
    assert complaint.status is S.IN_PROGRESS

    await refused(E.CONFLICT, handling.answer(agent, complaint.id, complaint.version - 1, "x"))
    complaint = await handling.answer(agent, complaint.id, complaint.version, "经复查维持原结论")
    assert complaint.status is S.ANSWERED
    assert complaint.answer is not None and OUTSIDE_ROUTES in complaint.answer
    await refused(E.ILLEGAL_TRANSITION, handling.withdraw(me, complaint.id, complaint.version, ""))

    complaint = await handling.request_review(me, complaint.id, complaint.version, "不认可")
    assert complaint.status is S.REVIEW_REQUESTED
    # The second level: not the handler, not a recused one, a supervisor.
    await refused(E.NOT_ALLOWED, handling.answer(agent, complaint.id, complaint.version, "x"))
    complaint = await handling.answer(
        as_staff(reviewer), complaint.id, complaint.version, "复核后同意重新审核"
    )
    assert complaint.status is S.ANSWERED and "复核答复" in (complaint.answer or "")
    await refused(
        E.REVIEWED_ALREADY, handling.request_review(me, complaint.id, complaint.version, "再审")
    )

    complaint = await handling.accept(me, complaint.id, complaint.version)
    assert complaint.status is S.ACCEPTED
    await refused(E.ROOT_CAUSE_REQUIRED, handling.close(agent, complaint.id, complaint.version))
    complaint, _ = await root_causes.record(
        agent,
        complaint.id,
        complaint.version,
        RootCauseCategory.CLAIM_HANDLING,
        "理赔部",
        "拒赔通知须列明依据",
        root_causes.today(),
    )
    complaint = await handling.close(agent, complaint.id, complaint.version)
    assert complaint.status is S.CLOSED
    [survey] = await SurveyInvitation.filter(subject_type="complaint")
    assert survey.subject_id == str(complaint.id) and survey.customer_id == customer.id

    actions = await ComplaintEvent.filter(complaint_id=complaint.id).values_list(
        "action", flat=True
    )
    assert {"receive", "classify", "assign", "respond", "extend", "extend_again"} <= set(actions)
    assert {"answer", "request_review", "answer_review", "accept", "close"} <= set(actions)


async def test_staff_record_and_withdraw(services: Services) -> None:
    customer = await make_customer(services, phone="13912345678")
    agent = await make_staff(StaffRole.AGENT)
    staff = as_staff(agent)
    complaint = await intake.record_complaint(
        staff,
        services.pii,
        ComplaintChannel.PHONE,
        "你们的业务员误导销售，我要向银保监投诉",
        Subjects(),
        phone="13912345678",
    )
    assert complaint.customer_id == customer.id
    assert complaint.urgency is Urgency.MAJOR and complaint.content_class is ComplaintClass.SALES
    stranger = await intake.record_complaint(
        staff,
        services.pii,
        ComplaintChannel.LETTER,
        "来信反映客服态度差",
        Subjects(),
        phone="13900000001",
    )
    assert stranger.customer_id is None and stranger.status is S.RECEIVED

    withdrawn = await handling.withdraw(
        as_customer(customer), complaint.id, complaint.version, "问题已解决"
    )
    assert withdrawn.status is S.WITHDRAWN
    # Someone else's complaint is not found; bad input changes nothing.
    other = as_customer(await make_customer(services))
    await refused(E.COMPLAINT_NOT_FOUND, handling.withdraw(other, stranger.id, 1, ""))
    await refused(
        E.TEXT_REQUIRED, intake.file_complaint(other, ComplaintChannel.APP, " ", Subjects())
    )
    await refused(
        E.CHANNEL_NOT_ALLOWED,
        intake.file_complaint(other, ComplaintChannel.MEDIA, "投诉", Subjects()),
    )
    policy = await make_policy(services, customer)
    await refused(
        E.SUBJECT_NOT_FOUND,
        intake.file_complaint(other, ComplaintChannel.APP, "投诉", Subjects(policy_id=policy.id)),
    )
    assert await Complaint.all().count() == 2


async def test_a_repeat_raises_urgency_and_the_sweep_escalates_breaches_and_closes(
    services: Services,
) -> None:
    customer = await make_customer(services)
    me = as_customer(customer)
    first = await intake.file_complaint(me, ComplaintChannel.APP, "客服电话没人接", Subjects())
    assert first.urgency is Urgency.GENERAL
    again = await intake.file_complaint(me, ComplaintChannel.APP, "客服电话还是没人接", Subjects())
    assert again.urgency is Urgency.URGENT

    received = first.received_at
    # Nobody contacted either customer in time: supervisors are told (once each).
    assert await handling.sweep_clocks(received + timedelta(days=5)) == 2
    late_first = "complaint.first_response_breach"
    assert await OutboxEvent.filter(event_type=late_first, customer_id=None).count() == 2
    assert (
        await handling.sweep_clocks(received + timedelta(days=12, hours=1)) == 2
    )  # 80 % of 15 days
    assert await handling.sweep_clocks(received + timedelta(days=12, hours=2)) == 0  # once
    assert await handling.sweep_clocks(received + timedelta(days=16)) == 2  # breached
    first = await Complaint.get(id=first.id)
    assert first.escalated_at and first.breached_at and first.first_response_breached_at
    assert await OutboxEvent.filter(event_type="complaint.breach", customer_id=None).count() == 2
    handler = await make_staff(StaffRole.SUPERVISOR)
    boss = as_staff(handler)
    late = handling.queue(boss, overdue=True, now=received + timedelta(days=16))
    assert await late.count() == 2
    assert await handling.queue(boss, overdue=False, now=received).count() == 2
    assert await handling.queue(Actor(), overdue=True).count() == 0  # nobody's queue

    # An answer left without reply closes after 7 days, with its survey.
    c = await handling.assign(boss, again.id, again.version, handler.id)
    c = await handling.respond(boss, c.id, c.version, "已联系")
    c = await handling.answer(boss, c.id, c.version, "已安排专人回电")
    assert await handling.sweep_clocks(datetime.now(UTC) + timedelta(days=8)) >= 1
    assert (await Complaint.get(id=c.id)).status is S.CLOSED
    assert await SurveyInvitation.exists(subject_id=str(c.id))


@postgres_only
async def test_concurrent_assignment_clicks_give_one_effect(services: Services) -> None:
    customer = await make_customer(services)
    complaint = await intake.file_complaint(
        as_customer(customer), ComplaintChannel.APP, "理赔太慢", Subjects()
    )
    a, b = await make_staff(StaffRole.SUPERVISOR), await make_staff(StaffRole.SUPERVISOR)
    results = await asyncio.gather(
        handling.assign(as_staff(a), complaint.id, complaint.version, a.id),
        handling.assign(as_staff(b), complaint.id, complaint.version, b.id),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, ComplaintError)]
    assert len(errors) == 1 and errors[0].code is E.CONFLICT
    assert await ComplaintEvent.filter(complaint_id=complaint.id, action="assign").count() == 1
    assert (await Complaint.get(id=complaint.id)).version == complaint.version + 1


@postgres_only
async def test_two_complaints_assigned_at_once_go_to_two_handlers(services: Services) -> None:
    """Two assignments without a name at the same moment: the second waits for the
    first's lock on the candidates, then counts its work (not both to the one who looked
    least loaded)."""
    customer = await make_customer(services)
    complaints = [
        await intake.file_complaint(
            as_customer(customer), ComplaintChannel.APP, f"理赔太慢，第{i}次投诉", Subjects()
        )
        for i in range(2)
    ]
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    handlers = [await make_staff(StaffRole.AGENT) for _ in range(2)]
    handler_ids = {h.id for h in handlers}
    await StaffUser.filter(id__not_in=list(handler_ids)).update(is_active=False)
    for _ in range(5):  # a race: give it a few chances to show
        for complaint in complaints:
            await Complaint.filter(id=complaint.id).update(handler_id=None)
        fresh = [await Complaint.get(id=c.id) for c in complaints]
        assigned = await asyncio.gather(*(handling.assign(boss, c.id, c.version) for c in fresh))
        assert {c.handler_id for c in assigned} == handler_ids
