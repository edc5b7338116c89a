"""Handling a complaint, from assignment to closure: classification confirmed or
corrected, assignment with recusal (回避), contact log, asking for information, the two
extensions, the answer (always with the review request and outside routes), the
customer's acceptance, review request or withdrawal, closure with a satisfaction survey,
and the clock sweep that warns supervisors at 80 % and marks breaches.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, cast

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimEvent
from models.complaints import (
    ClassificationCorrection,
    Complaint,
    ComplaintClass,
    ComplaintEvent,
    ComplaintStatus,
    Urgency,
)
from models.staff import StaffUser
from models.team import SkillKind, TeamSkill
from push.outbox import emit
from workflows import surveys
from workflows.access import ROLE_PERMISSIONS, Actor, Permission
from workflows.complaints import material, remedies, root_causes
from workflows.complaints.calendar import first_response_deadline
from workflows.complaints.rules import (
    ANSWER_DAYS,
    CLASS_NAMES,
    CLASS_TEAMS,
    CLOCKS,
    OPEN,
    OUTSIDE_ROUTES,
    REASON_LIMIT,
    ROUTES_AFTER_REVIEW,
    SILENT_CLOSE,
    STAFF_QUEUE,
    TEXT_LIMIT,
    ClockSettings,
    ComplaintAction,
    ComplaintError,
    ComplaintErrorCode,
    answer_due,
    escalate_at,
)
from workflows.complaints.state import (
    add_to_timeline,
    event_payload,
    load_complaint,
    transition,
    visible_complaints,
)
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.team import assignment
from workflows.team.rules import TeamError
from workflows.team.workload import absent_now

A = ComplaintAction
E = ComplaintErrorCode
S = ComplaintStatus
SUPERVISORS = "staff:complaint-supervisors"
DECIDING_ACTIONS = ("decide", "reject", "propose_decision")
SURVEY_CODE = "COMPLAINT_SERVICE"


def _reason(reason: str, field: str = "reason", limit: int = REASON_LIMIT) -> str:
    reason = reason.strip()
    if not reason:
        raise ComplaintError(E.REASON_REQUIRED, "请填写说明", field)
    if len(reason) > limit:
        raise ComplaintError(E.TEXT_TOO_LONG, f"说明不能超过{limit}字", field)
    return reason


def _handler_or_supervisor(actor: Actor, complaint: Complaint) -> None:
    """Handling is the handler's (or a supervisor's), not anyone's with the permission."""
    if complaint.handler_id != actor.subject_id and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "只有承办人或主管可以处理该投诉", "complaintId")


async def recused(complaint: Complaint) -> set[uuid.UUID]:
    """Staff with a direct interest: the one complained about, and whoever decided or
    was assigned the complained-about claim."""
    out: set[uuid.UUID] = set()
    if complaint.staff_subject_id:
        out.add(complaint.staff_subject_id)
    if complaint.claim_id:
        claim = await Claim.get(id=complaint.claim_id).only("id", "assignee_id")
        if claim.assignee_id:
            out.add(claim.assignee_id)
        deciders = await ClaimEvent.filter(
            claim_id=complaint.claim_id, action__in=DECIDING_ACTIONS, actor_kind="staff"
        ).values_list("actor_id", flat=True)
        out.update(cast(uuid.UUID, d) for d in deciders if d)
    return out


def _handling_roles() -> list[str]:
    return [
        str(role)
        for role, permissions in ROLE_PERMISSIONS.items()
        if Permission.COMPLAINT_HANDLE in permissions
    ]


