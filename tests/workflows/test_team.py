"""The service team: one team per person (the database says so), assignment by skill and
least open work (never to someone on leave or without the required certificate; two at
once go to two people), an expired certificate withholding its permission, the expiry
warning sent once, bulk reassignment moving each item once, and quality reviews."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.exceptions import IntegrityError

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimEvent, ClaimStatus
from models.clock import local_today
from models.customers import Customer
from models.notifications import OutboxEvent
from models.policies import Policy
from models.staff import StaffRole, StaffUser
from models.team import (
    Certificate,
    CertificateKind,
    CertificateWarning,
    ReviewSubject,
    SkillKind,
    StaffLeave,
    TeamMember,
)
from models.visits import FollowUpVisit, VisitChannel, VisitStatus, VisitTrigger
from tests.conftest import postgres_only
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows import claims
from workflows.access import Actor, Permission
from workflows.claims import ClaimError
from workflows.team import absence, assignment, certificates, reviews, teams
from workflows.team.rules import TeamError, TeamErrorCode

NOW = datetime.now(UTC)


def actor(staff: StaffUser, withheld: frozenset[Permission] = frozenset()) -> Actor:
    return Actor(SubjectKind.STAFF, staff.id, None, staff.role, withheld=withheld)


async def admin() -> Actor:
    return actor(await make_staff(StaffRole.ADMIN))


async def insured(services: Services) -> tuple[Customer, Policy]:
    customer = await make_customer(services)
    return customer, await make_policy(services, customer)


async def open_claims(
    customer: Customer, policy: Policy, staff: StaffUser, n: int, loss_type: str = "COLLISION"
) -> None:
    for _ in range(n):
        await make_claim(
            customer,
            policy,
            ClaimStatus.UNDER_REVIEW,
            assignee_id=staff.id,
            submitted_at=NOW,
            loss_type=loss_type,
        )


async def submitted(customer: Customer, policy: Policy, loss_type: str = "COLLISION") -> Claim:
    return await make_claim(
        customer, policy, ClaimStatus.SUBMITTED, submitted_at=NOW, loss_type=loss_type
    )


async def test_a_staff_member_is_in_one_team_at_most(services: Services) -> None:
    boss = await admin()
    one = await teams.create_team(boss, "理赔一组")
    two = await teams.create_team(boss, "理赔二组")
    person = await make_staff(StaffRole.ADJUSTER)
    await teams.move_member(boss, person.id, one.id)
    with pytest.raises(IntegrityError):  # the database refuses a second team
        await TeamMember.create(team_id=two.id, staff_id=person.id)
    staff, changed = await teams.move_member(boss, person.id, two.id)
    assert staff.team == "理赔二组"
    assert set(changed) == {one.id, two.id}
    assert [m.team_id for m in await TeamMember.filter(staff_id=person.id)] == [two.id]


async def test_a_supervisor_takes_in_unteamed_staff_and_releases_members_only(
    services: Services,
) -> None:
    boss = await admin()
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    rival = await make_staff(StaffRole.SUPERVISOR)
    mine = await teams.create_team(boss, "回访组", supervisor_id=supervisor.id)
    theirs = await teams.create_team(boss, "投诉组", supervisor_id=rival.id)
    free, taken = await make_staff(), await make_staff()
    await teams.move_member(boss, taken.id, theirs.id)
    await teams.move_member(actor(supervisor), free.id, mine.id)
    with pytest.raises(TeamError) as refused:  # someone else's member
        await teams.move_member(actor(supervisor), taken.id, mine.id)
    assert refused.value.code is TeamErrorCode.NOT_ALLOWED
    with pytest.raises(TeamError):
        await teams.move_member(actor(rival), free.id, None)  # not their member
    await teams.move_member(actor(supervisor), free.id, None)
    assert not await TeamMember.exists(staff_id=free.id)


async def test_renaming_a_team_renames_it_for_its_members(services: Services) -> None:
    boss = await admin()
    team = await teams.create_team(boss, "旧名")
    person = await make_staff()
    await teams.move_member(boss, person.id, team.id)
    edited = await teams.edit_team(
        boss,
        team.id,
        team.version,
        name="新名",
        description="",
        supervisor_id=None,
        skills=[(SkillKind.LANGUAGE, "粤语")],
    )
    assert edited.version == team.version + 1
    assert (await StaffUser.get(id=person.id)).team == "新名"
    with pytest.raises(TeamError) as stale:
        await teams.edit_team(
            boss, team.id, team.version, name="x", description="", supervisor_id=None, skills=[]
        )
    assert stale.value.code is TeamErrorCode.CONFLICT
    with pytest.raises(TeamError) as unknown:
        await teams.create_team(boss, "坏组", skills=[(SkillKind.COMPLAINT_CLASS, "NOPE")])
    assert unknown.value.code is TeamErrorCode.INVALID


async def test_assignment_follows_the_skill_then_the_least_open_work(services: Services) -> None:
    boss = await admin()
    customer, policy = await insured(services)
    motor = await teams.create_team(boss, "车险组", skills=[(SkillKind.LOSS_TYPE, "COLLISION")])
    health = await teams.create_team(boss, "健康险组", skills=[(SkillKind.LOSS_TYPE, "MEDICAL")])
    busy, lighter, medic = [await make_staff(StaffRole.ADJUSTER) for _ in range(3)]
    for person, team in ((busy, motor), (lighter, motor), (medic, health)):
        await teams.move_member(boss, person.id, team.id)
    await open_claims(customer, policy, busy, 2)
    await open_claims(customer, policy, lighter, 1)
    await open_claims(customer, policy, medic, 5, "MEDICAL")
    supervisor = actor(await make_staff(StaffRole.SUPERVISOR))
    collision = await submitted(customer, policy)
    assigned = await assignment.auto_assign_claim(supervisor, collision.id, collision.version)
    assert assigned.assignee_id == lighter.id  # the motor team's least loaded
    medical = await submitted(customer, policy, "MEDICAL")
    assigned = await assignment.auto_assign_claim(supervisor, medical.id, medical.version)
    assert assigned.assignee_id == medic.id  # the only one with the skill, however busy
    # Now both motor adjusters have 2 open claims: ties go by ID.
    third = await submitted(customer, policy)
    assigned = await assignment.auto_assign_claim(supervisor, third.id, third.version)
    assert assigned.assignee_id == min(busy.id, lighter.id, key=str)


async def test_a_skill_no_team_declares_narrows_nothing(services: Services) -> None:
    customer, policy = await insured(services)
    first, second = [await make_staff(StaffRole.ADJUSTER) for _ in range(2)]
    await open_claims(customer, policy, first, 1)
    claim = await submitted(customer, policy, "THEFT")
    supervisor = actor(await make_staff(StaffRole.SUPERVISOR))
    assigned = await assignment.auto_assign_claim(supervisor, claim.id, claim.version)
    assert assigned.assignee_id == second.id
    assert assigned.status is ClaimStatus.UNDER_REVIEW


async def test_nobody_on_leave_or_without_the_certificate_is_assigned(services: Services) -> None:
    boss = await admin()
    customer, policy = await insured(services)
    away, uncertified, expired, able = [await make_staff(StaffRole.ADJUSTER) for _ in range(4)]
    await open_claims(customer, policy, able, 3)  # the busiest, yet the only eligible one
    await StaffLeave.create(
        staff_id=away.id, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1)
    )
    await certificates.set_requirement(
        boss, Permission.CLAIM_REVIEW, CertificateKind.CLAIMS_ADJUSTER
    )
    today = local_today()
    for person in (away, able):
        await certificates.grant_certificate(
            boss, person.id, CertificateKind.CLAIMS_ADJUSTER, expires_on=today + timedelta(days=90)
        )
    await certificates.grant_certificate(
        boss,
        expired.id,
        CertificateKind.CLAIMS_ADJUSTER,
        issued_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=1),
    )
    eligible = await assignment.eligible(Permission.CLAIM_REVIEW, roles=[StaffRole.ADJUSTER])
    assert eligible == [able.id]
    assert uncertified.id not in eligible
    claim = await submitted(customer, policy)
    supervisor = actor(await make_staff(StaffRole.SUPERVISOR))
    assert (
        await assignment.auto_assign_claim(supervisor, claim.id, claim.version)
    ).assignee_id == (able.id)
    # Once the leave is over, the absent colleague (no open work) comes first.
    await StaffLeave.filter(staff_id=away.id).update(ends_at=NOW - timedelta(hours=1))
    other = await submitted(customer, policy)
    assert (
        await assignment.auto_assign_claim(supervisor, other.id, other.version)
    ).assignee_id == (away.id)
    await StaffLeave.filter(staff_id__in=[away.id, able.id]).delete()
    await StaffUser.filter(id__in=[away.id, able.id]).update(is_active=False)
    last = await submitted(customer, policy)
    with pytest.raises(TeamError) as nobody:
        await assignment.auto_assign_claim(supervisor, last.id, last.version)
    assert nobody.value.code is TeamErrorCode.NO_ONE_ELIGIBLE


@postgres_only
async def test_concurrent_assignments_go_to_different_people(services: Services) -> None:
    """Both pickers see two idle adjusters; the row lock makes the second wait and count
    the first one's claim."""
    customer, policy = await insured(services)
    first, second = [await make_staff(StaffRole.ADJUSTER) for _ in range(2)]
    supervisor = actor(await make_staff(StaffRole.SUPERVISOR))
    arrivals = [await submitted(customer, policy) for _ in range(4)]
    done = await asyncio.gather(
        *(assignment.auto_assign_claim(supervisor, c.id, c.version) for c in arrivals)
    )
    assignees = sorted(str(c.assignee_id) for c in done)
    assert assignees == sorted([str(first.id)] * 2 + [str(second.id)] * 2)


