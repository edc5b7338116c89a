"""Alipay against a fake gateway on 127.0.0.1 that checks our RSA2 signatures and signs its
answers and notifications, with the vendor's own SDK (``alipay-sdk-python``) as the
reference: it verifies our request signatures and order strings, and signs notifications
and answers that our verifier must accept. Pure provider tests: no database, no app."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2, verify_with_rsa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments.alipay import AlipayProvider, load_private_key, yuan
from payments.base import (
    InvalidNotification,
    PaymentMethod,
    PaymentProvider,
    PayRequest,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundState,
    TradeState,
    TransferRequest,
    TransferState,
)
from tests.fakes.alipay import (
    SYSTEM_ERROR,
    TRADE_SYSTEM_ERROR,
    FakeAlipay,
    business,
)
from tests.fakes.server import http_client, refused_url, serve

APP_ID = "2021004100000001"
SELLER_ID = "2088101122136241"
PAYEE_USER_ID = "2088102177846880"
PAYEE_LOGON = "claimant@example.cn"
PAYEE_NAME = "张三"
NOTIFY_URL = "https://anxin.example.cn/payments/alipay/notify"
# 10:15:02 in Beijing: the timestamp Alipay must see.
NOW = datetime(2026, 11, 30, 2, 15, 2, tzinfo=UTC)


# ------------------------------------------------------------------ keys in every shape


@cache
def _key(name: str) -> rsa.RSAPrivateKey:
    del name  # one key per name, made once per run
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkcs1_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def pkcs8_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def bare(pem: str) -> str:
    """The bare base64 Alipay's key tool and console show: no armour, one line."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def app_key() -> rsa.RSAPrivateKey:
    return _key("app")


def alipay_key() -> rsa.RSAPrivateKey:
    return _key("alipay")


# ------------------------------------------------------------------ the vendor SDK


def sdk_verifies(params: dict[str, str], public_key_pem: str) -> bool:
    """The SDK's own check of a signed request: its sign content, its RSA code."""
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    content = get_sign_content(unsigned).encode()
    return verify_with_rsa(public_key_pem, content, params["sign"])


def sdk_signer(key: rsa.RSAPrivateKey) -> Callable[[str], str]:
    pem = pkcs1_pem(key)  # the SDK reads PKCS#1 only
    return lambda content: sign_with_rsa2(pem, content, "utf-8")


# ------------------------------------------------------------------ fixtures


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(timeout=5.0) as client:
        yield client


def make_fake(**kwargs: Any) -> FakeAlipay:
    return FakeAlipay(
        app_id=APP_ID,
        app_public_key_pem=public_pem(app_key()),
        alipay_private_key_pem=pkcs8_pem(alipay_key()),
        seller_id=SELLER_ID,
        payees={PAYEE_USER_ID: PAYEE_NAME, PAYEE_LOGON: PAYEE_NAME},
        clock=lambda: NOW,
        **kwargs,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlipay]:
    async with make_fake().running() as running:
        yield running


def make_provider(
    http: httpx.AsyncClient,
    gateway_url: str,
    *,
    private_key: str | None = None,
    public_key: str | None = None,
) -> AlipayProvider:
    return AlipayProvider(
        http,
        gateway_url=gateway_url,
        app_id=APP_ID,
        seller_id=SELLER_ID,
        app_private_key_pem=private_key or pkcs1_pem(app_key()),
        alipay_public_key_pem=public_key or public_pem(alipay_key()),
        clock=lambda: NOW,
    )


@pytest.fixture
def provider(http: httpx.AsyncClient, fake: FakeAlipay) -> AlipayProvider:
    return make_provider(http, fake.gateway_url)


@pytest.fixture
def offline_provider(http: httpx.AsyncClient) -> AlipayProvider:
    """For what needs no gateway (order strings, notifications, replies): port 9 is never
    called."""
    return make_provider(http, "http://127.0.0.1:9/gateway.do")


