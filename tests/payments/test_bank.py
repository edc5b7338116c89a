"""Bank-card payouts through the insurer's payment platform, against a fake platform on
127.0.0.1 (``tests.fakes.bank``) that checks our signature on every request and signs its
answers and callbacks with its own code. Then the platform's callbacks through the app's
``/payments/bank/notify`` route, reconciliation of bank payouts, and the development
sandbox that stands in for the platform."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from api.services import Services, build_bank_providers
from api.settings import Settings
from models.claims import Claim, ClaimStatus
from models.clock import local_date
from models.payments import (
    LedgerEntry,
    OrderStatus,
    PaymentOrder,
    Payout,
    PayoutStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from models.payout_accounts import PayoutAccount
from models.policies import PremiumInstallment
from payments.bank import BankTransferProvider
from payments.base import (
    CallbackReply,
    InvalidNotification,
    PaymentNotification,
    ProviderRejected,
    ProviderUnavailable,
    TransferRequest,
    TransferResult,
    TransferState,
)
from payments.sandbox import BankSandbox
from tests.factories import make_claim, make_customer, make_policy
from tests.fakes.bank import FakePlatform
from tests.fakes.server import http_client, refused_url
from workflows.payments.orders import handle_callback
from workflows.payments.reconcile import reconcile

APP_ID = "AX-CLAIMS-01"
KEY = "platform-shared-key-0123456789abcdef-anxin"
CARD = "6222021234567890123"
NOTIFY = "https://anxin.example.cn/payments/bank/notify"
PAYOUT = TransferRequest(
    transfer_number="BA20261130000004",
    amount=Decimal("1234.56"),
    payee_id=CARD,
    payee_name="张三",
    remark="安心保险理赔款 BA20261130000004",
    notify_url=NOTIFY,
    payee_bank="招商银行",
)
_serial = itertools.count(1)


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(APP_ID, KEY.encode(), prefix="/fund").running() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(timeout=5) as client:
        yield client


def make_provider(http: httpx.AsyncClient, url: str, **overrides: Any) -> BankTransferProvider:
    settings: dict[str, Any] = {"base_url": url, "app_id": APP_ID, "key": KEY}
    return BankTransferProvider(http, **(settings | {"timeout_seconds": 2.0} | overrides))


@pytest.fixture
def provider(http: httpx.AsyncClient, platform: FakePlatform) -> BankTransferProvider:
    return make_provider(http, platform.url)


def sent(platform: FakePlatform) -> dict[str, Any]:
    """The body of the platform's last request, once our signature verified there."""
    seen = platform.requests[-1]
    assert seen.refused is None
    body: dict[str, Any] = json.loads(seen.body)
    return body


# ---------------------------------------------------------------------- transfers


async def test_a_transfer_is_signed_and_sent_as_the_platform_specifies(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    result = await provider.transfer(PAYOUT)
    transfer = platform.transfers[PAYOUT.transfer_number]
    assert result == TransferResult(
        PAYOUT.transfer_number, TransferState.SUCCESS, transfer.transfer_id
    )
    [seen] = platform.requests
    assert (seen.method, seen.path, seen.refused) == ("POST", "/fund/v1/transfers", None)
    assert sent(platform) == {
        "app_id": APP_ID,
        "out_transfer_no": PAYOUT.transfer_number,
        "amount_fen": 123456,
        "payee": {"card_no": CARD, "name": "张三", "bank_name": "招商银行"},
        "remark": PAYOUT.remark,
        "notify_url": NOTIFY,
    }


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("1234.56", 123456), ("0.29", 29), ("1.15", 115), ("19.99", 1999), ("100", 10000)],
)
async def test_amounts_go_out_in_exact_fen(
    provider: BankTransferProvider, platform: FakePlatform, yuan: str, fen: int
) -> None:
    await provider.transfer(replace(PAYOUT, amount=Decimal(yuan)))
    assert type(sent(platform)["amount_fen"]) is int
    assert sent(platform)["amount_fen"] == fen


