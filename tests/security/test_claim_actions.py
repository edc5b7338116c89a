"""Who may act on a claim is decided per action, not per visible object: a policyholder
sees the claim the insured person reported on her policy, but may not submit it,
withdraw it, add to it or redirect its money; the beneficiary and a stranger do not
even see it. Every customer mutation on a claim is tried by each of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.services import Services
from models.claims import Claim, ClaimEvent
from models.customers import Customer
from models.notifications import OutboxEvent
from models.policies import Policy
from tests.claims_helpers import auto_product, loss_input, upload
from tests.factories import customer_token, make_customer, make_policy
from tests.graphql import gql
from tests.schema.test_claims import action
from tests.storage.samples import photo

CUSTOMER_MUTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "submitClaim": ("SubmitClaimInput", {"explanation": "材料稍后补交"}),
    "withdrawClaim": ("WithdrawClaimInput", {"reason": "不想理赔了"}),
    "supplementDocuments": ("SupplementDocumentsInput", {"note": "已补充"}),
    "chooseClaimPayoutAccount": (
        "ChooseClaimPayoutAccountInput",
        {"provider": "SANDBOX", "account": "attacker@example.cn"},
    ),
}


@dataclass(frozen=True)
class Family:
    policy: Policy
    people: dict[str, Customer]  # by role: holder, insured, beneficiary, stranger
    tokens: dict[str, str]  # by the same roles


@pytest.fixture
async def family(services: Services) -> Family:
    """李娜 holds a policy that insures 张伟, with 王芳 as beneficiary; 张伟 reports."""
    holder = await make_customer(services, "李娜")
    insured = await make_customer(services, "张伟")
    beneficiary = await make_customer(services, "王芳")
    stranger = await make_customer(services, "赵强")
    policy = await make_policy(
        services,
        holder,
        product=await auto_product(),
        insured=[insured],
        beneficiaries=[beneficiary],
    )
    people: dict[str, Customer] = {
        "holder": holder,
        "insured": insured,
        "beneficiary": beneficiary,
        "stranger": stranger,
    }
    tokens = {role: await customer_token(services, person) for role, person in people.items()}
    return Family(policy=policy, people=people, tokens=tokens)


async def report_as_insured(client: httpx.AsyncClient, family: Family) -> str:
    body = await gql(
        client,
        """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
             claim { id } errors { code } } }""",
        {"input": loss_input(family.policy, contactName="张伟")},
        token=family.tokens["insured"],
    )
    assert body["data"]["reportLoss"]["errors"] == []
    return str(body["data"]["reportLoss"]["claim"]["id"])


@pytest.mark.parametrize("name", sorted(CUSTOMER_MUTATIONS))
@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("holder", "NOT_ALLOWED"),
        ("beneficiary", "CLAIM_NOT_FOUND"),
        ("stranger", "CLAIM_NOT_FOUND"),
    ],
)
async def test_only_the_claimant_acts_on_a_claim(
    client: httpx.AsyncClient, family: Family, name: str, role: str, expected: str
) -> None:
    claim_id = await report_as_insured(client, family)
    input_type, extra = CUSTOMER_MUTATIONS[name]
    before = await Claim.get(id=_uuid(claim_id))
    events_before = await ClaimEvent.filter(claim_id=before.id).count()
    body = await gql(
        client,
        action(name, input_type),
        {"input": {"claimId": claim_id, **extra}},
        token=family.tokens[role],
    )
    answer = body["data"][name]
    assert answer["claim"] is None
    assert [error["code"] for error in answer["errors"]] == [expected]
    after = await Claim.get(id=before.id)
    assert (after.status, after.version, after.payout_account_encrypted) == (
        before.status,
        before.version,
        before.payout_account_encrypted,
    )
    assert await ClaimEvent.filter(claim_id=before.id).count() == events_before


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("holder", "NOT_ALLOWED"),
        ("beneficiary", "CLAIM_NOT_FOUND"),
        ("stranger", "CLAIM_NOT_FOUND"),
    ],
)
async def test_only_the_claimant_uploads_documents(
    client: httpx.AsyncClient, family: Family, role: str, expected: str
) -> None:
    from tests.storage.samples import encode

    claim_id = await report_as_insured(client, family)
    response = await upload(
        client, family.tokens[role], claim_id, [("D01", "x.png", encode(photo(3), "PNG"))]
    )
    answer = response.json()["data"]["uploadClaimDocuments"]
    assert [error["code"] for error in answer["errors"]] == [expected]


async def test_the_holder_still_sees_the_claim_on_her_policy(
    client: httpx.AsyncClient, family: Family
) -> None:
    claim_id = await report_as_insured(client, family)
    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) { ... on Claim { id status } } }",
        {"id": claim_id},
        token=family.tokens["holder"],
    )
    assert body["data"]["node"]["id"] == claim_id


async def test_the_claimant_chooses_the_account_and_it_is_on_the_timeline_and_notified(
    client: httpx.AsyncClient, family: Family
) -> None:
    claim_id = await report_as_insured(client, family)
    name = "chooseClaimPayoutAccount"
    body = await gql(
        client,
        action(name, "ChooseClaimPayoutAccountInput"),
        {"input": {"claimId": claim_id, "provider": "SANDBOX", "account": "zhangwei@example.cn"}},
        token=family.tokens["insured"],
    )
    assert body["data"][name]["errors"] == []
    claim = await Claim.get(id=_uuid(claim_id))
    assert claim.payout_account_masked == "测试账户 zh***@example.cn"
    event = await ClaimEvent.filter(claim_id=claim.id, action="choose_payout_account").first()
    assert event is not None and "zhangwei@example.cn" not in event.note  # masked
    notice = await OutboxEvent.filter(event_type="claim.payout_account_changed").first()
    assert notice is not None and notice.customer_id == family.people["insured"].id


def _uuid(global_id: str) -> str:
    from strawberry import relay

    return relay.GlobalID.from_id(global_id).node_id
