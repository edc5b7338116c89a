"""When the rules run: incrementally on outbox events (the customers a claim, payment,
policy or survey event concerns, every 30 seconds) and over all data once a night; and
the staff edits of a rule.

Incremental: the events not yet evaluated (``RiskEventSeen``) within a lookback give a
set of customers; each rule runs scoped to them. Evaluated, then marked: a worker that
stops in between leaves the events to be evaluated again, which opens nothing twice
(signals are keyed in the database). Nightly: the first worker to insert the local day's
``RiskSweep`` row runs every rule over everything; the others find the row and skip.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.notifications import OutboxEvent
from models.risk import RiskEventSeen, RiskRule, RiskSeverity, RiskSweep
from workflows.access import Actor
from workflows.jobs import HOUR, Job, JobDeps
from workflows.risk import signals
from workflows.risk.detectors import DETECTORS, Scope
from workflows.risk.rules import DEFAULT_RULES, MAX_THRESHOLD, MAX_WINDOW_DAYS, RiskError
from workflows.risk.rules import RiskErrorCode as E

log = logging.getLogger("anxin.risk")
WATCHED_PREFIXES = ("claim.", "payment.", "policy.", "survey.", "rating.", "recovery.")
LOOKBACK = timedelta(days=2)  # older events were evaluated, or the nightly run covers them
BATCH = 500


async def ensure_default_rules() -> None:
    """The default rules, written once; staff edit them afterwards."""
    codes = [rule.code for rule in DEFAULT_RULES]
    if await RiskRule.filter(code__in=codes).count() == len(codes):
        return
    for rule in DEFAULT_RULES:
        try:
            async with in_transaction():
                await RiskRule.get_or_create(
                    code=rule.code,
                    defaults={
                        "name": rule.name,
                        "kind": rule.kind,
                        "severity": rule.severity,
                        "threshold": rule.threshold,
                        "minimum": rule.minimum,
                        "window_days": rule.window_days,
                    },
                )
        except IntegrityError:  # written by another worker at the same moment
            continue


async def active_rules() -> list[RiskRule]:
    await ensure_default_rules()
    return list(await RiskRule.filter(enabled=True).order_by("code"))


async def run_rules(scope: Scope, now: datetime | None = None) -> int:
    """Every enabled rule over ``scope``; the number of signals opened."""
    now = now or datetime.now(UTC)
    opened = 0
    for rule in await active_rules():
        hits = await DETECTORS[rule.kind](rule, scope, now)
        opened += await signals.record(rule, hits, now)
    return opened


async def evaluate_events(limit: int = BATCH, now: datetime | None = None) -> int:
    """The rules over the customers of events not yet evaluated; the events evaluated."""
    now = now or datetime.now(UTC)
    seen = RiskEventSeen.all().values("outbox_event_id")
    watched = Q()
    for prefix in WATCHED_PREFIXES:
        watched |= Q(event_type__startswith=prefix)
    events = await (
        OutboxEvent.filter(watched, created_at__gte=now - LOOKBACK, customer_id__isnull=False)
        .filter(~Q(id__in=Subquery(seen)))
        .order_by("id")
        .limit(limit)
        .values_list("id", "customer_id")
    )
    if not events:
        return 0
    customers = frozenset(uuid.UUID(str(customer)) for _, customer in events)
    await run_rules(Scope(customers), now)
    await RiskEventSeen.bulk_create(
        [RiskEventSeen(id=uuid.uuid4(), outbox_event_id=event_id) for event_id, _ in events],
        ignore_conflicts=True,
    )
    return len(events)


async def nightly(now: datetime | None = None) -> RiskSweep | None:
    """Every rule over all data, once per local day (from 02:00 Asia/Shanghai); None if
    this day's run was taken by another worker or it is too early."""
    now = now or datetime.now(UTC)
    day = local_date(now - timedelta(hours=2))
    sweep_id = uuid.uuid4()
    await RiskSweep.bulk_create([RiskSweep(id=sweep_id, day=day)], ignore_conflicts=True)
    sweep = await RiskSweep.get_or_none(id=sweep_id)
    if sweep is None:
        return None
    started = time.perf_counter()
    opened = await run_rules(Scope(), now)
    seconds = time.perf_counter() - started
    await RiskSweep.filter(id=sweep_id).update(
        finished_at=datetime.now(UTC), signals_opened=opened, seconds=seconds
    )
    log.info("risk nightly run for %s: %d signals opened in %.1f s", day, opened, seconds)
    return await RiskSweep.get(id=sweep_id)


async def edit_rule(
    actor: Actor,
    rule_id: uuid.UUID,
    expected_version: int,
    *,
    enabled: bool,
    severity: RiskSeverity,
    threshold: int,
    minimum: int,
    window_days: int,
) -> RiskRule:
    """Change a rule's settings; the next evaluation uses them."""
    if not 0 <= threshold <= MAX_THRESHOLD or not 1 <= minimum <= MAX_THRESHOLD:
        raise RiskError(E.OUT_OF_RANGE, f"阈值应在0到{MAX_THRESHOLD}之间", "threshold")
    if not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise RiskError(E.OUT_OF_RANGE, f"窗口期应在1到{MAX_WINDOW_DAYS}天之间", "windowDays")
    async with in_transaction():
        rule = await RiskRule.select_for_update().get_or_none(id=rule_id)
        if rule is None:
            raise RiskError(E.NOT_FOUND, "规则不存在", "ruleId")
        if rule.version != expected_version:
            raise RiskError(E.CONFLICT, "规则已被他人修改，请刷新后重试", "expectedVersion")
        await RiskRule.filter(id=rule_id).update(
            enabled=enabled,
            severity=severity,
            threshold=threshold,
            minimum=minimum,
            window_days=window_days,
            version=rule.version + 1,
            updated_by=actor.subject_id,
        )
    return await RiskRule.get(id=rule_id)


async def _events(_deps: JobDeps) -> int:
    return await evaluate_events()


async def _nightly(_deps: JobDeps) -> object:
    return await nightly()


JOBS = (
    Job("risk-events", 30.0, _events),
    Job("risk-nightly", HOUR, _nightly, first_after=60.0),
)
