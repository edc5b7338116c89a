"""The mini-program's money path end to end, against the fake WeChat Pay on 127.0.0.1
(``tests.fakes.wechatpay``, which checks our signatures and the insurance-claim transfer
rules and signs what it sends): claim payouts to WeChat and their callbacks through
``/payments/wechat/notify``, with the gateway's database behind them.

The provider-only protocol tests are in ``test_wechatpay.py``; these need the database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.services import Services
from models.claims import Claim, ClaimStatus
from models.customers import Customer, WechatIdentity
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Payout, PayoutStatus
from models.policies import Policy
from payments.wechat import WechatPayProvider
from tests.factories import chosen_account, make_claim, make_customer, make_policy, make_product
from tests.fakes.wechat import FakeWechat
from tests.fakes.wechatpay import FakeWechatPay
from tests.payments.test_wechatpay import (
    APIV3_KEY,
    FILING_NO,
    MCH_ID,
    MCH_SERIAL,
    PLATFORM_SERIAL,
    PRODUCT,
    private_pem,
    public_pem,
)
from workflows.payments.payouts import start_chosen_payouts

APP_ID = "wx-test-app"  # the tests' mini-program (settings.wechat_app_id)
APP_SECRET = "wechat-test-secret"
NOTIFY_BASE = "https://anxin.example.cn"  # WeChat takes https callbacks only


@pytest.fixture
async def mini_program() -> AsyncIterator[FakeWechat]:
    """WeChat's code2session for the tests' mini-program: ``login(openid)`` is wx.login()."""
    async with FakeWechat(app_id=APP_ID, app_secret=APP_SECRET).running() as fake:
        yield fake


@pytest.fixture
def settings_overrides(mini_program: FakeWechat) -> dict[str, Any]:
    return {
        "wechat_api_base_url": mini_program.url,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "public_base_url": NOTIFY_BASE,
    }


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def wechat(
    merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey
) -> AsyncIterator[FakeWechatPay]:
    fake = FakeWechatPay(
        app_id=APP_ID,
        merchant_id=MCH_ID,
        merchant_serial_no=MCH_SERIAL,
        merchant_public_key=merchant_key.public_key(),
        platform_key=platform_key,
        platform_serial_no=PLATFORM_SERIAL,
        apiv3_key=APIV3_KEY,
        clock=time.time,  # callbacks are judged against the real clock
    )
    async with fake.running() as running:
        yield running


@pytest.fixture
def wechat_pay(
    services: Services,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
) -> WechatPayProvider:
    """The gateway's WeChat Pay, as the settings would build it, talking to the fake."""
    provider = WechatPayProvider(
        services.http,
        base_url=wechat.url,
        app_id=APP_ID,
        merchant_id=MCH_ID,
        merchant_serial_no=MCH_SERIAL,
        merchant_private_key_pem=private_pem(merchant_key),
        apiv3_key=APIV3_KEY,
        platform_public_key_pem=public_pem(platform_key),
        platform_serial_no=PLATFORM_SERIAL,
    )
    services.payment_providers["wechat"] = provider
    return provider


async def filed_policy(
    services: Services, holder: Customer, filing_number: str = FILING_NO, name: str = PRODUCT
) -> Policy:
    """A policy of a product filed with the regulator (WeChat reports the filing)."""
    product = await make_product(filing_number=filing_number, name=name)
    return await make_policy(services, holder, product=product)


async def wechat_customer(
    services: Services, name: str = "张三", openid: str = "o-zhangsan"
) -> Customer:
    customer = await make_customer(services, name)
    await WechatIdentity.create(customer=customer, app_id=APP_ID, openid=openid)
    return customer


async def wechat_payout(
    services: Services, amount: str = "1280.50", *, name: str = "张三", openid: str = "o-zhangsan"
) -> Payout:
    """A PAYING claim whose payee chose WeChat, paid by the worker: the bill waits at
    the fake for the payee to confirm receipt."""
    holder = await wechat_customer(services, name, openid)
    policy = await filed_policy(services, holder)
    claim = await make_claim(
        holder,
        policy,
        ClaimStatus.PAYING,
        approved_amount=Decimal(amount),
        **chosen_account(services, "wechat", openid),
    )
    started = await start_chosen_payouts(
        services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
    )
    assert started == 1
    return await Payout.get(claim_id=claim.id)


