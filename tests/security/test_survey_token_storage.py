"""Survey link tokens at rest: inviting and delivering a survey (SMS through the fake
Alibaba Cloud SMS server, an e-mail visit through a real SMTP server) stores the token
nowhere — not in ``outbox_event``, ``notification`` or ``delivery`` rows, not in the
logs — while the token that reaches the customer still opens the survey. Payloads that
carried one before are purged by the migration."""

from __future__ import annotations

import hashlib
import importlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from api.channels import build_channels
from api.services import Services
from models.notifications import Channel, Delivery, Notification, OutboxEvent
from models.surveys import SurveyInvitation
from models.visits import VisitChannel, VisitRule, VisitTrigger
from push.delivery import Deliverer
from push.outbox import OutboxRelay
from push.survey_links import SurveyLinks
from tests.factories import make_customer, make_policy
from tests.fakes.aliyun_sms import FakeAliyunSms
from tests.graphql import gql
from tests.push.test_email import PASSWORD, USERNAME, SmtpServer, customer_with_email, parse, smtp
from workflows import surveys, visits

__all__ = ["smtp"]  # the SMTP server fixture
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

KEY_ID, SECRET = "LTAI5tFakeSurveyKey01", "fake-aliyun-secret-survey"
LOGIN_TEMPLATE, SURVEY_TEMPLATE = "SMS_100000001", "SMS_100000002"
BY_TOKEN = "query($t: String!) { surveyByToken(token: $t) { title answered } }"


@pytest.fixture
async def aliyun() -> Any:
    fake = FakeAliyunSms(
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        sign_name="安心保险",
        templates={
            LOGIN_TEMPLATE: frozenset({"code"}),
            SURVEY_TEMPLATE: frozenset({"survey_token"}),  # …请点击 m.anxin.cn/s/${survey_token}
        },
    )
    async with fake.running():
        yield fake


@pytest.fixture
def settings_overrides(aliyun: FakeAliyunSms, smtp: SmtpServer) -> dict[str, Any]:
    return {
        "sms_provider": "aliyun",
        "aliyun_sms_base_url": aliyun.url,
        "aliyun_access_key_id": KEY_ID,
        "aliyun_access_key_secret": SECRET,
        "aliyun_sms_login_template": LOGIN_TEMPLATE,
        "sms_templates": {"survey.invited": SURVEY_TEMPLATE},
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        "smtp_use_tls": False,
    }


async def relay_and_deliver(services: Services) -> None:
    while await OutboxRelay(services.bus, services.queue).relay_once():
        pass
    await Delivery.all().update(next_attempt_at=None)  # past quiet hours
    deliverer = Deliverer(build_channels(services), services.queue)
    for delivery in await Delivery.filter(channel__in=[Channel.SMS, Channel.EMAIL]):
        await deliverer.deliver(delivery.id)


async def stored_text() -> str:
    """Every column of every row that events and notifications leave behind."""
    client = connections.get("default")
    dumped = []
    for table in ("outbox_event", "notification", "delivery", "survey_invitation"):
        rows = await client.execute_query_dict(f"SELECT * FROM {table}")  # noqa: S608
        dumped.extend(repr(row) for row in rows)
    assert dumped
    return "\n".join(dumped)


async def test_an_sms_survey_link_token_is_stored_nowhere(
    client: httpx.AsyncClient,
    services: Services,
    aliyun: FakeAliyunSms,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    customer = await make_customer(services)
    async with in_transaction():
        await surveys.invite(customer.id, "claim.closed", "claim", "c-1", "CLAIM_SERVICE")
    await relay_and_deliver(services)

    [sms] = [s for s in aliyun.sent if s.template_code == SURVEY_TEMPLATE]
    token = sms.template_param["survey_token"]
    assert len(token) >= 32
    assert token not in await stored_text()
    assert not [r for r in caplog.records if token in r.getMessage()]
    assert await Delivery.filter(channel=Channel.SMS, status="SENT").count() == 1

    opened = await gql(client, BY_TOKEN, {"t": token})
    assert opened["data"]["surveyByToken"] == {"title": "理赔服务满意度调查", "answered": False}
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await gql(client, BY_TOKEN, {"t": forged}))["data"]["surveyByToken"] is None


