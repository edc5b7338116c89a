"""Changes of a policy (保全) in GraphQL: the holder's `requestPolicyChange` (one change
type per request: beneficiaries or surrender), the `surrenderQuote` shown before a
surrender, the insured's consent, the holder's withdrawal, the staff review queue with
approve/reject (POLICY_SERVICE), and `Policy.endorsements` (the history). Surrender is a
change type of `requestPolicyChange`, not a mutation of its own."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import endorsements as m
from models.clock import local_time
from models.policies import PaymentFrequency
from models.policies import PremiumInstallment as PolicyInstallment
from schema.claims.enums import TransferProvider
from schema.claims.inputs import BankCardInput
from schema.common import Connection, CursorArg, Money, PageArg, cny, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, staff_only
from schema.scalars import Amount
from workflows.access import Actor, Permission, visible_policies
from workflows.idempotency import IdempotencyError
from workflows.payments.accounts import AccountChoice
from workflows.policy_service import contact, members, reinstatement, surrender
from workflows.policy_service import endorsements as flow
from workflows.policy_service.beneficiaries import NewBeneficiary
from workflows.policy_service.endorsement_rules import (
    STATUS_NAMES,
    TYPE_NAMES,
    EndorsementError,
)
from workflows.policy_service.endorsement_state import visible_endorsements

if TYPE_CHECKING:
    from schema.policies.types import Policy, PremiumInstallment
    from schema.policy_service.payment_accounts import (
        PaymentAccountChange,
        PaymentAccountChangeInput,
    )

strawberry.enum(m.EndorsementType, description="What a change of a policy (批单) changes.")
strawberry.enum(
    m.EndorsementStatus,
    description="Where a change stands: REQUESTED → (NEEDS_REVIEW) → APPROVED → EFFECTIVE, "
    "or REJECTED; CANCELLED by the holder before approval.",
)
ENDORSEMENT_CODES = ErrorCodes(
    "EndorsementErrorCode",
    "Why a change of a policy failed.",
    EndorsementError,
    IdempotencyError,
)
MAX_BENEFICIARY_INPUTS = 10


@answers_with(ENDORSEMENT_CODES)
@strawberry.type(name="EndorsementError", description="A failed change of a policy.")
class EndorsementError_(Error):
    code: str = strawberry.field(graphql_type=ENDORSEMENT_CODES.enum, description=CODE)


@strawberry.type(description="One line of an endorsement's timeline.")
class EndorsementTimelineEntry:
    """Written once, shown inside its endorsement: no identity of its own."""

    at: datetime = strawberry.field(description="When (Asia/Shanghai).")
    action: str = strawberry.field(description="What was done, e.g. `request`, `approve`.")
    status: m.EndorsementStatus = strawberry.field(description="The status after it.")
    note: str = strawberry.field(description="What was recorded, in Chinese.")
    by_staff: bool = strawberry.field(description="Done by staff (else the customer or system).")


@strawberry.type(description="A beneficiary as an endorsement shows them (before or after).")
class EndorsementBeneficiary:
    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_insured: str = strawberry.field(description="SPOUSE, CHILD, PARENT or OTHER.")
    share_percent: Decimal = strawberry.field(description="Share of the benefit, in percent.")


@strawberry.type(description="A surrender value (退保金) and how it is worked out.")
class SurrenderValue:
    amount: Money = strawberry.field(description="What is paid out on surrender.")
    premium_paid: Money = strawberry.field(description="The premium paid for the policy.")
    policy_year: int = strawberry.field(description="The policy year (1 = the first year).")
    percent: Decimal = strawberry.field(
        description="The product's surrender-value percentage for that year."
    )
    account: str | None = strawberry.field(
        default=None, description="On a surrender: the chosen account, masked."
    )


@strawberry.type(description="Contact details as a CONTACT change shows them, masked.")
class ContactDetails:
    phone: str | None = strawberry.field(description="Mobile phone, masked; null: not changed.")
    email: str | None = strawberry.field(description="E-mail, masked; null: not changed.")
    address: str | None = strawberry.field(description="Postal address, masked; null: not changed.")


@strawberry.type(description="One installment of a re-cut premium schedule.")
class RecutInstallment:
    due_date: date = strawberry.field(description="Due date (Asia/Shanghai).")
    amount: Money = strawberry.field(description="Amount due.")


@strawberry.type(description="A payment-frequency change: from what, to what, the new schedule.")
class FrequencyChange:
    previous: PaymentFrequency = strawberry.field(description="The frequency before.")
    frequency: PaymentFrequency = strawberry.field(description="The new frequency.")
    owed: Money = strawberry.field(description="The premium still owed, re-cut (unchanged).")
    installments: list[RecutInstallment] = strawberry.field(
        description="The unpaid installments after the change, the first due first."
    )


@strawberry.type(description="A reinstatement (复效): what is owed, and the health declaration.")
class Reinstatement:
    premiums: Money = strawberry.field(description="The overdue premiums.")
    interest: Money = strawberry.field(description="Interest on them at the product's rate.")
    total: Money = strawberry.field(description="What one installment asks: premiums + interest.")
    lapsed_on: date = strawberry.field(description="The day the policy lapsed (counted).")
    healthy_since_lapse: bool = strawberry.field(
        description="Declared: no change of health since the lapse."
    )
    notes: str = strawberry.field(description="The declaration's notes.")


@strawberry.type(description="A family member added to a health policy, and what it costs.")
class AddedMember:
    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_holder: str = strawberry.field(description="SPOUSE, CHILD or PARENT.")
    premium: Money = strawberry.field(
        description="The premium difference for the rest of the period."
    )


@strawberry.type(description="One coverage's amount before and after a sum-insured change.")
class CoverageAmountChange:
    code: str = strawberry.field(description="The coverage's code on the policy.")
    name: str = strawberry.field(description="The coverage's name.")
    before: Money = strawberry.field(description="Its sum insured before.")
    after: Money = strawberry.field(description="Its sum insured from the effective date.")


@strawberry.type(description="A sum-insured change (变更保额): the amounts and the premium.")
class SumInsuredChange:
    sum_insured_before: Money = strawberry.field(description="The policy's sum insured before.")
    sum_insured_after: Money = strawberry.field(description="The new sum insured.")
    term_premium_before: Money = strawberry.field(
        description="The policy's premium for its term before the change."
    )
    difference: Money = strawberry.field(
        description="The premium difference for the rest of the term, pro rata by day: "
        "positive is due from the holder (an increase, asked as `premiumDue` once "
        "approved), negative is refunded (a decrease)."
    )
    effective_date: date = strawberry.field(
        description="The first day the new sum applies (Asia/Shanghai); for an increase "
        "fixed when its premium is paid (the next day)."
    )
    days_left: int = strawberry.field(description="Days of the term from the effective date.")
    term_days: int = strawberry.field(description="Days of the whole term.")
    coverages: list[CoverageAmountChange] = strawberry.field(
        description="Each coverage's amount before and after (scaled with the sum)."
    )
    refunds: list[str] = strawberry.field(
        description="Refund numbers of the premium given back (once queued)."
    )


@strawberry.type(description="A family member removed from a health policy (减少被保险人).")
class RemovedMember:
    name: str = strawberry.field(description="Full name.")
    id_number: str = strawberry.field(description="ID-card number, masked.")
    relation_to_holder: str = strawberry.field(description="SPOUSE, CHILD or PARENT.")
    refund: Money = strawberry.field(
        description="The member's unearned premium refunded (pro rata from the effective date)."
    )
    effective_date: date = strawberry.field(
        description="The first day the member is no longer covered (the next day)."
    )
    refunds: list[str] = strawberry.field(description="Refund numbers of the premium given back.")


@strawberry.type(description="A change of a policy (批单) with its values before and after.")
class Endorsement(relay.Node):
    """The holder and the insured persons of its policy see it; staff who read or serve
    policies see all."""

    id: relay.NodeID[str]
    number: str = strawberry.field(description="The readable number, e.g. `PD20261202000001`.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to act on it.")
    type: m.EndorsementType = strawberry.field(description="What it changes.")
    type_name: str = strawberry.field(description="What it changes, in Chinese.")
    status: m.EndorsementStatus = strawberry.field(description="Where it stands.")
    status_name: str = strawberry.field(description="Where it stands, in Chinese.")
    requested_at: datetime = strawberry.field(description="When the holder asked.")
    effective_date: date | None = strawberry.field(
        description="The day it took effect (Asia/Shanghai); null until EFFECTIVE."
    )
    consent_required: bool = strawberry.field(
        description="The insured's consent is needed (the holder is not the insured)."
    )
    consented_at: datetime | None = strawberry.field(
        description="When the insured's consent was recorded (in the app, or checked by staff)."
    )
    reason: str = strawberry.field(description="The reviewer's reason (approval or rejection).")
    amount: Money | None = strawberry.field(
        description="Money the change moves (a surrender value); null when none."
    )
    beneficiaries_before: list[EndorsementBeneficiary] | None = strawberry.field(
        description="BENEFICIARIES: the beneficiaries before; null for other types."
    )
    beneficiaries_after: list[EndorsementBeneficiary] | None = strawberry.field(
        description="BENEFICIARIES: the beneficiaries asked for; null for other types."
    )
    surrender: SurrenderValue | None = strawberry.field(
        description="SURRENDER: the value confirmed and where it goes; null for other types."
    )
    contact_before: ContactDetails | None = strawberry.field(
        description="CONTACT: the details changed, as they were (masked); null for other types."
    )
    contact_after: ContactDetails | None = strawberry.field(
        description="CONTACT: the details changed, as asked for (masked); null for other types."
    )
    payment_frequency: FrequencyChange | None = strawberry.field(
        description="PAYMENT_FREQUENCY: the new schedule; null for other types."
    )
    reinstatement: Reinstatement | None = strawberry.field(
        description="REINSTATEMENT: what is owed and the health declaration; null otherwise."
    )
    insured_member: AddedMember | None = strawberry.field(
        description="INSURED_MEMBER: the member added and the premium difference; null otherwise."
    )
    sum_insured: SumInsuredChange | None = strawberry.field(
        default=None,
        description="SUM_INSURED: the amounts before/after and the premium difference; "
        "null otherwise.",
    )
    removed_member: RemovedMember | None = strawberry.field(
        default=None,
        description="MEMBER_REMOVAL: the member removed and the refund; null otherwise.",
    )
    timeline: list[EndorsementTimelineEntry] = strawberry.field(
        description="What happened, oldest first."
    )
    policy_id: strawberry.Private[uuid.UUID]
    row_values: strawberry.Private[dict[str, Any]]

    @strawberry.field(
        description="PAYMENT_ACCOUNT: the accounts before and after, and the page where the "
        "holder signs the withholding agreement; null for other types."
    )
    async def payment_account(
        self, info: Info
    ) -> (
        Annotated[PaymentAccountChange, strawberry.lazy("schema.policy_service.payment_accounts")]
        | None
    ):
        from schema.policy_service.payment_accounts import payment_account_change

        return await payment_account_change(info, uuid.UUID(str(self.id)), self.row_values)

    @strawberry.field(description="The policy it changes.")
    async def policy(
        self, info: Info
    ) -> Annotated[Policy, strawberry.lazy("schema.policies.types")] | None:
        from schema.policies.types import Policy

        row = (
            await visible_policies(info.context.actor)
            .filter(id=self.policy_id)
            .select_related("product")
            .first()
        )
        return Policy.from_model(row, info.context) if row else None

    @strawberry.field(
        description="The premium to pay for this change to take effect (pay it with "
        "`createPremiumPayment`); null when it asks for none or is not approved yet."
    )
    async def premium_due(
        self, info: Info
    ) -> Annotated[PremiumInstallment, strawberry.lazy("schema.policies.types")] | None:
        from schema.policies.types import PremiumInstallment

        row = await PolicyInstallment.filter(endorsement_id=self.id).first()
        if row is None:
            return None
        policy = await visible_policies(info.context.actor).filter(id=row.policy_id).first()
        return PremiumInstallment.from_model(row, policy.status) if policy else None

    @classmethod
    def from_model(cls, row: m.Endorsement, events: list[m.EndorsementEvent]) -> Endorsement:
        def people(values: dict[str, Any]) -> list[EndorsementBeneficiary] | None:
            if row.type is not m.EndorsementType.BENEFICIARIES:
                return None
            return [
                EndorsementBeneficiary(
                    name=p["name"],
                    id_number=p["idNumber"],
                    relation_to_insured=p["relation"],
                    share_percent=Decimal(p["share"]),
                )
                for p in values.get("beneficiaries", [])
            ]

        value = None
        if row.type is m.EndorsementType.SURRENDER and row.after:
            value = SurrenderValue(
                amount=cny(Decimal(row.after["amount"])),
                premium_paid=cny(Decimal(row.after["premiumPaid"])),
                policy_year=int(row.after["policyYear"]),
                percent=Decimal(row.after["percent"]),
                account=row.after.get("account"),
            )

        def details(values: dict[str, Any]) -> ContactDetails | None:
            if row.type is not m.EndorsementType.CONTACT:
                return None
            return ContactDetails(
                phone=values.get("phone"), email=values.get("email"), address=values.get("address")
            )

        recut = None
        if row.type is m.EndorsementType.PAYMENT_FREQUENCY and row.after:
            recut = FrequencyChange(
                previous=PaymentFrequency(row.after["previous"]),
                frequency=PaymentFrequency(row.after["frequency"]),
                owed=cny(Decimal(row.after["owed"])),
                installments=[
                    RecutInstallment(due_date=date.fromisoformat(d), amount=cny(Decimal(a)))
                    for d, a in row.after["installments"]
                ],
            )
        revived = None
        if row.type is m.EndorsementType.REINSTATEMENT and row.after:
            revived = Reinstatement(
                premiums=cny(Decimal(row.after["premiums"])),
                interest=cny(Decimal(row.after["interest"])),
                total=cny(Decimal(row.after["total"])),
                lapsed_on=date.fromisoformat(row.after["lapsedOn"]),
                healthy_since_lapse=bool(row.after["healthy"]),
                notes=row.after["notes"],
            )
        added = None
        if row.type is m.EndorsementType.INSURED_MEMBER and row.after:
            added = AddedMember(
                name=row.after["name"],
                id_number=row.after["idNumber"],
                relation_to_holder=row.after["relation"],
                premium=cny(Decimal(row.after["premium"])),
            )
        return cls(
            sum_insured=_sum_insured(row),
            removed_member=_removed(row),
            id=str(row.id),
            number=row.number,
            version=row.version,
            type=row.type,
            type_name=TYPE_NAMES[row.type],
            status=row.status,
            status_name=STATUS_NAMES[row.status],
            requested_at=local_time(row.created_at),
            effective_date=row.effective_date,
            consent_required=row.consent_required,
            consented_at=local_time(row.consented_at) if row.consented_at else None,
            reason=row.reason,
            amount=cny(row.amount) if row.amount is not None else None,
            beneficiaries_before=people(row.before),
            beneficiaries_after=people(row.after),
            surrender=value,
            contact_before=details(row.before),
            contact_after=details(row.after),
            payment_frequency=recut,
            reinstatement=revived,
            insured_member=added,
            timeline=[
                EndorsementTimelineEntry(
                    at=local_time(e.created_at),
                    action=e.action,
                    status=e.to_status,
                    note=e.note,
                    by_staff=e.actor_kind == "staff",
                )
                for e in sorted(events, key=lambda e: e.created_at)
            ],
            policy_id=row.policy_id,
            row_values={
                "type": row.type,
                "status": row.status,
                "before": row.before,
                "after": row.after,
                "requested_by": row.requested_by_id,
            },
        )


def _sum_insured(row: m.Endorsement) -> SumInsuredChange | None:
    if row.type is not m.EndorsementType.SUM_INSURED or not row.after:
        return None
    before, after = row.before, row.after
    was = {c["code"]: Decimal(c["sumInsured"]) for c in before.get("coverages", [])}
    return SumInsuredChange(
        sum_insured_before=cny(Decimal(before["sumInsured"])),
        sum_insured_after=cny(Decimal(after["sumInsured"])),
        term_premium_before=cny(Decimal(before["premium"])),
        difference=cny(Decimal(after["difference"])),
        effective_date=date.fromisoformat(after["effectiveDate"]),
        days_left=int(after["daysLeft"]),
        term_days=int(after["termDays"]),
        coverages=[
            CoverageAmountChange(
                code=c["code"],
                name=c["name"],
                before=cny(was.get(c["code"], Decimal(0))),
                after=cny(Decimal(c["sumInsured"])),
            )
            for c in after.get("coverages", [])
        ],
        refunds=list(after.get("refunds", [])),
    )


def _removed(row: m.Endorsement) -> RemovedMember | None:
    if row.type is not m.EndorsementType.MEMBER_REMOVAL or not row.after:
        return None
    after = row.after
    return RemovedMember(
        name=after["name"],
        id_number=after["idNumber"],
        relation_to_holder=after["relation"],
        refund=cny(Decimal(after["refund"])),
        effective_date=date.fromisoformat(after["effectiveDate"]),
        refunds=list(after.get("refunds", [])),
    )


async def endorsement_view(row: m.Endorsement) -> Endorsement:
    events = await m.EndorsementEvent.filter(endorsement_id=row.id)
    return Endorsement.from_model(row, events)


async def endorsement_node(actor: Actor, object_id: uuid.UUID) -> Endorsement | None:
    """As `Policy.endorsements`: the holder's and insured's own, staff who read policies."""
    row = await visible_endorsements(actor).filter(id=object_id).first()
    return await endorsement_view(row) if row else None


async def policy_endorsements(
    actor: Actor, policy_id: uuid.UUID, first: int | None, after: str | None
) -> Connection[Endorsement]:
    """A policy's history of changes, the newest first (for `Policy.endorsements`)."""
    rows = (
        visible_endorsements(actor)
        .filter(policy_id=policy_id)
        .order_by("-created_at")
        .prefetch_related("events")
    )
    return await paginate(
        rows,
        lambda row: Endorsement.from_model(row, list(row.events)),
        first=first,
        after=after,
        last=None,
        before=None,
    )


