"""Cases: one per promise and subject, evaluated on the outbox events of the subjects
and swept when their deadline passes.

- ``evaluate_events`` (job ``commitment-events``) reads the outbox events of the subject
  types the evaluators measure (claim, complaint, conversation, and whatever another
  domain registers), evaluates each subject as it is now, then marks the event seen
  (``CommitmentEventSeen``; a worker stopping in between evaluates it again, harmlessly).
- ``sweep`` (job ``commitment-sweep``) evaluates the pending cases whose deadline has
  passed once more (an event not read yet must not make a kept promise look broken),
  marks those still pending BROKEN, then remedies the broken ones.
- ``remedy``: goodwill points (``award_points`` GOODWILL, source ``commitment:<case
  id>``, unique per customer and source) and a recovery task (``open_recovery``, unique
  per source and source id), then ``remedied_at``. Each step is idempotent on its own,
  so a worker stopping halfway, or two workers at once, give each once.

A case only moves forward: PENDING → KEPT | BROKEN | WAIVED by conditional updates on
``status = PENDING`` (one writer wins); a broken promise stays broken when the thing is
done later (its ``met_at`` is still recorded).
"""

from __future__ import annotations

import copy
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from models.benefits import ServiceBooking
from models.claims import Claim
from models.commitments import CaseStatus, CommitmentCase, CommitmentEventSeen, ServiceCommitment
from models.complaints import Complaint
from models.ids import global_id
from models.membership import PointsKind
from models.notifications import OutboxEvent
from push.outbox import emit_once
from workflows import surveys
from workflows.commitments.evaluators import EVALUATORS, Context, Verdict, subject_types
from workflows.commitments.rules import DEFAULT_COMMITMENTS, GOODWILL_REASON
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.membership import award_points

log = logging.getLogger("anxin.commitments")
P = CaseStatus
LOOKBACK = timedelta(days=2)  # events older than this were read (or the sweep covers them)
BATCH = 200
RECOVERY_SOURCE = "commitment"


async def ensure_defaults() -> None:
    """The default promises, written once (by code); staff change them afterwards."""
    codes = [c.code for c in DEFAULT_COMMITMENTS]
    if await ServiceCommitment.filter(code__in=codes).count() == len(codes):
        return
    for position, c in enumerate(DEFAULT_COMMITMENTS):
        try:
            async with in_transaction():
                await ServiceCommitment.get_or_create(
                    code=c.code,
                    defaults={
                        "rule": c.rule,
                        "title": c.title,
                        "description": c.description,
                        "working_days": c.working_days,
                        "minutes": c.minutes,
                        "max_amount": c.max_amount,
                        "goodwill_points": c.goodwill_points,
                        "enabled": c.enabled,
                        "position": position,
                    },
                )
        except IntegrityError:  # written at the same time by another worker
            continue


async def active_commitments(subject_type: str | None = None) -> list[ServiceCommitment]:
    """The enabled promises that have an evaluator (of ``subject_type``, if given)."""
    await ensure_defaults()
    rows = await ServiceCommitment.filter(enabled=True).order_by("position", "code")
    return [
        c
        for c in rows
        if c.rule in EVALUATORS
        and (subject_type is None or EVALUATORS[c.rule].subject_type == subject_type)
    ]