async def test_an_email_visit_link_is_stored_nowhere(
    client: httpx.AsyncClient,
    services: Services,
    smtp: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await visits.current_rules()
    await VisitRule.exclude(trigger=VisitTrigger.CLAIM_CLOSED).update(enabled=False)
    await VisitRule.filter(trigger=VisitTrigger.CLAIM_CLOSED).update(channel=VisitChannel.EMAIL)
    customer = await customer_with_email(services)
    policy = await make_policy(services, customer)
    from models.claims import ClaimStatus
    from tests.factories import make_claim

    closed = datetime.now(UTC) - timedelta(days=8)
    await make_claim(customer, policy, ClaimStatus.CLOSED, closed_at=closed)
    assert await visits.plan_visits() == 1
    assert await visits.send_email_visits(email_on=True) == 1
    await relay_and_deliver(services)

    [mail] = smtp.handler.received
    body = parse(mail.content).get_body(("plain",))
    assert body is not None
    link_base = services.settings.survey_link_base
    text = body.get_content()
    assert "理赔结案回访" in text and link_base in text
    token = text.split(link_base, 1)[1].split()[0]
    assert token not in await stored_text()
    assert not [r for r in caplog.records if token in r.getMessage()]
    # The customer's inbox entry leads to the survey in the app, without the token.
    [entry] = await Notification.filter(kind="visit.email")
    assert entry.deep_link.startswith("anxin://surveys/")

    opened = await gql(client, BY_TOKEN, {"t": token})
    assert opened["data"]["surveyByToken"]["title"] == "客户回访"


async def test_the_migration_purges_tokens_stored_before(services: Services) -> None:
    customer = await make_customer(services)
    async with in_transaction():
        invitation = await surveys.invite(
            customer.id, "claim.closed", "claim", "c-2", "CLAIM_SERVICE", announce=False
        )
    assert invitation is not None
    gid = f"SurveyInvitation:{invitation.id}"
    link = "https://m.anxin.example.cn/survey?token=OLD-LINK-TOKEN-123"
    event = await OutboxEvent.create(
        event_type="survey.invited",
        entity_type="survey",
        entity_id=str(invitation.id),
        customer_id=customer.id,
        payload={"invitation_id": gid, "survey_token": "OLD-SMS-TOKEN-456"},
        published_at=datetime.now(UTC),
    )
    await OutboxEvent.create(
        event_type="visit.email",
        entity_type="visit",
        entity_id="v",
        customer_id=customer.id,
        payload={"purpose": "理赔结案回访", "invitation_id": gid, "survey_link": link},
    )
    await Notification.create(
        customer=customer,
        event_id=event.event_id,
        kind="visit.email",
        title="安心保险客户回访",
        body=f"理赔结案回访：请花1分钟告诉我们您的近况和需要：{link}",
        deep_link=link,
        mini_program_page="pages/survey/answer?id=x",
        data={"purpose": "理赔结案回访", "invitation_id": gid, "survey_link": link},
    )
    migration = importlib.import_module("models.migrations.0004_surveys_visits_hardening")
    assert await migration.purge_survey_secrets(connections.get("default")) == 3
    text = await stored_text()
    assert "OLD-LINK-TOKEN-123" not in text and "OLD-SMS-TOKEN-456" not in text
    entry = await Notification.get(kind="visit.email")
    assert entry.deep_link == f"anxin://surveys/{gid}"
    assert entry.body == "理赔结案回访：请花1分钟告诉我们您的近况和需要："
    assert (await OutboxEvent.get(id=event.id)).payload == {"invitation_id": gid}
    assert await migration.purge_survey_secrets(connections.get("default")) == 0
    assert await SurveyInvitation.filter(id=invitation.id).exists()


async def test_tokens_are_checked_by_computing_them_again(services: Services) -> None:
    """Made with another key, altered, or for another invitation: nothing opens."""
    customer = await make_customer(services)
    async with in_transaction():
        invitation = await surveys.invite(
            customer.id, "claim.closed", "claim", "c-3", "CLAIM_SERVICE", announce=False
        )
    assert invitation is not None
    links = services.survey_links
    token = links.token(invitation.id)
    assert (await surveys.by_token(links, token)) == invitation
    other_key = SurveyLinks(b"another-key-of-thirty-two-bytes!", "")
    assert await surveys.by_token(links, other_key.token(invitation.id)) is None
    assert await surveys.by_token(links, links.token(uuid.uuid4())) is None  # no such one
    assert await surveys.by_token(links, "") is None


async def test_links_sent_before_the_change_still_open_their_survey(services: Services) -> None:
    """Invitations made before tokens were derived kept their random token's hash."""
    customer = await make_customer(services)
    async with in_transaction():
        invitation = await surveys.invite(
            customer.id, "claim.closed", "claim", "c-4", "CLAIM_SERVICE", announce=False
        )
    assert invitation is not None
    old_token = "Zm9vYmFyLW9sZC1yYW5kb20tdG9rZW4x"
    await SurveyInvitation.filter(id=invitation.id).update(
        token_hash=hashlib.sha256(old_token.encode()).hexdigest()
    )
    links = services.survey_links
    assert (await surveys.by_token(links, old_token)) == invitation
