"""Crisis response in GraphQL: the incidents (opened by the rules on complaints or by
hand) with their assessment, team, checklist, statements, review and timeline; the
rules; and one mutation per step, each naming its permission (CRISIS_MANAGE; completing
an action: its owner too). Incidents and rules are read by crisis managers and
complaint supervisors (an incident also by its team's members); anyone else gets null,
as for a missing object. A complaint part of an incident shows the incident and its
approved customer statement to its handlers (``Complaint.incident``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission
from strawberry.types import Info
from tortoise.functions import Count

from models import crisis as m
from models.clock import SHANGHAI, local_time
from models.complaints import Complaint as ComplaintRow
from models.complaints import ComplaintEvent
from models.staff import StaffUser
from schema.common import NOTHING, Connection, CursorArg, PageArg, node_uuid, paginate
from schema.complaints import Complaint
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import IsAuthenticated, staff_only
from workflows.access import Actor, Permission
from workflows.complaints.state import visible_complaints
from workflows.crisis import detect, response
from workflows.crisis.rules import MANAGERS, STATUS_NAMES, CrisisError
from workflows.crisis.state import may_read_all, visible_incidents

strawberry.enum(m.CrisisRuleKind, description="What a crisis rule watches for.")
strawberry.enum(m.CrisisSeverity, description="How severe an incident is.")
strawberry.enum(
    m.SpreadRisk, description="How likely an incident is to spread (media, more customers)."
)
strawberry.enum(
    m.CrisisScope,
    description="Whom an incident affects: the complainants, or also every holder of an "
    "in-force policy of the products concerned.",
)
strawberry.enum(
    m.CrisisStatus,
    description="The stage of the plan: identified → assessed → responding → "
    "communicating → reviewing → closed.",
)
strawberry.enum(m.CrisisTeamRole, description="A response team member's role.")
strawberry.enum(m.StatementAudience, description="Whom a statement is for.")
strawberry.enum(
    m.StatementStatus,
    description="A statement's state: drafted, approved by a second manager, released.",
)
CRISIS_CODES = ErrorCodes("CrisisErrorCode", "Why a crisis action failed.", CrisisError)
MAX_COMPLAINTS_SHOWN = 100


@answers_with(CRISIS_CODES)
@strawberry.type(name="CrisisError", description="A failed crisis action.")
class CrisisError_(Error):
    code: str = strawberry.field(graphql_type=CRISIS_CODES.enum, description=CODE)


class _CrisisReader(BasePermission):
    message = "需要权限 crisis:manage 或 complaint:supervise"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry API

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return may_read_all(info.context.actor)


READERS: list[type[BasePermission]] = [IsAuthenticated, _CrisisReader]


@strawberry.type(description="One line of an incident's timeline.")
class CrisisTimelineEntry:
    at: datetime = strawberry.field(description="When (Asia/Shanghai).")
    action: str = strawberry.field(
        description="What was done, e.g. `open`, `assess`, `release_statement`."
    )
    status: m.CrisisStatus = strawberry.field(description="The stage after it.")
    note: str = strawberry.field(description="What was recorded.")


@strawberry.type(description="A member of an incident's response team.")
class CrisisTeamMember:
    key: str = strawberry.field(description="Unique within the incident.")
    staff_id: relay.GlobalID = strawberry.field(description="The staff member (StaffMember).")
    name: str = strawberry.field(description="Their display name.")
    role: m.CrisisTeamRole = strawberry.field(description="Their role in the team.")


@strawberry.type(description="One item of an incident's response checklist.")
class CrisisChecklistAction:
    key: str = strawberry.field(description="Unique within the incident; pass as `actionKey`.")
    title: str = strawberry.field(description="What is to be done.")
    owner_id: relay.GlobalID = strawberry.field(description="Who does it (StaffMember).")
    owner_name: str = strawberry.field(description="Their display name.")
    due_at: datetime = strawberry.field(description="Due by (Asia/Shanghai).")
    done: bool = strawberry.field(description="Whether it is done.")
    done_at: datetime | None = strawberry.field(description="When it was done.")
    done_note: str | None = strawberry.field(description="What was done.")
    overdue: bool = strawberry.field(description="Not done and past its due time.")


@strawberry.type(description="A statement to customers, media, the regulator or another party.")
class CrisisStatement:
    key: str = strawberry.field(description="Unique within the incident; pass as `statementKey`.")
    audience: m.StatementAudience = strawberry.field(description="Whom it is for.")
    party: str | None = strawberry.field(description="The party named, e.g. a newspaper.")
    text: str = strawberry.field(description="The statement.")
    status: m.StatementStatus = strawberry.field(description="Drafted, approved or released.")
    drafted_by: str = strawberry.field(description="Who drafted it (display name).")
    approved_by: str | None = strawberry.field(description="Who approved it (a second manager).")
    approved_at: datetime | None = strawberry.field(description="When it was approved.")
    released_at: datetime | None = strawberry.field(description="When it was released.")
    notified: int = strawberry.field(description="Customers sent the notice (customer statements).")


@strawberry.type(description="The post-incident review (复盘).")
class CrisisReview:
    causes: str = strawberry.field(description="What caused the incident.")
    changes: str = strawberry.field(description="What was changed so it does not recur.")
    timeline: list[CrisisTimelineEntry] = strawberry.field(
        description="The incident's timeline as it stood at the review."
    )
    reviewed_at: datetime = strawberry.field(description="When the review was written.")


def _entries(lines: list[dict[str, Any]]) -> list[CrisisTimelineEntry]:
    return [
        CrisisTimelineEntry(
            at=datetime.fromisoformat(line["at"]),
            action=line["action"],
            status=m.CrisisStatus(line["status"]),
            note=line["note"],
        )
        for line in lines
    ]


@strawberry.type(description="A crisis incident (危机事件) and everything done about it.")
class CrisisIncident(relay.Node):
    """Read by crisis managers, complaint supervisors and the incident's team."""

    id: relay.NodeID[str]
    number: str = strawberry.field(description="The readable number, e.g. `WJ20261202000001`.")
    title: str = strawberry.field(description="What happened, in short.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")
    status: m.CrisisStatus = strawberry.field(description="The stage of the plan.")
    status_name: str = strawberry.field(description="The stage, in Chinese.")
    severity: m.CrisisSeverity = strawberry.field(description="How severe it is.")
    spread_risk: m.SpreadRisk | None = strawberry.field(
        description="Risk of spread (once assessed)."
    )
    scope: m.CrisisScope | None = strawberry.field(description="Whom it affects (once assessed).")
    assessment: str | None = strawberry.field(description="The assessment's note.")
    customers_affected: int = strawberry.field(
        description="Customers affected, counted at the assessment."
    )
    policies_affected: int = strawberry.field(
        description="Policies affected, counted at the assessment."
    )
    rule_name: str | None = strawberry.field(
        description="The rule that opened it; null: opened by hand."
    )
    opened_at: datetime = strawberry.field(description="When it was opened.")
    assessed_at: datetime | None = strawberry.field(description="When it was last assessed.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    complaint_count: int = strawberry.field(description="How many complaints are part of it.")
    complaints: list[Complaint] = strawberry.field(
        description="Its complaints you may see, the earliest first (at most 100)."
    )
    team: list[CrisisTeamMember] = strawberry.field(description="The response team.")
    actions: list[CrisisChecklistAction] = strawberry.field(
        description="The checklist, by due time."
    )
    statements: list[CrisisStatement] = strawberry.field(
        description="The statements log, oldest first."
    )
    review: CrisisReview | None = strawberry.field(
        description="The post-incident review, once written."
    )
    timeline: list[CrisisTimelineEntry] = strawberry.field(
        description="What happened, oldest first."
    )


def _by_incident(rows: Iterable[Any]) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.incident_id, []).append(row)
    return grouped


