"""Visit planning from the rules (each trigger, repeatable, rules switched off or changed)
and e-mail visits sent through the real e-mail channel with a survey link."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.clock import local_date
from models.customers import Customer
from models.notifications import Channel, Delivery
from models.policies import Policy
from models.staff import StaffRole
from models.surveys import SurveyInvitation
from models.visits import FollowUpVisit, VisitChannel, VisitRule, VisitStatus, VisitTrigger
from push.delivery import Deliverer
from push.outbox import OutboxRelay
from push.survey_links import EmailWithSurveyLink
from tests.factories import make_claim, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from tests.push.test_email import SmtpServer, customer_with_email, make_channel, parse, smtp
from workflows import surveys, visits

__all__ = ["smtp"]  # the SMTP server fixture
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def closed_claim(customer: Customer, policy: Policy, closed_at: datetime) -> Claim:
    return await make_claim(
        customer,
        policy,
        ClaimStatus.CLOSED,
        loss_at=closed_at - timedelta(days=20),
        closed_at=closed_at,
    )


async def only(trigger: VisitTrigger) -> None:
    """Switch every other rule off."""
    await visits.current_rules()
    await VisitRule.exclude(trigger=trigger).update(enabled=False)


async def test_claim_closure_visits_seven_days_later_once(services: Services) -> None:
    await only(VisitTrigger.CLAIM_CLOSED)
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    now = datetime.now(UTC)
    recent = await closed_claim(customer, policy, now - timedelta(days=2))
    await closed_claim(customer, policy, now - timedelta(days=90))  # before the rule looks

    assert await visits.plan_visits(now) == 1
    assert await visits.plan_visits(now) == 0  # repeatable
    [visit] = await FollowUpVisit.all()
    assert visit.claim_id == recent.id and visit.policy_id == policy.id
    assert visit.channel is VisitChannel.PHONE and visit.status is VisitStatus.SCHEDULED
    assert visit.due_at == visits.at_visit_hour(local_date(recent.closed_at) + timedelta(days=7))  # type: ignore[arg-type]
    assert visit.max_attempts == 3 and visit.purpose == "理赔结案回访"


async def test_anniversary_renewal_and_high_value_visits(services: Services) -> None:
    now = datetime.now(UTC)
    today = local_date(now)
    in_six_days = today + timedelta(days=6)
    rich = await make_customer(services)
    multi_year = await make_policy(services, rich)
    multi_year.starts_at = visits.at_visit_hour(in_six_days.replace(year=in_six_days.year - 2))
    multi_year.ends_at = now + timedelta(days=3 * 365)
    multi_year.premium = Decimal("15000.00")
    await multi_year.save()
    ending = await make_policy(services, rich)
    ending.starts_at = now - timedelta(days=345)
    ending.ends_at = now + timedelta(days=20)
    ending.premium = Decimal("6000.00")
    await ending.save()
    modest = await make_customer(services)
    await make_policy(services, modest)  # started a month ago, 1,200 a year

    assert await visits.plan_visits(now) == 3
    planned = {v.trigger: v for v in await FollowUpVisit.all()}
    anniversary = planned[VisitTrigger.POLICY_ANNIVERSARY]
    assert anniversary.policy_id == multi_year.id
    assert anniversary.due_at == visits.at_visit_hour(in_six_days)
    # The default anniversary rule writes, but this customer has no e-mail address.
    assert anniversary.channel is VisitChannel.PHONE
    renewal = planned[VisitTrigger.BEFORE_RENEWAL]
    assert renewal.policy_id == ending.id
    assert renewal.due_at == visits.at_visit_hour(today)  # 30 days before the end: past
    high_value = planned[VisitTrigger.HIGH_VALUE]
    assert high_value.customer_id == rich.id  # 21,000 ≥ 20,000; the modest one is not
    assert high_value.channel is VisitChannel.FACE_TO_FACE

    # Next month: the anniversary and renewal are planned already, and the high-value
    # customer was visited within six months.
    assert await visits.plan_visits(now + timedelta(days=31)) == 0
    assert await visits.plan_visits(now + timedelta(days=200)) == 1  # HIGH_VALUE again


async def test_rules_are_changed_with_their_version(services: Services) -> None:
    staff = (await make_customer(services)).id  # any id: who changed it
    [rule] = [r for r in await visits.current_rules() if r.trigger is VisitTrigger.CLAIM_CLOSED]
    change = visits.RuleChange(
        enabled=True, channel=VisitChannel.EMAIL, days=3, max_attempts=2, retry_after_days=1
    )
    changed = await visits.change_rule(VisitTrigger.CLAIM_CLOSED, change, rule.version, staff)
    assert (changed.days, changed.channel, changed.version) == (3, VisitChannel.EMAIL, 2)
    try:
        await visits.change_rule(VisitTrigger.CLAIM_CLOSED, change, rule.version, staff)
    except visits.VisitError as error:
        assert error.code is visits.VisitErrorCode.CONFLICT
    else:
        raise AssertionError("a stale version must be refused")
    bad = visits.RuleChange(
        enabled=True, channel=VisitChannel.PHONE, days=3, max_attempts=0, retry_after_days=1
    )
    try:
        await visits.change_rule(VisitTrigger.CLAIM_CLOSED, bad, 2, staff)
    except visits.VisitError as error:
        assert error.field == "maxAttempts"
    else:
        raise AssertionError("zero attempts must be refused")
    assert (await VisitRule.get(trigger=VisitTrigger.CLAIM_CLOSED)).max_attempts == 2


async def test_email_visits_send_a_survey_link_by_email(
    client: httpx.AsyncClient, services: Services, smtp: SmtpServer
) -> None:
    await only(VisitTrigger.CLAIM_CLOSED)
    await VisitRule.filter(trigger=VisitTrigger.CLAIM_CLOSED).update(channel=VisitChannel.EMAIL)
    customer = await customer_with_email(services)
    policy = await make_policy(services, customer)
    now = datetime.now(UTC)
    await closed_claim(customer, policy, now - timedelta(days=8))
    assert await visits.plan_visits(now) == 1
    [visit] = await FollowUpVisit.all()
    assert visit.channel is VisitChannel.EMAIL and visit.due_at < now

    link_base = services.settings.survey_link_base
    assert await visits.send_email_visits() == 1
    assert await visits.send_email_visits() == 0  # done: never sent twice
    visit = await FollowUpVisit.get(id=visit.id)
    assert visit.status is VisitStatus.DONE and visit.attempts == 1
    invitation = await SurveyInvitation.get(id=visit.survey_invitation_id)
    assert invitation.trigger == "visit"

    while await OutboxRelay(services.bus, services.queue).relay_once():
        pass
    [delivery] = await Delivery.filter(channel=Channel.EMAIL)
    assert delivery.target == f"customer:{customer.id}"
    await Delivery.filter(id=delivery.id).update(next_attempt_at=None)  # past quiet hours
    links = services.survey_links
    channel = EmailWithSurveyLink(make_channel(services, smtp.port), links)
    await Deliverer({Channel.EMAIL: channel}, services.queue).deliver(delivery.id)
    [mail] = smtp.handler.received
    body = parse(mail.content).get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "理赔结案回访" in text and link_base in text
    token = text.split(link_base, 1)[1].split()[0]
    opened = await surveys.by_token(links, token)
    assert opened is not None and opened.id == invitation.id
    # The e-mail is the only message: no separate survey push.
    assert await Delivery.exclude(channel=Channel.EMAIL).count() == 0

    # Staff see whether the e-mailed survey was answered.
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    query = "{ followUpVisits(filter: {status: DONE}) { edges { node { surveyAnswered } } } }"

    async def answered() -> bool:
        body = await gql(client, query, token=supervisor)
        [edge] = body["data"]["followUpVisits"]["edges"]
        return edge["node"]["surveyAnswered"]

    assert await answered() is False
    await surveys.submit(opened, [surveys.Answer("q1", 5)], "LINK")
    assert await answered() is True


def test_anniversaries_of_29_february_fall_on_28_february() -> None:
    assert visits.next_anniversary(date(2024, 2, 29), date(2025, 2, 1)) == date(2025, 2, 28)
    assert visits.next_anniversary(date(2024, 2, 29), date(2028, 2, 1)) == date(2028, 2, 29)
    assert visits.next_anniversary(date(2023, 12, 6), date(2026, 12, 7)) == date(2027, 12, 6)


async def test_email_visits_become_calls_without_an_address_or_channel(
    services: Services,
) -> None:
    await only(VisitTrigger.CLAIM_CLOSED)
    await VisitRule.filter(trigger=VisitTrigger.CLAIM_CLOSED).update(channel=VisitChannel.EMAIL)
    writer = await customer_with_email(services)
    policy = await make_policy(services, writer)
    await closed_claim(writer, policy, datetime.now(UTC) - timedelta(days=8))
    assert await visits.plan_visits() == 1
    assert await visits.send_email_visits(email_on=False) == 0
    [visit] = await FollowUpVisit.all()
    assert visit.channel is VisitChannel.PHONE and visit.status is VisitStatus.SCHEDULED

    await FollowUpVisit.filter(id=visit.id).update(channel=VisitChannel.EMAIL)
    await Customer.filter(id=writer.id).update(email_encrypted=None, email_masked=None)
    assert await visits.send_email_visits() == 0
    visit = await FollowUpVisit.get(id=visit.id)
    assert visit.channel is VisitChannel.PHONE and await SurveyInvitation.all().count() == 0