async def test_an_expired_certificate_withholds_its_permission(services: Services) -> None:
    """No requirement: the role's permissions. With one: only while a valid certificate
    is held (its last day included); a revoked one counts as none."""
    boss = await admin()
    adjuster = await make_staff(StaffRole.ADJUSTER)
    assert await certificates.withheld_permissions(adjuster.id) == frozenset()
    await certificates.set_requirement(
        boss, Permission.CLAIM_REVIEW, CertificateKind.CLAIMS_ADJUSTER
    )
    assert await certificates.withheld_permissions(adjuster.id) == {Permission.CLAIM_REVIEW}
    today = local_today()
    old = await certificates.grant_certificate(
        boss,
        adjuster.id,
        CertificateKind.CLAIMS_ADJUSTER,
        issued_on=today - timedelta(days=730),
        expires_on=today - timedelta(days=1),
    )
    assert await certificates.withheld_permissions(adjuster.id) == {Permission.CLAIM_REVIEW}
    await Certificate.filter(id=old.id).update(expires_on=today)  # its last valid day
    assert await certificates.withheld_permissions(adjuster.id) == frozenset()
    assert await certificates.withheld_permissions(adjuster.id, today + timedelta(days=1)) == {
        Permission.CLAIM_REVIEW
    }
    await certificates.revoke_certificate(boss, old.id)
    assert await certificates.withheld_permissions(adjuster.id) == {Permission.CLAIM_REVIEW}
    with pytest.raises(TeamError):  # never lock out the certificate managers
        await certificates.set_requirement(
            boss, Permission.TEAM_MANAGE, CertificateKind.SERVICE_BASICS
        )


