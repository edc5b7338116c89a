"""Claims in GraphQL: reporting a loss, following it, and the staff side of review,
decision, payout and closure. Resolvers only translate; ``workflows.claims`` decides."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload
from strawberry.types import Info

from models import claims as m
from models.clock import local_time
from models.payments import Payout, PayoutStatus
from models.policies import Policy as PolicyModel
from schema.common import INPUT, Connection, CursorArg, Money, PageArg, cny, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, UserInputError, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from schema.policies.types import Policy, RequiredDocument
from schema.scalars import Amount
from workflows import claim_documents
from workflows import claims as flows
from workflows.access import Actor, Permission, visible_claims
from workflows.idempotency import IdempotencyError, once
from workflows.payments.payouts import (
    approve_payout,
    cancel_payout,
    choose_payout_account,
    mask_account,
    start_payout,
)

strawberry.enum(m.ClaimStatus, description="Where a claim is in its life.")
strawberry.enum(m.ReportChannel, description="How a loss was reported.")
strawberry.enum(m.RejectionReason, description="Why a claim was rejected.")
strawberry.enum(flows.ClaimWarning, description="Accepted, but flagged.")

STAFF_READ = staff_only(Permission.CLAIM_READ)
CLAIM_CODES = ErrorCodes(
    "ClaimErrorCode", "Why a claim action failed.", flows.ClaimError, IdempotencyError
)


@answers_with(CLAIM_CODES)
@strawberry.type(description="A failed claim action.")
class ClaimError(Error):
    code: str = strawberry.field(graphql_type=CLAIM_CODES.enum, description=CODE)


@strawberry.type(description="One step of a claim's timeline.")
class ClaimTimelineEntry:
    action: str = strawberry.field(description="What happened, e.g. `submit`, `decide`.")
    actor_kind: str = strawberry.field(description="`customer`, `staff` or `system`.")
    from_status: m.ClaimStatus | None = strawberry.field(description="Status before.")
    to_status: m.ClaimStatus = strawberry.field(description="Status after.")
    note: str = strawberry.field(description="What the customer is told, in Chinese.")
    at: datetime = strawberry.field(description="When (Asia/Shanghai).")


@strawberry.type(description="The decision for one coverage, explained.")
class ClaimDecisionLine:
    coverage_name: str = strawberry.field(description="The coverage (保障责任).")
    claimed_amount: Money = strawberry.field(description="What was claimed.")
    deductible_applied: Money = strawberry.field(description="Deductible taken off.")
    approved_amount: Money = strawberry.field(description="What is paid.")
    reason: str = strawberry.field(description="The rule or reason, in Chinese.")


@strawberry.type(description="A rejection, as the customer sees it.")
class ClaimRejection:
    reason: m.RejectionReason = strawberry.field(description="Reason code.")
    reason_name: str = strawberry.field(description="The reason, in Chinese.")
    explanation: str = strawberry.field(description="The explanation given.")


@strawberry.type(description="What the adjuster asked for, once, with the reason.")
class MoreInfoRequest:
    items: list[str] = strawberry.field(description="Everything still needed.")
    reason: str = strawberry.field(description="Why.")
    requested_at: datetime = strawberry.field(description="When it was asked.")


@strawberry.type(description="A staff-only investigation note.")
class InvestigationNote:
    text: str = strawberry.field(description="The note.")
    author_id: str = strawberry.field(description="The staff member's ID.")
    at: datetime = strawberry.field(description="When it was written.")


@strawberry.type(description="A photo or document of a claim.")
class ClaimDocument:
    checklist_code: str = strawberry.field(description="The checklist item it is for.")
    file_name: str = strawberry.field(description="The name it was uploaded with.")
    content_type: str = strawberry.field(description="`image/jpeg` or `application/pdf`.")
    size: int = strawberry.field(description="Bytes, as stored.")
    width: int | None = strawberry.field(description="Pixels (images).")
    height: int | None = strawberry.field(description="Pixels (images).")
    url: str = strawberry.field(description="A short-lived signed link to the file.")
    thumbnail_url: str | None = strawberry.field(description="A signed link to a thumbnail.")
    uploaded_at: datetime = strawberry.field(description="When it was uploaded.")


strawberry.enum(PayoutStatus, description="Where a claim payout stands.")


@strawberry.type(description="A payout of the claim by provider transfer.")
class ClaimPayout:
    transfer_number: str = strawberry.field(description="Our transfer number.")
    provider: str = strawberry.field(description="`alipay`, `wechat` or `sandbox`.")
    amount: Money = strawberry.field(description="The amount transferred.")
    status: PayoutStatus = strawberry.field(description="Current status.")
    confirm_package: str | None = strawberry.field(
        description="WeChat: pass to the mini-program's receipt confirmation when "
        "WAIT_USER_CONFIRM."
    )
    failure_reason: str | None = strawberry.field(description="Why it failed.")
    payee: str = strawberry.field(description="The receiving account, masked.")
    reason: str = strawberry.field(
        description="Why staff paid another account than the claimant's choice (else empty)."
    )


@strawberry.type(description="A claim (理赔案件), from the report of a loss to closure.")
class Claim(relay.Node):
    model: strawberry.Private[m.Claim]
    id: relay.NodeID[str]
    report_number: str = strawberry.field(description="Report number, e.g. `BA20261129000001`.")
    status: m.ClaimStatus = strawberry.field(description="Current status.")
    status_name: str = strawberry.field(description="The status in Chinese.")
    version: int = strawberry.field(
        description="Changes with every update; staff pass it as `expectedVersion`."
    )
    loss_type: str = strawberry.field(description="Loss type code of the product.")
    loss_at: datetime = strawberry.field(description="When the loss happened.")
    loss_location: str = strawberry.field(description="Where it happened.")
    description: str = strawberry.field(description="What happened.")
    channel: m.ReportChannel = strawberry.field(description="How it was reported.")
    contact_name: str = strawberry.field(description="Whom to call.")
    contact_phone: str = strawberry.field(description="Contact phone, masked.")
    late_report: bool = strawberry.field(description="Reported after the time limit.")
    late_reason: str | None = strawberry.field(description="Why it was reported late.")
    reported_at: datetime = strawberry.field(description="When it was reported.")
    submitted_at: datetime | None = strawberry.field(description="When it was submitted.")
    decided_at: datetime | None = strawberry.field(description="When it was decided.")
    decision_due_at: datetime | None = strawberry.field(
        description="Regulatory clock: 30 days after a complete submission."
    )
    payment_due_at: datetime | None = strawberry.field(
        description="Regulatory clock: 10 days after an approval."
    )
    rejection_notice_due_at: datetime | None = strawberry.field(
        description="Regulatory clock: the rejection notice is due within 3 days (it is "
        "sent with the decision)."
    )
    approved_amount: Money = strawberry.field(description="Total approved.")
    paid_amount: Money = strawberry.field(description="Total paid.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    closed_at: datetime | None = strawberry.field(description="When it was closed.")
    rejection: ClaimRejection | None = strawberry.field(description="Set when rejected.")
    more_info_request: MoreInfoRequest | None = strawberry.field(
        description="Set when the adjuster asked for more."
    )

    @classmethod
    def from_model(cls, claim: m.Claim) -> Claim:
        clocks = flows.clocks(claim)
        rejection = None
        if claim.rejection_reason is not None:
            rejection = ClaimRejection(
                reason=claim.rejection_reason,
                reason_name=flows.REJECTION_NAMES[claim.rejection_reason],
                explanation=claim.rejection_explanation or "",
            )
        more = None
        if claim.more_info_requested_at is not None:
            more = MoreInfoRequest(
                items=list(claim.more_info_items),
                reason=claim.more_info_reason or "",
                requested_at=local_time(claim.more_info_requested_at),
            )

        def at(value: datetime | None) -> datetime | None:
            return local_time(value) if value else None

        return cls(
            model=claim,
            id=str(claim.id),
            report_number=claim.report_number,
            status=claim.status,
            status_name=flows.STATUS_NAMES[claim.status],
            version=claim.version,
            loss_type=claim.loss_type,
            loss_at=local_time(claim.loss_at),
            loss_location=claim.loss_location,
            description=claim.description,
            channel=claim.channel,
            contact_name=claim.contact_name,
            contact_phone=claim.contact_phone_masked,
            late_report=claim.late_report,
            late_reason=claim.late_reason,
            reported_at=local_time(claim.created_at),
            submitted_at=at(claim.submitted_at),
            decided_at=at(claim.decided_at),
            decision_due_at=at(clocks.decision_due_at),
            payment_due_at=at(clocks.payment_due_at),
            rejection_notice_due_at=at(clocks.rejection_notice_due_at),
            approved_amount=cny(claim.approved_amount),
            paid_amount=cny(claim.paid_amount),
            paid_at=at(claim.paid_at),
            closed_at=at(claim.closed_at),
            rejection=rejection,
            more_info_request=more,
        )

    @strawberry.field(description="The policy claimed on.")
    async def policy(self) -> Policy:
        row = await PolicyModel.get(id=self.model.policy_id).select_related("product")
        return Policy.from_model(row)

    @strawberry.field(description="Every step so far, oldest first.")
    async def timeline(self) -> list[ClaimTimelineEntry]:
        events = await m.ClaimEvent.filter(claim_id=self.model.id).order_by("created_at")
        return [
            ClaimTimelineEntry(
                action=e.action,
                actor_kind=e.actor_kind,
                from_status=e.from_status,
                to_status=e.to_status,
                note=e.note,
                at=local_time(e.created_at),
            )
            for e in events
        ]

    @strawberry.field(description="The documents this loss type needs.")
    async def checklist(self) -> list[RequiredDocument]:
        return [RequiredDocument(**d) for d in await flows.claim_checklist(self.model)]

    @strawberry.field(description="Required documents still missing.")
    async def missing_documents(self) -> list[str]:
        if self.model.status not in (m.ClaimStatus.REPORTED, m.ClaimStatus.DOCUMENTS_PENDING):
            return []
        return await flows.missing_documents(self.model, await flows.claim_checklist(self.model))

    @strawberry.field(description="Photos and documents, oldest first; links expire soon.")
    async def documents(self, info: Info) -> list[ClaimDocument]:
        settings = info.context.services.settings
        storage = info.context.services.storage
        ttl = settings.signed_url_ttl_seconds
        rows = await m.ClaimDocument.filter(claim_id=self.model.id).order_by("created_at")
        return [
            ClaimDocument(
                checklist_code=row.checklist_code,
                file_name=row.file_name,
                content_type=row.content_type,
                size=row.size,
                width=row.width,
                height=row.height,
                url=storage.signed_url(row.storage_key, expires_in=ttl, filename=row.file_name),
                thumbnail_url=(
                    storage.signed_url(row.thumbnail_key, expires_in=ttl)
                    if row.thumbnail_key
                    else None
                ),
                uploaded_at=local_time(row.created_at),
            )
            for row in rows
        ]

    @strawberry.field(description="Payouts by transfer, newest first.")
    async def payouts(self) -> list[ClaimPayout]:
        rows = await Payout.filter(claim_id=self.model.id).order_by("-created_at")
        return [
            ClaimPayout(
                transfer_number=p.transfer_number,
                provider=p.provider,
                amount=cny(p.amount),
                status=p.status,
                confirm_package=p.confirm_package,
                failure_reason=p.failure_reason,
                payee=mask_account(p.provider, p.payee_id),
                reason=p.reason,
            )
            for p in rows
        ]

    @strawberry.field(description="The decision, coverage by coverage.")
    async def decision_lines(self) -> list[ClaimDecisionLine]:
        if self.model.pending_approval:
            return []  # a proposal is not a decision until a supervisor approves it
        lines = await m.ClaimLine.filter(claim_id=self.model.id).select_related("coverage")
        return [
            ClaimDecisionLine(
                coverage_name=line.coverage.name,
                claimed_amount=cny(line.claimed_amount),
                deductible_applied=cny(line.deductible_applied),
                approved_amount=cny(line.approved_amount),
                reason=line.reason,
            )
            for line in lines
        ]

    @strawberry.field(
        description="Staff: possible duplicate report.", permission_classes=STAFF_READ
    )
    def possible_duplicate(self) -> bool:
        return self.model.possible_duplicate

    @strawberry.field(
        description="Staff: fraud signal (never shown to the customer).",
        permission_classes=STAFF_READ,
    )
    def fraud_flag(self) -> bool:
        return self.model.fraud_flag

    @strawberry.field(description="Staff: why the claim is flagged.", permission_classes=STAFF_READ)
    def fraud_signals(self) -> list[str]:
        return list(self.model.fraud_signals)

    @strawberry.field(
        description="Staff: the decision waits for a supervisor.", permission_classes=STAFF_READ
    )
    def pending_approval(self) -> bool:
        return self.model.pending_approval

    @strawberry.field(
        description="Staff: regulatory clocks that have run out.", permission_classes=STAFF_READ
    )
    def overdue(self) -> list[str]:
        return flows.clocks(self.model).overdue

    @strawberry.field(description="Staff: the adjuster's ID.", permission_classes=STAFF_READ)
    def assignee_id(self) -> relay.GlobalID | None:
        if self.model.assignee_id is None:
            return None
        return relay.GlobalID("StaffMember", str(self.model.assignee_id))

    @strawberry.field(description="Staff: investigation notes.", permission_classes=STAFF_READ)
    async def investigation_notes(self) -> list[InvestigationNote]:
        notes = await m.InvestigationNote.filter(claim_id=self.model.id).order_by("created_at")
        return [
            InvestigationNote(
                text=n.text,
                author_id=str(relay.GlobalID("StaffMember", str(n.author_id))),
                at=local_time(n.created_at),
            )
            for n in notes
        ]


@strawberry.input(description="Narrow the staff claim queue.")
class ClaimQueueFilter:
    status: list[m.ClaimStatus] | None = strawberry.field(default=None, description="Statuses.")
    product_kind: list[str] | None = strawberry.field(
        default=None, description="Product kinds, e.g. AUTO."
    )
    overdue: bool | None = strawberry.field(default=None, description="Only overdue claims.")
    fraud_flag: bool | None = strawberry.field(default=None, description="Only flagged ones.")
    assignee_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Assigned to this staff member."
    )
    unassigned: bool | None = strawberry.field(default=None, description="Only unassigned.")


def _queue(where: ClaimQueueFilter | None, actor: Actor) -> Any:
    queryset = visible_claims(actor)
    if where is None:
        return queryset
    if where.status:
        queryset = queryset.filter(status__in=list(where.status))
    if where.product_kind:
        queryset = queryset.filter(policy__product__kind__in=list(where.product_kind))
    if where.fraud_flag is not None:
        queryset = queryset.filter(fraud_flag=where.fraud_flag)
    if where.unassigned:
        queryset = queryset.filter(assignee_id=None)
    if where.assignee_id is not None:
        queryset = queryset.filter(assignee_id=node_uuid(where.assignee_id, "StaffMember"))
    if where.overdue:
        queryset = queryset.filter(flows.overdue_claims())
    return queryset


@strawberry.type(description="The archive of a closed claim, for records and audits.")
class ClaimArchive:
    report_number: str = strawberry.field(description="The claim's report number.")
    manifest: str = strawberry.field(
        description="JSON: the claim, its timeline, the decision and every file with its "
        "SHA-256, as archived."
    )
    file_urls: list[str] = strawberry.field(
        description="Short-lived signed links to the files, in manifest order."
    )


@strawberry.type
class ClaimQueries:
    @strawberry.field(description="My claims, newest first.", permission_classes=CUSTOMER_ONLY)
    async def my_claims(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[Claim]:
        queryset = visible_claims(info.context.actor).order_by("-created_at", "-id")
        return await paginate(
            queryset, Claim.from_model, first=first, after=after, last=None, before=None
        )

    @strawberry.field(
        description="One claim; null if it does not exist or you may not see it.",
        permission_classes=[IsAuthenticated],
    )
    async def claim(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The claim's ID.")],
    ) -> Claim | None:
        row = await visible_claims(info.context.actor).filter(id=node_uuid(id, "Claim")).first()
        return Claim.from_model(row) if row else None

    @strawberry.field(
        description="Staff (CLAIM_READ): the archive export of a closed claim.",
        permission_classes=STAFF_READ,
    )
    async def claim_archive(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The claim's ID.")],
    ) -> ClaimArchive | None:
        try:
            exported = await flows.archive(info.context.actor, node_uuid(id, "Claim"))
        except flows.ClaimError as error:
            if error.code is flows.ClaimErrorCode.CLAIM_NOT_FOUND:
                return None
            raise UserInputError(error.message) from None
        storage = info.context.services.storage
        ttl = info.context.services.settings.signed_url_ttl_seconds
        return ClaimArchive(
            report_number=exported["claim"]["reportNumber"],
            manifest=json.dumps(exported, ensure_ascii=False, indent=2),
            file_urls=[
                storage.signed_url(f["storageKey"], expires_in=ttl, filename=f["fileName"])
                for f in exported["files"]
            ],
        )

    @strawberry.field(
        description="Staff (CLAIM_READ): the claim queue, oldest submission first.",
        permission_classes=STAFF_READ,
    )
    async def claim_queue(
        self,
        info: Info,
        filter: Annotated[
            ClaimQueueFilter | None, strawberry.argument(description="Narrow the queue.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[Claim]:
        queryset = _queue(filter, info.context.actor).order_by("submitted_at", "created_at", "id")
        return await paginate(
            queryset, Claim.from_model, first=first, after=after, last=None, before=None
        )


# ---------------------------------------------------------------- mutations


@strawberry.input(description="Report a loss (报案).")
class ReportLossInput:
    policy_id: relay.GlobalID = strawberry.field(description="The policy.")
    loss_type: str = strawberry.field(description="A loss type code of the product.")
    loss_at: datetime = strawberry.field(description="When it happened (with offset).")
    location: str = strawberry.field(description="Where it happened.")
    description: str = strawberry.field(description="What happened.")
    channel: m.ReportChannel = strawberry.field(
        description="APP, MINI_PROGRAM, WEB for customers; PHONE, COUNTER for staff."
    )
    contact_name: str = strawberry.field(description="Whom to call.")
    contact_phone: str = strawberry.field(description="Mobile number.")
    late_reason: str | None = strawberry.field(
        default=None, description="Required when the report is past the time limit."
    )
    customer_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Staff: the customer reporting by phone or at the counter."
    )
    dry_run: bool = strawberry.field(
        default=False, description="Validate only: the same errors, nothing saved."
    )


@strawberry.type(description="The result of reporting a loss.")
class ReportLossPayload:
    claim: Claim | None = strawberry.field(description="The new claim (null on dry runs).")
    warnings: list[flows.ClaimWarning] = strawberry.field(description="Accepted, but flagged.")
    checklist: list[RequiredDocument] = strawberry.field(description="Documents to provide.")
    confirmation: str = strawberry.field(description="What the customer is told.")
    next_steps: list[str] = strawberry.field(description="What happens next, in Chinese.")
    errors: list[ClaimError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of a claim action.")
class ClaimPayload:
    claim: Claim | None = strawberry.field(description="The claim as it is now.")
    errors: list[ClaimError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Submit a claim for review.")
class SubmitClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    explanation: str | None = strawberry.field(
        default=None, description="Why documents are missing, if any are."
    )


@strawberry.input(description="Withdraw a claim before it is decided.")
class WithdrawClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    reason: str | None = strawberry.field(default=None, description="Optional reason.")


@strawberry.input(
    description="Answer a request for more information: upload the files with "
    "`uploadClaimDocuments` first, then say what was provided; review resumes."
)
class SupplementDocumentsInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    note: str = strawberry.field(description="What was provided.")


@strawberry.input(description="One file for one checklist item.")
class ClaimFileInput:
    checklist_code: str = strawberry.field(description="The checklist item, e.g. `D01`.")
    file: Upload = strawberry.field(
        description="The file (GraphQL multipart request; send `apollo-require-preflight`)."
    )


@strawberry.input(description="Upload photos and documents for a claim.")
class UploadClaimDocumentsInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    files: list[ClaimFileInput] = strawberry.field(description="The files, all or none kept.")


@strawberry.input(description="Staff: give a claim to an adjuster.")
class AssignClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    adjuster_id: relay.GlobalID = strawberry.field(description="The adjuster.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Staff: ask for more information, once, with everything.")
class RequestClaimInfoInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    items: list[str] = strawberry.field(description="The complete list of what is needed.")
    reason: str = strawberry.field(description="Why, shown to the customer.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Staff: add an investigation note.")
class AddInvestigationNoteInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    text: str = strawberry.field(description="The note (staff only).")


@strawberry.input(description="One coverage of a decision.")
class DecisionLineInput:
    coverage_id: relay.GlobalID = strawberry.field(description="The coverage.")
    claimed_amount: Amount = strawberry.field(description="What was claimed.")
    approved_amount: Amount = strawberry.field(
        description="What you approve; deductible and remaining cover are applied on top."
    )
    reason: str = strawberry.field(description="Why, shown to the customer.")


@strawberry.input(description="Staff: approve a claim in full or in part.")
class DecideClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    lines: list[DecisionLineInput] = strawberry.field(description="Per coverage.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Staff: reject a claim.")
class RejectClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    reason: m.RejectionReason = strawberry.field(description="Reason code.")
    explanation: str = strawberry.field(description="Explanation, shown to the customer.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Staff: act on a claim at the version you saw.")
class ClaimVersionInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Where I want the claim money paid.")
class ChooseClaimPayoutAccountInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    provider: str = strawberry.field(
        description="`alipay` or `wechat` (`sandbox` in development): a configured provider."
    )
    account: str | None = strawberry.field(
        default=None,
        description="The Alipay account (user id or login); for WeChat the mini-program "
        "login is used.",
    )


@strawberry.input(
    description="Staff: pay an approved claim by provider transfer, to the account the "
    "claimant chose; another account needs a reason and a second staff member's approval."
)
class StartClaimPayoutInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim (PAYING).")
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): a retry returns the same payout."
    )
    provider: str | None = strawberry.field(
        default=None,
        description="Only to pay another account than the claimant's choice: `alipay`, "
        "`wechat` or `sandbox` (development).",
    )
    payee_id: str | None = strawberry.field(
        default=None,
        description="Only to pay another account: the Alipay account or WeChat openid.",
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why another account (required then; shown on the claim's timeline).",
    )


@strawberry.input(description="Staff: approve or turn down a payout to another account.")
class ClaimPayoutDecisionInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    reason: str | None = strawberry.field(
        default=None, description="Why it is turned down (required to cancel)."
    )


@strawberry.input(description="Staff: record a payout made outside the gateway.")
class RecordClaimPaymentInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    payout_reference: str = strawberry.field(description="The bank or provider reference.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


async def _act(action: Callable[[], Awaitable[m.Claim]]) -> ClaimPayload:
    try:
        claim = await action()
    except (flows.ClaimError, IdempotencyError) as error:
        return ClaimPayload(claim=None, errors=payload_errors(error, ClaimError))
    return ClaimPayload(claim=Claim.from_model(claim), errors=[])


@strawberry.type
class ClaimMutations:
    @strawberry.mutation(
        description="Report a loss; staff with CLAIM_REPORT report for a customer.",
        permission_classes=[IsAuthenticated],
    )
    async def report_loss(
        self, info: Info, input: Annotated[ReportLossInput, strawberry.argument(description=INPUT)]
    ) -> ReportLossPayload:
        actor = info.context.actor
        report = flows.LossReport(
            policy_id=node_uuid(input.policy_id, "Policy"),
            loss_type=input.loss_type,
            loss_at=input.loss_at if input.loss_at.tzinfo else input.loss_at.replace(tzinfo=UTC),
            location=input.location,
            description=input.description,
            channel=input.channel,
            contact_name=input.contact_name,
            contact_phone=input.contact_phone,
            late_reason=input.late_reason,
        )
        on_behalf = node_uuid(input.customer_id, "Customer") if input.customer_id else None
        try:
            outcome = await flows.report_loss(
                info.context.services.pii,
                actor,
                report,
                on_behalf_of=on_behalf,
                dry_run=input.dry_run,
            )
        except flows.ClaimError as error:
            return ReportLossPayload(
                claim=None,
                warnings=[],
                checklist=[],
                confirmation="",
                next_steps=[],
                errors=payload_errors(error, ClaimError),
            )
        return ReportLossPayload(
            claim=Claim.from_model(outcome.claim) if outcome.claim else None,
            warnings=outcome.warnings,
            checklist=[RequiredDocument(**d) for d in outcome.checklist],
            confirmation=outcome.confirmation,
            next_steps=outcome.next_steps,
            errors=[],
        )

    @strawberry.mutation(
        description="Submit my claim for review.", permission_classes=CUSTOMER_ONLY
    )
    async def submit_claim(
        self, info: Info, input: Annotated[SubmitClaimInput, strawberry.argument(description=INPUT)]
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.submit_claim(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.explanation
            )
        )

    @strawberry.mutation(
        description="Upload photos (JPEG, PNG, WebP, HEIC) and PDFs for checklist items, "
        "until the claim is decided. Photos are re-encoded without EXIF/GPS.",
        permission_classes=[IsAuthenticated],
    )
    async def upload_claim_documents(
        self,
        info: Info,
        input: Annotated[UploadClaimDocumentsInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        uploads = [
            claim_documents.Upload(
                checklist_code=item.checklist_code,
                file_name=getattr(item.file, "filename", None) or "file",
                source=item.file,  # type: ignore[arg-type]  # a Starlette UploadFile
            )
            for item in input.files
        ]
        try:
            return await _act(
                lambda: claim_documents.add_documents(
                    info.context.services.document_intake,
                    info.context.actor,
                    node_uuid(input.claim_id, "Claim"),
                    uploads,
                )
            )
        finally:
            for item in input.files:
                close = getattr(item.file, "close", None)
                if close is not None:
                    await close()

    @strawberry.mutation(
        description="Withdraw my claim before a decision.", permission_classes=CUSTOMER_ONLY
    )
    async def withdraw_claim(
        self,
        info: Info,
        input: Annotated[WithdrawClaimInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.withdraw_claim(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.reason
            )
        )

    @strawberry.mutation(
        description="Answer the adjuster's request for more.", permission_classes=CUSTOMER_ONLY
    )
    async def supplement_documents(
        self,
        info: Info,
        input: Annotated[SupplementDocumentsInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.supplement_documents(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.note
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_ASSIGN): assign to an adjuster.",
        permission_classes=staff_only(Permission.CLAIM_ASSIGN),
    )
    async def assign_claim(
        self, info: Info, input: Annotated[AssignClaimInput, strawberry.argument(description=INPUT)]
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.assign_claim(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                node_uuid(input.adjuster_id, "StaffMember"),
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): ask for more, once.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def request_claim_info(
        self,
        info: Info,
        input: Annotated[RequestClaimInfoInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.request_more_info(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.items,
                input.reason,
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): add an investigation note.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def add_investigation_note(
        self,
        info: Info,
        input: Annotated[AddInvestigationNoteInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        async def add() -> m.Claim:
            note = await flows.add_note(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.text
            )
            return await m.Claim.get(id=note.claim_id)

        return await _act(add)

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): approve per coverage; above the authority limit "
        "it waits for a supervisor.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def decide_claim(
        self, info: Info, input: Annotated[DecideClaimInput, strawberry.argument(description=INPUT)]
    ) -> ClaimPayload:
        lines = [
            flows.DecisionLine(
                coverage_id=node_uuid(line.coverage_id, "Coverage"),
                claimed_amount=line.claimed_amount,
                approved_amount=line.approved_amount,
                reason=line.reason,
            )
            for line in input.lines
        ]
        return await _act(
            lambda: flows.decide_claim(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                lines,
                input.expected_version,
                authority_limit=info.context.services.settings.adjuster_authority_limit,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_APPROVE_ABOVE_LIMIT): approve a decision above the limit.",
        permission_classes=staff_only(Permission.CLAIM_APPROVE_ABOVE_LIMIT),
    )
    async def approve_claim_decision(
        self,
        info: Info,
        input: Annotated[ClaimVersionInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.approve_pending_decision(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.expected_version
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): reject with a reason.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def reject_claim(
        self, info: Info, input: Annotated[RejectClaimInput, strawberry.argument(description=INPUT)]
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.reject_claim(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.reason,
                input.explanation,
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_PAY): record a payout.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def record_claim_payment(
        self,
        info: Info,
        input: Annotated[RecordClaimPaymentInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.record_payment(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.payout_reference,
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_PAY): transfer the approved amount to the account the "
        "claimant chose; the claim becomes PAID when the provider reports success. Another "
        "account (with a reason) waits for `approveClaimPayout` by a second staff member.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def start_claim_payout(
        self,
        info: Info,
        input: Annotated[StartClaimPayoutInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        services = info.context.services

        claim_id = node_uuid(input.claim_id, "Claim")

        async def pay() -> dict[str, str]:
            payout = await start_payout(
                services.payment_providers,
                info.context.actor,
                claim_id,
                notify_base_url=services.settings.public_base_url,
                provider_name=input.provider,
                payee_id=input.payee_id,
                reason=input.reason,
            )
            return {"claim_id": str(payout.claim_id)}

        async def once_only() -> m.Claim:
            request = {
                "claim": str(claim_id),
                "provider": input.provider,
                "payee": input.payee_id,
                "reason": input.reason,
            }
            await once(
                f"{info.context.actor.subject_id}:startClaimPayout",
                input.idempotency_key,
                request,
                pay,
            )
            return await m.Claim.get(id=claim_id)

        return await _act(once_only)

    @strawberry.mutation(
        description="Staff (CLAIM_PAY): approve a payout to another account than the "
        "claimant's choice; never the one who proposed it. The claimant is notified.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def approve_claim_payout(
        self,
        info: Info,
        input: Annotated[ClaimPayoutDecisionInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        services = info.context.services
        claim_id = node_uuid(input.claim_id, "Claim")

        async def approve() -> m.Claim:
            await approve_payout(
                services.payment_providers,
                info.context.actor,
                claim_id,
                notify_base_url=services.settings.public_base_url,
            )
            return await m.Claim.get(id=claim_id)

        return await _act(approve)

    @strawberry.mutation(
        description="Staff (CLAIM_PAY): turn down a payout to another account.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def cancel_claim_payout(
        self,
        info: Info,
        input: Annotated[ClaimPayoutDecisionInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        claim_id = node_uuid(input.claim_id, "Claim")

        async def cancel() -> m.Claim:
            await cancel_payout(info.context.actor, claim_id, input.reason or "")
            return await m.Claim.get(id=claim_id)

        return await _act(cancel)

    @strawberry.mutation(
        description="Choose where the money of my claim is paid (Alipay or WeChat); "
        "it is transferred there once the claim is approved.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def choose_claim_payout_account(
        self,
        info: Info,
        input: Annotated[ChooseClaimPayoutAccountInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: choose_payout_account(
                info.context.services.payment_providers,
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.provider,
                input.account,
                info.context.services.settings.wechat_app_id,
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): close a finished claim.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def close_claim(
        self,
        info: Info,
        input: Annotated[ClaimVersionInput, strawberry.argument(description=INPUT)],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.close_claim(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.expected_version
            )
        )


@strawberry.type(description="A change in the staff claim queue.")
class ClaimQueueChange:
    event_type: str = strawberry.field(description="What happened, e.g. `claim.updated`.")
    claim: Claim | None = strawberry.field(description="The claim as it is now.")


@strawberry.type
class ClaimSubscriptions:
    @strawberry.subscription(
        description="Live changes of one claim; refused like a missing claim if not yours.",
        permission_classes=[IsAuthenticated],
    )
    async def claim_updated(
        self,
        info: Info,
        claim_id: Annotated[relay.GlobalID, strawberry.argument(description="The claim.")],
    ) -> AsyncGenerator[Claim, None]:
        actor = info.context.actor
        try:
            claim = await flows.load_claim(
                actor, node_uuid(claim_id, "Claim"), flows.ClaimAction.VIEW
            )
        except flows.ClaimError:
            raise UserInputError("未找到该理赔案件") from None
        async for _ in info.context.services.bus.subscribe(f"claim:{claim.id}"):
            row = await visible_claims(actor).filter(id=claim.id).first()
            if row is not None:
                yield Claim.from_model(row)

    @strawberry.subscription(
        description="Staff (CLAIM_READ): the claim queue changes.", permission_classes=STAFF_READ
    )
    async def claim_queue_changed(self, info: Info) -> AsyncGenerator[ClaimQueueChange, None]:
        async for event in info.context.services.bus.subscribe(flows.STAFF_QUEUE):
            row = await m.Claim.get_or_none(id=event["entityId"])
            yield ClaimQueueChange(
                event_type=event["type"], claim=Claim.from_model(row) if row else None
            )
