"""Demo accounts on file (缴费/领款账户) and automatic renewal: 张伟's accident policy
bought online (the one whose renewal offer is open, ending in 20 days) gets

- a payout account: his 招商银行 card, by a PAYMENT_ACCOUNT change (EFFECTIVE at once);
- a withholding agreement: with Alipay configured, a second PAYMENT_ACCOUNT change waits
  for him to sign (REQUESTED, its `paymentAccount.signUrl` opens Alipay's page); without
  it (the embedded default: no Alipay to sign at), the signing is recorded as Alipay's
  signed notification would record it (``agreements.record_agreement``), so the
  agreement is on file and automatic renewal is on: reminded 10 days before the policy
  ends, charged 7 days before (the charge itself needs Alipay configured).
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from models.policies import Policy
from models.policy_accounts import CollectionAgreement
from models.policy_applications import ApplicationKind, PolicyApplication
from payments.agreements import AgreementNotification, AgreementState
from workflows.access import Actor
from workflows.payments.accounts import AccountChoice, BankCard
from workflows.policy_service import endorsements as flow
from workflows.policy_service.agreements import record_agreement
from workflows.policy_service.auto_renewal import set_auto_renewal
from workflows.policy_service.payment_account import NewPaymentAccount, agreement_provider

CARD = BankCard("张伟", "招商银行", "6225880137700010")


async def seed_accounts(services: Services) -> None:
    zhangwei = await Customer.get(phone_hash=services.pii.phone_hash("13800000001"))
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=zhangwei.id)
    bought = await PolicyApplication.filter(
        customer_id=zhangwei.id, kind=ApplicationKind.NEW, policy__number__startswith="AX"
    ).first()
    if bought is None or bought.policy_id is None:
        return  # no policy bought online (no sandbox payments outside development)
    policy = await Policy.get(id=bought.policy_id)
    await flow.request_policy_change(
        services,
        services.transfer_providers,
        me,
        flow.ChangeRequest(
            policy.id,
            payment_account=NewPaymentAccount(payout=AccountChoice("bank", bank_card=CARD)),
        ),
        "demo-account-0001",
    )
    if agreement_provider(services.transfer_providers, "alipay") is not None:
        await flow.request_policy_change(
            services,
            services.transfer_providers,
            me,
            flow.ChangeRequest(
                policy.id, payment_account=NewPaymentAccount(collection_provider="alipay")
            ),
            "demo-account-0002",
        )
        return  # he signs on Alipay's page; auto-renewal can be turned on after that
    await _signed_without_alipay(services, me, policy)
    await set_auto_renewal(me, policy.id, True)


async def _signed_without_alipay(services: Services, me: Actor, policy: Policy) -> None:
    """The agreement asked for and signed, recorded as Alipay's notification records it.
    The change is asked for through the workflow with Alipay's check skipped: there is no
    Alipay here to ask."""
    from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
    from workflows.numbering import Prefix, next_number
    from workflows.policy_service.endorsement_state import add_to_timeline
    from workflows.policy_service.payment_account import ask_for_agreement

    endorsement = await Endorsement.create(
        number=await next_number(Prefix.ENDORSEMENT),
        policy_id=policy.id,
        type=EndorsementType.PAYMENT_ACCOUNT,
        status=EndorsementStatus.REQUESTED,
        requested_by_id=me.subject_id,
        before={"collection": None, "payout": None},
        after={"collection": "支付宝代扣", "collectionProvider": "alipay", "payout": None},
        open_key=f"{policy.id}:{EndorsementType.PAYMENT_ACCOUNT}",
    )
    await add_to_timeline(
        endorsement, me, "request", None, EndorsementStatus.REQUESTED, "投保人申请自动扣款"
    )
    agreement: CollectionAgreement = await ask_for_agreement(endorsement, "alipay")
    await record_agreement(
        "alipay",
        AgreementNotification(
            external_agreement_no=agreement.external_agreement_no,
            agreement_no=f"2026{agreement.external_agreement_no[-12:]}0001",
            state=AgreementState.ACTIVE,
            app_id="demo",
            payer_id="2088102177846880",
            payer_masked="138******01",
            occurred_at=datetime.now(UTC),
        ),
    )