async def least_loaded(complaint: Complaint, exclude: set[uuid.UUID]) -> uuid.UUID:
    """A team declares the class as a skill (workflows.team): its least-loaded member on
    duty and certified. Otherwise, or when none of them may take it: the active handler
    with the fewest open complaints, from the class's team when it has one who may take
    it, else from all handlers; never anyone on leave. Runs in the assigning transaction:
    the candidates are locked before their work is counted (workflows.team.assignment)."""
    skill = (SkillKind.COMPLAINT_CLASS, complaint.content_class.value)
    if await TeamSkill.exists(kind=skill[0], value=skill[1]):
        try:
            return await assignment.pick(Permission.COMPLAINT_HANDLE, [skill], exclude=exclude)
        except TeamError:
            pass
    away = await absent_now()
    handlers = StaffUser.filter(is_active=True, role__in=_handling_roles()).exclude(
        id__in=[*exclude, *away]
    )
    team = CLASS_TEAMS.get(complaint.content_class)
    candidates = await handlers.filter(team=team).values_list("id", flat=True) if team else []
    if not candidates:
        candidates = await handlers.values_list("id", flat=True)
    locked = await assignment.lock_candidates(cast(list[uuid.UUID], candidates))
    if not locked:
        raise ComplaintError(E.NO_HANDLER, "暂无可分派的投诉处理人员", "handlerId")
    loads = dict(
        await Complaint.filter(handler_id__in=locked, status__in=list(OPEN))
        .group_by("handler_id")
        .annotate(n=Count("id"))
        .values_list("handler_id", "n")
    )
    return min(locked, key=lambda staff_id: (loads.get(staff_id, 0), str(staff_id)))


async def assign(
    actor: Actor,
    complaint_id: uuid.UUID,
    expected_version: int,
    handler_id: uuid.UUID | None = None,
) -> Complaint:
    """Give the complaint a handler (named, or the least loaded); reassigning one that
    has a handler takes a supervisor. Never someone recused."""
    complaint = await load_complaint(actor, complaint_id, A.ASSIGN)
    if complaint.handler_id is not None and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "改派投诉需要主管权限", "handlerId")
    if complaint.status not in OPEN:
        raise ComplaintError(E.ILLEGAL_TRANSITION, "该投诉已答复或已结束，不能分派")
    exclude = await recused(complaint)
    async with in_transaction():  # the least loaded is counted and written under one lock
        return await _assign(actor, complaint, expected_version, handler_id, exclude)


async def _assign(
    actor: Actor,
    complaint: Complaint,
    expected_version: int,
    handler_id: uuid.UUID | None,
    exclude: set[uuid.UUID],
) -> Complaint:
    if handler_id is None:
        handler_id = await least_loaded(complaint, exclude)
    else:
        if handler_id in exclude:  # first: the reason that holds whatever their role
            raise ComplaintError(
                E.RECUSED, "该人员与被投诉事项存在利害关系，须回避，不能承办", "handlerId"
            )
        staff = await StaffUser.get_or_none(id=handler_id, is_active=True)
        if staff is None or Permission.COMPLAINT_HANDLE not in ROLE_PERMISSIONS[staff.role]:
            raise ComplaintError(E.HANDLER_NOT_FOUND, "未找到该投诉处理人员", "handlerId")
    name = await StaffUser.get(id=handler_id).values_list("display_name", flat=True)
    return await transition(
        complaint,
        actor,
        to=S.ASSIGNED if complaint.status is S.RECEIVED else None,
        action="assign",
        note=f"分派给{name}",
        expected_version=expected_version,
        internal=True,
        handler_id=handler_id,
    )


async def classify(
    actor: Actor,
    complaint_id: uuid.UUID,
    expected_version: int,
    content_class: ComplaintClass,
    urgency: Urgency,
    clocks: ClockSettings = CLOCKS,
) -> Complaint:
    """Staff confirm or correct the proposal; every decision is kept beside it."""
    complaint = await load_complaint(actor, complaint_id, A.CLASSIFY)
    accepted = (content_class, urgency) == (complaint.proposed_class, complaint.proposed_urgency)
    updates: dict[str, Any] = {
        "content_class": content_class,
        "urgency": urgency,
        "classification_confirmed": True,
    }
    if complaint.first_responded_at is None:
        updates["first_response_due_at"] = await first_response_deadline(
            complaint.received_at, urgency, clocks
        )
    async with in_transaction():
        complaint = await transition(
            complaint,
            actor,
            action="classify",
            note=f"分类：{CLASS_NAMES[content_class]}，紧急程度：{urgency}",
            expected_version=expected_version,
            internal=True,
            **updates,
        )
        await ClassificationCorrection.create(
            complaint_id=complaint.id,
            staff_id=actor.subject_id,
            proposed_class=complaint.proposed_class,
            proposed_urgency=complaint.proposed_urgency,
            chosen_class=content_class,
            chosen_urgency=urgency,
            accepted=accepted,
        )
    return complaint