def pay_request(order_number: str, method: PaymentMethod, **kwargs: Any) -> PayRequest:
    values: dict[str, Any] = {
        "order_number": order_number,
        "amount": Decimal("12.3"),
        "subject": "安心e生·百万医疗险 第2期保费",
        "method": method,
        "notify_url": NOTIFY_URL,
        "expires_at": NOW + timedelta(minutes=30),
        **kwargs,
    }
    return PayRequest(**values)


async def paid_trade(provider: AlipayProvider, fake: FakeAlipay, order_number: str) -> str:
    checkout = await provider.checkout(pay_request(order_number, PaymentMethod.ALIPAY_APP))
    fake.pay_order_string(checkout.params["orderString"])
    return order_number


def refund_request(order_number: str, refund_number: str, amount: str) -> RefundRequest:
    return RefundRequest(
        order_number=order_number,
        refund_number=refund_number,
        amount=Decimal(amount),
        total=Decimal("12.30"),
        reason="犹豫期内退保",
        notify_url=NOTIFY_URL,
    )


def transfer_request(number: str, payee: str = PAYEE_USER_ID, **kwargs: Any) -> TransferRequest:
    values: dict[str, Any] = {
        "transfer_number": number,
        "amount": Decimal("1500.00"),
        "payee_id": payee,
        "payee_name": PAYEE_NAME,
        "remark": f"安心保险理赔款 {number}",
        "notify_url": NOTIFY_URL,
        **kwargs,
    }
    return TransferRequest(**values)


# ------------------------------------------------------------------ the SDK checks our side


def test_the_provider_satisfies_the_protocol(offline_provider: AlipayProvider) -> None:
    as_protocol: PaymentProvider = offline_provider
    assert (as_protocol.name, as_protocol.app_id, as_protocol.merchant_id) == (
        "alipay",
        APP_ID,
        SELLER_ID,
    )


