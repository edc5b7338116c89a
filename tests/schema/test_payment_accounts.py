"""The payment-account change (变更缴费/领款账户) through GraphQL against the fake Alipay
gateway: a withholding agreement asked for, signed on Alipay's page (our signature
checked by the fake), its signed notification putting the change into effect; forged,
tampered and unknown notifications refused and changing nothing; a repeated
notification with one effect; a payout account alone effective at once and paid to by a
surrender; the agreement ended at Alipay turning automatic renewal off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.jobs import job_deps
from api.services import Services
from models.claims import ClaimStatus
from models.endorsements import Endorsement, EndorsementStatus, ProductServiceTerms
from models.notifications import OutboxEvent
from models.payments import Payout, PayoutStatus
from models.policies import Policy, PolicyStatus
from models.policy_accounts import AgreementStatus, CollectionAgreement, PolicyAccount
from tests.conftest import postgres_only
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_product,
)
from tests.fakes.alipay import AlipayRefusal, FakeAlipay
from tests.graphql import gql
from tests.payment_account_helpers import (
    AUTO,
    CANCEL,
    CARD,
    CHANGE,
    ENDORSEMENT,
    ON_FILE,
    alipay_settings,
    change,
    gid,
    notify,
    running_fake_alipay,
)
from workflows.payments.payouts import pay_out


@pytest.fixture
async def fake_alipay() -> AsyncIterator[FakeAlipay]:
    async with running_fake_alipay() as fake:
        yield fake


@pytest.fixture
def settings_overrides(fake_alipay: FakeAlipay) -> dict[str, Any]:
    return alipay_settings(fake_alipay)


BANK_PAYOUT = {
    "provider": "BANK",
    "bankCard": {"holderName": "张伟", "bankName": "招商银行", "cardNumber": CARD},
}


async def test_an_agreement_signed_at_alipay_puts_the_change_into_effect_once(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    other = await customer_token(services, await make_customer(services, name="李四"))
    policy = await make_policy(services, holder)

    wrong_name = await change(
        client,
        token,
        policy,
        "acct-0001-abcdef",
        {"payout": BANK_PAYOUT | {"bankCard": BANK_PAYOUT["bankCard"] | {"holderName": "李四"}}},
    )
    assert wrong_name["errors"][0]["code"] == "INVALID_ACCOUNT"
    assert not await Endorsement.exists(policy_id=policy.id)

    asked = await change(
        client, token, policy, "acct-0002-abcdef", {"collection": "ALIPAY", "payout": BANK_PAYOUT}
    )
    assert asked["errors"] == []
    endorsement = asked["endorsement"]
    assert endorsement["type"] == "PAYMENT_ACCOUNT" and endorsement["status"] == "REQUESTED"
    shown = endorsement["paymentAccount"]
    assert shown["collectionAfter"] == "支付宝代扣" and shown["payoutAfter"] == "招商银行 尾号0010"
    assert shown["agreementStatus"] == "PENDING" and shown["signUrl"]
    assert CARD not in str(asked)  # the card number is sealed, never shown
    # Nothing is on file before the customer signs.
    assert asked["policy"]["accountOnFile"] == {
        "collection": None,
        "payout": None,
        "autoRenewal": False,
    }
    # Someone else sees neither the sign page nor the policy's accounts.
    theirs = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=other)
    assert theirs["data"]["node"] is None

    # Alipay checks our signature on the page: a URL changed on the way is refused.
    with pytest.raises(AlipayRefusal):
        fake_alipay.sign_agreement(shown["signUrl"].replace("DK", "DX", 1))
    signed = fake_alipay.sign_agreement(shown["signUrl"], alipay_user_id="2088102177846880")
    genuine = fake_alipay.agreement_notification(signed.agreement_no)

    # Forged or tampered: refused ("fail": Alipay sends again), nothing changes.
    tampered = genuine | {"agreement_no": "20261202999999999999"}
    assert (await notify(client, fake_alipay, tampered)).text == "fail"
    unsigned = {k: v for k, v in genuine.items() if k != "sign"}
    assert (await notify(client, fake_alipay, unsigned)).text == "fail"
    unknown = fake_alipay.sign_notification(genuine | {"external_agreement_no": "DK000"})
    assert (await notify(client, fake_alipay, unknown)).text == "fail"
    other_app = fake_alipay.sign_notification(genuine | {"app_id": "2021000000009999"})
    assert (await notify(client, fake_alipay, other_app)).text == "fail"
    row = await Endorsement.get(policy_id=policy.id)
    assert row.status is EndorsementStatus.REQUESTED
    assert not await CollectionAgreement.exists(live_key=str(policy.id))

    assert (await notify(client, fake_alipay, genuine)).text == "success"
    row = await Endorsement.get(policy_id=policy.id)
    assert row.status is EndorsementStatus.EFFECTIVE
    version = row.version
    agreement = await CollectionAgreement.get(live_key=str(policy.id))
    assert agreement.agreement_no == signed.agreement_no
    assert agreement.status is AgreementStatus.ACTIVE
    on_file = await gql(client, ON_FILE, {"id": gid("Policy", policy.id)}, token=token)
    assert on_file["data"]["node"]["accountOnFile"] == {
        "collection": "支付宝代扣 159******20",
        "payout": "招商银行 尾号0010",
        "autoRenewal": False,
    }
    # A repeated notification (Alipay retries): answered, one effect.
    again = fake_alipay.agreement_notification(signed.agreement_no)
    assert (await notify(client, fake_alipay, again)).text == "success"
    assert (await Endorsement.get(id=row.id)).version == version
    effective = await OutboxEvent.filter(event_type="endorsement.effective", entity_id=row.id)
    assert len(effective) == 1
    view = await gql(client, ENDORSEMENT, {"id": endorsement["id"]}, token=token)
    assert view["data"]["node"]["paymentAccount"] == {"agreementStatus": "ACTIVE", "signUrl": None}
    actions = [e["action"] for e in view["data"]["node"]["timeline"]]
    assert actions == ["request", "sign_requested", "sign", "effect"]
    # Others do not see the accounts on file.
    theirs = await gql(client, ON_FILE, {"id": gid("Policy", policy.id)}, token=other)
    assert theirs["data"]["node"] is None


async def test_a_new_agreement_replaces_the_old_one_which_is_unsigned_at_alipay(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    numbers = []
    for key in ("acct-0011-abcdef", "acct-0012-abcdef"):
        asked = await change(client, token, policy, key, {"collection": "ALIPAY"})
        url = asked["endorsement"]["paymentAccount"]["signUrl"]
        signed = fake_alipay.sign_agreement(url)
        notice = fake_alipay.agreement_notification(signed.agreement_no)
        assert (await notify(client, fake_alipay, notice)).text == "success"
        numbers.append(signed.agreement_no)
    first, second = numbers
    assert fake_alipay.agreements[first].status == "UNSIGN"  # we ended it at Alipay
    assert fake_alipay.agreements[second].status == "NORMAL"
    live = await CollectionAgreement.get(live_key=str(policy.id))
    assert live.agreement_no == second
    assert (await CollectionAgreement.get(agreement_no=first)).status is AgreementStatus.ENDED


async def test_a_change_withdrawn_before_signing_keeps_no_agreement(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    asked = await change(client, token, policy, "acct-0021-abcdef", {"collection": "ALIPAY"})
    url = asked["endorsement"]["paymentAccount"]["signUrl"]
    cancelled = await gql(
        client, CANCEL, {"input": {"endorsementId": asked["endorsement"]["id"]}}, token=token
    )
    assert cancelled["data"]["cancelPolicyChange"]["endorsement"]["status"] == "CANCELLED"
    signed = fake_alipay.sign_agreement(url)  # signed late, on a page left open
    notice = fake_alipay.agreement_notification(signed.agreement_no)
    assert (await notify(client, fake_alipay, notice)).text == "success"
    assert not await CollectionAgreement.exists(live_key=str(policy.id))
    assert fake_alipay.agreements[signed.agreement_no].status == "UNSIGN"


async def test_a_payout_account_alone_is_on_file_at_once(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    done = await change(
        client,
        token,
        policy,
        "acct-0031-abcdef",
        {"payout": {"provider": "ALIPAY", "account": "zhangwei@example.cn"}},
    )
    assert done["errors"] == []
    assert done["endorsement"]["status"] == "EFFECTIVE"
    assert done["policy"]["accountOnFile"]["payout"] == "支付宝 zh***@example.cn"
    sealed = await PolicyAccount.get(policy_id=policy.id)
    assert sealed.payout_encrypted and "zhangwei" not in sealed.payout_encrypted
    empty = await change(client, token, policy, "acct-0032-abcdef", {})
    assert empty["errors"][0]["code"] == "REQUIRED"


async def test_auto_renewal_needs_an_agreement_and_ends_with_it(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder, product=await make_product(renewable=True))
    turn_on = {"input": {"policyId": gid("Policy", policy.id), "enabled": True}}
    refused = (await gql(client, AUTO, turn_on, token=token))["data"]["setAutoRenewal"]
    assert refused["errors"][0]["code"] == "NO_AGREEMENT_ON_FILE"
    asked = await change(client, token, policy, "acct-0041-abcdef", {"collection": "ALIPAY"})
    signed = fake_alipay.sign_agreement(asked["endorsement"]["paymentAccount"]["signUrl"])
    await notify(client, fake_alipay, fake_alipay.agreement_notification(signed.agreement_no))
    on = (await gql(client, AUTO, turn_on, token=token))["data"]["setAutoRenewal"]
    assert on["errors"] == [] and on["policy"]["accountOnFile"]["autoRenewal"] is True

    # The customer ends the agreement in their Alipay app: auto-renewal goes with it.
    fake_alipay.end_agreement(signed.agreement_no)
    ended = fake_alipay.agreement_notification(signed.agreement_no)
    assert ended["notify_type"] == "dut_user_unsign"
    assert (await notify(client, fake_alipay, ended)).text == "success"
    account = await PolicyAccount.get(policy_id=policy.id)
    assert account.auto_renewal is False
    assert not await CollectionAgreement.exists(live_key=str(policy.id))
    assert await OutboxEvent.exists(event_type="policy.collection_agreement_ended")


async def test_payouts_of_the_policy_go_to_the_account_on_file(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    insured = await make_customer(services, name="张小伟")
    product = await make_product(cooling_off_days=15)
    await ProductServiceTerms.create(
        product=product, surrender_values=[{"year": 1, "percent": "70"}]
    )
    policy = await make_policy(services, holder, product=product)  # 600.00 paid
    alipay = {"payout": {"provider": "ALIPAY", "account": "zhangwei@example.cn"}}
    assert (await change(client, token, policy, "acct-0051-abcdef", alipay))["errors"] == []

    # A claim of the holder's with no account chosen takes the one on file; another
    # payee's claim (an insured family member) does not: the holder's account is not theirs.
    mine = await make_claim(holder, policy, ClaimStatus.PAYING, approved_amount=Decimal("800"))
    theirs = await make_claim(
        insured, policy, ClaimStatus.PAYING, approved_amount=Decimal("300"), payee_id=insured.id
    )
    await pay_out(job_deps(services))
    await mine.refresh_from_db()
    await theirs.refresh_from_db()
    assert (
        mine.payout_provider == "alipay" and mine.payout_account_masked == "支付宝 zh***@example.cn"
    )
    assert theirs.payout_provider is None
    [payout] = await Payout.filter(claim_id=mine.id)
    assert payout.status is PayoutStatus.SUCCESS and payout.amount == Decimal("800")
    [transfer] = fake_alipay.transfers.values()
    assert transfer.identity == "zhangwei@example.cn" and transfer.name == "张伟"

    # A surrender naming no account: its value goes to the account on file.
    done = await gql(
        client,
        CHANGE,
        {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": "acct-0052-abcdef",
                "surrender": {"confirmedAmount": "420.00"},
            }
        },
        token=token,
    )
    assert done["data"]["requestPolicyChange"]["errors"] == []
    await pay_out(job_deps(services))
    surrendered = await Payout.get(live_key=f"surrender:{policy.id}")
    assert surrendered.status is PayoutStatus.SUCCESS
    assert surrendered.payee_masked == "支付宝 zh***@example.cn"
    assert len(fake_alipay.transfers) == 2


async def test_a_surrender_naming_no_account_needs_one_on_file(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    product = await make_product(cooling_off_days=15)
    await ProductServiceTerms.create(
        product=product, surrender_values=[{"year": 1, "percent": "70"}]
    )
    policy = await make_policy(services, holder, product=product)
    answer = await gql(
        client,
        CHANGE,
        {
            "input": {
                "policyId": gid("Policy", policy.id),
                "idempotencyKey": "acct-0061-abcdef",
                "surrender": {"confirmedAmount": "420.00"},
            }
        },
        token=token,
    )
    [error] = answer["data"]["requestPolicyChange"]["errors"]
    assert error["code"] == "REQUIRED" and error["field"] == "surrender.provider"
    assert (await Policy.get(id=policy.id)).status is PolicyStatus.ACTIVE


@postgres_only
async def test_notifications_racing_each_other_have_one_effect(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder)
    asked = await change(
        client, token, policy, "acct-0071-abcdef", {"collection": "ALIPAY", "payout": BANK_PAYOUT}
    )
    signed = fake_alipay.sign_agreement(asked["endorsement"]["paymentAccount"]["signUrl"])
    copies = [fake_alipay.agreement_notification(signed.agreement_no) for _ in range(6)]
    answers = await asyncio.gather(*(notify(client, fake_alipay, c) for c in copies))
    assert {a.text for a in answers} == {"success"}
    row = await Endorsement.get(policy_id=policy.id)
    assert row.status is EndorsementStatus.EFFECTIVE
    assert await OutboxEvent.filter(event_type="endorsement.effective").count() == 1
    assert await CollectionAgreement.filter(status=AgreementStatus.ACTIVE).count() == 1