async def notify(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> httpx.Response:
    return await client.post("/payments/wechat/notify", content=body, headers=headers)


# ---------------------------------------------------------------------- transfer callbacks


async def test_a_transfer_callback_settles_the_wechat_payout_once(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    payout = await wechat_payout(services)
    assert payout.status is PayoutStatus.WAIT_USER_CONFIRM
    bill = wechat.confirm_transfer(payout.transfer_number)
    headers, body = wechat.transfer_notification(payout.transfer_number)
    response = await notify(client, headers, body)
    assert (response.status_code, response.content) == (200, b"")
    settled = await Payout.get(id=payout.id)
    assert (settled.status, settled.provider_transfer_id) == (
        PayoutStatus.SUCCESS,
        bill.transfer_bill_no,
    )
    assert (await Claim.get(id=payout.claim_id)).status is ClaimStatus.PAID
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1
    again = await notify(client, headers, body)  # WeChat repeats callbacks
    assert again.status_code == 200
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1
    assert not await OutboxEvent.filter(event_type="claim.payout_mismatch").exists()


def _spoiled(wechat: FakeWechatPay, number: str, field: str, value: Any) -> dict[str, Any]:
    resource = wechat.transfer_resource(number)
    resource[field] = value(resource[field]) if callable(value) else value
    return resource


FORGERIES: dict[str, tuple[str, Any]] = {
    # what a signed notice says otherwise than our payout: (resource field, new value)
    "another amount": ("transfer_amount", lambda fen: fen + 100_00),
    "another merchant": ("mch_id", "1900000109"),
    "another bill number": ("transfer_bill_no", lambda no: no[:-4] + "0000"),
    "another payee": ("openid", "o-somebody-else"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_transfer_callback_that_differs_changes_nothing_and_alerts_staff(
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechatPay,
    wechat_pay: Any,
    caplog: pytest.LogCaptureFixture,
    forgery: str,
) -> None:
    payout = await wechat_payout(services)
    wechat.confirm_transfer(payout.transfer_number)
    field, value = FORGERIES[forgery]
    resource = _spoiled(wechat, payout.transfer_number, field, value)
    for _ in range(3):  # WeChat retries a callback we refused
        headers, body = wechat.transfer_notification(payout.transfer_number, resource=resource)
        response = await notify(client, headers, body)
        assert (response.status_code, response.json()) == (500, {"code": "FAIL", "message": "失败"})
    unchanged = await Payout.get(id=payout.id)
    assert unchanged.status is PayoutStatus.WAIT_USER_CONFIRM
    assert unchanged.provider_transfer_id == payout.provider_transfer_id
    assert (await Claim.get(id=payout.claim_id)).status is ClaimStatus.PAYING
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 0
    [alert] = await OutboxEvent.filter(event_type="claim.payout_mismatch")
    assert alert.customer_id is None and alert.entity_id == str(payout.claim_id)
    assert alert.payload["_staff_channels"] == ["staff:claim-queue"]
    assert alert.payload["transfer_number"] == payout.transfer_number
    assert alert.payload["differences"] == [forgery.removeprefix("another ")]
    assert any(
        r.name == "anxin.security" and "rejected wechat callback" in r.getMessage()
        for r in caplog.records
    )
    # The genuine notice still settles it afterwards.
    genuine = await notify(client, *wechat.transfer_notification(payout.transfer_number))
    assert genuine.status_code == 200
    assert (await Claim.get(id=payout.claim_id)).status is ClaimStatus.PAID


async def test_a_callback_about_a_transfer_we_never_made_is_refused(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    payout = await wechat_payout(services)
    resource = _spoiled(wechat, payout.transfer_number, "out_bill_no", "TF20990101999999")
    headers, body = wechat.transfer_notification(payout.transfer_number, resource=resource)
    response = await notify(client, headers, body)
    assert response.status_code == 500
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.WAIT_USER_CONFIRM
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 0


async def test_a_failed_transfer_callback_keeps_wechats_reason_for_staff(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    payout = await wechat_payout(services)
    wechat.finish_transfer(payout.transfer_number, "FAIL", "NAME_NOT_CORRECT")
    response = await notify(client, *wechat.transfer_notification(payout.transfer_number))
    assert response.status_code == 200
    failed = await Payout.get(id=payout.id)
    assert (failed.status, failed.failure_reason) == (PayoutStatus.FAILED, "NAME_NOT_CORRECT")
    assert await OutboxEvent.filter(event_type="claim.payout_failed").count() == 1


# ---------------------------------------------------------------------- names and reasons

CLAIM = """query($id: ID!) { claim(id: $id) { status payouts {
  transferNumber status failureReason } } }"""
STAFF_CLAIM = """query($id: ID!) { claim(id: $id) { status payouts {
  transferNumber status failureReason failureDetail } } }"""
START = """mutation($input: StartClaimPayoutInput!) { startClaimPayout(input: $input) {
  claim { status payouts { status } } errors { field code message } } }"""
CHOOSE = """mutation($input: ChooseClaimPayoutAccountInput!) {
  chooseClaimPayoutAccount(input: $input) { claim { id } errors { field code message } } }"""


async def paying_wechat_claim(
    services: Services, amount: str, name: str, openid: str = "o-payee"
) -> tuple[Claim, Customer]:
    """A PAYING claim of ``amount`` whose payee chose WeChat, not yet paid."""
    holder = await wechat_customer(services, name, openid)
    policy = await filed_policy(services, holder)
    claim = await make_claim(
        holder,
        policy,
        ClaimStatus.PAYING,
        approved_amount=Decimal(amount),
        **chosen_account(services, "wechat", openid),
    )
    return claim, holder


async def test_a_large_wechat_payout_carries_the_payees_name_on_file(
    services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    claim, _ = await paying_wechat_claim(services, "2000.00", "张三")
    assert (
        await start_chosen_payouts(
            services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
        )
        == 1
    )
    payout = await Payout.get(claim_id=claim.id)
    bill = wechat.transfers[payout.transfer_number]
    assert (bill.user_name, bill.request["transfer_amount"]) == ("张三", 200000)
    assert bill.request["user_name"] != "张三"  # sent encrypted with WeChat's key
    assert payout.status is PayoutStatus.WAIT_USER_CONFIRM


async def test_a_large_wechat_payout_to_a_payee_without_a_name_is_refused_before_sending(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    from models.staff import StaffRole
    from tests.claims_helpers import gid
    from tests.factories import customer_token, make_staff, staff_token
    from tests.graphql import gql

    claim, holder = await paying_wechat_claim(services, "2000.00", "")
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    started = await gql(
        client,
        START,
        {"input": {"claimId": gid("Claim", claim.id), "idempotencyKey": "payout-key-0001"}},
        token=supervisor,
    )
    [error] = started["data"]["startClaimPayout"]["errors"]
    assert (error["code"], error["field"]) == ("PAYEE_NAME_REQUIRED", "provider")
    assert "2000" in error["message"]
    assert not await Payout.exists(claim_id=claim.id)
    assert wechat.requests == []  # nothing reached WeChat

    # The worker does not try either, and tells staff once, not every minute.
    for _ in range(2):
        assert (
            await start_chosen_payouts(
                services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
            )
            == 0
        )
    [blocked] = await OutboxEvent.filter(event_type="claim.payout_blocked")
    assert blocked.payload["code"] == "PAYEE_NAME_REQUIRED" and blocked.customer_id is None
    assert not await Payout.exists(claim_id=claim.id)

    # Choosing WeChat again once the amount is known is refused the same way; a small
    # amount needs no name.
    token = await customer_token(services, holder)
    choice = {"claimId": gid("Claim", claim.id), "provider": "WECHAT"}
    chosen = await gql(client, CHOOSE, {"input": choice}, token=token)
    assert [e["code"] for e in chosen["data"]["chooseClaimPayoutAccount"]["errors"]] == [
        "PAYEE_NAME_REQUIRED"
    ]
    await Claim.filter(id=claim.id).update(approved_amount=Decimal("1999.99"))
    chosen = await gql(client, CHOOSE, {"input": choice}, token=token)
    assert chosen["data"]["chooseClaimPayoutAccount"]["errors"] == []


@pytest.mark.parametrize(
    ("failure", "detail", "text"),
    [
        ("NAME_NOT_CORRECT", "NAME_NOT_CORRECT", "收款人姓名校验未通过"),
        ("REAL_NAME_CHECK_FAIL", "REAL_NAME_CHECK_FAIL", "未实名认证"),
        ("ACCOUNT_FROZEN", "ACCOUNT_FROZEN", "更换收款账户"),
        ("refused: NOT_ENOUGH", "NOT_ENOUGH: 资金不足", "转账未成功，客服将尽快与您联系"),
    ],
)
async def test_the_payee_reads_a_chinese_reason_and_staff_the_providers(
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechatPay,
    wechat_pay: Any,
    failure: str,
    detail: str,
    text: str,
) -> None:
    from models.staff import StaffRole
    from tests.claims_helpers import gid
    from tests.factories import customer_token, make_staff, staff_token
    from tests.graphql import gql
    from workflows.payments.payouts import follow_up_payouts

    claim, holder = await paying_wechat_claim(services, "800.00", "张三")
    if failure.startswith("refused"):
        wechat.balance_fen = 0  # WeChat refuses the bill: 403 NOT_ENOUGH 资金不足
    await start_chosen_payouts(
        services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
    )
    payout = await Payout.get(claim_id=claim.id)
    if not failure.startswith("refused"):
        wechat.finish_transfer(payout.transfer_number, "FAIL", failure)
        await follow_up_payouts(
            services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
        )
    variables = {"id": gid("Claim", claim.id)}
    mine = await gql(client, CLAIM, variables, token=await customer_token(services, holder))
    [seen] = mine["data"]["claim"]["payouts"]
    assert seen["status"] == "FAILED"
    assert text in seen["failureReason"]
    assert not any("a" <= c.lower() <= "z" for c in seen["failureReason"]), seen
    staff = await staff_token(services, await make_staff(StaffRole.ADJUSTER))
    theirs = await gql(client, STAFF_CLAIM, variables, token=staff)
    [checked] = theirs["data"]["claim"]["payouts"]
    assert (checked["failureReason"], checked["failureDetail"]) == (seen["failureReason"], detail)
    # The provider's words are staff's only.
    refused = await gql(
        client,
        STAFF_CLAIM,
        variables,
        token=await customer_token(services, holder),
        allow_errors=True,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# ---------------------------------------------------------------------- whose WeChat


WECHAT_LOGIN = """mutation($code: String!) { wechatLogin(input: {code: $code}) {
  session { accessToken } errors { code } } }"""
PAY = """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
  order { orderNumber status checkout { key value } } replacedOrder { orderNumber status }
  errors { field code message } } }"""


async def logged_in(client: httpx.AsyncClient, mini_program: FakeWechat, openid: str) -> str:
    """The access token of a mini-program login as the WeChat user ``openid``."""
    from tests.graphql import gql

    code = mini_program.login(openid)  # wx.login() in that user's WeChat
    answer = (await gql(client, WECHAT_LOGIN, {"code": code}))["data"]["wechatLogin"]
    assert answer["errors"] == [], answer
    token: str = answer["session"]["accessToken"]
    return token


async def two_wechat_users(services: Services) -> Customer:
    """A customer with two WeChat users bound to her phone (hers and, say, her
    husband's phone's WeChat), the other one bound first."""
    holder = await make_customer(services, "李娜")
    await WechatIdentity.create(customer=holder, app_id=APP_ID, openid="o-bound-first")
    await WechatIdentity.create(customer=holder, app_id=APP_ID, openid="o-logged-in")
    return holder


async def test_the_jsapi_payer_is_the_wechat_user_of_this_login(
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechatPay,
    wechat_pay: Any,
    mini_program: FakeWechat,
) -> None:
    from models.auth import SubjectKind
    from models.policies import PremiumInstallment
    from tests.claims_helpers import gid
    from tests.factories import customer_token
    from tests.graphql import gql
    from workflows.auth import Channel, start_session

    holder = await two_wechat_users(services)
    policy = await filed_policy(services, holder)
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)

    async def pay(token: str, key: str) -> dict[str, Any]:
        variables = {
            "input": {
                "installmentId": gid("PremiumInstallment", installment.id),
                "method": "WECHAT_JSAPI",
                "idempotencyKey": key,
            }
        }
        answer: dict[str, Any] = (await gql(client, PAY, variables, token=token))["data"]
        return answer["createPremiumPayment"]

    token = await logged_in(client, mini_program, "o-logged-in")
    paid = await pay(token, "premium-key-0001")
    assert paid["errors"] == []
    number = paid["order"]["orderNumber"]
    assert wechat.orders[number].request["payer"] == {"openid": "o-logged-in"}
    checkout = {item["key"]: item["value"] for item in paid["order"]["checkout"]}
    assert checkout["appId"] == APP_ID

    # The other WeChat user, in their own mini-program login, gets an order of their
    # own (WeChat lets nobody else pay one opened for another openid); the first closes.
    other = await pay(await logged_in(client, mini_program, "o-bound-first"), "premium-key-0002")
    assert other["errors"] == []
    assert wechat.orders[other["order"]["orderNumber"]].request["payer"] == {
        "openid": "o-bound-first"
    }
    assert other["replacedOrder"] == {"orderNumber": number, "status": "CLOSED"}

    # Outside the mini-program (the app's SMS login) nobody guesses which WeChat pays.
    from_app = await pay(await customer_token(services, holder), "premium-key-0003")
    assert [(e["code"], e["field"]) for e in from_app["errors"]] == [("PAYER_REQUIRED", "method")]
    # A login to another mini-program (another app id) has no openid under ours.
    elsewhere = await WechatIdentity.create(customer=holder, app_id="wx-other-app", openid="o-x")
    tokens = await start_session(
        services,
        SubjectKind.CUSTOMER,
        holder.id,
        Channel.MINI_PROGRAM,
        wechat_identity=elsewhere,
    )
    refused = await pay(tokens.access_token, "premium-key-0004")
    assert [e["code"] for e in refused["errors"]] == ["PAYER_REQUIRED"]
    assert len(wechat.orders) == 2


async def test_a_wechat_payout_goes_to_the_wechat_user_who_chose_it(
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechatPay,
    wechat_pay: Any,
    mini_program: FakeWechat,
) -> None:
    from tests.claims_helpers import gid
    from tests.factories import customer_token
    from tests.graphql import gql

    holder = await two_wechat_users(services)
    policy = await filed_policy(services, holder)
    claim = await make_claim(holder, policy, ClaimStatus.PAYING, approved_amount=Decimal("800"))
    choice = {"input": {"claimId": gid("Claim", claim.id), "provider": "WECHAT"}}
    from_app = await gql(client, CHOOSE, choice, token=await customer_token(services, holder))
    assert [e["code"] for e in from_app["data"]["chooseClaimPayoutAccount"]["errors"]] == [
        "REQUIRED"
    ]
    token = await logged_in(client, mini_program, "o-logged-in")
    chosen = await gql(client, CHOOSE, choice, token=token)
    assert chosen["data"]["chooseClaimPayoutAccount"]["errors"] == []
    assert (
        await start_chosen_payouts(
            services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
        )
        == 1
    )
    payout = await Payout.get(claim_id=claim.id)
    assert wechat.transfers[payout.transfer_number].request["openid"] == "o-logged-in"


# ---------------------------------------------------------------------- confirming receipt

MY_PAYOUTS = """query($id: ID!) { claim(id: $id) { status payouts {
  status confirmPackage confirmParameters { key value } } } }"""


async def test_the_payee_confirms_receipt_with_exactly_what_the_api_returns(
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechatPay,
    wechat_pay: Any,
    mini_program: FakeWechat,
) -> None:
    """``confirmParameters`` is the whole set ``wx.requestMerchantTransfer`` needs, and
    stays so while the bill waits, after the worker's queries too."""
    from tests.claims_helpers import gid
    from tests.fakes.wechatpay import MerchantTransferRefused
    from tests.graphql import gql
    from workflows.payments.payouts import follow_up_payouts

    claim, _ = await paying_wechat_claim(services, "1280.50", "张三", openid="o-zhangsan")
    await start_chosen_payouts(
        services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
    )
    await follow_up_payouts(  # the worker asks WeChat; its answer carries no package
        services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
    )
    token = await logged_in(client, mini_program, "o-zhangsan")
    mine = await gql(client, MY_PAYOUTS, {"id": gid("Claim", claim.id)}, token=token)
    [payout] = mine["data"]["claim"]["payouts"]
    assert payout["status"] == "WAIT_USER_CONFIRM"
    params = {item["key"]: item["value"] for item in payout["confirmParameters"]}
    [bill] = wechat.transfers.values()
    assert params == {"mchId": MCH_ID, "appId": APP_ID, "package": bill.package_info}
    assert payout["confirmPackage"] == bill.package_info

    # Each of the three is needed: without it WeChat's confirmation page does not open.
    for missing in params:
        with pytest.raises(MerchantTransferRefused):
            wechat.request_merchant_transfer(
                {k: v for k, v in params.items() if k != missing}, "o-zhangsan"
            )
    with pytest.raises(MerchantTransferRefused, match="微信号"):  # only the payee can
        wechat.request_merchant_transfer(params, "o-somebody-else")
    wechat.request_merchant_transfer(params, "o-zhangsan")  # the payee confirms

    response = await notify(client, *wechat.transfer_notification(bill.request["out_bill_no"]))
    assert response.status_code == 200
    done = await gql(client, MY_PAYOUTS, {"id": gid("Claim", claim.id)}, token=token)
    assert done["data"]["claim"]["status"] == "PAID"
    [paid] = done["data"]["claim"]["payouts"]
    assert (paid["status"], paid["confirmParameters"]) == ("SUCCESS", None)


# ---------------------------------------------------------------------- the product as filed


async def test_each_payout_reports_its_own_claims_product(
    services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    holder = await wechat_customer(services, "张三", "o-zhangsan")
    filings = {
        "C00000732612021122300191": "安心驾乘·机动车商业保险",
        "C00001732612021122300163": "安心e生·百万医疗险",
    }
    for number, name in filings.items():
        policy = await filed_policy(services, holder, number, name)
        await make_claim(
            holder,
            policy,
            ClaimStatus.PAYING,
            approved_amount=Decimal("100.00"),
            **chosen_account(services, "wechat", "o-zhangsan"),
        )
    assert (
        await start_chosen_payouts(
            services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
        )
        == 2
    )
    reported = {}
    for bill in wechat.transfers.values():
        infos = {
            i["info_type"]: i["info_content"] for i in bill.request["transfer_scene_report_infos"]
        }
        reported[infos["保险产品备案编号"]] = infos["保险名称"]
        assert infos["保险操作单号"] == bill.request["out_bill_no"]
    assert reported == filings


async def test_a_product_without_its_filing_is_not_paid_through_wechat(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechatPay, wechat_pay: Any
) -> None:
    from models.staff import StaffRole
    from tests.claims_helpers import gid
    from tests.factories import make_staff, staff_token
    from tests.graphql import gql

    holder = await wechat_customer(services, "张三", "o-zhangsan")
    policy = await make_policy(services, holder)  # a product with no filing number
    claim = await make_claim(
        holder,
        policy,
        ClaimStatus.PAYING,
        approved_amount=Decimal("100.00"),
        **chosen_account(services, "wechat", "o-zhangsan"),
    )
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    started = await gql(
        client,
        START,
        {"input": {"claimId": gid("Claim", claim.id), "idempotencyKey": "payout-key-0002"}},
        token=supervisor,
    )
    assert [e["code"] for e in started["data"]["startClaimPayout"]["errors"]] == [
        "PRODUCT_NOT_FILED"
    ]
    for _ in range(2):
        assert (
            await start_chosen_payouts(
                services.transfer_providers, services.pii, notify_base_url=NOTIFY_BASE
            )
            == 0
        )
    [blocked] = await OutboxEvent.filter(event_type="claim.payout_blocked")
    assert blocked.payload["code"] == "PRODUCT_NOT_FILED"
    assert wechat.requests == [] and not await Payout.exists(claim_id=claim.id)
