"""Complaint remedies and root causes in GraphQL: staff propose a resolution (explanation
and remedies), a complaint supervisor approves or refuses it, handlers record the root
cause and mark its corrective action done; supervisors list open corrective actions and
the top root causes. Each mutation returns every object it changed: the resolution, the
complaint, and a claim put back to review."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import complaint_remedies as rm
from models.clock import SHANGHAI
from schema.claims.types import Claim
from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.complaint_parts import ComplaintResolution, ComplaintRootCause
from schema.complaints import Complaint, ComplaintError_, complaint_view
from schema.errors import payload_errors
from schema.permissions import staff_only
from schema.scalars import Amount
from workflows.access import Permission
from workflows.complaints import remedies, root_causes
from workflows.complaints.rules import ComplaintError

MAX_TOP = 20


@strawberry.input(description="One remedy of a proposed resolution.")
class ComplaintRemedyInput:
    kind: rm.RemedyKind = strawberry.field(description="What is done.")
    note: str = strawberry.field(
        default="",
        description="What the customer is told: the apology (required for APOLOGY), the "
        "reason for a re-review (required for CLAIM_REREVIEW); ≤ 500 字.",
    )
    amount: Amount | None = strawberry.field(
        default=None, description="GOODWILL_PAYMENT and FEE_REFUND: the amount in yuan."
    )
    payment_order_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="FEE_REFUND: the customer's paid order refunded from (default: the "
        "complaint's).",
    )


@strawberry.input(description="A resolution proposed before the answer.")
class ProposeComplaintResolutionInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint (in progress).")
    expected_version: int = strawberry.field(description="The version you saw.")
    explanation: str = strawberry.field(description="Why, for the customer (≤ 2000 字).")
    remedies: list[ComplaintRemedyInput] = strawberry.field(
        description="One to four remedies, at most one of each kind."
    )


@strawberry.input(description="A supervisor's approval of a proposed resolution.")
class ApproveComplaintResolutionInput:
    resolution_id: relay.GlobalID = strawberry.field(description="The waiting resolution.")


@strawberry.input(description="A supervisor's refusal of a proposed resolution.")
class RejectComplaintResolutionInput:
    resolution_id: relay.GlobalID = strawberry.field(description="The waiting resolution.")
    reason: str = strawberry.field(description="Why, for the handler (≤ 500 字).")


@strawberry.type(description="A resolution after a proposal, approval or refusal.")
class ComplaintResolutionPayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    resolution: ComplaintResolution | None = strawberry.field(
        default=None, description="The resolution as saved; null when refused."
    )
    complaint: Complaint | None = strawberry.field(
        default=None, description="The complaint (its version and timeline changed)."
    )
    claims: list[Claim] = strawberry.field(
        default_factory=list, description="Claims put back to review by it."
    )
    errors: list[ComplaintError_] = strawberry.field(description="Empty on success.")


@strawberry.input(description="A complaint's root cause and corrective action.")
class RecordComplaintRootCauseInput:
    complaint_id: relay.GlobalID = strawberry.field(description="The complaint.")
    expected_version: int = strawberry.field(description="The version you saw.")
    category: rm.RootCauseCategory = strawberry.field(description="Why it happened.")
    responsible_unit: str = strawberry.field(description="The unit that corrects it (≤ 64 字).")
    corrective_action: str = strawberry.field(description="What it changes (≤ 2000 字).")
    due_on: date = strawberry.field(description="By when (a day, not before today).")


@strawberry.input(description="A corrective action done.")
class CompleteCorrectiveActionInput:
    root_cause_id: relay.GlobalID = strawberry.field(description="The root cause.")
    note: str = strawberry.field(description="What was done (≤ 500 字).")


@strawberry.type(description="A root cause after it was recorded or its action done.")
class ComplaintRootCausePayload:
    changed: bool = strawberry.field(description="True when the action was saved.")
    root_cause: ComplaintRootCause | None = strawberry.field(
        default=None, description="The root cause as saved; null when refused."
    )
    complaint: Complaint | None = strawberry.field(
        default=None, description="The complaint (its version and timeline changed)."
    )
    errors: list[ComplaintError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="How often one root cause was found in a period.")
class RootCauseFigure:
    category: rm.RootCauseCategory = strawberry.field(description="The cause.")
    name: str = strawberry.field(description="The cause, in Chinese.")
    complaints: int = strawberry.field(description="Complaints received in the period with it.")
    open_actions: int = strawberry.field(description="Of those, corrective actions not done.")


def _remedy(item: ComplaintRemedyInput) -> remedies.RemedyInput:
    order = node_uuid(item.payment_order_id, "PaymentOrder") if item.payment_order_id else None
    return remedies.RemedyInput(item.kind, item.note, item.amount, order)


async def _resolved(info: Info, call: object) -> ComplaintResolutionPayload:
    try:
        done: remedies.Resolved = await call  # type: ignore[misc]
    except ComplaintError as error:
        return ComplaintResolutionPayload(
            changed=False, errors=payload_errors(error, ComplaintError_)
        )
    actor = info.context.actor
    return ComplaintResolutionPayload(
        changed=True,
        resolution=await ComplaintResolution.build(done.resolution, actor),
        complaint=await complaint_view(actor, done.complaint),
        claims=[Claim.from_model(claim) for claim in done.claims],
        errors=[],
    )


async def _root_cause(info: Info, call: object) -> ComplaintRootCausePayload:
    try:
        complaint, cause = await call  # type: ignore[misc]
    except ComplaintError as error:
        return ComplaintRootCausePayload(
            changed=False, errors=payload_errors(error, ComplaintError_)
        )
    return ComplaintRootCausePayload(
        changed=True,
        root_cause=ComplaintRootCause.from_model(cause, complaint.number),
        complaint=await complaint_view(info.context.actor, complaint),
        errors=[],
    )


@strawberry.type
class ComplaintRemedyQueries:
    @strawberry.field(
        description="Complaint supervisors: corrective actions not yet done, the earliest "
        "due first.",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def open_corrective_actions(
        self,
        info: Info,
        overdue: Annotated[
            bool | None,
            strawberry.argument(description="True: only past due; false: only not yet due."),
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[ComplaintRootCause]:
        rows = root_causes.open_actions(overdue=overdue).prefetch_related("complaint")
        return await paginate(
            rows,
            lambda row: ComplaintRootCause.from_model(row, row.complaint.number),
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Complaint supervisors: the most frequent root causes of complaints "
        "received between two days (Asia/Shanghai, both included).",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def top_complaint_root_causes(
        self,
        since: Annotated[date, strawberry.argument(description="The first day.")],
        until: Annotated[date, strawberry.argument(description="The last day.")],
        limit: Annotated[int, strawberry.argument(description="At most 20.")] = 5,
    ) -> list[RootCauseFigure]:
        start = datetime.combine(since, time(), SHANGHAI).astimezone(UTC)
        end = datetime.combine(until + timedelta(days=1), time(), SHANGHAI).astimezone(UTC)
        rows = await root_causes.top_root_causes(start, end, min(max(limit, 0), MAX_TOP))
        return [
            RootCauseFigure(
                category=r.category,
                name=r.name,
                complaints=r.complaints,
                open_actions=r.open_actions,
            )
            for r in rows
        ]


@strawberry.type
class ComplaintRemedyMutations:
    @strawberry.mutation(
        description="Staff (handler or supervisor): propose how the complaint is put right "
        "before answering it. Within authority (money up to the approval limit, no claim "
        "re-review) it is carried out at once; otherwise it waits for a complaint "
        "supervisor other than you, and so does the answer.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def propose_complaint_resolution(
        self,
        info: Info,
        input: Annotated[
            ProposeComplaintResolutionInput,
            strawberry.argument(description="The complaint, your version, explanation, remedies."),
        ],
    ) -> ComplaintResolutionPayload:
        if len(input.remedies) > remedies.MAX_REMEDIES:
            error = ComplaintError(remedies.E.INVALID_REMEDY, "每种补救措施最多一项", "remedies")
            return ComplaintResolutionPayload(
                changed=False, errors=payload_errors(error, ComplaintError_)
            )
        services = info.context.services
        return await _resolved(
            info,
            remedies.propose(
                info.context.actor,
                services.pii,
                node_uuid(input.complaint_id, "Complaint"),
                input.expected_version,
                input.explanation,
                [_remedy(item) for item in input.remedies],
                approval_limit=services.settings.complaint_remedy_approval_limit,
            ),
        )

    @strawberry.mutation(
        description="Complaint supervisors (not the proposer): approve a waiting resolution; "
        "its remedies are carried out once (a claim back to review, a goodwill payment "
        "queued for the payout worker, a refund queued for the refund worker).",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def approve_complaint_resolution(
        self,
        info: Info,
        input: Annotated[
            ApproveComplaintResolutionInput,
            strawberry.argument(description="The waiting resolution."),
        ],
    ) -> ComplaintResolutionPayload:
        return await _resolved(
            info,
            remedies.approve(
                info.context.actor,
                info.context.services.pii,
                node_uuid(input.resolution_id, "ComplaintResolution"),
            ),
        )

    @strawberry.mutation(
        description="Complaint supervisors: refuse a waiting resolution with a reason; the "
        "handler may propose another.",
        permission_classes=staff_only(Permission.COMPLAINT_SUPERVISE),
    )
    async def reject_complaint_resolution(
        self,
        info: Info,
        input: Annotated[
            RejectComplaintResolutionInput,
            strawberry.argument(description="The waiting resolution and why."),
        ],
    ) -> ComplaintResolutionPayload:
        return await _resolved(
            info,
            remedies.reject(
                info.context.actor,
                node_uuid(input.resolution_id, "ComplaintResolution"),
                input.reason,
            ),
        )

    @strawberry.mutation(
        description="Staff (handler or supervisor): record or correct the root cause and "
        "corrective action (required before staff close a complaint).",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def record_complaint_root_cause(
        self,
        info: Info,
        input: Annotated[
            RecordComplaintRootCauseInput,
            strawberry.argument(description="The complaint, your version, cause and action."),
        ],
    ) -> ComplaintRootCausePayload:
        return await _root_cause(
            info,
            root_causes.record(
                info.context.actor,
                node_uuid(input.complaint_id, "Complaint"),
                input.expected_version,
                input.category,
                input.responsible_unit,
                input.corrective_action,
                input.due_on,
            ),
        )

    @strawberry.mutation(
        description="Staff (handler or supervisor): mark a corrective action done, with "
        "what was done.",
        permission_classes=staff_only(Permission.COMPLAINT_HANDLE),
    )
    async def complete_corrective_action(
        self,
        info: Info,
        input: Annotated[
            CompleteCorrectiveActionInput,
            strawberry.argument(description="The root cause and what was done."),
        ],
    ) -> ComplaintRootCausePayload:
        return await _root_cause(
            info,
            root_causes.complete(
                info.context.actor,
                node_uuid(input.root_cause_id, "ComplaintRootCause"),
                input.note,
            ),
        )
