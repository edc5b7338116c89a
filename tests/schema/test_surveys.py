"""Surveys: every question kind validated against its template version, once-only
answers, the link token, expiry, quick ratings and service recovery."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry import relay
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from models.notifications import OutboxEvent
from models.surveys import RecoveryTask, ServiceRating, SurveyInvitation, SurveyResponse
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer
from tests.graphql import gql
from workflows import surveys

SUBMIT = """mutation($input: SubmitSurveyInput!) { submitSurvey(input: $input) {
  accepted errors { field code } } }"""
HAPPY: list[dict[str, Any]] = [
    {"questionKey": "q1", "number": 5},
    {"questionKey": "q2", "number": 9},
    {"questionKey": "q3", "choiceKeys": ["fast"]},
    {"questionKey": "q4", "choiceKeys": ["staff", "online"]},
    {"questionKey": "q5", "text": "很满意，谢谢"},
]

PURPOSE = "致电客户致歉"  # revealRecoveryPhone states why (logged)


@dataclass(frozen=True)
class Invited:
    customer: Customer
    token: str  # the survey link's
    login: str  # the customer's access token
    invitation: SurveyInvitation


@pytest.fixture
async def invited(services: Services) -> Invited:
    customer = await make_customer(services)
    async with in_transaction():
        invitation = await surveys.invite(
            customer.id, "claim.closed", "claim", "c-1", "CLAIM_SERVICE"
        )
    assert invitation is not None
    token = services.survey_links.token(invitation.id)
    return Invited(
        customer=customer,
        token=token,
        login=await customer_token(services, customer),
        invitation=invitation,
    )


async def my_survey(client: httpx.AsyncClient, login: str) -> dict[str, Any]:
    body = await gql(
        client,
        "{ mySurveys { id title templateVersion answered "
        "questions { key kind required options { key } } } }",
        token=login,
    )
    [survey] = body["data"]["mySurveys"]
    return survey


async def answer(
    client: httpx.AsyncClient, invited: Invited, answers: list[dict], **how: Any
) -> dict[str, Any]:
    body = await gql(
        client,
        SUBMIT,
        {"input": {"answers": answers, **how}},
        token=invited.login if "surveyId" in how else None,
    )
    return body["data"]["submitSurvey"]


async def test_answer_once_in_the_app(client: httpx.AsyncClient, invited: Invited) -> None:
    survey = await my_survey(client, invited.login)
    assert survey["title"] == "理赔服务满意度调查" and survey["templateVersion"] == 1
    assert [q["kind"] for q in survey["questions"]] == [
        "RATING",
        "NPS",
        "SINGLE_CHOICE",
        "MULTIPLE_CHOICE",
        "TEXT",
    ]
    how = {"surveyId": survey["id"]}
    assert await answer(client, invited, HAPPY, **how) == {"accepted": True, "errors": []}
    assert await answer(client, invited, HAPPY, **how) == {"accepted": True, "errors": []}
    other = [dict(HAPPY[0], number=4), *HAPPY[1:]]
    assert (await answer(client, invited, other, **how))["errors"] == [
        {"field": None, "code": "ALREADY_ANSWERED"}
    ]
    stored = await SurveyResponse.get(invitation_id=invited.invitation.id)
    assert stored.answers == {
        "q1": 5,
        "q2": 9,
        "q3": "fast",
        "q4": ["staff", "online"],
        "q5": "很满意，谢谢",
    }
    assert await RecoveryTask.all().count() == 0
    pending = await gql(client, "{ mySurveys { title } }", token=invited.login)
    assert pending["data"]["mySurveys"] == []


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"questionKey": "q1", "number": 0}, "answers.q1", "OUT_OF_RANGE"),
        ({"questionKey": "q1", "number": 6}, "answers.q1", "OUT_OF_RANGE"),
        ({"questionKey": "q2", "number": 11}, "answers.q2", "OUT_OF_RANGE"),
        ({"questionKey": "q3", "choiceKeys": ["fast", "slow"]}, "answers.q3", "OUT_OF_RANGE"),
        ({"questionKey": "q3", "choiceKeys": ["nope"]}, "answers.q3", "UNKNOWN_CHOICE"),
        ({"questionKey": "q4", "choiceKeys": ["staff", "x"]}, "answers.q4", "UNKNOWN_CHOICE"),
        ({"questionKey": "q5", "text": "长" * 1001}, "answers.q5", "TOO_LONG"),
        ({"questionKey": "q9", "number": 1}, "answers", "UNKNOWN_QUESTION"),
        ({"questionKey": "q1"}, "answers.q1", "REQUIRED"),
    ],
)
async def test_each_kind_is_validated(
    client: httpx.AsyncClient,
    invited: Invited,
    change: dict[str, Any],
    field: str,
    code: str,
) -> None:
    answers = [a for a in HAPPY if a["questionKey"] != change["questionKey"]] + [change]
    result = await answer(client, invited, answers, token=invited.token)
    assert result == {"accepted": False, "errors": [{"field": field, "code": code}]}
    assert await SurveyResponse.all().count() == 0


async def test_optional_questions_may_be_skipped_required_ones_not(
    client: httpx.AsyncClient, invited: Invited
) -> None:
    missing_required = [a for a in HAPPY if a["questionKey"] != "q2"]
    result = await answer(client, invited, missing_required, token=invited.token)
    assert result["errors"] == [{"field": "answers.q2", "code": "REQUIRED"}]
    only_required = HAPPY[:3]
    assert (await answer(client, invited, only_required, token=invited.token))["accepted"]


async def test_the_link_token_opens_only_its_survey(
    client: httpx.AsyncClient, services: Services, invited: Invited
) -> None:
    query = "query($t: String!) { surveyByToken(token: $t) { title answered } }"
    opened = await gql(client, query, {"t": invited.token})
    assert opened["data"]["surveyByToken"] == {"title": "理赔服务满意度调查", "answered": False}
    assert (await gql(client, query, {"t": "not-a-token"}))["data"]["surveyByToken"] is None
    result = await answer(client, invited, HAPPY, token=invited.token, channel="LINK")
    assert result == {"accepted": True, "errors": []}
    # Someone else's survey id does not work for another logged-in customer.
    stranger = await customer_token(services, await make_customer(services))
    survey_id = str(relay.GlobalID("Survey", str(invited.invitation.id)))
    body = await gql(
        client, SUBMIT, {"input": {"surveyId": survey_id, "answers": HAPPY}}, token=stranger
    )
    assert body["data"]["submitSurvey"]["errors"] == [{"field": None, "code": "NOT_FOUND"}]


async def test_expired_invitations_are_refused(client: httpx.AsyncClient, invited: Invited) -> None:
    await SurveyInvitation.filter(id=invited.invitation.id).update(
        expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    result = await answer(client, invited, HAPPY, token=invited.token)
    assert result["errors"] == [{"field": None, "code": "EXPIRED"}]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"questionKey": "q1", "number": 2}, "满意度评分2分"),
        ({"questionKey": "q2", "number": 6}, "推荐意愿6分"),
        ({"questionKey": "q5", "text": "理赔太慢了，我要投诉"}, "留言含有投诉内容"),
    ],
)
async def test_unhappy_answers_open_a_recovery_task(
    client: httpx.AsyncClient, invited: Invited, change: dict[str, Any], reason: str
) -> None:
    answers = [a for a in HAPPY if a["questionKey"] != change["questionKey"]] + [change]
    assert (await answer(client, invited, answers, token=invited.token))["accepted"]
    task = await RecoveryTask.get(customer_id=invited.customer.id)
    assert task.reason == reason
    assert timedelta(hours=23) < task.due_at - datetime.now(UTC) <= timedelta(hours=24)


async def test_invitations_are_announced_once_per_subject(
    services: Services, invited: Invited
) -> None:
    customer: Customer = invited.customer
    async with in_transaction():
        again = await surveys.invite(customer.id, "claim.closed", "claim", "c-1", "CLAIM_SERVICE")
    assert again is None
    event = await OutboxEvent.get(event_type="survey.invited")
    # The link token is derived when the SMS is sent, never stored with the event.
    assert event.customer_id == customer.id and "survey_token" not in event.payload


RATE = """mutation($input: RateServiceInput!) { rateService(input: $input) {
  rating { stars tags comment } errors { field code } } }"""


async def test_quick_ratings_are_updatable_and_low_ones_recovered(
    client: httpx.AsyncClient, services: Services
) -> None:
    from models.claims import ClaimStatus
    from tests.factories import make_claim, make_policy

    customer = await make_customer(services)
    token = await customer_token(services, customer)
    claim = await make_claim(customer, await make_policy(services, customer), ClaimStatus.PAID)
    subject = str(relay.GlobalID("Claim", str(claim.id)))

    async def rate(stars: int, comment: str = "") -> dict[str, Any]:
        body = await gql(
            client,
            RATE,
            {
                "input": {
                    "subjectType": "CLAIM",
                    "subjectId": subject,
                    "stars": stars,
                    "tags": ["速度快"],
                    "comment": comment,
                }
            },
            token=token,
        )
        return body["data"]["rateService"]

    assert (await rate(6))["errors"] == [{"field": "stars", "code": "OUT_OF_RANGE"}]
    assert (await rate(5))["rating"] == {"stars": 5, "tags": ["速度快"], "comment": ""}
    assert await RecoveryTask.all().count() == 0
    assert (await rate(1, "态度差"))["rating"]["stars"] == 1
    assert await RecoveryTask.filter(source="rating").count() == 1
    bad = await gql(
        client,
        RATE,
        {"input": {"subjectType": "CAT", "subjectId": subject, "stars": 3}},
        token=token,
        allow_errors=True,
    )
    # The subject types are an enum (RatingSubject): anything else never reaches a resolver.
    assert bad.get("data") is None and "RatingSubject" in bad["errors"][0]["message"]
    assert await ServiceRating.all().count() == 1


@postgres_only
async def test_concurrent_submissions_record_one_answer(
    client: httpx.AsyncClient, invited: Invited
) -> None:
    results = await asyncio.gather(
        *[answer(client, invited, HAPPY, token=invited.token) for _ in range(8)],
        *[
            answer(client, invited, [dict(HAPPY[0], number=4), *HAPPY[1:]], token=invited.token)
            for _ in range(4)
        ],
    )
    assert await SurveyResponse.all().count() == 1
    stored = await SurveyResponse.get(invitation_id=invited.invitation.id)
    winners = [r for r in results if r["accepted"]]
    losers = [r for r in results if not r["accepted"]]
    # Repeating the stored answers is accepted (a retry); different answers are not.
    assert stored.answers["q1"] in (4, 5)
    assert (len(winners), len(losers)) == ((8, 4) if stored.answers["q1"] == 5 else (4, 8))
    assert all(r["errors"][0]["code"] == "ALREADY_ANSWERED" for r in losers)


async def test_figures_match_hand_computed_values(
    client: httpx.AsyncClient, services: Services
) -> None:
    from models.staff import StaffRole
    from tests.factories import make_staff, staff_token

    answers = [  # (rating, nps, channel, product kind)
        (5, 10, "APP", "AUTO"),
        (4, 9, "APP", "AUTO"),
        (2, 3, "MINI_PROGRAM", "HEALTH"),
        (5, 7, "LINK", "HEALTH"),
    ]
    for n, (stars, nps, channel, kind) in enumerate(answers):
        customer = await make_customer(services)
        async with in_transaction():
            made = await surveys.invite(
                customer.id, "claim.closed", "claim", f"f-{n}", "CLAIM_SERVICE", product_kind=kind
            )
        assert made is not None
        await surveys.submit(
            made,
            [
                surveys.Answer("q1", stars),
                surveys.Answer("q2", nps),
                surveys.Answer("q3", None, ("ok",)),
            ],
            channel,
        )
    unanswered = await make_customer(services)  # a fifth invitation, never answered
    async with in_transaction():
        await surveys.invite(unanswered.id, "claim.closed", "claim", "f-x", "CLAIM_SERVICE")

    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    query = """query($g: FigureGroup!, $a: Date!, $b: Date!) {
      surveyFigures(groupBy: $g, firstDay: $a, lastDay: $b) {
        key responses ratings csat averageRating npsAnswers nps invitations responseRate } }"""
    today = surveys.period_keys(datetime.now(UTC))["day"]

    async def figures(group: str) -> list[dict[str, Any]]:
        body = await gql(client, query, {"g": group, "a": today, "b": today}, token=supervisor)
        return body["data"]["surveyFigures"]

    [day] = await figures("DAY")
    # CSAT: 3 of 4 ratings are 4-5 = 75%; average (5+4+2+5)/4 = 4.00;
    # NPS: promoters 2 (10, 9), detractors 1 (3) of 4 → 50% - 25% = 25; 4 of 5 answered.
    assert day == {
        "key": today,
        "responses": 4,
        "ratings": 4,
        "csat": "75.0",
        "averageRating": "4.00",
        "npsAnswers": 4,
        "nps": "25.0",
        "invitations": 5,
        "responseRate": "80.0",
    }
    by_kind = {f["key"]: f for f in await figures("PRODUCT_KIND")}
    assert by_kind["AUTO"]["csat"] == "100.0" and by_kind["AUTO"]["nps"] == "100.0"
    assert by_kind["HEALTH"]["csat"] == "50.0" and by_kind["HEALTH"]["nps"] == "-50.0"
    assert by_kind["HEALTH"]["invitations"] is None  # response rates are per period
    by_channel = {f["key"]: f["responses"] for f in await figures("CHANNEL")}
    assert by_channel == {"APP": 2, "LINK": 1, "MINI_PROGRAM": 1}
    customer_token_ = await customer_token(services, await make_customer(services))
    refused = await gql(
        client,
        query,
        {"g": "DAY", "a": today, "b": today},
        token=customer_token_,
        allow_errors=True,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_supervisors_work_the_recovery_queue(
    client: httpx.AsyncClient, services: Services, invited: Invited
) -> None:
    from models.staff import StaffRole
    from tests.factories import make_staff, staff_token

    unhappy = [dict(HAPPY[0], number=1), *HAPPY[1:]]
    assert (await answer(client, invited, unhappy, token=invited.token))["accepted"]
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    queue = "{ recoveryTasks { id reason customerPhone overdue outcome } }"
    [task] = (await gql(client, queue, token=supervisor))["data"]["recoveryTasks"]
    assert task["reason"] == "满意度评分1分" and task["overdue"] is False
    assert "****" in task["customerPhone"]
    reveal = """mutation($input: RevealRecoveryPhoneInput!) { revealRecoveryPhone(input: $input) {
      phone errors { code } } }"""
    shown = await gql(
        client,
        reveal,
        {"input": {"taskId": task["id"], "purpose": "致电客户致歉"}},
        token=supervisor,
    )
    phone = shown["data"]["revealRecoveryPhone"]["phone"]
    assert phone.startswith(task["customerPhone"][:3]) and phone.endswith(
        task["customerPhone"][-4:]
    )
    complete = """mutation($input: CompleteRecoveryTaskInput!) {
      completeRecoveryTask(input: $input) { completed errors { field code } } }"""
    empty = await gql(
        client, complete, {"input": {"taskId": task["id"], "outcome": " "}}, token=supervisor
    )
    assert empty["data"]["completeRecoveryTask"]["errors"] == [
        {"field": "outcome", "code": "REQUIRED"}
    ]
    done = await gql(
        client,
        complete,
        {"input": {"taskId": task["id"], "outcome": "已致电客户致歉，加快后续处理"}},
        token=supervisor,
    )
    assert done["data"]["completeRecoveryTask"] == {"completed": True, "errors": []}
    assert (await gql(client, queue, token=supervisor))["data"]["recoveryTasks"] == []
    closed = await gql(
        client,
        reveal,
        {"input": {"taskId": task["id"], "purpose": "致电客户致歉"}},
        token=supervisor,
    )
    assert closed["data"]["revealRecoveryPhone"]["errors"] == [{"code": "NOT_FOUND"}]
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    refused = await gql(client, queue, token=agent, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_staff_publish_new_versions_and_old_answers_keep_theirs(
    client: httpx.AsyncClient, services: Services, invited: Invited
) -> None:
    from models.staff import StaffRole
    from models.surveys import SurveyTemplate
    from tests.factories import make_staff, staff_token

    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    publish = """mutation($input: CreateSurveyTemplateVersionInput!) {
      createSurveyTemplateVersion(input: $input) { code version errors { field code } } }"""
    question = {"key": "q1", "kind": "RATING", "text": "您对理赔服务满意吗？", "required": True}
    bad = await gql(
        client,
        publish,
        {
            "input": {
                "code": "claim_service",
                "title": "新版",
                "questions": [question, {**question, "text": "重复"}],
            }
        },
        token=supervisor,
    )
    assert bad["data"]["createSurveyTemplateVersion"]["errors"][0]["field"] == "questions.1"
    no_options = {
        "key": "q2",
        "kind": "SINGLE_CHOICE",
        "text": "速度？",
        "options": [{"key": "a", "text": "快"}],
    }
    bad = await gql(
        client,
        publish,
        {"input": {"code": "claim_service", "title": "新版", "questions": [question, no_options]}},
        token=supervisor,
    )
    assert bad["data"]["createSurveyTemplateVersion"]["errors"][0]["code"] == "UNKNOWN_CHOICE"
    good = await gql(
        client,
        publish,
        {"input": {"code": "claim_service", "title": "理赔回访", "questions": [question]}},
        token=supervisor,
    )
    assert good["data"]["createSurveyTemplateVersion"] == {
        "code": "CLAIM_SERVICE",
        "version": 2,
        "errors": [],
    }
    assert (await surveys.template("CLAIM_SERVICE")).version == 2
    # The open invitation still answers version 1, with all its questions.
    assert (await answer(client, invited, HAPPY, token=invited.token))["accepted"]
    response = await SurveyResponse.get(invitation_id=invited.invitation.id)
    assert (await SurveyTemplate.get(id=response.template_id)).version == 1
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    refused = await gql(
        client,
        publish,
        {"input": {"code": "X", "title": "x", "questions": [question]}},
        token=agent,
        allow_errors=True,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_relationship_surveys_once_a_year_and_payout_surveys(
    services: Services,
) -> None:
    from tests.factories import make_policy

    holder = await make_customer(services)
    await make_policy(services, holder)
    assert await surveys.invite_relationship_surveys() == 1
    assert await surveys.invite_relationship_surveys() == 0  # asked within the year
    invitation = await SurveyInvitation.get(customer_id=holder.id)
    assert invitation.trigger == "relationship"
    template = await invitation.template
    assert template.code == "RELATIONSHIP"


async def test_two_surveys_of_one_customer_keep_their_own_questions(
    client: httpx.AsyncClient, services: Services, invited: Invited
) -> None:
    """Both templates have a `q1`: as `SurveyQuestion.id` it made Apollo's cache show the
    yearly survey's questions in the claim survey. Questions have a `key` now, kept
    inside their Survey, and each Survey is a Node of its own."""
    from tests.factories import make_policy

    await make_policy(services, invited.customer)
    assert await surveys.invite_relationship_surveys() == 1
    query = "{ mySurveys { id title questions { key text } } }"
    mine = (await gql(client, query, token=invited.login))["data"]["mySurveys"]
    assert len({s["id"] for s in mine}) == 2
    by_title = {s["title"]: s for s in mine}
    claim, yearly = by_title["理赔服务满意度调查"], by_title["年度客户关系调查"]
    assert claim["questions"][0]["key"] == yearly["questions"][0]["key"] == "q1"
    assert claim["questions"][0]["text"] != yearly["questions"][0]["text"]
    node = "query($id: ID!) { node(id: $id) { id ... on Survey { title questions { key text } } } }"
    for survey in mine:
        found = (await gql(client, node, {"id": survey["id"]}, token=invited.login))["data"]
        assert found["node"] == survey


async def test_survey_ids_sent_before_the_rename_still_open_the_survey(
    client: httpx.AsyncClient, invited: Invited
) -> None:
    """Inbox entries and push messages already delivered carry `SurveyInvitation:…`."""
    legacy = str(relay.GlobalID("SurveyInvitation", str(invited.invitation.id)))
    current = str(relay.GlobalID("Survey", str(invited.invitation.id)))
    node = "query($id: ID!) { node(id: $id) { id __typename } }"
    found = (await gql(client, node, {"id": legacy}, token=invited.login))["data"]["node"]
    assert found == {"id": current, "__typename": "Survey"}
    accepted = await answer(client, invited, HAPPY, surveyId=legacy)
    assert accepted == {"accepted": True, "errors": []}


async def test_new_invitations_announce_the_surveys_id(invited: Invited) -> None:
    event = await OutboxEvent.get(event_type="survey.invited")
    assert event.payload["invitation_id"] == str(relay.GlobalID("Survey", str(event.entity_id)))


def test_links_are_made_for_messages_with_either_id() -> None:
    from push.base import PushMessage
    from push.survey_links import invitation_of

    invitation_id = uuid.uuid4()

    def message(type_name: str) -> PushMessage:
        value = str(relay.GlobalID(type_name, str(invitation_id)))
        return PushMessage(
            kind="survey.invited",
            title="问卷",
            body="请评价",
            deep_link=f"anxin://surveys/{value}",
            mini_program_page="pages/survey/answer",
            urgent=False,
            collapse_id="e-1",
            data={"invitation_id": value},
        )

    assert invitation_of(message("Survey")) == invitation_id
    assert invitation_of(message("SurveyInvitation")) == invitation_id
    assert invitation_of(message("Claim")) is None