@strawberry.type(description="A change of a policy after an action, and its policy.")
class EndorsementPayload:
    endorsement: Endorsement | None = strawberry.field(
        default=None, description="The endorsement as saved; null when refused."
    )
    policy: Annotated[Policy, strawberry.lazy("schema.policies.types")] | None = strawberry.field(
        default=None, description="Its policy as it is now (status, beneficiaries)."
    )
    errors: list[EndorsementError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The surrender value of a policy today, or why there is none.")
class SurrenderQuoteResult:
    quote: SurrenderValue | None = strawberry.field(
        default=None, description="The value to confirm in `requestPolicyChange`; null if none."
    )
    errors: list[EndorsementError_] = strawberry.field(
        description="Why the policy cannot be surrendered now (e.g. `COOLING_OFF`)."
    )


@strawberry.input(description="One beneficiary as the holder names them.")
class NewBeneficiaryInput:
    name: str = strawberry.field(description="Full name (≤ 64 字).")
    id_number: str = strawberry.field(description="18-character resident ID number.")
    relation_to_insured: str = strawberry.field(
        description="Relation to the insured: SPOUSE, CHILD, PARENT or OTHER."
    )
    share_percent: Amount = strawberry.field(
        description="Share in percent, e.g. `50.00`; all shares sum to 100."
    )


@strawberry.input(description="Change the beneficiaries (变更受益人): the whole new list.")
class BeneficiaryChangeInput:
    beneficiaries: list[NewBeneficiaryInput] = strawberry.field(
        description="The new beneficiaries (1–10), replacing the present ones."
    )


@strawberry.input(description="Surrender the policy (退保) for the quoted value.")
class SurrenderChangeInput:
    confirmed_amount: Amount = strawberry.field(
        description="The value `surrenderQuote` showed; refused as `AMOUNT_CHANGED` if it "
        "differs from today's."
    )
    provider: TransferProvider | None = strawberry.field(
        default=None,
        description="Where the value goes: ALIPAY, WECHAT, BANK or SANDBOX (development); "
        "omitted: the payout account on file (`Policy.accountOnFile.payout`).",
    )
    account: str | None = strawberry.field(
        default=None, description="The Alipay account; for WeChat the mini-program login."
    )
    bank_card: BankCardInput | None = strawberry.field(
        default=None, description="BANK: a card in the holder's own name."
    )


@strawberry.input(
    description="Change my contact details (变更联系方式): any of phone, e-mail, address."
)
class ContactChangeInput:
    phone: str | None = strawberry.field(
        default=None,
        description="A new mobile number: first send it a code with `requestLoginCode`.",
    )
    sms_code: str | None = strawberry.field(
        default=None, description="The 6-digit code sent to the new phone (with `phone`)."
    )
    email: str | None = strawberry.field(default=None, description="A new e-mail (≤ 128).")
    address: str | None = strawberry.field(
        default=None, description="A new postal address (≤ 200 字)."
    )


@strawberry.input(description="Change how often premium is paid (变更缴费方式).")
class FrequencyChangeInput:
    frequency: PaymentFrequency = strawberry.field(
        description="The new frequency, from the next unpaid installment to the end of cover."
    )


@strawberry.input(description="Reinstate my lapsed policy (复效), with a health declaration.")
class ReinstatementChangeInput:
    healthy_since_lapse: bool = strawberry.field(
        description="The insured's health has not changed since the policy lapsed."
    )
    notes: str = strawberry.field(
        default="", description="What changed (required when not healthy; ≤ 500 字)."
    )


@strawberry.input(description="Add a family member to my family health policy (增加被保险人).")
class InsuredMemberChangeInput:
    name: str = strawberry.field(description="Full name (≤ 64 字).")
    id_number: str = strawberry.field(description="18-character resident ID number.")
    relation_to_holder: str = strawberry.field(description="SPOUSE, CHILD or PARENT.")


@strawberry.input(description="Change the sum insured (变更保额) within the product's limits.")
class SumInsuredChangeInput:
    sum_insured: Amount = strawberry.field(
        description="The new sum insured in yuan, e.g. `300000.00`: an increase is reviewed "
        "(underwriting) and its premium difference paid; a decrease is refunded. Either "
        "applies from the next day."
    )


@strawberry.input(description="Remove a family member from my family health policy (减少被保险人).")
class MemberRemovalChangeInput:
    insured_person_id: relay.GlobalID = strawberry.field(
        description="The member (InsuredPerson) to remove; not the policy's main insured."
    )


@strawberry.input(description="Ask for one change of a policy of which I am the holder.")
class RequestPolicyChangeInput:
    policy_id: relay.GlobalID = strawberry.field(description="The policy (Policy).")
    idempotency_key: str = strawberry.field(
        description="8–128 characters; a retry with the same key and input gets the same answer."
    )
    beneficiaries: BeneficiaryChangeInput | None = strawberry.field(
        default=None, description="Change the beneficiaries. Give exactly one change."
    )
    surrender: SurrenderChangeInput | None = strawberry.field(
        default=None, description="Surrender the policy. Give exactly one change."
    )
    contact: ContactChangeInput | None = strawberry.field(
        default=None, description="Change my contact details. Give exactly one change."
    )
    payment_frequency: FrequencyChangeInput | None = strawberry.field(
        default=None, description="Change the payment frequency. Give exactly one change."
    )
    reinstatement: ReinstatementChangeInput | None = strawberry.field(
        default=None, description="Reinstate a lapsed policy. Give exactly one change."
    )
    insured_member: InsuredMemberChangeInput | None = strawberry.field(
        default=None,
        description="Add a family member (the premium difference is then due as "
        "`premiumDue`). Give exactly one change.",
    )
    sum_insured: SumInsuredChangeInput | None = strawberry.field(
        default=None, description="Change the sum insured. Give exactly one change."
    )
    member_removal: MemberRemovalChangeInput | None = strawberry.field(
        default=None,
        description="Remove a family member (the unearned premium is refunded). Give "
        "exactly one change.",
    )
    payment_account: (
        Annotated[
            PaymentAccountChangeInput, strawberry.lazy("schema.policy_service.payment_accounts")
        ]
        | None
    ) = strawberry.field(
        default=None,
        description="Change the withholding agreement and/or payout account on file. Give "
        "exactly one change.",
    )


@strawberry.input(description="The insured's answer to a change that needs their consent.")
class ConsentToPolicyChangeInput:
    endorsement_id: relay.GlobalID = strawberry.field(description="The endorsement.")
    agree: bool = strawberry.field(description="True: I agree; false: I refuse (it is rejected).")
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a stale one is refused as CONFLICT."
    )


