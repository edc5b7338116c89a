"""The claim journey through GraphQL where issue 12 found steps missing: staff submit a
phone report with the customer's consent, and see the customer's explanation."""

from __future__ import annotations

import httpx

from api.services import Services
from models.policies import InsuredPerson
from models.staff import StaffRole
from tests.claims_helpers import auto_policy, gid, loss_input
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql

REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id } nextSteps errors { code } } }"""
SUBMIT = """mutation($input: SubmitClaimInput!) { submitClaim(input: $input) {
  claim { status missingDocumentsExplanation timeline { note } } errors { field code } } }"""
READ = """query($id: ID!) { claim(id: $id) { missingDocumentsExplanation } }"""


async def test_staff_submit_a_phone_report_with_the_customers_consent(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟", phone="13800000001")
    policy, _ = await auto_policy(services, holder)
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    reported = await gql(
        client,
        REPORT,
        {"input": loss_input(policy, channel="PHONE", customerId=gid("Customer", holder.id))},
        token=agent,
    )
    claim_id = reported["data"]["reportLoss"]["claim"]["id"]
    assert reported["data"]["reportLoss"]["nextSteps"][0] == "报案号和材料清单已通过短信发送给客户"
    explanation = "交警事故认定书尚未出具，出具后补交"
    refused = await gql(
        client, SUBMIT, {"input": {"claimId": claim_id, "explanation": explanation}}, token=agent
    )
    assert refused["data"]["submitClaim"]["errors"] == [
        {"field": "customerConsent", "code": "REQUIRED"}
    ]
    done = await gql(
        client,
        SUBMIT,
        {
            "input": {
                "claimId": claim_id,
                "explanation": explanation,
                "customerConsent": "客户来电口头同意代为提交",
            }
        },
        token=agent,
    )
    submitted = done["data"]["submitClaim"]
    assert submitted["errors"] == [] and submitted["claim"]["status"] == "SUBMITTED"
    assert submitted["claim"]["timeline"][-1]["note"] == (
        "经客户同意，由工作人员代为提交（客户来电口头同意代为提交），等待审核"
    )
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    seen = await gql(client, READ, {"id": claim_id}, token=adjuster)
    assert seen["data"]["claim"]["missingDocumentsExplanation"] == explanation
    mine = await gql(client, READ, {"id": claim_id}, token=await customer_token(services, holder))
    assert mine["data"]["claim"]["missingDocumentsExplanation"] == explanation


CHOOSE = """mutation($input: ChooseClaimPayoutAccountInput!) {
  chooseClaimPayoutAccount(input: $input) { errors { code } } }"""
ACCOUNT = """query($id: ID!) { claim(id: $id) {
  myRoles payoutAccount { provider account } payouts { payee } timeline { note } } }"""


async def test_the_claimant_reads_back_the_account_they_chose(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    insured = await make_customer(services, "张小伟")
    policy = await make_policy(services, holder, insured=[holder, insured])
    insured_token = await customer_token(services, insured)
    person = await InsuredPerson.get(policy_id=policy.id, customer_id=insured.id)
    reported = await gql(
        client,
        REPORT,
        {"input": loss_input(policy, insuredPersonId=gid("InsuredPerson", person.id))},
        token=insured_token,
    )
    claim_id = reported["data"]["reportLoss"]["claim"]["id"]
    whom = await gql(
        client,
        "query($id: ID!) { claim(id: $id) { insuredPerson { name relationToHolder } } }",
        {"id": claim_id},
        token=insured_token,
    )
    assert whom["data"]["claim"]["insuredPerson"] == {"name": "张小伟", "relationToHolder": "SELF"}
    chose = await gql(
        client,
        CHOOSE,
        {"input": {"claimId": claim_id, "provider": "SANDBOX", "account": "13912345678"}},
        token=insured_token,
    )
    assert chose["data"]["chooseClaimPayoutAccount"]["errors"] == []
    shown = {"provider": "SANDBOX", "account": "测试账户 139****5678"}
    mine = await gql(client, ACCOUNT, {"id": claim_id}, token=insured_token)
    assert mine["data"]["claim"]["payoutAccount"] == shown
    assert mine["data"]["claim"]["myRoles"] == ["CLAIMANT", "PAYEE"]
    assert "收款账户已设置为测试账户 139****5678" in [
        step["note"] for step in mine["data"]["claim"]["timeline"]
    ]
    adjuster = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    staff_view = await gql(client, ACCOUNT, {"id": claim_id}, token=adjuster)
    assert staff_view["data"]["claim"]["payoutAccount"] == shown
    assert staff_view["data"]["claim"]["myRoles"] == []
    holder_view = await gql(
        client, ACCOUNT, {"id": claim_id}, token=await customer_token(services, holder)
    )
    seen_by_holder = holder_view["data"]["claim"]
    assert seen_by_holder["payoutAccount"] is None  # not the holder's money
    assert seen_by_holder["myRoles"] == ["HOLDER"]
    assert seen_by_holder["payouts"] == []
    assert not any("收款账户" in step["note"] for step in seen_by_holder["timeline"])