async def record(
    commitment: ServiceCommitment,
    subject_type: str,
    subject_id: uuid.UUID,
    verdict: Verdict,
    now: datetime,
) -> CommitmentCase:
    """Write the verdict on the case (created once: the unique promise and subject)."""
    await CommitmentCase.bulk_create(
        [
            CommitmentCase(
                id=uuid.uuid4(),
                commitment_id=commitment.id,
                subject_type=subject_type,
                subject_id=subject_id,
                customer_id=verdict.customer_id,
                handler_id=verdict.handler_id,
                started_at=verdict.started_at,
                deadline=verdict.deadline,
                title=commitment.title,
                working_days=commitment.working_days,
                minutes=commitment.minutes,
                goodwill_points=commitment.goodwill_points,
            )
        ],
        ignore_conflicts=True,
    )
    case = await CommitmentCase.get(commitment_id=commitment.id, subject_id=subject_id)
    pending = CommitmentCase.filter(id=case.id, status=P.PENDING)
    # While pending the deadline follows the subject (a complaint classified again, a
    # day the staff changed in the calendar); once settled it stays as it was judged.
    updates: dict[str, Any] = {"handler_id": verdict.handler_id, "deadline": verdict.deadline}
    if verdict.met_at is not None:
        kept = verdict.met_at <= verdict.deadline
        updates |= {"status": P.KEPT if kept else P.BROKEN, "met_at": verdict.met_at}
    elif verdict.waived:
        updates["status"] = P.WAIVED
    if "status" in updates:
        updates["settled_at"] = now
    if await pending.update(version=F("version") + 1, **updates):
        await case.refresh_from_db()
    elif verdict.met_at is not None and case.met_at is None and case.status is P.BROKEN:
        # Done after it was swept as broken: still broken, and now we know when.
        await CommitmentCase.filter(id=case.id, met_at=None).update(met_at=verdict.met_at)
        await case.refresh_from_db()
    return case


async def evaluate_subject(
    subject_type: str,
    subject_id: uuid.UUID,
    ctx: Context | None = None,
    now: datetime | None = None,
) -> list[CommitmentCase]:
    """Evaluate every promise that measures this subject; the cases it has."""
    ctx = ctx or Context()
    now = now or datetime.now(UTC)
    opened = {
        case.commitment_id: case
        for case in await CommitmentCase.filter(
            subject_id=subject_id, subject_type=subject_type
        ).select_related("commitment")
    }
    promises = {c.id: c for c in await active_commitments(subject_type)}
    for row in opened.values():  # opened while promised: measured to its end
        if row.commitment.rule in EVALUATORS:
            promises.setdefault(row.commitment_id, row.commitment)
    cases = []
    for commitment in sorted(promises.values(), key=lambda c: (c.position, c.code)):
        found = opened.get(commitment.id)
        terms = as_opened(commitment, found) if found is not None else commitment
        verdict = await EVALUATORS[commitment.rule].evaluate(terms, subject_id, ctx)
        if verdict is not None:
            cases.append(await record(commitment, subject_type, subject_id, verdict, now))
    return cases


def as_opened(commitment: ServiceCommitment, case: CommitmentCase) -> ServiceCommitment:
    """The promise with the terms this case was opened with (a staff edit since then
    applies to new cases only)."""
    terms = copy.copy(commitment)
    terms.working_days, terms.minutes = case.working_days, case.minutes
    terms.goodwill_points = case.goodwill_points
    terms.title = case.title or commitment.title
    return terms


async def evaluate_events(
    ctx: Context | None = None, limit: int = BATCH, now: datetime | None = None
) -> int:
    """Evaluate the subjects of the outbox events not read yet; how many events."""
    now = now or datetime.now(UTC)
    seen = CommitmentEventSeen.all().values("outbox_event_id")
    events = (
        await OutboxEvent.filter(
            entity_type__in=sorted(subject_types()), created_at__gte=now - LOOKBACK
        )
        .filter(~Q(id__in=Subquery(seen)))
        .order_by("id")
        .limit(limit)
    )
    for event in events:
        try:
            subject_id = uuid.UUID(event.entity_id)
        except ValueError:
            subject_id = None  # not an entity of ours (a feed, a queue)
        if subject_id is not None:
            await evaluate_subject(event.entity_type, subject_id, ctx, now)
        await CommitmentEventSeen.bulk_create(
            [CommitmentEventSeen(id=uuid.uuid4(), outbox_event_id=event.id)],
            ignore_conflicts=True,
        )
    return len(events)


