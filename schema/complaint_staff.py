"""The staff side of complaints beyond the queue itself: the queue live
(``complaintQueueChanged``, across API processes through the event bus) and the work
calendar the first-response clock counts in (holidays and 调休, kept by supervisors)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import date
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import complaints as m
from models.work_calendar import DayKind
from models.work_calendar import WorkCalendarDay as DayRow
from schema.claims.parts import ClaimDocument
from schema.common import node_uuid
from schema.complaints import Complaint, ComplaintError_
from schema.errors import payload_errors
from schema.permissions import staff_only
from workflows.access import Actor, Permission
from workflows.complaints import calendar, material
from workflows.complaints.handling import team_work
from workflows.complaints.rules import STAFF_QUEUE, ComplaintAction, ComplaintError
from workflows.complaints.state import load_complaint, visible_complaints

strawberry.enum(
    DayKind,
    description="A holiday (no work), an adjusted working day (调休), or WEEK: the usual "
    "week for that day, overriding the published schedule.",
)
TEAM_LIMIT = 64


@strawberry.type(description="A change in the staff complaint queue.")
class ComplaintQueueChange:
    event_type: str = strawberry.field(
        description="What happened, e.g. `complaint.received`, `complaint.updated`, "
        "`complaint.answered`, `complaint.escalate`, `complaint.first_response_breach`, "
        "`complaint.breach`."
    )
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint (Complaint).")
    number: str = strawberry.field(description="Its readable number.")
    status: m.ComplaintStatus = strawberry.field(description="Its status now.")
    urgency: m.Urgency = strawberry.field(description="Its urgency now.")
    handler_id: relay.GlobalID | None = strawberry.field(
        description="Its handler now (StaffMember); null: not assigned."
    )
    complaint: Complaint = strawberry.field(description="The complaint as it is now.")


async def _change(
    actor: Actor, event_type: str, complaint_id: uuid.UUID, team: str | None
) -> ComplaintQueueChange | None:
    rows = visible_complaints(actor).filter(id=complaint_id)
    if team is not None:
        rows = rows.filter(team_work(team))
    row = await rows.first()
    if row is None:  # gone, not visible to this caller, or another team's
        return None
    return ComplaintQueueChange(
        event_type=event_type,
        complaint_id=relay.GlobalID("Complaint", str(row.id)),
        number=row.number,
        status=row.status,
        urgency=row.urgency,
        handler_id=relay.GlobalID("StaffMember", str(row.handler_id)) if row.handler_id else None,
        complaint=Complaint.from_model(
            row, actor, await m.ComplaintEvent.filter(complaint_id=row.id)
        ),
    )


@strawberry.type(description="A day that differs from the usual week in the work calendar.")
class WorkCalendarDay:
    day: date = strawberry.field(description="The date (Asia/Shanghai).")
    kind: DayKind = strawberry.field(description="Holiday or adjusted working day.")
    name: str = strawberry.field(description="Why, e.g. 国庆节, 国庆节调休上班.")
    seeded: bool = strawberry.field(
        description="From the published schedule (the chinese-calendar library shipped "
        "with the gateway); false: set by staff, overriding it."
    )

    @classmethod
    def from_model(cls, row: DayRow) -> WorkCalendarDay:
        return cls(day=row.day, kind=row.kind, name=row.name, seeded=row.set_by_id is None)

    @classmethod
    def from_day(cls, day: calendar.CalendarDay) -> WorkCalendarDay:
        return cls(day=day.day, kind=day.kind, name=day.name, seeded=day.from_library)


@strawberry.type(description="The work calendar after a change.")
class WorkCalendarPayload:
    changed: bool = strawberry.field(description="True when the change was saved.")
    day: WorkCalendarDay | None = strawberry.field(
        default=None, description="The day as saved; null when removed or refused."
    )
    errors: list[ComplaintError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Mark a day as a holiday or an adjusted working day.")
class SetWorkCalendarDayInput:
    day: date = strawberry.field(description="The date (Asia/Shanghai).")
    kind: DayKind = strawberry.field(
        description="HOLIDAY, WORKDAY (调休上班) or WEEK (the usual week, whatever the "
        "published schedule says)."
    )
    name: str = strawberry.field(description="The holiday's name (≤ 32 字).")


@strawberry.type
class ComplaintStaffQueries:
    @strawberry.field(
        description="Staff (COMPLAINT_HANDLE): the documents the insurer already holds for "
        "the complaint's claim, oldest first (empty without a claim): read these instead "
        "of asking the customer again. Each read is logged.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def complaint_held_documents(
        self,
        info: Info,
        complaint_id: Annotated[relay.GlobalID, strawberry.argument(description="The complaint.")],
    ) -> list[ClaimDocument]:
        actor = info.context.actor
        try:
            row = await load_complaint(
                actor, node_uuid(complaint_id, "Complaint"), ComplaintAction.VIEW
            )
        except ComplaintError:
            return []
        return [ClaimDocument.from_model(d) for d in await material.held_documents(actor, row)]

    @strawberry.field(
        description="Staff (COMPLAINT_HANDLE): the days from `from` to `to` (at most about "
        "a year) that differ from Monday-to-Friday: holidays and 调休 working days. The "
        "general first-response clock counts working days by it.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def work_calendar(
        self,
        from_: Annotated[date, strawberry.argument(name="from", description="First day.")],
        to: Annotated[date, strawberry.argument(description="Last day (included).")],
    ) -> list[WorkCalendarDay]:
        try:
            rows = await calendar.days_between(from_, to)
        except ComplaintError:
            return []
        return [WorkCalendarDay.from_day(row) for row in rows]


@strawberry.type
class ComplaintStaffMutations:
    @strawberry.mutation(
        description="Staff (COMPLAINT_SUPERVISE): mark a day a holiday or a 调休 working "
        "day (e.g. each new year's State Council schedule); replaces what the day was.",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def set_work_calendar_day(
        self,
        info: Info,
        input: Annotated[
            SetWorkCalendarDayInput,
            strawberry.argument(description="The day, whether it is worked, and why."),
        ],
    ) -> WorkCalendarPayload:
        try:
            row = await calendar.set_day(info.context.actor, input.day, input.kind, input.name)
        except ComplaintError as error:
            return WorkCalendarPayload(changed=False, errors=payload_errors(error, ComplaintError_))
        return WorkCalendarPayload(changed=True, day=WorkCalendarDay.from_model(row), errors=[])

    @strawberry.mutation(
        description="Staff (COMPLAINT_SUPERVISE): remove a day from the work calendar (it "
        "follows the week again).",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def remove_work_calendar_day(
        self,
        info: Info,
        day: Annotated[date, strawberry.argument(description="The date to remove.")],
    ) -> WorkCalendarPayload:
        try:
            await calendar.remove_day(info.context.actor, day)
        except ComplaintError as error:
            return WorkCalendarPayload(changed=False, errors=payload_errors(error, ComplaintError_))
        return WorkCalendarPayload(changed=True, errors=[])


@strawberry.type
class ComplaintStaffSubscriptions:
    @strawberry.subscription(
        description="Staff (COMPLAINT_HANDLE): the complaint queue live: one change per "
        "event (received, assigned, classified, answered, escalated, breached, closed…), "
        "from whichever API process made it, with the complaint as it is then.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def complaint_queue_changed(
        self,
        info: Info,
        team: Annotated[
            str | None,
            strawberry.argument(
                description="Only what this team works (as `ComplaintFilter.team`)."
            ),
        ] = None,
    ) -> AsyncGenerator[ComplaintQueueChange, None]:
        actor = info.context.actor
        team = team.strip()[:TEAM_LIMIT] if team is not None else None
        async for event in info.context.services.bus.subscribe(STAFF_QUEUE):
            if event.get("entityType") != "complaint":
                continue
            change = await _change(actor, event["type"], uuid.UUID(event["entityId"]), team)
            if change is not None:
                yield change