async def test_an_adjuster_without_a_valid_certificate_cannot_decide(services: Services) -> None:
    boss = await admin()
    customer, policy = await insured(services)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    claim = await make_claim(
        customer, policy, ClaimStatus.UNDER_REVIEW, assignee_id=adjuster.id, submitted_at=NOW
    )
    await certificates.set_requirement(
        boss, Permission.CLAIM_REVIEW, CertificateKind.CLAIMS_ADJUSTER
    )
    me = actor(adjuster, await certificates.withheld_permissions(adjuster.id))
    with pytest.raises(ClaimError) as refused:
        await claims.request_more_info(me, claim.id, ["发票"], "缺少发票", claim.version)
    assert refused.value.code.value == "NOT_ALLOWED"
    await certificates.grant_certificate(
        boss, adjuster.id, CertificateKind.CLAIMS_ADJUSTER, expires_on=local_today()
    )
    me = actor(adjuster, await certificates.withheld_permissions(adjuster.id))
    asked = await claims.request_more_info(me, claim.id, ["发票"], "缺少发票", claim.version)
    assert asked.status is ClaimStatus.MORE_INFO_REQUESTED


async def test_the_expiry_warning_goes_once_to_the_holder_and_the_supervisor(
    services: Services,
) -> None:
    boss = await admin()
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    team = await teams.create_team(boss, "理赔组", supervisor_id=supervisor.id)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    await teams.move_member(boss, adjuster.id, team.id)
    today = local_today()
    soon = await certificates.grant_certificate(
        boss, adjuster.id, CertificateKind.CLAIMS_ADJUSTER, expires_on=today + timedelta(days=20)
    )
    await certificates.grant_certificate(  # not yet: 31 days
        boss, adjuster.id, CertificateKind.SERVICE_BASICS, expires_on=today + timedelta(days=31)
    )
    sent = await asyncio.gather(certificates.warn_expiring(), certificates.warn_expiring())
    assert sum(sent) == 1
    assert await certificates.warn_expiring() == 0
    assert await CertificateWarning.filter(certificate_id=soon.id).count() == 1
    events = await OutboxEvent.filter(event_type="staff.certificate_expiring")
    assert len(events) == 1
    assert set(events[0].payload["staff_ids"]) == {str(adjuster.id), str(supervisor.id)}
    assert "20天后到期" in events[0].payload["text"]
    # 11 days later the other certificate is within 30 days: warned on its own.
    assert await certificates.warn_expiring(today + timedelta(days=11)) == 1


