"""Demo crisis data: two customers complain about a claim and name the media; the rules
open an incident from the complaints' own events; the supervisor assesses it, builds a
team and a checklist, a statement to customers is drafted by the supervisor, approved by
the administrator and released (one notice per complainant), a media statement likewise;
the review is written and the incident closed. Everything goes through the workflows
(complaint intake, crisis rules and steps), so GraphiQL shows a real closed incident.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.auth import SubjectKind
from models.complaints import ComplaintChannel
from models.crisis import (
    CrisisIncident,
    CrisisScope,
    CrisisSeverity,
    CrisisTeamRole,
    SpreadRisk,
    StatementAudience,
)
from models.policies import Policy
from models.staff import StaffUser
from workflows.access import Actor
from workflows.complaints import intake
from workflows.complaints.intake import Subjects
from workflows.crisis import detect, response

TEXTS = (
    "理赔申请提交一个多月了一直没有结果，再不处理我就找记者曝光",
    "理赔材料交了三次还说不全，我已经发微博了，准备联系媒体报道",
)


def _staff(user: StaffUser) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=user.id, role=user.role)


async def seed_crisis() -> CrisisIncident | None:
    """One closed incident with its review and the complaints it links."""
    staff = {u.username: u for u in await StaffUser.all()}
    lead, approver = _staff(staff["supervisor.zhao"]), _staff(staff["admin"])
    agent = staff["agent.li"]
    holders = list(
        dict.fromkeys(await Policy.all().order_by("number").values_list("holder_id", flat=True))
    )
    if len(holders) < len(TEXTS):
        return None
    for holder, text in zip(holders, TEXTS, strict=False):
        customer = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder)  # type: ignore[arg-type]
        await intake.file_complaint(customer, ComplaintChannel.APP, text, Subjects())
    await detect.evaluate_events()
    incident = await CrisisIncident.filter(rule_id__not_isnull=True).first()
    if incident is None:
        return None
    incident = await response.assess(
        lead,
        incident.id,
        incident.version,
        CrisisSeverity.HIGH,
        SpreadRisk.HIGH,
        CrisisScope.COMPLAINANTS,
        "两位客户因理赔时效投诉并表示将联系媒体，存在舆情扩散风险。",
    )
    incident, _ = await response.add_team_member(
        lead, incident.id, incident.version, staff["supervisor.zhao"].id, CrisisTeamRole.LEAD
    )
    incident, _ = await response.add_team_member(
        lead, incident.id, incident.version, agent.id, CrisisTeamRole.CUSTOMER_CARE
    )
    incident, action = await response.add_action(
        lead,
        incident.id,
        incident.version,
        "逐一致电投诉客户，说明理赔进度",
        agent.id,
        datetime.now(UTC) + timedelta(hours=4),
    )
    incident, _ = await response.complete_action(
        _staff(agent), action.id, incident.version, "已电话联系两位客户，约定3个工作日内结案"
    )
    for audience, party, text in (
        (
            StatementAudience.CUSTOMERS,
            None,
            "尊敬的客户：您反映的理赔时效问题我们已成立专项小组处理，"
            "将在3个工作日内完成审核并与您联系。给您带来不便，深表歉意。",
        ),
        (
            StatementAudience.MEDIA,
            "本地晚报",
            "安心保险已关注到客户反映的理赔时效问题，已成立专项小组逐案跟进。",
        ),
    ):
        incident, statement = await response.draft_statement(
            lead, incident.id, incident.version, audience, party, text
        )
        incident, statement = await response.approve_statement(
            approver, statement.id, incident.version
        )
        incident, statement = await response.release_statement(lead, statement.id, incident.version)
    incident = await response.write_review(
        lead,
        incident.id,
        incident.version,
        "材料清单说明不清，客户多次补交；超过15日未结案的案件无人提醒。",
        "理赔材料清单改为逐项说明；超过10日未结案的案件自动提醒主管。",
    )
    return await response.close(lead, incident.id, incident.version)
