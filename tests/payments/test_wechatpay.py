"""WeChat Pay API v3 against a fake WeChat Pay on 127.0.0.1 (``tests.fakes.wechatpay``)
that checks our request signatures with the merchant's public key and signs its answers
and callbacks with the platform key; and against ``wechatpayv3`` (the community SDK for
API v3) as the reference: it computes the same Authorization and paySign as we do, it
talks to the fake without complaint (so the fake is faithful), and it accepts the
callbacks the fake builds, which we must accept too. Every bad answer and every bad
callback must be refused, and no key may leak into logs, errors or reprs.

Pure provider tests: no database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import wechatpayv3.utils as sdk_utils
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from wechatpayv3 import WeChatPay, WeChatPayType

from payments.base import (
    Checkout,
    InvalidNotification,
    PaymentMethod,
    PaymentProvider,
    PaymentProviderError,
    PayRequest,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundState,
    TradeState,
    TransferRequest,
    TransferState,
)
from payments.wechat import WechatPayProvider
from tests.fakes.server import http_client, refused_url
from tests.fakes.wechatpay import FakeWechatPay, aes_gcm_encrypt

APP_ID = "wx8888888888888888"
MCH_ID = "1900009191"
MCH_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PLATFORM_SERIAL = "PUB_KEY_ID_0119000091912026052800000000000001"
APIV3_KEY = "0123456789abcdefANXINapiv3KEY_32"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
NOTIFY = "https://anxin.example.com/payments/wechat/notify"
FILING_NO = "C00001732612021122300163"
PRODUCT = "安心e生·百万医疗险"
T0 = 1_780_000_000  # 2026-05-28 20:26:40 UTC
NOW = datetime.fromtimestamp(T0, UTC)

PREMIUM = PayRequest(
    order_number="PO20260528000001",
    amount=Decimal("128.00"),
    subject="安心e生·百万医疗险 第2期保费",
    method=PaymentMethod.WECHAT_JSAPI,
    notify_url=NOTIFY,
    expires_at=datetime(2026, 5, 28, 22, 0, tzinfo=UTC),
    payer_id=OPENID,
    client_ip="203.0.113.7",
)
PAYOUT = TransferRequest(
    transfer_number="BA20260528000004",
    amount=Decimal("1280.50"),
    payee_id=OPENID,
    payee_name="张三",
    remark="安心保险理赔款 BA20260528000004",
    notify_url=NOTIFY,
    product_filing_no=FILING_NO,
    product_name=PRODUCT,
)


class ManualClock:
    """Seconds since the epoch that move only when a test says so; shared by us and
    the fake."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def auth_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    return {k: v.strip('"') for k, v in (part.split("=", 1) for part in rest.split(","))}


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def intruder_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make_fake(
    merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey, clock: Any
) -> FakeWechatPay:
    return FakeWechatPay(
        app_id=APP_ID,
        merchant_id=MCH_ID,
        merchant_serial_no=MCH_SERIAL,
        merchant_public_key=merchant_key.public_key(),
        platform_key=platform_key,
        platform_serial_no=PLATFORM_SERIAL,
        apiv3_key=APIV3_KEY,
        clock=clock,
    )


@pytest.fixture
async def wechat(
    merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey, clock: ManualClock
) -> AsyncIterator[FakeWechatPay]:
    async with make_fake(merchant_key, platform_key, clock).running() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(timeout=5) as client:
        yield client


def make_provider(
    http: httpx.AsyncClient,
    base_url: str,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
    clock: Any,
    **overrides: Any,
) -> WechatPayProvider:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "app_id": APP_ID,
        "merchant_id": MCH_ID,
        "merchant_serial_no": MCH_SERIAL,
        "merchant_private_key_pem": private_pem(merchant_key),
        "apiv3_key": APIV3_KEY,
        "platform_public_key_pem": public_pem(platform_key),
        "platform_serial_no": PLATFORM_SERIAL,
        "clock": clock,
        **overrides,
    }
    return WechatPayProvider(http, **settings)


@pytest.fixture
def provider(
    http: httpx.AsyncClient,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
    clock: ManualClock,
) -> WechatPayProvider:
    return make_provider(http, wechat.url, merchant_key, platform_key, clock)


async def paid_order(provider: WechatPayProvider, wechat: FakeWechatPay) -> str:
    await provider.checkout(PREMIUM)
    wechat.pay(PREMIUM.order_number)
    return PREMIUM.order_number


def refund_request(number: str = "RF20260528000001", amount: str = "28.00") -> RefundRequest:
    return RefundRequest(
        order_number=PREMIUM.order_number,
        refund_number=number,
        amount=Decimal(amount),
        total=PREMIUM.amount,
        reason="犹豫期内退保",
        notify_url=NOTIFY,
    )


# ------------------------------------------------------------------ the SDK as the judge


