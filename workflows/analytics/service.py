"""Service figures: surveys (the survey workflow's own CSAT/NPS figures, regrouped by
our periods), complaints (the complaint workflow's figures, and the top root causes
over the whole range), online conversations (handed to an agent, waiting times), and
the team's workload now (open items per staff member)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.functions import Count
from tortoise.queryset import QuerySet

from models.claims import Claim, ClaimStatus
from models.complaint_remedies import ComplaintRootCause, RootCauseCategory
from models.complaints import Complaint, ComplaintStatus
from models.conversations import Conversation, ConversationStatus
from models.staff import StaffUser
from models.visits import FollowUpVisit, VisitStatus
from workflows import surveys
from workflows.access import Actor, Permission
from workflows.analytics.rules import (
    Buckets,
    Durations,
    Period,
    Ratio,
    local_midnight,
    seconds_between,
)
from workflows.claims.rules import overdue_claims
from workflows.complaints import figures as complaint_figures
from workflows.complaints.root_causes import CATEGORY_NAMES

TOP_ROOT_CAUSES = 8
MAX_STAFF = 50


@dataclass(frozen=True)
class SurveyFigures:
    key: str
    invitations: int
    responses: int
    csat: Ratio  # ratings of 4-5, of ratings
    nps_answers: int
    promoters: int
    detractors: int
    rating_sum: int

    @property
    def nps(self) -> int | None:
        if not self.nps_answers:
            return None
        return round(100 * (self.promoters - self.detractors) / self.nps_answers)


_SURVEY_GROUP = {
    Period.DAY: surveys.FigureGroup.DAY,
    Period.WEEK: surveys.FigureGroup.WEEK,
    Period.MONTH: surveys.FigureGroup.MONTH,
}


async def survey_figures(buckets: Buckets) -> list[SurveyFigures]:
    group = _SURVEY_GROUP[buckets.period]
    rows = await surveys.figures(group, buckets.first.isoformat(), buckets.last.isoformat())
    found = {f.key: f for f in rows}
    out = []
    for bucket in buckets.items:
        key = surveys.period_keys(local_midnight(bucket.first))[group.value]
        f = found.get(key)
        out.append(
            SurveyFigures(
                key=bucket.key,
                invitations=(f.invitations or 0) if f else 0,
                responses=f.responses if f else 0,
                csat=Ratio(f.satisfied, f.ratings) if f else Ratio(0, 0),
                nps_answers=f.nps_answers if f else 0,
                promoters=f.promoters if f else 0,
                detractors=f.detractors if f else 0,
                rating_sum=f.rating_sum if f else 0,
            )
        )
    return out


@dataclass(frozen=True)
class ComplaintFigures:
    key: str
    received: int
    answer: Durations
    answer_late: Ratio
    reopened: Ratio
    satisfied: Ratio


@dataclass(frozen=True)
class RootCause:
    category: str
    name: str
    count: int
    total: int  # root causes recorded for the range's complaints


async def complaints(
    actor: Actor, buckets: Buckets, now: datetime
) -> tuple[list[ComplaintFigures], list[RootCause]]:
    """The complaint workflow's figures (it checks its own permission: a role that may
    read analytics but not supervise complaints sees none)."""
    if not actor.can(Permission.COMPLAINT_SUPERVISE):
        return [], []
    rows = await complaint_figures.complaint_figures(
        actor, complaint_figures.Period(buckets.period.value), buckets.first, buckets.last, now
    )
    out = [
        ComplaintFigures(
            key=bucket.key,
            received=p.received,
            answer=Durations(p.answer.count, p.answer.median_hours, p.answer.p90_hours),
            answer_late=Ratio(p.answer_late.count, p.answer_late.total),
            reopened=Ratio(p.reopened.count, p.reopened.total),
            satisfied=Ratio(p.satisfied.count, p.satisfied.total),
        )
        for bucket, p in zip(buckets.items, rows, strict=True)
    ]
    categories = Counter(
        str(c)
        for c in await ComplaintRootCause.filter(
            complaint__received_at__gte=buckets.start, complaint__received_at__lt=buckets.end
        ).values_list("category", flat=True)
    )
    total = sum(categories.values())
    causes = [
        RootCause(c, CATEGORY_NAMES[RootCauseCategory(c)], n, total)
        for c, n in sorted(categories.items(), key=lambda i: (-i[1], i[0]))[:TOP_ROOT_CAUSES]
    ]
    return out, causes


@dataclass(frozen=True)
class Conversations:
    key: str
    started: int
    handed_off: Ratio  # handed to an agent, of those started
    answered_by_agent: int  # an agent took them
    wait: Durations  # handed off → an agent took it


async def conversations(buckets: Buckets) -> list[Conversations]:
    raw = await Conversation.filter(
        created_at__gte=buckets.start, created_at__lt=buckets.end
    ).values_list("created_at", "queued_at", "accepted_at")
    grouped: defaultdict[int, list[tuple[datetime | None, datetime | None]]] = defaultdict(list)
    for created, queued, accepted in raw:
        index = buckets.of(created)
        if index is not None:
            grouped[index].append((queued, accepted))
    out = []
    for index, bucket in enumerate(buckets.items):
        rows = grouped[index]
        waits = (s for q, a in rows if (s := seconds_between(q, a)) is not None)
        out.append(
            Conversations(
                key=bucket.key,
                started=len(rows),
                handed_off=Ratio(sum(1 for q, _ in rows if q), len(rows)),
                answered_by_agent=sum(1 for q, a in rows if q and a),
                wait=Durations.of(waits),
            )
        )
    return out


@dataclass(frozen=True)
class Workload:
    """One staff member's open items now, and how many of their claims are overdue."""

    staff_id: str
    display_name: str
    team: str | None
    claims: int
    claims_overdue: int
    complaints: int
    visits: int
    conversations: int

    @property
    def total(self) -> int:
        return self.claims + self.complaints + self.visits + self.conversations


