"""The claim (理赔案件) as GraphQL sees it; staff-only fields state their permission."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import claims as m
from models.clock import local_time
from schema.claims.enums import ClaimRole, ClaimStatus, ReportChannel
from schema.claims.parts import (
    ClaimDecisionLine,
    ClaimDocument,
    ClaimPayout,
    ClaimPayoutAccount,
    ClaimPayoutShare,
    ClaimRejection,
    ClaimTimelineEntry,
    InvestigationNote,
    MoreInfoRequest,
)
from schema.commitments import CommitmentCase, cases_on
from schema.common import Money, cny
from schema.permissions import staff_only
from schema.policies.types import InsuredPerson, Policy, RequiredDocument
from workflows import claims as flows
from workflows.access import Permission

STAFF_READ = staff_only(Permission.CLAIM_READ)


@strawberry.type(description="A claim (理赔案件), from the report of a loss to closure.")
class Claim(relay.Node):
    model: strawberry.Private[m.Claim]
    id: relay.NodeID[str]
    report_number: str = strawberry.field(description="Report number, e.g. `BA20261129000001`.")
    status: ClaimStatus = strawberry.field(description="Current status.")
    status_name: str = strawberry.field(description="The status in Chinese.")
    version: int = strawberry.field(
        description="Changes with every update; staff pass it as `expectedVersion`."
    )
    loss_type: str = strawberry.field(
        description="Loss type code of the product (`Product.lossTypes`): a String, as each "
        "product defines its own loss types in its data."
    )
    loss_at: datetime = strawberry.field(description="When the loss happened.")
    loss_location: str = strawberry.field(description="Where it happened.")
    description: str = strawberry.field(description="What happened.")
    channel: ReportChannel = strawberry.field(description="How it was reported.")
    contact_name: str = strawberry.field(description="Whom to call.")
    contact_phone: str = strawberry.field(description="Contact phone, masked.")
    late_report: bool = strawberry.field(description="Reported after the time limit.")
    late_reason: str | None = strawberry.field(description="Why it was reported late.")
    missing_documents_explanation: str | None = strawberry.field(
        description="Why documents were missing at submission, as the customer explained."
    )
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
    claimed_amount: Money | None = strawberry.field(
        description="What the customer asks for, as declared at submission (optional)."
    )
    fast_track: bool = strawberry.field(
        description="Fast track (快速通道): a small claim (within the small-claims promise's "
        "ceiling) with its documents complete at submission; first in the staff queue."
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
            missing_documents_explanation=claim.missing_documents_explanation,
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
            claimed_amount=cny(claim.claimed_amount) if claim.claimed_amount is not None else None,
            fast_track=claim.fast_track,
        )

    @strawberry.field(
        description="The service promises on this claim (e.g. 承诺1个工作日内审核) and whether "
        "each was kept."
    )
    async def commitments(self, info: Info) -> list[CommitmentCase]:
        return await cases_on(info, self.id)

    @strawberry.field(description="The policy claimed on.")
    async def policy(self, info: Info) -> Policy:
        return Policy.from_model(
            await info.context.loaders.policies.load(self.model.policy_id), info.context
        )

    @strawberry.field(
        description="What the calling customer is to this claim (empty for staff): the app "
        "shows each action to whom it belongs, e.g. the payout account to the PAYEE."
    )
    async def my_roles(self, info: Info) -> list[ClaimRole]:
        actor = info.context.actor
        if not actor.is_customer:
            return []
        policy = await info.context.loaders.policies.load(self.model.policy_id)
        shares = await info.context.loaders.payout_shares.load(self.model.id)
        payees = [share.customer_id for share in shares]
        return sorted(flows.roles_of(actor, self.model, policy.holder_id, payees))

    @strawberry.field(
        description="Whom the loss befell: one of the policy's insured persons (null on "
        "claims reported before this was asked)."
    )
    async def insured_person(self, info: Info) -> InsuredPerson | None:
        if self.model.insured_person_id is None:
            return None
        people = await info.context.loaders.insured_persons.load(self.model.policy_id)
        found = next((p for p in people if p.id == self.model.insured_person_id), None)
        return InsuredPerson.from_model(found) if found else None

    @strawberry.field(
        description="Every step so far, oldest first (steps naming the payee or their account "
        "are staff's and the payee's to see, the payee's since they became it)."
    )
    async def timeline(self, info: Info) -> list[ClaimTimelineEntry]:
        events = await info.context.loaders.claim_events.load(self.model.id)
        return [
            ClaimTimelineEntry.from_model(e)
            for e in flows.timeline_for(info.context.actor, self.model, events)
        ]

    @strawberry.field(
        description="The documents this claim needs: its loss type's, those asked because of "
        "the insured person, and the catch-all OTHER."
    )
    async def checklist(self, info: Info) -> list[RequiredDocument]:
        return [RequiredDocument(**d) for d in await self._checklist(info)]

    @strawberry.field(
        description="What the customer still has to provide: required checklist items "
        "before submission; what the adjuster asked for while more information is asked "
        "(upload it under the OTHER item, then `supplementClaimDocuments`)."
    )
    async def missing_documents(self, info: Info) -> list[str]:
        documents = await info.context.loaders.claim_documents.load(self.model.id)
        return flows.still_missing(
            self.model, await self._checklist(info), (d.checklist_code for d in documents)
        )

    async def _checklist(self, info: Info) -> list[dict[str, Any]]:
        policy = await info.context.loaders.policies.load(self.model.policy_id)
        return flows.checklist_for(self.model, policy.product)

    @strawberry.field(description="Photos and documents, oldest first; links expire soon.")
    async def documents(self, info: Info) -> list[ClaimDocument]:
        rows = await info.context.loaders.claim_documents.load(self.model.id)
        return [ClaimDocument.from_model(row) for row in rows]

    @strawberry.field(
        description="The account the payee chose for the money (masked); shown to the "
        "payee (the insured, or the holder for a minor) and to staff, null for anyone else "
        "and before a choice. A claim paid to beneficiaries has one per share instead "
        "(`payoutShares`)."
    )
    def payout_account(self, info: Info) -> ClaimPayoutAccount | None:
        if not flows.sees_payee(info.context.actor, self.model):
            return None
        return ClaimPayoutAccount.of(self.model)

    @strawberry.field(
        description="A claim paid to beneficiaries (a death benefit): one share per "
        "beneficiary, each paid to the account its beneficiary chooses "
        "(`chooseClaimPayoutAccount`). Staff see every share, a beneficiary their own, "
        "anyone else none; empty on other claims."
    )
    async def payout_shares(self, info: Info) -> list[ClaimPayoutShare]:
        actor = info.context.actor
        shares = await info.context.loaders.payout_shares.load(self.model.id)
        if actor.is_staff:
            return [ClaimPayoutShare.from_model(share, mine=False) for share in shares]
        return [
            ClaimPayoutShare.from_model(share, mine=True)
            for share in shares
            if actor.is_customer and share.customer_id == actor.subject_id
        ]

    @strawberry.field(
        description="Payouts by transfer, newest first: staff's to see, the payee's since "
        "they became the payee, and a beneficiary's of their own share."
    )
    async def payouts(self, info: Info) -> list[ClaimPayout]:
        actor = info.context.actor
        rows = await info.context.loaders.payouts.load(self.model.id)
        # A complaint's goodwill payment paid to this claim's account is the complaint's.
        rows = [p for p in rows if p.remedy_id is None]
        if actor.is_staff:
            return [ClaimPayout.from_model(p) for p in rows]
        if flows.sees_payee(actor, self.model):  # a former payee's named their account
            since = flows.payee_since(await info.context.loaders.claim_events.load(self.model.id))
            rows = [p for p in rows if since is None or p.created_at >= since]
        else:
            mine = {
                share.id
                for share in await info.context.loaders.payout_shares.load(self.model.id)
                if actor.is_customer and share.customer_id == actor.subject_id
            }
            rows = [p for p in rows if p.share_id in mine]
        return [ClaimPayout.from_model(p) for p in rows]

    @strawberry.field(
        description="The decision, coverage by coverage. While a decision above the "
        "adjuster's authority waits, staff see the proposed lines (the supervisor approves "
        "what they see); the customer sees none until it is approved."
    )
    async def decision_lines(self, info: Info) -> list[ClaimDecisionLine]:
        if self.model.pending_approval and not info.context.actor.is_staff:
            return []  # a proposal is not the customer's decision until it is approved
        lines = await info.context.loaders.claim_lines.load(self.model.id)
        return [ClaimDecisionLine.from_model(line) for line in lines]

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
    async def investigation_notes(self, info: Info) -> list[InvestigationNote]:
        notes = await info.context.loaders.investigation_notes.load(self.model.id)
        return [InvestigationNote.from_model(n) for n in notes]