async def test_a_course_sets_the_certificate_and_its_expiry(services: Services) -> None:
    boss = await admin()
    await certificates.ensure_courses()
    await certificates.ensure_courses()  # idempotent
    from models.team import Course

    course = await Course.get(code="CLAIMS_ADJUSTER_BASIC")
    person = await make_staff(StaffRole.ADJUSTER)
    issued = local_today().replace(day=15)
    cert = await certificates.grant_certificate(
        boss, person.id, None, course_id=course.id, issued_on=issued
    )
    assert cert.kind is CertificateKind.CLAIMS_ADJUSTER
    assert cert.expires_on == issued.replace(year=issued.year + 2) - timedelta(days=1)
    with pytest.raises(TeamError):
        await certificates.grant_certificate(boss, person.id, CertificateKind.UNDERWRITER)


async def _visit(customer: Customer, staff: StaffUser) -> FollowUpVisit:
    return await FollowUpVisit.create(
        customer=customer,
        trigger=VisitTrigger.CALLBACK,
        subject=f"test:{uuid.uuid4()}",
        purpose="新单回访",
        channel=VisitChannel.PHONE,
        due_at=NOW + timedelta(days=1),
        assignee_id=staff.id,
        max_attempts=3,
        retry_after_days=2,
    )


async def test_bulk_reassignment_moves_each_item_once(services: Services) -> None:
    boss = await admin()
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    team = await teams.create_team(boss, "综合组", supervisor_id=supervisor.id)
    customer, policy = await insured(services)
    absent, colleague = await make_staff(StaffRole.ADJUSTER), await make_staff(StaffRole.ADJUSTER)
    agent = await make_staff(StaffRole.AGENT)
    for person in (absent, colleague, agent):
        await teams.move_member(boss, person.id, team.id)
    await open_claims(customer, policy, absent, 2)
    visit = await _visit(customer, absent)
    me = actor(supervisor)
    with pytest.raises(TeamError) as present:
        await absence.reassign_in_bulk(me, absent.id)
    assert present.value.code is TeamErrorCode.NOT_ABSENT
    await absence.record_leave(
        me, absent.id, NOW - timedelta(hours=1), NOW + timedelta(days=5), "年假"
    )
    first, second = await asyncio.gather(
        absence.reassign_in_bulk(me, absent.id), absence.reassign_in_bulk(me, absent.id)
    )
    moved = first.moved + second.moved
    assert len(moved) == 3 and not first.left and not second.left
    assert await Claim.filter(assignee_id=absent.id).count() == 0
    assert (
        await Claim.filter(assignee_id=colleague.id, status=ClaimStatus.UNDER_REVIEW).count() == 2
    )
    visit = await FollowUpVisit.get(id=visit.id)
    assert visit.status is VisitStatus.SCHEDULED
    # No team declares the PHONE channel: anyone on duty who handles visits (the agent,
    # the supervisor or the administrator, each with no open work), never the absent one.
    assert visit.assignee_id in {agent.id, supervisor.id, uuid.UUID(str(boss.subject_id))}
    assert await ClaimEvent.filter(action="reassign").count() == 2  # one each, not two
    outsider = actor(await make_staff(StaffRole.SUPERVISOR))
    with pytest.raises(TeamError):  # not their team
        await absence.record_leave(outsider, colleague.id, NOW, NOW + timedelta(days=1), "")