_CLAIM_DONE = [ClaimStatus.REJECTED, ClaimStatus.PAID, ClaimStatus.CLOSED, ClaimStatus.WITHDRAWN]
_COMPLAINT_DONE = [ComplaintStatus.ACCEPTED, ComplaintStatus.CLOSED, ComplaintStatus.WITHDRAWN]


async def _per_staff(queryset: QuerySet[Any], column: str) -> dict[str, int]:
    rows = await queryset.annotate(n=Count("id")).group_by(column).values_list(column, "n")
    return {str(staff): n for staff, n in rows if staff is not None}


async def workload(now: datetime) -> list[Workload]:
    claims = await _per_staff(
        Claim.filter(assignee_id__isnull=False, status__not_in=_CLAIM_DONE), "assignee_id"
    )
    overdue = await _per_staff(
        Claim.filter(overdue_claims(now), assignee_id__isnull=False), "assignee_id"
    )
    complaints_open = await _per_staff(
        Complaint.filter(handler_id__isnull=False, status__not_in=_COMPLAINT_DONE), "handler_id"
    )
    visits = await _per_staff(
        FollowUpVisit.filter(assignee_id__isnull=False, status=VisitStatus.SCHEDULED),
        "assignee_id",
    )
    talks = await _per_staff(
        Conversation.filter(agent_id__isnull=False, status=ConversationStatus.WITH_AGENT),
        "agent_id",
    )
    ids = set(claims) | set(complaints_open) | set(visits) | set(talks)
    staff = await StaffUser.filter(id__in=list(ids)).values_list("id", "display_name", "team")
    out = [
        Workload(
            staff_id=str(i),
            display_name=name,
            team=team,
            claims=claims.get(str(i), 0),
            claims_overdue=overdue.get(str(i), 0),
            complaints=complaints_open.get(str(i), 0),
            visits=visits.get(str(i), 0),
            conversations=talks.get(str(i), 0),
        )
        for i, name, team in staff
    ]
    return sorted(out, key=lambda w: (-w.total, w.display_name))[:MAX_STAFF]