@pytest.mark.parametrize("yuan", ["0", "-1.00", "1.005", "0.001", "NaN", "Infinity"])
async def test_an_amount_not_in_positive_whole_fen_is_refused_before_sending(
    provider: BankTransferProvider, platform: FakePlatform, yuan: str
) -> None:
    with pytest.raises(ProviderRejected) as refused:
        await provider.transfer(replace(PAYOUT, amount=Decimal(yuan)))
    assert refused.value.code == "INVALID_AMOUNT"
    assert platform.requests == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"payee_name": None}, "PAYEE_NAME_REQUIRED"),
        ({"payee_name": "  "}, "PAYEE_NAME_REQUIRED"),
        ({"payee_id": "6222-0212-3456"}, "INVALID_CARD_NO"),
        ({"payee_id": "62220212345"}, "INVALID_CARD_NO"),  # 11 digits
        ({"transfer_number": "BA/../x"}, "INVALID_TRANSFER_NO"),
    ],
)
async def test_a_payee_the_platform_would_refuse_is_refused_before_sending(
    provider: BankTransferProvider, platform: FakePlatform, change: dict[str, Any], code: str
) -> None:
    with pytest.raises(ProviderRejected) as refused:
        await provider.transfer(replace(PAYOUT, **change))
    assert refused.value.code == code
    assert CARD not in str(refused.value)
    assert platform.requests == []


