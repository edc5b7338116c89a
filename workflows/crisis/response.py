"""Assess, respond, communicate, summarise, close: the incident's life after it is
identified. Each step is one ``transition`` (stage, version, timeline, managers told)
with the rows it writes (team member, action, statement, notices) in its transaction.

A statement is drafted by one manager and approved by another before release; a
released customer statement goes to every affected customer once, through the
notification outbox (one event per customer, unique key ``crisis-notice:<statement>:
<customer>``, and the statement's own APPROVED → RELEASED update happens once).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from models.claims import Claim
from models.clock import local_time
from models.complaints import Complaint
from models.crisis import (
    CrisisAction,
    CrisisEvent,
    CrisisIncident,
    CrisisScope,
    CrisisSeverity,
    CrisisStatement,
    CrisisStatus,
    CrisisTeamMember,
    CrisisTeamRole,
    SpreadRisk,
    StatementAudience,
    StatementStatus,
)
from models.ids import global_id
from models.notifications import OutboxEvent
from models.payments import PaymentOrder
from models.policies import Policy, PolicyStatus
from models.staff import StaffUser
from workflows.access import Actor, Permission
from workflows.crisis.detect import clean
from workflows.crisis.rules import (
    ACTION_TITLE_LIMIT,
    NOTE_LIMIT,
    PARTY_LIMIT,
    RESPONSE_STAGES,
    STATEMENT_STAGES,
    TEXT_LIMIT,
    CrisisActionKind,
    CrisisError,
    CrisisErrorCode,
)
from workflows.crisis.state import load_incident, transition

E = CrisisErrorCode
K = CrisisActionKind
S = CrisisStatus
NOTICE_BATCH = 500
AUDIENCE_NAMES = {
    StatementAudience.CUSTOMERS: "客户",
    StatementAudience.MEDIA: "媒体",
    StatementAudience.REGULATOR: "监管机构",
    StatementAudience.OTHER: "其他相关方",
}


@dataclass(frozen=True)
class Scope:
    customers: set[uuid.UUID]
    policies: set[uuid.UUID]


def _ids(values: list[Any]) -> set[uuid.UUID]:
    return {cast(uuid.UUID, v) for v in values if v is not None}


async def affected(incident: CrisisIncident, scope: CrisisScope) -> Scope:
    """Who and what the incident touches, from its complaints: their customers and the
    policies they are about (directly, through a claim or a payment); with
    PRODUCT_HOLDERS also every in-force policy of those products and its holder."""
    rows = await Complaint.filter(incident_id=incident.id).values(
        "customer_id", "policy_id", "claim_id", "payment_order_id"
    )
    customers: set[uuid.UUID] = {r["customer_id"] for r in rows if r["customer_id"]}
    policies: set[uuid.UUID] = {r["policy_id"] for r in rows if r["policy_id"]}
    claims = [r["claim_id"] for r in rows if r["claim_id"]]
    orders = [r["payment_order_id"] for r in rows if r["payment_order_id"]]
    if claims:
        policies |= _ids(await Claim.filter(id__in=claims).values_list("policy_id", flat=True))
    if orders:
        policies |= _ids(
            await PaymentOrder.filter(id__in=orders).values_list("policy_id", flat=True)
        )
    if scope is CrisisScope.PRODUCT_HOLDERS:
        products = _ids(await Policy.filter(id__in=policies).values_list("product_id", flat=True))
        if incident.rule_key and incident.rule_key.startswith("product:"):
            products.add(uuid.UUID(incident.rule_key.removeprefix("product:")))
        if products:
            held = await Policy.filter(
                product_id__in=list(products), status=PolicyStatus.ACTIVE
            ).values_list("id", "holder_id")
            policies |= {p for p, _ in held}
            customers |= {h for _, h in held}
    return Scope(customers, policies)


async def assess(
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int,
    severity: CrisisSeverity,
    spread_risk: SpreadRisk,
    scope: CrisisScope,
    note: str,
) -> CrisisIncident:
    """Severity, risk of spread and scope (counted now from the linked complaints);
    the first assessment moves the incident on, later ones update it."""
    incident = await load_incident(actor, incident_id, K.ASSESS)
    note = clean(note, "note", TEXT_LIMIT)
    if incident.status not in ({S.IDENTIFIED} | RESPONSE_STAGES):
        raise CrisisError(E.ILLEGAL_TRANSITION, "当前阶段不能评估")
    found = await affected(incident, scope)
    return await transition(
        incident,
        actor,
        to=S.ASSESSED if incident.status is S.IDENTIFIED else None,
        action="assess",
        note=f"评估：{severity}，扩散风险{spread_risk}，影响客户{len(found.customers)}人、"
        f"保单{len(found.policies)}件。{note}",
        expected_version=expected_version,
        severity=severity,
        spread_risk=spread_risk,
        scope=scope,
        assessment=note,
        customers_affected=len(found.customers),
        policies_affected=len(found.policies),
        assessed_at=datetime.now(UTC),
    )


def _responding(incident: CrisisIncident) -> S | None:
    """Team and checklist work happen after the assessment; the first moves it on."""
    if incident.status not in RESPONSE_STAGES:
        raise CrisisError(E.ILLEGAL_TRANSITION, "请先完成评估，或事件已进入复盘")
    return S.RESPONDING if incident.status is S.ASSESSED else None


async def add_team_member(
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int,
    staff_id: uuid.UUID,
    role: CrisisTeamRole,
) -> tuple[CrisisIncident, CrisisTeamMember]:
    incident = await load_incident(actor, incident_id, K.ADD_TEAM_MEMBER)
    to = _responding(incident)
    staff = await StaffUser.get_or_none(id=staff_id, is_active=True)
    if staff is None:
        raise CrisisError(E.STAFF_NOT_FOUND, "未找到该员工", "staffId")
    if await CrisisTeamMember.exists(incident_id=incident.id, staff_id=staff_id):
        raise CrisisError(E.ALREADY_ON_TEAM, "该员工已在应对小组中", "staffId")
    made: list[CrisisTeamMember] = []

    async def write(row: CrisisIncident) -> None:
        made.append(await CrisisTeamMember.create(incident_id=row.id, staff_id=staff_id, role=role))

    incident = await transition(
        incident,
        actor,
        to=to,
        action="add_team_member",
        note=f"{staff.display_name}加入应对小组（{role}）",
        expected_version=expected_version,
        also=write,
    )
    return incident, made[0]


async def add_action(
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int,
    title: str,
    owner_id: uuid.UUID,
    due_at: datetime,
) -> tuple[CrisisIncident, CrisisAction]:
    incident = await load_incident(actor, incident_id, K.ADD_ACTION)
    to = _responding(incident)
    title = clean(title, "title", ACTION_TITLE_LIMIT)
    if due_at <= datetime.now(UTC):
        raise CrisisError(E.DUE_IN_PAST, "完成时限须晚于现在", "dueAt")
    if not await CrisisTeamMember.exists(incident_id=incident.id, staff_id=owner_id):
        raise CrisisError(E.OWNER_NOT_ON_TEAM, "责任人须为应对小组成员", "ownerId")
    made: list[CrisisAction] = []

    async def write(row: CrisisIncident) -> None:
        made.append(
            await CrisisAction.create(
                incident_id=row.id, title=title, owner_id=owner_id, due_at=due_at
            )
        )

    incident = await transition(
        incident,
        actor,
        to=to,
        action="add_action",
        note=f"新增措施：{title}（时限{local_time(due_at):%m-%d %H:%M}）",
        expected_version=expected_version,
        also=write,
    )
    return incident, made[0]


async def complete_action(
    actor: Actor,
    action_id: uuid.UUID,
    expected_version: int,
    note: str,
    incident_id: uuid.UUID | None = None,
) -> tuple[CrisisIncident, CrisisAction]:
    """Its owner or a crisis manager marks an action done, with what was done
    (``incident_id``, when given, must be the action's)."""
    action = await CrisisAction.get_or_none(id=action_id)
    if action is not None and incident_id is not None and action.incident_id != incident_id:
        action = None
    if action is None:
        raise CrisisError(E.ACTION_NOT_FOUND, "未找到该措施", "actionId")
    try:
        incident = await load_incident(actor, action.incident_id, K.COMPLETE_ACTION)
    except CrisisError as error:
        if error.code is E.INCIDENT_NOT_FOUND:
            raise CrisisError(E.ACTION_NOT_FOUND, "未找到该措施", "actionId") from None
        raise
    if action.owner_id != actor.subject_id and not actor.can(Permission.CRISIS_MANAGE):
        raise CrisisError(E.NOT_ALLOWED, "只有责任人或危机管理人员可以完成该措施", "actionId")
    if incident.status is S.CLOSED:
        raise CrisisError(E.ILLEGAL_TRANSITION, "事件已结束")
    note = clean(note, "note", NOTE_LIMIT)

    async def write(_row: CrisisIncident) -> None:
        done = await CrisisAction.filter(id=action.id, done_at=None).update(
            done_at=datetime.now(UTC), done_by=actor.subject_id, done_note=note
        )
        if not done:
            raise CrisisError(E.ACTION_DONE_ALREADY, "该措施已完成", "actionId")

    incident = await transition(
        incident,
        actor,
        action="complete_action",
        note=f"完成措施：{action.title}。{note}",
        expected_version=expected_version,
        also=write,
    )
    await action.refresh_from_db()
    return incident, action


async def draft_statement(
    actor: Actor,
    incident_id: uuid.UUID,
    expected_version: int,
    audience: StatementAudience,
    party: str | None,
    text: str,
) -> tuple[CrisisIncident, CrisisStatement]:
    incident = await load_incident(actor, incident_id, K.DRAFT_STATEMENT)
    if incident.status not in STATEMENT_STAGES:
        raise CrisisError(E.ILLEGAL_TRANSITION, "组建应对小组后才能起草对外口径")
    text = clean(text, "text", TEXT_LIMIT)
    party = clean(party, "party", PARTY_LIMIT) if party and party.strip() else None
    made: list[CrisisStatement] = []

    async def write(row: CrisisIncident) -> None:
        made.append(
            await CrisisStatement.create(
                incident_id=row.id,
                audience=audience,
                party=party,
                text=text,
                drafted_by=actor.subject_id,
            )
        )

    incident = await transition(
        incident,
        actor,
        action="draft_statement",
        note=f"起草致{party or AUDIENCE_NAMES[audience]}的口径",
        expected_version=expected_version,
        also=write,
    )
    return incident, made[0]


async def _statement(
    actor: Actor, statement_id: uuid.UUID, kind: CrisisActionKind, incident_id: uuid.UUID | None
) -> tuple[CrisisIncident, CrisisStatement]:
    statement = await CrisisStatement.get_or_none(id=statement_id)
    if statement is not None and incident_id is not None and statement.incident_id != incident_id:
        statement = None
    if statement is None:
        raise CrisisError(E.STATEMENT_NOT_FOUND, "未找到该口径", "statementId")
    try:
        incident = await load_incident(actor, statement.incident_id, kind)
    except CrisisError as error:
        if error.code is E.INCIDENT_NOT_FOUND:
            raise CrisisError(E.STATEMENT_NOT_FOUND, "未找到该口径", "statementId") from None
        raise
    if incident.status not in STATEMENT_STAGES:
        raise CrisisError(E.ILLEGAL_TRANSITION, "当前阶段不能处理对外口径")
    return incident, statement


async def approve_statement(
    actor: Actor,
    statement_id: uuid.UUID,
    expected_version: int,
    incident_id: uuid.UUID | None = None,
) -> tuple[CrisisIncident, CrisisStatement]:
    """A second manager, never the one who drafted it, approves it for release."""
    incident, statement = await _statement(actor, statement_id, K.APPROVE_STATEMENT, incident_id)
    if statement.drafted_by == actor.subject_id:
        raise CrisisError(E.SECOND_PERSON_REQUIRED, "口径须由起草人以外的另一位管理人员审批")

    async def write(_row: CrisisIncident) -> None:
        if not await CrisisStatement.filter(id=statement.id, status=StatementStatus.DRAFT).update(
            status=StatementStatus.APPROVED,
            approved_by=actor.subject_id,
            approved_at=datetime.now(UTC),
        ):
            raise CrisisError(E.STATEMENT_NOT_DRAFT, "该口径已审批", "statementId")

    incident = await transition(
        incident,
        actor,
        action="approve_statement",
        note=f"审批通过致{statement.party or AUDIENCE_NAMES[statement.audience]}的口径",
        expected_version=expected_version,
        also=write,
    )
    await statement.refresh_from_db()
    return incident, statement


async def _notify_customers(
    incident: CrisisIncident, statement: CrisisStatement, customers: set[uuid.UUID]
) -> int:
    """One outbox event per affected customer (the relay turns each into an inbox entry
    and pushes); the unique key makes a second write of the same notice impossible."""
    events = [
        OutboxEvent(
            event_id=uuid.uuid4(),
            event_type="crisis.notice",
            entity_type="crisis_statement",
            entity_id=str(statement.id),
            customer_id=customer_id,
            payload={
                "incident_number": incident.number,
                "statement_id": global_id("CrisisStatement", statement.id),
                "text": statement.text,
            },
            dedupe_key=f"crisis-notice:{statement.id}:{customer_id}",
        )
        for customer_id in sorted(customers)
    ]
    for start in range(0, len(events), NOTICE_BATCH):
        await OutboxEvent.bulk_create(events[start : start + NOTICE_BATCH])
    return len(events)


async def release_statement(
    actor: Actor,
    statement_id: uuid.UUID,
    expected_version: int,
    incident_id: uuid.UUID | None = None,
) -> tuple[CrisisIncident, CrisisStatement]:
    """Release an approved statement; a customer statement is sent to every affected
    customer (the incident's scope, counted now) once."""
    incident, statement = await _statement(actor, statement_id, K.RELEASE_STATEMENT, incident_id)
    if statement.status is not StatementStatus.APPROVED:
        raise CrisisError(E.STATEMENT_NOT_APPROVED, "口径须先经另一位管理人员审批", "statementId")
    sent: list[int] = [0]

    async def write(row: CrisisIncident) -> None:
        updates: dict[str, Any] = {
            "status": StatementStatus.RELEASED,
            "released_by": actor.subject_id,
            "released_at": datetime.now(UTC),
        }
        if not await CrisisStatement.filter(
            id=statement.id, status=StatementStatus.APPROVED
        ).update(**updates):
            raise CrisisError(E.STATEMENT_NOT_APPROVED, "该口径已发布", "statementId")
        if statement.audience is StatementAudience.CUSTOMERS:
            scope = await affected(row, row.scope or CrisisScope.COMPLAINANTS)
            sent[0] = await _notify_customers(row, statement, scope.customers)
            await CrisisStatement.filter(id=statement.id).update(notified=sent[0])

    incident = await transition(
        incident,
        actor,
        to=S.COMMUNICATING if incident.status is S.RESPONDING else None,
        action="release_statement",
        note=lambda: (
            f"发布致{statement.party or AUDIENCE_NAMES[statement.audience]}的口径"
            + (
                f"，已通知客户{sent[0]}人"
                if statement.audience is StatementAudience.CUSTOMERS
                else ""
            )
        ),
        expected_version=expected_version,
        also=write,
    )
    await statement.refresh_from_db()
    return incident, statement


def timeline_of(events: list[CrisisEvent]) -> list[dict[str, Any]]:
    """The review's timeline, made from the incident's own timeline lines."""
    return [
        {
            "at": local_time(e.created_at).isoformat(),
            "action": e.action,
            "status": str(e.to_status),
            "note": e.note,
        }
        for e in sorted(events, key=lambda e: (e.created_at, e.id))
    ]


async def write_review(
    actor: Actor, incident_id: uuid.UUID, expected_version: int, causes: str, changes: str
) -> CrisisIncident:
    """The post-incident review (复盘): causes, what changed, and the timeline made from
    the incident's events; every checklist action must be done first."""
    incident = await load_incident(actor, incident_id, K.REVIEW)
    if incident.status not in {S.RESPONDING, S.COMMUNICATING, S.REVIEWING}:
        raise CrisisError(E.ILLEGAL_TRANSITION, "应对开始后才能复盘")
    causes = clean(causes, "causes", TEXT_LIMIT)
    changes = clean(changes, "changes", TEXT_LIMIT)
    if await CrisisAction.exists(incident_id=incident.id, done_at=None):
        raise CrisisError(E.ACTIONS_OPEN, "仍有未完成的应对措施")
    events = await CrisisEvent.filter(incident_id=incident.id)
    return await transition(
        incident,
        actor,
        to=S.REVIEWING if incident.status is not S.REVIEWING else None,
        action="review",
        note="完成复盘报告",
        expected_version=expected_version,
        review_causes=causes,
        review_changes=changes,
        review_timeline=timeline_of(events),
        reviewed_by=actor.subject_id,
        reviewed_at=datetime.now(UTC),
    )


async def close(actor: Actor, incident_id: uuid.UUID, expected_version: int) -> CrisisIncident:
    """Close: only with its review. The rule and key are free again for a new incident."""
    incident = await load_incident(actor, incident_id, K.CLOSE)
    if incident.reviewed_at is None:
        raise CrisisError(E.REVIEW_REQUIRED, "请先完成复盘报告再结束事件")
    return await transition(
        incident,
        actor,
        to=S.CLOSED,
        action="close",
        note="事件结束",
        expected_version=expected_version,
        event_type="crisis.closed",
        open_key=None,
        closed_at=datetime.now(UTC),
    )