async def incident_views(actor: Actor, rows: Sequence[m.CrisisIncident]) -> list[CrisisIncident]:
    """The incidents with their parts: one query per part for the whole page, not per
    incident (a page of 20 cost 9 queries per incident)."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    team = _by_incident(
        await m.CrisisTeamMember.filter(incident_id__in=ids).order_by("created_at", "id")
    )
    actions = _by_incident(
        await m.CrisisAction.filter(incident_id__in=ids).order_by("due_at", "id")
    )
    statements = _by_incident(
        await m.CrisisStatement.filter(incident_id__in=ids).order_by("created_at", "id")
    )
    events = _by_incident(
        await m.CrisisEvent.filter(incident_id__in=ids).order_by("created_at", "id")
    )
    staff_ids = {t.staff_id for part in team.values() for t in part}
    staff_ids |= {a.owner_id for part in actions.values() for a in part}
    for part in statements.values():
        staff_ids |= {s.drafted_by for s in part} | {s.approved_by for s in part if s.approved_by}
    names = dict(await StaffUser.filter(id__in=list(staff_ids)).values_list("id", "display_name"))
    linked = _by_incident(
        await visible_complaints(actor).filter(incident_id__in=ids).order_by("received_at", "id")
    )
    shown = {incident: part[:MAX_COMPLAINTS_SHOWN] for incident, part in linked.items()}
    lines: dict[uuid.UUID, list[ComplaintEvent]] = {}
    for line in await ComplaintEvent.filter(
        complaint_id__in=[c.id for part in shown.values() for c in part]
    ):
        lines.setdefault(line.complaint_id, []).append(line)
    counts = dict(
        await ComplaintRow.filter(incident_id__in=ids)
        .annotate(linked=Count("id"))
        .group_by("incident_id")
        .values_list("incident_id", "linked")
    )
    rule_ids = [row.rule_id for row in rows if row.rule_id]
    rules = {r.id: r for r in await m.CrisisRule.filter(id__in=rule_ids)} if rule_ids else {}
    now = datetime.now(UTC)
    return [
        _incident(
            actor,
            row,
            rule=rules.get(row.rule_id) if row.rule_id else None,
            complaint_count=counts.get(row.id, 0),
            complaints=shown.get(row.id, []),
            complaint_lines=lines,
            team=team.get(row.id, []),
            actions=actions.get(row.id, []),
            statements=statements.get(row.id, []),
            events=events.get(row.id, []),
            names=names,
            now=now,
        )
        for row in rows
    ]


async def incident_view(actor: Actor, row: m.CrisisIncident) -> CrisisIncident:
    (view,) = await incident_views(actor, [row])
    return view


def _incident(
    actor: Actor,
    row: m.CrisisIncident,
    *,
    rule: m.CrisisRule | None,
    complaint_count: int,
    complaints: list[ComplaintRow],
    complaint_lines: dict[uuid.UUID, list[ComplaintEvent]],
    team: list[m.CrisisTeamMember],
    actions: list[m.CrisisAction],
    statements: list[m.CrisisStatement],
    events: list[m.CrisisEvent],
    names: dict[uuid.UUID, str],
    now: datetime,
) -> CrisisIncident:
    return CrisisIncident(
        id=str(row.id),
        number=row.number,
        title=row.title,
        version=row.version,
        status=row.status,
        status_name=STATUS_NAMES[row.status],
        severity=row.severity,
        spread_risk=row.spread_risk,
        scope=row.scope,
        assessment=row.assessment,
        customers_affected=row.customers_affected,
        policies_affected=row.policies_affected,
        rule_name=rule.name if rule else None,
        opened_at=local_time(row.opened_at),
        assessed_at=local_time(row.assessed_at) if row.assessed_at else None,
        closed_at=local_time(row.closed_at) if row.closed_at else None,
        complaint_count=complaint_count,
        complaints=[
            Complaint.from_model(c, actor, complaint_lines.get(c.id, [])) for c in complaints
        ],
        team=[
            CrisisTeamMember(
                key=str(t.id),
                staff_id=relay.GlobalID("StaffMember", str(t.staff_id)),
                name=names.get(t.staff_id, ""),
                role=t.role,
            )
            for t in team
        ],
        actions=[
            CrisisChecklistAction(
                key=str(a.id),
                title=a.title,
                owner_id=relay.GlobalID("StaffMember", str(a.owner_id)),
                owner_name=names.get(a.owner_id, ""),
                due_at=local_time(a.due_at),
                done=a.done_at is not None,
                done_at=local_time(a.done_at) if a.done_at else None,
                done_note=a.done_note,
                overdue=a.done_at is None and a.due_at < now,
            )
            for a in actions
        ],
        statements=[
            CrisisStatement(
                key=str(s.id),
                audience=s.audience,
                party=s.party,
                text=s.text,
                status=s.status,
                drafted_by=names.get(s.drafted_by, ""),
                approved_by=names.get(s.approved_by, "") if s.approved_by else None,
                approved_at=local_time(s.approved_at) if s.approved_at else None,
                released_at=local_time(s.released_at) if s.released_at else None,
                notified=s.notified,
            )
            for s in statements
        ],
        review=CrisisReview(
            causes=row.review_causes or "",
            changes=row.review_changes or "",
            timeline=_entries(row.review_timeline or []),
            reviewed_at=local_time(row.reviewed_at),
        )
        if row.reviewed_at
        else None,
        timeline=[
            CrisisTimelineEntry(
                at=local_time(e.created_at), action=e.action, status=e.to_status, note=e.note
            )
            for e in events
        ],
    )


async def crisis_incident_node(actor: Actor, object_id: uuid.UUID) -> CrisisIncident | None:
    """As `crisisIncidents`, and a team member their own incident."""
    row = await visible_incidents(actor).filter(id=object_id).first()
    return await incident_view(actor, row) if row else None


@strawberry.type(description="A rule that opens an incident by itself (editable).")
class CrisisRule(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. `CLASS_SPIKE`.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    kind: m.CrisisRuleKind = strawberry.field(description="What it watches for.")
    severity: m.CrisisSeverity = strawberry.field(
        description="The severity of the incident it opens."
    )
    enabled: bool = strawberry.field(description="Whether it runs.")
    threshold: int = strawberry.field(
        description="Spikes: complaints within the window that open an incident."
    )
    window_hours: int = strawberry.field(description="Spikes: the window, in hours.")
    keywords: list[str] = strawberry.field(description="Keyword rules: the words watched for.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")

    @classmethod
    def from_model(cls, row: m.CrisisRule) -> CrisisRule:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            kind=row.kind,
            severity=row.severity,
            enabled=row.enabled,
            threshold=row.threshold,
            window_hours=row.window_hours,
            keywords=list(row.keywords),
            version=row.version,
        )


async def crisis_rule_node(actor: Actor, object_id: uuid.UUID) -> CrisisRule | None:
    if not may_read_all(actor):
        return None
    row = await m.CrisisRule.get_or_none(id=object_id)
    return CrisisRule.from_model(row) if row else None


@strawberry.type(description="The incident a complaint is part of, as its handlers need it.")
class ComplaintIncident:
    incident_id: relay.GlobalID = strawberry.field(description="The incident (CrisisIncident).")
    number: str = strawberry.field(description="The incident's number.")
    title: str = strawberry.field(description="What happened, in short.")
    status: m.CrisisStatus = strawberry.field(description="The incident's stage.")
    customer_statement: str | None = strawberry.field(
        description="The latest approved statement to customers: answer the complaint "
        "consistently with it. Null until one is approved."
    )


async def complaint_incident(
    actor: Actor, incident_id: uuid.UUID | None
) -> ComplaintIncident | None:
    """For staff who see the complaint; customers are told by the notice instead."""
    if incident_id is None or not actor.is_staff:
        return None
    row = await m.CrisisIncident.get_or_none(id=incident_id)
    if row is None:
        return None
    statement = (
        await m.CrisisStatement.filter(
            incident_id=row.id,
            audience=m.StatementAudience.CUSTOMERS,
            status__in=[m.StatementStatus.APPROVED, m.StatementStatus.RELEASED],
        )
        .order_by("-approved_at")
        .first()
    )
    return ComplaintIncident(
        incident_id=relay.GlobalID("CrisisIncident", str(row.id)),
        number=row.number,
        title=row.title,
        status=row.status,
        customer_statement=statement.text if statement else None,
    )


@strawberry.type(description="An incident after an action.")
class CrisisIncidentPayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    incident: CrisisIncident | None = strawberry.field(
        default=None,
        description="The incident as saved, with its team, checklist and statements; "
        "null when refused.",
    )
    errors: list[CrisisError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="An incident opened by hand, and the complaints linked to it.")
class OpenCrisisIncidentPayload:
    changed: bool = strawberry.field(description="True when it was opened.")
    incident: CrisisIncident | None = strawberry.field(
        default=None, description="The new incident."
    )
    complaints: list[Complaint] = strawberry.field(
        default_factory=list,
        description="The complaints now part of it (their `incident` changed).",
    )
    errors: list[CrisisError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A rule after an edit.")
class CrisisRulePayload:
    changed: bool = strawberry.field(description="True when the edit was saved.")
    rule: CrisisRule | None = strawberry.field(default=None, description="The rule as saved.")
    errors: list[CrisisError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Open an incident by hand.")
class OpenCrisisIncidentInput:
    title: str = strawberry.field(description="What happened, in short (≤ 128 字).")
    severity: m.CrisisSeverity = strawberry.field(description="How severe it looks now.")
    complaint_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="Complaints it concerns (at most 100)."
    )


@strawberry.input(description="An incident at the version you saw.")
class CrisisVersionInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")


@strawberry.input(description="The assessment of an incident.")
class AssessCrisisIncidentInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    severity: m.CrisisSeverity = strawberry.field(description="How severe it is.")
    spread_risk: m.SpreadRisk = strawberry.field(description="The risk of spread.")
    scope: m.CrisisScope = strawberry.field(
        description="Whom it affects (counted from its complaints)."
    )
    note: str = strawberry.field(description="The assessment (≤ 4000 字).")


@strawberry.input(description="A staff member for the response team.")
class AddCrisisTeamMemberInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    staff_id: relay.GlobalID = strawberry.field(description="The staff member (StaffMember).")
    role: m.CrisisTeamRole = strawberry.field(description="Their role.")


@strawberry.input(description="An item for the checklist.")
class AddCrisisActionInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    title: str = strawberry.field(description="What is to be done (≤ 200 字).")
    owner_id: relay.GlobalID = strawberry.field(
        description="Who does it: a team member (StaffMember)."
    )
    due_at: datetime = strawberry.field(description="Due by (without a zone: Asia/Shanghai).")


@strawberry.input(description="A checklist item done.")
class CompleteCrisisActionInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    action_key: str = strawberry.field(description="The item's `key`.")
    note: str = strawberry.field(description="What was done (≤ 1000 字).")


@strawberry.input(description="A statement to draft.")
class DraftCrisisStatementInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    audience: m.StatementAudience = strawberry.field(description="Whom it is for.")
    party: str | None = strawberry.field(default=None, description="The party named (≤ 64 字).")
    text: str = strawberry.field(description="The statement (≤ 4000 字).")


@strawberry.input(description="A statement to approve or release.")
class CrisisStatementInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    statement_key: str = strawberry.field(description="The statement's `key`.")


@strawberry.input(description="The post-incident review.")
class WriteCrisisReviewInput:
    incident_id: relay.GlobalID = strawberry.field(description="The incident.")
    expected_version: int = strawberry.field(description="The version you saw.")
    causes: str = strawberry.field(description="What caused it (≤ 4000 字).")
    changes: str = strawberry.field(description="What was changed (≤ 4000 字).")


@strawberry.input(description="A rule's new settings.")
class EditCrisisRuleInput:
    rule_id: relay.GlobalID = strawberry.field(description="The rule.")
    expected_version: int = strawberry.field(description="The version you saw.")
    name: str = strawberry.field(description="Its name (≤ 64 字).")
    severity: m.CrisisSeverity = strawberry.field(
        description="The severity of the incident it opens."
    )
    enabled: bool = strawberry.field(description="Whether it runs.")
    threshold: int = strawberry.field(
        description="Spikes: complaints that open an incident (1–1000)."
    )
    window_hours: int = strawberry.field(description="Spikes: the window in hours (1–720).")
    keywords: list[str] = strawberry.field(
        default_factory=list, description="Keyword rules: the words (at most 50, each ≤ 20 字)."
    )


@strawberry.input(description="Narrow the incident list.")
class CrisisIncidentFilter:
    status: list[m.CrisisStatus] | None = strawberry.field(
        default=None, description="Only these stages."
    )
    open: bool | None = strawberry.field(
        default=None, description="True: not closed; false: closed."
    )


def _incident_id(input: Any) -> uuid.UUID:
    return node_uuid(input.incident_id, "CrisisIncident")


def _key(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        return NOTHING


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


async def _act(info: Info, call: Awaitable[Any]) -> CrisisIncidentPayload:
    try:
        result = await call
    except CrisisError as error:
        return CrisisIncidentPayload(changed=False, errors=payload_errors(error, CrisisError_))
    row = result[0] if isinstance(result, tuple) else result
    return CrisisIncidentPayload(
        changed=True, incident=await incident_view(info.context.actor, row), errors=[]
    )


MANAGE = staff_only(Permission.CRISIS_MANAGE)


@strawberry.type
class CrisisQueries:
    @strawberry.field(
        description="Staff (CRISIS_MANAGE or COMPLAINT_SUPERVISE): crisis incidents, the "
        "newest first.",
        permission_classes=READERS,
    )
    async def crisis_incidents(
        self,
        info: Info,
        filter: Annotated[
            CrisisIncidentFilter | None, strawberry.argument(description="Narrow the list.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[CrisisIncident]:
        actor = info.context.actor
        f = filter or CrisisIncidentFilter()
        rows = visible_incidents(actor)
        if f.status:
            rows = rows.filter(status__in=list(f.status))
        if f.open is not None:
            rows = (
                rows.exclude(status=m.CrisisStatus.CLOSED)
                if f.open
                else rows.filter(status=m.CrisisStatus.CLOSED)
            )
        page = await paginate(
            rows.order_by("-opened_at", "id"),
            lambda row: row,
            first=first,
            after=after,
            last=None,
            before=None,
        )
        views = await incident_views(actor, [edge.node for edge in page.edges])
        for edge, view in zip(page.edges, views, strict=True):
            edge.node = view
        return page

    @strawberry.field(
        description="Staff (CRISIS_MANAGE or COMPLAINT_SUPERVISE): the rules that open incidents.",
        permission_classes=READERS,
    )
    async def crisis_rules(self, info: Info) -> list[CrisisRule]:
        await detect.ensure_default_rules()
        return [CrisisRule.from_model(r) for r in await m.CrisisRule.all().order_by("code")]


@strawberry.type
class CrisisMutations:
    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): open an incident by hand, with the complaints "
        "it concerns.",
        permission_classes=MANAGE,
    )
    async def open_crisis_incident(
        self,
        info: Info,
        input: Annotated[
            OpenCrisisIncidentInput,
            strawberry.argument(description="Its title, severity and the complaints it concerns."),
        ],
    ) -> OpenCrisisIncidentPayload:
        actor = info.context.actor
        ids = [node_uuid(c, "Complaint") for c in input.complaint_ids]
        try:
            row = await detect.open_incident(actor, input.title, input.severity, ids)
        except CrisisError as error:
            return OpenCrisisIncidentPayload(
                changed=False, errors=payload_errors(error, CrisisError_)
            )
        view = await incident_view(actor, row)
        return OpenCrisisIncidentPayload(
            changed=True, incident=view, complaints=view.complaints, errors=[]
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): assess severity, risk of spread and scope "
        "(customers and policies affected, counted from its complaints).",
        permission_classes=MANAGE,
    )
    async def assess_crisis_incident(
        self,
        info: Info,
        input: Annotated[
            AssessCrisisIncidentInput,
            strawberry.argument(
                description="The incident, your version, severity, spread risk, scope and note."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.assess(
                info.context.actor,
                _incident_id(input),
                input.expected_version,
                input.severity,
                input.spread_risk,
                input.scope,
                input.note,
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): add a staff member to the response team.",
        permission_classes=MANAGE,
    )
    async def add_crisis_team_member(
        self,
        info: Info,
        input: Annotated[
            AddCrisisTeamMemberInput,
            strawberry.argument(
                description="The incident, your version, the staff member and their role."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.add_team_member(
                info.context.actor,
                _incident_id(input),
                input.expected_version,
                node_uuid(input.staff_id, "StaffMember"),
                input.role,
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): add an item to the checklist, owned by a team member.",
        permission_classes=MANAGE,
    )
    async def add_crisis_action(
        self,
        info: Info,
        input: Annotated[
            AddCrisisActionInput,
            strawberry.argument(
                description="The incident, your version, what to do, its owner and due time."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.add_action(
                info.context.actor,
                _incident_id(input),
                input.expected_version,
                input.title,
                node_uuid(input.owner_id, "StaffMember"),
                _aware(input.due_at),
            ),
        )

    @strawberry.mutation(
        description="Staff (the item's owner, or CRISIS_MANAGE): mark a checklist item done.",
        permission_classes=[IsAuthenticated],
    )
    async def complete_crisis_action(
        self,
        info: Info,
        input: Annotated[
            CompleteCrisisActionInput,
            strawberry.argument(
                description="The incident, your version, the item's key and what was done."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.complete_action(
                info.context.actor,
                _key(input.action_key),
                input.expected_version,
                input.note,
                _incident_id(input),
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): draft a statement to customers, media, the "
        "regulator or another party (released only after a second manager approves).",
        permission_classes=MANAGE,
    )
    async def draft_crisis_statement(
        self,
        info: Info,
        input: Annotated[
            DraftCrisisStatementInput,
            strawberry.argument(
                description="The incident, your version, audience, party and the statement's text."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.draft_statement(
                info.context.actor,
                _incident_id(input),
                input.expected_version,
                input.audience,
                input.party,
                input.text,
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE, not the one who drafted it): approve a statement.",
        permission_classes=MANAGE,
    )
    async def approve_crisis_statement(
        self,
        info: Info,
        input: Annotated[
            CrisisStatementInput,
            strawberry.argument(
                description="The incident, your version and the statement to approve."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.approve_statement(
                info.context.actor,
                _key(input.statement_key),
                input.expected_version,
                _incident_id(input),
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): release an approved statement; one to customers "
        "is sent once to every affected customer.",
        permission_classes=MANAGE,
    )
    async def release_crisis_statement(
        self,
        info: Info,
        input: Annotated[
            CrisisStatementInput,
            strawberry.argument(
                description="The incident, your version and the approved statement to release."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.release_statement(
                info.context.actor,
                _key(input.statement_key),
                input.expected_version,
                _incident_id(input),
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): write the post-incident review (causes, what "
        "changed; the timeline is made from the incident's events).",
        permission_classes=MANAGE,
    )
    async def write_crisis_review(
        self,
        info: Info,
        input: Annotated[
            WriteCrisisReviewInput,
            strawberry.argument(
                description="The incident, your version, the causes and what was changed."
            ),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info,
            response.write_review(
                info.context.actor,
                _incident_id(input),
                input.expected_version,
                input.causes,
                input.changes,
            ),
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): close an incident; refused without its review.",
        permission_classes=MANAGE,
    )
    async def close_crisis_incident(
        self,
        info: Info,
        input: Annotated[
            CrisisVersionInput,
            strawberry.argument(description="The incident to close and the version you saw."),
        ],
    ) -> CrisisIncidentPayload:
        return await _act(
            info, response.close(info.context.actor, _incident_id(input), input.expected_version)
        )

    @strawberry.mutation(
        description="Staff (CRISIS_MANAGE): change a rule that opens incidents.",
        permission_classes=MANAGE,
    )
    async def edit_crisis_rule(
        self,
        info: Info,
        input: Annotated[
            EditCrisisRuleInput,
            strawberry.argument(
                description="The rule, your version, its new name, severity, threshold, words."
            ),
        ],
    ) -> CrisisRulePayload:
        change = detect.RuleChange(
            input.name,
            input.severity,
            input.enabled,
            input.threshold,
            input.window_hours,
            tuple(input.keywords),
        )
        try:
            row = await detect.edit_rule(
                info.context.actor,
                node_uuid(input.rule_id, "CrisisRule"),
                input.expected_version,
                change,
            )
        except CrisisError as error:
            return CrisisRulePayload(changed=False, errors=payload_errors(error, CrisisError_))
        return CrisisRulePayload(changed=True, rule=CrisisRule.from_model(row), errors=[])


@strawberry.type(description="A change of a crisis incident, as crisis managers are told of it.")
class CrisisIncidentChange:
    event_type: str = strawberry.field(
        description="What happened: `crisis.opened`, `crisis.linked`, `crisis.assessed`, "
        "`crisis.statement_released`, `crisis.closed`, …"
    )
    incident: CrisisIncident = strawberry.field(description="The incident after the change.")


@strawberry.type
class CrisisSubscriptions:
    @strawberry.subscription(
        description="Staff (CRISIS_MANAGE or COMPLAINT_SUPERVISE): every change of every "
        "crisis incident as it happens, from whichever API process made it: how managers "
        "are told of each step (opened by a rule, linked complaints, assessment, team, "
        "checklist, statements, review, closure).",
        permission_classes=READERS,
    )
    async def crisis_incidents_changed(
        self, info: Info
    ) -> AsyncGenerator[CrisisIncidentChange, None]:
        actor = info.context.actor
        async for event in info.context.services.bus.subscribe(MANAGERS):
            if event.get("entityType") != "crisis_incident":
                continue
            row = await visible_incidents(actor).filter(id=uuid.UUID(event["entityId"])).first()
            if row is not None:
                yield CrisisIncidentChange(
                    event_type=event["type"], incident=await incident_view(actor, row)
                )
