"""The inputs of the claim mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from schema.claims.enums import PayTo, RejectionReason, ReportChannel, TransferProvider
from schema.scalars import Amount
from workflows.payments.accounts import AccountChoice, BankCard


@strawberry.input(description="Report a loss (报案).")
class ReportLossInput:
    policy_id: relay.GlobalID = strawberry.field(description="The policy.")
    loss_type: str = strawberry.field(
        description="A loss type code of the policy's product (`Product.lossTypes`, e.g. "
        "`COLLISION`). A String, not an enum: each product defines its own loss types in "
        "its data, and a code the product lacks is a payload error (`LOSS_TYPE_NOT_COVERED`)."
    )
    loss_at: datetime = strawberry.field(description="When it happened (with offset).")
    location: str = strawberry.field(description="Where it happened.")
    description: str = strawberry.field(description="What happened.")
    channel: ReportChannel = strawberry.field(
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
    insured_person_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="Whom the loss befell, one of the policy's `insuredPersons`: required "
        "when the policy has several (a family policy); the checklist follows that person.",
    )
    dry_run: bool = strawberry.field(
        default=False, description="Validate only: the same errors, nothing saved."
    )


@strawberry.input(description="Submit a claim for review.")
class SubmitClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    explanation: str | None = strawberry.field(
        default=None, description="Why documents are missing, if any are."
    )
    customer_consent: str | None = strawberry.field(
        default=None,
        description="Staff only, required for them: the customer's spoken consent to submit "
        "for them (who agreed, when, how), written on the timeline.",
    )
    claimed_amount: Amount | None = strawberry.field(
        default=None,
        description="What the customer asks for (optional). A small amount with every "
        "required document fast-tracks the claim under the small-claims promise.",
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
    reason: RejectionReason = strawberry.field(description="Reason code.")
    explanation: str = strawberry.field(description="Explanation, shown to the customer.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="Staff: act on a claim at the version you saw.")
class ClaimVersionInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(description="A bank card (UnionPay debit card) for a claim payout.")
class BankCardInput:
    holder_name: str = strawberry.field(
        description="The card holder's name: a payee's card must be in their own name."
    )
    bank_name: str = strawberry.field(description="The bank, e.g. `招商银行`.")
    card_number: str = strawberry.field(
        description="The card number: 15 to 19 digits (spaces allowed), checked by its check digit."
    )

    def to_card(self) -> BankCard:
        return BankCard(self.holder_name, self.bank_name, self.card_number)


@strawberry.input(description="Where I want the claim money (or my share of it) paid.")
class ChooseClaimPayoutAccountInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    provider: TransferProvider = strawberry.field(
        description="How: ALIPAY, WECHAT, BANK (a bank card) or SANDBOX (development); one "
        "configured on this server, else `PROVIDER_NOT_CONFIGURED`."
    )
    account: str | None = strawberry.field(
        default=None,
        description="The Alipay account (user id or login); for WeChat the mini-program "
        "login is used.",
    )
    bank_card: BankCardInput | None = strawberry.field(
        default=None, description="For `bank`: the card, in my own name."
    )

    def to_choice(self) -> AccountChoice:
        card = self.bank_card.to_card() if self.bank_card else None
        return AccountChoice(self.provider.value, self.account, card)


@strawberry.input(
    description="Staff: pay an approved claim by provider transfer, to the account the "
    "payee chose; another account needs a reason and a second staff member's approval."
)
class StartClaimPayoutInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim (PAYING).")
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): a retry returns the same payout."
    )
    share_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A claim paid to beneficiaries: the share to pay (`payoutShares`).",
    )
    provider: TransferProvider | None = strawberry.field(
        default=None,
        description="Only to pay another account than the payee's choice: ALIPAY, WECHAT, "
        "BANK or SANDBOX (development).",
    )
    payee_id: str | None = strawberry.field(
        default=None,
        description="Only to pay another account: the Alipay account or WeChat openid.",
    )
    bank_card: BankCardInput | None = strawberry.field(
        default=None, description="Only to pay another account by `bank`: the card."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why another account (required then; shown on the claim's timeline).",
    )


@strawberry.input(description="Staff: approve or turn down a payout to another account.")
class ClaimPayoutDecisionInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    share_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="A claim paid to beneficiaries with several proposals waiting: which share's.",
    )
    reason: str | None = strawberry.field(
        default=None, description="Why it is turned down (required to cancel)."
    )


@strawberry.input(description="Staff: record a payout made outside the gateway.")
class RecordClaimPaymentInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    payout_reference: str = strawberry.field(description="The bank or provider reference.")
    expected_version: int = strawberry.field(description="The claim version you saw.")


@strawberry.input(
    description="Staff: change whom a claim's money is paid to; the account the former payee "
    "chose is cleared and the new payee chooses theirs."
)
class ChangeClaimPayeeInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim (not yet settled).")
    expected_version: int = strawberry.field(description="The claim version you saw.")
    pay_to: PayTo = strawberry.field(description="Who is paid from now on.")
    reason: str = strawberry.field(
        description="Why (up to 500 characters): on the timeline, for staff and the new payee."
    )
