"""Service commitments on claims, with China's calendar from the chinese-calendar library
(2026: 国庆 1-7 October off, Saturday 10 October worked): kept across the holiday,
broken on the adjusted working Saturday a weekday count would have missed; the goodwill
points and the call back given once; events read once; the fast track at submission."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise import connections

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.commitments import CaseStatus, CommitmentCase, CommitmentRule, ServiceCommitment
from models.complaints import Complaint, ComplaintChannel
from models.conversations import Conversation, ConversationChannel, ConversationStatus
from models.ids import global_id
from models.membership import PointsEntry, PointsKind
from models.notifications import OutboxEvent
from models.staff import StaffRole
from models.surveys import RecoveryTask
from models.work_calendar import DayKind, WorkCalendarDay
from push.outbox import emit
from push.templates import render
from tests.conftest import postgres_only
from tests.factories import make_claim, make_customer, make_policy, make_staff
from tests.workflows.test_complaints import as_customer
from workflows import claims, commitments
from workflows.commitments.cases import remedy
from workflows.commitments.evaluators import EVALUATORS
from workflows.complaints import intake
from workflows.complaints.intake import Subjects
from workflows.membership import points_balance
from workflows.working_days import library_years, working_days_after

S, P = ClaimStatus, CaseStatus


def beijing(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00").astimezone(UTC)


async def cases_of(claim: Claim) -> dict[str, CommitmentCase]:
    rows = await CommitmentCase.filter(subject_id=claim.id).select_related("commitment")
    return {row.commitment.code: row for row in rows}


async def test_the_library_gives_2026_without_any_row(db: str) -> None:
    await WorkCalendarDay.all().delete()  # no staff entry, no seeded row
    assert library_years()[1] >= 2026
    # Wednesday 30 September: 1-7 October off, Thursday 8 October is the next working day.
    assert await working_days_after(beijing("2026-09-30"), 1) == beijing("2026-10-08")
    # Friday 9 October: Saturday 10 October is worked (国庆节调休).
    assert await working_days_after(beijing("2026-10-09"), 1) == beijing("2026-10-10")
    # A year the library does not have yet: the week only, not an error.
    _first, last = library_years()
    friday = datetime(last + 1, 1, 1, 2, tzinfo=UTC)
    while friday.weekday() != 4:
        friday = friday.replace(day=friday.day + 1)
    assert (await working_days_after(friday, 1)).weekday() == 0


async def small_claim(
    services: Services, status: ClaimStatus = S.UNDER_REVIEW, **fields: Any
) -> Claim:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    values: dict[str, Any] = {
        "fast_track": True,
        "claimed_amount": Decimal("3000.00"),
        "assignee_id": adjuster.id,
    }
    return await make_claim(customer, policy, status, **values | fields)


async def test_kept_across_national_day_and_broken_on_the_adjusted_saturday(
    services: Services,
) -> None:
    await WorkCalendarDay.all().delete()  # the library alone
    # Submitted Wednesday 30 September, decided Thursday 8 October 09:00: kept.
    kept = await small_claim(services, submitted_at=beijing("2026-09-30"))
    await Claim.filter(id=kept.id).update(
        status=S.PAYING, decided_at=beijing("2026-10-08", 9), approved_amount=Decimal(3000)
    )
    await commitments.evaluate_subject("claim", kept.id, now=beijing("2026-10-08", 12))
    found = await cases_of(kept)
    decision = found["SMALL_CLAIM_DECISION"]
    assert decision.status is P.KEPT and decision.deadline == beijing("2026-10-08")
    payment = found["SMALL_CLAIM_PAYMENT"]
    assert payment.status is P.PENDING and payment.deadline == beijing("2026-10-09", 9)
    await Claim.filter(id=kept.id).update(status=S.PAID, paid_at=beijing("2026-10-09", 8))
    await commitments.evaluate_subject("claim", kept.id, now=beijing("2026-10-09", 12))
    assert (await cases_of(kept))["SMALL_CLAIM_PAYMENT"].status is P.KEPT

    # Submitted Friday 9 October: due Saturday 10 October 10:00 (worked), not Monday.
    late = await small_claim(services, submitted_at=beijing("2026-10-09"))
    await commitments.evaluate_subject("claim", late.id, now=beijing("2026-10-09", 11))
    assert (await cases_of(late))["SMALL_CLAIM_DECISION"].deadline == beijing("2026-10-10")
    assert await commitments.sweep(now=beijing("2026-10-10", 9)) == 0  # not yet
    assert await commitments.sweep(now=beijing("2026-10-10", 11)) == 1
    broken = (await cases_of(late))["SMALL_CLAIM_DECISION"]
    assert broken.status is P.BROKEN and broken.remedied_at is not None
    assert await points_balance(late.customer_id) == 200
    entry = await PointsEntry.get(customer_id=late.customer_id)
    assert entry.kind is PointsKind.GOODWILL and entry.source == f"commitment:{broken.id}"
    task = await RecoveryTask.get(source="commitment", source_id=broken.id)
    assert task.customer_id == late.customer_id and "承诺1个工作日内审核" in task.reason
    notice = await OutboxEvent.get(event_type="commitment.broken")
    text = render(notice.event_type, notice.payload)
    assert notice.customer_id == late.customer_id
    assert text.body == (
        f"很抱歉，理赔{late.report_number}的“承诺1个工作日内审核”未能兑现。"
        "已向您赠送200积分表示歉意，服务主管将尽快与您联系。"
    )
    assert text.deep_link == f"anxin://claims/{global_id('Claim', late.id)}"
    # Decided on Monday: still broken, with when it was done; nothing given twice.
    await Claim.filter(id=late.id).update(status=S.REJECTED, decided_at=beijing("2026-10-12"))
    await commitments.evaluate_subject("claim", late.id, now=beijing("2026-10-12", 11))
    await commitments.sweep(now=beijing("2026-10-12", 11))
    await remedy(broken, broken.commitment)  # again, by hand
    again = (await cases_of(late))["SMALL_CLAIM_DECISION"]
    assert again.status is P.BROKEN and again.met_at == beijing("2026-10-12")
    assert await points_balance(late.customer_id) == 200
    assert await RecoveryTask.filter(customer_id=late.customer_id).count() == 1
    assert await OutboxEvent.filter(event_type="commitment.broken").count() == 1
    assert "SMALL_CLAIM_PAYMENT" not in await cases_of(late)  # rejected: nothing to pay

    # Not fast-tracked: no promise; more documents asked: waived.
    plain = await small_claim(services, fast_track=False, submitted_at=beijing("2026-10-09"))
    asked = await small_claim(
        services,
        status=S.MORE_INFO_REQUESTED,
        submitted_at=beijing("2026-10-09"),
        more_info_requested_at=beijing("2026-10-09", 15),
    )
    for claim in (plain, asked):
        await commitments.evaluate_subject("claim", claim.id, now=beijing("2026-10-09", 16))
    assert await cases_of(plain) == {}
    assert (await cases_of(asked))["SMALL_CLAIM_DECISION"].status is P.WAIVED


async def test_submission_fast_tracks_a_small_complete_claim_and_events_are_read_once(
    services: Services,
) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    me = as_customer(customer)
    small = await make_claim(customer, policy, S.REPORTED)
    large = await make_claim(customer, policy, S.REPORTED)
    undeclared = await make_claim(customer, policy, S.REPORTED)
    small = await claims.submit_claim(me, small.id, None, claimed_amount=Decimal("5000.00"))
    large = await claims.submit_claim(me, large.id, None, claimed_amount=Decimal("5000.01"))
    undeclared = await claims.submit_claim(me, undeclared.id, None)
    assert (small.fast_track, large.fast_track, undeclared.fast_track) == (True, False, False)
    assert small.claimed_amount == Decimal("5000.00")
    assert await commitments.evaluate_events() >= 3
    assert await commitments.evaluate_events() == 0  # each event once
    found = await cases_of(small)
    assert list(found) == ["SMALL_CLAIM_DECISION"]
    assert found["SMALL_CLAIM_DECISION"].status is P.PENDING
    assert await cases_of(large) == {} and await cases_of(undeclared) == {}


@postgres_only
async def test_two_sweeps_at_once_give_goodwill_and_a_call_back_once(services: Services) -> None:
    claim = await small_claim(services, submitted_at=beijing("2026-10-09"))
    await commitments.evaluate_subject("claim", claim.id, now=beijing("2026-10-09", 11))
    later = beijing("2026-10-12")
    await asyncio.gather(*(commitments.sweep(now=later) for _ in range(4)))
    case = (await cases_of(claim))["SMALL_CLAIM_DECISION"]
    assert case.status is P.BROKEN
    assert await PointsEntry.filter(customer_id=claim.customer_id).count() == 1
    assert await RecoveryTask.filter(source_id=case.id).count() == 1
    assert await OutboxEvent.filter(event_type="commitment.broken").count() == 1


async def test_complaint_first_response_on_the_library_calendar(services: Services) -> None:
    await WorkCalendarDay.all().delete()
    me = as_customer(await make_customer(services))
    on_time = await intake.file_complaint(
        me, ComplaintChannel.APP, "客服电话没人接", Subjects(), now=beijing("2026-09-30")
    )
    late = await intake.file_complaint(
        me, ComplaintChannel.APP, "理赔进度没人告知", Subjects(), now=beijing("2026-10-09")
    )
    await Complaint.filter(id=on_time.id).update(first_responded_at=beijing("2026-10-08", 9))
    for complaint in (on_time, late):
        await commitments.evaluate_subject("complaint", complaint.id, now=beijing("2026-10-09"))
    kept = (await cases_of(on_time))["COMPLAINT_FIRST_RESPONSE"]
    assert kept.status is P.KEPT and kept.deadline == beijing("2026-10-08")
    assert await commitments.sweep(now=beijing("2026-10-10", 11)) == 1  # Saturday, worked
    assert (await cases_of(late))["COMPLAINT_FIRST_RESPONSE"].status is P.BROKEN
    assert await points_balance(me.subject_id) == 100  # type: ignore[arg-type]


async def test_an_agent_within_minutes_of_agents_hours(services: Services) -> None:
    customer = await make_customer(services)
    agent = await make_staff(StaffRole.AGENT)

    async def waiting(queued: datetime, **fields: Any) -> Conversation:
        return await Conversation.create(
            customer=customer,
            channel=ConversationChannel.APP,
            status=ConversationStatus.WAITING,
            queued_at=queued,
            **fields,
        )

    # Asked at 22:00, after hours (09:00-21:00): the clock starts at 09:00 the next day.
    night = await waiting(
        beijing("2026-10-01", 22), accepted_at=beijing("2026-10-02", 9) + timedelta(minutes=8)
    )
    await Conversation.filter(id=night.id).update(agent_id=agent.id)
    ignored = await waiting(beijing("2026-10-02", 10))
    left = await waiting(
        beijing("2026-10-02", 10), closed_at=beijing("2026-10-02", 10) + timedelta(minutes=5)
    )
    at = beijing("2026-10-02", 10) + timedelta(minutes=6)
    for conversation in (night, ignored, left):
        await commitments.evaluate_subject("conversation", conversation.id, now=at)
    answered = (await cases_of(night))["AGENT_ANSWER"]
    assert answered.status is P.KEPT and answered.started_at == beijing("2026-10-02", 9)
    assert answered.handler_id == agent.id
    assert (await cases_of(left))["AGENT_ANSWER"].status is P.WAIVED
    assert await commitments.sweep(now=beijing("2026-10-02", 10) + timedelta(minutes=11)) == 1
    assert (await cases_of(ignored))["AGENT_ANSWER"].status is P.BROKEN


async def test_a_registered_evaluator_measures_a_new_kind(services: Services) -> None:
    """How a domain plugs in: an evaluator registered for a rule on its outbox events
    (here one standing in for the roadside evaluator, restored afterwards)."""
    customer = await make_customer(services)
    booking_id = uuid.uuid4()

    async def arrival(
        commitment: ServiceCommitment, subject_id: uuid.UUID, _ctx: commitments.Context
    ) -> commitments.Verdict | None:
        if subject_id != booking_id:
            return None
        started = beijing("2026-10-02", 10)
        return commitments.Verdict(
            customer_id=customer.id,
            started_at=started,
            deadline=started + timedelta(minutes=commitment.minutes or 60),
            met_at=started + timedelta(minutes=45),
        )

    await commitments.ensure_defaults()
    # Not a booking of ours: the registered roadside evaluator has nothing to measure.
    assert await commitments.evaluate_subject("booking", booking_id) == []
    measuring = EVALUATORS[CommitmentRule.ROADSIDE_ARRIVAL]
    commitments.register(CommitmentRule.ROADSIDE_ARRIVAL, "booking", arrival)
    try:
        await emit(
            "booking.updated",
            entity_type="booking",
            entity_id=booking_id,
            customer_id=customer.id,
            payload={},
        )
        assert await commitments.evaluate_events() == 1
    finally:
        EVALUATORS[CommitmentRule.ROADSIDE_ARRIVAL] = measuring
    case = await CommitmentCase.get(subject_id=booking_id)
    assert case.status is P.KEPT and case.subject_type == "booking"


async def test_the_migration_drops_the_seeded_days_the_library_has(db: str) -> None:
    seeded = importlib.import_module("models.migrations.0012_complaint_calendar")
    dropping = importlib.import_module("models.migrations.0023_commitments")

    class Editor:
        client = connections.get("default")

    await seeded._seed(None, Editor())
    assert await WorkCalendarDay.filter(set_by_id=None).count() == len(seeded.PUBLISHED)
    staff_id = uuid.uuid4()
    await WorkCalendarDay.filter(day=date(2026, 10, 10)).update(set_by_id=staff_id)
    await WorkCalendarDay.create(day=date(2027, 1, 1), kind=DayKind.HOLIDAY, name="元旦")
    await dropping._drop_seeded_days(None, Editor())
    left = {row.day: row for row in await WorkCalendarDay.all()}
    # Kept: a staff entry, and a seeded day the library does not have (2027).
    assert set(left) == {date(2026, 10, 10), date(2027, 1, 1)}
