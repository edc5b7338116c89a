"""The privacy machinery's own records for auditors (AUDIT_READ): the retention job's
daily runs with what they deleted, and the PII key rotations with where they got to."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import privacy as m
from schema.common import Connection, CursorArg, PageArg, paginate
from schema.privacy.audit import AUDIT
from workflows.access import Actor, Permission
from workflows.privacy.rotation import TARGETS


@strawberry.type(description="How many records of one kind a retention run deleted.")
class RetentionCount:
    kind: str = strawberry.field(description="The kind, e.g. `OLD_NOTIFICATIONS`.")
    deleted: int = strawberry.field(description="How many were deleted (or expired).")


@strawberry.type(description="One daily run of the retention job and what it deleted.")
class RetentionRun(relay.Node):
    id: relay.NodeID[str]
    day: date = strawberry.field(description="The local day (Asia/Shanghai) it ran for.")
    started_at: datetime = strawberry.field(description="When it started.")
    finished_at: datetime | None = strawberry.field(description="When it finished; null: running.")
    counts: list[RetentionCount] = strawberry.field(description="Deleted per kind.")

    @classmethod
    def from_model(cls, row: m.RetentionRun) -> RetentionRun:
        return cls(
            id=str(row.id),
            day=row.day,
            started_at=row.created_at,
            finished_at=row.finished_at,
            counts=[RetentionCount(kind=k, deleted=v) for k, v in sorted(row.counts.items())],
        )


@strawberry.type(description="A PII key rotation (`anxin rotate-pii-key`) and its progress.")
class PiiKeyRotation(relay.Node):
    id: relay.NodeID[str]
    key: str = strawberry.field(
        description="The key id (`kid` in ANXIN_PII_KEYS) values are rewrapped to."
    )
    column: str | None = strawberry.field(
        description="The sealed column it is at (`table.column`); null when finished."
    )
    columns_done: int = strawberry.field(description="Sealed columns finished so far.")
    columns_total: int = strawberry.field(description="Sealed columns in all.")
    rewrapped: int = strawberry.field(description="Values rewrapped so far.")
    started_at: datetime = strawberry.field(description="When the first run began.")
    updated_at: datetime = strawberry.field(description="Its last progress.")
    finished_at: datetime | None = strawberry.field(description="When it finished; null: not yet.")

    @classmethod
    def from_model(cls, row: m.PiiKeyRotation) -> PiiKeyRotation:
        at = row.target_index if row.finished_at is None else len(TARGETS)
        return cls(
            id=str(row.id),
            key=row.key_id,
            column=TARGETS[at].name if at < len(TARGETS) else None,
            columns_done=at,
            columns_total=len(TARGETS),
            rewrapped=row.rewrapped,
            started_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )


async def retention_run_node(actor: Actor, object_id: uuid.UUID) -> RetentionRun | None:
    if not actor.can(Permission.AUDIT_READ):
        return None
    row = await m.RetentionRun.get_or_none(id=object_id)
    return RetentionRun.from_model(row) if row else None


async def key_rotation_node(actor: Actor, object_id: uuid.UUID) -> PiiKeyRotation | None:
    if not actor.can(Permission.AUDIT_READ):
        return None
    row = await m.PiiKeyRotation.get_or_none(id=object_id)
    return PiiKeyRotation.from_model(row) if row else None


@strawberry.type
class RecordQueries:
    @strawberry.field(
        description="Auditors (AUDIT_READ): the retention job's runs, the newest first.",
        permission_classes=AUDIT,
    )
    async def retention_runs(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[RetentionRun]:
        return await paginate(
            m.RetentionRun.all().order_by("-day", "id"),
            RetentionRun.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Auditors (AUDIT_READ): PII key rotations, the latest first.",
        permission_classes=AUDIT,
    )
    async def pii_key_rotations(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[PiiKeyRotation]:
        return await paginate(
            m.PiiKeyRotation.all().order_by("-created_at", "id"),
            PiiKeyRotation.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )
