"""What each rule finds: set-based reads over claims, documents, installments and recovery
tasks, returning hits (a subject and its evidence), never writing.

Every detector takes a ``Scope``: ``None`` customers means all data (the nightly run);
otherwise only what concerns those customers (the incremental run on outbox events),
which still compares them with everyone else's data (a photo reused from a stranger's
claim, an account shared with another customer). Aggregates are counted in SQL; rows
are read as tuples, never as model objects, so the nightly run over a million claims
costs what the data costs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count

from models.claims import Claim, ClaimDocument, ClaimStatus
from models.clock import local_date
from models.policies import PolicyStatus, PremiumInstallment
from models.risk import RiskRule, RiskRuleKind, RiskSubjectKind
from models.surveys import RecoveryTask
from workflows.batches import in_batches
from workflows.risk.rules import EVIDENCE_LIMIT

K = RiskRuleKind
FINISHED_CLAIMS = (
    ClaimStatus.CLOSED,
    ClaimStatus.WITHDRAWN,
    ClaimStatus.REJECTED,
    ClaimStatus.PAID,
)
SPIKE_DAYS = 7


@dataclass(frozen=True)
class Scope:
    """Whom to look at: ``None`` is everyone."""

    customers: frozenset[uuid.UUID] | None = None

    @property
    def everyone(self) -> bool:
        return self.customers is None


@dataclass
class Hit:
    subject_kind: RiskSubjectKind
    subject_key: str
    summary: str
    customer_id: uuid.UUID | None = None
    policy_id: uuid.UUID | None = None
    evidence: list[dict[str, str]] = field(default_factory=list)
    # Names the evidence: the same subject with the same key is the same finding.
    evidence_key: str = ""

    def seal(self, key_parts: Iterable[str] | None = None) -> Hit:
        parts = sorted(key_parts if key_parts is not None else (e["id"] for e in self.evidence))
        self.evidence_key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
        self.evidence = self.evidence[:EVIDENCE_LIMIT]
        return self


def _claim(claim_id: Any, number: str) -> dict[str, str]:
    return {"type": "Claim", "id": str(claim_id), "label": f"案件{number}"}


def _claims_of(scope: Scope) -> Q:
    return Q() if scope.customers is None else Q(customer_id__in=list(scope.customers))


async def _values(query: Any, *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await query.values_list(*columns)]


async def _claims_by(column: str, keys: Sequence[Any], since: datetime) -> dict[Any, list[tuple]]:
    """The claims since ``since`` whose ``column`` is one of ``keys``, newest first."""
    found: dict[Any, list[tuple]] = defaultdict(list)
    for batch in in_batches(list(keys)):
        rows = await _values(
            Claim.filter(**{f"{column}__in": batch}, created_at__gte=since)
            .exclude(status=ClaimStatus.WITHDRAWN)
            .order_by("-created_at"),
            column,
            "id",
            "report_number",
            "customer_id",
        )
        for key, *rest in rows:
            found[key].append(tuple(rest))
    return found


# ------------------------------------------------------------------ the detectors


async def early_claims(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """A loss within ``threshold`` days of the policy's start (claims of the window)."""
    rows = await _values(
        Claim.filter(
            _claims_of(scope), created_at__gte=now - timedelta(days=rule.window_days)
        ).exclude(status=ClaimStatus.WITHDRAWN),
        "id",
        "report_number",
        "customer_id",
        "policy_id",
        "loss_at",
        "policy__starts_at",
        "policy__number",
    )
    limit = timedelta(days=rule.threshold)
    hits = []
    for claim_id, number, customer_id, policy_id, loss_at, starts_at, policy_number in rows:
        if starts_at <= loss_at < starts_at + limit:
            days = (loss_at - starts_at).days
            hit = Hit(
                RiskSubjectKind.CLAIM,
                str(claim_id),
                f"案件{number}在保单生效后第{days}天出险",
                customer_id,
                policy_id,
                [
                    _claim(claim_id, number),
                    {"type": "Policy", "id": str(policy_id), "label": f"保单{policy_number}"},
                ],
            )
            hits.append(hit.seal([str(claim_id)]))
    return hits


