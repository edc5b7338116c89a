"""The parts of a complaint that put it right and teach from it, as GraphQL nodes:
resolutions with their remedies, the root cause with its corrective action, and the
customer's attachments. Kept apart from ``schema.complaints`` (whose `Complaint` lists
them) so the mutations in ``schema.complaint_remedies`` can return both.

Who sees what: staff who handle complaints see everything; the complaining customer
sees the resolutions carried out (what the answer told them, never a proposal waiting
or turned down) and their attachments, never the root cause (an internal finding)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import complaint_remedies as m
from models.claims import Claim
from models.clock import local_time
from models.complaints import Complaint as ComplaintModel
from models.payments import Payout, Refund
from models.surveys import RecoveryTask as RecoveryTaskModel
from schema.claims.enums import PayoutStatus
from schema.common import Money, cny
from schema.payments import PaymentRefund
from schema.surveys import RecoveryTask
from storage.base import ObjectStorage
from workflows.access import Actor, Permission
from workflows.complaints.remedies import KIND_NAMES
from workflows.complaints.root_causes import CATEGORY_NAMES, today
from workflows.complaints.state import log_staff_read, visible_complaints

strawberry.enum(m.RemedyKind, description="How a complaint is put right.")
strawberry.enum(m.ResolutionStatus, description="Where a proposed resolution stands.")
strawberry.enum(m.RootCauseCategory, description="Why a complaint happened (溯源分类).")


@strawberry.type(description="One remedy of a complaint's resolution.")
class ComplaintRemedy(relay.Node):
    id: relay.NodeID[str]
    kind: m.RemedyKind = strawberry.field(description="Apology, re-review, payment or refund.")
    kind_name: str = strawberry.field(description="The kind, in Chinese.")
    amount: Money | None = strawberry.field(description="Money remedies: the amount.")
    note: str = strawberry.field(
        description="What the customer is told: the apology, the reason for a re-review."
    )
    claim_id: relay.GlobalID | None = strawberry.field(
        description="Re-review: the claim reopened. Goodwill payment: the claim whose "
        "chosen account is paid."
    )
    claim_number: str | None = strawberry.field(description="That claim's report number.")
    carried_out_at: datetime | None = strawberry.field(
        description="When it was carried out (null while the resolution waits)."
    )
    payout_status: PayoutStatus | None = strawberry.field(
        description="Goodwill payment: where its transfer stands (QUEUED until the worker "
        "sends it)."
    )
    paid_to: str | None = strawberry.field(
        description="Goodwill payment: the account it goes to, masked."
    )
    refund: PaymentRefund | None = strawberry.field(
        description="Fee refund: the refund made, with its status."
    )

    @classmethod
    async def build(cls, row: m.ComplaintRemedy) -> ComplaintRemedy:
        claim = (
            await Claim.get(id=row.claim_id).only("id", "report_number") if row.claim_id else None
        )
        payout = await Payout.filter(remedy_id=row.id).order_by("-created_at").first()
        refund = await Refund.get(id=row.refund_id) if row.refund_id else None
        money = row.kind in (m.RemedyKind.GOODWILL_PAYMENT, m.RemedyKind.FEE_REFUND)
        return cls(
            id=str(row.id),
            kind=row.kind,
            kind_name=KIND_NAMES[row.kind],
            amount=cny(row.amount) if money else None,
            note=row.note,
            claim_id=relay.GlobalID("Claim", str(claim.id)) if claim else None,
            claim_number=claim.report_number if claim else None,
            carried_out_at=local_time(row.carried_out_at) if row.carried_out_at else None,
            payout_status=PayoutStatus(payout.status) if payout else None,
            paid_to=payout.payee_masked if payout else None,
            refund=PaymentRefund.from_model(refund) if refund else None,
        )


@strawberry.type(description="A proposed resolution of a complaint: explanation and remedies.")
class ComplaintResolution(relay.Node):
    id: relay.NodeID[str]
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint it resolves.")
    status: m.ResolutionStatus = strawberry.field(description="Waiting, carried out or refused.")
    explanation: str = strawberry.field(description="Why, as the answer tells the customer.")
    total_amount: Money = strawberry.field(description="The money remedies together.")
    proposed_at: datetime = strawberry.field(description="When it was proposed.")
    proposed_by_me: bool = strawberry.field(description="Staff: you proposed it.")
    decided_at: datetime | None = strawberry.field(
        description="When a supervisor approved or refused it (null: within authority)."
    )
    decision_note: str | None = strawberry.field(
        description="Staff: why a supervisor refused it (null for customers)."
    )
    carried_out_at: datetime | None = strawberry.field(description="When it was carried out.")
    remedies: list[ComplaintRemedy] = strawberry.field(description="Its remedies, in order.")

    @classmethod
    async def build(cls, row: m.ComplaintResolution, actor: Actor) -> ComplaintResolution:
        rows = await m.ComplaintRemedy.filter(resolution_id=row.id).order_by("position")
        return cls(
            id=str(row.id),
            complaint_id=relay.GlobalID("Complaint", str(row.complaint_id)),
            status=row.status,
            explanation=row.explanation,
            total_amount=cny(row.total_amount),
            proposed_at=local_time(row.created_at),
            proposed_by_me=actor.is_staff and row.proposed_by == actor.subject_id,
            decided_at=local_time(row.decided_at) if row.decided_at else None,
            decision_note=row.decision_note if actor.is_staff else None,
            carried_out_at=local_time(row.carried_out_at) if row.carried_out_at else None,
            remedies=[await ComplaintRemedy.build(r) for r in rows],
        )


@strawberry.type(description="A complaint's root cause and corrective action (溯源整改).")
class ComplaintRootCause(relay.Node):
    id: relay.NodeID[str]
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    complaint_number: str = strawberry.field(description="Its readable number.")
    category: m.RootCauseCategory = strawberry.field(description="Why it happened.")
    category_name: str = strawberry.field(description="The category, in Chinese.")
    responsible_unit: str = strawberry.field(description="The unit that corrects it.")
    corrective_action: str = strawberry.field(description="What it changes.")
    due_on: date = strawberry.field(description="By when (Asia/Shanghai day).")
    overdue: bool = strawberry.field(description="Not done and past its due day.")
    done_at: datetime | None = strawberry.field(description="When it was marked done.")
    done_note: str = strawberry.field(description="What was done.")

    @classmethod
    def from_model(cls, row: m.ComplaintRootCause, number: str) -> ComplaintRootCause:
        return cls(
            id=str(row.id),
            complaint_id=relay.GlobalID("Complaint", str(row.complaint_id)),
            complaint_number=number,
            category=row.category,
            category_name=CATEGORY_NAMES[row.category],
            responsible_unit=row.responsible_unit,
            corrective_action=row.corrective_action,
            due_on=row.due_on,
            overdue=row.done_at is None and row.due_on < today(),
            done_at=local_time(row.done_at) if row.done_at else None,
            done_note=row.done_note,
        )


@strawberry.type(description="A photo or document filed with a complaint.")
class ComplaintAttachment(relay.Node):
    model: strawberry.Private[m.ComplaintAttachment]
    id: relay.NodeID[str]
    file_name: str = strawberry.field(
        description="The uploaded name with the extension of the stored type (a HEIC "
        "photo is stored as JPEG: `IMG_4032.jpg`)."
    )
    content_type: str = strawberry.field(description="`image/jpeg` or `application/pdf`.")
    size: int = strawberry.field(description="Bytes, as stored.")
    width: int | None = strawberry.field(description="Pixels (images).")
    height: int | None = strawberry.field(description="Pixels (images).")
    uploaded_at: datetime = strawberry.field(description="When it was uploaded.")

    @classmethod
    def from_model(cls, row: m.ComplaintAttachment) -> ComplaintAttachment:
        return cls(
            model=row,
            id=str(row.id),
            file_name=row.file_name,
            content_type=row.content_type,
            size=row.size,
            width=row.width,
            height=row.height,
            uploaded_at=local_time(row.created_at),
        )

    @strawberry.field(description="A short-lived signed link to the file.")
    def url(self, info: Info) -> str:
        storage: ObjectStorage = info.context.services.storage
        ttl: int = info.context.services.settings.signed_url_ttl_seconds
        return storage.signed_url(
            self.model.storage_key, expires_in=ttl, filename=self.model.file_name
        )

    @strawberry.field(description="A short-lived signed link to a thumbnail (images).")
    def thumbnail_url(self, info: Info) -> str | None:
        if not self.model.thumbnail_key:
            return None
        storage: ObjectStorage = info.context.services.storage
        ttl: int = info.context.services.settings.signed_url_ttl_seconds
        return storage.signed_url(self.model.thumbnail_key, expires_in=ttl)


async def resolutions_of(actor: Actor, complaint_id: uuid.UUID) -> list[ComplaintResolution]:
    """Staff: every proposal; the customer: those carried out."""
    rows = m.ComplaintResolution.filter(complaint_id=complaint_id).order_by("created_at")
    if not actor.is_staff:
        rows = rows.filter(status=m.ResolutionStatus.CARRIED_OUT)
    return [await ComplaintResolution.build(row, actor) for row in await rows]


async def root_cause_of(
    actor: Actor, complaint_id: uuid.UUID, number: str
) -> ComplaintRootCause | None:
    """Staff who handle complaints (an internal finding, not the customer's)."""
    if not actor.is_staff or not actor.can(Permission.COMPLAINT_HANDLE):
        return None
    row = await m.ComplaintRootCause.get_or_none(complaint_id=complaint_id)
    return ComplaintRootCause.from_model(row, number) if row else None


async def root_cause_recorded(complaint_id: uuid.UUID) -> bool:
    return await m.ComplaintRootCause.exists(complaint_id=complaint_id)


async def recovery_tasks_of(actor: Actor, complaint_id: uuid.UUID) -> list[RecoveryTask]:
    """Complaint supervisors: the recovery tasks an unhappy survey about it opened."""
    if not actor.is_staff or not actor.can(Permission.COMPLAINT_SUPERVISE):
        return []
    rows = (
        await RecoveryTaskModel.filter(complaint_id=complaint_id)
        .select_related("customer")
        .order_by("created_at")
    )
    return [RecoveryTask.from_model(row) for row in rows]


async def attachments_of(complaint_id: uuid.UUID) -> list[ComplaintAttachment]:
    rows = await m.ComplaintAttachment.filter(complaint_id=complaint_id).order_by("created_at")
    return [ComplaintAttachment.from_model(row) for row in rows]


async def _visible(actor: Actor, complaint_id: uuid.UUID) -> ComplaintModel | None:
    """The complaint, if ``actor`` sees it; a staff read logged as for the complaint."""
    complaint = await visible_complaints(actor).filter(id=complaint_id).first()
    if complaint is not None:
        log_staff_read(actor, complaint)
    return complaint


async def resolution_node(actor: Actor, object_id: uuid.UUID) -> ComplaintResolution | None:
    """As `Complaint.resolutions`."""
    row = await m.ComplaintResolution.get_or_none(id=object_id)
    if row is None or await _visible(actor, row.complaint_id) is None:
        return None
    if not actor.is_staff and row.status is not m.ResolutionStatus.CARRIED_OUT:
        return None
    return await ComplaintResolution.build(row, actor)


async def remedy_node(actor: Actor, object_id: uuid.UUID) -> ComplaintRemedy | None:
    """As its resolution."""
    row = await m.ComplaintRemedy.get_or_none(id=object_id)
    if row is None or await resolution_node(actor, row.resolution_id) is None:
        return None
    return await ComplaintRemedy.build(row)


async def root_cause_node(actor: Actor, object_id: uuid.UUID) -> ComplaintRootCause | None:
    """Staff who handle complaints."""
    row = await m.ComplaintRootCause.get_or_none(id=object_id)
    if row is None or not actor.is_staff:
        return None
    complaint = await _visible(actor, row.complaint_id)
    return ComplaintRootCause.from_model(row, complaint.number) if complaint else None


async def attachment_node(actor: Actor, object_id: uuid.UUID) -> ComplaintAttachment | None:
    """Whoever sees the complaint: its customer, staff who handle complaints."""
    row = await m.ComplaintAttachment.get_or_none(id=object_id)
    if row is None or await _visible(actor, row.complaint_id) is None:
        return None
    return ComplaintAttachment.from_model(row)