async def proposal_acceptance() -> tuple[int, int]:
    """(accepted, decided): how often staff kept the system's proposal."""
    decided = await ClassificationCorrection.all().count()
    accepted = await ClassificationCorrection.filter(accepted=True).count()
    return accepted, decided


async def respond(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, note: str
) -> Complaint:
    """A contact with the customer (call, message, meeting) on the log; the first one is
    the first response and starts the handling."""
    complaint = await load_complaint(actor, complaint_id, A.RESPOND)
    _handler_or_supervisor(actor, complaint)
    note = _reason(note, "note", TEXT_LIMIT)
    updates: dict[str, Any] = (
        {} if complaint.first_responded_at else {"first_responded_at": datetime.now(UTC)}
    )
    return await transition(
        complaint,
        actor,
        to=S.IN_PROGRESS if complaint.status is S.ASSIGNED else None,
        action="respond",
        note=note,
        expected_version=expected_version,
        internal=True,
        **updates,
    )


async def request_info(
    actor: Actor,
    complaint_id: uuid.UUID,
    expected_version: int,
    what: str,
    documents: Collection[str] = (),
) -> Complaint:
    """Ask the customer for information; never for material already held (a linked
    claim's documents, named by checklist code in ``documents`` or by name in the text,
    are read there: MATERIAL_HELD)."""
    complaint = await load_complaint(actor, complaint_id, A.REQUEST_INFO)
    _handler_or_supervisor(actor, complaint)
    what = _reason(what, "what")
    names = await material.refuse_held(complaint, what, material.clean_codes(documents))
    note = f"{what}（所需材料：{'、'.join(names)}）" if names else what
    return await transition(
        complaint,
        actor,
        to=S.INFO_REQUESTED,
        action="request_info",
        note=note,
        expected_version=expected_version,
        event_type="complaint.info_requested",
        event_extra={"what": what},
    )


async def provide_info(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, text: str
) -> Complaint:
    complaint = await load_complaint(actor, complaint_id, A.PROVIDE_INFO)
    return await transition(
        complaint,
        actor,
        to=S.IN_PROGRESS,
        action="provide_info",
        note=_reason(text, "text", TEXT_LIMIT),
        expected_version=expected_version,
    )


async def extend(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, reason: str
) -> Complaint:
    """Extend the answer clock: to 30 days (handler, a reason), then to 60 days (a
    supervisor's approval); the customer is told each time."""
    complaint = await load_complaint(actor, complaint_id, A.EXTEND)
    _handler_or_supervisor(actor, complaint)
    if complaint.status not in OPEN:
        raise ComplaintError(E.ILLEGAL_TRANSITION, "该投诉已答复或已结束，不能延期")
    if complaint.extensions + 1 >= len(ANSWER_DAYS):
        raise ComplaintError(E.NO_MORE_EXTENSIONS, "该投诉已延期两次，不能再延期")
    if complaint.extensions == 1 and not actor.can(Permission.COMPLAINT_SUPERVISE):
        raise ComplaintError(E.NOT_ALLOWED, "第二次延期须经主管批准", "complaintId")
    reason = _reason(reason)
    extensions = complaint.extensions + 1
    due = answer_due(complaint.received_at, extensions)
    return await transition(
        complaint,
        actor,
        action="extend" if extensions == 1 else "extend_again",
        note=f"延期至{ANSWER_DAYS[extensions]}日：{reason}",
        expected_version=expected_version,
        event_type="complaint.extended",
        event_extra={"answer_due": f"{due:%Y-%m-%d}", "reason": reason},
        extensions=extensions,
        answer_due_at=due,
        escalated_at=None,  # a new clock: warn again at 80 % of it
    )