async def test_every_request_signature_is_the_one_the_sdk_computes(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SHA256withRSA (PKCS#1 v1.5) is deterministic: for the same method, path, query,
    timestamp, nonce and body the SDK's ``build_authorization`` must produce our header
    byte for byte, over the exact target the server received: POSTs with Chinese in the
    body, GETs with and without a query string."""
    order = await paid_order(provider, wechat)
    await provider.query(order)
    await provider.refund(refund_request())
    await provider.query_refund(order, "RF20260528000001")
    await provider.transfer(PAYOUT)
    await provider.query_transfer(PAYOUT.transfer_number)
    await provider.checkout(replace(PREMIUM, order_number="PO20260528000002"))
    await provider.close("PO20260528000002")
    assert len(wechat.requests) == 8
    sdk_key = sdk_utils.load_private_key(private_pem(merchant_key))
    for seen in wechat.requests:
        ours = seen.headers["authorization"]
        params = auth_params(ours)
        monkeypatch.setattr(
            sdk_utils, "time", SimpleNamespace(time=lambda p=params: int(p["timestamp"]))
        )
        theirs = sdk_utils.build_authorization(
            seen.target,
            seen.method,
            MCH_ID,
            MCH_SERIAL,
            sdk_key,
            data=seen.body.decode(),
            nonce_str=params["nonce_str"],
        )
        assert ours == theirs, seen.target
    assert [s.refused for s in wechat.requests] == [None] * 8
    targets = [f"{s.method} {s.target}" for s in wechat.requests]
    assert f"GET /v3/pay/transactions/out-trade-no/{order}?mchid={MCH_ID}" in targets
    assert "GET /v3/refund/domestic/refunds/RF20260528000001" in targets
    assert "POST /v3/pay/transactions/out-trade-no/PO20260528000002/close" in targets


async def test_pay_sign_is_the_one_the_sdk_signs_and_verifies_with_the_merchant_key(
    provider: WechatPayProvider, wechat: FakeWechatPay, merchant_key: rsa.RSAPrivateKey
) -> None:
    checkout = await provider.checkout(PREMIUM)
    params = checkout.params
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCH_ID,
        private_key=private_pem(merchant_key),
        cert_serial_no=MCH_SERIAL,
        appid=APP_ID,
        apiv3_key=APIV3_KEY,
        public_key=public_pem(merchant_key),  # any key: offline, no certificate download
        public_key_id=PLATFORM_SERIAL,
    )
    fields = [params["appId"], params["timeStamp"], params["nonceStr"], params["package"]]
    assert params["paySign"] == sdk.sign(fields)
    merchant_key.public_key().verify(
        base64.b64decode(params["paySign"]),
        ("\n".join(fields) + "\n").encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


async def test_the_fake_speaks_the_protocol_the_sdk_speaks(
    merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey
) -> None:
    """The SDK as a merchant client (real clock, sync ``requests`` in a thread): the fake
    accepts the SDK's signatures and encrypted user_name, and the SDK accepts the fake's
    signed answers (204 included) and refuses a tampered one -- so the fake is a fair
    judge of us."""
    async with make_fake(merchant_key, platform_key, time.time).running() as fake:
        sdk = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=MCH_ID,
            private_key=private_pem(merchant_key),
            cert_serial_no=MCH_SERIAL,
            appid=APP_ID,
            apiv3_key=APIV3_KEY,
            notify_url=NOTIFY,
            public_key=public_pem(platform_key),
            public_key_id=PLATFORM_SERIAL,
            timeout=(5, 5),
        )
        sdk._core._gate_way = fake.url

        code, message = await asyncio.to_thread(
            sdk.pay,
            description="安心e生·百万医疗险 第2期保费",
            out_trade_no="SDK20260528000001",
            amount={"total": 12800, "currency": "CNY"},
            payer={"openid": OPENID},
            time_expire="2026-05-29T06:00:00+08:00",
        )
        assert code == 200, message
        assert json.loads(message)["prepay_id"] == fake.orders["SDK20260528000001"].prepay_id
        code, message = await asyncio.to_thread(sdk.query, out_trade_no="SDK20260528000001")
        assert (code, json.loads(message)["trade_state"]) == (200, "NOTPAY")
        code, _ = await asyncio.to_thread(sdk.close, "SDK20260528000001")
        assert code == 204
        code, message = await asyncio.to_thread(
            sdk.mch_transfer_bills,
            out_bill_no="SDK20260528000002",
            transfer_scene_id="1004",
            openid=OPENID,
            transfer_amount=128050,
            transfer_remark="安心保险理赔款",
            user_name="张三",
            user_recv_perception="保险理赔款",
            transfer_scene_report_infos=[
                {"info_type": "保险产品备案编号", "info_content": FILING_NO},
                {"info_type": "保险名称", "info_content": PRODUCT},
                {"info_type": "保险操作单号", "info_content": "SDK20260528000002"},
            ],
        )
        assert code == 200, message
        assert json.loads(message)["state"] == "WAIT_USER_CONFIRM"
        assert fake.transfers["SDK20260528000002"].user_name == "张三"
        assert all(seen.refused is None for seen in fake.requests)

        fake.sabotage_next("tamper", (b"NOTPAY", b"SUCCESS"))
        fake.orders["SDK20260528000001"].state = "NOTPAY"
        with pytest.raises(Exception, match="failed to verify the signature"):
            await asyncio.to_thread(sdk.query, out_trade_no="SDK20260528000001")


async def test_a_callback_the_sdk_accepts_is_one_we_accept(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
) -> None:
    order = await paid_order(provider, wechat)
    headers, body = wechat.payment_notification(order)
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCH_ID,
        private_key=private_pem(merchant_key),
        cert_serial_no=MCH_SERIAL,
        appid=APP_ID,
        apiv3_key=APIV3_KEY,
        public_key=public_pem(platform_key),
        public_key_id=PLATFORM_SERIAL,
    )
    decoded = sdk.callback(headers, body)
    assert decoded is not None, "the SDK refused the fake's callback"
    notification = provider.parse_notification(headers, body, NOW)
    assert decoded["resource"] == dict(notification.raw)
    assert decoded["resource"]["out_trade_no"] == notification.order_number == order


async def test_a_callback_signed_by_the_sdk_is_accepted(
    provider: WechatPayProvider, wechat: FakeWechatPay, platform_key: rsa.RSAPrivateKey
) -> None:
    """Signature by the SDK's ``rsa_sign`` (as WeChat would sign), resource by our
    reference AES-GCM encryption; headers as Starlette hands them over (lower case)."""
    order = await paid_order(provider, wechat)
    nonce = "4uXkqdJ7FbkzPMsXhYvUqzMi3WCP2Ncm"
    envelope = {
        "id": "EV-2026052820264000001",
        "create_time": "2026-05-29T04:26:40+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": aes_gcm_encrypt(
                APIV3_KEY,
                "fPqxLQRZmjVn",
                "transaction",
                json.dumps(wechat.payment_resource(order), ensure_ascii=False).encode(),
            ),
            "associated_data": "transaction",
            "nonce": "fPqxLQRZmjVn",
        },
    }
    body = json.dumps(envelope, ensure_ascii=False)
    signature = sdk_utils.rsa_sign(platform_key, f"{T0}\n{nonce}\n{body}\n")
    headers = {
        "wechatpay-timestamp": str(T0),
        "wechatpay-nonce": nonce,
        "wechatpay-signature": signature,
        "wechatpay-serial": PLATFORM_SERIAL,
        "wechatpay-signature-type": "WECHATPAY2-SHA256-RSA2048",
    }
    notification = provider.parse_notification(headers, body.encode(), NOW)
    assert notification.kind == "payment"
    assert notification.order_number == order


# ------------------------------------------------------------------ premiums


async def test_jsapi_checkout_round_trip(
    provider: WechatPayProvider, wechat: FakeWechatPay, clock: ManualClock
) -> None:
    checkout = await provider.checkout(PREMIUM)
    order = wechat.orders[PREMIUM.order_number]
    assert order.request == {
        "appid": APP_ID,
        "mchid": MCH_ID,
        "description": "安心e生·百万医疗险 第2期保费",
        "out_trade_no": "PO20260528000001",
        "time_expire": "2026-05-29T06:00:00+08:00",
        "notify_url": NOTIFY,
        "amount": {"total": 12800, "currency": "CNY"},
        "payer": {"openid": OPENID},
        "scene_info": {"payer_client_ip": "203.0.113.7"},
    }
    seen = wechat.requests[-1]
    assert "\\u" not in seen.body.decode(), "Chinese is sent as UTF-8, not escapes"
    assert seen.headers["wechatpay-serial"] == PLATFORM_SERIAL
    assert checkout == Checkout(PaymentMethod.WECHAT_JSAPI, checkout.params)
    assert set(checkout.params) == {
        "appId",
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
    }
    assert checkout.params["appId"] == APP_ID
    assert checkout.params["timeStamp"] == str(T0)
    assert checkout.params["package"] == f"prepay_id={order.prepay_id}"
    assert checkout.params["signType"] == "RSA"
    assert len(checkout.params["nonceStr"]) == 32

    again = await provider.checkout(PREMIUM)  # the same order again: the same prepay_id
    assert again.params["package"] == checkout.params["package"]
    assert again.params["nonceStr"] != checkout.params["nonceStr"]

    status = await provider.query(PREMIUM.order_number)
    assert (status.state, status.amount, status.paid_at) == (
        TradeState.WAITING,
        Decimal("128.00"),
        None,
    )
    paid = wechat.pay(PREMIUM.order_number)
    status = await provider.query(PREMIUM.order_number)
    assert status.state is TradeState.PAID
    assert status.amount == Decimal("128.00")
    assert status.provider_trade_no == paid.transaction_id
    assert status.paid_at == NOW


@pytest.mark.parametrize(
    ("trade_state", "state"),
    [
        ("SUCCESS", TradeState.PAID),
        ("REFUND", TradeState.PAID),
        ("NOTPAY", TradeState.WAITING),
        ("USERPAYING", TradeState.WAITING),
        ("CLOSED", TradeState.CLOSED),
        ("REVOKED", TradeState.CLOSED),
        ("PAYERROR", TradeState.CLOSED),
    ],
)
async def test_query_maps_every_trade_state(
    provider: WechatPayProvider, wechat: FakeWechatPay, trade_state: str, state: TradeState
) -> None:
    await provider.checkout(PREMIUM)
    if trade_state in ("SUCCESS", "REFUND"):
        wechat.pay(PREMIUM.order_number)
    wechat.set_trade_state(PREMIUM.order_number, trade_state)
    assert (await provider.query(PREMIUM.order_number)).state is state


async def test_an_unknown_order_is_not_found(provider: WechatPayProvider) -> None:
    status = await provider.query("PO20260528999999")
    assert status.state is TradeState.NOT_FOUND
    assert status.order_number == "PO20260528999999"


async def test_close_then_query_says_closed_and_a_paid_order_cannot_be_closed(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    await provider.checkout(PREMIUM)
    await provider.close(PREMIUM.order_number)
    assert wechat.orders[PREMIUM.order_number].state == "CLOSED"
    assert json.loads(wechat.requests[-1].body) == {"mchid": MCH_ID}
    assert (await provider.query(PREMIUM.order_number)).state is TradeState.CLOSED

    other = replace(PREMIUM, order_number="PO20260528000002")
    await provider.checkout(other)
    wechat.pay(other.order_number)
    with pytest.raises(ProviderRejected) as caught:
        await provider.close(other.order_number)
    assert caught.value.code == "ORDERPAID"


async def test_checkout_refuses_what_wechat_cannot_take(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    """Refused here, before any request: another method, no openid, fractions of a fen,
    nothing to pay, an order number that would change the URL path."""
    cases: list[dict[str, Any]] = [
        {"method": PaymentMethod.ALIPAY_APP},
        {"payer_id": None},
        {"amount": Decimal("12.345")},
        {"amount": Decimal("0")},
        {"order_number": "PO/../../v3"},
    ]
    for change in cases:
        with pytest.raises(ProviderRejected):
            await provider.checkout(replace(PREMIUM, **change))
    assert wechat.requests == []


# ------------------------------------------------------------------ refunds


async def test_refund_then_its_query_and_settlement(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    order = await paid_order(provider, wechat)
    result = await provider.refund(refund_request())
    refund = wechat.refunds["RF20260528000001"]
    assert refund.request == {
        "out_trade_no": order,
        "out_refund_no": "RF20260528000001",
        "reason": "犹豫期内退保",
        "notify_url": NOTIFY,
        "amount": {"refund": 2800, "total": 12800, "currency": "CNY"},
    }
    assert result.state is RefundState.PROCESSING
    assert result.provider_refund_id == refund.refund_id
    assert (await provider.refund(refund_request())).provider_refund_id == refund.refund_id

    wechat.settle_refund("RF20260528000001")
    queried = await provider.query_refund(order, "RF20260528000001")
    assert (queried.state, queried.provider_refund_id) == (RefundState.SUCCESS, refund.refund_id)

    await provider.refund(refund_request("RF20260528000002", "100.00"))
    wechat.settle_refund("RF20260528000002", "ABNORMAL")
    abnormal = await provider.query_refund(order, "RF20260528000002")
    assert abnormal.state is RefundState.FAILED

    with pytest.raises(ProviderRejected) as caught:
        await provider.query_refund("PO20260528000777", "RF20260528000001")
    assert caught.value.code == "ORDER_MISMATCH"
    with pytest.raises(ProviderRejected) as caught:
        await provider.query_refund(order, "RF20260528000404")
    assert caught.value.code == "RESOURCE_NOT_EXISTS"


async def test_refund_refusals_are_rejections_with_wechat_codes(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    await paid_order(provider, wechat)
    with pytest.raises(ProviderRejected) as caught:
        await provider.refund(refund_request(amount="128.01"))
    assert caught.value.code == "INVALID_REQUEST"
    wechat.balance_fen = 100
    with pytest.raises(ProviderRejected) as caught:
        await provider.refund(refund_request())
    assert caught.value.code == "NOT_ENOUGH"
    assert "余额不足" in str(caught.value)


# ------------------------------------------------------------------ claim payouts


async def test_transfer_waits_for_the_payee_and_a_retry_never_pays_twice(
    provider: WechatPayProvider, wechat: FakeWechatPay, platform_key: rsa.RSAPrivateKey
) -> None:
    result = await provider.transfer(PAYOUT)
    bill = wechat.transfers[PAYOUT.transfer_number]
    assert result.state is TransferState.WAIT_USER_CONFIRM
    assert result.confirm_package == bill.package_info
    assert result.provider_transfer_id == bill.transfer_bill_no
    sent = dict(bill.request)
    encrypted = sent.pop("user_name")
    assert sent == {
        "appid": APP_ID,
        "out_bill_no": "BA20260528000004",
        "transfer_scene_id": "1004",
        "openid": OPENID,
        "transfer_amount": 128050,
        "transfer_remark": "安心保险理赔款 BA20260528000004",
        "notify_url": NOTIFY,
        "user_recv_perception": "保险理赔款",
        "transfer_scene_report_infos": [
            {"info_type": "保险产品备案编号", "info_content": FILING_NO},
            {"info_type": "保险名称", "info_content": PRODUCT},
            {"info_type": "保险操作单号", "info_content": "BA20260528000004"},
        ],
    }
    assert sdk_utils.rsa_decrypt(encrypted, platform_key) == "张三"  # the SDK's OAEP
    assert bill.user_name == "张三"

    again = await provider.transfer(PAYOUT)  # a retry after a timeout: the same bill
    assert again == result
    assert len(wechat.transfers) == 1
    assert wechat.balance_fen == 10**10 - 128050

    queried = await provider.query_transfer(PAYOUT.transfer_number)
    assert queried.state is TransferState.WAIT_USER_CONFIRM
    wechat.confirm_transfer(PAYOUT.transfer_number)
    done = await provider.query_transfer(PAYOUT.transfer_number)
    assert (done.state, done.confirm_package, done.failure_reason) == (
        TransferState.SUCCESS,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("wechat_state", "state"),
    [
        ("ACCEPTED", TransferState.PROCESSING),
        ("PROCESSING", TransferState.PROCESSING),
        ("TRANSFERING", TransferState.PROCESSING),
        ("CANCELING", TransferState.PROCESSING),
        ("SUCCESS", TransferState.SUCCESS),
        ("FAIL", TransferState.FAILED),
        ("CANCELLED", TransferState.FAILED),
    ],
)
async def test_transfer_states(
    provider: WechatPayProvider, wechat: FakeWechatPay, wechat_state: str, state: TransferState
) -> None:
    wechat.transfer_first_state = wechat_state
    result = await provider.transfer(PAYOUT)
    assert (result.state, result.confirm_package) == (state, None)


async def test_a_failed_transfer_says_why_and_an_unknown_one_is_not_found(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    await provider.transfer(PAYOUT)
    wechat.finish_transfer(PAYOUT.transfer_number, "FAIL", "PAYEE_ACCOUNT_ABNORMAL")
    failed = await provider.query_transfer(PAYOUT.transfer_number)
    assert (failed.state, failed.failure_reason) == (TransferState.FAILED, "PAYEE_ACCOUNT_ABNORMAL")
    assert (await provider.query_transfer("BA404")).state is TransferState.NOT_FOUND


async def test_transfer_refusals(
    provider: WechatPayProvider, wechat: FakeWechatPay, caplog: pytest.LogCaptureFixture
) -> None:
    big = replace(PAYOUT, amount=Decimal("2000.00"), payee_name=None)
    with pytest.raises(ProviderRejected, match="real name"):
        await provider.transfer(big)
    with pytest.raises(ProviderRejected):
        await provider.transfer(replace(PAYOUT, transfer_number="BA-1"))
    assert wechat.requests == [], "refused before any request"

    wechat.balance_fen = 0
    with pytest.raises(ProviderRejected) as caught:
        await provider.transfer(PAYOUT)
    assert caught.value.code == "NOT_ENOUGH"
    assert [f"{s.method} {s.target}" for s in wechat.requests][-1] == (
        f"GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{PAYOUT.transfer_number}"
    ), "a refusal is final only once a query shows no bill exists"

    wechat.balance_fen = 10**10
    first = await provider.transfer(PAYOUT)
    changed = replace(PAYOUT, payee_id="oOtherPayee")
    known = await provider.transfer(changed)  # WeChat: 单号已存在但信息不一致
    assert (known.state, known.provider_transfer_id) == (
        TransferState.WAIT_USER_CONFIRM,
        first.provider_transfer_id,
    )
    assert len(wechat.transfers) == 1
    assert any(
        "INVALID_REQUEST" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )


async def test_the_insurance_scene_reports_each_claims_own_product(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    http: httpx.AsyncClient,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
) -> None:
    other = replace(
        PAYOUT,
        transfer_number="BA20260528000009",
        product_filing_no="C00000732612021122300191",
        product_name="安心驾乘·机动车商业保险",
    )
    await provider.transfer(other)
    assert wechat.transfers[other.transfer_number].request["transfer_scene_report_infos"] == [
        {"info_type": "保险产品备案编号", "info_content": "C00000732612021122300191"},
        {"info_type": "保险名称", "info_content": "安心驾乘·机动车商业保险"},
        {"info_type": "保险操作单号", "info_content": "BA20260528000009"},
    ]
    sent = len(wechat.requests)
    for unfiled in (
        replace(PAYOUT, product_filing_no=None),
        replace(PAYOUT, product_name=""),
        replace(PAYOUT, product_name="安" * 33),  # WeChat takes at most 32 characters
    ):
        with pytest.raises(ProviderRejected, match="PARAM_ERROR"):
            await provider.transfer(unfiled)
    assert len(wechat.requests) == sent, "refused before any request"
    with pytest.raises(ValueError, match="scene_report_infos"):
        make_provider(
            http,
            "http://127.0.0.1:9",
            merchant_key,
            platform_key,
            time.time,
            transfer_scene_id="1006",
        )


# ------------------------------------------------------------------ errors and bad answers


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (500, "SYSTEM_ERROR", ProviderUnavailable),
        (429, "FREQUENCY_LIMITED", ProviderUnavailable),
        (400, "SYSTEM_ERROR", ProviderUnavailable),
        (503, "BANK_ERROR", ProviderUnavailable),
        (400, "PARAM_ERROR", ProviderRejected),
        (403, "NOT_ENOUGH", ProviderRejected),
        (403, "NO_AUTH", ProviderRejected),
    ],
)
async def test_wechat_errors_map_to_what_to_do_next(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    status: int,
    code: str,
    error: type[PaymentProviderError],
) -> None:
    wechat.fail_next(status, code, "出错了")
    with pytest.raises(error) as caught:
        await provider.checkout(PREMIUM)
    assert type(caught.value) is error
    if isinstance(caught.value, ProviderRejected):
        assert caught.value.code == code


async def test_timeouts_and_refused_connections_are_unavailable(
    http: httpx.AsyncClient,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
    clock: ManualClock,
) -> None:
    impatient = make_provider(
        http, wechat.url, merchant_key, platform_key, clock, timeout_seconds=0.2
    )
    wechat.delay_seconds = 1.0
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await impatient.transfer(PAYOUT)
    wechat.delay_seconds = 0.0
    with refused_url() as url:
        down = make_provider(http, url, merchant_key, platform_key, clock)
        with pytest.raises(ProviderUnavailable, match="unreachable"):
            await down.query(PREMIUM.order_number)


async def test_a_request_signed_with_another_key_is_refused_by_the_fake(
    http: httpx.AsyncClient,
    wechat: FakeWechatPay,
    intruder_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
    clock: ManualClock,
) -> None:
    """The fake is a real judge: the wrong merchant key gets WeChat's 401 SIGN_ERROR."""
    impostor = make_provider(http, wechat.url, intruder_key, platform_key, clock)
    with pytest.raises(ProviderRejected) as caught:
        await impostor.checkout(PREMIUM)
    assert caught.value.code == "SIGN_ERROR"
    assert wechat.requests[-1].refused == "签名错误"
    assert wechat.orders == {}


@pytest.mark.parametrize("sabotage", ["tamper", "unsigned", "wrong_key", "wrong_serial", "stale"])
async def test_an_answer_not_signed_by_wechat_is_not_believed(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    sabotage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A man in the middle turns NOTPAY into SUCCESS, or answers unsigned, with another
    key, under another serial, or replays an old answer: never PAID, always Unavailable
    (query again later), logged."""
    await provider.checkout(PREMIUM)
    wechat.sabotage_next(sabotage, (b"NOTPAY", b"SUCCESS") if sabotage == "tamper" else None)
    with pytest.raises(ProviderUnavailable):
        await provider.query(PREMIUM.order_number)
    assert any(r.levelno >= logging.ERROR for r in caplog.records if r.name.startswith("anxin"))
    assert (await provider.query(PREMIUM.order_number)).state is TradeState.WAITING


async def test_an_unsigned_not_found_is_not_a_result(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    wechat.sabotage_next("unsigned")
    with pytest.raises(ProviderUnavailable, match="not signed"):
        await provider.query("PO20260528999999")
    wechat.sabotage_next("unsigned")
    with pytest.raises(ProviderUnavailable, match="not signed"):
        await provider.query_transfer("BA404")


async def test_a_tampered_204_is_not_believed(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    await provider.checkout(PREMIUM)
    wechat.sabotage_next("wrong_key")
    with pytest.raises(ProviderUnavailable, match="does not verify"):
        await provider.close(PREMIUM.order_number)


# ------------------------------------------------------------------ callbacks


async def test_payment_callback_is_decoded(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    order = await paid_order(provider, wechat)
    headers, body = wechat.payment_notification(order)
    notification = provider.parse_notification(headers, body, NOW)
    transaction = wechat.orders[order].transaction_id
    assert (notification.kind, notification.order_number, notification.state) == (
        "payment",
        order,
        "PAID",
    )
    assert notification.amount == Decimal("128.00")
    assert (notification.app_id, notification.merchant_id) == (APP_ID, MCH_ID)
    assert notification.provider_trade_no == transaction
    assert notification.occurred_at == NOW
    assert notification.refund_number is None
    assert notification.raw["payer"] == {"openid": OPENID}


async def test_refund_callbacks_are_decoded(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    order = await paid_order(provider, wechat)
    await provider.refund(refund_request())
    refund = wechat.settle_refund("RF20260528000001")
    notification = provider.parse_notification(*wechat.refund_notification("RF20260528000001"), NOW)
    assert notification.kind == "refund"
    assert (notification.order_number, notification.refund_number) == (order, "RF20260528000001")
    assert (notification.state, notification.amount) == ("SUCCESS", Decimal("28.00"))
    assert notification.provider_trade_no == refund.refund_id
    assert (notification.merchant_id, notification.app_id) == (MCH_ID, "")
    assert notification.occurred_at == NOW

    await provider.refund(refund_request("RF20260528000002", "1.00"))
    wechat.settle_refund("RF20260528000002", "ABNORMAL")
    abnormal = provider.parse_notification(*wechat.refund_notification("RF20260528000002"), NOW)
    assert (abnormal.state, abnormal.amount) == ("FAILED", Decimal("1.00"))


async def test_transfer_callbacks_are_decoded(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    await provider.transfer(PAYOUT)
    bill = wechat.confirm_transfer(PAYOUT.transfer_number)
    notification = provider.parse_notification(
        *wechat.transfer_notification(PAYOUT.transfer_number), NOW
    )
    assert (notification.kind, notification.order_number) == ("transfer", PAYOUT.transfer_number)
    assert (notification.state, notification.amount) == ("SUCCESS", Decimal("1280.50"))
    assert (notification.provider_trade_no, notification.merchant_id) == (
        bill.transfer_bill_no,
        MCH_ID,
    )

    other = replace(PAYOUT, transfer_number="BA20260528000005")
    await provider.transfer(other)
    wechat.finish_transfer(other.transfer_number, "CANCELLED", "TRANSFER_CANCELLED")
    cancelled = provider.parse_notification(
        *wechat.transfer_notification(other.transfer_number), NOW
    )
    assert cancelled.state == "FAILED"
    assert cancelled.raw["fail_reason"] == "TRANSFER_CANCELLED"


def resign(wechat: FakeWechatPay, envelope: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return wechat.signed_headers(body), body


def flip_ciphertext(
    wechat: FakeWechatPay, headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], bytes]:
    envelope = json.loads(body)
    raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    raw[10] ^= 0x01
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    return resign(wechat, envelope)


def change(field: str, value: Any) -> Any:
    def spoil(
        wechat: FakeWechatPay, headers: dict[str, str], body: bytes
    ) -> tuple[dict[str, str], bytes]:
        envelope = json.loads(body)
        target = envelope["resource"] if field in ("associated_data", "algorithm") else envelope
        target[field] = value
        return resign(wechat, envelope)

    return spoil


BAD_CALLBACKS: dict[str, tuple[dict[str, Any], Any]] = {
    # name: (notification() overrides, then a function spoiling (headers, body))
    "signed by another key": ({"signing_key": "intruder"}, None),
    "under another serial": ({"serial": "PUB_KEY_ID_0119000091912026052899999999999999"}, None),
    "stale: replayed 301 s later": ({"timestamp": T0 - 301}, None),
    "from the future": ({"timestamp": T0 + 301}, None),
    "encrypted with another APIv3 key": ({"apiv3_key": "Z" * 32}, None),
    "ciphertext tampered, then re-signed": ({}, flip_ciphertext),
    "associated data changed, then re-signed": ({}, change("associated_data", "refund")),
    "unknown algorithm, re-signed": ({}, change("algorithm", "AEAD_SM4_GCM")),
    "plain resource, re-signed": ({}, change("resource_type", "plain")),
    "unhandled event type, re-signed": ({}, change("event_type", "TRANSACTION.ODD")),
    "body changed after signing": (
        {},
        lambda w, h, b: (h, b.replace("支付成功".encode(), "支付失败".encode())),
    ),
    "signature missing": (
        {},
        lambda w, h, b: ({k: v for k, v in h.items() if k != "Wechatpay-Signature"}, b),
    ),
    "WeChat's SIGNTEST probe": (
        {},
        lambda w, h, b: (
            {**h, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + h["Wechatpay-Signature"]},
            b,
        ),
    ),
    "another signature type": (
        {},
        lambda w, h, b: ({**h, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, b),
    ),
    "signature not base64": ({}, lambda w, h, b: ({**h, "Wechatpay-Signature": "%%%"}, b)),
    "body not JSON, signed": ({}, lambda w, h, b: (w.signed_headers(b"<xml/>"), b"<xml/>")),
    "timestamp not a number": ({}, lambda w, h, b: ({**h, "Wechatpay-Timestamp": "soon"}, b)),
}


@pytest.mark.parametrize("case", list(BAD_CALLBACKS))
async def test_every_bad_callback_is_refused(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    intruder_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    order = await paid_order(provider, wechat)
    overrides, spoil = BAD_CALLBACKS[case]
    if overrides.get("signing_key") == "intruder":
        overrides = {**overrides, "signing_key": intruder_key}
    headers, body = wechat.payment_notification(order, **overrides)
    if spoil is not None:
        headers, body = spoil(wechat, headers, body)
    with pytest.raises(InvalidNotification):
        provider.parse_notification(headers, body, NOW)
    assert any("notification refused" in r.getMessage() for r in caplog.records)


async def test_a_replayed_callback_is_refused_after_the_window(
    provider: WechatPayProvider, wechat: FakeWechatPay
) -> None:
    order = await paid_order(provider, wechat)
    headers, body = wechat.payment_notification(order)
    assert (
        provider.parse_notification(headers, body, NOW + timedelta(seconds=300)).order_number
        == order
    )
    with pytest.raises(InvalidNotification, match="stale or replayed"):
        provider.parse_notification(headers, body, NOW + timedelta(seconds=301))


def test_replies_are_exactly_what_wechat_documents(provider: WechatPayProvider) -> None:
    ok = provider.reply(True)
    assert (ok.status_code, ok.body) == (200, b"")
    refused = provider.reply(False)
    assert refused.status_code == 500
    assert refused.content_type == "application/json; charset=utf-8"
    assert json.loads(refused.body) == {"code": "FAIL", "message": "失败"}
    assert refused.body == '{"code": "FAIL", "message": "失败"}'.encode()


# ------------------------------------------------------------------ keys stay secret


async def test_keys_never_in_logs_errors_or_repr(
    provider: WechatPayProvider,
    wechat: FakeWechatPay,
    merchant_key: rsa.RSAPrivateKey,
    platform_key: rsa.RSAPrivateKey,
    intruder_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    order = await paid_order(provider, wechat)
    await provider.query(order)
    await provider.refund(refund_request())
    await provider.transfer(PAYOUT)
    for status, code in [(500, "SYSTEM_ERROR"), (400, "PARAM_ERROR")]:
        wechat.fail_next(status, code)
        with pytest.raises(PaymentProviderError) as caught:
            await provider.query(order)
        errors.append(repr(caught.value))
    wechat.sabotage_next("wrong_key")
    with pytest.raises(ProviderUnavailable) as unavailable:
        await provider.query(order)
    errors.append(repr(unavailable.value))
    headers, body = wechat.payment_notification(order, signing_key=intruder_key)
    with pytest.raises(InvalidNotification) as invalid:
        provider.parse_notification(headers, body, NOW)
    errors.append(repr(invalid.value))
    headers, body = wechat.payment_notification(order, apiv3_key="Z" * 32)
    with pytest.raises(InvalidNotification) as invalid:
        provider.parse_notification(headers, body, NOW)
    errors.append(repr(invalid.value))

    everything = "\n".join(
        [caplog.text, repr(provider), str(provider), *errors, str(vars(provider))]
    )
    pem_lines = [
        line
        for pem in (private_pem(merchant_key), private_pem(platform_key))
        for line in pem.splitlines()
        if "-----" not in line
    ]
    assert "PRIVATE KEY" not in everything
    assert not any(line in everything for line in pem_lines)
    assert APIV3_KEY not in everything
    assert "张三" not in everything, "the payee's name is personal data"
    signatures = [auth_params(s.headers["authorization"])["signature"] for s in wechat.requests]
    assert not any(signature in everything for signature in signatures)
    assert [r for r in caplog.records if r.name.startswith("anxin")], "refusals are logged"
    assert repr(provider) == f"WechatPayProvider(merchant_id={MCH_ID!r}, app_id={APP_ID!r})"


def test_bad_keys_are_refused_without_quoting_them(
    http: httpx.AsyncClient, merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey
) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    garbage = "-----BEGIN PRIVATE KEY-----\nnot-a-key-at-all\n-----END PRIVATE KEY-----"
    for pem in (ec_pem, garbage):
        with pytest.raises(ValueError) as caught:
            make_provider(
                http,
                "http://127.0.0.1:9",
                merchant_key,
                platform_key,
                time.time,
                merchant_private_key_pem=pem,
            )
        assert "not-a-key" not in str(caught.value)
        assert "BEGIN" not in str(caught.value)
    with pytest.raises(ValueError, match="32") as caught:
        make_provider(
            http,
            "http://127.0.0.1:9",
            merchant_key,
            platform_key,
            time.time,
            apiv3_key="short-key-value",
        )
    assert "short-key-value" not in str(caught.value)


def test_bare_base64_keys_are_accepted(
    http: httpx.AsyncClient, merchant_key: rsa.RSAPrivateKey, platform_key: rsa.RSAPrivateKey
) -> None:
    """WeChat's merchant platform hands the public key out as a file; settings often
    hold only its base64 body."""
    bare = "".join(line for line in public_pem(platform_key).splitlines() if "-----" not in line)
    provider: PaymentProvider = make_provider(
        http,
        "http://127.0.0.1:9",
        merchant_key,
        platform_key,
        time.time,
        platform_public_key_pem=bare,
    )
    assert provider.name == "wechat"