async def test_a_card_number_written_in_groups_is_sent_as_digits(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    await provider.transfer(replace(PAYOUT, payee_id="6222 0212 3456 7890 123"))
    assert sent(platform)["payee"]["card_no"] == CARD


async def test_a_processing_transfer_is_followed_by_query(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    platform.first_state = "PROCESSING"
    first = await provider.transfer(PAYOUT)
    assert first.state is TransferState.PROCESSING
    assert (await provider.query_transfer(PAYOUT.transfer_number)).state is (
        TransferState.PROCESSING
    )
    platform.finish(PAYOUT.transfer_number, "SUCCESS")
    done = await provider.query_transfer(PAYOUT.transfer_number)
    assert done == TransferResult(
        PAYOUT.transfer_number, TransferState.SUCCESS, first.provider_transfer_id
    )
    assert platform.requests[-1].path == f"/fund/v1/transfers/{PAYOUT.transfer_number}"
    assert platform.refused == []


async def test_a_failed_transfer_says_why(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    platform.first_state = "PROCESSING"
    await provider.transfer(PAYOUT)
    platform.finish(PAYOUT.transfer_number, "FAILED", "账户已销户")
    failed = await provider.query_transfer(PAYOUT.transfer_number)
    assert (failed.state, failed.failure_reason) == (TransferState.FAILED, "账户已销户")


async def test_a_resend_with_the_same_number_is_the_same_transfer(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    platform.sabotage_next("unsigned")  # the first answer is lost: outcome unknown
    with pytest.raises(ProviderUnavailable):
        await provider.transfer(PAYOUT)
    again = await provider.transfer(PAYOUT)
    third = await provider.transfer(PAYOUT)
    assert list(platform.transfers) == [PAYOUT.transfer_number]  # one transfer, not three
    transfer_id = platform.transfers[PAYOUT.transfer_number].transfer_id
    assert again.provider_transfer_id == third.provider_transfer_id == transfer_id
    assert [json.loads(r.body)["out_transfer_no"] for r in platform.requests] == [
        PAYOUT.transfer_number
    ] * 3
    assert platform.refused == []


async def test_query_of_an_unknown_transfer_is_not_found(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    result = await provider.query_transfer("BA20261130009999")
    assert result == TransferResult("BA20261130009999", TransferState.NOT_FOUND)
    assert platform.refused == []


async def test_a_refusal_is_final(provider: BankTransferProvider, platform: FakePlatform) -> None:
    platform.fail_next(400, "CARD_NOT_EXIST", "卡号不存在")
    with pytest.raises(ProviderRejected) as refused:
        await provider.transfer(PAYOUT)
    assert refused.value.code == "CARD_NOT_EXIST"
    assert platform.transfers == {}
    platform.fail_next(400, "PARAM_ERROR", "参数错误")  # a query refused: not "no such transfer"
    with pytest.raises(ProviderRejected):
        await provider.query_transfer(PAYOUT.transfer_number)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_platform_error_or_rate_limit_is_an_unknown_outcome(
    provider: BankTransferProvider, platform: FakePlatform, status: int
) -> None:
    platform.fail_next(status, "SYSTEM_BUSY")
    with pytest.raises(ProviderUnavailable):
        await provider.transfer(PAYOUT)


async def test_a_timeout_is_an_unknown_outcome(
    http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    slow = make_provider(http, platform.url, timeout_seconds=0.2)
    platform.delay_seconds = 1.0
    with pytest.raises(ProviderUnavailable):
        await slow.transfer(PAYOUT)
    with pytest.raises(ProviderUnavailable):
        await slow.query_transfer(PAYOUT.transfer_number)


async def test_a_platform_that_is_down_is_unavailable(http: httpx.AsyncClient) -> None:
    with refused_url() as url, pytest.raises(ProviderUnavailable):
        await make_provider(http, url).transfer(PAYOUT)


@pytest.mark.parametrize("kind", ["tamper", "unsigned", "wrong_key", "stale", "other_app"])
async def test_an_answer_not_signed_by_the_platform_is_not_believed(
    provider: BankTransferProvider,
    platform: FakePlatform,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    platform.first_state = "PROCESSING"
    platform.sabotage_next(kind)  # tamper turns PROCESSING into SUCCESS after signing
    with pytest.raises(ProviderUnavailable):
        await provider.transfer(PAYOUT)
    assert any(
        r.name == "anxin.security" and "not believed" in r.getMessage() for r in caplog.records
    )
    platform.sabotage_next(kind)
    with pytest.raises(ProviderUnavailable):
        await provider.query_transfer(PAYOUT.transfer_number)
    assert (await provider.query_transfer(PAYOUT.transfer_number)).state is (
        TransferState.PROCESSING
    )


async def test_an_unsigned_refusal_or_not_found_is_not_believed(
    provider: BankTransferProvider, platform: FakePlatform
) -> None:
    """A proxy's (or a forger's) 4xx must not mark a transfer failed, nor say it is
    unknown: a new number would then pay twice."""
    platform.fail_next(400, "CARD_NOT_EXIST", "卡号不存在")
    platform.sabotage_next("unsigned")
    with pytest.raises(ProviderUnavailable):
        await provider.transfer(PAYOUT)
    platform.sabotage_next("wrong_key")
    with pytest.raises(ProviderUnavailable):
        await provider.query_transfer("BA20261130009999")  # a 404, badly signed


async def test_an_answer_about_another_transfer_is_not_believed(
    provider: BankTransferProvider, platform: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    await provider.transfer(PAYOUT)
    other = {"out_transfer_no": "BA20261130000005", "transfer_id": "PT1", "status": "SUCCESS"}
    monkeypatch.setattr(platform, "_view", lambda number: other)
    with pytest.raises(ProviderUnavailable):
        await provider.query_transfer(PAYOUT.transfer_number)
    with pytest.raises(ProviderUnavailable):
        await provider.transfer(PAYOUT)


async def test_the_platform_refuses_a_wrong_signature(
    http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    """The fake is a real judge: a request signed with another key is refused there."""
    impostor = make_provider(http, platform.url, key="not-the-platform-key-0123456789")
    with pytest.raises((ProviderRejected, ProviderUnavailable)):
        await impostor.transfer(PAYOUT)
    assert platform.refused == ["签名错误"]
    assert platform.transfers == {}


async def test_no_key_or_card_number_in_logs_errors_or_repr(
    provider: BankTransferProvider, platform: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await provider.transfer(PAYOUT)
    platform.fail_next(400, "CARD_NOT_EXIST", "卡号不存在")
    with pytest.raises(ProviderRejected) as refused:
        await provider.transfer(replace(PAYOUT, transfer_number="BA2"))
    platform.sabotage_next("wrong_key")
    with pytest.raises(ProviderUnavailable) as unavailable:
        await provider.query_transfer(PAYOUT.transfer_number)
    text = "\n".join([caplog.text, repr(provider), str(unavailable.value), str(refused.value)])
    assert "6222****0123" in caplog.text  # masked, as logged
    assert CARD not in text and KEY not in text


# ---------------------------------------------------------------------- callbacks


def test_a_platform_callback_is_verified_and_read(
    http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    provider = make_provider(http, "http://127.0.0.1:9")
    headers, body = platform.callback("BA1", amount_fen=123456, transfer_id="PT9")
    notice = provider.parse_notification(headers, body, datetime.now(UTC))
    assert notice == PaymentNotification(
        kind="transfer",
        order_number="BA1",
        state="SUCCESS",
        amount=Decimal("1234.56"),
        provider_trade_no="PT9",
        app_id=APP_ID,
        merchant_id=APP_ID,
        occurred_at=notice.occurred_at,
        raw=json.loads(body),
    )
    assert notice.occurred_at is not None and notice.occurred_at.tzinfo is not None
    assert provider.reply(True) == CallbackReply(200, b'{"code":"SUCCESS"}', "application/json")
    assert provider.reply(False) == CallbackReply(400, b'{"code":"FAIL"}', "application/json")


def forgeries(platform: FakePlatform) -> dict[str, tuple[dict[str, str], bytes]]:
    now = int(time.time())
    good = {"app_id": APP_ID, "out_transfer_no": "BA1", "transfer_id": "PT9", "amount_fen": 1}
    headers, body = platform.callback("BA1", amount_fen=123456)
    return {
        "wrong key": platform.callback("BA1", amount_fen=123456, key=b"intruder-key-012345"),
        "stale": platform.callback("BA1", amount_fen=123456, timestamp=now - 301),
        "from the future": platform.callback("BA1", amount_fen=123456, timestamp=now + 301),
        "another app id": platform.callback("BA1", amount_fen=123456, app_id="AX-OTHER-02"),
        "another app in the body": platform.callback(
            "BA1", amount_fen=1, body=good | {"app_id": "AX-OTHER-02", "status": "SUCCESS"}
        ),
        "another path": platform.callback("BA1", amount_fen=123456, notify_path="/x/notify"),
        "tampered": (headers, body.replace(b"123456", b"923456")),
        "unsigned": ({"Content-Type": "application/json"}, body),
        "short nonce": platform.callback("BA1", amount_fen=123456, nonce="abc"),
        "huge timestamp": (headers | {"X-Platform-Timestamp": "9" * 5000}, body),
        "unknown status": platform.callback("BA1", amount_fen=1, body=good | {"status": "DONE"}),
        "fractional fen": platform.callback(
            "BA1", amount_fen=1, body=good | {"status": "SUCCESS", "amount_fen": 1.5}
        ),
        "no transfer id": platform.callback(
            "BA1", amount_fen=1, body=good | {"transfer_id": "", "status": "SUCCESS"}
        ),
    }


@pytest.mark.parametrize(
    "forgery",
    [
        "wrong key",
        "stale",
        "from the future",
        "another app id",
        "another app in the body",
        "another path",
        "tampered",
        "unsigned",
        "short nonce",
        "huge timestamp",
        "unknown status",
        "fractional fen",
        "no transfer id",
    ],
)
def test_a_bad_platform_callback_is_refused(
    http: httpx.AsyncClient, platform: FakePlatform, forgery: str
) -> None:
    provider = make_provider(http, "http://127.0.0.1:9")
    headers, body = forgeries(platform)[forgery]
    with pytest.raises(InvalidNotification):
        provider.parse_notification(headers, body, datetime.now(UTC))


def test_freshness_is_judged_against_the_given_now(
    http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    provider = make_provider(http, "http://127.0.0.1:9")
    headers, body = platform.callback("BA1", amount_fen=100)
    now = datetime.now(UTC)
    provider.parse_notification(headers, body, now + timedelta(seconds=290))
    with pytest.raises(InvalidNotification):
        provider.parse_notification(headers, body, now + timedelta(seconds=320))


# ---------------------------------------------------------------------- the app's route


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "bank_transfer_url": "http://127.0.0.1:9/fund",  # no call goes out in these tests
        "bank_transfer_app_id": APP_ID,
        "bank_transfer_key": KEY,
    }


async def bank_payout(
    services: Services, amount: Decimal = Decimal("1234.56"), provider: str = "bank"
) -> Payout:
    """A PAYING claim whose payout to a card is under way. Rows made directly: the one
    place to adapt when the payout's account columns change."""
    holder = await make_customer(services, "张三")
    policy = await make_policy(services, holder)
    claim = await make_claim(holder, policy, ClaimStatus.PAYING, approved_amount=amount)
    return await Payout.create(
        claim=claim,
        transfer_number=f"TFB{next(_serial):010d}",
        provider=provider,
        payee_encrypted=PayoutAccount(provider, CARD, "张三", "招商银行").seal(services.pii),
        payee_masked=f"招商银行 尾号{CARD[-4:]}",
        amount=amount,
        live_key=f"claim:{claim.id}",
    )


async def post_callback(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, provider: str = "bank"
) -> httpx.Response:
    return await client.post(f"/payments/{provider}/notify", content=body, headers=headers)


async def test_a_signed_platform_callback_settles_the_bank_payout(
    client: httpx.AsyncClient, services: Services
) -> None:
    assert isinstance(services.transfer_providers["bank"], BankTransferProvider)
    payout = await bank_payout(services)
    platform = FakePlatform(APP_ID, KEY.encode())  # not serving: it only signs
    headers, body = platform.callback(payout.transfer_number, amount_fen=123456)
    response = await post_callback(client, headers, body)
    assert (response.status_code, response.json()) == (200, {"code": "SUCCESS"})
    settled = await Payout.get(id=payout.id)
    assert (settled.status, settled.provider_transfer_id) == (PayoutStatus.SUCCESS, "PT-CALLBACK-1")
    assert (await Claim.get(id=payout.claim_id)).status is ClaimStatus.PAID
    assert await LedgerEntry.filter(kind="PAYOUT", reference=payout.transfer_number).count() == 1
    again = await post_callback(client, headers, body)  # the platform retries: no effect
    assert again.status_code == 200
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 1


@pytest.mark.parametrize(
    "forgery",
    ["wrong key", "stale", "another app id", "another amount", "another provider's payout"],
)
async def test_a_bad_platform_callback_changes_nothing(
    client: httpx.AsyncClient,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    forgery: str,
) -> None:
    payout = await bank_payout(services, provider="sandbox" if "provider" in forgery else "bank")
    platform = FakePlatform(APP_ID, KEY.encode())
    forgeries: dict[str, dict[str, Any]] = {
        "wrong key": {"key": b"intruder-key-0123456789"},
        "stale": {"timestamp": int(time.time()) - 400},
        "another app id": {"app_id": "AX-OTHER-02"},
        "another amount": {"amount_fen": 923456},
    }
    forged = forgeries.get(forgery, {})
    headers, body = platform.callback(payout.transfer_number, **({"amount_fen": 123456} | forged))
    response = await post_callback(client, headers, body)
    assert (response.status_code, response.json()) == (400, {"code": "FAIL"})
    unchanged = await Payout.get(id=payout.id)
    assert (unchanged.status, unchanged.provider_transfer_id) == (PayoutStatus.PROCESSING, None)
    assert (await Claim.get(id=payout.claim_id)).status is ClaimStatus.PAYING
    assert await LedgerEntry.filter(kind="PAYOUT").count() == 0
    assert any(
        r.name == "anxin.security" and "rejected bank callback" in r.getMessage()
        for r in caplog.records
    )


class PayoutOnly:
    """A transfer-only provider that says things it has no business saying."""

    name = "payonly"
    app_id = merchant_id = "payonly-app"

    def __init__(self, notice: PaymentNotification) -> None:
        self.notice = notice

    def parse_notification(self, headers: Any, body: bytes, now: datetime) -> PaymentNotification:
        return self.notice

    def reply(self, accepted: bool) -> CallbackReply:
        return CallbackReply(200 if accepted else 400, b"", "text/plain")

    async def transfer(self, request: TransferRequest) -> TransferResult:
        raise NotImplementedError

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        raise NotImplementedError


@pytest.mark.parametrize("kind", ["payment", "refund"])
async def test_a_payout_only_provider_is_believed_about_transfers_only(
    client: httpx.AsyncClient, services: Services, kind: str
) -> None:
    holder = await make_customer(services, "李四")
    policy = await make_policy(services, holder)
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    now = datetime.now(UTC)
    order = await PaymentOrder.create(
        order_number=f"PO{next(_serial):012d}",
        customer=holder,
        policy=policy,
        installment=installment,
        provider="payonly",  # were it a payment provider, this order would be its own
        method="SANDBOX",
        amount=installment.amount,
        status=OrderStatus.PAID if kind == "refund" else OrderStatus.CREATED,
        expires_at=now + timedelta(minutes=30),
    )
    refund = await Refund.create(
        order=order,
        refund_number=f"RF{next(_serial):012d}",
        amount=installment.amount,
        reason=RefundReason.PAID_IN_ERROR,
    )
    notice = PaymentNotification(
        kind=kind,
        order_number=order.order_number,
        state="PAID" if kind == "payment" else "SUCCESS",
        amount=installment.amount,
        provider_trade_no="X-1",
        app_id="payonly-app",
        merchant_id="payonly-app",
        occurred_at=now,
        refund_number=refund.refund_number if kind == "refund" else None,
    )
    services.bank_providers["payonly"] = PayoutOnly(notice)
    response = await post_callback(client, {}, b"{}", provider="payonly")
    assert response.status_code == 400
    assert (await PaymentOrder.get(id=order.id)).status is order.status
    assert (await Refund.get(id=refund.id)).status is RefundStatus.PROCESSING


async def test_reconciliation_asks_the_bank_platform_about_bank_payouts(
    db: str, services: Services, http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    payout = await bank_payout(services)
    await Payout.filter(id=payout.id).update(status=PayoutStatus.SUCCESS)
    bank = make_provider(http, platform.url)
    await bank.transfer(replace(PAYOUT, transfer_number=payout.transfer_number))
    day = local_date(payout.created_at)
    banks = {"bank": bank}
    assert await reconcile(services.payment_providers, day, transfer_providers=banks) == []
    platform.finish(payout.transfer_number, "FAILED", "账户已冻结")
    [difference] = await reconcile(services.payment_providers, day, transfer_providers=banks)
    assert (difference.kind, difference.reference) == ("PAYOUT_STATUS", payout.transfer_number)
    assert (difference.ours, difference.theirs) == ("SUCCESS", "FAILED")


# ---------------------------------------------------------------------- set-up and sandbox


async def test_the_bank_provider_follows_the_settings(
    http: httpx.AsyncClient, platform: FakePlatform
) -> None:
    development = build_bank_providers(Settings(), http)
    assert isinstance(development["bank"], BankSandbox)
    production = Settings(
        env="production",
        secret_key="s" * 40,
        lookup_key="l" * 40,
        pii_keys="k1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        sms_provider="aliyun",
        aliyun_access_key_id="id",
        aliyun_sms_login_template="SMS_1",
        database_url="postgres://x@127.0.0.1/anxin",
    )
    assert "bank" not in build_bank_providers(production, http)
    configured = production.model_copy(
        update={
            "bank_transfer_url": platform.url,
            "bank_transfer_app_id": APP_ID,
            "bank_transfer_key": SecretStr(KEY),
            "public_base_url": "https://api.anxin.example.cn/gw/",
        }
    )
    bank = build_bank_providers(configured, http)["bank"]
    assert isinstance(bank, BankTransferProvider)
    assert (await bank.transfer(PAYOUT)).state is TransferState.SUCCESS
    # Callbacks are verified against the path of the notify_url the platform was given.
    headers, body = platform.callback("BA1", amount_fen=1, notify_path="/gw/payments/bank/notify")
    assert bank.parse_notification(headers, body, datetime.now(UTC)).order_number == "BA1"
    with pytest.raises(InvalidNotification):
        bank.parse_notification(*platform.callback("BA1", amount_fen=1), datetime.now(UTC))


@pytest.mark.parametrize(
    "incomplete",
    [{"bank_transfer_url": "http://127.0.0.1:9"}, {"bank_transfer_key": KEY}, {}],
)
def test_a_half_configured_platform_is_refused_at_start(incomplete: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="ANXIN_BANK_TRANSFER"):
        Settings(bank_transfer_app_id=APP_ID, **incomplete)


async def test_the_sandbox_pays_a_card_at_once_and_refuses_what_the_platform_would() -> None:
    sandbox = BankSandbox(b"s" * 32)
    assert (await sandbox.query_transfer(PAYOUT.transfer_number)).state is (TransferState.NOT_FOUND)
    first = await sandbox.transfer(PAYOUT)
    assert first.state is TransferState.SUCCESS
    assert (
        await sandbox.transfer(PAYOUT)
        == first
        == await sandbox.query_transfer(PAYOUT.transfer_number)
    )
    for amount in ("0", "-5.00"):
        with pytest.raises(ProviderRejected):
            await sandbox.transfer(replace(PAYOUT, transfer_number="BA9", amount=Decimal(amount)))
    with pytest.raises(ProviderRejected):
        await sandbox.transfer(replace(PAYOUT, transfer_number="BA9", payee_name=None))
    assert (await sandbox.query_transfer("BA9")).state is TransferState.NOT_FOUND


async def test_the_sandbox_callback_settles_a_bank_payout(db: str, services: Services) -> None:
    sandbox = BankSandbox(b"s" * 32)
    payout = await bank_payout(services)
    request = replace(PAYOUT, transfer_number=payout.transfer_number)
    await sandbox.transfer(request)
    headers, body = sandbox.finished_notification(payout.transfer_number)
    forged = BankSandbox(b"f" * 32).parse_notification
    with pytest.raises(InvalidNotification):
        forged(headers, body, datetime.now(UTC))
    reply = await handle_callback(sandbox, headers, body, transfers_only=True)
    assert reply.status_code == 200
    assert (await Payout.get(id=payout.id)).status is PayoutStatus.SUCCESS


async def test_a_card_the_payee_chose_is_paid_through_the_platform(
    services: Services, platform: FakePlatform, http: httpx.AsyncClient
) -> None:
    """End to end: the payee chooses a card in their own name; the worker's payout
    reaches the platform signed, with the card, the name and the bank; the claim is paid."""
    from models.auth import SubjectKind
    from tests.schema.test_beneficiary_payouts import card_number
    from workflows.access import Actor
    from workflows.payments.accounts import AccountChoice, BankCard, choose_payout_account
    from workflows.payments.payouts import start_chosen_payouts

    number = card_number("621483010012345")  # with the check digit the workflow checks

    services.bank_providers["bank"] = make_provider(http, platform.url)
    holder = await make_customer(services, "张三")
    policy = await make_policy(services, holder)
    claim = await make_claim(holder, policy, ClaimStatus.PAYING, approved_amount=Decimal("1234.56"))
    me = Actor(kind=SubjectKind.CUSTOMER, subject_id=holder.id)
    card = BankCard("张三", "招商银行", " ".join([number[:4], number[4:8], number[8:]]))
    providers, pii = services.transfer_providers, services.pii
    await choose_payout_account(providers, pii, me, claim.id, AccountChoice("bank", None, card))
    assert (
        await start_chosen_payouts(providers, pii, notify_base_url="https://anxin.example.cn") == 1
    )
    request = sent(platform)
    assert request["payee"] == {"card_no": number, "name": "张三", "bank_name": "招商银行"}
    assert request["amount_fen"] == 123456
    assert (await Claim.get(id=claim.id)).status is ClaimStatus.PAID
    payout = await Payout.get(claim_id=claim.id)
    assert (
        number not in payout.payee_encrypted
        and payout.payee_masked == f"招商银行 尾号{number[-4:]}"
    )
