"""Complaints in GraphQL: filing (customers) and recording (staff), the customer's own
list and actions (accept, ask for review, withdraw, give information), and the staff
queue with its actions. One `Complaint` node for both: staff also see the internal
timeline lines; every staff read by someone neither its handler nor a supervisor is
logged to ``anxin.security``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.types import Info
from tortoise.expressions import Subquery

from models import complaints as m
from models.clock import local_time
from push.bus import current_then_changes
from schema import complaint_parts as parts
from schema.commitments import CommitmentCase, cases_on
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import (
    CODE,
    Error,
    ErrorCodes,
    UserInputError,
    answers_with,
    payload_errors,
)
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from workflows.access import Actor, Permission
from workflows.complaints import attachments, handling, intake, root_causes
from workflows.complaints.rules import (
    CLASS_NAMES,
    OPEN,
    STATUS_NAMES,
    ComplaintAction,
    ComplaintError,
)
from workflows.complaints.state import load_complaint, log_staff_read, visible_complaints

if TYPE_CHECKING:
    from schema.crisis import ComplaintIncident

strawberry.enum(m.ComplaintChannel, description="Where a complaint came in.")
strawberry.enum(m.ComplaintClass, description="What a complaint is about (content class).")
strawberry.enum(m.Urgency, description="How urgent a complaint is: 一般, 紧急, 重大.")
strawberry.enum(m.ComplaintStatus, description="Where a complaint stands.")
COMPLAINT_CODES = ErrorCodes("ComplaintErrorCode", "Why a complaint action failed.", ComplaintError)


@answers_with(COMPLAINT_CODES)
@strawberry.type(name="ComplaintError", description="A failed complaint action.")
class ComplaintError_(Error):
    code: str = strawberry.field(graphql_type=COMPLAINT_CODES.enum, description=CODE)


@strawberry.type(description="One line of a complaint's timeline.")
class ComplaintTimelineEntry:
    """Written once, shown inside its complaint: no identity of its own."""

    at: datetime = strawberry.field(description="When (Asia/Shanghai).")
    action: str = strawberry.field(description="What was done, e.g. `assign`, `answer`.")
    status: m.ComplaintStatus = strawberry.field(description="The status after it.")
    note: str = strawberry.field(description="What was recorded.")
    by_staff: bool = strawberry.field(description="Done by staff (else the customer or system).")


@strawberry.type(description="A complaint (消费投诉) with its clocks and timeline.")
class Complaint(relay.Node):
    """Customers see their own; staff with COMPLAINT_HANDLE see all, with internal
    lines of the timeline and the proposed classification."""

    id: relay.NodeID[str]
    number: str = strawberry.field(description="The readable number, e.g. `TS20261202000001`.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")
    channel: m.ComplaintChannel = strawberry.field(description="Where it came in.")
    content_class: m.ComplaintClass = strawberry.field(description="What it is about.")
    content_class_name: str = strawberry.field(description="The class, in Chinese.")
    urgency: m.Urgency = strawberry.field(description="How urgent it is.")
    status: m.ComplaintStatus = strawberry.field(description="Where it stands.")
    status_name: str = strawberry.field(description="The status, in Chinese.")
    text: str = strawberry.field(description="The complaint, in the customer's words.")
    received_at: datetime = strawberry.field(description="When it was received.")
    first_response_due_at: datetime = strawberry.field(description="First response due by.")
    first_responded_at: datetime | None = strawberry.field(description="First response made.")
    answer_due_at: datetime = strawberry.field(description="The answer is due by (15/30/60 days).")
    extensions: int = strawberry.field(description="Extensions of the answer clock (0–2).")
    overdue: bool = strawberry.field(description="Not answered and past its answer clock.")
    answer: str | None = strawberry.field(
        description="The answer, with how to ask for a review and the outside routes."
    )
    answered_at: datetime | None = strawberry.field(description="When it was answered.")
    identified: bool = strawberry.field(description="Whether the customer is known.")
    handled_by_me: bool = strawberry.field(description="Staff: you are its handler.")
    has_handler: bool = strawberry.field(description="Someone handles it.")
    proposed_class: m.ComplaintClass | None = strawberry.field(
        description="Staff: the system's proposed class (null for customers)."
    )
    proposed_urgency: m.Urgency | None = strawberry.field(
        description="Staff: the system's proposed urgency (null for customers)."
    )
    classification_confirmed: bool = strawberry.field(
        description="Staff confirmed or corrected the proposal."
    )
    timeline: list[ComplaintTimelineEntry] = strawberry.field(
        description="What happened, oldest first (customers: without internal lines)."
    )
    incident_id: strawberry.Private[uuid.UUID | None] = None

    @strawberry.field(
        description="Staff: the crisis incident it is part of, with the approved customer "
        "statement to answer it consistently; null when none (and for customers)."
    )
    async def incident(
        self, info: Info
    ) -> Annotated[ComplaintIncident, strawberry.lazy("schema.crisis")] | None:
        from schema.crisis import complaint_incident  # the crisis schema imports this one

        return await complaint_incident(info.context.actor, self.incident_id)

    @strawberry.field(
        description="The service promise on this complaint (承诺按时首次联系) and whether it "
        "was kept."
    )
    async def commitments(self, info: Info) -> list[CommitmentCase]:
        return await cases_on(info, self.id)

    @strawberry.field(description="Staff: closed (by the sweep) without a root cause; record one.")
    async def root_cause_missing(self, info: Info) -> bool:
        if not info.context.actor.is_staff or self.status is not m.ComplaintStatus.CLOSED:
            return False
        return not await parts.root_cause_recorded(uuid.UUID(self.id))

    @strawberry.field(
        description="How it is put right: staff see every proposal, the customer those carried out."
    )
    async def resolutions(self, info: Info) -> list[parts.ComplaintResolution]:
        return await parts.resolutions_of(info.context.actor, uuid.UUID(self.id))

    @strawberry.field(description="Staff: its root cause and corrective action (null: none yet).")
    async def root_cause(self, info: Info) -> parts.ComplaintRootCause | None:
        return await parts.root_cause_of(info.context.actor, uuid.UUID(self.id), self.number)

    @strawberry.field(description="The photos and documents filed with it.")
    async def attachments(self, info: Info) -> list[parts.ComplaintAttachment]:
        return await parts.attachments_of(uuid.UUID(self.id))

    @strawberry.field(
        description="Complaint supervisors: recovery tasks opened by an unhappy answer to "
        "its satisfaction survey (empty for others)."
    )
    async def recovery_tasks(self, info: Info) -> list[parts.RecoveryTask]:
        return await parts.recovery_tasks_of(info.context.actor, uuid.UUID(self.id))

    @classmethod
    def from_model(
        cls, row: m.Complaint, actor: Actor, events: list[m.ComplaintEvent]
    ) -> Complaint:
        staff = actor.is_staff
        if staff:
            log_staff_read(actor, row)
        now = datetime.now(UTC)
        return cls(
            id=str(row.id),
            number=row.number,
            version=row.version,
            channel=row.channel,
            content_class=row.content_class,
            content_class_name=CLASS_NAMES[row.content_class],
            urgency=row.urgency,
            status=row.status,
            status_name=STATUS_NAMES[row.status],
            text=row.text,
            received_at=local_time(row.received_at),
            first_response_due_at=local_time(row.first_response_due_at),
            first_responded_at=local_time(row.first_responded_at)
            if row.first_responded_at
            else None,
            answer_due_at=local_time(row.answer_due_at),
            extensions=row.extensions,
            overdue=row.status in OPEN and row.answer_due_at < now,
            answer=row.answer,
            answered_at=local_time(row.answered_at) if row.answered_at else None,
            identified=row.customer_id is not None,
            handled_by_me=staff and row.handler_id == actor.subject_id,
            has_handler=row.handler_id is not None,
            proposed_class=row.proposed_class if staff else None,
            proposed_urgency=row.proposed_urgency if staff else None,
            classification_confirmed=row.classification_confirmed,
            incident_id=row.incident_id,
            timeline=[
                ComplaintTimelineEntry(
                    at=local_time(e.created_at),
                    action=e.action,
                    status=e.to_status,
                    note=e.note,
                    by_staff=e.actor_kind == "staff",
                )
                for e in sorted(events, key=lambda e: e.created_at)
                if staff or not e.internal
            ],
        )


async def _node(actor: Actor, row: m.Complaint) -> Complaint:
    events = await m.ComplaintEvent.filter(complaint_id=row.id)
    return Complaint.from_model(row, actor, events)


async def complaint_view(actor: Actor, row: m.Complaint) -> Complaint:
    """``row`` as ``actor`` sees it, for other modules' payloads."""
    return await _node(actor, row)


