"""What a payment provider is to anxin: a few methods, plain dataclasses in and out.

Amounts are ``Decimal`` yuan here; each provider converts to integer fen (WeChat Pay)
or a two-place string (Alipay) at its own boundary. Errors say what to do next::

    PaymentProviderError
     ├── ProviderUnavailable   timeout, 5xx, system busy: the outcome is unknown, query
     ├── ProviderRejected      refused for good (bad parameters, insufficient balance)
     └── InvalidNotification   a callback whose signature, freshness or fields fail
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class PaymentMethod(StrEnum):
    ALIPAY_APP = "ALIPAY_APP"  # the app: an order string for the Alipay SDK
    ALIPAY_MINI_PROGRAM = "ALIPAY_MINI_PROGRAM"  # alipay.trade.create, a trade_no
    WECHAT_JSAPI = "WECHAT_JSAPI"  # the WeChat mini-program: wx.requestPayment params
    SANDBOX = "SANDBOX"  # development: no outside service


class TradeState(StrEnum):
    WAITING = "WAITING"  # created, not paid yet
    PAID = "PAID"
    CLOSED = "CLOSED"  # closed unpaid, or fully refunded (Alipay TRADE_CLOSED)
    NOT_FOUND = "NOT_FOUND"


class RefundState(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


class TransferState(StrEnum):
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"  # WeChat: the payee must confirm receipt
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    NOT_FOUND = "NOT_FOUND"


@dataclass(frozen=True)
class PayRequest:
    order_number: str  # ours: out_trade_no
    amount: Decimal
    subject: str  # shown in the cashier, e.g. "安心e生·百万医疗险 第2期保费"
    method: PaymentMethod
    notify_url: str
    expires_at: datetime
    payer_id: str | None = None  # WeChat openid / Alipay buyer_id, when the method needs it
    client_ip: str | None = None


@dataclass(frozen=True)
class Checkout:
    """What the client needs to open the provider's cashier."""

    method: PaymentMethod
    params: Mapping[str, str]  # e.g. {"orderString": ...} or the wx.requestPayment fields


@dataclass(frozen=True)
class TradeStatus:
    order_number: str
    state: TradeState
    amount: Decimal | None = None
    provider_trade_no: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class PaymentNotification:
    """A verified callback: only the provider's signed fields, checked by our code later
    against the order (app id, merchant, amount)."""

    kind: str  # "payment" or "refund" or "transfer"
    order_number: str
    state: str  # TradeState / RefundState / TransferState value
    amount: Decimal
    provider_trade_no: str | None
    app_id: str
    merchant_id: str
    occurred_at: datetime | None
    refund_number: str | None = None
    # A transfer: whom the provider says it paid (WeChat: the payee's openid, which only
    # exists under one app id) and, for a failed one, the provider's reason code.
    payee_id: str | None = None
    failure_reason: str | None = None
    raw: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackReply:
    status_code: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class RefundRequest:
    order_number: str
    refund_number: str  # ours: out_request_no / out_refund_no
    amount: Decimal
    total: Decimal
    reason: str
    notify_url: str


@dataclass(frozen=True)
class RefundResult:
    refund_number: str
    state: RefundState
    provider_refund_id: str | None = None


@dataclass(frozen=True)
class TransferRequest:
    transfer_number: str  # ours: out_biz_no / out_batch_no: retrying it never pays twice
    amount: Decimal
    payee_id: str  # Alipay user id or login; WeChat openid; a bank card number
    payee_name: str | None  # real-name check when given (a bank transfer needs it)
    remark: str  # e.g. "安心保险理赔款 BA20261130000004"
    notify_url: str
    payee_bank: str | None = None  # a bank transfer: the bank's name, e.g. 招商银行
    # A claim payout: the insured product as filed (保险产品备案编号, 保险名称), which
    # WeChat's insurance-claim transfer scene reports with every bill.
    product_filing_no: str | None = None
    product_name: str | None = None


@dataclass(frozen=True)
class TransferResult:
    transfer_number: str
    state: TransferState
    provider_transfer_id: str | None = None
    confirm_package: str | None = None  # WeChat: the bill's package_info
    # WeChat: everything the mini-program passes to wx.requestMerchantTransfer so the
    # payee confirms receipt (mchId, appId, package), while the bill waits for them.
    confirm_parameters: Mapping[str, str] | None = None
    failure_reason: str | None = None


class PaymentProviderError(Exception):
    pass


class ProviderUnavailable(PaymentProviderError):
    pass


class ProviderRejected(PaymentProviderError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class InvalidNotification(PaymentProviderError):
    pass


class TransferProvider(Protocol):
    """What claim payouts need: send money to an account, ask about it, and take the
    provider's signed callbacks. A bank-transfer platform is only this."""

    name: str
    app_id: str
    merchant_id: str

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        """Verify and decode a callback; raise ``InvalidNotification`` otherwise."""
        ...

    def reply(self, accepted: bool) -> CallbackReply:
        """The exact answer the provider expects."""
        ...

    async def transfer(self, request: TransferRequest) -> TransferResult: ...

    async def query_transfer(self, transfer_number: str) -> TransferResult: ...


class PaymentProvider(TransferProvider, Protocol):
    """A provider customers also pay premiums through (Alipay, WeChat Pay, the sandbox)."""

    async def checkout(self, request: PayRequest) -> Checkout: ...

    async def query(self, order_number: str) -> TradeStatus: ...

    async def close(self, order_number: str) -> None: ...

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    async def query_refund(self, order_number: str, refund_number: str) -> RefundResult: ...
