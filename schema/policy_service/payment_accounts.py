"""A policy's accounts on file in GraphQL: the PAYMENT_ACCOUNT change's input and view
(with the withholding agreement's sign page while it waits to be signed),
`Policy.accountOnFile`, and `setAutoRenewal`."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from models.endorsements import EndorsementStatus, EndorsementType
from models.policy_accounts import AgreementStatus, CollectionAgreement, PolicyAccount
from schema.claims.enums import TransferProvider
from schema.claims.inputs import BankCardInput
from schema.common import node_uuid
from schema.errors import payload_errors
from schema.permissions import CUSTOMER_ONLY
from workflows.access import Actor, visible_policies
from workflows.payments.accounts import AccountChoice
from workflows.policy_service import auto_renewal, payment_account
from workflows.policy_service.endorsement_rules import EndorsementError

if TYPE_CHECKING:
    from schema.policies.types import Policy
    from schema.policy_service.endorsements import EndorsementError_

strawberry.enum(
    AgreementStatus,
    description="A withholding agreement (代扣协议): PENDING (not signed yet), ACTIVE, "
    "ENDED, or ABANDONED (its change was withdrawn before signing).",
)


class CollectionProvider(StrEnum):
    """Who collects premiums with an agreement: GraphQL shows the member names."""

    ALIPAY = "alipay"


strawberry.enum(CollectionProvider, description="Providers of withholding agreements (代扣).")


@strawberry.input(description="Where this policy's payouts (surrender, claims) go.")
class PayoutAccountInput:
    provider: TransferProvider = strawberry.field(
        description="ALIPAY, WECHAT (the mini-program login), BANK or SANDBOX (development)."
    )
    account: str | None = strawberry.field(
        default=None, description="ALIPAY: the Alipay account (≤ 100)."
    )
    bank_card: BankCardInput | None = strawberry.field(
        default=None, description="BANK: a card in the holder's own name."
    )


@strawberry.input(
    description="Change the accounts on file (变更缴费/领款账户): sign a withholding "
    "agreement for automatic premium collection, and/or set the payout account."
)
class PaymentAccountChangeInput:
    collection: CollectionProvider | None = strawberry.field(
        default=None,
        description="Sign a withholding agreement with this provider: the change waits "
        "until I sign it on the page `paymentAccount.signUrl` opens.",
    )
    payout: PayoutAccountInput | None = strawberry.field(
        default=None, description="The account this policy's payouts go to."
    )

    def to_wish(self) -> payment_account.NewPaymentAccount:
        choice = None
        if self.payout is not None:
            card = self.payout.bank_card
            choice = AccountChoice(
                provider=self.payout.provider.value,
                account=self.payout.account[:200] if self.payout.account else None,
                bank_card=card.to_card() if card else None,
            )
        return payment_account.NewPaymentAccount(
            self.collection.value if self.collection else None, choice
        )


@strawberry.type(description="A PAYMENT_ACCOUNT change: the accounts before and after.")
class PaymentAccountChange:
    collection_before: str | None = strawberry.field(
        description="The withholding agreement on file before (masked); null: none or unchanged."
    )
    collection_after: str | None = strawberry.field(
        description="The agreement asked for, e.g. `支付宝代扣`; null: not changed."
    )
    payout_before: str | None = strawberry.field(
        description="The payout account before (masked); null: none or unchanged."
    )
    payout_after: str | None = strawberry.field(
        description="The new payout account (masked); null: not changed."
    )
    agreement_status: AgreementStatus | None = strawberry.field(
        description="The new agreement: PENDING until signed, then ACTIVE; null: none asked."
    )
    sign_url: str | None = strawberry.field(
        description="While the agreement waits: the provider's page where I sign it (only "
        "for the holder who asked; freshly signed each time it is read)."
    )


async def payment_account_change(
    info: Info, endorsement_id: uuid.UUID, values: dict[str, Any]
) -> PaymentAccountChange | None:
    if values.get("type") is not EndorsementType.PAYMENT_ACCOUNT:
        return None
    before, after = values["before"], values["after"]
    agreement = await CollectionAgreement.filter(endorsement_id=endorsement_id).first()
    url = None
    actor: Actor = info.context.actor
    if (
        agreement is not None
        and agreement.status is AgreementStatus.PENDING
        and values["status"] is EndorsementStatus.REQUESTED
        and actor.subject_id == values["requested_by"]
    ):
        services = info.context.services
        provider = payment_account.agreement_provider(
            services.payment_providers, agreement.provider
        )
        if provider is not None:
            url = payment_account.sign_url(provider, agreement, services.settings.public_base_url)
    return PaymentAccountChange(
        collection_before=before.get("collection"),
        collection_after=after.get("collection"),
        payout_before=before.get("payout"),
        payout_after=after.get("payout"),
        agreement_status=agreement.status if agreement else None,
        sign_url=url,
    )


@strawberry.type(description="What is on file for a policy: shown to its holder and staff.")
class AccountOnFile:
    collection: str | None = strawberry.field(
        description="The withholding agreement premiums are collected with (masked payer), "
        "e.g. `支付宝代扣 159******20`; null: none."
    )
    payout: str | None = strawberry.field(
        description="The account its payouts go to (masked); null: none on file."
    )
    auto_renewal: bool = strawberry.field(
        description="It renews itself (自动续保): charged with the agreement 7 days before it ends."
    )


async def account_on_file(
    actor: Actor, policy_id: uuid.UUID, holder_id: uuid.UUID
) -> AccountOnFile | None:
    if not (actor.is_staff or actor.subject_id == holder_id):
        return None
    shown = await payment_account.on_file(policy_id)
    row = await PolicyAccount.get_or_none(policy_id=policy_id)
    return AccountOnFile(
        collection=shown["collection"],
        payout=shown["payout"],
        auto_renewal=bool(row and row.auto_renewal),
    )


@strawberry.input(description="Turn automatic renewal (自动续保) of a policy I hold on or off.")
class SetAutoRenewalInput:
    policy_id: relay.GlobalID = strawberry.field(description="The policy (Policy).")
    enabled: bool = strawberry.field(
        description="On needs a withholding agreement on file (a PAYMENT_ACCOUNT change)."
    )


@strawberry.type(description="The policy after `setAutoRenewal`, or why not.")
class SetAutoRenewalPayload:
    policy: Annotated[Policy, strawberry.lazy("schema.policies.types")] | None = strawberry.field(
        default=None, description="The policy, its `accountOnFile.autoRenewal` changed."
    )
    errors: list[
        Annotated[EndorsementError_, strawberry.lazy("schema.policy_service.endorsements")]
    ] = strawberry.field(default_factory=list, description="Empty on success.")


@strawberry.type
class AutoRenewalMutations:
    @strawberry.mutation(
        description="Turn automatic renewal of a policy I hold on or off. On: 10 days before "
        "it ends I am reminded, from 7 days before it ends the renewal premium is charged "
        "with my withholding agreement (once a day until paid or the policy ends).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def set_auto_renewal(
        self,
        info: Info,
        input: Annotated[
            SetAutoRenewalInput, strawberry.argument(description="The policy and on/off.")
        ],
    ) -> SetAutoRenewalPayload:
        from schema.policies.types import Policy
        from schema.policy_service.endorsements import EndorsementError_

        actor = info.context.actor
        policy_id = node_uuid(input.policy_id, "Policy")
        try:
            await auto_renewal.set_auto_renewal(actor, policy_id, input.enabled)
        except EndorsementError as error:
            return SetAutoRenewalPayload(errors=payload_errors(error, EndorsementError_))
        row = await visible_policies(actor).filter(id=policy_id).select_related("product").first()
        return SetAutoRenewalPayload(policy=Policy.from_model(row, info.context) if row else None)