async def complaint_node(actor: Actor, object_id: uuid.UUID) -> Complaint | None:
    """As `myComplaints` / `complaintQueue`: the customer's own, or staff who handle."""
    row = await visible_complaints(actor).filter(id=object_id).first()
    return await _node(actor, row) if row else None


@strawberry.type(description="The complaint after an action.")
class ComplaintPayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    complaint: Complaint | None = strawberry.field(
        default=None, description="The complaint as saved; null when refused."
    )
    errors: list[ComplaintError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A complaint from the customer.")
class FileComplaintInput:
    channel: m.ComplaintChannel = strawberry.field(description="APP or MINI_PROGRAM.")
    text: str = strawberry.field(description="What happened and what you ask for (≤ 2000 字).")
    policy_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A policy of yours it is about."
    )
    claim_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A claim of yours it is about."
    )
    payment_order_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A payment of yours it is about."
    )
    visit_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A visit of yours (MyVisit) it is about."
    )
    files: list[Upload] | None = strawberry.field(
        default=None,
        description="Up to 9 photos (JPEG, PNG, WebP, HEIC) or PDFs, all kept or none "
        "(GraphQL multipart request; send `apollo-require-preflight`).",
    )


@strawberry.input(description="A complaint received by phone, counter, letter and so on.")
class RecordComplaintInput:
    channel: m.ComplaintChannel = strawberry.field(
        description="PHONE, COUNTER, LETTER, EMAIL, REGULATOR or MEDIA."
    )
    text: str = strawberry.field(description="The complaint as received (≤ 2000 字).")
    phone: str | None = strawberry.field(
        default=None, description="The complainant's phone, to find the customer."
    )
    id_number: str | None = strawberry.field(
        default=None, description="Their ID number, to find the customer."
    )
    policy_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The policy it is about."
    )
    claim_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The claim it is about."
    )
    staff_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The staff member complained about (StaffMember)."
    )


