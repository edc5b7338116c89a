"""Complaint figures from complaints made through the workflow: counts and rates per
period and kind, the durations' median and 90th percentile, late first responses and
answers (a withdrawal is neither), reopen rate, satisfaction from the complaint surveys
and the proposals staff kept; only supervisors see them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx

from api.services import Services
from models.claims import ClaimStatus
from models.clock import SHANGHAI, local_today
from models.complaint_remedies import RootCauseCategory
from models.complaints import Complaint, ComplaintChannel, ComplaintClass, Urgency
from models.staff import StaffRole
from models.surveys import SurveyInvitation
from tests.factories import (
    make_claim,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.workflows.test_complaints import as_customer, as_staff, refused
from workflows import surveys
from workflows.complaints import handling, intake, root_causes
from workflows.complaints.figures import Durations, Period, complaint_figures, periods
from workflows.complaints.intake import Subjects
from workflows.complaints.rules import ComplaintErrorCode

E = ComplaintErrorCode


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


async def timed(complaint: Complaint, **times: datetime) -> None:
    """Set a complaint's times as if its steps had happened then."""
    await Complaint.filter(id=complaint.id).update(**times)


def test_periods_and_percentiles() -> None:
    assert periods(date(2026, 11, 30), date(2026, 12, 2), Period.DAY) == [
        (date(2026, 11, 30), date(2026, 11, 30)),
        (date(2026, 12, 1), date(2026, 12, 1)),
        (date(2026, 12, 2), date(2026, 12, 2)),
    ]
    assert periods(date(2026, 11, 25), date(2026, 12, 2), Period.WEEK) == [
        (date(2026, 11, 25), date(2026, 11, 29)),
        (date(2026, 11, 30), date(2026, 12, 2)),
    ]
    assert periods(date(2026, 12, 20), date(2027, 1, 5), Period.MONTH) == [
        (date(2026, 12, 20), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 1, 5)),
    ]
    hours = Durations.of(h * 3600 for h in range(1, 11))
    assert (hours.count, hours.median_hours, hours.p90_hours) == (10, Decimal(5), Decimal(9))
    assert Durations.of([]).median_hours is None


