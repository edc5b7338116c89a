"""``rateService`` as a flood of the recovery queue: ratings of subjects that do not
exist or are someone else's are refused, and however many unhappy signals arrive for
one subject (ratings, surveys, visit complaints), at most one recovery task is open for
it — enforced by the database, not by a check before the insert."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from strawberry import relay
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus
from models.customers import Customer
from models.policies import Policy
from models.staff import StaffRole, StaffUser
from models.surveys import RecoveryTask, ServiceRating
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from tests.conftest import postgres_only
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows import surveys, visits
from workflows.access import Actor

RATE = """mutation($input: RateServiceInput!) { rateService(input: $input) {
  rating { stars } errors { field code } } }"""
UNHAPPY = [surveys.Answer("q1", 1), surveys.Answer("q2", 2), surveys.Answer("q3", None, ("slow",))]


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


async def rate(
    client: httpx.AsyncClient, token: str, subject_type: str, subject_id: str, stars: int = 1
) -> dict[str, Any]:
    body = await gql(
        client,
        RATE,
        {"input": {"subjectType": subject_type, "subjectId": subject_id, "stars": stars}},
        token=token,
    )
    return body["data"]["rateService"]


@dataclass(frozen=True)
class People:
    """A customer with a closed claim, a stranger with another, and the staff."""

    me: Customer
    token: str  # mine
    my_policy: Policy
    their_policy: Policy
    my_claim: Claim
    their_claim: Claim
    handler: StaffUser  # my claim's adjuster
    other_staff: StaffUser


@pytest.fixture
async def people(services: Services) -> People:
    me = await make_customer(services, name="王芳")
    stranger = await make_customer(services, name="赵强")
    handler = await make_staff(StaffRole.ADJUSTER)
    my_policy = await make_policy(services, me)
    their_policy = await make_policy(services, stranger)
    my_claim = await make_claim(me, my_policy, ClaimStatus.CLOSED, assignee_id=handler.id)
    their_claim = await make_claim(stranger, their_policy, ClaimStatus.CLOSED)
    return People(
        me=me,
        token=await customer_token(services, me),
        my_policy=my_policy,
        their_policy=their_policy,
        my_claim=my_claim,
        their_claim=their_claim,
        handler=handler,
        other_staff=await make_staff(StaffRole.AGENT),
    )


async def test_made_up_and_other_customers_subjects_are_refused(
    client: httpx.AsyncClient, people: People
) -> None:
    token = people.token
    refused = [
        ("CLAIM", gid("Claim", uuid.uuid4())),  # made up
        ("CLAIM", gid("Claim", people.their_claim.id)),  # someone else's
        ("CLAIM", gid("Policy", people.my_policy.id)),  # the wrong kind of ID
        ("CLAIM", "Q2xhaW06MQ=="),  # Claim:1, not even a UUID
        ("POLICY", gid("Policy", people.their_policy.id)),
        ("PAYMENT", gid("PaymentOrder", uuid.uuid4())),
        ("VISIT", gid("MyVisit", uuid.uuid4())),
        ("STAFF", gid("StaffMember", people.other_staff.id)),  # never served me
    ]
    for subject_type, subject_id in refused:
        result = await rate(client, token, subject_type, subject_id)
        assert result == {
            "rating": None,
            "errors": [{"field": "subjectId", "code": "NOT_FOUND"}],
        }, (subject_type, subject_id)
    assert await ServiceRating.all().count() == 0
    assert await RecoveryTask.all().count() == 0

    my_visit = await FollowUpVisit.create(
        customer=people.me,
        trigger=VisitTrigger.CLAIM_CLOSED,
        subject=f"claim:{people.my_claim.id}",
        purpose="理赔结案回访",
        channel=VisitChannel.PHONE,
        due_at=people.my_claim.created_at,
        max_attempts=3,
        retry_after_days=2,
        completed_by=people.other_staff.id,
    )
    accepted = [
        ("VISIT", gid("MyVisit", my_visit.id)),  # the customer's view of it
        ("STAFF", gid("StaffMember", people.other_staff.id)),  # made my visit now
        ("CLAIM", gid("Claim", people.my_claim.id)),
        ("POLICY", gid("Policy", people.my_policy.id)),
        ("STAFF", gid("StaffMember", people.handler.id)),  # handled my claim
    ]
    for subject_type, subject_id in accepted:
        result = await rate(client, token, subject_type, subject_id, stars=5)
        assert result == {"rating": {"stars": 5}, "errors": []}, subject_type
    assert await ServiceRating.all().count() == len(accepted)


# The per-customer rate limit (test_rating_rate_limit.py) is off here: this floods the
# dedupe itself, as a client spread over many accounts would.
@pytest.mark.parametrize("settings_overrides", [{"limit_ratings_per_customer": "0/1h"}])
async def test_a_flood_of_one_star_ratings_opens_no_more_than_one_task_per_subject(
    client: httpx.AsyncClient, services: Services, people: People
) -> None:
    token = people.token
    for _ in range(40):
        await rate(client, token, "CLAIM", gid("Claim", uuid.uuid4()))
    mine = gid("Claim", people.my_claim.id)
    for stars in (1, 2, 1):
        assert (await rate(client, token, "CLAIM", mine, stars))["errors"] == []
    # The claim's own survey, answered unhappily, is about the same subject.
    async with in_transaction():
        made = await surveys.invite(
            people.me.id, "claim.closed", "claim", str(people.my_claim.id), "CLAIM_SERVICE"
        )
    assert made is not None
    await surveys.submit(made, UNHAPPY, "APP")
    [task] = await RecoveryTask.filter(done_at=None)
    assert task.customer_id == people.me.id

    # Once called back, a new complaint about the same subject opens a new task.
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    complete = """mutation($input: CompleteRecoveryTaskInput!) {
      completeRecoveryTask(input: $input) { completed } }"""
    done = await gql(
        client,
        complete,
        {"input": {"taskId": gid("RecoveryTask", task.id), "outcome": "已回访"}},
        token=supervisor,
    )
    assert done["data"]["completeRecoveryTask"]["completed"] is True
    async with in_transaction():
        again = await surveys.invite(
            people.me.id, "payout.received", "claim", str(people.my_claim.id), "CLAIM_SERVICE"
        )
    assert again is not None
    await surveys.submit(again, UNHAPPY, "APP")
    assert await RecoveryTask.filter(done_at=None).count() == 1
    assert await RecoveryTask.all().count() == 2


async def test_visit_complaints_share_the_visit_survey_task(
    services: Services, people: People
) -> None:
    visit = await FollowUpVisit.create(
        customer=people.me,
        trigger=VisitTrigger.CLAIM_CLOSED,
        subject=f"claim:{people.my_claim.id}",
        purpose="理赔结案回访",
        channel=VisitChannel.PHONE,
        due_at=people.my_claim.created_at,
        max_attempts=3,
        retry_after_days=2,
    )
    async with in_transaction():
        made = await surveys.invite(
            people.me.id, "visit", "visit", str(visit.id), "FOLLOW_UP_VISIT"
        )
    assert made is not None
    await surveys.submit(made, [surveys.Answer("q1", 1)], "LINK")
    agent = Actor(kind=SubjectKind.STAFF, subject_id=people.other_staff.id, role=StaffRole.AGENT)
    outcome = visits.Outcome(reached=True, complaint_raised=True)
    await visits.record_outcome(agent, visit.id, visit.version, outcome)
    assert await RecoveryTask.filter(done_at=None).count() == 1


async def test_the_database_refuses_a_second_open_task_for_a_subject(
    people: People,
) -> None:
    values: dict[str, Any] = {
        "customer_id": people.me.id,
        "source": "rating",
        "reason": "评价1星",
        "due_at": people.my_claim.created_at,
        "open_key": f"{people.me.id}:claim:{people.my_claim.id}",
    }
    await RecoveryTask.create(source_id=uuid.uuid4(), **values)
    with pytest.raises(IntegrityError):
        await RecoveryTask.create(source_id=uuid.uuid4(), **values)


@postgres_only
async def test_concurrent_unhappy_signals_open_one_task(
    client: httpx.AsyncClient, people: People
) -> None:
    """Two surveys of one claim answered and the claim rated, all at the same moment."""
    invitations = []
    for trigger in ("claim.closed", "payout.received"):
        async with in_transaction():
            made = await surveys.invite(
                people.me.id, trigger, "claim", str(people.my_claim.id), "CLAIM_SERVICE"
            )
        assert made is not None
        invitations.append(made)
    mine = gid("Claim", people.my_claim.id)
    await asyncio.gather(
        *(surveys.submit(i, UNHAPPY, "APP") for i in invitations),
        rate(client, people.token, "CLAIM", mine),
    )
    assert await RecoveryTask.filter(done_at=None).count() == 1
