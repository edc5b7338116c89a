"""Apollo Client (``@apollo/client`` 4 with its normalized ``InMemoryCache``) under Node,
against the gateway on 127.0.0.1, through the README's client module
(``tests/clients/anxin-apollo.mjs``; ``apollo-cache.mjs`` drives it).

A policyholder's app and a supervisor's console open the main screens (policies,
payments, claims with their timeline and documents, the inbox, surveys, follow-up
visits, recovery calls), then make every change the issue names: after each mutation
the screen read from the cache, without a refetch, equals what a new request answers.
Every object sits in the cache under the global ID of its own type; the same comparison
run on questions keyed by their template-local key (what ``SurveyQuestion.id`` was before
issue 13) shows another survey's questions, so the check can fail.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.policies import InsuredPerson, Policy, PremiumInstallment, Product
from models.staff import StaffRole
from models.surveys import RecoveryTask
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from push.outbox import OutboxRelay
from tests.api.gateway_process import CLIENTS, needs_node_clients, node_script, running_gateway
from tests.claims_helpers import auto_product, gid, loss_input
from tests.factories import make_customer, make_policy, make_staff
from tests.schema.test_notifications import announce
from tests.storage.samples import jpeg_with_gps, photo
from workflows import surveys
from workflows.auth import Channel, start_session

ROOT = Path(__file__).resolve().parents[2]
# No background payout, refund or visit planning between a cache read and the request
# after it (they run at start-up, then not again within the test).
QUIET_JOBS = json.dumps({"refunds": 3600, "payouts": 3600, "visit-planning": 3600})
ANSWERS = [
    {"questionKey": "q1", "number": 5},
    {"questionKey": "q2", "number": 9},
    {"questionKey": "q3", "choiceKeys": ["fast"]},
]


def test_the_readme_shows_the_apollo_client_the_tests_run() -> None:
    """The README's Apollo snippet is the module the Apollo tests run, word for word."""
    module = (CLIENTS / "anxin-apollo.mjs").read_text()
    body = module[module.index("import { ApolloClient") :]
    assert body in (ROOT / "README.md").read_text()


async def session_of(services: Services, kind: SubjectKind, subject: Any, **extra: Any) -> Any:
    """What the app keeps after a login: the token, its expiry and the refresh token."""
    channel = Channel.APP if kind is SubjectKind.CUSTOMER else Channel.STAFF_CONSOLE
    tokens = await start_session(services, kind, subject.id, channel, **extra)
    return {
        "accessToken": tokens.access_token,
        "accessTokenExpiresAt": tokens.access_expires_at.isoformat(),
        "refreshToken": tokens.refresh_token,
    }


async def journey(services: Services, tmp_path: Path) -> dict[str, Any]:
    """张伟 with a policy in its cooling-off period whose second premium is due, an auto
    policy insuring his son (who has an account: the son is the payee of its claims), a
    claim survey and a yearly survey, a follow-up visit, an inbox; a recovery call for
    his earlier complaint."""
    holder = await make_customer(services, "张伟")
    son = await make_customer(services, "张小伟")
    now = datetime.now(UTC)
    paid_policy = await make_policy(services, holder)
    await Product.filter(id=paid_policy.product_id).update(cooling_off_days=15)
    await Policy.filter(id=paid_policy.id).update(issued_at=now - timedelta(days=3))
    installment = await PremiumInstallment.get(policy_id=paid_policy.id, sequence=2)
    auto = await make_policy(services, holder, product=await auto_product(), insured=[son])
    person = await InsuredPerson.get(policy_id=auto.id)
    async with in_transaction():
        claim_survey = await surveys.invite(
            holder.id, "claim.closed", "claim", "c-7", "CLAIM_SERVICE"
        )
        await surveys.invite(holder.id, "relationship", "customer-year", "y", "RELATIONSHIP")
    assert claim_survey is not None
    visit = await FollowUpVisit.create(
        customer=holder,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{auto.id}:2027",
        purpose="保单周年回访",
        policy=auto,
        channel=VisitChannel.PHONE,
        due_at=now + timedelta(days=1),
        max_attempts=3,
        retry_after_days=2,
    )
    task = await RecoveryTask.create(
        customer=holder,
        source="rating",
        source_id=uuid.uuid4(),
        reason="评价1星：理赔太慢",
        due_at=now + timedelta(hours=20),
        open_key=f"{holder.id}:CLAIM:apollo",
    )
    for number in ("LP20261101001", "LP20261101002"):
        await announce(holder, number)
    # Relayed before the gateway starts: the inbox holds still while the app reads it.
    await OutboxRelay(services.bus, services.queue).relay_once()
    picture = tmp_path / "scene.jpg"
    picture.write_bytes(jpeg_with_gps(photo(7, (800, 600))))
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    return {
        "customer": await session_of(services, SubjectKind.CUSTOMER, holder),
        "supervisor": await session_of(
            services, SubjectKind.STAFF, supervisor, role=supervisor.role
        ),
        "installmentId": gid("PremiumInstallment", installment.id),
        "paidPolicyId": gid("Policy", paid_policy.id),
        "paymentKey": f"apollo-{uuid.uuid4()}",
        "cancelKey": f"apollo-cancel-{uuid.uuid4()}",
        "claimSurveyId": gid("Survey", claim_survey.id),
        "answers": ANSWERS,
        "visitId": gid("MyVisit", visit.id),
        "preferredTime": (now + timedelta(days=3)).isoformat(),
        "taskId": gid("RecoveryTask", task.id),
        "loss": loss_input(auto, insuredPersonId=gid("InsuredPerson", person.id)),
        "photo": str(picture),
    }


