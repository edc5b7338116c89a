"""The PII access log and the reveal alerts in GraphQL, for auditors (AUDIT_READ): who
read which full personal value through which record, when and why; and the hour
windows in which one staff member read more than allowed. Nobody else sees a row: for
them a log entry or alert answers like a missing object."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import privacy as m
from models.ids import global_id
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import staff_only
from workflows.access import Actor, Permission
from workflows.privacy import audit
from workflows.privacy.rules import PrivacyError

strawberry.enum(m.PiiSubjectKind, description="The record a personal value was read through.")
strawberry.enum(m.PiiField, description="Which personal value was read in full.")
PRIVACY_CODES = ErrorCodes(
    "PrivacyErrorCode", "Why a privacy or data-rights action failed.", PrivacyError
)
AUDIT = staff_only(Permission.AUDIT_READ)
SUBJECT_TYPES = {
    m.PiiSubjectKind.FOLLOW_UP_VISIT: "FollowUpVisit",
    m.PiiSubjectKind.RECOVERY_TASK: "RecoveryTask",
    m.PiiSubjectKind.POLICY_DOCUMENT: "PolicyDocument",
    m.PiiSubjectKind.CUSTOMER: "Customer",
}


@answers_with(PRIVACY_CODES)
@strawberry.type(name="PrivacyError", description="A failed privacy or data-rights action.")
class PrivacyError_(Error):
    code: str = strawberry.field(graphql_type=PRIVACY_CODES.enum, description=CODE)


def _id(type_name: str, value: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(global_id(type_name, value)) if value else None


@strawberry.type(description="One staff read of a full (unmasked) personal value or document.")
class PiiAccessRecord(relay.Node):
    id: relay.NodeID[str]
    staff_id: strawberry.ID = strawberry.field(description="Who read it (`StaffMember` ID).")
    customer_id: strawberry.ID | None = strawberry.field(
        description="Whose value it is (`Customer` global ID)."
    )
    subject_kind: m.PiiSubjectKind = strawberry.field(description="The record it was read through.")
    subject_id: strawberry.ID = strawberry.field(
        description="That record's global ID (e.g. a `FollowUpVisit`)."
    )
    field: m.PiiField = strawberry.field(description="Which value was read.")
    purpose: str = strawberry.field(description="The purpose the staff member stated.")
    accessed_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_model(cls, row: m.PiiAccess) -> PiiAccessRecord:
        return cls(
            id=str(row.id),
            staff_id=strawberry.ID(global_id("StaffMember", row.staff_id)),
            customer_id=_id("Customer", row.customer_id),
            subject_kind=row.subject_kind,
            subject_id=strawberry.ID(global_id(SUBJECT_TYPES[row.subject_kind], row.subject_id)),
            field=row.field,
            purpose=row.purpose,
            accessed_at=row.created_at,
        )


@strawberry.type(
    description="Raised once per staff member and hour window when they read more full "
    "personal values than `ANXIN_PII_REVEAL_ALERT_PER_HOUR` allows."
)
class PiiRevealAlert(relay.Node):
    id: relay.NodeID[str]
    staff_id: strawberry.ID = strawberry.field(description="Who (`StaffMember` global ID).")
    window_start: datetime = strawberry.field(description="The start of the hour window (UTC).")
    reveal_count: int = strawberry.field(description="Reads in the window when it was raised.")
    threshold: int = strawberry.field(description="The limit it exceeded.")
    raised_at: datetime = strawberry.field(description="When it was raised.")
    acknowledged_at: datetime | None = strawberry.field(
        description="When an auditor acknowledged it; null: open."
    )
    acknowledged_by: strawberry.ID | None = strawberry.field(
        description="The auditor who acknowledged it (`StaffMember` global ID)."
    )

    @classmethod
    def from_model(cls, row: m.PiiRevealAlert) -> PiiRevealAlert:
        return cls(
            id=str(row.id),
            staff_id=strawberry.ID(global_id("StaffMember", row.staff_id)),
            window_start=row.window_start,
            reveal_count=row.reveal_count,
            threshold=row.threshold,
            raised_at=row.created_at,
            acknowledged_at=row.acknowledged_at,
            acknowledged_by=_id("StaffMember", row.acknowledged_by),
        )


async def pii_access_node(actor: Actor, object_id: uuid.UUID) -> PiiAccessRecord | None:
    row = await audit.access_log(actor, audit.AccessFilter()).filter(id=object_id).first()
    return PiiAccessRecord.from_model(row) if row else None


async def pii_alert_node(actor: Actor, object_id: uuid.UUID) -> PiiRevealAlert | None:
    row = await audit.reveal_alerts(actor, open_only=False).filter(id=object_id).first()
    return PiiRevealAlert.from_model(row) if row else None


@strawberry.input(description="Narrow the PII access log; all given conditions apply.")
class PiiAccessFilter:
    staff_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only reads by this `StaffMember`."
    )
    customer_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only reads of this `Customer`'s values."
    )
    subject_kind: list[m.PiiSubjectKind] | None = strawberry.field(
        default=None, description="Only reads through these kinds of record (at most 10)."
    )
    field: list[m.PiiField] | None = strawberry.field(
        default=None, description="Only these fields (at most 10)."
    )
    since: datetime | None = strawberry.field(default=None, description="From this time on.")
    until: datetime | None = strawberry.field(default=None, description="Before this time.")


def _uuid_or_none(value: relay.GlobalID | None, type_name: str) -> uuid.UUID | None:
    return None if value is None else node_uuid(value, type_name)


@strawberry.input(description="The reveal alert an auditor has looked into.")
class AcknowledgePiiRevealAlertInput:
    alert_id: relay.GlobalID = strawberry.field(description="The `PiiRevealAlert`'s `id`.")


@strawberry.type(description="The alert after acknowledging it.")
class AcknowledgePiiRevealAlertPayload:
    alert: PiiRevealAlert | None = strawberry.field(description="As saved; null when refused.")
    errors: list[PrivacyError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Auditors (AUDIT_READ): every staff read of a full personal value or "
        "document, the newest first, with who, whose, through what, when and why.",
        permission_classes=AUDIT,
    )
    async def pii_access_log(
        self,
        info: Info,
        filter: Annotated[
            PiiAccessFilter | None, strawberry.argument(description="Narrow the log.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[PiiAccessRecord]:
        f = filter or PiiAccessFilter()
        rows = audit.access_log(
            info.context.actor,
            audit.AccessFilter(
                staff_id=_uuid_or_none(f.staff_id, "StaffMember"),
                customer_id=_uuid_or_none(f.customer_id, "Customer"),
                subject_kinds=tuple(f.subject_kind or ())[:10],
                fields=tuple(f.field or ())[:10],
                since=f.since,
                until=f.until,
            ),
        )
        return await paginate(
            rows, PiiAccessRecord.from_model, first=first, after=after, last=last, before=before
        )

    @strawberry.field(
        description="Auditors (AUDIT_READ): hour windows in which one staff member read "
        "more full personal values than allowed, the newest first.",
        permission_classes=AUDIT,
    )
    async def pii_reveal_alerts(
        self,
        info: Info,
        open_only: Annotated[
            bool, strawberry.argument(description="Only alerts not yet acknowledged.")
        ] = False,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[PiiRevealAlert]:
        rows = audit.reveal_alerts(info.context.actor, open_only=open_only)
        return await paginate(
            rows, PiiRevealAlert.from_model, first=first, after=after, last=None, before=None
        )


@strawberry.type
class AuditMutations:
    @strawberry.mutation(
        description="Auditors (AUDIT_READ): mark a reveal alert as looked into.",
        permission_classes=AUDIT,
    )
    async def acknowledge_pii_reveal_alert(
        self,
        info: Info,
        input: Annotated[
            AcknowledgePiiRevealAlertInput,
            strawberry.argument(description="The reveal alert to mark as looked into."),
        ],
    ) -> AcknowledgePiiRevealAlertPayload:
        alert_id = node_uuid(input.alert_id, "PiiRevealAlert")
        try:
            row = await audit.acknowledge_alert(info.context.actor, alert_id)
        except PrivacyError as error:
            return AcknowledgePiiRevealAlertPayload(
                alert=None, errors=payload_errors(error, PrivacyError_)
            )
        return AcknowledgePiiRevealAlertPayload(alert=PiiRevealAlert.from_model(row), errors=[])
