"""Demo service team: the demo staff's team names become teams with supervisors and
skills, deciding claims needs a claims-adjuster certificate (everyone who decides holds
one; 孙丽's runs out within 30 days, so the warning goes out), 孙丽 has leave booked for
next week, 李明 was on leave last month, and 赵敏 has quality-reviewed sampled cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.auth import SubjectKind
from models.clock import local_today
from models.staff import StaffUser
from models.team import CertificateKind, ReviewSubject, SkillKind, Team
from workflows.access import Actor, Permission
from workflows.team import absence, certificates, reviews, teams
from workflows.team.rules import CHECKLIST

TEAMS = {  # name: (supervisor, skills, description)
    "理赔一组": (
        "supervisor.zhao",
        [
            (SkillKind.LOSS_TYPE, "COLLISION"),
            (SkillKind.LOSS_TYPE, "THEFT"),
            (SkillKind.COMPLAINT_CLASS, "CLAIM"),
            (SkillKind.CHANNEL, "APP"),
        ],
        "车险理赔",
    ),
    "理赔二组": (
        "supervisor.zhao",
        [
            (SkillKind.LOSS_TYPE, "MEDICAL"),
            (SkillKind.LOSS_TYPE, "HOSPITALIZATION"),
            (SkillKind.LANGUAGE, "粤语"),
        ],
        "健康险理赔",
    ),
    "客户服务部": (
        "supervisor.zhao",
        [
            (SkillKind.CHANNEL, "PHONE"),
            (SkillKind.LANGUAGE, "普通话"),
            (SkillKind.LANGUAGE, "四川话"),
        ],
        "热线、回访与投诉",
    ),
}
CERTIFIED = {  # username: (kind, days until expiry)
    "adjuster.wang": (CertificateKind.CLAIMS_ADJUSTER, 400),
    "adjuster.sun": (CertificateKind.CLAIMS_ADJUSTER, 20),  # warned: within 30 days
    "supervisor.zhao": (CertificateKind.CLAIMS_ADJUSTER, 600),
    "admin": (CertificateKind.CLAIMS_ADJUSTER, 1800),
    "agent.li": (CertificateKind.SERVICE_BASICS, 300),
}


async def seed_team() -> int:
    """Teams, certificates, leave and reviews; the number of quality reviews made."""
    staff = {u.username: u for u in await StaffUser.all()}
    if "admin" not in staff or "supervisor.zhao" not in staff:
        return 0
    admin = Actor(SubjectKind.STAFF, staff["admin"].id, role=staff["admin"].role)
    boss = staff["supervisor.zhao"]
    supervisor = Actor(SubjectKind.STAFF, boss.id, role=boss.role)
    for name, (lead, skills, description) in TEAMS.items():
        team = await Team.get_or_none(name=name) or await teams.create_team(
            admin, name, description, staff[lead].id, skills
        )
        for person in staff.values():
            if person.team == name:
                await teams.move_member(admin, person.id, team.id)
    await certificates.ensure_courses()
    today = local_today()
    for username, (certificate, days) in CERTIFIED.items():
        if username in staff:
            await certificates.grant_certificate(
                admin,
                staff[username].id,
                certificate,
                issued_on=today - timedelta(days=365),
                expires_on=today + timedelta(days=days),
            )
    await certificates.set_requirement(
        admin, Permission.CLAIM_REVIEW, CertificateKind.CLAIMS_ADJUSTER
    )
    await certificates.warn_expiring()
    now = datetime.now(UTC)
    if "adjuster.sun" in staff:
        await absence.record_leave(
            supervisor,
            staff["adjuster.sun"].id,
            now + timedelta(days=7),
            now + timedelta(days=12),
            "年假",
        )
    if "agent.li" in staff:
        await absence.record_leave(
            supervisor,
            staff["agent.li"].id,
            now - timedelta(days=35),
            now - timedelta(days=33),
            "病假",
        )
    made = 0
    for kind in ReviewSubject:
        for n, case in enumerate(await reviews.queue(supervisor, kind, 2)):
            checklist = CHECKLIST[kind]
            points = {
                item: most - (5 * n if item == "courtesy" else 0)
                for item, most in checklist.items()
            }
            await reviews.submit(
                supervisor, kind, case.id, points, "抽检：流程规范" if n == 0 else "沟通可更耐心"
            )
            made += 1
    return made