def texts(survey: dict[str, Any]) -> list[str]:
    return [question["text"] for question in survey["questions"]]


def type_of(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[0]


@needs_node_clients
async def test_apollo_cache_equals_the_server_after_every_screen_and_mutation(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    plan = await journey(services, tmp_path)
    async with running_gateway(database_url, tmp_path, job_intervals=QUIET_JOBS) as url:
        plan["graphqlUrl"] = url
        async with node_script("apollo-cache.mjs", ANXIN_PLAN=json.dumps(plan)) as script:
            events = await script.rest(90)
            assert script.process.returncode == 0, events[-1:]
    steps = {event["step"]: event for event in events}
    assert "timeout" not in steps

    # Before issue 13, questions were keyed q1, q2, … within a survey: the cache merged
    # the claim survey's q1 with the yearly survey's q1 and showed one survey's texts in
    # the other. The same comparison catches it.
    mixed = steps.pop("surveys.keyedByLocalId")
    assert mixed["cached"] != mixed["fresh"]
    asked = {s["title"]: texts(s) for s in mixed["fresh"]["mySurveys"]}
    shown = {s["title"]: texts(s) for s in mixed["cached"]["mySurveys"]}
    yearly, after_claim = "年度客户关系调查", "理赔服务满意度调查"
    mixed_up = [
        title
        for title, other in ((yearly, after_claim), (after_claim, yearly))
        if set(shown[title]) & (set(asked[other]) - set(asked[title]))
    ]
    assert mixed_up, shown  # one survey shows the other's questions

    # Every screen and object read from the cache equals a fresh answer.
    compared = [e for e in steps.values() if e.get("kind") in ("screen", "object")]
    unread = steps["markNotificationsRead"]
    for event in compared:
        cached_value, fresh = event["cached"], event["fresh"]
        if event["step"] == "markNotificationsRead":
            # A count on the root is no object a payload can return: the payload's
            # unreadCount is what the app shows.
            assert unread["unreadCount"] == fresh.pop("unreadNotificationCount")
            cached_value.pop("unreadNotificationCount")
        assert cached_value is not None, f"{event['step']}: not complete in the cache"
        assert cached_value == fresh, event["step"]
    assert len(compared) == 21

    # What the mutations changed is in the cache without a refetch.
    assert steps["completeSandboxPayment"]["installment"]["status"] == "PAID"
    [policy] = [
        e["node"]
        for e in steps["completeSandboxPayment"]["cached"]["myPolicies"]["edges"]
        if e["node"]["id"] == plan["paidPolicyId"]
    ]
    assert policy["nextPremiumDue"] is None
    assert {i["status"] for i in policy["installments"]} == {"PAID"}
    assert steps["markNotificationsRead.entry"]["cached"]["read"] is True
    assert steps["submitSurvey"]["cached"]["answered"] is True
    assert steps["requestVisitChange"]["cached"]["myVisits"][0]["changeRequested"] is True
    assert steps["declineVisit"]["cached"]["status"] == "DECLINED"
    claim = steps["uploadClaimDocuments"]["cached"]["claim"]
    assert [d["checklistCode"] for d in claim["documents"]] == ["D01"]
    assert steps["claimUpdated"]["live"]["status"] == claim["status"]
    assert "PAYEE" not in claim["myRoles"]  # the insured son's money at first
    chosen = steps["chooseClaimPayoutAccount"]["cached"]["claim"]
    assert "PAYEE" in chosen["myRoles"]
    assert chosen["payoutAccount"] == {
        "__typename": "ClaimPayoutAccount",
        "provider": "SANDBOX",
        "account": "测试账户 139****5678",
    }
    assert steps["changeClaimPayee"]["cached"]["claim"]["timeline"][-1]["action"] == (
        "change_payee"
    )
    [task] = steps["completeRecoveryTask"]["cached"]["recoveryTasks"]
    assert task["outcome"] == "已致电致歉，客户接受" and task["doneAt"]
    cancelled = steps["cancelPolicyInCoolingOff"]["cached"]["policy"]
    assert cancelled["status"] == "CANCELLED"
    order = steps["cancelPolicyInCoolingOff.order"]["cached"]["paymentOrder"]
    assert [r["reason"] for r in order["refunds"]] == ["COOLING_OFF_CANCELLATION"]

    # Every normalized object is stored under the global ID of its own type.
    keys = steps["keys"]
    for owner in ("app", "staff"):
        assert len(keys[owner]) > 10, owner
        for entry in keys[owner]:
            assert entry["key"] == f"{entry['typename']}:{entry['id']}", entry
            assert type_of(entry["id"]) == entry["typename"], entry
    assert any(e["typename"] == "SurveyQuestion" for e in keys["before"])  # keyed by q1…
