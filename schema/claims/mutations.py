"""Claim mutations: the customer reports, submits, uploads and withdraws; staff assign,
review, decide, pay and close. Each answers the claim as it is now, or payload errors."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Annotated

import strawberry
from strawberry.types import Info

from models import claims as m
from schema.claims.enums import ClaimWarning
from schema.claims.errors import ClaimError
from schema.claims.inputs import (
    AddInvestigationNoteInput,
    AssignClaimInput,
    ChangeClaimPayeeInput,
    ChooseClaimPayoutAccountInput,
    ClaimPayoutDecisionInput,
    ClaimVersionInput,
    DecideClaimInput,
    RecordClaimPaymentInput,
    RejectClaimInput,
    ReportLossInput,
    RequestClaimInfoInput,
    StartClaimPayoutInput,
    SubmitClaimInput,
    SupplementDocumentsInput,
    UploadClaimDocumentsInput,
    WithdrawClaimInput,
)
from schema.claims.types import Claim
from schema.common import node_uuid
from schema.errors import payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from schema.policies.types import RequiredDocument
from workflows import claim_documents
from workflows import claims as flows
from workflows.access import Permission
from workflows.idempotency import IdempotencyError, once
from workflows.payments.accounts import choose_payout_account, staff_named_account
from workflows.payments.payouts import approve_payout, cancel_payout, start_payout


@strawberry.type(description="The result of reporting a loss.")
class ReportLossPayload:
    claim: Claim | None = strawberry.field(description="The new claim (null on dry runs).")
    warnings: list[ClaimWarning] = strawberry.field(description="Accepted, but flagged.")
    checklist: list[RequiredDocument] = strawberry.field(description="Documents to provide.")
    confirmation: str = strawberry.field(description="What the customer is told.")
    next_steps: list[str] = strawberry.field(description="What happens next, in Chinese.")
    errors: list[ClaimError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The result of a claim action.")
class ClaimPayload:
    claim: Claim | None = strawberry.field(description="The claim as it is now.")
    errors: list[ClaimError] = strawberry.field(description="Empty on success.")


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
        self,
        info: Info,
        input: Annotated[
            ReportLossInput,
            strawberry.argument(
                description="The policy, what happened, when and where, and whom to call; "
                "`dryRun` checks only."
            ),
        ],
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
            insured_person_id=(
                node_uuid(input.insured_person_id, "InsuredPerson")
                if input.insured_person_id
                else None
            ),
        )
        on_behalf = node_uuid(input.customer_id, "Customer") if input.customer_id else None
        try:
            outcome = await flows.report_loss(
                info.context.services.pii,
                actor,
                report,
                on_behalf_of=on_behalf,
                dry_run=input.dry_run,
                hotline=info.context.services.settings.service_hotline,
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
        description="Submit a claim for review: the claimant, or staff who took a phone or "
        "counter report (CLAIM_REPORT) with the customer's consent.",
        permission_classes=[IsAuthenticated],
    )
    async def submit_claim(
        self,
        info: Info,
        input: Annotated[
            SubmitClaimInput,
            strawberry.argument(
                description="The claim to submit, and why documents are missing if any are."
            ),
        ],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.submit_claim(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.explanation,
                consent=input.customer_consent,
                claimed_amount=input.claimed_amount,
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
        input: Annotated[
            UploadClaimDocumentsInput,
            strawberry.argument(
                description="The claim and its files, each for one checklist item."
            ),
        ],
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
        input: Annotated[
            WithdrawClaimInput,
            strawberry.argument(description="The claim to withdraw, with an optional reason."),
        ],
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
        input: Annotated[
            SupplementDocumentsInput,
            strawberry.argument(
                description="The claim and what was provided for the adjuster's request."
            ),
        ],
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
        self,
        info: Info,
        input: Annotated[
            AssignClaimInput,
            strawberry.argument(
                description="The claim, the version you saw and the adjuster to give it to."
            ),
        ],
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
        input: Annotated[
            RequestClaimInfoInput,
            strawberry.argument(
                description="The claim, the version you saw, everything still needed and why."
            ),
        ],
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
        input: Annotated[
            AddInvestigationNoteInput,
            strawberry.argument(description="The claim and the note (staff only)."),
        ],
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
        self,
        info: Info,
        input: Annotated[
            DecideClaimInput,
            strawberry.argument(
                description="The claim, the version you saw and the decision per coverage."
            ),
        ],
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
        input: Annotated[
            ClaimVersionInput,
            strawberry.argument(
                description="The claim waiting for approval and the version you saw."
            ),
        ],
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
        self,
        info: Info,
        input: Annotated[
            RejectClaimInput,
            strawberry.argument(
                description="The claim, the version you saw, the reason code and its explanation."
            ),
        ],
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
        input: Annotated[
            RecordClaimPaymentInput,
            strawberry.argument(
                description="The claim, the version you saw and the reference of the payout made."
            ),
        ],
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
        "payee chose; the claim becomes PAID when the provider reports success. Another "
        "account (with a reason) waits for `approveClaimPayout` by a second staff member.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def start_claim_payout(
        self,
        info: Info,
        input: Annotated[
            StartClaimPayoutInput,
            strawberry.argument(
                description="The claim (or share) to pay; another account only with a reason. "
                "The idempotency key makes a retry start one payout."
            ),
        ],
    ) -> ClaimPayload:
        services = info.context.services

        claim_id = node_uuid(input.claim_id, "Claim")

        share_id = node_uuid(input.share_id, "ClaimPayoutShare") if input.share_id else None
        card = input.bank_card.to_card() if input.bank_card else None
        provider = input.provider.value if input.provider else None  # the internal name

        async def pay() -> dict[str, str]:
            payout = await start_payout(
                services.transfer_providers,
                services.pii,
                info.context.actor,
                claim_id,
                notify_base_url=services.settings.public_base_url,
                share_id=share_id,
                other_account=staff_named_account(provider, input.payee_id, card),
                reason=input.reason,
            )
            return {"claim_id": str(payout.claim_id)}

        async def once_only() -> m.Claim:
            request = {
                "claim": str(claim_id),
                "share": str(share_id),
                "provider": provider,
                "payee": input.payee_id,
                "card": card and card.card_number,
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
        "payee's choice; never the one who proposed it. The payee is notified.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def approve_claim_payout(
        self,
        info: Info,
        input: Annotated[
            ClaimPayoutDecisionInput,
            strawberry.argument(
                description="The claim (and share) whose payout to another account to approve."
            ),
        ],
    ) -> ClaimPayload:
        services = info.context.services
        claim_id = node_uuid(input.claim_id, "Claim")

        async def approve() -> m.Claim:
            await approve_payout(
                services.transfer_providers,
                services.pii,
                info.context.actor,
                claim_id,
                notify_base_url=services.settings.public_base_url,
                share_id=_share_id(input),
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
        input: Annotated[
            ClaimPayoutDecisionInput,
            strawberry.argument(
                description="The claim (and share) whose payout to another account to turn "
                "down, and why."
            ),
        ],
    ) -> ClaimPayload:
        claim_id = node_uuid(input.claim_id, "Claim")

        async def cancel() -> m.Claim:
            await cancel_payout(info.context.actor, claim_id, input.reason or "", _share_id(input))
            return await m.Claim.get(id=claim_id)

        return await _act(cancel)

    @strawberry.mutation(
        description="Staff (CLAIM_PAY): change whom the claim's money is paid to: its insured "
        "person's linked account or the policyholder. Refused once settled or while a "
        "payout is live; the account the former payee chose is cleared; both are notified.",
        permission_classes=staff_only(Permission.CLAIM_PAY),
    )
    async def change_claim_payee(
        self,
        info: Info,
        input: Annotated[
            ChangeClaimPayeeInput,
            strawberry.argument(
                description="The claim, the version you saw, the new payee and why."
            ),
        ],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.change_payee(
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.pay_to,
                input.reason,
                input.expected_version,
            )
        )

    @strawberry.mutation(
        description="Choose where the money of my claim (or my share of it, as a "
        "beneficiary) is paid: Alipay, WeChat or a bank card in my own name; it is "
        "transferred there once the claim is approved.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def choose_claim_payout_account(
        self,
        info: Info,
        input: Annotated[
            ChooseClaimPayoutAccountInput,
            strawberry.argument(description="My claim and where its money (or my share) goes."),
        ],
    ) -> ClaimPayload:
        return await _act(
            lambda: choose_payout_account(
                info.context.services.transfer_providers,
                info.context.services.pii,
                info.context.actor,
                node_uuid(input.claim_id, "Claim"),
                input.to_choice(),
            )
        )

    @strawberry.mutation(
        description="Staff (CLAIM_REVIEW): close a finished claim.",
        permission_classes=staff_only(Permission.CLAIM_REVIEW),
    )
    async def close_claim(
        self,
        info: Info,
        input: Annotated[
            ClaimVersionInput,
            strawberry.argument(description="The finished claim and the version you saw."),
        ],
    ) -> ClaimPayload:
        return await _act(
            lambda: flows.close_claim(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.expected_version
            )
        )


def _share_id(input: ClaimPayoutDecisionInput) -> uuid.UUID | None:
    return node_uuid(input.share_id, "ClaimPayoutShare") if input.share_id else None