async def answer(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, text: str
) -> Complaint:
    """The answer, with the standard review and outside-routes text appended. An answer
    after a review request is a supervisor's who neither handled it nor is recused."""
    complaint = await load_complaint(actor, complaint_id, A.ANSWER)
    text = _reason(text, "text", TEXT_LIMIT)
    stated = await remedies.statement(complaint)  # the remedies carried out, if any
    text = f"{text}\n{stated}" if stated else text
    if complaint.status is S.REVIEW_REQUESTED:
        complaint = await load_complaint(actor, complaint_id, A.ANSWER_REVIEW)
        if actor.subject_id == complaint.handler_id or actor.subject_id in await recused(complaint):
            raise ComplaintError(E.RECUSED, "复核须由未承办该投诉的主管进行", "complaintId")
        action, full = "answer_review", f"【复核答复】{text}\n{ROUTES_AFTER_REVIEW}"
    else:
        _handler_or_supervisor(actor, complaint)
        action, full = "answer", f"{text}\n{OUTSIDE_ROUTES}"
    return await transition(
        complaint,
        actor,
        to=S.ANSWERED,
        action=action,
        note=full,
        expected_version=expected_version,
        event_type="complaint.answered",
        answer=full,
        answered_at=datetime.now(UTC),
    )


async def accept(actor: Actor, complaint_id: uuid.UUID, expected_version: int) -> Complaint:
    complaint = await load_complaint(actor, complaint_id, A.ACCEPT)
    return await transition(
        complaint,
        actor,
        to=S.ACCEPTED,
        action="accept",
        note="客户接受答复",
        expected_version=expected_version,
    )


async def request_review(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, reason: str
) -> Complaint:
    """Second level, once: a supervisor who did not handle it answers again."""
    complaint = await load_complaint(actor, complaint_id, A.REQUEST_REVIEW)
    if await ComplaintEvent.exists(complaint_id=complaint.id, action="request_review"):
        raise ComplaintError(E.REVIEWED_ALREADY, "该投诉已复核过，不能再次申请复核")
    return await transition(
        complaint,
        actor,
        to=S.REVIEW_REQUESTED,
        action="request_review",
        note=_reason(reason),
        expected_version=expected_version,
    )


async def withdraw(
    actor: Actor, complaint_id: uuid.UUID, expected_version: int, reason: str
) -> Complaint:
    """The customer withdraws (or staff record that they did) before the answer."""
    complaint = await load_complaint(actor, complaint_id, A.WITHDRAW)
    if complaint.status not in OPEN:
        raise ComplaintError(E.ILLEGAL_TRANSITION, "投诉已答复或已结束，不能撤回")
    return await transition(
        complaint,
        actor,
        to=S.WITHDRAWN,
        action="withdraw",
        note=reason.strip()[:REASON_LIMIT] or "客户撤回投诉",
        expected_version=expected_version,
        closed_at=datetime.now(UTC),
    )


async def _close(complaint: Complaint, actor: Actor | None, note: str, version: int) -> Complaint:
    """Closed, and the customer asked how it went (in the same transaction)."""
    async with in_transaction():
        complaint = await transition(
            complaint,
            actor,
            to=S.CLOSED,
            action="close",
            note=note,
            expected_version=version,
            event_type="complaint.closed",
            closed_at=datetime.now(UTC),
        )
        if complaint.customer_id is not None:
            await surveys.invite(
                complaint.customer_id,
                "complaint_closed",
                "complaint",
                str(complaint.id),
                SURVEY_CODE,
                staff_id=complaint.handler_id,
            )
    return complaint


async def close(actor: Actor, complaint_id: uuid.UUID, expected_version: int) -> Complaint:
    complaint = await load_complaint(actor, complaint_id, A.CLOSE)
    await root_causes.require(complaint)  # the sweep's closure does not wait (root_causes)
    return await _close(complaint, actor, "投诉办结", expected_version)


