"""Claim payouts by transfer: PAID only from the provider's real outcome, retries after a
timeout with the same transfer number (never a second transfer), WAIT_USER_CONFIRM,
and failures visible to staff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Payout, PayoutStatus
from models.staff import StaffRole
from payments.base import (
    ProviderRejected,
    ProviderUnavailable,
    TransferRequest,
    TransferResult,
    TransferState,
)
from payments.sandbox import SandboxProvider
from tests.claims_helpers import auto_policy, gid, loss_input
from tests.factories import chosen_account, customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from workflows.payments.payouts import follow_up_payouts

URL = "http://127.0.0.1"
CHOOSE = """mutation($input: ChooseClaimPayoutAccountInput!) {
  chooseClaimPayoutAccount(input: $input) { claim { id } errors { field code } } }"""
PAYOUT = """mutation($input: StartClaimPayoutInput!) { startClaimPayout(input: $input) {
  claim { status paidAmount { amount } payouts { transferNumber status failureReason
          failureDetail confirmPackage amount { amount } payee reason }
          timeline { action note } }
  errors { code message } } }"""


class FlakyProvider(SandboxProvider):
    """The sandbox, with a provider's bad days: a timeout on the first transfer (after
    which the transfer did or did not happen), a refusal, or a wait for the payee."""

    def __init__(self, key: bytes, behaviour: str) -> None:
        super().__init__(key)
        self.behaviour = behaviour
        self.transfers: list[str] = []
        self.done: dict[str, TransferResult] = {}

    async def transfer(self, request: TransferRequest) -> TransferResult:
        self.transfers.append(request.transfer_number)
        if self.behaviour == "refuse":
            raise ProviderRejected("PAYEE_NOT_EXIST", "收款账户不存在")
        result = TransferResult(request.transfer_number, TransferState.SUCCESS, "T-1")
        if self.behaviour == "wait":
            result = TransferResult(
                request.transfer_number,
                TransferState.WAIT_USER_CONFIRM,
                "T-1",
                confirm_package="pkg-123",
            )
        if (
            self.behaviour in ("timeout-after-paying", "timeout-before")
            and len(self.transfers) == 1
        ):
            if self.behaviour == "timeout-after-paying":
                self.done[request.transfer_number] = result
            raise ProviderUnavailable("read timeout")
        self.done[request.transfer_number] = result
        return result

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        return self.done.get(
            transfer_number, TransferResult(transfer_number, TransferState.NOT_FOUND)
        )


@dataclass
class PayingClaim:
    """A claim approved and PAYING, with the tokens of its claimant and of the staff
    member who starts payouts; ``attempt`` counts the staff's clicks."""

    claim_id: str  # global ID
    staff: str
    customer: str
    attempt: int = 0


async def paying_claim(client: httpx.AsyncClient, services: Services) -> PayingClaim:
    from tests.schema.test_claims import ASSIGN, DECIDE, REPORT, SUBMIT, do, line

    holder = await make_customer(services, "张伟")
    policy, coverage = await auto_policy(services, holder)
    customer = await customer_token(services, holder)
    supervisor_user = await make_staff(StaffRole.SUPERVISOR)
    supervisor = await staff_token(services, supervisor_user)
    claim = (await do(client, REPORT, customer, **loss_input(policy)))["claim"]
    chosen = await do(
        client,
        CHOOSE,
        customer,
        claimId=claim["id"],
        provider="SANDBOX",
        account="2088000000000001",
    )
    assert chosen["errors"] == []
    claim = (await do(client, SUBMIT, customer, claimId=claim["id"], explanation="稍后补交"))[
        "claim"
    ]
    claim = (
        await do(
            client,
            ASSIGN,
            supervisor,
            claimId=claim["id"],
            adjusterId=gid("StaffMember", supervisor_user.id),
            expectedVersion=claim["version"],
        )
    )["claim"]
    cast = {"coverage": coverage}
    claim = (
        await do(
            client,
            DECIDE,
            supervisor,
            claimId=claim["id"],
            expectedVersion=claim["version"],
            lines=line(cast, "3500.00", "3500.00"),
        )
    )["claim"]
    assert claim["status"] == "PAYING"
    return PayingClaim(claim_id=claim["id"], staff=supervisor, customer=customer)


