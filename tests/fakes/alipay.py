"""A fake Alipay OpenAPI gateway (``POST /gateway.do``, RSA2) that judges our requests the
way Alipay does and answers in Alipay's own shape.

- Requests: the common parameters may come in the query string or the form body (as the
  vendor's SDKs send them: common parameters in the URL, ``biz_content`` in the body).
  The signature is checked with *our app's public key*, over every non-empty parameter
  but ``sign``, sorted, ``k=v&…``, values unencoded; SHA256withRSA. The check is written
  here again from Alipay's published rules, deliberately without importing
  ``payments.alipay``: if our signer drifts from the rules, this fake and our code
  disagree (the tests also let the vendor's SDK check our signatures).
- Answers: ``{"<method>_response": {...}, "sign": "..."}``, the response object serialised
  compactly with Chinese left unescaped, signed with the fake Alipay private key over that
  exact text. Platform errors (``40001``/``40002``) come under the method's key, business
  errors are ``40004`` with ``sub_code``/``sub_msg``, an unknown app id is an unsigned
  ``error_response`` (Alipay cannot know whose key to sign with).
- State: trades (created by ``alipay.trade.create`` or by a buyer paying an order string
  with ``pay_order_string``), refunds per ``out_request_no``, transfers per
  ``out_biz_no`` (a repeat answers the first transfer: never a second payout).
- Switches: ``fail_next`` (any refusal, e.g. ``20000``/``isp.unknow-error`` or
  ``ACQ.SYSTEM_ERROR``), ``tamper_next`` (change the answer after signing, or break or
  drop the signature), ``delay_next`` (answer late: a timeout), ``answer_next_raw``.
- 商户代扣: ``sign_agreement()`` is the customer opening our signed
  ``alipay.user.agreement.page.sign`` URL and confirming (the URL's signature checked
  like a gateway call); ``agreement_notification()`` builds the signed
  ``dut_user_sign``/``dut_user_unsign`` form; ``alipay.trade.pay`` charges an active
  agreement (``product_code=GENERAL_WITHHOLDING``, ``agreement_params.agreement_no``),
  at most once per ``out_trade_no``; ``withhold_in_process_next`` answers ``10003``;
  ``alipay.user.agreement.unsign`` ends one.
- Notifications: ``notification()`` builds the signed ``trade_status_sync`` form Alipay
  posts to ``notify_url`` (payments and refunds); ``post_notification()`` delivers it.

The fake's timestamp tolerance (15 minutes, Beijing time) is its own assumption: it is
there to catch a request stamped in UTC, eight hours off.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
GATEWAY_PATH = "/gateway.do"
MIN_TRANSFER = Decimal("0.10")
METHODS = frozenset(
    {
        "alipay.trade.create",
        "alipay.trade.query",
        "alipay.trade.close",
        "alipay.trade.refund",
        "alipay.trade.fastpay.refund.query",
        "alipay.fund.trans.uni.transfer",
        "alipay.fund.trans.order.query",
        "alipay.trade.pay",
        "alipay.user.agreement.unsign",
    }
)
PAGE_METHODS = frozenset({"alipay.trade.app.pay", "alipay.user.agreement.page.sign"})
WITHHOLDING_PERSONAL_PRODUCT = "GENERAL_WITHHOLDING_P1"


# ------------------------------------------------------------------ the signature rules


def string_to_sign(params: Mapping[str, str], exclude: frozenset[str]) -> str:
    """Sorted ``k=v`` of the non-empty parameters not in ``exclude``, joined by ``&``."""
    return "&".join(
        f"{name}={params[name]}" for name in sorted(params) if params[name] and name not in exclude
    )


REQUEST_EXCLUDE = frozenset({"sign"})  # requests: sign_type is signed too
NOTIFY_EXCLUDE = frozenset({"sign", "sign_type"})  # notifications (rsaCheckV1)


def rsa2_sign(private_key: rsa.RSAPrivateKey, content: str) -> str:
    raw = private_key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def rsa2_verify(public_key: rsa.RSAPublicKey, content: str, sign: str) -> bool:
    try:
        public_key.verify(
            base64.b64decode(sign, validate=True),
            content.encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def beijing(value: datetime) -> str:
    return value.astimezone(BEIJING).strftime(TIME_FORMAT)


def tampered_sign(sign: str) -> str:
    """Still base64 of the right length, but one bit of the signature flipped."""
    raw = bytearray(base64.b64decode(sign))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# ------------------------------------------------------------------ the state


class AlipayRefusal(Exception):
    """One refusal as Alipay words it. ``signed=False`` and ``key="error_response"`` for
    the answers Alipay cannot sign for the caller (unknown app id)."""

    def __init__(
        self,
        code: str,
        msg: str,
        sub_code: str | None = None,
        sub_msg: str | None = None,
        *,
        signed: bool = True,
        key: str | None = None,
    ) -> None:
        super().__init__(code, sub_code)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.signed = signed
        self.key = key

    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            content["sub_code"] = self.sub_code
            content["sub_msg"] = self.sub_msg or ""
        return content


def business(sub_code: str, sub_msg: str) -> AlipayRefusal:
    return AlipayRefusal("40004", "Business Failed", sub_code, sub_msg)


def missing(name: str) -> AlipayRefusal:
    return AlipayRefusal(
        "40001", "Missing Required Arguments", f"isv.missing-{name}", f"缺少{name}"
    )


def invalid(name: str, message: str) -> AlipayRefusal:
    return AlipayRefusal("40002", "Invalid Arguments", f"isv.invalid-{name}", message)


SYSTEM_ERROR = AlipayRefusal(
    "20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"
)
TRADE_SYSTEM_ERROR = business("ACQ.SYSTEM_ERROR", "系统错误")


@dataclass
class Trade:
    out_trade_no: str
    trade_no: str
    total_amount: Decimal
    subject: str
    status: str  # WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED
    buyer_id: str
    notify_url: str | None
    gmt_create: datetime
    gmt_payment: datetime | None = None
    gmt_close: datetime | None = None
    refunds: dict[str, tuple[Decimal, datetime]] = field(default_factory=dict)

    @property
    def refunded(self) -> Decimal:
        return sum((amount for amount, _ in self.refunds.values()), Decimal("0.00"))


@dataclass
class Transfer:
    out_biz_no: str
    order_id: str
    pay_fund_order_id: str
    amount: Decimal
    identity: str
    identity_type: str
    name: str | None
    order_title: str
    status: str  # SUCCESS, DEALING, FAIL
    trans_date: datetime
    fail_reason: str | None = None
    error_code: str | None = None


@dataclass
class Agreement:
    agreement_no: str
    external_agreement_no: str
    alipay_user_id: str
    notify_url: str | None
    status: str  # NORMAL, UNSIGN
    sign_time: datetime


@dataclass(frozen=True)
class ReceivedCall:
    """One gateway call as it arrived: where each parameter travelled, and the answer."""

    query: dict[str, str]
    form: dict[str, str]
    params: dict[str, str]
    content_type: str
    answer: dict[str, Any]

    @property
    def method(self) -> str:
        return self.params.get("method", "")

    @property
    def biz(self) -> dict[str, Any]:
        value = json.loads(self.params["biz_content"])
        assert isinstance(value, dict)
        return value


def _amount(value: object, name: str) -> Decimal:
    if not isinstance(value, str):
        raise business("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise business("ACQ.INVALID_PARAMETER", f"参数无效: {name}") from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")) or "." not in value:
        raise business("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
    return amount


# ------------------------------------------------------------------ the fake


@dataclass
class FakeAlipay:
    """One merchant app: ``app_id`` with our app public key on file, the fake Alipay key
    pair (we hold its public half), the seller (``2088…``) and payees that exist.

    ``signer``, when given, signs answers and notifications instead of the fake's own
    signer (the tests pass the vendor SDK's ``sign_with_rsa2``)."""

    app_id: str
    app_public_key_pem: str
    alipay_private_key_pem: str
    seller_id: str = "2088101122136241"
    payees: dict[str, str] = field(default_factory=dict)  # identity (user id or logon) → name
    balance: Decimal = Decimal("1000000.00")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    signer: Callable[[str], str] | None = None
    url: str = ""
    calls: list[ReceivedCall] = field(default_factory=list)
    trades: dict[str, Trade] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)  # by agreement_no
    _in_process: list[bool] = field(default_factory=list)
    _queued: list[AlipayRefusal] = field(default_factory=list)
    _tamper: list[Callable[[dict[str, Any]], None] | str] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    _raw: list[Response] = field(default_factory=list)
    _transfer_status: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        app_key = serialization.load_pem_public_key(self.app_public_key_pem.encode())
        alipay_key = serialization.load_pem_private_key(
            self.alipay_private_key_pem.encode(), password=None
        )
        assert isinstance(app_key, rsa.RSAPublicKey)
        assert isinstance(alipay_key, rsa.RSAPrivateKey)
        self._app_key = app_key
        self._alipay_key = alipay_key
        self.app = Starlette(routes=[Route(GATEWAY_PATH, self._gateway, methods=["POST"])])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeAlipay]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    @property
    def gateway_url(self) -> str:
        return self.url + GATEWAY_PATH

    def sign(self, content: str) -> str:
        return self.signer(content) if self.signer else rsa2_sign(self._alipay_key, content)

    # ------------------------------------------------------------ switches

    def fail_next(self, refusal: AlipayRefusal) -> None:
        """Refuse the next authenticated call with ``refusal`` (signed, as Alipay does)."""
        self._queued.append(refusal)

    def tamper_next(self, how: Callable[[dict[str, Any]], None] | str = "sign") -> None:
        """Spoil the next answer: a function changes the response object *after* it was
        signed; ``"sign"`` flips a bit of the signature; ``"unsigned"`` drops it."""
        self._tamper.append(how)

    def delay_next(self, seconds: float) -> None:
        self._delays.append(seconds)

    def answer_next_raw(self, response: Response) -> None:
        """Answer the next call with ``response`` unchecked: a broken gateway in front."""
        self._raw.append(response)

    def transfer_status_next(self, status: str) -> None:
        """The next new transfer ends in ``status`` (``DEALING``: finished later with
        ``settle_transfer``)."""
        self._transfer_status.append(status)

    def settle_transfer(self, out_biz_no: str, status: str, reason: str | None = None) -> None:
        transfer = self.transfers[out_biz_no]
        transfer.status = status
        if status == "FAIL":
            transfer.fail_reason = reason or "收款账户状态异常"
            transfer.error_code = "PAYEE_ACCOUNT_STATUS_ERROR"
            self.balance += transfer.amount

    def withhold_in_process_next(self) -> None:
        """The next withholding payment answers ``10003`` (in process) and stays
        waiting until ``pay`` settles it."""
        self._in_process.append(True)

    def signed_body(self, key: str, raw_content: str, *, sign_first: bool = False) -> str:
        """An answer body around ``raw_content`` exactly as given (any spacing or escaping),
        signed over that text: for tests of how we cut the signed text out."""
        sign = json.dumps(self.sign(raw_content))
        if sign_first:
            return f'{{"sign": {sign}, "{key}": {raw_content}}}'
        return f'{{"{key}":{raw_content},"sign":{sign}}}'

    # ------------------------------------------------------------ the buyer

    def pay_order_string(
        self, order_string: str, buyer_id: str = "2088102177846880", *, pay: bool = True
    ) -> Trade:
        """The Alipay app opening our order string: the signature and parameters are
        checked as the gateway checks them, then the trade exists (paid, or waiting when
        ``pay=False``: the buyer left the cashier)."""
        pairs = parse_qsl(order_string, keep_blank_values=True, strict_parsing=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            raise AssertionError("a parameter appears twice in the order string")
        self._authenticate(params)
        if params["method"] != "alipay.trade.app.pay":
            raise AssertionError(f"not an app payment: {params['method']}")
        if not params.get("notify_url"):
            raise AssertionError("no notify_url")
        biz = self._biz(params)
        if biz.get("product_code") != "QUICK_MSECURITY_PAY":
            raise AssertionError(f"product_code {biz.get('product_code')}")
        expires = biz.get("time_expire")
        if expires is not None:
            deadline = datetime.strptime(expires, TIME_FORMAT).replace(tzinfo=BEIJING)
            if self.clock() > deadline:
                raise AssertionError("the order string has expired")
        trade = self._new_trade(biz, buyer_id, params["notify_url"])
        if pay:
            self.pay(trade.out_trade_no)
        return trade

    def sign_agreement(self, url: str, alipay_user_id: str = "2088102177846880") -> Agreement:
        """The customer opening our page-sign URL in Alipay and confirming: the URL must
        be a signed ``alipay.user.agreement.page.sign`` for the withholding product."""
        base, _, query = url.partition("?")
        if base != self.gateway_url:
            raise AssertionError(f"not this gateway: {base}")
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            raise AssertionError("a parameter appears twice in the sign URL")
        self._authenticate(params)
        if params["method"] != "alipay.user.agreement.page.sign":
            raise AssertionError(f"not an agreement page: {params['method']}")
        biz = self._biz(params)
        if biz.get("personal_product_code") != WITHHOLDING_PERSONAL_PRODUCT:
            raise AssertionError(f"personal_product_code {biz.get('personal_product_code')}")
        if biz.get("product_code") != "GENERAL_WITHHOLDING":
            raise AssertionError(f"product_code {biz.get('product_code')}")
        external = str(biz.get("external_agreement_no") or "")
        if not external or not biz.get("sign_scene"):
            raise AssertionError("no external_agreement_no or sign_scene")
        for agreement in self.agreements.values():
            if agreement.external_agreement_no == external and agreement.status == "NORMAL":
                return agreement  # signed already: Alipay shows the agreement again
        now = self.clock()
        agreement = Agreement(
            agreement_no=now.astimezone(BEIJING).strftime("%Y%m%d")
            + f"{secrets.randbelow(10**12):012d}",
            external_agreement_no=external,
            alipay_user_id=alipay_user_id,
            notify_url=params.get("notify_url"),
            status="NORMAL",
            sign_time=now,
        )
        self.agreements[agreement.agreement_no] = agreement
        return agreement

    def agreement_notification(
        self, agreement_no: str, *, overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The signed ``dut_user_sign`` (or, once ended, ``dut_user_unsign``) form."""
        agreement = self.agreements[agreement_no]
        signed = agreement.status == "NORMAL"
        params: dict[str, str] = {
            "notify_time": beijing(self.clock()),
            "notify_type": "dut_user_sign" if signed else "dut_user_unsign",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "agreement_no": agreement.agreement_no,
            "external_agreement_no": agreement.external_agreement_no,
            "personal_product_code": WITHHOLDING_PERSONAL_PRODUCT,
            "sign_scene": "INDUSTRY|INSURANCE",
            "alipay_user_id": agreement.alipay_user_id,
            "alipay_logon_id": "159******20",
            "status": agreement.status,
            "sign_time": beijing(agreement.sign_time),
            "valid_time": beijing(agreement.sign_time),
            "invalid_time": "2115-02-01 00:00:00",
        }
        params.update(overrides or {})
        return self.sign_notification(params)

    def end_agreement(self, agreement_no: str) -> None:
        """The customer ends the agreement in their Alipay app."""
        self.agreements[agreement_no].status = "UNSIGN"

    def pay(self, out_trade_no: str) -> Trade:
        trade = self.trades[out_trade_no]
        assert trade.status == "WAIT_BUYER_PAY", trade.status
        trade.status = "TRADE_SUCCESS"
        trade.gmt_payment = self.clock()
        return trade

    def _new_trade(self, biz: Mapping[str, Any], buyer_id: str, notify_url: str | None) -> Trade:
        for name in ("out_trade_no", "total_amount", "subject"):
            if not biz.get(name):
                raise business("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
        out_trade_no = str(biz["out_trade_no"])
        amount = _amount(biz["total_amount"], "total_amount")
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            if existing.status == "TRADE_SUCCESS":
                raise business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.status == "TRADE_CLOSED":
                raise business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if existing.total_amount != amount:
                raise business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            return existing
        now = self.clock()
        trade = Trade(
            out_trade_no=out_trade_no,
            trade_no=now.astimezone(BEIJING).strftime("%Y%m%d")
            + f"22001{secrets.randbelow(10**18):018d}",
            total_amount=amount,
            subject=str(biz["subject"]),
            status="WAIT_BUYER_PAY",
            buyer_id=buyer_id,
            notify_url=notify_url,
            gmt_create=now,
        )
        self.trades[out_trade_no] = trade
        return trade

    # ------------------------------------------------------------ notifications

    def notification(
        self,
        out_trade_no: str,
        *,
        refund_request_no: str | None = None,
        overrides: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> dict[str, str]:
        """The ``trade_status_sync`` form Alipay posts to the trade's ``notify_url``, for
        its current state; with ``refund_request_no``, the one a refund triggers.
        ``overrides`` change fields before signing (a *signed* but mismatched callback)."""
        trade = self.trades[out_trade_no]
        now = self.clock()
        params: dict[str, str] = {
            "notify_time": beijing(now),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_id,
            "buyer_logon_id": "159****5620",
            "seller_id": self.seller_id,
            "seller_email": "anxin-pay@example.cn",
            "trade_status": trade.status,
            "total_amount": f"{trade.total_amount:.2f}",
            "receipt_amount": f"{trade.total_amount:.2f}",
            "invoice_amount": f"{trade.total_amount:.2f}",
            "buyer_pay_amount": f"{trade.total_amount:.2f}",
            "point_amount": "0.00",
            "subject": trade.subject,
            "gmt_create": beijing(trade.gmt_create),
            "fund_bill_list": json.dumps(
                [{"amount": f"{trade.total_amount:.2f}", "fundChannel": "ALIPAYACCOUNT"}],
                separators=(",", ":"),
            ),
        }
        if trade.gmt_payment:
            params["gmt_payment"] = beijing(trade.gmt_payment)
        if trade.gmt_close:
            params["gmt_close"] = beijing(trade.gmt_close)
        if refund_request_no is not None:
            _, refunded_at = trade.refunds[refund_request_no]
            params["out_biz_no"] = refund_request_no
            params["refund_fee"] = f"{trade.refunded:.2f}"  # the total refunded so far
            params["gmt_refund"] = refunded_at.astimezone(BEIJING).strftime(TIME_FORMAT + ".%f")[
                :-3
            ]
        params.update(overrides or {})
        return self.sign_notification(params) if signed else params

    def sign_notification(self, params: Mapping[str, str]) -> dict[str, str]:
        """(Re-)sign ``params`` as Alipay signs a notification."""
        unsigned = {k: v for k, v in params.items() if k != "sign"}
        return {**unsigned, "sign": self.sign(string_to_sign(unsigned, NOTIFY_EXCLUDE))}

    @staticmethod
    def form_body(params: Mapping[str, str]) -> bytes:
        return urlencode(params).encode()

    async def post_notification(
        self, url: str, params: Mapping[str, str], client: httpx.AsyncClient
    ) -> httpx.Response:
        return await client.post(
            url,
            content=self.form_body(params),
            headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        )

    # ------------------------------------------------------------ HTTP

    async def _gateway(self, request: Request) -> Response:
        body = await request.body()
        # What this request gets is decided on arrival: a late answer to a request the
        # client gave up on must not take a raw answer queued for the next one.
        raw = self._raw.pop(0) if self._raw else None
        if self._delays:
            await asyncio.sleep(self._delays.pop(0))
        if raw is not None:
            return raw
        query_pairs = parse_qsl(request.url.query, keep_blank_values=True)
        form_pairs = parse_qsl(body.decode(), keep_blank_values=True)
        params: dict[str, str] = {}
        key = "error_response"
        try:
            for name, value in [*query_pairs, *form_pairs]:
                if name in params:
                    raise invalid("parameter", f"参数{name}重复")
                params[name] = value
            method = params.get("method", "")
            if method in METHODS:
                key = method.replace(".", "_") + "_response"
            self._authenticate(params)
            biz = self._biz(params)
            if self._queued:
                raise self._queued.pop(0)
            content = self._handle(method, biz, params)
            signed = True
        except AlipayRefusal as refusal:
            content = refusal.content()
            key = refusal.key or key
            signed = refusal.signed
        self.calls.append(
            ReceivedCall(
                query=dict(query_pairs),
                form=dict(form_pairs),
                params=params,
                content_type=request.headers.get("content-type", ""),
                answer=content,
            )
        )
        return Response(self._render(key, content, signed), 200, media_type="text/html")

    def _render(self, key: str, content: dict[str, Any], signed: bool) -> str:
        raw = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        sign = self.sign(raw) if signed else None
        if self._tamper:
            how = self._tamper.pop(0)
            if how == "sign" and sign:
                sign = tampered_sign(sign)
            elif how == "unsigned":
                sign = None
            elif callable(how):
                changed = json.loads(raw)
                how(changed)
                raw = json.dumps(changed, ensure_ascii=False, separators=(",", ":"))
        if sign is None:
            return f'{{"{key}":{raw}}}'
        return f'{{"{key}":{raw},"sign":"{sign}"}}'

    # ------------------------------------------------------------ the checks

    def _authenticate(self, params: Mapping[str, str]) -> None:
        if not params.get("app_id"):
            raise missing("app-id")
        if params["app_id"] != self.app_id:
            raise AlipayRefusal(
                "40002",
                "Invalid Arguments",
                "isv.invalid-app-id",
                "无效的AppID参数",
                signed=False,
                key="error_response",
            )
        if not params.get("method"):
            raise AlipayRefusal(
                "40001",
                "Missing Required Arguments",
                "isv.missing-method",
                "缺少方法名参数",
                key="error_response",
            )
        if params["method"] not in METHODS | PAGE_METHODS:
            raise AlipayRefusal(
                "40002",
                "Invalid Arguments",
                "isv.invalid-method",
                "不存在的方法名",
                key="error_response",
            )
        if params.get("format", "JSON").upper() != "JSON":
            raise invalid("format", "无效的数据格式")
        if params.get("charset", "").lower() != "utf-8":
            raise invalid("charset", "无效的字符集")
        if params.get("version") != "1.0":
            raise invalid("version", "无效的版本号")
        if not params.get("sign_type"):
            raise missing("signature-type")
        if params["sign_type"] != "RSA2":
            raise invalid("signature-type", "无效的签名类型")
        if not params.get("sign"):
            raise missing("signature")
        self._check_timestamp(params.get("timestamp", ""))
        content = string_to_sign(params, REQUEST_EXCLUDE)
        if not rsa2_verify(self._app_key, content, params["sign"]):
            raise invalid(
                "signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
                + content,
            )

    def _check_timestamp(self, raw: str) -> None:
        if not raw:
            raise missing("timestamp")
        try:
            stamp = datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=BEIJING)
        except ValueError:
            raise invalid("timestamp", "非法的时间戳参数") from None
        if abs(self.clock() - stamp) > TIMESTAMP_TOLERANCE:
            raise invalid("timestamp", "非法的时间戳参数")

    @staticmethod
    def _biz(params: Mapping[str, str]) -> dict[str, Any]:
        try:
            biz = json.loads(params.get("biz_content") or "")
        except ValueError:
            raise invalid("biz-content", "biz_content不是合法的JSON") from None
        if not isinstance(biz, dict):
            raise invalid("biz-content", "biz_content不是合法的JSON")
        return biz

    def _handle(
        self, method: str, biz: dict[str, Any], params: Mapping[str, str]
    ) -> dict[str, Any]:
        handlers: dict[str, Callable[[dict[str, Any], Mapping[str, str]], dict[str, Any]]] = {
            "alipay.trade.create": self._trade_create,
            "alipay.trade.query": self._trade_query,
            "alipay.trade.close": self._trade_close,
            "alipay.trade.refund": self._trade_refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.fund.trans.uni.transfer": self._transfer,
            "alipay.fund.trans.order.query": self._transfer_query,
            "alipay.trade.pay": self._withhold,
            "alipay.user.agreement.unsign": self._unsign,
        }
        if method not in handlers:  # alipay.trade.app.pay is not a gateway call
            raise invalid("method", "不存在的方法名")
        answer = handlers[method](biz, params)
        code = answer.pop("_code", "10000")
        msg = "Success" if code == "10000" else "Order success pay inprocess"
        return {"code": code, "msg": msg, **answer}

    def _trade(self, biz: Mapping[str, Any]) -> Trade:
        out_trade_no = biz.get("out_trade_no")
        trade_no = biz.get("trade_no")
        if not out_trade_no and not trade_no:
            raise business("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no")
        for trade in self.trades.values():
            if trade.out_trade_no == out_trade_no or (trade_no and trade.trade_no == trade_no):
                return trade
        raise business("ACQ.TRADE_NOT_EXIST", "交易不存在")

    def _trade_create(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        buyer = biz.get("buyer_id") or biz.get("buyer_open_id")
        if not buyer:
            raise business("ACQ.INVALID_PARAMETER", "参数无效: buyer_id")
        trade = self._new_trade(biz, str(buyer), params.get("notify_url"))
        return {"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}

    def _trade_query(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        trade = self._trade(biz)
        answer: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            "trade_status": trade.status,
            "total_amount": f"{trade.total_amount:.2f}",
            "buyer_user_id": trade.buyer_id,
        }
        if trade.gmt_payment:
            answer["send_pay_date"] = beijing(trade.gmt_payment)
            answer["buyer_pay_amount"] = f"{trade.total_amount:.2f}"
            answer["receipt_amount"] = f"{trade.total_amount:.2f}"
        return answer

    def _trade_close(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        trade = self._trade(biz)
        if trade.status != "WAIT_BUYER_PAY":
            raise business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"
        trade.gmt_close = self.clock()
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _trade_refund(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        trade = self._trade(biz)
        amount = _amount(biz.get("refund_amount"), "refund_amount")
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        fund_change = "Y"
        previous = trade.refunds.get(request_no)
        if previous is not None:
            if previous[0] != amount:
                raise business("ACQ.INVALID_PARAMETER", "退款请求号对应的退款金额不一致")
            fund_change = "N"  # a repeat: the money moved the first time
        else:
            if trade.status == "TRADE_CLOSED":
                raise business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if trade.status != "TRADE_SUCCESS":
                raise business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if trade.refunded + amount > trade.total_amount:
                raise business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            trade.refunds[request_no] = (amount, self.clock())
            if trade.refunded == trade.total_amount:
                trade.status = "TRADE_CLOSED"
                trade.gmt_close = self.clock()
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            "fund_change": fund_change,
            "refund_fee": f"{trade.refunded:.2f}",
            "gmt_refund_pay": beijing(trade.refunds[request_no][1]),
            "buyer_user_id": trade.buyer_id,
        }

    def _refund_query(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        trade = self._trade(biz)
        request_no = biz.get("out_request_no")
        if not request_no:
            raise business("ACQ.INVALID_PARAMETER", "参数无效: out_request_no")
        refund = trade.refunds.get(str(request_no))
        if refund is None:  # Alipay: success, with no refund fields
            return {"out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
        answer = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": request_no,
            "total_amount": f"{trade.total_amount:.2f}",
            "refund_amount": f"{refund[0]:.2f}",
            "refund_status": "REFUND_SUCCESS",
        }
        if "gmt_refund_pay" in (biz.get("query_options") or []):
            answer["gmt_refund_pay"] = beijing(refund[1])
        return answer

    def _transfer(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        if biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD":
            raise business("INVALID_PARAMETER", "参数有误: product_code")
        if biz.get("biz_scene") != "DIRECT_TRANSFER":
            raise business("INVALID_PARAMETER", "参数有误: biz_scene")
        for name in ("out_biz_no", "trans_amount", "order_title", "payee_info"):
            if not biz.get(name):
                raise business("INVALID_PARAMETER", f"参数有误: {name}")
        amount = _amount(biz["trans_amount"], "trans_amount")
        payee = biz["payee_info"]
        if not isinstance(payee, dict) or not payee.get("identity"):
            raise business("INVALID_PARAMETER", "参数有误: payee_info")
        identity_type = payee.get("identity_type")
        if identity_type not in {"ALIPAY_USER_ID", "ALIPAY_LOGON_ID"}:
            raise business("INVALID_PARAMETER", "参数有误: identity_type")
        if identity_type == "ALIPAY_LOGON_ID" and not payee.get("name"):
            raise business("INVALID_PARAMETER", "收款方为支付宝登录号时，姓名必填")
        out_biz_no = str(biz["out_biz_no"])
        existing = self.transfers.get(out_biz_no)
        if existing is not None:
            if existing.amount != amount or existing.identity != payee["identity"]:
                raise business("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是参数不一致")
            return self._transfer_answer(existing)
        if amount < MIN_TRANSFER:
            raise business("EXCEED_LIMIT_SM_MIN_AMOUNT", "单笔最低转账金额0.1元")
        identity = str(payee["identity"])
        if identity not in self.payees:
            raise business("PAYEE_NOT_EXIST", "收款账号不存在")
        if payee.get("name") and payee["name"] != self.payees[identity]:
            raise business("PAYEE_USER_INFO_ERROR", "支付宝账号和姓名不匹配，请确认姓名是否正确")
        if amount > self.balance:
            raise business("PAYER_BALANCE_NOT_ENOUGH", "付款方余额不足")
        self.balance -= amount
        now = self.clock()
        stamp = now.astimezone(BEIJING).strftime("%Y%m%d")
        transfer = Transfer(
            out_biz_no=out_biz_no,
            order_id=f"{stamp}1100300{secrets.randbelow(10**15):015d}",
            pay_fund_order_id=f"{stamp}1100300{secrets.randbelow(10**15):015d}",
            amount=amount,
            identity=identity,
            identity_type=str(identity_type),
            name=payee.get("name"),
            order_title=str(biz["order_title"]),
            status=self._transfer_status.pop(0) if self._transfer_status else "SUCCESS",
            trans_date=now,
        )
        self.transfers[out_biz_no] = transfer
        return self._transfer_answer(transfer)

    @staticmethod
    def _transfer_answer(transfer: Transfer) -> dict[str, Any]:
        return {
            "out_biz_no": transfer.out_biz_no,
            "order_id": transfer.order_id,
            "pay_fund_order_id": transfer.pay_fund_order_id,
            "status": transfer.status,
            "trans_date": beijing(transfer.trans_date),
        }

    def _transfer_query(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        out_biz_no = biz.get("out_biz_no")
        order_id = biz.get("order_id")
        if not out_biz_no and not order_id:
            raise business("INVALID_PARAMETER", "参数有误: out_biz_no")
        for transfer in self.transfers.values():
            if transfer.order_id == order_id or (
                not order_id and transfer.out_biz_no == out_biz_no
            ):
                answer: dict[str, Any] = {
                    "order_id": transfer.order_id,
                    "out_biz_no": transfer.out_biz_no,
                    "status": transfer.status,
                    "order_fee": "0.00",
                }
                if transfer.status == "SUCCESS":
                    answer["pay_date"] = beijing(transfer.trans_date)
                if transfer.fail_reason:
                    answer["fail_reason"] = transfer.fail_reason
                    answer["error_code"] = transfer.error_code
                return answer
        raise business("ORDER_NOT_EXIST", "转账订单不存在")

    # ------------------------------------------------------------ 商户代扣

    def _withhold(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        if biz.get("product_code") != "GENERAL_WITHHOLDING":
            raise business("ACQ.INVALID_PARAMETER", "参数无效: product_code")
        agreement_params = biz.get("agreement_params")
        number = (
            agreement_params.get("agreement_no") if isinstance(agreement_params, dict) else None
        )
        if not number:
            raise business("ACQ.INVALID_PARAMETER", "参数无效: agreement_no")
        agreement = self.agreements.get(str(number))
        if agreement is None:
            raise business("ACQ.AGREEMENT_NOT_EXIST", "协议不存在")
        if agreement.status != "NORMAL":
            raise business("ACQ.AGREEMENT_INVALID", "用户协议失效")
        existing = self.trades.get(str(biz.get("out_trade_no") or ""))
        if existing is not None and existing.status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        trade = self._new_trade(biz, agreement.alipay_user_id, params.get("notify_url"))
        answer: dict[str, Any] = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "159****5620",
            "total_amount": f"{trade.total_amount:.2f}",
            "buyer_user_id": trade.buyer_id,
        }
        if self._in_process:
            self._in_process.pop(0)
            return answer | {"_code": "10003"}
        self.pay(trade.out_trade_no)
        assert trade.gmt_payment is not None
        return answer | {"gmt_payment": beijing(trade.gmt_payment)}

    def _unsign(self, biz: dict[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
        agreement = self.agreements.get(str(biz.get("agreement_no") or ""))
        if agreement is None:
            raise business("USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
        agreement.status = "UNSIGN"
        return {}
