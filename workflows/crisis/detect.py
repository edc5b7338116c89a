"""Identify (识别): the rules that open an incident by themselves, run on every complaint
when it is received or changed (classified), and opening one by hand.

Complaint intake is untouched: the rules read the complaint outbox events
(``complaint.received``, ``complaint.updated``) with the ``crisis_rules`` job, and mark
each evaluated (``CrisisEventSeen``). Evaluating a complaint again is harmless: a
complaint already part of an incident is left alone.

A rule and a key (the product the complaint is about, else its class) have at most one
open incident: the unique ``open_key`` decides between concurrent openers (INSERT … ON
CONFLICT DO NOTHING, then read the winner), and a complaint matching an open incident
is linked to it. A complaint belongs to one incident: rules are tried most severe first
and stop at the first that takes it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from models.claims import Claim
from models.complaints import Complaint, ComplaintChannel, ComplaintStatus, Urgency
from models.crisis import (
    CrisisEventSeen,
    CrisisIncident,
    CrisisRule,
    CrisisRuleKind,
    CrisisSeverity,
    CrisisStatus,
)
from models.notifications import OutboxEvent
from models.payments import PaymentOrder
from models.policies import Policy
from push.outbox import emit
from workflows.access import Actor
from workflows.complaints import state as complaint_state
from workflows.complaints.rules import CLASS_NAMES
from workflows.crisis.rules import (
    DEFAULT_RULES,
    KEYWORD_LENGTH,
    KEYWORD_LIMIT,
    MANAGERS,
    MAX_THRESHOLD,
    MAX_WINDOW_HOURS,
    STAFF_MAY,
    TITLE_LIMIT,
    CrisisActionKind,
    CrisisError,
    CrisisErrorCode,
)
from workflows.crisis.state import add_to_timeline, announce, transition
from workflows.jobs import Job, JobDeps
from workflows.numbering import Prefix, next_number

log = logging.getLogger("anxin.crisis")
E = CrisisErrorCode
WATCHED_EVENTS = ("complaint.received", "complaint.updated")
LOOKBACK = timedelta(days=2)  # events older than this were evaluated or are moot
BATCH = 200
MAX_LINKED = 100  # complaints linked by hand at once
SEVERITY_ORDER = {s: i for i, s in enumerate(CrisisSeverity)}


async def ensure_default_rules() -> None:
    """The default rules, written once (by code); staff edit them afterwards."""
    if await CrisisRule.filter(code__in=[r.code for r in DEFAULT_RULES]).count() == len(
        DEFAULT_RULES
    ):
        return
    for rule in DEFAULT_RULES:
        try:
            async with in_transaction():
                await CrisisRule.get_or_create(
                    code=rule.code,
                    defaults={
                        "name": rule.name,
                        "kind": rule.kind,
                        "severity": rule.severity,
                        "threshold": rule.threshold,
                        "window_hours": rule.window_hours,
                        "keywords": list(rule.keywords),
                    },
                )
        except IntegrityError:  # written concurrently by another worker: fine
            continue


async def active_rules() -> list[CrisisRule]:
    await ensure_default_rules()
    rules = await CrisisRule.filter(enabled=True)
    return sorted(rules, key=lambda r: (-SEVERITY_ORDER[r.severity], r.code))


async def _first(values: list[Any]) -> uuid.UUID | None:
    return cast(uuid.UUID | None, values[0]) if values else None


async def product_of(complaint: Complaint) -> uuid.UUID | None:
    """The product the complaint is about: its policy's, its claim's or its payment's."""
    policy_id = complaint.policy_id
    if policy_id is None and complaint.claim_id is not None:
        policy_id = await _first(
            await Claim.filter(id=complaint.claim_id).values_list("policy_id", flat=True)
        )
    if policy_id is None and complaint.payment_order_id is not None:
        policy_id = await _first(
            await PaymentOrder.filter(id=complaint.payment_order_id).values_list(
                "policy_id", flat=True
            )
        )
    if policy_id is None:
        return None
    return await _first(await Policy.filter(id=policy_id).values_list("product_id", flat=True))


