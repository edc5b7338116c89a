"""Performance per person and per team over a period of local days (Asia/Shanghai):
items handled, median handling times, clock breaches, ratings received (quick ratings
of the person, of the claims and visits they handled; surveys of cases they handled),
the complaint rate and quality-review scores.

Shown only to the person themselves, their team's supervisor and TEAM_MANAGE: the
workflow checks (``may_see``), the schema only passes the caller along.
"""

from __future__ import annotations

import statistics
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise.expressions import Q, Subquery

from models.claims import Claim
from models.clock import local_midnight
from models.complaints import Complaint
from models.surveys import ServiceRating, SurveyInvitation
from models.team import QualityReview, Team, TeamMember
from models.visits import FollowUpVisit, VisitStatus
from workflows.access import Actor, Permission
from workflows.claims import DECISION_DUE
from workflows.team.rules import MAX_PERIOD_DAYS, TeamError
from workflows.team.rules import TeamErrorCode as E
from workflows.team.teams import may_oversee, supervised_team_ids


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if not self.first_day <= self.last_day <= self.first_day + timedelta(days=MAX_PERIOD_DAYS):
            raise TeamError(E.OUT_OF_RANGE, f"期间须从早到晚且不超过{MAX_PERIOD_DAYS}天", "period")

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1))


@dataclass(frozen=True)
class Figures:
    claims_decided: int
    claim_median_hours: float | None  # submitted → decided
    claim_breaches: int  # decided after the 30-day clock
    complaints_answered: int
    complaint_median_hours: float | None  # received → answered
    complaint_breaches: int  # first-response or answer clock ran out in the period
    visits_done: int
    visit_breaches: int  # done after the agreed (or planned) time
    ratings: int
    rating_average: float | None  # stars, 1–5
    surveys_answered: int
    complaints_received: int  # about the person, or about a claim they handled
    complaint_rate: float | None  # per 100 handled items
    reviews: int
    review_average: float | None  # quality score, 0–100

    @property
    def handled(self) -> int:
        return self.claims_decided + self.complaints_answered + self.visits_done


def _median_hours(pairs: list[tuple[datetime | None, datetime | None]]) -> float | None:
    hours = [(b - a).total_seconds() / 3600 for a, b in pairs if a is not None and b is not None]
    return round(statistics.median(hours), 1) if hours else None


async def may_see(actor: Actor, staff_id: uuid.UUID) -> bool:
    return actor.is_staff and (actor.subject_id == staff_id or await may_oversee(actor, staff_id))


async def may_see_team(actor: Actor, team_id: uuid.UUID) -> bool:
    return actor.can(Permission.TEAM_MANAGE) or team_id in await supervised_team_ids(actor)


async def figures(staff_ids: list[uuid.UUID], period: Period) -> Figures:
    """The figures of a person (one ID) or a team (its members' IDs), all together."""
    start, end = period.start, period.end
    claims = await Claim.filter(
        assignee_id__in=staff_ids, decided_at__gte=start, decided_at__lt=end
    ).values("id", "submitted_at", "decided_at")
    complaints = await Complaint.filter(
        handler_id__in=staff_ids, answered_at__gte=start, answered_at__lt=end
    ).values("received_at", "answered_at")
    complaint_breaches = await Complaint.filter(
        Q(breached_at__gte=start, breached_at__lt=end)
        | Q(first_response_breached_at__gte=start, first_response_breached_at__lt=end),
        handler_id__in=staff_ids,
    ).count()
    visits = await FollowUpVisit.filter(
        completed_by__in=staff_ids,
        status=VisitStatus.DONE,
        completed_at__gte=start,
        completed_at__lt=end,
    ).values("id", "due_at", "agreed_due_at", "completed_at")
    subjects = [("STAFF", str(s)) for s in staff_ids]
    subjects += [("CLAIM", str(c["id"])) for c in claims]
    subjects += [("VISIT", str(v["id"])) for v in visits]
    stars: list[int] = []
    if subjects:
        by_type: dict[str, list[str]] = {}
        for kind, key in subjects:
            by_type.setdefault(kind, []).append(key)
        rated = Q()
        for kind, keys in by_type.items():
            rated |= Q(subject_type=kind, subject_id__in=keys)
        stars = await ServiceRating.filter(
            rated, updated_at__gte=start, updated_at__lt=end
        ).values_list("stars", flat=True)  # type: ignore[assignment]
    surveys = await SurveyInvitation.filter(
        staff_id__in=staff_ids, answered_at__gte=start, answered_at__lt=end
    ).count()
    handled_claims = Claim.filter(assignee_id__in=staff_ids).values("id")
    received = await Complaint.filter(
        Q(staff_subject_id__in=staff_ids) | Q(claim_id__in=Subquery(handled_claims)),
        received_at__gte=start,
        received_at__lt=end,
    ).count()
    scores: list[int] = await QualityReview.filter(
        staff_id__in=staff_ids, reviewed_at__gte=start, reviewed_at__lt=end
    ).values_list("score", flat=True)  # type: ignore[assignment]
    handled = len(claims) + len(complaints) + len(visits)
    return Figures(
        claims_decided=len(claims),
        claim_median_hours=_median_hours([(c["submitted_at"], c["decided_at"]) for c in claims]),
        claim_breaches=sum(
            1
            for c in claims
            if c["submitted_at"] is not None and c["decided_at"] > c["submitted_at"] + DECISION_DUE
        ),
        complaints_answered=len(complaints),
        complaint_median_hours=_median_hours(
            [(c["received_at"], c["answered_at"]) for c in complaints]
        ),
        complaint_breaches=complaint_breaches,
        visits_done=len(visits),
        visit_breaches=sum(
            1 for v in visits if v["completed_at"] > (v["agreed_due_at"] or v["due_at"])
        ),
        ratings=len(stars),
        rating_average=round(statistics.fmean(stars), 2) if stars else None,
        surveys_answered=surveys,
        complaints_received=received,
        complaint_rate=round(100 * received / handled, 1) if handled else None,
        reviews=len(scores),
        review_average=round(statistics.fmean(scores), 1) if scores else None,
    )


async def staff_performance(actor: Actor, staff_id: uuid.UUID, period: Period) -> Figures:
    if not await may_see(actor, staff_id):
        raise TeamError(E.NOT_FOUND, "未找到该员工，或您无权查看其绩效", "staffId")
    return await figures([staff_id], period)


async def team_performance(
    actor: Actor, team_id: uuid.UUID, period: Period
) -> tuple[Team, Figures, list[tuple[uuid.UUID, Figures]]]:
    """The team's figures and each current member's."""
    team = await Team.get_or_none(id=team_id)
    if team is None or not await may_see_team(actor, team_id):
        raise TeamError(E.NOT_FOUND, "未找到该团队，或您无权查看其绩效", "teamId")
    members = [
        uuid.UUID(str(s))
        for s in await TeamMember.filter(team_id=team_id)
        .order_by("staff_id")
        .values_list("staff_id", flat=True)
    ]
    total = await figures(members, period)
    return team, total, [(m, await figures([m], period)) for m in members]
