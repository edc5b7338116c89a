"""Alipay 商户代扣 on our client against the fake gateway, with the vendor SDK checking our
signatures: the page-sign URL, the agreement notifications (signed by the SDK, or
forged), charges under the agreement (paid, in process, refused once the agreement
ended, a tampered answer never believed) and unsigning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2

from payments.agreements import AgreementProvider, AgreementSignRequest, WithholdRequest
from payments.alipay import AlipayProvider
from payments.base import InvalidNotification, ProviderRejected, ProviderUnavailable, TradeState
from tests.fakes.alipay import FakeAlipay
from tests.fakes.server import http_client
from tests.payments.test_alipay import (
    APP_ID,
    alipay_key,
    app_key,
    make_fake,
    make_provider,
    pkcs1_pem,
    public_pem,
    sdk_verifies,
)

NOTIFY = "https://anxin.example.cn/payments/alipay/agreements/notify"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAlipay]:
    async with make_fake().running() as running:
        yield running


@pytest.fixture
async def provider(fake: FakeAlipay) -> AsyncIterator[AlipayProvider]:
    async with http_client(timeout=5.0) as http:
        yield make_provider(http, fake.gateway_url)


def sign_request(number: str = "DK20261130000001") -> AgreementSignRequest:
    return AgreementSignRequest(external_agreement_no=number, notify_url=NOTIFY)


def withhold_request(order: str, agreement_no: str, amount: str = "1200.00") -> WithholdRequest:
    return WithholdRequest(
        order_number=order,
        agreement_no=agreement_no,
        amount=Decimal(amount),
        subject="安心意外险 自动续保保费",
        notify_url="https://anxin.example.cn/payments/alipay/notify",
    )


def test_the_provider_offers_agreements(provider: AlipayProvider) -> None:
    assert isinstance(provider, AgreementProvider)


async def test_sdk_verifies_our_sign_page_and_the_customer_can_sign_it(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    url = provider.agreement_sign_url(sign_request())
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == fake.gateway_url
    params = dict(parse_qsl(parts.query))
    assert sdk_verifies(params, public_pem(app_key()))
    assert params["method"] == "alipay.user.agreement.page.sign"
    assert params["notify_url"] == NOTIFY
    assert params["timestamp"] == "2026-11-30 10:15:02"  # Beijing time
    agreement = fake.sign_agreement(url)
    assert agreement.external_agreement_no == "DK20261130000001"


async def test_an_sdk_signed_agreement_notification_is_believed_and_a_forged_one_not(
    provider: AlipayProvider, fake: FakeAlipay
) -> None:
    agreement = fake.sign_agreement(provider.agreement_sign_url(sign_request()))
    params = fake.agreement_notification(agreement.agreement_no)
    unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    params["sign"] = sign_with_rsa2(pkcs1_pem(alipay_key()), get_sign_content(unsigned), "utf-8")
    notice = provider.parse_agreement_notification(fake.form_body(params))
    assert notice.agreement_no == agreement.agreement_no
    assert notice.external_agreement_no == "DK20261130000001"
    assert notice.state.value == "ACTIVE" and notice.app_id == APP_ID
    assert notice.payer_id == agreement.alipay_user_id and "sign" not in notice.raw

    for forged in (
        params | {"agreement_no": "20260000000000000000"},  # changed after signing
        {k: v for k, v in params.items() if k != "sign"},  # unsigned
    ):
        with pytest.raises(InvalidNotification):
            provider.parse_agreement_notification(fake.form_body(forged))
    # Signed, but saying something an agreement notification never says.
    odd = fake.sign_notification(params | {"status": "UNSIGN"})
    with pytest.raises(InvalidNotification):
        provider.parse_agreement_notification(fake.form_body(odd))
    trade = fake.sign_notification(params | {"notify_type": "trade_status_sync"})
    with pytest.raises(InvalidNotification):
        provider.parse_agreement_notification(fake.form_body(trade))


async def test_charges_under_the_agreement(provider: AlipayProvider, fake: FakeAlipay) -> None:
    agreement = fake.sign_agreement(provider.agreement_sign_url(sign_request()))
    paid = await provider.withhold(withhold_request("PO20261130000101", agreement.agreement_no))
    assert paid.state is TradeState.PAID and paid.amount == Decimal("1200.00")
    assert paid.provider_trade_no == fake.trades["PO20261130000101"].trade_no
    call = fake.calls[-1]
    assert sdk_verifies(call.params, public_pem(app_key()))
    assert call.biz["product_code"] == "GENERAL_WITHHOLDING"
    assert call.biz["agreement_params"] == {"agreement_no": agreement.agreement_no}
    # Charged again with the same order number: Alipay never takes the money twice.
    with pytest.raises(ProviderRejected):
        await provider.withhold(withhold_request("PO20261130000101", agreement.agreement_no))

    fake.withhold_in_process_next()
    waiting = await provider.withhold(withhold_request("PO20261130000102", agreement.agreement_no))
    assert waiting.state is TradeState.WAITING
    assert fake.trades["PO20261130000102"].status == "WAIT_BUYER_PAY"

    fake.tamper_next(lambda content: content.update(total_amount="0.01"))
    with pytest.raises(ProviderUnavailable):
        await provider.withhold(withhold_request("PO20261130000103", agreement.agreement_no))

    await provider.unsign(agreement.agreement_no)
    assert fake.agreements[agreement.agreement_no].status == "UNSIGN"
    await provider.unsign(agreement.agreement_no)  # ended already: fine
    with pytest.raises(ProviderRejected) as refused:
        await provider.withhold(withhold_request("PO20261130000104", agreement.agreement_no))
    assert refused.value.code == "ACQ.AGREEMENT_INVALID"
