"""A death benefit paid to the beneficiaries named on the policy: the approved amount
split by their shares (to the fen, the remainder to the first), each beneficiary
choosing their own account (a bank card in their own name, or Alipay), each share paid
on its own, the claim PAID when the last share is."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from api.services import Services
from models.claims import Claim, PayoutShare
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Payout
from models.policies import Beneficiary, InsuredPerson
from models.staff import StaffRole
from tests.claims_helpers import gid, loss_input
from tests.factories import (
    customer_token,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.schema.test_claims import ASSIGN, DECIDE, REPORT, SUBMIT, do
from workflows.payments.payouts import start_chosen_payouts

SHARES = """query($id: ID!) { node(id: $id) { ... on Claim {
  status myRoles payoutAccount { account }
  payoutShares { id name sharePercent amount { amount } paid mine
                 payoutAccount { provider account } }
  payouts { payee amount { amount } status } } } }"""
CHOOSE = """mutation($input: ChooseClaimPayoutAccountInput!) {
  chooseClaimPayoutAccount(input: $input) { claim { id } errors { field code } } }"""
PAYOUT = """mutation($input: StartClaimPayoutInput!) { startClaimPayout(input: $input) {
  claim { status } errors { field code } } }"""
CHANGE_PAYEE = """mutation($input: ChangeClaimPayeeInput!) { changeClaimPayee(input: $input) {
  claim { id } errors { field code } } }"""
APPROVE = """mutation($input: ClaimPayoutDecisionInput!) { approveClaimPayout(input: $input) {
  claim { status } errors { field code } } }"""


def card_number(digits: str) -> str:
    """``digits`` with the Luhn check digit a real card carries."""
    for check in "0123456789":
        number = digits + check
        total = 0
        for position, digit in enumerate(int(d) for d in reversed(number)):
            if position % 2:
                digit = digit * 2 - 9 if digit > 4 else digit * 2
            total += digit
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


async def test_a_death_benefit_is_split_by_shares_and_each_beneficiary_is_paid(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    son = await make_customer(services, "张强")
    daughter = await make_customer(services, "张丽")
    aunt = await make_customer(services, "王芳")
    product = await make_product()
    product.loss_types = [
        {"code": "DEATH", "name": "身故", "documents": [], "payee": "BENEFICIARIES"},
    ]
    await product.save()
    policy = await make_policy(
        services, holder, product=product, beneficiaries=[son, daughter, aunt]
    )
    await InsuredPerson.filter(policy_id=policy.id).update(customer_id=None, name="张建国")
    for person, percent in ((son, "50"), (daughter, "30"), (aunt, "20")):
        await Beneficiary.filter(policy_id=policy.id, customer_id=person.id).update(
            share_percent=Decimal(percent)
        )
    # The aunt has no account with us: her share is for staff to pay.
    await Beneficiary.filter(policy_id=policy.id, customer_id=aunt.id).update(customer_id=None)
    insured = await InsuredPerson.get(policy_id=policy.id)
    tokens = {p.name: await customer_token(services, p) for p in (holder, son, daughter)}
    report = await do(
        client,
        REPORT,
        tokens["张伟"],
        **loss_input(policy, lossType="DEATH", insuredPersonId=gid("InsuredPerson", insured.id)),
    )
    assert report["errors"] == []
    claim_id = report["claim"]["id"]

    async def seen_by(token: str) -> dict[str, Any]:
        body = await gql(client, SHARES, {"id": claim_id}, token=token)
        node: dict[str, Any] = body["data"]["node"]
        return node

    # Each beneficiary sees the claim and their own share; the claimant sees no share.
    as_son = await seen_by(tokens["张强"])
    assert as_son["myRoles"] == ["PAYEE"]
    [own] = as_son["payoutShares"]
    assert (own["name"], own["sharePercent"], own["mine"]) == ("张强", "50.00", True)
    as_claimant = await seen_by(tokens["张伟"])
    assert as_claimant["payoutShares"] == [] and "PAYEE" not in as_claimant["myRoles"]

    async def choose(token: str, **account: Any) -> list[dict[str, str]]:
        body = await gql(client, CHOOSE, {"input": {"claimId": claim_id, **account}}, token=token)
        errors: list[dict[str, str]] = body["data"]["chooseClaimPayoutAccount"]["errors"]
        return errors

    good = card_number("622202020011223344")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)

    def bank(holder_name: str, number: str) -> dict[str, Any]:
        card = {"holderName": holder_name, "bankName": "招商银行", "cardNumber": number}
        return {"provider": "BANK", "bankCard": card}

    assert await choose(tokens["张强"], **bank("李四", good)) == [
        {"field": "bankCard.holderName", "code": "ACCOUNT_NAME_MISMATCH"}
    ]
    assert await choose(tokens["张强"], **bank("张强", bad)) == [
        {"field": "bankCard.cardNumber", "code": "INVALID_CARD_NUMBER"}
    ]
    assert await choose(tokens["张强"], provider="BANK") == [
        {"field": "bankCard", "code": "REQUIRED"}
    ]
    assert await choose(tokens["张强"], **bank("张强", f"{good[:4]} {good[4:]}")) == []
    assert await choose(tokens["张丽"], provider="SANDBOX", account="zhangli@example.cn") == []
    # The claimant is not a beneficiary: not theirs to direct.
    assert await choose(tokens["张伟"], provider="SANDBOX", account="x@example.cn") == [
        {"field": "claimId", "code": "NOT_ALLOWED"}
    ]
    [own] = (await seen_by(tokens["张强"]))["payoutShares"]
    assert own["payoutAccount"] == {"provider": "BANK", "account": f"招商银行 尾号{good[-4:]}"}
    stored = await PayoutShare.get(claim_id=relay_id(claim_id), customer_id=son.id)
    assert good not in (stored.payout_account_encrypted or "")  # sealed at rest

    # The decision splits 1000.01 to the fen; the remainder goes to the first share.
    supervisor_user = await make_staff(StaffRole.SUPERVISOR)
    supervisor = await staff_token(services, supervisor_user)
    submitted = await do(client, SUBMIT, tokens["张伟"], claimId=claim_id, explanation="稍后补交")
    claim = submitted["claim"]
    claim = (
        await do(
            client,
            ASSIGN,
            supervisor,
            claimId=claim_id,
            adjusterId=gid("StaffMember", supervisor_user.id),
            expectedVersion=claim["version"],
        )
    )["claim"]
    coverage = await policy.coverages.all().first()
    assert coverage is not None
    decided = await do(
        client,
        DECIDE,
        supervisor,
        claimId=claim_id,
        expectedVersion=claim["version"],
        lines=[
            {
                "coverageId": gid("Coverage", coverage.id),
                "claimedAmount": "1500.01",
                "approvedAmount": "1000.01",
                "reason": "按条款给付",
            }
        ],
    )
    assert decided["errors"] == [] and decided["claim"]["status"] == "PAYING"
    as_staff = await seen_by(supervisor)
    amounts = [(s["name"], s["amount"]["amount"]) for s in as_staff["payoutShares"]]
    assert amounts == [("张强", "500.01"), ("张丽", "300.00"), ("王芳", "200.00")]
    told = {
        e.customer_id: e.payload["decision"]
        for e in await OutboxEvent.filter(event_type="claim.decided")
    }
    assert "应得500.01元" in told[son.id] and "应得300.00元" in told[daughter.id]
    assert "选择收款账户" not in told[son.id]  # he chose already

    # Shares are the beneficiaries': staff cannot name one payee for all of the money.
    one_payee = {
        "claimId": claim_id,
        "expectedVersion": decided["claim"]["version"],
        "payTo": "POLICYHOLDER",
        "reason": "客户来电",
    }
    refused = await gql(client, CHANGE_PAYEE, {"input": one_payee}, token=supervisor)
    assert refused["data"]["changeClaimPayee"]["errors"] == [
        {"field": "payTo", "code": "ILLEGAL_TRANSITION"}
    ]

    # The worker pays the shares whose beneficiaries chose; the claim waits for the last.
    providers, pii = services.transfer_providers, services.pii
    assert await start_chosen_payouts(providers, pii, notify_base_url="http://127.0.0.1") == 2
    assert await start_chosen_payouts(providers, pii, notify_base_url="http://127.0.0.1") == 0
    assert (await seen_by(supervisor))["status"] == "PAYING"
    son_view = await seen_by(tokens["张强"])
    assert [(p["payee"], p["amount"]["amount"]) for p in son_view["payouts"]] == [
        (f"招商银行 尾号{good[-4:]}", "500.01")
    ]
    paid_notices = await OutboxEvent.filter(event_type="claim.paid", customer_id=son.id)
    assert [e.payload["amount"] for e in paid_notices] == ["500.01"]

    # Staff pay the aunt's share to the card they established; a second person approves.
    aunt_share = next(s for s in as_staff["payoutShares"] if s["name"] == "王芳")
    aunt_card = card_number("621700000000000001")
    proposal = {
        "claimId": claim_id,
        "idempotencyKey": "share-aunt-0001",
        "provider": "BANK",
        "bankCard": {"holderName": "王芳", "bankName": "建设银行", "cardNumber": aunt_card},
        "reason": "受益人柜面提供银行卡",
    }
    missing_share = await gql(client, PAYOUT, {"input": proposal}, token=supervisor)
    assert missing_share["data"]["startClaimPayout"]["errors"] == [
        {"field": "shareId", "code": "REQUIRED"}
    ]
    proposal["shareId"] = aunt_share["id"]
    proposed = await gql(client, PAYOUT, {"input": proposal}, token=supervisor)
    assert proposed["data"]["startClaimPayout"]["errors"] == []
    second = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    approved = await gql(
        client,
        APPROVE,
        {"input": {"claimId": claim_id, "shareId": aunt_share["id"]}},
        token=second,
    )
    assert approved["data"]["approveClaimPayout"] == {"claim": {"status": "PAID"}, "errors": []}
    paid = await Claim.get(id=relay_id(claim_id))
    assert paid.paid_amount == Decimal("1000.01")
    out = sum((-e.amount for e in await LedgerEntry.filter(kind="PAYOUT")), Decimal(0))
    assert out == Decimal("1000.01")  # every fen paid once
    assert await Payout.filter(claim_id=paid.id).count() == 3


def relay_id(global_id: str) -> str:
    from strawberry import relay

    return relay.GlobalID.from_id(global_id).node_id