def about_product(product_id: uuid.UUID) -> Q:
    """Complaints about a product: by policy, by a claim on one, by a payment for one."""
    policies = Policy.filter(product_id=product_id).values("id")
    claims = Claim.filter(policy_id__in=Subquery(policies)).values("id")
    orders = PaymentOrder.filter(policy_id__in=Subquery(policies)).values("id")
    return (
        Q(policy_id__in=Subquery(policies))
        | Q(claim_id__in=Subquery(claims))
        | Q(payment_order_id__in=Subquery(orders))
    )


def keyword_hits(text: str, keywords: Iterable[str]) -> list[str]:
    """Keywords found anywhere in the text. Not by jieba's words, as the classifier does:
    it keeps 发微博 and 媒体报道 whole, so 微博 and 媒体 would be missed, and a missed
    media threat costs more than an incident a manager closes as a false alarm."""
    return [k for k in keywords if k in text]


@dataclass(frozen=True)
class Match:
    key: str  # "product:<id>" or "class:<CLASS>"
    complaint_ids: list[uuid.UUID]  # to link (the complaint itself; a spike: its window)
    reason: str


async def _match(
    rule: CrisisRule, complaint: Complaint, product: uuid.UUID | None, now: datetime
) -> Match | None:
    own_key = f"product:{product}" if product else f"class:{complaint.content_class}"
    if rule.kind is CrisisRuleKind.MAJOR_COMPLAINT:
        if complaint.urgency is Urgency.MAJOR:
            return Match(own_key, [complaint.id], f"重大投诉{complaint.number}")
        return None
    if rule.kind is CrisisRuleKind.KEYWORDS:
        hits = keyword_hits(complaint.text, rule.keywords)
        channel = complaint.channel in (ComplaintChannel.MEDIA, ComplaintChannel.REGULATOR)
        if hits or channel:
            why = "、".join(hits) if hits else "媒体或监管渠道"
            return Match(own_key, [complaint.id], f"投诉{complaint.number}涉及：{why}")
        return None
    if rule.kind is CrisisRuleKind.CLASS_SPIKE:
        key, about = f"class:{complaint.content_class}", Q(content_class=complaint.content_class)
        what = f"{CLASS_NAMES[complaint.content_class]}类投诉"
    elif product is not None:  # PRODUCT_SPIKE
        key, about, what = f"product:{product}", about_product(product), "同一产品投诉"
    else:
        return None
    open_incident = await CrisisIncident.get_or_none(open_key=f"{rule.id}:{key}")
    if open_incident is not None:  # joins the open incident whatever the count
        return Match(key, [complaint.id], f"{what}：投诉{complaint.number}")
    start = complaint.received_at - timedelta(hours=rule.window_hours)
    ids = await (
        Complaint.filter(about, received_at__gte=start, received_at__lte=complaint.received_at)
        .filter(incident_id=None)
        .exclude(status=ComplaintStatus.WITHDRAWN)
        .values_list("id", flat=True)
    )
    if len(ids) < rule.threshold:
        return None
    return Match(key, list(ids), f"{rule.window_hours}小时内{what}{len(ids)}件")  # type: ignore[arg-type]


async def _open(
    rule: CrisisRule | None,
    key: str | None,
    title: str,
    by: Actor | None,
    severity: CrisisSeverity,
    now: datetime,
) -> tuple[CrisisIncident, bool]:
    """The open incident of ``rule`` and ``key``, opened now unless one is (the unique
    ``open_key`` decides between concurrent openers); by hand: always a new one."""
    open_key = f"{rule.id}:{key}" if rule is not None else f"manual:{uuid.uuid4()}"
    found = await CrisisIncident.get_or_none(open_key=open_key)
    if found is not None:
        return found, False
    candidate = CrisisIncident(
        id=uuid.uuid4(),
        number=await next_number(Prefix.CRISIS, now),
        title=title[:TITLE_LIMIT],
        status=CrisisStatus.IDENTIFIED,
        rule_id=rule.id if rule else None,
        rule_key=key,
        open_key=open_key,
        opened_by=by.subject_id if by else None,
        opened_at=now,
        severity=severity,
    )
    async with in_transaction():
        await CrisisIncident.bulk_create([candidate], ignore_conflicts=True)
        incident = await CrisisIncident.get(open_key=open_key)
        created = incident.id == candidate.id
        if created:
            note = f"规则“{rule.name}”触发：{title}" if rule else f"人工启动：{title}"
            await add_to_timeline(incident, by, "open", None, note)
            await announce(incident, "crisis.opened", action="open")
    return incident, created