def use(services: Services, behaviour: str) -> FlakyProvider:
    provider = FlakyProvider(b"k" * 32, behaviour)
    services.payment_providers["sandbox"] = provider
    return provider


async def start(client: httpx.AsyncClient, setup: PayingClaim) -> dict[str, Any]:
    setup.attempt += 1  # each staff click is a new request
    body = await gql(
        client,
        PAYOUT,
        {
            "input": {
                "claimId": setup.claim_id,
                "idempotencyKey": f"payout-{setup.attempt:04d}",
            }
        },
        token=setup.staff,
    )
    return body["data"]["startClaimPayout"]


@pytest.mark.parametrize("behaviour", ["ok", "timeout-after-paying", "timeout-before"])
async def test_a_payout_pays_once_even_after_a_timeout(
    client: httpx.AsyncClient, services: Services, behaviour: str
) -> None:
    setup = await paying_claim(client, services)
    provider = use(services, behaviour)
    answer = await start(client, setup)
    assert answer["errors"] == []
    assert answer["claim"]["status"] == "PAID"
    assert answer["claim"]["paidAmount"] == {"amount": "3000.00"}
    # One transfer number for the payout's whole life; a retry reuses it.
    assert len(set(provider.transfers)) == 1
    expected_calls = {"ok": 1, "timeout-after-paying": 1, "timeout-before": 2}[behaviour]
    assert len(provider.transfers) == expected_calls
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1
    assert await OutboxEvent.filter(event_type="claim.paid").count() == 1
    again = await start(client, setup)
    assert again["errors"][0]["code"] == "ILLEGAL_TRANSITION"