@strawberry.input(description="Withdraw a change I asked for, before it is approved.")
class CancelPolicyChangeInput:
    endorsement_id: relay.GlobalID = strawberry.field(description="The endorsement.")
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a stale one is refused as CONFLICT."
    )


@strawberry.input(description="Staff: a decision on a change in review.")
class PolicyChangeDecisionInput:
    endorsement_id: relay.GlobalID = strawberry.field(description="The endorsement.")
    expected_version: int = strawberry.field(
        description="The version you saw; if someone acted first you get CONFLICT."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why (≤ 500 字): required to reject, and to approve a change whose "
        "insured's written consent you checked.",
    )


def _choice(input: SurrenderChangeInput) -> AccountChoice:
    return AccountChoice(
        provider=input.provider.value if input.provider else "",
        account=input.account,
        bank_card=input.bank_card.to_card() if input.bank_card else None,
    )


def _change(input: RequestPolicyChangeInput) -> flow.ChangeRequest:
    people = None
    if input.beneficiaries is not None:
        people = [
            NewBeneficiary(
                name=p.name[:200],
                id_number=p.id_number[:64],
                relation_to_insured=p.relation_to_insured[:16],
                share_percent=p.share_percent,
            )
            for p in input.beneficiaries.beneficiaries[: MAX_BENEFICIARY_INPUTS + 1]
        ]
    wish = None
    if input.surrender is not None:
        wish = flow.SurrenderRequest(input.surrender.confirmed_amount, _choice(input.surrender))
    new_contact = None
    if input.contact is not None:
        c = input.contact
        new_contact = contact.NewContact(
            phone=c.phone[:32] if c.phone is not None else None,
            sms_code=c.sms_code[:16] if c.sms_code is not None else None,
            email=c.email[:256] if c.email is not None else None,
            address=c.address[:400] if c.address is not None else None,
        )
    return flow.ChangeRequest(
        node_uuid(input.policy_id, "Policy"),
        people,
        wish,
        new_contact,
        input.payment_frequency.frequency if input.payment_frequency else None,
        reinstatement.HealthDeclaration(
            input.reinstatement.healthy_since_lapse, input.reinstatement.notes[:1000]
        )
        if input.reinstatement
        else None,
        members.NewMember(
            input.insured_member.name[:200],
            input.insured_member.id_number[:64],
            input.insured_member.relation_to_holder[:16],
        )
        if input.insured_member
        else None,
        sum_insured=input.sum_insured.sum_insured if input.sum_insured else None,
        member_removal=node_uuid(input.member_removal.insured_person_id, "InsuredPerson")
        if input.member_removal
        else None,
        payment_account=input.payment_account.to_wish() if input.payment_account else None,
    )