async def link(incident: CrisisIncident, complaint_ids: list[uuid.UUID], note: str) -> int:
    """Link complaints not yet part of an incident; each gets an internal line on its
    own timeline, the incident one line and a version."""
    numbers: list[str] = []
    async with in_transaction():
        # The incident's row first: setting a complaint's incident_id takes a key-share
        # lock on it (the foreign key), which a later FOR UPDATE would wait on (two
        # linkers at once: a deadlock).
        await CrisisIncident.filter(id=incident.id).select_for_update().first()
        for complaint_id in sorted(complaint_ids):
            if await Complaint.filter(id=complaint_id, incident_id=None).update(
                incident_id=incident.id
            ):
                complaint = await Complaint.get(id=complaint_id)
                numbers.append(complaint.number)
                await complaint_state.add_to_timeline(
                    complaint,
                    None,
                    "crisis_link",
                    complaint.status,
                    complaint.status,
                    f"已纳入危机事件{incident.number}，请按事件统一口径答复",
                    internal=True,
                )
        if numbers:
            await transition(
                incident,
                None,
                action="link",
                note=f"{note}；关联投诉：{'、'.join(numbers)}",
                expected_version=None,
            )
    return len(numbers)


async def evaluate(complaint_id: uuid.UUID, now: datetime | None = None) -> CrisisIncident | None:
    """Run the rules on one complaint: the incident it was linked to, if any."""
    now = now or datetime.now(UTC)
    complaint = await Complaint.get_or_none(id=complaint_id)
    if complaint is None or complaint.incident_id is not None:
        return None
    if complaint.status is ComplaintStatus.WITHDRAWN:
        return None
    product = await product_of(complaint)
    for rule in await active_rules():
        match = await _match(rule, complaint, product, now)
        if match is None:
            continue
        incident, _ = await _open(
            rule, match.key, f"{rule.name}：{match.reason}", None, rule.severity, now
        )
        if incident.status is CrisisStatus.CLOSED:  # closed between the read and now
            continue
        await link(incident, match.complaint_ids, match.reason)
        if await Complaint.filter(id=complaint.id, incident_id=incident.id).exists():
            return incident
    return None


async def evaluate_events(limit: int = BATCH, now: datetime | None = None) -> int:
    """Evaluate the complaint events not yet evaluated; returns how many were (two
    workers may evaluate one event at once: the evaluation is safe to repeat)."""
    now = now or datetime.now(UTC)
    seen = CrisisEventSeen.all().values("outbox_event_id")
    events = (
        await OutboxEvent.filter(
            event_type__in=list(WATCHED_EVENTS), created_at__gte=now - LOOKBACK
        )
        .filter(~Q(id__in=Subquery(seen)))
        .order_by("id")
        .limit(limit)
    )
    done = 0
    for event in events:
        # Evaluated, then marked: a worker stopping in between leaves the event to be
        # evaluated again, which finds the complaint linked and does nothing. Not one
        # long transaction: it would hold the day's number counter across the insert
        # that decides between concurrent openers (a deadlock between two workers).
        await evaluate(uuid.UUID(event.entity_id), now)
        await CrisisEventSeen.bulk_create(
            [CrisisEventSeen(id=uuid.uuid4(), outbox_event_id=event.id)], ignore_conflicts=True
        )
        done += 1
    return done


async def _job(_deps: JobDeps) -> int:
    return await evaluate_events()


JOBS = (Job("crisis_rules", 10.0, _job),)


