"""Signals: opened or brought up to date from the rules' hits, then reviewed by staff
(RISK_REVIEW): started, dismissed with a reason, or confirmed.

The database decides between concurrent evaluations: ``open_key`` (rule + subject) is
unique while a signal is undecided, and (rule, subject, evidence) is unique for ever, so
two workers insert one signal (INSERT … ON CONFLICT DO NOTHING, then read who won), and a
dismissed finding is not raised again by the same evidence — only by new evidence.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from models.risk import RiskRule, RiskRuleKind, RiskSignal, RiskSignalEvent, RiskSignalStatus
from push.outbox import emit
from workflows.access import Actor
from workflows.batches import in_batches
from workflows.numbering import Prefix, next_numbers
from workflows.risk.detectors import Hit
from workflows.risk.rules import DECIDED, MOVES, NOTE_LIMIT, RiskError, RiskErrorCode
from workflows.visits import RetentionCall, plan_retention_calls

log = logging.getLogger("anxin.risk")
S = RiskSignalStatus
E = RiskErrorCode
STAFF_CHANNEL = "staff:risk-reviewers"
BATCH = 500  # findings opened per statement
ANNOUNCED = 20  # numbers named in one announcement


def open_key(rule: RiskRule, subject_key: str) -> str:
    return f"{rule.code}:{subject_key}"[:160]


async def _announce(signal: RiskSignal, event_type: str) -> None:
    """Reviewers are told on the staff channel; no customer is told anything."""
    await emit(
        event_type,
        entity_type="risk_signal",
        entity_id=signal.id,
        customer_id=None,
        payload={
            "channel": STAFF_CHANNEL,
            "number": signal.number,
            "kind": signal.kind.value,
            "severity": signal.severity.value,
            "status": signal.status.value,
            "summary": signal.summary,
        },
    )


async def _line(
    signal_id: uuid.UUID,
    action: str,
    from_status: RiskSignalStatus | None,
    to_status: RiskSignalStatus,
    note: str = "",
    actor_id: uuid.UUID | None = None,
) -> None:
    await RiskSignalEvent.create(
        signal_id=signal_id,
        actor_id=actor_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


async def record(rule: RiskRule, hits: list[Hit], now: datetime | None = None) -> int:
    """Open a signal for each new finding, add new evidence to an undecided one; the
    number of signals opened. A batch of findings costs a fixed number of statements
    plus one per changed undecided signal."""
    now = now or datetime.now(UTC)
    opened = 0
    for batch in in_batches(hits, BATCH):
        keys = [hit.subject_key for hit in batch]
        known = await RiskSignal.filter(rule_id=rule.id, subject_key__in=keys).values_list(
            "id", "subject_key", "evidence_key", "open_key"
        )
        seen = {(subject, evidence) for _, subject, evidence, _ in known}
        undecided = {subject: signal_id for signal_id, subject, _, key in known if key}
        fresh = []
        for hit in batch:
            if (hit.subject_key, hit.evidence_key) in seen:
                continue  # nothing new: open with this evidence, or decided on it
            if hit.subject_key in undecided:
                await _add_evidence(undecided[hit.subject_key], hit, now)
            else:
                fresh.append(hit)
        if fresh:
            opened += await _open(rule, fresh, now)
    return opened


async def _add_evidence(signal_id: uuid.UUID, hit: Hit, now: datetime) -> None:
    async with in_transaction():
        changed = await RiskSignal.filter(id=signal_id, open_key__isnull=False).update(
            evidence=hit.evidence,
            evidence_key=hit.evidence_key,
            summary=hit.summary[:255],
            last_seen_at=now,
        )
        if changed:
            signal = await RiskSignal.get(id=signal_id)
            await _line(signal_id, "evidence_added", signal.status, signal.status, hit.summary)


async def _open(rule: RiskRule, hits: list[Hit], now: datetime) -> int:
    """Insert the signals (ON CONFLICT DO NOTHING), then write what comes with those this
    worker inserted: the timeline, one announcement per batch, retention calls."""
    numbers = await next_numbers(Prefix.RISK_SIGNAL, len(hits), now)
    rows = [
        RiskSignal(
            id=uuid.uuid4(),
            number=number,
            rule_id=rule.id,
            kind=rule.kind,
            severity=rule.severity,
            status=S.NEW,
            subject_kind=hit.subject_kind,
            subject_key=hit.subject_key[:96],
            customer_id=hit.customer_id,
            open_key=open_key(rule, hit.subject_key),
            evidence_key=hit.evidence_key,
            summary=hit.summary[:255],
            evidence=hit.evidence,
            first_seen_at=now,
            last_seen_at=now,
        )
        for number, hit in zip(numbers, hits, strict=True)
    ]
    async with in_transaction():
        await RiskSignal.bulk_create(rows, ignore_conflicts=True)
        won = set(
            await RiskSignal.filter(id__in=[row.id for row in rows]).values_list("id", flat=True)
        )
        if not won:
            return 0  # another worker opened them at the same moment
        mine = [(row, hit) for row, hit in zip(rows, hits, strict=True) if row.id in won]
        await RiskSignalEvent.bulk_create(
            [
                RiskSignalEvent(
                    id=uuid.uuid4(),
                    signal_id=row.id,
                    action="opened",
                    to_status=S.NEW,
                    note=row.summary,
                )
                for row, _ in mine
            ]
        )
        await emit(
            "risk.signals_opened",
            entity_type="risk_rule",
            entity_id=rule.id,
            customer_id=None,
            payload={
                "channel": STAFF_CHANNEL,
                "rule": rule.code,
                "severity": rule.severity.value,
                "count": len(mine),
                "numbers": [row.number for row, _ in mine[:ANNOUNCED]],
            },
        )
        if rule.kind is RiskRuleKind.RETENTION_RISK:
            # A call before the policy lapses, on the visit list (one per finding).
            await plan_retention_calls(
                [
                    RetentionCall(
                        hit.customer_id,
                        hit.policy_id,
                        f"retention:{hit.policy_id}:{hit.evidence_key[:16]}",
                    )
                    for _, hit in mine
                    if hit.customer_id and hit.policy_id
                ]
            )
    log.info("risk rule %s opened %d signals", rule.code, len(mine))
    return len(mine)


# ------------------------------------------------------------------ staff review


def _note(text: str, *, required: bool) -> str:
    text = text.strip()
    if required and not text:
        raise RiskError(E.REASON_REQUIRED, "请说明理由", "note")
    if len(text) > NOTE_LIMIT:
        raise RiskError(E.TOO_LONG, f"说明不能超过{NOTE_LIMIT}字", "note")
    return text


async def move(
    actor: Actor,
    signal_id: uuid.UUID,
    expected_version: int,
    to: RiskSignalStatus,
    note: str = "",
) -> RiskSignal:
    """Start the review of a signal, or decide it (a reason is required to dismiss).
    Stale versions and illegal moves change nothing."""
    text = _note(note, required=to is S.DISMISSED)
    async with in_transaction():
        signal = await RiskSignal.select_for_update().get_or_none(id=signal_id)
        if signal is None:
            raise RiskError(E.NOT_FOUND, "风险信号不存在", "signalId")
        if signal.status in DECIDED:
            raise RiskError(E.ALREADY_DECIDED, "该风险信号已处理", "signalId")
        if signal.version != expected_version:
            raise RiskError(E.CONFLICT, "风险信号已被他人更新，请刷新后重试", "expectedVersion")
        if to not in MOVES[signal.status]:
            raise RiskError(E.CONFLICT, "当前状态不能进行此操作", "signalId")
        changes: dict[str, Any] = {
            "status": to,
            "version": signal.version + 1,
            "reviewer_id": actor.subject_id,
        }
        if to in DECIDED:
            changes |= {"open_key": None, "decided_at": datetime.now(UTC), "decision_note": text}
        await RiskSignal.filter(id=signal.id).update(**changes)
        action = {S.REVIEWING: "review_started", S.DISMISSED: "dismissed", S.CONFIRMED: "confirmed"}
        await _line(signal.id, action[to], signal.status, to, text, actor.subject_id)
        signal = await RiskSignal.get(id=signal.id)
        await _announce(signal, "risk.signal_updated")
    return signal