async def test_quality_reviews_score_sampled_cases_of_the_team(services: Services) -> None:
    boss = await admin()
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    team = await teams.create_team(boss, "理赔组", supervisor_id=supervisor.id)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    await teams.move_member(boss, adjuster.id, team.id)
    customer, policy = await insured(services)
    decided = await make_claim(
        customer,
        policy,
        ClaimStatus.APPROVED,
        assignee_id=adjuster.id,
        submitted_at=NOW - timedelta(days=3),
        decided_at=NOW - timedelta(days=1),
    )
    await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW, assignee_id=adjuster.id)
    me = actor(supervisor)
    sample = await reviews.queue(me, ReviewSubject.CLAIM)
    assert [c.id for c in sample] == [decided.id]
    assert (
        await reviews.queue(actor(await make_staff(StaffRole.SUPERVISOR)), ReviewSubject.CLAIM)
        == []
    )
    points = {"documents_checked": 30, "decision_explained": 20, "within_clock": 20, "courtesy": 10}
    with pytest.raises(TeamError) as own:
        await reviews.submit(actor(adjuster), ReviewSubject.CLAIM, decided.id, points)
    assert own.value.code is TeamErrorCode.NOT_ALLOWED
    with pytest.raises(TeamError) as partial:
        await reviews.submit(me, ReviewSubject.CLAIM, decided.id, {"courtesy": 10})
    assert partial.value.code is TeamErrorCode.INVALID
    review = await reviews.submit(me, ReviewSubject.CLAIM, decided.id, points, "说明可更清楚")
    assert review.score == 80 and review.staff_id == adjuster.id
    with pytest.raises(TeamError) as twice:
        await reviews.submit(me, ReviewSubject.CLAIM, decided.id, points)
    assert twice.value.code is TeamErrorCode.ALREADY_REVIEWED
    assert await reviews.queue(me, ReviewSubject.CLAIM) == []