async def open_incident(
    actor: Actor,
    title: str,
    severity: CrisisSeverity,
    complaint_ids: list[uuid.UUID],
    now: datetime | None = None,
) -> CrisisIncident:
    """A manager opens an incident by hand, with the complaints it concerns (if any:
    those already part of another incident stay there)."""
    if not actor.is_staff or not actor.can(STAFF_MAY[CrisisActionKind.OPEN]):
        raise CrisisError(E.NOT_ALLOWED, "没有进行此操作的权限")
    title = clean(title, "title", TITLE_LIMIT)
    if len(complaint_ids) > MAX_LINKED:
        raise CrisisError(E.TEXT_TOO_LONG, f"一次最多关联{MAX_LINKED}件投诉", "complaintIds")
    found = await Complaint.filter(id__in=complaint_ids).count()
    if found != len(set(complaint_ids)):
        raise CrisisError(E.COMPLAINT_NOT_FOUND, "未找到所选投诉", "complaintIds")
    incident, _ = await _open(None, None, title, actor, severity, now or datetime.now(UTC))
    if complaint_ids:
        await link(incident, complaint_ids, "人工关联")
        await incident.refresh_from_db()
    return incident


def clean(text: str, field: str, limit: int) -> str:
    text = text.strip()
    if not text:
        raise CrisisError(E.TEXT_REQUIRED, "请填写内容", field)
    if len(text) > limit:
        raise CrisisError(E.TEXT_TOO_LONG, f"内容不能超过{limit}字", field)
    return text


@dataclass(frozen=True)
class RuleChange:
    """What staff may change on a rule (its kind and code are fixed)."""

    name: str
    severity: CrisisSeverity
    enabled: bool
    threshold: int
    window_hours: int
    keywords: tuple[str, ...]


async def edit_rule(
    actor: Actor, rule_id: uuid.UUID, expected_version: int, change: RuleChange
) -> CrisisRule:
    """Change a rule at the version the manager saw (two at once: one wins)."""
    if not actor.is_staff or not actor.can(STAFF_MAY[CrisisActionKind.EDIT_RULE]):
        raise CrisisError(E.NOT_ALLOWED, "没有进行此操作的权限")
    rule = await CrisisRule.get_or_none(id=rule_id)
    if rule is None:
        raise CrisisError(E.RULE_NOT_FOUND, "未找到该规则", "ruleId")
    name = clean(change.name, "name", 64)
    if not 1 <= change.threshold <= MAX_THRESHOLD:
        raise CrisisError(E.RULE_INVALID, f"阈值应在1到{MAX_THRESHOLD}之间", "threshold")
    if not 1 <= change.window_hours <= MAX_WINDOW_HOURS:
        raise CrisisError(E.RULE_INVALID, f"时间窗应在1到{MAX_WINDOW_HOURS}小时之间", "windowHours")
    keywords = list(dict.fromkeys(k.strip() for k in change.keywords if k.strip()))
    if len(keywords) > KEYWORD_LIMIT or any(len(k) > KEYWORD_LENGTH for k in keywords):
        raise CrisisError(
            E.RULE_INVALID, f"关键词最多{KEYWORD_LIMIT}个，每个不超过{KEYWORD_LENGTH}字", "keywords"
        )
    if rule.kind is CrisisRuleKind.KEYWORDS and not keywords:
        raise CrisisError(E.RULE_INVALID, "关键词规则至少需要一个关键词", "keywords")
    async with in_transaction():
        changed = await CrisisRule.filter(id=rule.id, version=expected_version).update(
            name=name,
            severity=change.severity,
            enabled=change.enabled,
            threshold=change.threshold,
            window_hours=change.window_hours,
            keywords=keywords,
            version=F("version") + 1,
            updated_by=actor.subject_id,
            updated_at=datetime.now(UTC),
        )
        if not changed:
            raise CrisisError(E.CONFLICT, "该规则已被他人更新，请刷新后重试", "expectedVersion")
        await rule.refresh_from_db()
        await emit(
            "crisis.rule_changed",
            entity_type="crisis_rule",
            entity_id=rule.id,
            customer_id=None,
            payload={"rule_code": rule.code, "rule_name": rule.name, "_staff_channels": [MANAGERS]},
        )
    return rule