def queue(
    actor: Actor,
    *,
    content_class: Collection[ComplaintClass] | None = None,
    urgency: Collection[Urgency] | None = None,
    status: Collection[ComplaintStatus] | None = None,
    overdue: bool | None = None,
    mine: bool = False,
    team: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Complaint]:
    """The staff queue, most urgent due first. ``team``: what a team works, those its
    members handle and those without a handler whose class goes to it."""
    rows = visible_complaints(actor)
    if content_class:
        rows = rows.filter(content_class__in=list(content_class))
    if urgency:
        rows = rows.filter(urgency__in=list(urgency))
    if status:
        rows = rows.filter(status__in=list(status))
    if mine:
        rows = rows.filter(handler_id=actor.subject_id)
    if team is not None:
        rows = rows.filter(team_work(team))
    if overdue is not None:
        late = Q(status__in=list(OPEN), answer_due_at__lt=now or datetime.now(UTC))
        rows = rows.filter(late) if overdue else rows.filter(~late)
    return rows.order_by("answer_due_at", "id")


def team_work(team: str) -> Q:
    """The complaints a team works (see ``queue``)."""
    classes = [c for c, name in CLASS_TEAMS.items() if name == team]
    members = Q(handler__team=team)
    return members | Q(handler_id=None, content_class__in=classes) if classes else members


async def sweep_clocks(now: datetime | None = None) -> int:
    """Warn supervisors at 80 % of the answer clock, mark breaches of the first-response
    and answer clocks, and close answers
    left without reply (silence after the answer) or accepted. Idempotent: each mark is
    set once, by a conditional update."""
    now = now or datetime.now(UTC)
    done = 0
    for complaint in await Complaint.filter(status__in=list(OPEN), escalated_at=None):
        if now < escalate_at(complaint.received_at, complaint.answer_due_at):
            continue
        async with in_transaction():
            if await Complaint.filter(id=complaint.id, escalated_at=None).update(escalated_at=now):
                await _staff_note(complaint, "escalate", "答复时限已过80%，已提醒主管")
                done += 1
    for complaint in await Complaint.filter(
        status__in=list(OPEN),
        first_responded_at=None,
        first_response_breached_at=None,
        first_response_due_at__lt=now,
    ):
        async with in_transaction():
            if await Complaint.filter(
                id=complaint.id, first_responded_at=None, first_response_breached_at=None
            ).update(first_response_breached_at=now):
                await _staff_note(
                    complaint, "first_response_breach", "已超过首次响应时限，尚未联系客户"
                )
                done += 1
    for complaint in await Complaint.filter(
        status__in=list(OPEN), breached_at=None, answer_due_at__lt=now
    ):
        async with in_transaction():
            if await Complaint.filter(id=complaint.id, breached_at=None).update(breached_at=now):
                await _staff_note(complaint, "breach", "已超过答复时限")
                done += 1
    for complaint in await Complaint.filter(
        Q(status=S.ACCEPTED) | Q(status=S.ANSWERED, answered_at__lt=now - SILENT_CLOSE)
    ):
        try:
            await _close(complaint, None, "客户接受答复或逾期未回复，自动办结", complaint.version)
            done += 1
        except ComplaintError:  # acted on meanwhile: its next sweep decides
            continue
    return done


async def _staff_note(complaint: Complaint, action: str, note: str) -> None:
    await add_to_timeline(
        complaint, None, action, complaint.status, complaint.status, note, internal=True
    )
    await emit(
        f"complaint.{action}",
        entity_type="complaint",
        entity_id=complaint.id,
        customer_id=None,  # for staff only
        payload={**event_payload(complaint), "_staff_channels": [STAFF_QUEUE, SUPERVISORS]},
    )


async def _sweep(_deps: JobDeps) -> int:
    return await sweep_clocks()


JOBS = (Job("complaint_clocks", 5 * MINUTE, _sweep),)