async def test_complaints_go_to_the_team_with_the_class_skill(services: Services) -> None:
    """A team that declares the complaint class gets it (its least loaded member on
    duty); when none of them may take it, the complaints' own rule applies."""
    from models.complaints import ComplaintChannel, ComplaintClass
    from workflows.complaints import handling
    from workflows.complaints.intake import Subjects, file_complaint

    boss = await admin()
    skilled, other = await make_staff(StaffRole.AGENT), await make_staff(StaffRole.AGENT)
    team = await teams.create_team(
        boss, "理赔投诉组", skills=[(SkillKind.COMPLAINT_CLASS, ComplaintClass.CLAIM.value)]
    )
    await teams.move_member(boss, skilled.id, team.id)
    customer, policy = await insured(services)
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW)
    complaint = await file_complaint(
        Actor(SubjectKind.CUSTOMER, customer.id),
        ComplaintChannel.APP,
        "理赔太慢，一个月了还没有结果",
        Subjects(claim_id=claim.id),
    )
    complaint.content_class = ComplaintClass.CLAIM
    assert await handling.least_loaded(complaint, set()) == skilled.id
    await StaffLeave.create(
        staff_id=skilled.id, starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(days=1)
    )
    # The team is away: the complaints' own rule, among those on duty.
    fallback = await handling.least_loaded(complaint, set())
    assert fallback in {other.id, uuid.UUID(str(boss.subject_id))}


async def test_a_visit_goes_to_whoever_works_its_channel(services: Services) -> None:
    boss = await admin()
    phone_agent, online_agent = await make_staff(StaffRole.AGENT), await make_staff(StaffRole.AGENT)
    phone = await teams.create_team(boss, "电话回访组", skills=[(SkillKind.CHANNEL, "PHONE")])
    await teams.move_member(boss, phone_agent.id, phone.id)
    customer, _ = await insured(services)
    await _visit(customer, phone_agent)  # the phone agent is busier, yet the only one
    visit = await _visit(customer, online_agent)
    await FollowUpVisit.filter(id=visit.id).update(assignee_id=None)
    supervisor = actor(await make_staff(StaffRole.SUPERVISOR))
    assigned = await assignment.auto_assign_visit(supervisor, visit.id, visit.version)
    assert assigned.assignee_id == phone_agent.id
    with pytest.raises(TeamError):  # agents do not route visits
        await assignment.auto_assign_visit(actor(online_agent), visit.id, assigned.version)


async def test_a_leave_or_certificate_pressed_twice_is_recorded_once(services: Services) -> None:
    boss = await admin()
    person = await make_staff(StaffRole.ADJUSTER)
    starts, ends = NOW + timedelta(days=7), NOW + timedelta(days=9)
    first = await absence.record_leave(boss, person.id, starts, ends, "年假")
    again = await absence.record_leave(boss, person.id, starts, ends, "年假")
    assert again.id == first.id
    with pytest.raises(TeamError) as overlapping:
        await absence.record_leave(
            boss, person.id, ends - timedelta(hours=1), ends + timedelta(days=1), ""
        )
    assert overlapping.value.code is TeamErrorCode.OVERLAPS
    later = await absence.record_leave(boss, person.id, ends, ends + timedelta(days=1), "调休")
    assert await StaffLeave.filter(staff_id=person.id).count() == 2 and later.id != first.id
    until = local_today() + timedelta(days=90)
    kind = CertificateKind.CLAIMS_ADJUSTER
    granted = await certificates.grant_certificate(boss, person.id, kind, expires_on=until)
    twice = await certificates.grant_certificate(boss, person.id, kind, expires_on=until)
    assert twice.id == granted.id
    assert await Certificate.filter(staff_id=person.id).count() == 1


@postgres_only
async def test_concurrent_presses_record_one_leave_and_one_certificate(services: Services) -> None:
    boss = await admin()
    person = await make_staff(StaffRole.ADJUSTER)
    starts, ends = NOW + timedelta(days=7), NOW + timedelta(days=9)
    leaves = await asyncio.gather(
        *(absence.record_leave(boss, person.id, starts, ends, "") for _ in range(4))
    )
    until = local_today() + timedelta(days=90)
    kind = CertificateKind.CLAIMS_ADJUSTER
    granted = await asyncio.gather(
        *(certificates.grant_certificate(boss, person.id, kind, expires_on=until) for _ in range(4))
    )
    assert len({leave.id for leave in leaves}) == 1 and len({c.id for c in granted}) == 1
    assert await StaffLeave.filter(staff_id=person.id).count() == 1
    assert await Certificate.filter(staff_id=person.id).count() == 1
