"""`changeClaimPayee` through GraphQL: staff with CLAIM_PAY say whose money a claim is;
the new payee chooses the account, the former one no longer can nor reads theirs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.notifications import OutboxEvent
from models.payments import Payout, PayoutStatus
from models.policies import InsuredPerson
from models.staff import StaffRole
from tests.claims_helpers import gid, loss_input
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql

CHANGE = """mutation($input: ChangeClaimPayeeInput!) { changeClaimPayee(input: $input) {
  claim { id version status payoutAccount { account } timeline { action note } }
  errors { field message code } } }"""
CHOOSE = """mutation($input: ChooseClaimPayoutAccountInput!) {
  chooseClaimPayoutAccount(input: $input) { claim { id } errors { field code } } }"""
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id } errors { code } } }"""
READ = """query($id: ID!) { claim(id: $id) {
  version myRoles payoutAccount { account } payouts { payee } timeline { action note } } }"""
REASON = "被保险人已注册并关联账户，经本人来电确认"


async def _left_to_staff(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    """张伟 reports his father's loss; the father has no account: no payee yet. The claim
    is then approved (PAYING) and the father links an account."""
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    person = await InsuredPerson.get(policy_id=policy.id)
    await InsuredPerson.filter(id=person.id).update(customer_id=None, name="张建国")
    holder_token = await customer_token(services, holder)
    reported = await gql(
        client,
        REPORT,
        {"input": loss_input(policy, insuredPersonId=gid("InsuredPerson", person.id))},
        token=holder_token,
    )
    claim_id = reported["data"]["reportLoss"]["claim"]["id"]
    row = relay.GlobalID.from_id(claim_id).node_id
    assert (await Claim.get(id=row)).payee_id is None
    await Claim.filter(id=row).update(
        status=ClaimStatus.PAYING, approved_amount=Decimal(800), decided_at=datetime.now(UTC)
    )
    father = await make_customer(services, "张建国")
    await InsuredPerson.filter(id=person.id).update(customer_id=father.id)
    return {
        "claim_id": claim_id,
        "row": row,
        "holder": holder,
        "father": father,
        "holder_token": holder_token,
        "father_token": await customer_token(services, father),
        "supervisor": await staff_token(services, await make_staff(StaffRole.SUPERVISOR)),
    }


async def _change(
    client: httpx.AsyncClient, token: str, claim_id: str, pay_to: str, version: int
) -> dict[str, Any]:
    body = await gql(
        client,
        CHANGE,
        {
            "input": {
                "claimId": claim_id,
                "expectedVersion": version,
                "payTo": pay_to,
                "reason": REASON,
            }
        },
        token=token,
        allow_errors=True,
    )
    return body


async def _choose(client: httpx.AsyncClient, token: str, claim_id: str) -> list[dict[str, Any]]:
    body = await gql(
        client,
        CHOOSE,
        {"input": {"claimId": claim_id, "provider": "SANDBOX", "account": "13912345678"}},
        token=token,
    )
    return list(body["data"]["chooseClaimPayoutAccount"]["errors"])


async def test_staff_make_the_insured_the_payee_and_then_the_holder(
    client: httpx.AsyncClient, services: Services
) -> None:
    case = await _left_to_staff(client, services)
    claim_id, supervisor = case["claim_id"], case["supervisor"]
    version = (await Claim.get(id=case["row"])).version

    # Customers and staff who do not pay claims are refused as for other staff mutations.
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    for token in (case["holder_token"], case["father_token"], adjuster):
        forbidden = await _change(client, token, claim_id, "INSURED", version)
        assert forbidden["data"] is None
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    stale = (await _change(client, supervisor, claim_id, "INSURED", version - 1))["data"]
    assert stale["changeClaimPayee"]["claim"] is None
    assert [(e["field"], e["code"]) for e in stale["changeClaimPayee"]["errors"]] == [
        ("expectedVersion", "CONFLICT")
    ]
    assert (await Claim.get(id=case["row"])).payee_id is None

    answer = (await _change(client, supervisor, claim_id, "INSURED", version))["data"]
    changed = answer["changeClaimPayee"]
    assert changed["errors"] == []
    assert changed["claim"]["version"] == version + 1
    assert changed["claim"]["timeline"][-1] == {
        "action": "change_payee",
        "note": f"收款人已变更为被保险人。原因：{REASON}",
    }
    assert await _choose(client, case["holder_token"], claim_id) == [
        {"field": "claimId", "code": "NOT_ALLOWED"}
    ]
    assert await _choose(client, case["father_token"], claim_id) == []
    fathers = (await gql(client, READ, {"id": claim_id}, token=case["father_token"]))["data"]
    assert fathers["claim"]["myRoles"] == ["PAYEE"]
    assert fathers["claim"]["payoutAccount"] == {"account": "测试账户 139****5678"}
    holders = (await gql(client, READ, {"id": claim_id}, token=case["holder_token"]))["data"]
    assert not {"change_payee", "choose_payout_account"} & {
        step["action"] for step in holders["claim"]["timeline"]
    }  # who is paid, and where, is not the claimant's to read

    # A transfer to the father's account failed; then the father asks that his son be paid.
    await Payout.create(
        claim_id=case["row"],
        transfer_number="ZZ-FAILED-1",
        provider="sandbox",
        payee_encrypted="k1:sealed",
        payee_masked="测试账户 139****5678",
        amount=Decimal(800),
        status=PayoutStatus.FAILED,
    )
    version = fathers["claim"]["version"]
    moved = (await _change(client, supervisor, claim_id, "POLICYHOLDER", version))["data"]
    assert moved["changeClaimPayee"]["errors"] == []
    assert moved["changeClaimPayee"]["claim"]["payoutAccount"] is None  # the father's, gone
    gone = await gql(client, READ, {"id": claim_id}, token=case["father_token"])
    assert gone["data"]["claim"] is None
    assert await _choose(client, case["father_token"], claim_id) == [
        {"field": "claimId", "code": "CLAIM_NOT_FOUND"}
    ]
    holders = (await gql(client, READ, {"id": claim_id}, token=case["holder_token"]))["data"]
    assert holders["claim"]["myRoles"] == ["CLAIMANT", "HOLDER", "PAYEE"]
    assert holders["claim"]["payouts"] == []  # the failed one went to the father's account
    assert "139" not in " ".join(step["note"] for step in holders["claim"]["timeline"])
    staff_view = (await gql(client, READ, {"id": claim_id}, token=supervisor))["data"]
    assert staff_view["claim"]["payouts"] == [{"payee": "测试账户 139****5678"}]
    assert await _choose(client, case["holder_token"], claim_id) == []
    told = await OutboxEvent.filter(event_type="claim.payee_changed").order_by("created_at")
    assert [e.customer_id for e in told] == [
        case["father"].id,
        case["holder"].id,
        case["father"].id,
    ]


@postgres_only
async def test_staff_changing_the_payee_at_once_change_it_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    case = await _left_to_staff(client, services)
    version = (await Claim.get(id=case["row"])).version
    other = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    answers = await asyncio.gather(
        *[
            _change(client, token, case["claim_id"], pay_to, version)
            for token in (case["supervisor"], other)
            for pay_to in ("INSURED", "POLICYHOLDER")
        ]
    )
    results = [a["data"]["changeClaimPayee"] for a in answers]
    assert len([r for r in results if not r["errors"]]) == 1
    assert {r["errors"][0]["code"] for r in results if r["errors"]} == {"CONFLICT"}
    assert (await Claim.get(id=case["row"])).version == version + 1
    assert await OutboxEvent.filter(event_type="claim.payee_changed").count() == 1
