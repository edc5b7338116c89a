"""Risk signals in GraphQL (RISK_REVIEW): the signals the rules opened with their
evidence and timeline, the rules (editable), and the review: start, dismiss with a
reason, confirm. Nobody else sees a signal: for them it answers like a missing object.
Customers are never told of a signal."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import risk as m
from models.ids import global_id
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import staff_only
from workflows.access import Actor, Permission
from workflows.risk import evaluate, signals
from workflows.risk.rules import KIND_NAMES, THRESHOLD_MEANS, RiskError

strawberry.enum(m.RiskRuleKind, description="What a risk rule looks for.")
strawberry.enum(m.RiskSeverity, description="How serious a risk signal is.")
strawberry.enum(m.RiskSubjectKind, description="What a risk signal is about.")
strawberry.enum(
    m.RiskSignalStatus,
    description="A signal's review: new → reviewing → dismissed (with a reason) or confirmed.",
)
RISK_CODES = ErrorCodes("RiskErrorCode", "Why a risk action failed.", RiskError)
REVIEW = staff_only(Permission.RISK_REVIEW)


@answers_with(RISK_CODES)
@strawberry.type(name="RiskError", description="A failed risk action.")
class RiskError_(Error):
    code: str = strawberry.field(graphql_type=RISK_CODES.enum, description=CODE)


@strawberry.type(description="A record behind a risk signal, to open.")
class RiskEvidence:
    type_name: str = strawberry.field(
        description="The object's type, e.g. `Claim`, `Policy`, `PremiumInstallment`."
    )
    object_id: strawberry.ID = strawberry.field(
        description="Its global ID (`node(id:)` answers it within your permissions)."
    )
    label: str = strawberry.field(description="What it is, in Chinese, e.g. `案件BA…`.")


@strawberry.type(description="One line of a signal's timeline.")
class RiskSignalTimelineEntry:
    at: datetime = strawberry.field(description="When.")
    action: str = strawberry.field(
        description="`opened`, `evidence_added`, `review_started`, `dismissed` or `confirmed`."
    )
    from_status: m.RiskSignalStatus | None = strawberry.field(description="The status before.")
    to_status: m.RiskSignalStatus = strawberry.field(description="The status after.")
    note: str = strawberry.field(description="What was found, or the reviewer's reason.")
    staff_id: strawberry.ID | None = strawberry.field(
        description="The staff member (`StaffMember` global ID); null: the rules."
    )


@strawberry.type(
    description="A risk signal (风险信号) a rule opened for review, with its evidence."
)
class RiskSignal(relay.Node):
    id: relay.NodeID[str]
    number: str = strawberry.field(description="The readable number, e.g. `FX20261202000001`.")
    kind: m.RiskRuleKind = strawberry.field(description="What the rule looks for.")
    kind_name: str = strawberry.field(description="The rule's kind, in Chinese.")
    rule_code: str = strawberry.field(description="The rule that opened it.")
    severity: m.RiskSeverity = strawberry.field(description="How serious it is.")
    status: m.RiskSignalStatus = strawberry.field(description="Where its review is.")
    subject_kind: m.RiskSubjectKind = strawberry.field(description="What it is about.")
    summary: str = strawberry.field(description="What was found, in Chinese.")
    customer_id: strawberry.ID | None = strawberry.field(
        description="The customer concerned (`Customer` global ID), if one is."
    )
    evidence: list[RiskEvidence] = strawberry.field(
        description="The records behind it, the newest first (at most 20)."
    )
    first_seen_at: datetime = strawberry.field(description="When it was opened.")
    last_seen_at: datetime = strawberry.field(description="When evidence was last added.")
    reviewer_id: strawberry.ID | None = strawberry.field(
        description="Who reviews or decided it (`StaffMember` global ID)."
    )
    decided_at: datetime | None = strawberry.field(description="When it was decided.")
    decision_note: str | None = strawberry.field(description="The reason or the finding.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to act on it.")
    timeline: list[RiskSignalTimelineEntry] = strawberry.field(
        description="What happened to it, oldest first."
    )


@strawberry.type(description="A rule that opens risk signals (editable by RISK_REVIEW staff).")
class RiskRule(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. `EARLY_CLAIM`.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    kind: m.RiskRuleKind = strawberry.field(description="What it looks for.")
    severity: m.RiskSeverity = strawberry.field(description="The severity of its signals.")
    enabled: bool = strawberry.field(description="Whether it runs.")
    threshold: int = strawberry.field(description="Its threshold; `thresholdMeans` says of what.")
    threshold_means: str = strawberry.field(description="What the threshold counts, in Chinese.")
    minimum: int = strawberry.field(
        description="Spikes: the least count in the last 7 days; retention: late installments."
    )
    window_days: int = strawberry.field(description="How far back it looks, in days.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")

    @classmethod
    def from_model(cls, row: m.RiskRule) -> RiskRule:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            kind=row.kind,
            severity=row.severity,
            enabled=row.enabled,
            threshold=row.threshold,
            threshold_means=THRESHOLD_MEANS[row.kind],
            minimum=row.minimum,
            window_days=row.window_days,
            version=row.version,
        )


def _evidence(items: list[dict[str, str]]) -> list[RiskEvidence]:
    return [
        RiskEvidence(
            type_name=item["type"],
            object_id=strawberry.ID(global_id(item["type"], item["id"])),
            label=item["label"],
        )
        for item in items
    ]


def _staff(staff_id: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(global_id("StaffMember", staff_id)) if staff_id else None


async def signal_views(rows: Sequence[m.RiskSignal]) -> list[RiskSignal]:
    """Signals with their rules and timelines: three statements for a page."""
    ids = [row.id for row in rows]
    lines: dict[uuid.UUID, list[RiskSignalTimelineEntry]] = {i: [] for i in ids}
    for event in await m.RiskSignalEvent.filter(signal_id__in=ids).order_by("created_at"):
        lines[event.signal_id].append(
            RiskSignalTimelineEntry(
                at=event.created_at,
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                note=event.note,
                staff_id=_staff(event.actor_id),
            )
        )
    codes = dict(
        await m.RiskRule.filter(id__in={row.rule_id for row in rows}).values_list("id", "code")
    )
    return [
        RiskSignal(
            id=str(row.id),
            number=row.number,
            kind=row.kind,
            kind_name=KIND_NAMES.get(row.kind, row.kind.value),
            rule_code=codes.get(row.rule_id, ""),
            severity=row.severity,
            status=row.status,
            subject_kind=row.subject_kind,
            summary=row.summary,
            customer_id=(
                strawberry.ID(global_id("Customer", row.customer_id)) if row.customer_id else None
            ),
            evidence=_evidence(row.evidence),
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            reviewer_id=_staff(row.reviewer_id),
            decided_at=row.decided_at,
            decision_note=row.decision_note,
            version=row.version,
            timeline=lines[row.id],
        )
        for row in rows
    ]


async def risk_signal_node(actor: Actor, object_id: uuid.UUID) -> RiskSignal | None:
    if not actor.can(Permission.RISK_REVIEW):
        return None
    row = await m.RiskSignal.get_or_none(id=object_id)
    return (await signal_views([row]))[0] if row else None


async def risk_rule_node(actor: Actor, object_id: uuid.UUID) -> RiskRule | None:
    if not actor.can(Permission.RISK_REVIEW):
        return None
    row = await m.RiskRule.get_or_none(id=object_id)
    return RiskRule.from_model(row) if row else None


@strawberry.input(description="Narrow the list of risk signals.")
class RiskSignalFilter:
    status: list[m.RiskSignalStatus] | None = strawberry.field(
        default=None, description="Only these statuses (default: all)."
    )
    kind: list[m.RiskRuleKind] | None = strawberry.field(
        default=None, description="Only these kinds."
    )
    severity: list[m.RiskSeverity] | None = strawberry.field(
        default=None, description="Only these severities."
    )


@strawberry.input(description="A signal at the version you saw.")
class RiskSignalActionInput:
    signal_id: relay.GlobalID = strawberry.field(description="The signal.")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")
    note: str = strawberry.field(
        default="",
        description="Dismiss: the reason (required); confirm: the finding (≤ 1000 字).",
    )


@strawberry.input(description="A rule's new settings.")
class EditRiskRuleInput:
    rule_id: relay.GlobalID = strawberry.field(description="The rule.")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")
    enabled: bool = strawberry.field(description="Whether it runs.")
    severity: m.RiskSeverity = strawberry.field(description="The severity of its signals.")
    threshold: int = strawberry.field(description="0–10,000; see `thresholdMeans`.")
    minimum: int = strawberry.field(description="1–10,000; spikes and retention only.")
    window_days: int = strawberry.field(description="1–1,095 days.")


@strawberry.type(description="A signal after a review action.")
class RiskSignalPayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    signal: RiskSignal | None = strawberry.field(
        default=None, description="The signal as saved; null when refused."
    )
    errors: list[RiskError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A rule after an edit.")
class RiskRulePayload:
    changed: bool = strawberry.field(description="True when the edit was saved.")
    rule: RiskRule | None = strawberry.field(default=None, description="The rule as saved.")
    errors: list[RiskError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class RiskQueries:
    @strawberry.field(
        description="Staff (RISK_REVIEW): risk signals, the most severe and newest first.",
        permission_classes=REVIEW,
    )
    async def risk_signals(
        self,
        info: Info,
        filter: Annotated[
            RiskSignalFilter | None, strawberry.argument(description="Narrow the list.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[RiskSignal]:
        f = filter or RiskSignalFilter()
        rows = m.RiskSignal.all()
        if f.status:
            rows = rows.filter(status__in=list(f.status))
        if f.kind:
            rows = rows.filter(kind__in=list(f.kind))
        if f.severity:
            rows = rows.filter(severity__in=list(f.severity))
        page = await paginate(
            rows.order_by("-first_seen_at", "id"),
            lambda row: row,
            first=first,
            after=after,
            last=None,
            before=None,
        )
        views = await signal_views([edge.node for edge in page.edges])
        for edge, view in zip(page.edges, views, strict=True):
            edge.node = view
        return page

    @strawberry.field(
        description="Staff (RISK_REVIEW): the rules that open risk signals.",
        permission_classes=REVIEW,
    )
    async def risk_rules(self, info: Info) -> list[RiskRule]:
        await evaluate.ensure_default_rules()
        return [RiskRule.from_model(r) for r in await m.RiskRule.all().order_by("code")]


async def _move(
    info: Info, input: RiskSignalActionInput, to: m.RiskSignalStatus
) -> RiskSignalPayload:
    call: Awaitable[m.RiskSignal] = signals.move(
        info.context.actor,
        node_uuid(input.signal_id, "RiskSignal"),
        input.expected_version,
        to,
        input.note,
    )
    try:
        row = await call
    except RiskError as error:
        return RiskSignalPayload(changed=False, errors=payload_errors(error, RiskError_))
    return RiskSignalPayload(changed=True, signal=(await signal_views([row]))[0], errors=[])


@strawberry.type
class RiskMutations:
    @strawberry.mutation(
        description="Staff (RISK_REVIEW): take a new signal into review.",
        permission_classes=REVIEW,
    )
    async def start_risk_review(
        self,
        info: Info,
        input: Annotated[
            RiskSignalActionInput,
            strawberry.argument(description="The new signal, its version, an optional note."),
        ],
    ) -> RiskSignalPayload:
        return await _move(info, input, m.RiskSignalStatus.REVIEWING)

    @strawberry.mutation(
        description="Staff (RISK_REVIEW): nothing wrong — dismiss the signal with the reason. "
        "The same evidence does not raise it again; new evidence does.",
        permission_classes=REVIEW,
    )
    async def dismiss_risk_signal(
        self,
        info: Info,
        input: Annotated[
            RiskSignalActionInput,
            strawberry.argument(description="The signal, its version and why it is no risk."),
        ],
    ) -> RiskSignalPayload:
        return await _move(info, input, m.RiskSignalStatus.DISMISSED)

    @strawberry.mutation(
        description="Staff (RISK_REVIEW): a real risk — confirm it with the finding.",
        permission_classes=REVIEW,
    )
    async def confirm_risk_signal(
        self,
        info: Info,
        input: Annotated[
            RiskSignalActionInput,
            strawberry.argument(description="The signal, its version and the finding."),
        ],
    ) -> RiskSignalPayload:
        return await _move(info, input, m.RiskSignalStatus.CONFIRMED)

    @strawberry.mutation(
        description="Staff (RISK_REVIEW): change a rule's threshold, window, severity or "
        "switch it off; the next evaluation uses it.",
        permission_classes=REVIEW,
    )
    async def edit_risk_rule(
        self,
        info: Info,
        input: Annotated[
            EditRiskRuleInput,
            strawberry.argument(description="The rule, its version and its new settings."),
        ],
    ) -> RiskRulePayload:
        try:
            row = await evaluate.edit_rule(
                info.context.actor,
                node_uuid(input.rule_id, "RiskRule"),
                input.expected_version,
                enabled=input.enabled,
                severity=input.severity,
                threshold=input.threshold,
                minimum=input.minimum,
                window_days=input.window_days,
            )
        except RiskError as error:
            return RiskRulePayload(changed=False, errors=payload_errors(error, RiskError_))
        return RiskRulePayload(changed=True, rule=RiskRule.from_model(row), errors=[])