@strawberry.input(description="A complaint at the version you saw.")
class ComplaintVersionInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")


@strawberry.input(description="A complaint, the version you saw, and a text.")
class ComplaintTextInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")
    text: str = strawberry.field(
        description="The note, question, reason or answer (by the mutation)."
    )


@strawberry.input(description="What the customer is asked for about their complaint.")
class RequestComplaintInfoInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")
    text: str = strawberry.field(description="What the customer is asked (≤ 500 字).")
    documents: list[str] = strawberry.field(
        default_factory=list,
        description="Checklist codes of the claim's documents asked for (≤ 20). Refused "
        "with MATERIAL_HELD when the claim already has one of them (or the text names "
        "one): read them with `complaintHeldDocuments` instead.",
    )


@strawberry.input(description="Whom a complaint goes to.")
class AssignComplaintInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")
    handler_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A staff member (StaffMember); null: the least loaded."
    )


@strawberry.input(description="Staff's classification of a complaint.")
class ClassifyComplaintInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")
    content_class: m.ComplaintClass = strawberry.field(description="What it is about.")
    urgency: m.Urgency = strawberry.field(description="How urgent it is.")


@strawberry.input(description="Narrow the complaint queue.")
class ComplaintFilter:
    content_class: list[m.ComplaintClass] | None = strawberry.field(
        default=None, description="Only these classes."
    )
    urgency: list[m.Urgency] | None = strawberry.field(
        default=None, description="Only these urgencies."
    )
    status: list[m.ComplaintStatus] | None = strawberry.field(
        default=None, description="Only these statuses."
    )
    overdue: bool | None = strawberry.field(
        default=None, description="True: past the answer clock; false: not."
    )
    mine: bool = strawberry.field(default=False, description="Only those you handle.")
    team: str | None = strawberry.field(
        default=None,
        description="Only what this team works (StaffMember.team, e.g. 理赔投诉组): those "
        "its members handle, and those without a handler whose class goes to it.",
    )
    root_cause_missing: bool = strawberry.field(
        default=False,
        description="Only those closed (by the sweep) without a root cause, to record one.",
    )


def _optional(value: relay.GlobalID | None, type_name: str) -> uuid.UUID | None:
    return None if value is None else node_uuid(value, type_name)


async def _act(info: Info, call: Any) -> ComplaintPayload:
    try:
        row = await call
    except ComplaintError as error:
        return ComplaintPayload(changed=False, errors=payload_errors(error, ComplaintError_))
    return ComplaintPayload(changed=True, complaint=await _node(info.context.actor, row), errors=[])


def _id(input: Any) -> uuid.UUID:
    return node_uuid(input.complaint_id, "Complaint")


