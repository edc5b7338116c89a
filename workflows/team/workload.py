"""Open work per person, with its clocks: claims under review (the 30-day decision
clock), complaints not yet answered (the answer clock) and scheduled follow-up visits
(their due time). The counts drive assignment; the list is what a supervisor sees."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.functions import Count

from models.claims import Claim, ClaimStatus
from models.complaints import Complaint, ComplaintStatus
from models.team import ReviewSubject, StaffLeave
from models.visits import FollowUpVisit, VisitStatus
from workflows.claims import DECISION_DUE

OPEN_CLAIMS = (ClaimStatus.UNDER_REVIEW, ClaimStatus.MORE_INFO_REQUESTED)
# As workflows.complaints.rules.OPEN (not imported: complaints' assignment imports this).
OPEN_COMPLAINTS = (
    ComplaintStatus.RECEIVED,
    ComplaintStatus.ASSIGNED,
    ComplaintStatus.IN_PROGRESS,
    ComplaintStatus.INFO_REQUESTED,
)


@dataclass(frozen=True)
class WorkItem:
    kind: ReviewSubject
    id: uuid.UUID
    number: str
    status: str
    due_at: datetime | None  # the clock that runs on it
    assignee_id: uuid.UUID

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at < now


async def open_counts(staff_ids: list[uuid.UUID]) -> Counter[uuid.UUID]:
    """Open items per staff member (claims + complaints + visits): three statements."""
    counts: Counter[uuid.UUID] = Counter()
    if not staff_ids:
        return counts
    claims = (
        Claim.filter(assignee_id__in=staff_ids, status__in=list(OPEN_CLAIMS))
        .group_by("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    complaints = (
        Complaint.filter(handler_id__in=staff_ids, status__in=list(OPEN_COMPLAINTS))
        .group_by("handler_id")
        .annotate(n=Count("id"))
        .values_list("handler_id", "n")
    )
    visits = (
        FollowUpVisit.filter(assignee_id__in=staff_ids, status=VisitStatus.SCHEDULED)
        .group_by("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    for query in (claims, complaints, visits):
        for staff_id, n in await query:
            counts[_uuid(staff_id)] += n
    return counts


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


async def open_items(staff_id: uuid.UUID, limit: int = 200) -> list[WorkItem]:
    """One person's open work, the most urgent clock first."""
    items: list[WorkItem] = []
    for claim in await Claim.filter(assignee_id=staff_id, status__in=list(OPEN_CLAIMS)).limit(
        limit
    ):
        due = claim.submitted_at + DECISION_DUE if claim.submitted_at else None
        items.append(
            WorkItem(
                ReviewSubject.CLAIM,
                claim.id,
                claim.report_number,
                claim.status.value,
                due,
                staff_id,
            )
        )
    for complaint in await Complaint.filter(
        handler_id=staff_id, status__in=list(OPEN_COMPLAINTS)
    ).limit(limit):
        items.append(
            WorkItem(
                ReviewSubject.COMPLAINT,
                complaint.id,
                complaint.number,
                complaint.status.value,
                complaint.answer_due_at,
                staff_id,
            )
        )
    for visit in await FollowUpVisit.filter(
        assignee_id=staff_id, status=VisitStatus.SCHEDULED
    ).limit(limit):
        items.append(
            WorkItem(
                ReviewSubject.VISIT,
                visit.id,
                visit.subject,
                visit.status.value,
                visit.due_at,
                staff_id,
            )
        )
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda i: (i.due_at or far, str(i.id)))[:limit]


async def on_leave(staff_ids: list[uuid.UUID], now: datetime | None = None) -> set[uuid.UUID]:
    now = now or datetime.now(UTC)
    rows = await StaffLeave.filter(
        staff_id__in=staff_ids, starts_at__lte=now, ends_at__gt=now
    ).values_list("staff_id", flat=True)
    return {_uuid(r) for r in rows}


async def absent_now(now: datetime | None = None) -> set[uuid.UUID]:
    """Everyone on leave at ``now`` (a short list: the leave periods running now)."""
    now = now or datetime.now(UTC)
    rows = await StaffLeave.filter(starts_at__lte=now, ends_at__gt=now).values_list(
        "staff_id", flat=True
    )
    return {_uuid(r) for r in rows}
