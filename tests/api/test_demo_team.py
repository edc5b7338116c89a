"""The demo's service team: teams with skills and members from the demo staff, a
certificate requirement every deciding demo staff member meets, one certificate within
30 days of expiry (warned once), leave periods, and quality reviews by the supervisor."""

from __future__ import annotations

from api.demo import seed, seed_claims, seed_service_quality
from api.demo_team import seed_team
from api.services import Services
from api.settings import Settings
from models.notifications import OutboxEvent
from models.staff import StaffUser
from models.team import QualityReview, StaffLeave, Team, TeamMember, TeamSkill
from workflows.access import ROLE_PERMISSIONS, Permission
from workflows.team.certificates import withheld_permissions


async def test_the_demo_has_teams_certificates_leave_and_reviews(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    await seed_claims(services)
    await seed_service_quality()
    assert await seed_team() >= 1
    assert set(await Team.all().values_list("name", flat=True)) == {
        "理赔一组",
        "理赔二组",
        "客户服务部",
    }
    assert await TeamSkill.all().count() >= 8
    for person in await StaffUser.exclude(team=None):
        assert (
            await TeamMember.get(staff_id=person.id).values_list("team__name", flat=True)
            == person.team
        )
        withheld = await withheld_permissions(person.id)
        assert not ROLE_PERMISSIONS[person.role] & withheld, person.username
    deciding = [
        u for u in await StaffUser.all() if Permission.CLAIM_REVIEW in ROLE_PERMISSIONS[u.role]
    ]
    for person in deciding:  # the requirement applies and each of them holds the certificate
        assert await withheld_permissions(person.id) == frozenset(), person.username
    warned = await OutboxEvent.filter(event_type="staff.certificate_expiring")
    assert len(warned) == 1
    assert await StaffLeave.all().count() == 2
    assert await QualityReview.all().count() >= 1