async def test_sdk_verifies_our_gateway_request_and_signs_it_identically(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    await provider.query("PO20261130000001")
    call = fake.calls[-1]
    params = call.params
    assert sdk_verifies(params, public_pem(app_key()))
    # PKCS#1 v1.5 is deterministic: the SDK, given our key and our parameters, signs the same.
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    assert (
        sign_with_rsa2(pkcs1_pem(app_key()), get_sign_content(unsigned), "utf-8")
        == (params["sign"])
    )
    assert params["timestamp"] == "2026-11-30 10:15:02"  # Beijing time, not UTC
    assert {k: params[k] for k in ("format", "charset", "sign_type", "version")} == {
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "version": "1.0",
    }
    # As the vendor's SDKs send it: common parameters in the URL, the business JSON in the body.
    assert set(call.form) == {"biz_content"}
    assert "sign" in call.query and "biz_content" not in call.query
    assert call.content_type.startswith("application/x-www-form-urlencoded")
    assert call.biz == {"out_trade_no": "PO20261130000001"}


async def test_sdk_verifies_our_order_string_and_the_buyer_can_pay_it(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    checkout = await provider.checkout(pay_request("PO20261130000002", PaymentMethod.ALIPAY_APP))
    assert checkout.method is PaymentMethod.ALIPAY_APP
    assert set(checkout.params) == {"orderString"}
    assert fake.calls == []  # an order string is made locally: no gateway call
    pairs = parse_qsl(checkout.params["orderString"], strict_parsing=True)
    params = dict(pairs)
    assert len(pairs) == len(params)
    assert sdk_verifies(params, public_pem(app_key()))
    assert params["method"] == "alipay.trade.app.pay"
    assert params["notify_url"] == NOTIFY_URL
    assert params["app_id"] == APP_ID
    assert json.loads(params["biz_content"]) == {
        "out_trade_no": "PO20261130000002",
        "total_amount": "12.30",
        "subject": "安心e生·百万医疗险 第2期保费",
        "product_code": "QUICK_MSECURITY_PAY",
        "time_expire": "2026-11-30 10:45:02",
    }

    trade = fake.pay_order_string(checkout.params["orderString"])
    status = await provider.query("PO20261130000002")
    assert status.state is TradeState.PAID
    assert status.amount == Decimal("12.30")
    assert status.provider_trade_no == trade.trade_no
    assert status.paid_at == NOW


async def test_our_verifier_accepts_a_notification_signed_by_the_sdk(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    await paid_trade(provider, fake, "PO20261130000003")
    params = fake.notification("PO20261130000003", signed=False)
    content = get_sign_content({k: v for k, v in params.items() if k != "sign_type"})
    params["sign"] = sign_with_rsa2(pkcs1_pem(alipay_key()), content, "utf-8")

    notification = provider.parse_notification(
        {"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        fake.form_body(params),
        NOW,
    )
    assert notification.kind == "payment"
    assert notification.state == TradeState.PAID
    assert notification.order_number == "PO20261130000003"
    assert notification.amount == Decimal("12.30")
    assert notification.app_id == APP_ID
    assert notification.merchant_id == SELLER_ID
    assert notification.provider_trade_no == fake.trades["PO20261130000003"].trade_no
    assert notification.occurred_at == NOW  # gmt_payment, Beijing time, back in UTC
    assert notification.refund_number is None
    assert "sign" not in notification.raw


async def test_answers_signed_by_the_sdk_are_accepted(http: httpx.AsyncClient) -> None:
    async with make_fake(signer=sdk_signer(alipay_key())).running() as fake:
        provider = make_provider(http, fake.gateway_url)
        await paid_trade(provider, fake, "PO20261130000004")
        status = await provider.query("PO20261130000004")
        assert status.state is TradeState.PAID
        assert (await provider.query("PO-UNKNOWN")).state is TradeState.NOT_FOUND


# ------------------------------------------------------------------ keys and the gateway


@pytest.mark.parametrize(
    ("private_key", "public_key"),
    [
        pytest.param(lambda: pkcs1_pem(app_key()), lambda: public_pem(alipay_key()), id="pkcs1"),
        pytest.param(lambda: pkcs8_pem(app_key()), lambda: public_pem(alipay_key()), id="pkcs8"),
        pytest.param(
            lambda: bare(pkcs1_pem(app_key())), lambda: bare(public_pem(alipay_key())), id="bare1"
        ),
        pytest.param(
            lambda: bare(pkcs8_pem(app_key())), lambda: bare(public_pem(alipay_key())), id="bare8"
        ),
    ],
)
async def test_pkcs1_and_pkcs8_keys_pem_or_bare_all_work(
    http: httpx.AsyncClient,
    fake: FakeAlipay,
    private_key: Callable[[], str],
    public_key: Callable[[], str],
) -> None:
    provider = make_provider(
        http, fake.gateway_url, private_key=private_key(), public_key=public_key()
    )
    await paid_trade(provider, fake, "PO20261130000005")  # the fake checked the order string
    assert (await provider.query("PO20261130000005")).state is TradeState.PAID
    assert sdk_verifies(fake.calls[-1].params, public_pem(app_key()))


def test_unreadable_keys_are_refused_without_echoing_them() -> None:
    secret_looking = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-not-a-key"
    with pytest.raises(ValueError) as error:
        load_private_key(secret_looking)
    assert secret_looking not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


async def test_a_gateway_on_a_port_other_than_443_is_used_as_given(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    parts = urlsplit(fake.gateway_url)
    assert parts.port not in (None, 80, 443)
    assert parts.hostname == "127.0.0.1"
    await provider.query("PO20261130000006")
    assert len(fake.calls) == 1


# ------------------------------------------------------------------ round trips


async def test_mini_program_trade_create_then_pay_then_close_is_refused(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    request = pay_request(
        "PO20261130000007", PaymentMethod.ALIPAY_MINI_PROGRAM, payer_id=PAYEE_USER_ID
    )
    checkout = await provider.checkout(request)
    trade = fake.trades["PO20261130000007"]
    assert checkout.params == {"tradeNo": trade.trade_no}
    assert trade.buyer_id == PAYEE_USER_ID
    assert trade.notify_url == NOTIFY_URL
    assert fake.calls[-1].biz["buyer_id"] == PAYEE_USER_ID
    assert fake.calls[-1].biz["product_code"] == "JSAPI_PAY"
    assert (await provider.query("PO20261130000007")).state is TradeState.WAITING

    fake.pay("PO20261130000007")
    assert (await provider.query("PO20261130000007")).state is TradeState.PAID
    with pytest.raises(ProviderRejected) as refused:
        await provider.close("PO20261130000007")
    assert refused.value.code == "ACQ.TRADE_STATUS_ERROR"

    with pytest.raises(ValueError):
        await provider.checkout(pay_request("PO20261130000008", PaymentMethod.ALIPAY_MINI_PROGRAM))
    with pytest.raises(ValueError):
        await provider.checkout(pay_request("PO20261130000008", PaymentMethod.WECHAT_JSAPI))


async def test_query_of_an_unknown_trade_is_not_found(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    status = await provider.query("PO-NEVER-OPENED")
    assert status.state is TradeState.NOT_FOUND
    assert fake.calls[-1].answer["sub_code"] == "ACQ.TRADE_NOT_EXIST"  # signed and believed


async def test_close_a_waiting_trade_and_an_unknown_one(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    checkout = await provider.checkout(pay_request("PO20261130000009", PaymentMethod.ALIPAY_APP))
    fake.pay_order_string(checkout.params["orderString"], pay=False)  # left the cashier
    assert (await provider.query("PO20261130000009")).state is TradeState.WAITING
    await provider.close("PO20261130000009")
    assert fake.trades["PO20261130000009"].status == "TRADE_CLOSED"
    assert (await provider.query("PO20261130000009")).state is TradeState.CLOSED
    await provider.close("PO-NEVER-OPENED")  # nothing at Alipay: nothing to close


async def test_refunds_partial_full_repeated_and_queried(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    order = await paid_trade(provider, fake, "PO20261130000010")

    first = await provider.refund(refund_request(order, "RF20261130000001", "5.00"))
    assert first.state is RefundState.SUCCESS
    assert first.provider_refund_id == fake.trades[order].trade_no
    call = fake.calls[-1]
    assert call.biz == {
        "out_trade_no": order,
        "refund_amount": "5.00",
        "out_request_no": "RF20261130000001",
        "refund_reason": "犹豫期内退保",
    }
    # A retry with the same refund number moves no money: Alipay says fund_change=N.
    again = await provider.refund(refund_request(order, "RF20261130000001", "5.00"))
    assert again.state is RefundState.PROCESSING
    assert fake.trades[order].refunded == Decimal("5.00")
    assert (await provider.query_refund(order, "RF20261130000001")).state is RefundState.SUCCESS

    assert (await provider.query(order)).state is TradeState.PAID  # partly refunded
    with pytest.raises(ProviderRejected) as too_much:
        await provider.refund(refund_request(order, "RF20261130000002", "7.31"))
    assert too_much.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    rest = await provider.refund(refund_request(order, "RF20261130000003", "7.30"))
    assert rest.state is RefundState.SUCCESS
    assert (await provider.query(order)).state is TradeState.CLOSED  # fully refunded

    unknown = await provider.query_refund(order, "RF-NEVER-SENT")
    assert unknown.state is RefundState.PROCESSING  # not refunded (yet): retry the same number
    with pytest.raises(ProviderRejected) as no_trade:
        await provider.refund(refund_request("PO-NEVER-OPENED", "RF20261130000004", "1.00"))
    assert no_trade.value.code == "ACQ.TRADE_NOT_EXIST"


async def test_transfer_then_query_and_a_retry_never_pays_twice(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    balance = fake.balance
    result = await provider.transfer(transfer_request("BA20261130000001"))
    assert result.state is TransferState.SUCCESS
    transfer = fake.transfers["BA20261130000001"]
    assert result.provider_transfer_id == transfer.order_id
    assert fake.calls[-1].biz == {
        "out_biz_no": "BA20261130000001",
        "trans_amount": "1500.00",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "安心保险理赔款 BA20261130000001",
        "payee_info": {
            "identity": PAYEE_USER_ID,
            "identity_type": "ALIPAY_USER_ID",
            "name": PAYEE_NAME,
        },
        "remark": "安心保险理赔款 BA20261130000001",
    }

    retried = await provider.transfer(transfer_request("BA20261130000001"))
    assert retried.provider_transfer_id == result.provider_transfer_id
    assert fake.balance == balance - Decimal("1500.00")  # paid once

    queried = await provider.query_transfer("BA20261130000001")
    assert queried.state is TransferState.SUCCESS
    assert queried.provider_transfer_id == transfer.order_id

    by_logon = await provider.transfer(transfer_request("BA20261130000002", PAYEE_LOGON))
    assert by_logon.state is TransferState.SUCCESS
    assert fake.calls[-1].biz["payee_info"]["identity_type"] == "ALIPAY_LOGON_ID"

    assert (await provider.query_transfer("BA-NEVER-SENT")).state is TransferState.NOT_FOUND


async def test_transfer_refusals_and_a_transfer_that_fails_later(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    with pytest.raises(ProviderRejected) as unknown_payee:
        await provider.transfer(transfer_request("BA20261130000003", "2088999999999999"))
    assert unknown_payee.value.code == "PAYEE_NOT_EXIST"
    with pytest.raises(ProviderRejected) as wrong_name:
        await provider.transfer(transfer_request("BA20261130000004", payee_name="李四"))
    assert wrong_name.value.code == "PAYEE_USER_INFO_ERROR"

    fake.transfer_status_next("DEALING")
    dealing = await provider.transfer(transfer_request("BA20261130000005"))
    assert dealing.state is TransferState.PROCESSING
    fake.settle_transfer("BA20261130000005", "FAIL", "收款账户状态异常")
    failed = await provider.query_transfer("BA20261130000005")
    assert failed.state is TransferState.FAILED
    assert failed.failure_reason == "收款账户状态异常"


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "refusal",
    [SYSTEM_ERROR, TRADE_SYSTEM_ERROR, business("SYSTEM_ERROR", "系统繁忙")],
    ids=["20000-isp", "ACQ.SYSTEM_ERROR", "SYSTEM_ERROR"],
)
async def test_system_errors_are_unavailable(
    provider: AlipayProvider, fake: FakeAlipay, refusal: Any
) -> None:
    for call in (
        lambda: provider.query("PO20261130000011"),
        lambda: provider.refund(refund_request("PO20261130000011", "RF1", "1.00")),
        lambda: provider.transfer(transfer_request("BA20261130000006")),
    ):
        fake.fail_next(refusal)
        with pytest.raises(ProviderUnavailable):
            await call()
    assert fake.transfers == {}


async def test_business_errors_are_rejections_with_the_sub_code(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    fake.fail_next(business("PAYER_BALANCE_NOT_ENOUGH", "付款方余额不足"))
    with pytest.raises(ProviderRejected) as refused:
        await provider.transfer(transfer_request("BA20261130000007"))
    assert refused.value.code == "PAYER_BALANCE_NOT_ENOUGH"
    assert "付款方余额不足" in str(refused.value)


async def test_a_request_signed_with_the_wrong_key_is_refused_by_the_fake(
    http: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    stranger = make_provider(http, fake.gateway_url, private_key=pkcs8_pem(_key("stranger")))
    with pytest.raises(ProviderRejected) as refused:
        await stranger.query("PO20261130000012")
    assert refused.value.code == "isv.invalid-signature"


def _mark_paid(content: dict[str, Any]) -> None:
    content["trade_status"] = "TRADE_SUCCESS"


@pytest.mark.parametrize(
    "tamper",
    [_mark_paid, "sign", "unsigned"],
    ids=["answer-changed-after-signing", "signature-flipped", "signature-dropped"],
)
async def test_a_tampered_answer_is_never_believed(
    provider: AlipayProvider, fake: FakeAlipay, tamper: Any
) -> None:
    checkout = await provider.checkout(pay_request("PO20261130000013", PaymentMethod.ALIPAY_APP))
    fake.pay_order_string(checkout.params["orderString"], pay=False)
    fake.tamper_next(tamper)
    with pytest.raises(ProviderUnavailable):
        await provider.query("PO20261130000013")
    assert (await provider.query("PO20261130000013")).state is TradeState.WAITING


async def test_unsigned_refusals_and_forged_twins_are_not_believed(
    http: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    stranger = AlipayProvider(
        http,
        gateway_url=fake.gateway_url,
        app_id="2021009999999999",  # unknown: Alipay answers an unsigned error_response
        seller_id=SELLER_ID,
        app_private_key_pem=pkcs1_pem(app_key()),
        alipay_public_key_pem=public_pem(alipay_key()),
        clock=lambda: NOW,
    )
    with pytest.raises(ProviderUnavailable):
        await stranger.query("PO20261130000014")
    assert fake.calls[-1].answer["sub_code"] == "isv.invalid-app-id"

    provider = make_provider(http, fake.gateway_url)
    signed = fake.signed_body(
        "alipay_trade_query_response", '{"code":"40004","msg":"Business Failed"}'
    )
    forged_twin = signed[:-1] + ',"alipay_trade_query_response":{"code":"10000"}}'
    fake.answer_next_raw(Response(forged_twin, 200, media_type="text/html"))
    with pytest.raises(ProviderUnavailable):
        await provider.query("PO20261130000014")


async def test_the_signed_text_is_cut_from_the_body_as_written(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    """Alipay signs the substring: spacing, key order, unescaped Chinese and ``\\/`` must
    not be normalised away, and ``sign`` may come first."""
    checkout = await provider.checkout(pay_request("PO20261130000015", PaymentMethod.ALIPAY_APP))
    trade = fake.pay_order_string(checkout.params["orderString"])
    raw = (
        '{ "out_trade_no" : "PO20261130000015",  "trade_status":"TRADE_SUCCESS",'
        f'"trade_no":"{trade.trade_no}", "code":"10000", "msg":"Success",'
        ' "total_amount":"12.30", "store_name":"安心\\"保险\\"门店", "buyer_logon_id":"a***@x.cn"}'
    )
    key = "alipay_trade_query_response"
    fake.answer_next_raw(Response(fake.signed_body(key, raw, sign_first=True), 200))
    assert (await provider.query("PO20261130000015")).state is TradeState.PAID

    # The Java SDK's fallback: signed with "/", sent with "\/".
    slashed = raw.replace("a***@x.cn", "a***@x.cn\\/x")
    body = fake.signed_body(key, slashed.replace("\\/", "/"))
    body = body.replace("a***@x.cn/x", "a***@x.cn\\/x")
    fake.answer_next_raw(Response(body, 200))
    assert (await provider.query("PO20261130000015")).state is TradeState.PAID


async def test_transport_failures_are_unavailable(
    http: httpx.AsyncClient, fake: FakeAlipay
) -> None:
    with refused_url() as down:
        provider = make_provider(http, down + "/gateway.do")
        with pytest.raises(ProviderUnavailable):
            await provider.query("PO20261130000016")

    async with http_client(timeout=0.2) as impatient:
        provider = make_provider(impatient, fake.gateway_url)
        fake.delay_next(0.6)
        with pytest.raises(ProviderUnavailable):
            await provider.transfer(transfer_request("BA20261130000008"))

    provider = make_provider(http, fake.gateway_url)
    for broken in (
        Response("<html>502 Bad Gateway</html>", 502, media_type="text/html"),
        Response("<html>not json</html>", 200, media_type="text/html"),
        Response('{"unexpected":{}}', 200, media_type="text/html"),
        Response(b"\xff\xfe", 200),
    ):
        fake.answer_next_raw(broken)
        with pytest.raises(ProviderUnavailable):
            await provider.query("PO20261130000016")


# ------------------------------------------------------------------ notifications


async def test_a_refund_notification_is_decoded_as_a_refund(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    order = await paid_trade(provider, fake, "PO20261130000017")
    await provider.refund(refund_request(order, "RF20261130000005", "2.30"))
    await provider.refund(refund_request(order, "RF20261130000006", "3.00"))
    params = fake.notification(order, refund_request_no="RF20261130000006")
    notification = provider.parse_notification({}, fake.form_body(params), NOW)
    assert notification.kind == "refund"
    assert notification.state == RefundState.SUCCESS
    assert notification.refund_number == "RF20261130000006"
    assert notification.amount == Decimal("5.30")  # refund_fee: the total refunded so far
    assert notification.order_number == order
    assert notification.occurred_at == NOW


async def test_a_closed_trade_notification(provider: AlipayProvider, fake: FakeAlipay) -> None:
    checkout = await provider.checkout(pay_request("PO20261130000018", PaymentMethod.ALIPAY_APP))
    fake.pay_order_string(checkout.params["orderString"], pay=False)
    await provider.close("PO20261130000018")
    notification = provider.parse_notification(
        {}, fake.form_body(fake.notification("PO20261130000018")), NOW
    )
    assert (notification.kind, notification.state) == ("payment", TradeState.CLOSED)


def _signed_by_a_stranger(fake: FakeAlipay, params: dict[str, str]) -> bytes:
    stranger = FakeAlipay(
        app_id=APP_ID,
        app_public_key_pem=public_pem(app_key()),
        alipay_private_key_pem=pkcs8_pem(_key("stranger")),
    )
    return fake.form_body(stranger.sign_notification(params))


def _without(params: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k != name}


BAD_NOTIFICATIONS: dict[str, Callable[[FakeAlipay, dict[str, str]], bytes]] = {
    "signed-by-another-key": _signed_by_a_stranger,
    "sign-missing": lambda fake, p: fake.form_body(_without(p, "sign")),
    "sign-empty": lambda fake, p: fake.form_body({**p, "sign": ""}),
    "sign-not-base64": lambda fake, p: fake.form_body({**p, "sign": "%%%not-base64"}),
    "sign_type-RSA": lambda fake, p: fake.form_body({**p, "sign_type": "RSA"}),
    "sign_type-missing": lambda fake, p: fake.form_body(_without(p, "sign_type")),
    "amount-tampered": lambda fake, p: fake.form_body({**p, "total_amount": "0.01"}),
    "status-tampered": lambda fake, p: fake.form_body({**p, "trade_status": "TRADE_CLOSED"}),
    "field-added": lambda fake, p: fake.form_body({**p, "refund_fee": "12.30"}),
    "field-removed": lambda fake, p: fake.form_body(_without(p, "gmt_payment")),
    "parameter-twice": lambda fake, p: fake.form_body(p) + b"&total_amount=0.01",
    "json-body": lambda fake, p: json_body(p),
    "empty-body": lambda fake, p: b"",
    "not-utf8": lambda fake, p: fake.form_body(p) + b"&x=%FF%FE",
    "binary": lambda fake, p: b"\x00\xff" * 10,
    "signed-but-not-trade_status_sync": lambda fake, p: fake.form_body(
        fake.sign_notification({**p, "notify_type": "fund_trans_order_changed"})
    ),
    "signed-but-unknown-status": lambda fake, p: fake.form_body(
        fake.sign_notification({**p, "trade_status": "TRADE_PENDING"})
    ),
    "signed-but-bad-amount": lambda fake, p: fake.form_body(
        fake.sign_notification({**p, "total_amount": "12.3.4"})
    ),
    "signed-but-no-seller": lambda fake, p: fake.form_body(
        fake.sign_notification(_without(p, "seller_id"))
    ),
}


def json_body(params: dict[str, str]) -> bytes:
    return json.dumps(params).encode()


@pytest.mark.parametrize("case", list(BAD_NOTIFICATIONS))
async def test_every_bad_notification_is_invalid(
    offline_provider: AlipayProvider, case: str
) -> None:
    fake = make_fake()  # notifications need no gateway: the fake is not even serving
    checkout = await offline_provider.checkout(
        pay_request("PO20261130000019", PaymentMethod.ALIPAY_APP)
    )
    fake.pay_order_string(checkout.params["orderString"])
    params = fake.notification("PO20261130000019")
    # The untouched notification passes: each case breaks exactly one thing.
    offline_provider.parse_notification({}, fake.form_body(params), NOW)
    with pytest.raises(InvalidNotification):
        offline_provider.parse_notification({}, BAD_NOTIFICATIONS[case](fake, params), NOW)


async def test_notifications_over_http_get_exactly_success_or_fail(
    provider: AlipayProvider, fake: FakeAlipay, http: httpx.AsyncClient
) -> None:
    """Alipay posts to our notify_url and stops only when it reads ``success``."""

    async def notify(request: Request) -> Response:
        try:
            provider.parse_notification(request.headers, await request.body(), datetime.now(UTC))
            accepted = True
        except InvalidNotification:
            accepted = False
        reply = provider.reply(accepted)
        return Response(reply.body, reply.status_code, media_type=reply.content_type)

    app = Starlette(routes=[Route("/payments/alipay/notify", notify, methods=["POST"])])
    order = await paid_trade(provider, fake, "PO20261130000020")
    async with serve(app) as url:
        params = fake.notification(order)
        good = await fake.post_notification(url + "/payments/alipay/notify", params, http)
        assert (good.status_code, good.content) == (200, b"success")
        assert good.headers["content-type"].startswith("text/plain")
        forged = {**params, "total_amount": "0.01"}
        bad = await fake.post_notification(url + "/payments/alipay/notify", forged, http)
        assert (bad.status_code, bad.content) == (200, b"fail")


def test_reply_bodies_are_exact(offline_provider: AlipayProvider) -> None:
    provider = offline_provider
    accepted = provider.reply(True)
    assert (accepted.status_code, accepted.body, accepted.content_type) == (
        200,
        b"success",
        "text/plain",
    )
    refused = provider.reply(False)
    assert (refused.status_code, refused.body, refused.content_type) == (
        200,
        b"fail",
        "text/plain",
    )


# ------------------------------------------------------------------ secrets stay secret


async def test_the_private_key_and_notification_bodies_never_reach_the_logs(
    http: httpx.AsyncClient, fake: FakeAlipay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    private_pem = pkcs8_pem(app_key())
    provider = make_provider(http, fake.gateway_url, private_key=private_pem)
    order = await paid_trade(provider, fake, "PO20261130000021")
    await provider.query(order)
    await provider.refund(refund_request(order, "RF20261130000007", "1.00"))
    await provider.transfer(transfer_request("BA20261130000009"))
    fake.fail_next(SYSTEM_ERROR)
    with pytest.raises(ProviderUnavailable):
        await provider.query(order)
    fake.tamper_next("sign")
    with pytest.raises(ProviderUnavailable):
        await provider.query(order)
    params = fake.notification(order)
    with pytest.raises(InvalidNotification):
        provider.parse_notification({}, fake.form_body({**params, "total_amount": "0.01"}), NOW)

    assert "alipay" in caplog.text  # something was logged, so the check means something
    key_lines = [line for line in private_pem.splitlines() if not line.startswith("-----")]
    for line in key_lines:
        assert line not in caplog.text
    assert bare(private_pem) not in repr(provider)
    assert all(line not in repr(provider) for line in key_lines)
    assert all(line not in repr(vars(provider)) for line in key_lines)
    assert params["sign"] not in caplog.text
    assert params["notify_id"] not in caplog.text
    assert fake.form_body(params).decode() not in caplog.text


def test_yuan_has_two_places_and_refuses_fractions_of_a_fen() -> None:
    assert yuan(Decimal("12.3")) == "12.30"
    assert yuan(Decimal("1500")) == "1500.00"
    for wrong in ("0.001", "0", "-1.00"):
        with pytest.raises(ValueError):
            yuan(Decimal(wrong))