async def test_a_refused_payout_stays_visible_to_staff(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    use(services, "refuse")
    answer = await start(client, setup)
    claim = answer["claim"]
    assert claim["status"] == "PAYING"
    assert claim["payouts"][0]["status"] == "FAILED"
    assert claim["payouts"][0]["failureDetail"] == "PAYEE_NOT_EXIST: 收款账户不存在"
    assert claim["payouts"][0]["failureReason"] == "收款账户暂时无法收款，请更换收款账户"
    assert await OutboxEvent.filter(event_type="claim.payout_failed").count() == 1
    use(services, "ok")
    retried = await start(client, setup)  # staff fix the account and pay again
    assert retried["claim"]["status"] == "PAID"
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1


async def test_wait_for_the_payee_then_the_worker_settles(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    provider = use(services, "wait")
    answer = await start(client, setup)
    payout = answer["claim"]["payouts"][0]
    assert (payout["status"], payout["confirmPackage"]) == ("WAIT_USER_CONFIRM", "pkg-123")
    assert answer["claim"]["status"] == "PAYING"
    number = payout["transferNumber"]
    provider.done[number] = TransferResult(number, TransferState.SUCCESS, "T-1")
    assert (
        await follow_up_payouts(services.transfer_providers, services.pii, notify_base_url=URL) == 1
    )
    assert (await Payout.get(transfer_number=number)).status is PayoutStatus.SUCCESS
    claim = await Claim.filter(payouts__transfer_number=number).first()
    assert claim is not None and claim.status is ClaimStatus.PAID
    assert (
        await follow_up_payouts(services.transfer_providers, services.pii, notify_base_url=URL) == 0
    )


async def test_a_retried_request_returns_the_same_payout(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    provider = use(services, "ok")
    request = {"input": {"claimId": setup.claim_id, "idempotencyKey": "payout-same-key"}}
    first = await gql(client, PAYOUT, request, token=setup.staff)
    again = await gql(client, PAYOUT, request, token=setup.staff)
    assert first["data"]["startClaimPayout"]["errors"] == []
    assert again["data"]["startClaimPayout"]["errors"] == []
    assert len(provider.transfers) == 1


async def test_a_key_reused_for_another_request_is_a_typed_error(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Was an internal error: the claim mapper did not know the idempotency codes."""
    setup = await paying_claim(client, services)
    provider = use(services, "ok")
    key = "payout-reused-key"
    first = await gql(
        client,
        PAYOUT,
        {"input": {"claimId": setup.claim_id, "idempotencyKey": key}},
        token=setup.staff,
    )
    other = {"claimId": setup.claim_id, "idempotencyKey": key, "provider": "SANDBOX"}
    reused = await gql(client, PAYOUT, {"input": other}, token=setup.staff)
    assert first["data"]["startClaimPayout"]["errors"] == []
    assert "errors" not in reused
    assert [e["code"] for e in reused["data"]["startClaimPayout"]["errors"]] == [
        "IDEMPOTENCY_KEY_REUSED"
    ]
    assert len(provider.transfers) == 1


async def test_the_customers_chosen_account_is_paid_by_the_worker(
    client: httpx.AsyncClient, services: Services
) -> None:
    from strawberry import relay

    from workflows.payments.payouts import start_chosen_payouts

    setup = await paying_claim(client, services)
    claim_id = relay.GlobalID.from_id(setup.claim_id).node_id
    claim = await Claim.get(id=claim_id)
    await Claim.filter(id=claim.id).update(
        **chosen_account(services, "sandbox", "2088000000000002")
    )
    provider = use(services, "ok")
    assert (
        await start_chosen_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
        == 1
    )
    assert (await Claim.get(id=claim.id)).status is ClaimStatus.PAID
    assert (
        await start_chosen_payouts(services.transfer_providers, services.pii, notify_base_url=URL)
        == 0
    )
    assert len(provider.transfers) == 1


async def test_customers_choose_where_their_money_goes(
    client: httpx.AsyncClient, services: Services
) -> None:
    from models.customers import WechatIdentity
    from tests.schema.test_claims import REPORT, do

    holder = await make_customer(services, "王芳")
    policy, _ = await auto_policy(services, holder)
    token = await customer_token(services, holder)
    claim = (await do(client, REPORT, token, **loss_input(policy)))["claim"]

    async def pick(provider: str, account: str | None = None) -> list[dict[str, Any]]:
        body = await gql(
            client,
            CHOOSE,
            {"input": {"claimId": claim["id"], "provider": provider, "account": account}},
            token=token,
        )
        return body["data"]["chooseClaimPayoutAccount"]["errors"]

    # A provider the gateway has no contract with is refused, never silently accepted.
    assert await pick("WECHAT") == [{"field": "provider", "code": "PROVIDER_NOT_CONFIGURED"}]
    services.payment_providers["wechat"] = SandboxProvider(b"w" * 32)
    services.payment_providers["alipay"] = SandboxProvider(b"a" * 32)
    assert await pick("WECHAT") == [{"field": "provider", "code": "REQUIRED"}]
    assert await pick("ALIPAY") == [{"field": "account", "code": "REQUIRED"}]
    assert await pick("ALIPAY", "wangfang@example.cn") == []
    stored = await Claim.filter(customer_id=holder.id).first()
    assert stored is not None and stored.payout_account_masked == "支付宝 wa***@example.cn"
    assert stored.payout_account_encrypted and "wangfang" not in stored.payout_account_encrypted
    # WeChat: the openid under the app id WeChat Pay pays from (here the sandbox's).
    app_id = services.payment_providers["wechat"].app_id
    await WechatIdentity.create(customer=holder, app_id=app_id, openid="o-wangfang")
    assert await pick("WECHAT") == []
    assert (await Claim.get(id=stored.id)).payout_account_masked == "微信零钱"
