"""The service team's GraphQL types (each entity a Relay Node) and their builders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

import strawberry
from strawberry import relay

from models import team as m
from models.clock import local_today
from models.ids import global_id
from models.staff import StaffUser
from schema.people import StaffMember
from workflows.team import performance, reviews, workload
from workflows.team.rules import CERTIFICATE_NAMES, CHECKLIST, SKILL_NAMES

strawberry.enum(m.SkillKind, description="What a team's skill is about.")
strawberry.enum(m.CertificateKind, description="A qualification staff are certified for.")
strawberry.enum(m.ReviewSubject, description="The kind of case: claim, complaint or visit.")

SUBJECT_TYPES = {
    m.ReviewSubject.CLAIM: "Claim",
    m.ReviewSubject.COMPLAINT: "Complaint",
    m.ReviewSubject.VISIT: "FollowUpVisit",
}


def staff_gid(staff_id: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(global_id("StaffMember", staff_id)) if staff_id else None


def subject_gid(kind: m.ReviewSubject, subject_id: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(global_id(SUBJECT_TYPES[kind], subject_id))


@strawberry.type(description="One skill of a team, used to route work to it.")
class TeamSkill(relay.Node):
    id: relay.NodeID[str]
    kind: m.SkillKind = strawberry.field(description="What the skill is about.")
    kind_name: str = strawberry.field(description="The kind, in Chinese.")
    value: str = strawberry.field(
        description="A loss type (`MEDICAL`), complaint class (`CLAIM`), language (`粤语`) "
        "or channel (`PHONE`)."
    )

    @classmethod
    def from_model(cls, row: m.TeamSkill) -> TeamSkill:
        return cls(id=str(row.id), kind=row.kind, kind_name=SKILL_NAMES[row.kind], value=row.value)


@strawberry.type(description="A team of service staff (服务团队) with its supervisor and skills.")
class Team(relay.Node):
    id: relay.NodeID[str]
    name: str = strawberry.field(description="Its name, e.g. `理赔一组`.")
    description: str = strawberry.field(description="What it does.")
    supervisor: StaffMember | None = strawberry.field(description="Who supervises it.")
    skills: list[TeamSkill] = strawberry.field(description="What work it is given.")
    members: list[StaffMember] = strawberry.field(description="Its members, by name.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to edit it.")


async def team_views(rows: Sequence[m.Team]) -> list[Team]:
    """Teams with supervisors, skills and members: four statements for a page."""
    ids = [row.id for row in rows]
    skills: dict[uuid.UUID, list[TeamSkill]] = {i: [] for i in ids}
    for skill in await m.TeamSkill.filter(team_id__in=ids).order_by("kind", "value"):
        skills[skill.team_id].append(TeamSkill.from_model(skill))
    members: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for member in await m.TeamMember.filter(team_id__in=ids):
        members[member.team_id].append(member.staff_id)
    wanted = {s for ms in members.values() for s in ms} | {
        row.supervisor_id for row in rows if row.supervisor_id
    }
    staff = {s.id: s for s in await StaffUser.filter(id__in=list(wanted))}
    return [
        Team(
            id=str(row.id),
            name=row.name,
            description=row.description,
            supervisor=(
                StaffMember.from_model(staff[row.supervisor_id])
                if row.supervisor_id in staff
                else None
            ),
            skills=skills[row.id],
            members=sorted(
                (StaffMember.from_model(staff[s]) for s in members[row.id] if s in staff),
                key=lambda x: (x.display_name, x.username),
            ),
            version=row.version,
        )
        for row in rows
    ]


@strawberry.type(description="A period a staff member is absent; no work is assigned then.")
class StaffLeave(relay.Node):
    id: relay.NodeID[str]
    staff_id: strawberry.ID = strawberry.field(description="Who (`StaffMember` global ID).")
    starts_at: datetime = strawberry.field(description="From.")
    ends_at: datetime = strawberry.field(description="Until (exclusive).")
    reason: str = strawberry.field(description="Why (年假, 培训 …).")

    @classmethod
    def from_model(cls, row: m.StaffLeave) -> StaffLeave:
        return cls(
            id=str(row.id),
            staff_id=strawberry.ID(global_id("StaffMember", row.staff_id)),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            reason=row.reason,
        )


@strawberry.type(description="A training course; passing it grants a certificate.")
class Course(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. `CLAIMS_ADJUSTER_BASIC`.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    certificate_kind: m.CertificateKind = strawberry.field(description="What passing grants.")
    valid_months: int = strawberry.field(description="How long the certificate is valid.")

    @classmethod
    def from_model(cls, row: m.Course) -> Course:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            certificate_kind=row.certificate_kind,
            valid_months=row.valid_months,
        )


@strawberry.type(description="A staff member's certificate (资格证书) with its expiry.")
class Certificate(relay.Node):
    id: relay.NodeID[str]
    staff_id: strawberry.ID = strawberry.field(description="Its holder (`StaffMember` ID).")
    kind: m.CertificateKind = strawberry.field(description="What it certifies.")
    kind_name: str = strawberry.field(description="The kind, in Chinese.")
    number: str = strawberry.field(description="Its number, e.g. `ZS20261203…`.")
    issued_on: date = strawberry.field(description="Issued (local day).")
    expires_on: date = strawberry.field(description="The last valid day (local).")
    revoked_at: datetime | None = strawberry.field(description="When withdrawn, if it was.")
    valid: bool = strawberry.field(description="Valid today: not expired, not withdrawn.")
    days_left: int = strawberry.field(description="Days until it expires (negative: expired).")

    @classmethod
    def from_model(cls, row: m.Certificate) -> Certificate:
        today = local_today()
        return cls(
            id=str(row.id),
            staff_id=strawberry.ID(global_id("StaffMember", row.staff_id)),
            kind=row.kind,
            kind_name=CERTIFICATE_NAMES[row.kind],
            number=row.number,
            issued_on=row.issued_on,
            expires_on=row.expires_on,
            revoked_at=row.revoked_at,
            valid=row.revoked_at is None and row.expires_on >= today,
            days_left=(row.expires_on - today).days,
        )


@strawberry.type(description="A permission that needs a valid certificate of a kind.")
class CertificateRequirement(relay.Node):
    id: relay.NodeID[str]
    permission: str = strawberry.field(description="The permission, e.g. `claim:review`.")
    kind: m.CertificateKind = strawberry.field(description="The certificate it needs.")

    @classmethod
    def from_model(cls, row: m.CertificateRequirement) -> CertificateRequirement:
        return cls(id=str(row.id), permission=row.permission, kind=row.kind)


@strawberry.type(description="One checklist item and the points it is worth.")
class ChecklistItem:
    key: str = strawberry.field(description="The item, e.g. `documents_checked`.")
    max_points: int = strawberry.field(description="The most points it gives.")
    points: int | None = strawberry.field(description="Points given (null: not yet scored).")


def checklist(kind: m.ReviewSubject, given: dict[str, int] | None = None) -> list[ChecklistItem]:
    return [
        ChecklistItem(key=k, max_points=v, points=(given or {}).get(k) if given else None)
        for k, v in CHECKLIST[kind].items()
    ]


@strawberry.type(description="A supervisor's quality review (质检) of one closed case.")
class QualityReview(relay.Node):
    id: relay.NodeID[str]
    subject_kind: m.ReviewSubject = strawberry.field(description="The kind of case.")
    subject_id: strawberry.ID = strawberry.field(
        description="The case (`Claim`, `Complaint` or `FollowUpVisit` global ID)."
    )
    staff_id: strawberry.ID = strawberry.field(description="Whose work (`StaffMember` ID).")
    reviewer_id: strawberry.ID = strawberry.field(description="The reviewer (`StaffMember`).")
    score: int = strawberry.field(description="0–100: the share of checklist points earned.")
    items: list[ChecklistItem] = strawberry.field(description="The checklist as scored.")
    note: str = strawberry.field(description="The reviewer's note.")
    reviewed_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_model(cls, row: m.QualityReview) -> QualityReview:
        return cls(
            id=str(row.id),
            subject_kind=row.subject_kind,
            subject_id=subject_gid(row.subject_kind, row.subject_id),
            staff_id=strawberry.ID(global_id("StaffMember", row.staff_id)),
            reviewer_id=strawberry.ID(global_id("StaffMember", row.reviewer_id)),
            score=row.score,
            items=checklist(row.subject_kind, row.scores),
            note=row.note,
            reviewed_at=row.reviewed_at,
        )


@strawberry.type(description="A closed case sampled for quality review.")
class ReviewCase:
    subject_kind: m.ReviewSubject = strawberry.field(description="The kind of case.")
    subject_id: strawberry.ID = strawberry.field(
        description="The case (`Claim`, `Complaint` or `FollowUpVisit` global ID)."
    )
    number: str = strawberry.field(description="Its number or subject, to find it.")
    staff_id: strawberry.ID = strawberry.field(description="Who handled it (`StaffMember`).")
    closed_at: datetime = strawberry.field(description="When it was decided or closed.")
    checklist: list[ChecklistItem] = strawberry.field(description="What to score.")

    @classmethod
    def from_case(cls, case: reviews.Case) -> ReviewCase:
        return cls(
            subject_kind=case.kind,
            subject_id=subject_gid(case.kind, case.id),
            number=case.number,
            staff_id=strawberry.ID(global_id("StaffMember", case.staff_id)),
            closed_at=case.closed_at,
            checklist=checklist(case.kind),
        )


@strawberry.type(description="One open item of someone's work, with its clock.")
class WorkItem:
    kind: m.ReviewSubject = strawberry.field(description="Claim, complaint or visit.")
    object_id: strawberry.ID = strawberry.field(
        description="The item (`Claim`, `Complaint` or `FollowUpVisit` global ID)."
    )
    number: str = strawberry.field(description="Its number or subject.")
    status: str = strawberry.field(description="Its status.")
    due_at: datetime | None = strawberry.field(
        description="When its clock runs out (claims: decision; complaints: answer; visits: due)."
    )
    overdue: bool = strawberry.field(description="Its clock has run out.")


@strawberry.type(description="A staff member's open work and whether they are on leave.")
class StaffWorkload:
    staff: StaffMember = strawberry.field(description="Whose work.")
    open_items: int = strawberry.field(description="Open claims + complaints + visits.")
    overdue_items: int = strawberry.field(description="Of those, past their clock.")
    on_leave: bool = strawberry.field(description="On leave right now.")
    items: list[WorkItem] = strawberry.field(description="The open items, most urgent first.")


async def workload_view(staff: StaffUser, now: datetime) -> StaffWorkload:
    items = await workload.open_items(staff.id)
    away = await workload.on_leave([staff.id], now)
    views = [
        WorkItem(
            kind=i.kind,
            object_id=subject_gid(i.kind, i.id),
            number=i.number,
            status=i.status,
            due_at=i.due_at,
            overdue=i.overdue(now),
        )
        for i in items
    ]
    return StaffWorkload(
        staff=StaffMember.from_model(staff),
        open_items=len(views),
        overdue_items=sum(1 for v in views if v.overdue),
        on_leave=staff.id in away,
        items=views,
    )


@strawberry.type(description="Performance figures over a period (Asia/Shanghai days).")
class PerformanceFigures:
    handled: int = strawberry.field(
        description="Claims decided + complaints answered + visits done."
    )
    claims_decided: int = strawberry.field(description="Claims decided.")
    claim_median_hours: float | None = strawberry.field(
        description="Median hours from submission to decision."
    )
    claim_breaches: int = strawberry.field(description="Claims decided after the 30-day clock.")
    complaints_answered: int = strawberry.field(description="Complaints answered.")
    complaint_median_hours: float | None = strawberry.field(
        description="Median hours from receipt to answer."
    )
    complaint_breaches: int = strawberry.field(
        description="Complaints whose first-response or answer clock ran out in the period."
    )
    visits_done: int = strawberry.field(description="Follow-up visits done.")
    visit_breaches: int = strawberry.field(description="Visits done after their due time.")
    ratings: int = strawberry.field(
        description="Quick ratings received (of the person, and of claims and visits handled)."
    )
    rating_average: float | None = strawberry.field(description="Their average stars (1–5).")
    surveys_answered: int = strawberry.field(description="Surveys answered on cases handled.")
    complaints_received: int = strawberry.field(
        description="Complaints about the person or about a claim they handled."
    )
    complaint_rate: float | None = strawberry.field(description="Complaints per 100 handled items.")
    reviews: int = strawberry.field(description="Quality reviews received.")
    review_average: float | None = strawberry.field(description="Their average score (0–100).")

    @classmethod
    def from_figures(cls, f: performance.Figures) -> PerformanceFigures:
        return cls(
            handled=f.handled,
            claims_decided=f.claims_decided,
            claim_median_hours=f.claim_median_hours,
            claim_breaches=f.claim_breaches,
            complaints_answered=f.complaints_answered,
            complaint_median_hours=f.complaint_median_hours,
            complaint_breaches=f.complaint_breaches,
            visits_done=f.visits_done,
            visit_breaches=f.visit_breaches,
            ratings=f.ratings,
            rating_average=f.rating_average,
            surveys_answered=f.surveys_answered,
            complaints_received=f.complaints_received,
            complaint_rate=f.complaint_rate,
            reviews=f.reviews,
            review_average=f.review_average,
        )


@strawberry.type(description="One staff member's performance over a period.")
class StaffPerformance:
    staff: StaffMember = strawberry.field(description="Whose figures.")
    first_day: date = strawberry.field(description="The period's first day.")
    last_day: date = strawberry.field(description="The period's last day.")
    figures: PerformanceFigures = strawberry.field(description="The figures.")


@strawberry.type(description="A team's performance over a period, and each member's.")
class TeamPerformance:
    team: Team = strawberry.field(description="The team.")
    first_day: date = strawberry.field(description="The period's first day.")
    last_day: date = strawberry.field(description="The period's last day.")
    figures: PerformanceFigures = strawberry.field(description="The team's figures together.")
    members: list[StaffPerformance] = strawberry.field(description="Each current member's.")
