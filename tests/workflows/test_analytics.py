"""Analytics figures against hand-computed values on small fixtures: the claims funnel
(cohorts by the Beijing day of the report, a report at 00:30 Beijing falls on the next
day), clock breaches, payouts by loss type, premium collection and lapses, deliveries
per channel, surveys, complaints' root causes, conversations and the team's workload;
who may look and how much at once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tortoise import connections

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus, RejectionReason, ReportChannel
from models.clock import SHANGHAI, local_today
from models.complaint_remedies import RootCauseCategory
from models.complaints import ComplaintChannel
from models.conversations import Conversation, ConversationChannel, ConversationStatus
from models.notifications import Channel, Delivery, DeliveryStatus, Notification
from models.policies import PremiumInstallment, ProductKind
from models.staff import StaffRole, StaffUser
from models.surveys import (
    QuestionKind,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    SurveyTemplate,
)
from tests.factories import make_claim, make_customer, make_policy, make_product, make_staff
from workflows.access import Actor
from workflows.analytics import (
    AnalyticsError,
    AnalyticsErrorCode,
    Period,
    collection,
    deliveries,
    service,
    service_dashboard,
)
from workflows.analytics import claims as claim_figures
from workflows.analytics.rules import Buckets, Durations, Ratio, check
from workflows.complaints import handling, intake, root_causes
from workflows.complaints.intake import Subjects
from workflows.surveys import period_keys

D1, D2 = date(2026, 9, 1), date(2026, 9, 2)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def hours(n: float) -> Decimal:
    return Decimal(n).quantize(Decimal("0.01"))


def boss_of(staff: StaffUser) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=staff.id, role=staff.role)


async def claim_at(services: Services, kind: ProductKind, **fields: Any) -> Claim:
    customer = await make_customer(services)
    policy = await make_policy(services, customer, product=await make_product(kind), installments=0)
    times = {k: fields.pop(k) for k in ("created_at",) if k in fields}
    claim = await make_claim(customer, policy, fields.pop("status", ClaimStatus.REPORTED), **fields)
    if times:
        await Claim.filter(id=claim.id).update(**times)
    return claim


def test_periods_in_beijing_days() -> None:
    weeks = Buckets(Period.WEEK, date(2026, 11, 25), date(2026, 12, 2))
    assert [(b.first, b.last) for b in weeks.items] == [
        (date(2026, 11, 25), date(2026, 11, 29)),
        (date(2026, 11, 30), date(2026, 12, 2)),
    ]
    assert weeks.start == datetime(2026, 11, 24, 16, tzinfo=UTC)
    assert weeks.of(datetime(2026, 11, 29, 15, 59, tzinfo=UTC)) == 0
    assert weeks.of(datetime(2026, 11, 29, 16, 0, tzinfo=UTC)) == 1  # Monday 00:00 Beijing
    assert weeks.of(datetime(2026, 12, 2, 16, 0, tzinfo=UTC)) is None  # after the range
    months = Buckets(Period.MONTH, date(2026, 12, 20), date(2027, 1, 5))
    assert [b.key for b in months.items] == ["2026-12-20", "2027-01-01"]
    spread = Durations.of(h * 3600 for h in range(1, 11))
    assert (spread.median_hours, spread.p90_hours) == (Decimal(5), Decimal(9))
    assert Ratio(1, 3).rate == Decimal("33.3") and Ratio(0, 0).rate is None


async def test_who_may_look_and_how_much(services: Services) -> None:
    agent = boss_of(await make_staff(StaffRole.AGENT))
    boss = boss_of(await make_staff(StaffRole.SUPERVISOR))
    admin = boss_of(await make_staff(StaffRole.ADMIN))
    customer = Actor(kind=SubjectKind.CUSTOMER, subject_id=uuid.uuid4())
    for who in (agent, customer):
        with pytest.raises(AnalyticsError) as caught:
            await service_dashboard(who, Period.DAY, D1, D1)
        assert caught.value.code is AnalyticsErrorCode.NOT_ALLOWED
    assert len(check(boss, Period.DAY, D1, D1 + timedelta(days=61)).items) == 62
    assert len(check(admin, Period.MONTH, D1, D1 + timedelta(days=700)).items) == 24
    for period, last, code in (
        (Period.DAY, D1 - timedelta(days=1), AnalyticsErrorCode.INVALID_RANGE),
        (Period.DAY, D1 + timedelta(days=62), AnalyticsErrorCode.RANGE_TOO_LONG),
        (Period.MONTH, D1 + timedelta(days=800), AnalyticsErrorCode.RANGE_TOO_LONG),
    ):
        with pytest.raises(AnalyticsError) as caught:
            check(boss, period, D1, last)
        assert caught.value.code is code


async def test_the_claims_funnel(services: Services) -> None:
    auto, health = ProductKind.AUTO, ProductKind.HEALTH
    # c1: reported 09:00, complete 11:00, decided 15:00, paid the next day 15:00.
    await claim_at(
        services,
        auto,
        created_at=at(D1, 9),
        submitted_at=at(D1, 11),
        decided_at=at(D1, 15),
        paid_at=at(D2, 15),
        status=ClaimStatus.PAID,
        approved_amount=Decimal("800.00"),
    )
    # c2: reported at 00:30 Beijing on D2 (still D1 in UTC): D2's cohort.
    await claim_at(
        services,
        auto,
        created_at=at(D2, 0, 30),
        submitted_at=at(D2, 2, 30),
        channel=ReportChannel.PHONE,
        status=ClaimStatus.SUBMITTED,
    )
    # c3: complete after 6 hours, rejected a day later.
    await claim_at(
        services,
        health,
        created_at=at(D1, 10),
        submitted_at=at(D1, 16),
        decided_at=at(D2, 16),
        status=ClaimStatus.REJECTED,
        rejection_reason=RejectionReason.NOT_COVERED,
    )
    await claim_at(services, auto, created_at=at(D1, 12))  # c4: reported only
    await claim_at(services, auto, created_at=at(D2 + timedelta(days=1), 8))  # outside

    rows = await claim_figures.funnel(Buckets(Period.DAY, D1, D2))
    by = {(f.key, f.segment): f for f in rows}
    day1 = by[(D1.isoformat(), "ALL")]
    assert (day1.reported, day1.complete, day1.decided, day1.paid) == (3, 2, 2, 1)
    assert day1.complete_ratio.rate == Decimal("66.7")
    assert (day1.decided_ratio.rate, day1.paid_ratio.rate) == (Decimal(100), Decimal(50))
    assert day1.to_complete == Durations(2, hours(2), hours(6))
    assert day1.to_decision == Durations(2, hours(4), hours(24))
    assert day1.to_payment == Durations(1, hours(24), hours(24))
    kind_auto = by[(D1.isoformat(), "KIND:AUTO")]
    assert (kind_auto.reported, kind_auto.complete, kind_auto.paid) == (2, 1, 1)
    kind_health = by[(D1.isoformat(), "KIND:HEALTH")]
    assert (kind_health.reported, kind_health.decided, kind_health.paid) == (1, 1, 0)
    assert by[(D1.isoformat(), "CHANNEL:APP")].reported == 3
    day2 = by[(D2.isoformat(), "ALL")]
    assert (day2.reported, day2.complete, day2.decided) == (1, 1, 0)
    assert by[(D2.isoformat(), "CHANNEL:PHONE")].to_complete == Durations(1, hours(2), hours(2))
    assert (D1.isoformat(), "CHANNEL:PHONE") not in by


async def test_postgresql_groups_the_same_days(services: Services) -> None:
    """PostgreSQL is the reference: its own grouping by the Beijing day (``AT TIME ZONE``)
    gives the cohorts the analytics module computes on every backend."""
    client = connections.get("default")
    if client.capabilities.dialect != "postgres":
        pytest.skip("the PostgreSQL reference runs with ANXIN_TEST_DATABASE_URL")
    for hour in (9, 23):  # 23:00 Beijing is 15:00 UTC: the same Beijing day
        await claim_at(services, ProductKind.AUTO, created_at=at(D1, hour))
    await claim_at(services, ProductKind.AUTO, created_at=at(D2, 0, 30))  # D1 in UTC
    reference = await client.execute_query_dict(
        "SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n "
        "FROM claim GROUP BY 1 ORDER BY 1"
    )
    ours = [
        f for f in await claim_figures.funnel(Buckets(Period.DAY, D1, D2)) if f.segment == "ALL"
    ]
    assert (
        [(r["day"].isoformat(), r["n"]) for r in reference]
        == [(f.key, f.reported) for f in ours]
        == [("2026-09-01", 2), ("2026-09-02", 1)]
    )


async def test_clock_breaches_and_payouts(services: Services) -> None:
    now = at(date(2026, 11, 15), 12)
    kind = ProductKind.AUTO

    def noon(month: int, day: int) -> datetime:
        return at(date(2026, month, day), 12)

    # b1: decision due 09-09, rejected on 09-05: on time; no payment clock.
    await claim_at(
        services,
        kind,
        submitted_at=noon(8, 10),
        decided_at=noon(9, 5),
        status=ClaimStatus.REJECTED,
        rejection_reason=RejectionReason.NOT_COVERED,
    )
    # b2: decision due 09-14, decided 09-20 (late); payment due 09-30, paid 10-05 (late).
    await claim_at(
        services,
        kind,
        submitted_at=noon(8, 15),
        decided_at=noon(9, 20),
        paid_at=noon(10, 5),
        status=ClaimStatus.PAID,
        approved_amount=Decimal("1000.00"),
    )
    # b3: decision due 10-10, still under review: late, and overdue now.
    await claim_at(services, kind, submitted_at=noon(9, 10), status=ClaimStatus.UNDER_REVIEW)
    # b4: withdrawn before its decision was due: no clock counted.
    await claim_at(services, kind, submitted_at=noon(9, 12), status=ClaimStatus.WITHDRAWN)
    # b5: decided in time (due 10-20); payment due 10-05, unpaid: late, overdue now.
    await claim_at(
        services,
        kind,
        submitted_at=noon(9, 20),
        decided_at=noon(9, 25),
        status=ClaimStatus.APPROVED,
        approved_amount=Decimal("500.00"),
    )
    buckets = Buckets(Period.MONTH, date(2026, 9, 1), date(2026, 10, 31))
    months, overdue_now = await claim_figures.breaches(buckets, now)
    assert [(m.key, m.decision, m.payment) for m in months] == [
        ("2026-09-01", Ratio(1, 2), Ratio(1, 1)),
        ("2026-10-01", Ratio(1, 2), Ratio(1, 1)),
    ]
    assert overdue_now == 2

    # Payouts: two collisions and a theft in October, one collision paid in November.
    for loss, amount, paid in (
        ("COLLISION", "501.00", noon(10, 8)),
        ("THEFT", "300.00", noon(10, 9)),
        ("COLLISION", "99.00", noon(11, 2)),
    ):
        await claim_at(
            services,
            kind,
            loss_type=loss,
            submitted_at=paid - timedelta(days=3),
            decided_at=paid - timedelta(days=1),
            paid_at=paid,
            status=ClaimStatus.PAID,
            approved_amount=Decimal(amount),
        )
    payouts = await claim_figures.payouts(buckets)
    assert [(p.key, p.loss_type, p.count, p.total, p.average) for p in payouts] == [
        ("2026-10-01", "COLLISION", 2, Decimal("1501.00"), Decimal("750.50")),
        ("2026-10-01", "THEFT", 1, Decimal("300.00"), Decimal("300.00")),
    ]


async def test_premium_collection_and_lapses(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer, installments=0)
    now = at(date(2026, 12, 15), 10)
    for sequence, (due, paid, amount) in enumerate(
        [
            (date(2026, 9, 5), at(date(2026, 9, 4), 12), "100.00"),  # on time
            (date(2026, 9, 10), at(date(2026, 9, 20), 12), "200.00"),  # late
            (date(2026, 9, 15), None, "300.00"),  # overdue, grace ended 11-14: lapsed
            (date(2026, 10, 20), None, "400.00"),  # overdue, grace ends 12-19: not yet
            (date(2026, 10, 1), at(date(2026, 12, 5), 12), "500.00"),  # paid after grace
            (date(2026, 11, 1), None, "600.00"),  # outside the range
        ],
        start=1,
    ):
        await PremiumInstallment.create(
            policy=policy, sequence=sequence, due_date=due, paid_at=paid, amount=Decimal(amount)
        )
    rows = await collection.collection(
        Buckets(Period.MONTH, date(2026, 9, 1), date(2026, 10, 31)), now
    )
    sep, oct_ = rows
    assert (sep.due, sep.due_amount, sep.paid_on_time, sep.paid_late) == (
        3,
        Decimal("600.00"),
        Ratio(1, 3),
        1,
    )
    assert (sep.overdue, sep.overdue_amount, sep.lapsed) == (1, Decimal("300.00"), Ratio(1, 3))
    assert (oct_.due, oct_.paid_on_time, oct_.paid_late, oct_.overdue) == (2, Ratio(0, 2), 1, 1)
    assert oct_.lapsed == Ratio(1, 1)


async def test_deliveries_per_channel(services: Services) -> None:
    customer = await make_customer(services)
    notification = await Notification.create(
        customer=customer,
        event_id=uuid.uuid4(),
        kind="claim.paid",
        title="赔款已支付",
        body="您的赔款已支付",
        deep_link="anxin://claims",
        mini_program_page="pages/claims/index",
    )
    plan = [
        (D1, Channel.SMS, DeliveryStatus.SENT),
        (D1, Channel.SMS, DeliveryStatus.SENT),
        (D1, Channel.SMS, DeliveryStatus.DEAD),
        (D1, Channel.SMS, DeliveryStatus.FAILED),
        (D1, Channel.APNS, DeliveryStatus.SENT),
        (D1, Channel.APNS, DeliveryStatus.SKIPPED),
        (D1, Channel.APNS, DeliveryStatus.PENDING),
        (D2, Channel.SMS, DeliveryStatus.SENT),
    ]
    for n, (day, channel, status) in enumerate(plan):
        delivery = await Delivery.create(
            notification=notification, channel=channel, target=f"t{n}", status=status
        )
        await Delivery.filter(id=delivery.id).update(created_at=at(day, 9))
    rows = await deliveries.deliveries(Buckets(Period.DAY, D1, D2))
    assert [(r.key, r.channel, r.total, r.sent, r.failed, r.skipped, r.pending) for r in rows] == [
        ("2026-09-01", "APNS", 3, 1, 0, 1, 1),
        ("2026-09-01", "SMS", 4, 2, 2, 0, 0),
        ("2026-09-02", "SMS", 1, 1, 0, 0, 0),
    ]
    assert rows[0].delivered == Ratio(1, 2) and rows[1].delivered == Ratio(2, 4)


async def test_surveys_regrouped_by_period(services: Services) -> None:
    customer = await make_customer(services)
    template = await SurveyTemplate.create(code="T", version=1, title="满意度", questions=[])
    for rating, nps, day in ((5, 10, D1), (3, 6, D1), (4, 9, D2)):
        moment = at(day, 10)
        keys: dict[str, Any] = dict(period_keys(moment))
        invitation = await SurveyInvitation.create(
            template=template,
            customer=customer,
            trigger="claim.closed",
            subject_type="CLAIM",
            subject_id=str(uuid.uuid4()),
            expires_at=moment + timedelta(days=7),
            answered_at=moment,
            **keys,
        )
        response = await SurveyResponse.create(
            invitation=invitation, template=template, answers={}, answers_hash="x", channel="APP"
        )
        for question, kind, number in (
            ("q1", QuestionKind.RATING, rating),
            ("q2", QuestionKind.NPS, nps),
        ):
            await SurveyAnswer.create(
                response=response,
                question_id=question,
                kind=kind,
                number=number,
                channel="APP",
                **keys,
            )
    [week] = await service.survey_figures(Buckets(Period.WEEK, D1, D2))
    assert (week.key, week.invitations, week.responses) == ("2026-09-01", 3, 3)
    assert week.csat == Ratio(2, 3)
    assert (week.promoters, week.detractors, week.nps) == (2, 1, 33)
    day1, day2 = await service.survey_figures(Buckets(Period.DAY, D1, D2))
    assert (day1.responses, day1.csat, day1.nps) == (2, Ratio(1, 2), 0)
    assert (day2.responses, day2.csat, day2.nps) == (1, Ratio(1, 1), 100)


async def test_complaints_conversations_and_workload(services: Services) -> None:
    boss_staff = await make_staff(StaffRole.SUPERVISOR)
    boss = boss_of(boss_staff)
    customer = await make_customer(services)
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)
    today = local_today()
    for text, category in (
        ("电话没人接", RootCauseCategory.COMMUNICATION),
        ("回电太慢", RootCauseCategory.COMMUNICATION),
        ("理赔太慢", RootCauseCategory.CLAIM_HANDLING),
    ):
        c = await intake.file_complaint(me, ComplaintChannel.APP, text, Subjects())
        c = await handling.assign(boss, c.id, c.version, boss_staff.id)
        c = await handling.respond(boss, c.id, c.version, "已致电")
        c = await handling.answer(boss, c.id, c.version, "已安排")
        await root_causes.record(boss, c.id, c.version, category, "客服部", "整改", today)
    open_one = await intake.file_complaint(me, ComplaintChannel.APP, "还没处理", Subjects())
    await handling.assign(boss, open_one.id, open_one.version, boss_staff.id)

    buckets = Buckets(Period.DAY, today, today)
    now = datetime.now(UTC)
    [day], causes = await service.complaints(boss, buckets, now)
    assert day.received == 4
    assert [(c.category, c.count, c.total) for c in causes] == [
        ("COMMUNICATION", 2, 3),
        ("CLAIM_HANDLING", 1, 3),
    ]
    adjuster = boss_of(await make_staff(StaffRole.ADJUSTER))
    assert await service.complaints(adjuster, buckets, now) == ([], [])

    # Conversations: three started; two handed off, one taken after 30 minutes.
    agent = await make_staff(StaffRole.AGENT)
    start = now - timedelta(hours=3)
    for queued, accepted, status in (
        (None, None, ConversationStatus.CLOSED),
        (start, start + timedelta(minutes=30), ConversationStatus.WITH_AGENT),
        (start, None, ConversationStatus.WAITING),
    ):
        await Conversation.create(
            customer=customer,
            channel=ConversationChannel.APP,
            status=status,
            queued_at=queued,
            accepted_at=accepted,
            agent=agent if accepted else None,
        )
    [talks] = await service.conversations(buckets)
    assert (talks.started, talks.handed_off, talks.answered_by_agent) == (3, Ratio(2, 3), 1)
    assert talks.wait == Durations(1, hours(0.5), hours(0.5))

    # Workload: the agent's conversation; the adjuster's two open claims, one overdue.
    adjuster_staff = await StaffUser.get(id=adjuster.subject_id)
    kind = ProductKind.AUTO
    await claim_at(
        services,
        kind,
        assignee=adjuster_staff,
        status=ClaimStatus.UNDER_REVIEW,
        submitted_at=now - timedelta(days=40),
    )
    await claim_at(services, kind, assignee=adjuster_staff, status=ClaimStatus.SUBMITTED)
    await claim_at(services, kind, assignee=adjuster_staff, status=ClaimStatus.PAID)
    load = {w.staff_id: w for w in await service.workload(now)}
    mine = load[str(adjuster_staff.id)]
    assert (mine.claims, mine.claims_overdue, mine.total) == (2, 1, 2)
    assert load[str(agent.id)].conversations == 1
    boss_load = load[str(boss_staff.id)]
    assert (boss_load.complaints, boss_load.total) == (4, 4)  # answered ones are still open


async def test_the_whole_dashboard_at_once(services: Services) -> None:
    boss = boss_of(await make_staff(StaffRole.SUPERVISOR))
    await claim_at(services, ProductKind.AUTO, created_at=at(D1, 9))
    board = await service_dashboard(boss, Period.WEEK, D1, D2 + timedelta(days=10))
    assert board.periods == ["2026-09-01", "2026-09-07"]
    assert [(f.key, f.reported) for f in board.funnel if f.segment == "ALL"] == [
        ("2026-09-01", 1),
        ("2026-09-07", 0),
    ]
    assert len(board.surveys) == len(board.collection) == len(board.conversations) == 2