async def _payload(info: Info, call: Any) -> EndorsementPayload:
    from schema.policies.types import Policy

    try:
        row = await call
    except (EndorsementError, IdempotencyError) as error:
        return EndorsementPayload(errors=payload_errors(error, EndorsementError_))
    policy = (
        await visible_policies(info.context.actor)
        .filter(id=row.policy_id)
        .select_related("product")
        .first()
    )
    return EndorsementPayload(
        endorsement=await endorsement_view(row),
        policy=Policy.from_model(policy, info.context) if policy else None,
        errors=[],
    )


def _id(value: relay.GlobalID) -> uuid.UUID:
    return node_uuid(value, "Endorsement")


@strawberry.type
class EndorsementQueries:
    @strawberry.field(
        description="The surrender value of a policy I hold, as of today: shown before I "
        "confirm a surrender.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def surrender_quote(
        self,
        info: Info,
        policy_id: Annotated[relay.GlobalID, strawberry.argument(description="The policy.")],
    ) -> SurrenderQuoteResult:
        try:
            policy = await flow.holders_policy(info.context.actor, node_uuid(policy_id, "Policy"))
            quoted = await surrender.quote(policy)
        except EndorsementError as error:
            return SurrenderQuoteResult(errors=payload_errors(error, EndorsementError_))
        return SurrenderQuoteResult(
            quote=SurrenderValue(
                amount=cny(quoted.amount),
                premium_paid=cny(quoted.premium_paid),
                policy_year=quoted.policy_year,
                percent=quoted.percent,
            ),
            errors=[],
        )

    @strawberry.field(
        description="Staff (POLICY_SERVICE): changes waiting for review, the oldest first.",
        permission_classes=staff_only(Permission.POLICY_SERVICE),
    )
    async def endorsement_review_queue(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[Endorsement]:
        rows = flow.review_queue().prefetch_related("events")
        return await paginate(
            rows,
            lambda row: Endorsement.from_model(row, list(row.events)),
            first=first,
            after=after,
            last=None,
            before=None,
        )


@strawberry.type
class EndorsementMutations:
    @strawberry.mutation(
        description="Ask for a change of a policy I hold (保全): exactly one of "
        "`beneficiaries`, `surrender`, `contact`, `paymentFrequency`, `reinstatement`, "
        "`insuredMember`, `sumInsured`, `memberRemoval` or `paymentAccount`. "
        "A beneficiary "
        "change waits for the insured's consent when I am not the insured; a surrender "
        "ends the policy at once and its value is paid to the account I chose; contact "
        "details and the payment frequency change at once.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def request_policy_change(
        self,
        info: Info,
        input: Annotated[
            RequestPolicyChangeInput,
            strawberry.argument(description="The policy, the key, and the one change."),
        ],
    ) -> EndorsementPayload:
        services = info.context.services
        return await _payload(
            info,
            flow.request_policy_change(
                services,
                services.transfer_providers,
                info.context.actor,
                _change(input),
                input.idempotency_key,
            ),
        )

    @strawberry.mutation(
        description="As the insured: agree to (or refuse) a change the holder asked for "
        "that needs my consent; agreed, it takes effect.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def consent_to_policy_change(
        self,
        info: Info,
        input: Annotated[
            ConsentToPolicyChangeInput,
            strawberry.argument(description="The endorsement and my answer."),
        ],
    ) -> EndorsementPayload:
        return await _payload(
            info,
            flow.consent(
                info.context.services.pii,
                info.context.actor,
                _id(input.endorsement_id),
                input.agree,
                input.expected_version,
            ),
        )

    @strawberry.mutation(
        description="Withdraw a change I asked for, before it is approved.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def cancel_policy_change(
        self,
        info: Info,
        input: Annotated[
            CancelPolicyChangeInput,
            strawberry.argument(description="The change I asked for and want to withdraw."),
        ],
    ) -> EndorsementPayload:
        return await _payload(
            info,
            flow.cancel(info.context.actor, _id(input.endorsement_id), input.expected_version),
        )

    @strawberry.mutation(
        description="Staff (POLICY_SERVICE): approve a change in review; it takes effect.",
        permission_classes=staff_only(Permission.POLICY_SERVICE),
    )
    async def approve_policy_change(
        self,
        info: Info,
        input: Annotated[
            PolicyChangeDecisionInput,
            strawberry.argument(
                description="The change to approve, the version you saw, and why (required "
                "when you checked the insured's written consent)."
            ),
        ],
    ) -> EndorsementPayload:
        return await _payload(
            info,
            flow.approve(
                info.context.services.pii,
                info.context.actor,
                _id(input.endorsement_id),
                input.expected_version,
                input.reason,
            ),
        )

    @strawberry.mutation(
        description="Staff (POLICY_SERVICE): reject a change in review, with the reason.",
        permission_classes=staff_only(Permission.POLICY_SERVICE),
    )
    async def reject_policy_change(
        self,
        info: Info,
        input: Annotated[
            PolicyChangeDecisionInput,
            strawberry.argument(
                description="The change to reject, the version you saw, and the reason the "
                "customer is told."
            ),
        ],
    ) -> EndorsementPayload:
        return await _payload(
            info,
            flow.reject(
                info.context.actor,
                _id(input.endorsement_id),
                input.expected_version,
                input.reason,
            ),
        )
