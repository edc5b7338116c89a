"""The service team over GraphQL: teams managed by TEAM_MANAGE, performance shown to the
person, their supervisor and administrators only (hand-computed figures), a certificate
requirement taking a permission away until a valid certificate is recorded, automatic
and bulk assignment, and quality reviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.clock import local_midnight, local_today
from models.complaints import ComplaintChannel
from models.staff import StaffRole
from models.surveys import ServiceRating
from models.team import QualityReview, ReviewSubject, TeamMember
from tests.claims_helpers import gid
from tests.factories import make_claim, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from workflows.access import Actor
from workflows.complaints.intake import Subjects, file_complaint

CREATE = """mutation($input: CreateTeamInput!) { createTeam(input: $input) {
  team { id name version supervisor { username } skills { kind value } members { username } }
  errors { code field } } }"""
MOVE = """mutation($input: MoveTeamMemberInput!) { moveTeamMember(input: $input) {
  staffMember { id team } teams { name members { username } } errors { code } } }"""
PERFORMANCE = """query($id: ID!, $period: PeriodInput!) { staffPerformance(staffId: $id,
  period: $period) { staff { username } figures { handled claimsDecided claimMedianHours
  claimBreaches ratings ratingAverage complaintsReceived complaintRate reviews reviewAverage
  } } }"""
ME = "{ me { permissions } }"
REQUIRE = """mutation($input: SetCertificateRequirementInput!) {
  setCertificateRequirement(input: $input) { permission requirement { kind } errors { code } } }"""
GRANT = """mutation($input: GrantCertificateInput!) { grantCertificate(input: $input) {
  certificate { number valid daysLeft kind } errors { code field } } }"""
REQUEST_INFO = """mutation($input: RequestClaimInfoInput!) { requestClaimInfo(input: $input) {
  claim { status } errors { code } } }"""


async def _tokens(services: Services, *people: Any) -> list[str]:
    return [await staff_token(services, p) for p in people]


async def test_administrators_create_teams_and_supervisors_take_in_members(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin, supervisor, agent = (
        await make_staff(StaffRole.ADMIN),
        await make_staff(StaffRole.SUPERVISOR, "lead"),
        await make_staff(StaffRole.AGENT, "newbie"),
    )
    admin_token, supervisor_token, agent_token = await _tokens(services, admin, supervisor, agent)
    team_input = {
        "name": "粤语服务组",
        "supervisorId": gid("StaffMember", supervisor.id),
        "skills": [{"kind": "LANGUAGE", "value": "粤语"}, {"kind": "CHANNEL", "value": "PHONE"}],
    }
    refused = await gql(
        client, CREATE, {"input": team_input}, token=supervisor_token, allow_errors=True
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    created = (await gql(client, CREATE, {"input": team_input}, token=admin_token))["data"]
    team = created["createTeam"]["team"]
    assert team["supervisor"] == {"username": "lead"}
    assert {s["value"] for s in team["skills"]} == {"粤语", "PHONE"}
    again = await gql(client, CREATE, {"input": team_input}, token=admin_token)
    assert again["data"]["createTeam"]["errors"] == [{"code": "NAME_TAKEN", "field": "name"}]
    move = {"input": {"staffId": gid("StaffMember", agent.id), "teamId": team["id"]}}
    moved = (await gql(client, MOVE, move, token=supervisor_token))["data"]["moveTeamMember"]
    assert moved["staffMember"]["team"] == "粤语服务组"
    assert moved["teams"] == [{"name": "粤语服务组", "members": [{"username": "newbie"}]}]
    listed = await gql(
        client, "{ teams { edges { node { name members { username } } } } }", token=supervisor_token
    )
    assert listed["data"]["teams"]["edges"] == [
        {"node": {"name": "粤语服务组", "members": [{"username": "newbie"}]}}
    ]
    denied = await gql(
        client, "{ teams { edges { node { id } } } }", token=agent_token, allow_errors=True
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_performance_is_for_the_person_their_supervisor_and_administrators(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await make_staff(StaffRole.ADMIN)
    supervisor, other_supervisor = (
        await make_staff(StaffRole.SUPERVISOR),
        await make_staff(StaffRole.SUPERVISOR),
    )
    adjuster, colleague = (
        await make_staff(StaffRole.ADJUSTER, "adj"),
        await make_staff(StaffRole.ADJUSTER),
    )
    admin_token, boss_token, other_token, own_token, colleague_token = await _tokens(
        services, admin, supervisor, other_supervisor, adjuster, colleague
    )
    created = await gql(
        client,
        CREATE,
        {"input": {"name": "理赔组", "supervisorId": gid("StaffMember", supervisor.id)}},
        token=admin_token,
    )
    team_id = created["data"]["createTeam"]["team"]["id"]
    for person in (adjuster, colleague):
        move = {"input": {"staffId": gid("StaffMember", person.id), "teamId": team_id}}
        await gql(client, MOVE, move, token=admin_token)
    # Hand-made figures over the last 7 local days.
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    yesterday = local_midnight(local_today()) - timedelta(hours=12)
    quick = await make_claim(
        customer,
        policy,
        ClaimStatus.APPROVED,
        assignee_id=adjuster.id,
        submitted_at=yesterday - timedelta(hours=10),
        decided_at=yesterday,
    )
    await make_claim(  # 40 days: a breach of the 30-day clock
        customer,
        policy,
        ClaimStatus.REJECTED,
        assignee_id=adjuster.id,
        submitted_at=yesterday - timedelta(days=40),
        decided_at=yesterday,
    )
    await make_claim(  # decided before the period: not counted
        customer,
        policy,
        ClaimStatus.APPROVED,
        assignee_id=adjuster.id,
        submitted_at=yesterday - timedelta(days=30),
        decided_at=yesterday - timedelta(days=20),
    )
    await ServiceRating.create(
        customer=customer, subject_type="STAFF", subject_id=str(adjuster.id), stars=4
    )
    await ServiceRating.create(
        customer=customer, subject_type="CLAIM", subject_id=str(quick.id), stars=2
    )
    await file_complaint(
        Actor(SubjectKind.CUSTOMER, customer.id),
        ComplaintChannel.APP,
        "理赔员态度不好，一直不回电话",
        Subjects(claim_id=quick.id),
    )
    await QualityReview.create(
        subject_kind=ReviewSubject.CLAIM,
        subject_id=quick.id,
        staff_id=adjuster.id,
        reviewer_id=supervisor.id,
        scores={},
        score=80,
    )
    today = local_today()
    variables = {
        "id": gid("StaffMember", adjuster.id),
        "period": {"firstDay": str(today - timedelta(days=6)), "lastDay": str(today)},
    }
    expected = {
        "handled": 2,
        "claimsDecided": 2,
        "claimMedianHours": 485.0,  # the median of 10 and 960 hours
        "claimBreaches": 1,
        "ratings": 2,
        "ratingAverage": 3.0,
        "complaintsReceived": 1,
        "complaintRate": 50.0,
        "reviews": 1,
        "reviewAverage": 80.0,
    }
    for token in (own_token, boss_token, admin_token):
        body = await gql(client, PERFORMANCE, variables, token=token)
        assert body["data"]["staffPerformance"] == {
            "staff": {"username": "adj"},
            "figures": expected,
        }
    for token in (colleague_token, other_token):
        body = await gql(client, PERFORMANCE, variables, token=token)
        assert body["data"]["staffPerformance"] is None
    team_query = """query($id: ID!, $period: PeriodInput!) { teamPerformance(teamId: $id,
      period: $period) { figures { claimsDecided } members { staff { username } } } }"""
    team_vars = {"id": team_id, "period": variables["period"]}
    team_view = (await gql(client, team_query, team_vars, token=boss_token))["data"]
    assert team_view["teamPerformance"]["figures"] == {"claimsDecided": 2}
    assert len(team_view["teamPerformance"]["members"]) == 2
    for token in (own_token, other_token):
        assert (await gql(client, team_query, team_vars, token=token))["data"] == {
            "teamPerformance": None
        }
    too_long = {**variables, "period": {"firstDay": "2025-01-01", "lastDay": "2026-12-31"}}
    body = await gql(client, PERFORMANCE, too_long, token=own_token, allow_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_expired_certificate_takes_the_permission_away(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin, adjuster = await make_staff(StaffRole.ADMIN), await make_staff(StaffRole.ADJUSTER)
    admin_token, token = await _tokens(services, admin, adjuster)
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.UNDER_REVIEW,
        assignee_id=adjuster.id,
        submitted_at=datetime.now(UTC),
    )
    ask = {
        "input": {
            "claimId": gid("Claim", claim.id),
            "items": ["发票"],
            "reason": "缺少发票原件",
            "expectedVersion": claim.version,
        }
    }
    assert "CLAIM_REVIEW" in (await gql(client, ME, token=token))["data"]["me"]["permissions"]
    required = await gql(
        client,
        REQUIRE,
        {"input": {"permission": "CLAIM_REVIEW", "kind": "CLAIMS_ADJUSTER"}},
        token=admin_token,
    )
    assert required["data"]["setCertificateRequirement"]["requirement"] == {
        "kind": "CLAIMS_ADJUSTER"
    }
    expired = {
        "input": {
            "staffId": gid("StaffMember", adjuster.id),
            "kind": "CLAIMS_ADJUSTER",
            "issuedOn": str(local_today() - timedelta(days=800)),
            "expiresOn": str(local_today() - timedelta(days=1)),
        }
    }
    granted = (await gql(client, GRANT, expired, token=admin_token))["data"]["grantCertificate"]
    assert granted["certificate"]["valid"] is False and granted["certificate"]["daysLeft"] == -1
    # The same token: the permission is gone with the next request.
    assert "CLAIM_REVIEW" not in (await gql(client, ME, token=token))["data"]["me"]["permissions"]
    login = f"""mutation {{ staffLogin(input: {{ username: "{adjuster.username}",
      password: "s3cret-pass" }}) {{ session {{ viewer {{ permissions }} }} }} }}"""
    logged_in = (await gql(client, login))["data"]["staffLogin"]["session"]["viewer"]
    assert "CLAIM_READ" in logged_in["permissions"]
    assert "CLAIM_REVIEW" not in logged_in["permissions"]
    refused = await gql(client, REQUEST_INFO, ask, token=token, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    renewed = {
        "input": {
            "staffId": gid("StaffMember", adjuster.id),
            "kind": "CLAIMS_ADJUSTER",
            "expiresOn": str(local_today() + timedelta(days=365)),
        }
    }
    await gql(client, GRANT, renewed, token=admin_token)
    asked = (await gql(client, REQUEST_INFO, ask, token=token))["data"]["requestClaimInfo"]
    assert asked == {"claim": {"status": "MORE_INFO_REQUESTED"}, "errors": []}
    locked_out = await gql(
        client,
        REQUIRE,
        {"input": {"permission": "TEAM_MANAGE", "kind": "SERVICE_BASICS"}},
        token=admin_token,
    )
    assert locked_out["data"]["setCertificateRequirement"]["errors"] == [{"code": "INVALID"}]


async def test_automatic_and_bulk_assignment_over_graphql(
    client: httpx.AsyncClient, services: Services
) -> None:
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    admin = await make_staff(StaffRole.ADMIN)
    absent, colleague = await make_staff(StaffRole.ADJUSTER), await make_staff(StaffRole.ADJUSTER)
    admin_token, token = await _tokens(services, admin, supervisor)
    created = await gql(
        client,
        CREATE,
        {
            "input": {
                "name": "车险理赔组",
                "supervisorId": gid("StaffMember", supervisor.id),
                "skills": [{"kind": "LOSS_TYPE", "value": "COLLISION"}],
            }
        },
        token=admin_token,
    )
    team_id = created["data"]["createTeam"]["team"]["id"]
    for person in (absent, colleague):
        move = {"input": {"staffId": gid("StaffMember", person.id), "teamId": team_id}}
        await gql(client, MOVE, move, token=admin_token)
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    await make_claim(
        customer,
        policy,
        ClaimStatus.UNDER_REVIEW,
        assignee_id=colleague.id,
        submitted_at=datetime.now(UTC),
    )
    claim = await make_claim(
        customer, policy, ClaimStatus.SUBMITTED, submitted_at=datetime.now(UTC)
    )
    auto = """mutation($input: AutoAssignClaimInput!) { autoAssignClaim(input: $input) {
      claim { id status } errors { code } } }"""
    assigned = await gql(
        client,
        auto,
        {"input": {"claimId": gid("Claim", claim.id), "expectedVersion": claim.version}},
        token=token,
    )
    assert assigned["data"]["autoAssignClaim"]["claim"]["status"] == "UNDER_REVIEW"
    leave = """mutation($input: RecordLeaveInput!) { recordLeave(input: $input) {
      leave { staffId reason } errors { code } } }"""
    now = datetime.now(UTC)
    recorded = await gql(
        client,
        leave,
        {
            "input": {
                "staffId": gid("StaffMember", absent.id),
                "startsAt": (now - timedelta(minutes=5)).isoformat(),
                "endsAt": (now + timedelta(days=3)).isoformat(),
                "reason": "病假",
            }
        },
        token=token,
    )
    assert recorded["data"]["recordLeave"]["leave"]["reason"] == "病假"
    bulk = """mutation($input: ReassignInBulkInput!) { reassignInBulk(input: $input) {
      moved { kind toStaffId } left { reason } claims { id } errors { code } } }"""
    moved = (
        await gql(client, bulk, {"input": {"staffId": gid("StaffMember", absent.id)}}, token=token)
    )["data"]["reassignInBulk"]
    assert moved["moved"] == [{"kind": "CLAIM", "toStaffId": gid("StaffMember", colleague.id)}]
    assert moved["claims"] == [{"id": gid("Claim", claim.id)}]
    workload = """query($id: ID!) { staffWorkload(staffId: $id) { openItems onLeave
      items { kind objectId overdue } } }"""
    mine = await gql(client, workload, {"id": gid("StaffMember", colleague.id)}, token=token)
    assert mine["data"]["staffWorkload"]["openItems"] == 2
    away = await gql(client, workload, {"id": gid("StaffMember", absent.id)}, token=token)
    assert away["data"]["staffWorkload"] == {"openItems": 0, "onLeave": True, "items": []}
    assert await TeamMember.filter(staff_id__in=[absent.id, colleague.id]).count() == 2


async def test_a_supervisor_reviews_a_sampled_case(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin, supervisor = await make_staff(StaffRole.ADMIN), await make_staff(StaffRole.SUPERVISOR)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    admin_token, token, own_token = await _tokens(services, admin, supervisor, adjuster)
    created = await gql(
        client,
        CREATE,
        {"input": {"name": "质检组", "supervisorId": gid("StaffMember", supervisor.id)}},
        token=admin_token,
    )
    move = {
        "input": {
            "staffId": gid("StaffMember", adjuster.id),
            "teamId": created["data"]["createTeam"]["team"]["id"],
        }
    }
    await gql(client, MOVE, move, token=admin_token)
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    now = datetime.now(UTC)
    claim = await make_claim(
        customer,
        policy,
        ClaimStatus.APPROVED,
        assignee_id=adjuster.id,
        submitted_at=now - timedelta(days=2),
        decided_at=now - timedelta(days=1),
    )
    queue = "{ qualityReviewQueue(kind: CLAIM) { subjectId checklist { key maxPoints } } }"
    sample = (await gql(client, queue, token=token))["data"]["qualityReviewQueue"]
    assert [c["subjectId"] for c in sample] == [gid("Claim", claim.id)]
    assert (await gql(client, queue, token=own_token))["data"]["qualityReviewQueue"] == []
    scores = [{"key": i["key"], "points": i["maxPoints"]} for i in sample[0]["checklist"]]
    submit = """mutation($input: SubmitQualityReviewInput!) { submitQualityReview(input: $input) {
      review { score staffId } errors { code } } }"""
    review_input = {
        "input": {"subjectId": gid("Claim", claim.id), "scores": scores, "note": "规范"}
    }
    done = (await gql(client, submit, review_input, token=token))["data"]["submitQualityReview"]
    assert done == {
        "review": {"score": 100, "staffId": gid("StaffMember", adjuster.id)},
        "errors": [],
    }
    again = (await gql(client, submit, review_input, token=token))["data"]["submitQualityReview"]
    assert again["errors"] == [{"code": "ALREADY_REVIEWED"}]
    seen = "query($id: ID!) { qualityReviews(staffId: $id) { score } }"
    mine = await gql(client, seen, {"id": gid("StaffMember", adjuster.id)}, token=own_token)
    assert mine["data"]["qualityReviews"] == [{"score": 100}]