async def test_the_figures_of_two_weeks(services: Services) -> None:
    monday = local_today() - timedelta(days=14)
    monday -= timedelta(days=monday.weekday())
    tuesday, next_monday = monday + timedelta(days=1), monday + timedelta(days=7)
    now = at(monday, 0) + timedelta(days=40)

    customer = await make_customer(services)
    me = as_customer(customer)
    product = await make_product(name="安心车险")
    policy = await make_policy(services, customer, product=product)
    await make_policy(services, await make_customer(services), product=product)
    claim = await make_claim(customer, policy, ClaimStatus.REJECTED)
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    reviewer = as_staff(await make_staff(StaffRole.SUPERVISOR))

    # 1: about the claim, answered on time, then reopened (review requested).
    c1 = await intake.file_complaint(
        me, ComplaintChannel.APP, "理赔被拒不合理", Subjects(claim_id=claim.id), now=at(monday, 10)
    )
    c1 = await handling.classify(boss, c1.id, c1.version, c1.content_class, c1.urgency)
    c1 = await handling.assign(boss, c1.id, c1.version, boss.subject_id)
    c1 = await handling.respond(boss, c1.id, c1.version, "已致电")
    c1 = await handling.answer(boss, c1.id, c1.version, "维持原结论")
    await timed(
        c1,
        first_response_due_at=at(tuesday, 10),
        first_responded_at=at(monday, 12),
        answered_at=at(tuesday, 16),
    )
    c1 = await Complaint.get(id=c1.id)
    await handling.request_review(me, c1.id, c1.version, "不认可")
    # 2: never responded to nor answered: late twice.
    c2 = await intake.file_complaint(
        me, ComplaintChannel.APP, "客服态度差", Subjects(), now=at(monday, 11)
    )
    await timed(c2, first_response_due_at=at(tuesday, 11))
    # 3: recorded by phone about the policy; corrected class; answered after 20 days.
    c3 = await intake.record_complaint(
        boss,
        services.pii,
        ComplaintChannel.PHONE,
        "保单条款看不懂",
        Subjects(policy_id=policy.id),
        now=at(tuesday, 9),
    )
    other = (
        ComplaintClass.SERVICE
        if c3.content_class is not ComplaintClass.SERVICE
        else ComplaintClass.SALES
    )
    c3 = await handling.classify(boss, c3.id, c3.version, other, Urgency.GENERAL)
    c3 = await handling.assign(boss, c3.id, c3.version, reviewer.subject_id)
    c3 = await handling.respond(reviewer, c3.id, c3.version, "已致电")
    c3 = await handling.answer(reviewer, c3.id, c3.version, "已解释条款")
    await timed(
        c3,
        first_response_due_at=at(tuesday, 9) + timedelta(days=1),
        first_responded_at=at(tuesday, 10),
        answered_at=at(tuesday, 9) + timedelta(days=20),
    )
    # 4: next week, withdrawn: neither late.
    c4 = await intake.file_complaint(
        me, ComplaintChannel.MINI_PROGRAM, "不想投诉了", Subjects(), now=at(next_monday, 9)
    )
    await handling.withdraw(me, c4.id, c4.version, "已解决")

    weeks = await complaint_figures(boss, Period.WEEK, monday, next_monday + timedelta(days=6), now)
    assert [(w.first_day, w.received) for w in weeks] == [(monday, 3), (next_monday, 1)]
    week = weeks[0]
    assert [(s.key, s.count, s.total, s.rate) for s in week.by_channel] == [
        ("APP", 2, 3, Decimal("66.7")),
        ("PHONE", 1, 3, Decimal("33.3")),
    ]
    classes = Counter([c1.content_class.value, c2.content_class.value, other.value])
    assert {s.key: s.count for s in week.by_class} == classes
    [about_product, about_nothing] = week.by_product
    assert (about_product.key, about_product.count, about_product.product_id) == (
        "安心车险",
        2,
        product.id,
    )
    assert about_product.policies_in_force == 2
    assert about_product.per_10k_policies == Decimal("10000.00")
    assert (about_nothing.product_id, about_nothing.count) == (None, 1)
    assert week.first_response == Durations(2, Decimal("1.00"), Decimal("2.00"))
    assert week.answer == Durations(2, Decimal("30.00"), Decimal("480.00"))
    assert (week.first_response_late.count, week.first_response_late.total) == (1, 3)
    assert (week.answer_late.count, week.answer_late.total) == (2, 3)
    assert (week.reopened.count, week.reopened.total, week.reopened.rate) == (1, 2, Decimal(50))
    assert (week.proposals_accepted.count, week.proposals_accepted.total) == (1, 2)
    later = weeks[1]
    assert later.first_response_late.total == 0 and later.answer_late.total == 0

    days = await complaint_figures(boss, Period.DAY, monday, tuesday, now)
    assert [d.received for d in days] == [2, 1]
    [month] = await complaint_figures(boss, Period.MONTH, monday, monday, now)
    assert month.received == 2

    # Satisfaction: the complaint survey sent at closure, by the day it went out.
    c5 = await intake.file_complaint(me, ComplaintChannel.APP, "电话没人接", Subjects())
    c5 = await handling.assign(boss, c5.id, c5.version, boss.subject_id)
    c5 = await handling.respond(boss, c5.id, c5.version, "已致电")
    c5 = await handling.answer(boss, c5.id, c5.version, "已安排回电")
    c5, _ = await root_causes.record(
        boss,
        c5.id,
        c5.version,
        RootCauseCategory.COMMUNICATION,
        "客服部",
        "回电时限",
        local_today(),
    )
    await handling.close(boss, c5.id, c5.version)
    invitation = await SurveyInvitation.get(subject_id=str(c5.id))
    await surveys.submit(
        invitation,
        [surveys.Answer("q1", number=5), surveys.Answer("q2", choice_ids=("ok",))],
        "APP",
    )
    [today] = await complaint_figures(boss, Period.DAY, local_today(), local_today())
    assert (today.satisfied.count, today.satisfied.total) == (1, 1)
    assert [(s.key, s.count) for s in today.top_root_causes] == [("COMMUNICATION", 1)]

    await refused(
        E.NOT_ALLOWED, complaint_figures(as_staff(await make_staff()), Period.DAY, monday, monday)
    )
    await refused(E.DAY_NOT_FOUND, complaint_figures(boss, Period.DAY, tuesday, monday))
    await refused(
        E.DAY_NOT_FOUND, complaint_figures(boss, Period.DAY, monday, monday + timedelta(days=90))
    )


FIGURES = """query($from: Date!, $to: Date!) {
complaintFigures(period: WEEK, from: $from, to: $to) {
  firstDay lastDay received byClass { key name count total ratePercent }
  byProduct { productId name policiesInForce per10kPolicies }
  firstResponse { count medianHours p90Hours } answerLate { count total ratePercent }
  reopened { ratePercent } satisfied { count total } proposalsAccepted { count total }
  topRootCauses { key name count } } }"""


async def test_complaint_figures_over_graphql(
    client: httpx.AsyncClient, services: Services
) -> None:
    me = as_customer(await make_customer(services))
    await intake.file_complaint(me, ComplaintChannel.APP, "客服态度差", Subjects())
    boss = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    window = {"from": local_today().isoformat(), "to": local_today().isoformat()}
    denied = await gql(client, FIGURES, window, token=agent, allow_errors=True)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    [week] = (await gql(client, FIGURES, window, token=boss))["data"]["complaintFigures"]
    assert week["received"] == 1 and week["byClass"][0]["ratePercent"] == "100.0"
    assert week["topRootCauses"] == []  # none recorded yet
    assert week["byClass"][0]["name"] and week["byProduct"][0]["productId"] is None
    backwards = {"from": window["to"], "to": "2000-01-01"}
    refused_ = await gql(client, FIGURES, backwards, token=boss, allow_errors=True)
    assert "结束日期" in refused_["errors"][0]["message"]