async def frequent_claims(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """``threshold`` or more claims by one customer within the window."""
    since = now - timedelta(days=rule.window_days)
    counted = await (
        Claim.filter(_claims_of(scope), created_at__gte=since)
        .exclude(status=ClaimStatus.WITHDRAWN)
        .annotate(claims=Count("id"))
        .group_by("customer_id")
        .filter(claims__gte=rule.threshold)
        .values_list("customer_id", "claims")
    )
    claims = await _claims_by("customer_id", [c for c, _ in counted], since)
    hits = []
    for customer_id, count in counted:
        rows = claims[customer_id]
        hit = Hit(
            RiskSubjectKind.CUSTOMER,
            str(customer_id),
            f"客户{rule.window_days}天内报案{count}次",
            customer_id,
            evidence=[_claim(claim_id, number) for claim_id, number, _ in rows],
        )
        hits.append(hit.seal([str(claim_id) for claim_id, _, _ in rows]))
    return hits


async def frequent_insured_claims(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """``threshold`` or more claims on one insured person (the same ID number, across
    policies and customers) within the window."""
    since = now - timedelta(days=rule.window_days)
    column = "insured_person__id_number_hash"
    query = Claim.filter(created_at__gte=since, insured_person_id__isnull=False).exclude(
        status=ClaimStatus.WITHDRAWN
    )
    if not scope.everyone:
        people = await _values(Claim.filter(_claims_of(scope), created_at__gte=since), column)
        hashes = [h for (h,) in people if h]
        if not hashes:
            return []
        query = query.filter(**{f"{column}__in": hashes})
    counted = await (
        query.annotate(claims=Count("id"))
        .group_by(column)
        .filter(claims__gte=rule.threshold)
        .values_list(column, "claims")
    )
    claims = await _claims_by(column, [h for h, _ in counted], since)
    hits = []
    for person_hash, count in counted:
        rows = claims[person_hash]
        hit = Hit(
            RiskSubjectKind.INSURED_PERSON,
            f"insured:{person_hash[:32]}",
            f"同一被保险人{rule.window_days}天内出险{count}次",
            rows[0][2] if rows else None,
            evidence=[_claim(claim_id, number) for claim_id, number, _ in rows],
        )
        hits.append(hit.seal([str(claim_id) for claim_id, _, _ in rows]))
    return hits


async def reused_photos(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """One photo (the same file, the same original, or the same 64-bit difference hash)
    on ``threshold`` or more claims within the window. Near-duplicates a few bits apart
    are flagged on the claim at upload (``fraud_signals``); this finds the copies that
    survive as equal hashes, across all claims, without comparing every pair."""
    since = now - timedelta(days=rule.window_days)
    hits: dict[str, Hit] = {}
    for column in ("phash", "original_sha256", "sha256"):
        query = ClaimDocument.filter(created_at__gte=since).exclude(**{column: None})
        if not scope.everyone:
            mine = await _values(
                ClaimDocument.filter(
                    claim__customer_id__in=list(scope.customers or ()), created_at__gte=since
                ),
                column,
            )
            values = [v for (v,) in mine if v]
            if not values:
                continue
            query = query.filter(**{f"{column}__in": values})
        shared = await (
            query.annotate(claims=Count("claim_id", distinct=True))
            .group_by(column)
            .filter(claims__gte=rule.threshold)
            .values_list(column, flat=True)
        )
        for batch in in_batches(list(shared)):
            rows = await _values(
                ClaimDocument.filter(**{f"{column}__in": batch}, created_at__gte=since).order_by(
                    "-created_at"
                ),
                column,
                "claim_id",
                "claim__report_number",
                "claim__customer_id",
                "phash",
            )
            groups: dict[str, list[tuple]] = defaultdict(list)
            for value, *rest in rows:
                groups[value].append(tuple(rest))
            for group in groups.values():
                claims = dict.fromkeys((c, n, cu) for c, n, cu, _ in group)
                photo = group[0][3] or column  # one photo is one subject, whichever hash
                key = f"photo:{photo}"
                found = hits.get(key)
                if found is None:
                    newest = next(iter(claims))
                    found = hits[key] = Hit(RiskSubjectKind.PHOTO, key, "", newest[2], evidence=[])
                known = {e["id"] for e in found.evidence}
                found.evidence += [_claim(c, n) for c, n, _ in claims if str(c) not in known]
    for hit in hits.values():
        hit.summary = f"同一照片出现在{len(hit.evidence)}个案件中"
        hit.seal()
    return list(hits.values())


async def shared_payout_accounts(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """One payout account (by its keyed hash) on claims of ``threshold`` or more
    different customers within the window."""
    since = now - timedelta(days=rule.window_days)
    query = Claim.filter(created_at__gte=since, payout_account_hash__isnull=False)
    if not scope.everyone:
        mine = await _values(
            Claim.filter(
                _claims_of(scope), created_at__gte=since, payout_account_hash__isnull=False
            ),
            "payout_account_hash",
        )
        if not mine:
            return []
        query = query.filter(payout_account_hash__in=[h for (h,) in mine])
    shared = await (
        query.annotate(customers=Count("customer_id", distinct=True))
        .group_by("payout_account_hash")
        .filter(customers__gte=rule.threshold)
        .values_list("payout_account_hash", "customers")
    )
    hits = []
    for batch in in_batches(list(shared)):
        rows = await _values(
            Claim.filter(
                payout_account_hash__in=[h for h, _ in batch], created_at__gte=since
            ).order_by("-created_at"),
            "payout_account_hash",
            "id",
            "report_number",
            "customer_id",
            "payout_account_masked",
        )
        groups: dict[str, list[tuple]] = defaultdict(list)
        for account_hash, *rest in rows:
            groups[account_hash].append(tuple(rest))
        for account_hash, customers in batch:
            claims = groups[account_hash]
            masked = claims[0][3] if claims else ""
            hit = Hit(
                RiskSubjectKind.PAYOUT_ACCOUNT,
                f"account:{account_hash[:32]}",
                f"收款账户{masked}用于{customers}名不同客户的案件",
                claims[0][2] if claims else None,
                evidence=[_claim(c, n) for c, n, _, _ in claims],
            )
            hits.append(hit.seal([str(c) for c, _, _, _ in claims]))
    return hits


async def loss_type_spikes(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """A loss type whose claims of the last 7 days reach ``threshold`` % of its weekly
    average over the ``window_days`` before (and at least ``minimum``). Across all data
    only: one customer's claims do not make a spike."""
    if not scope.everyone:
        return []
    recent_start = now - timedelta(days=SPIKE_DAYS)
    base_start = recent_start - timedelta(days=rule.window_days)

    async def counts(start: datetime, end: datetime) -> dict[str, int]:
        rows = await (
            Claim.filter(created_at__gte=start, created_at__lt=end)
            .annotate(claims=Count("id"))
            .group_by("loss_type")
            .values_list("loss_type", "claims")
        )
        return dict(rows)

    recent, base = await counts(recent_start, now), await counts(base_start, recent_start)
    weeks = max(1.0, rule.window_days / SPIKE_DAYS)
    year, week, _ = local_date(now).isocalendar()
    hits = []
    for loss_type, count in sorted(recent.items()):
        average = base.get(loss_type, 0) / weeks
        if count < rule.minimum or count * 100 < rule.threshold * average:
            continue
        rows = await _values(
            Claim.filter(loss_type=loss_type, created_at__gte=recent_start)
            .order_by("-created_at")
            .limit(EVIDENCE_LIMIT),
            "id",
            "report_number",
        )
        hit = Hit(
            RiskSubjectKind.LOSS_TYPE,
            f"loss:{loss_type}",
            f"{loss_type}类报案近{SPIKE_DAYS}天{count}件，此前每周平均{average:.1f}件",
            evidence=[_claim(c, n) for c, n in rows],
        )
        hits.append(hit.seal([f"{year}-W{week:02d}"]))
    return hits


async def retention_risks(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """A policy in force with an installment unpaid ``threshold`` days past due, or
    ``minimum`` installments paid late within the window: a call before it lapses."""
    today = local_date(now)
    query = PremiumInstallment.filter(
        due_date__gte=today - timedelta(days=rule.window_days),
        due_date__lt=today,
        policy__status=PolicyStatus.ACTIVE,
        endorsement_id__isnull=True,
    )
    if not scope.everyone:
        query = query.filter(policy__holder_id__in=list(scope.customers or ()))
    rows = await _values(
        query,
        "id",
        "policy_id",
        "policy__holder_id",
        "policy__number",
        "sequence",
        "due_date",
        "paid_at",
    )
    late: dict[uuid.UUID, list[tuple]] = defaultdict(list)
    overdue: dict[uuid.UUID, list[tuple]] = defaultdict(list)
    for installment_id, policy_id, holder_id, number, sequence, due, paid_at in rows:
        row = (installment_id, holder_id, number, sequence, due)
        if paid_at is None:
            if (today - due).days > rule.threshold:
                overdue[policy_id].append(row)
        elif local_date(paid_at) > due:
            late[policy_id].append(row)
    hits = []
    for policy_id in sorted(set(overdue) | {p for p, r in late.items() if len(r) >= rule.minimum}):
        items = overdue.get(policy_id, []) + late.get(policy_id, [])
        _, holder_id, number, _, _ = items[0]
        parts = []
        if overdue.get(policy_id):
            parts.append(f"{len(overdue[policy_id])}期保费逾期超过{rule.threshold}天未缴")
        if len(late.get(policy_id, [])) >= rule.minimum:
            parts.append(f"{len(late[policy_id])}期保费逾期后才缴纳")
        hit = Hit(
            RiskSubjectKind.POLICY,
            str(policy_id),
            f"保单{number}：" + "，".join(parts),
            holder_id,
            policy_id,
            [{"type": "Policy", "id": str(policy_id), "label": f"保单{number}"}]
            + [
                {"type": "PremiumInstallment", "id": str(i), "label": f"第{seq}期（{due}应缴）"}
                for i, _, _, seq, due in items
            ],
        )
        hits.append(hit.seal([str(i) for i, *_ in items]))
    return hits


async def unhappy_with_open_claims(rule: RiskRule, scope: Scope, now: datetime) -> list[Hit]:
    """A customer unhappy within the window (a recovery call opened for a low rating or
    survey answer) who still has ``threshold`` or more claims open."""
    query = RecoveryTask.filter(created_at__gte=now - timedelta(days=rule.window_days))
    if not scope.everyone:
        query = query.filter(customer_id__in=list(scope.customers or ()))
    tasks: dict[uuid.UUID, list[tuple]] = defaultdict(list)
    for task_id, customer_id, reason in await _values(query, "id", "customer_id", "reason"):
        tasks[customer_id].append((task_id, reason))
    hits = []
    for batch in in_batches(sorted(tasks)):
        open_claims: dict[uuid.UUID, list[tuple]] = defaultdict(list)
        rows = await _values(
            Claim.filter(customer_id__in=list(batch)).exclude(status__in=FINISHED_CLAIMS),
            "customer_id",
            "id",
            "report_number",
        )
        for customer_id, claim_id, number in rows:
            open_claims[customer_id].append((claim_id, number))
        for customer_id in batch:
            claims = open_claims.get(customer_id, [])
            if len(claims) < max(1, rule.threshold):
                continue
            evidence = [_claim(c, n) for c, n in claims] + [
                {"type": "RecoveryTask", "id": str(t), "label": f"服务补救：{r[:40]}"}
                for t, r in tasks[customer_id]
            ]
            hit = Hit(
                RiskSubjectKind.CUSTOMER,
                str(customer_id),
                f"客户近期表示不满，仍有{len(claims)}个案件未结",
                customer_id,
                evidence=evidence,
            )
            hits.append(hit.seal())
    return hits


Detector = Callable[[RiskRule, Scope, datetime], Awaitable[list[Hit]]]
DETECTORS: dict[RiskRuleKind, Detector] = {
    K.EARLY_CLAIM: early_claims,
    K.FREQUENT_CLAIMS: frequent_claims,
    K.FREQUENT_INSURED_CLAIMS: frequent_insured_claims,
    K.REUSED_PHOTO: reused_photos,
    K.SHARED_PAYOUT_ACCOUNT: shared_payout_accounts,
    K.LOSS_TYPE_SPIKE: loss_type_spikes,
    K.RETENTION_RISK: retention_risks,
    K.UNHAPPY_OPEN_CLAIM: unhappy_with_open_claims,
}