async def remedy(case: CommitmentCase, commitment: ServiceCommitment) -> None:
    """Goodwill points and a call back for a broken promise, each once."""
    commitment = as_opened(commitment, case)
    reason = f"{GOODWILL_REASON}：{commitment.title}"
    if commitment.goodwill_points > 0:
        await award_points(
            case.customer_id,
            commitment.goodwill_points,
            f"commitment:{case.id}",
            reason,
            kind=PointsKind.GOODWILL,
        )
    if commitment.recovery:
        await surveys.open_recovery(
            case.customer_id,
            RECOVERY_SOURCE,
            case.id,
            f"commitment:{case.subject_type}:{case.subject_id}",
            f"未兑现服务承诺：{commitment.title}"[:255],
        )
    await emit_once(
        "commitment.broken",
        dedupe_key=f"commitment.broken:{case.id}",
        entity_type="commitment_case",
        entity_id=case.id,
        customer_id=case.customer_id,
        payload={
            **await _about(case),
            "title": commitment.title,
            "gift": f"已向您赠送{commitment.goodwill_points}积分表示歉意，"
            if commitment.goodwill_points > 0
            else "",
        },
    )
    await CommitmentCase.filter(id=case.id, remedied_at=None).update(remedied_at=datetime.now(UTC))


async def _about(case: CommitmentCase) -> dict[str, str]:
    """What the notice names and where its tap leads (display values only)."""
    if case.subject_type == "claim":
        number = await Claim.filter(id=case.subject_id).values_list("report_number", flat=True)
        gid = global_id("Claim", case.subject_id)
        return {
            "subject": f"理赔{number[0] if number else ''}",
            "deep_link": f"anxin://claims/{gid}",
            "page": f"pages/claim/detail?id={gid}",
        }
    if case.subject_type == "complaint":
        number = await Complaint.filter(id=case.subject_id).values_list("number", flat=True)
        gid = global_id("Complaint", case.subject_id)
        return {
            "subject": f"投诉{number[0] if number else ''}",
            "deep_link": f"anxin://complaints/{gid}",
            "page": f"pages/complaint/detail?id={gid}",
        }
    if case.subject_type == "conversation":
        gid = global_id("Conversation", case.subject_id)
        return {
            "subject": "在线咨询",
            "deep_link": f"anxin://conversations/{gid}",
            "page": f"pages/service/chat?id={gid}",
        }
    if case.subject_type == "booking":
        number = await ServiceBooking.filter(id=case.subject_id).values_list("number", flat=True)
        gid = global_id("ServiceBooking", case.subject_id)
        return {
            "subject": f"道路救援{number[0] if number else ''}",
            "deep_link": f"anxin://bookings/{gid}",
            "page": f"pages/benefits/booking?id={gid}",
        }
    return {
        "subject": "您的服务",
        "deep_link": "anxin://notifications",
        "page": "pages/notification/list",
    }


async def sweep(ctx: Context | None = None, now: datetime | None = None) -> int:
    """Mark broken the pending cases past their deadline; remedy the broken ones.
    Returns how many were marked broken."""
    now = now or datetime.now(UTC)
    overdue = await CommitmentCase.filter(status=P.PENDING, deadline__lt=now).limit(BATCH)
    broken = 0
    for case in overdue:
        await evaluate_subject(case.subject_type, case.subject_id, ctx, now)
        broken += await CommitmentCase.filter(id=case.id, status=P.PENDING).update(
            status=P.BROKEN, settled_at=now
        )
    to_remedy = (
        await CommitmentCase.filter(status=P.BROKEN, remedied_at=None)
        .select_related("commitment")
        .limit(BATCH)
    )
    for case in to_remedy:
        await remedy(case, case.commitment)
    return broken


def _context(deps: JobDeps) -> Context:
    return Context(agent_hours=deps.agent_hours)


async def _events_job(deps: JobDeps) -> int:
    return await evaluate_events(_context(deps))


async def _sweep_job(deps: JobDeps) -> int:
    return await sweep(_context(deps))


JOBS = (
    Job("commitment-events", 15.0, _events_job),
    Job("commitment-sweep", 1 * MINUTE, _sweep_job),
)


async def cases_of(subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[CommitmentCase]]:
    """The cases of these subjects (shown on them), in order: a case opened stays shown
    to its end when its promise is switched off later."""
    rows = (
        await CommitmentCase.filter(subject_id__in=subject_ids)
        .select_related("commitment")
        .order_by("started_at", "id")
    )
    found: dict[uuid.UUID, list[CommitmentCase]] = {i: [] for i in subject_ids}
    for row in rows:
        found[row.subject_id].append(row)
    return found