@strawberry.type
class ComplaintQueries:
    @strawberry.field(
        description="My complaints, the newest first.", permission_classes=CUSTOMER_ONLY
    )
    async def my_complaints(self, info: Info) -> list[Complaint]:
        actor = info.context.actor
        rows = await visible_complaints(actor).order_by("-received_at").limit(50)
        return [await _node(actor, row) for row in rows]

    @strawberry.field(
        description="Staff (COMPLAINT_HANDLE): the complaint queue, the earliest due first.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def complaint_queue(
        self,
        info: Info,
        filter: Annotated[
            ComplaintFilter | None, strawberry.argument(description="Narrow the queue.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[Complaint]:
        actor = info.context.actor
        f = filter or ComplaintFilter()
        rows = handling.queue(
            actor,
            content_class=f.content_class,
            urgency=f.urgency,
            status=f.status,
            overdue=f.overdue,
            mine=f.mine,
            team=f.team[:64] if f.team is not None else None,
        )
        if f.root_cause_missing:
            rows = rows.filter(id__in=Subquery(root_causes.missing().values("id")))
        rows = rows.prefetch_related("events")
        return await paginate(
            rows,
            lambda row: Complaint.from_model(row, actor, list(row.events)),
            first=first,
            after=after,
            last=None,
            before=None,
        )


@strawberry.type
class ComplaintMutations:
    @strawberry.mutation(
        description="File a complaint (app or mini-program), optionally about a policy, "
        "claim, payment or visit of yours. Acknowledged at once.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def file_complaint(
        self,
        info: Info,
        input: Annotated[
            FileComplaintInput,
            strawberry.argument(
                description="The complaint: channel, your words, and what of yours it is about."
            ),
        ],
    ) -> ComplaintPayload:
        subjects = intake.Subjects(
            policy_id=_optional(input.policy_id, "Policy"),
            claim_id=_optional(input.claim_id, "Claim"),
            payment_order_id=_optional(input.payment_order_id, "PaymentOrder"),
            visit_id=_optional(input.visit_id, "MyVisit"),
        )
        if not input.files:
            return await _act(
                info,
                intake.file_complaint(
                    info.context.actor,
                    input.channel,
                    input.text,
                    subjects,
                    clocks=info.context.services.complaint_clocks,
                ),
            )
        services = info.context.services
        files = [
            attachments.Attachment(
                file_name=getattr(file, "filename", None) or "file",
                source=file,  # type: ignore[arg-type]  # a Starlette UploadFile
            )
            for file in input.files
        ]
        try:
            return await _act(
                info,
                attachments.file_with_attachments(
                    services.document_intake,
                    services.settings.complaint_attachment_max_files,
                    info.context.actor,
                    input.channel,
                    input.text,
                    subjects,
                    files,
                    clocks=services.complaint_clocks,
                ),
            )
        finally:
            for file in input.files:
                close = getattr(file, "close", None)
                if close is not None:
                    await close()

    @strawberry.mutation(
        description="Staff (COMPLAINT_HANDLE): record a complaint received by phone, at the "
        "counter, by letter or e-mail, from the regulator or the media.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def record_complaint(
        self,
        info: Info,
        input: Annotated[
            RecordComplaintInput,
            strawberry.argument(
                description="The complaint as received, its channel, and how to find the customer."
            ),
        ],
    ) -> ComplaintPayload:
        subjects = intake.Subjects(
            policy_id=_optional(input.policy_id, "Policy"),
            claim_id=_optional(input.claim_id, "Claim"),
            staff_id=_optional(input.staff_id, "StaffMember"),
        )
        return await _act(
            info,
            intake.record_complaint(
                info.context.actor,
                info.context.services.pii,
                input.channel,
                input.text,
                subjects,
                phone=input.phone,
                id_number=input.id_number,
                clocks=info.context.services.complaint_clocks,
            ),
        )

    @strawberry.mutation(
        description="Staff (COMPLAINT_HANDLE; reassigning: COMPLAINT_SUPERVISE): give a "
        "complaint a handler, never one who must recuse (回避).",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def assign_complaint(
        self,
        info: Info,
        input: Annotated[
            AssignComplaintInput,
            strawberry.argument(
                description="The complaint, your version, the handler (none: the least loaded)."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.assign(
                info.context.actor,
                _id(input),
                input.expected_version,
                _optional(input.handler_id, "StaffMember"),
            ),
        )

    @strawberry.mutation(
        description="Staff (COMPLAINT_HANDLE): confirm or correct the proposed class and "
        "urgency (each decision is kept).",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def classify_complaint(
        self,
        info: Info,
        input: Annotated[
            ClassifyComplaintInput,
            strawberry.argument(
                description="The complaint, your version, and the class and urgency you decide."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.classify(
                info.context.actor,
                _id(input),
                input.expected_version,
                input.content_class,
                input.urgency,
                info.context.services.complaint_clocks,
            ),
        )

    @strawberry.mutation(
        description="Staff (handler or supervisor): log a contact with the customer; the "
        "first is the first response.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def log_complaint_contact(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="The complaint, the version you saw and what was said in the contact."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.respond(info.context.actor, _id(input), input.expected_version, input.text),
        )

    @strawberry.mutation(
        description="Staff (handler or supervisor): ask the customer for information "
        "(never for material already held).",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def request_complaint_info(
        self,
        info: Info,
        input: Annotated[
            RequestComplaintInfoInput,
            strawberry.argument(
                description="The complaint, the version you saw and what the customer is asked for."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.request_info(
                info.context.actor,
                _id(input),
                input.expected_version,
                input.text,
                input.documents,
            ),
        )

    @strawberry.mutation(
        description="Staff: extend the answer clock with a reason, the customer told: to 30 "
        "days (handler), then to 60 days (COMPLAINT_SUPERVISE).",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def extend_complaint(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="The complaint, your version and the reason the customer is told."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.extend(info.context.actor, _id(input), input.expected_version, input.text),
        )

    @strawberry.mutation(
        description="Staff: answer the complaint; the review request and the outside routes "
        "(mediation, arbitration, court) are appended. After a review request: a "
        "supervisor who did not handle it.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def answer_complaint(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="The complaint, the version you saw and the answer (routes appended)."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.answer(info.context.actor, _id(input), input.expected_version, input.text),
        )

    @strawberry.mutation(
        description="Staff (COMPLAINT_HANDLE): close an answered or accepted complaint; the "
        "customer gets a satisfaction survey.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def close_complaint(
        self,
        info: Info,
        input: Annotated[
            ComplaintVersionInput,
            strawberry.argument(
                description="The answered or accepted complaint and the version you saw."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info, handling.close(info.context.actor, _id(input), input.expected_version)
        )

    @strawberry.mutation(
        description="Accept the answer to my complaint.", permission_classes=CUSTOMER_ONLY
    )
    async def accept_complaint_answer(
        self,
        info: Info,
        input: Annotated[
            ComplaintVersionInput,
            strawberry.argument(description="Your answered complaint and the version you saw."),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info, handling.accept(info.context.actor, _id(input), input.expected_version)
        )

    @strawberry.mutation(
        description="Ask for a review of the answer (once; a supervisor answers).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_complaint_review(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="Your answered complaint, the version you saw and why you disagree."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.request_review(
                info.context.actor, _id(input), input.expected_version, input.text
            ),
        )

    @strawberry.mutation(
        description="Give the information asked for my complaint.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def provide_complaint_info(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="Your complaint, the version you saw and the information asked for."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.provide_info(
                info.context.actor, _id(input), input.expected_version, input.text
            ),
        )

    @strawberry.mutation(
        description="Withdraw a complaint before it is answered (customers; staff with "
        "COMPLAINT_HANDLE record a withdrawal by phone).",
        permission_classes=[IsAuthenticated],
    )
    async def withdraw_complaint(
        self,
        info: Info,
        input: Annotated[
            ComplaintTextInput,
            strawberry.argument(
                description="The complaint, your version and why it is withdrawn (may be empty)."
            ),
        ],
    ) -> ComplaintPayload:
        return await _act(
            info,
            handling.withdraw(info.context.actor, _id(input), input.expected_version, input.text),
        )


@strawberry.type
class ComplaintSubscriptions:
    @strawberry.subscription(
        description="One complaint live: its current state at once (a client that "
        "reconnects catches up), then again after each change; refused like a missing "
        "complaint if it is not yours (customers) or you do not handle complaints (staff).",
        permission_classes=[IsAuthenticated],
    )
    async def complaint_updated(
        self,
        info: Info,
        complaint_id: Annotated[relay.GlobalID, strawberry.argument(description="The complaint.")],
    ) -> AsyncGenerator[Complaint, None]:
        actor = info.context.actor
        try:
            row = await load_complaint(
                actor, node_uuid(complaint_id, "Complaint"), ComplaintAction.VIEW
            )
        except ComplaintError:
            raise UserInputError("未找到该投诉") from None

        async def current() -> Complaint | None:
            return await complaint_node(actor, row.id)

        async for state in current_then_changes(
            info.context.services.bus, f"complaint:{row.id}", current
        ):
            yield state
