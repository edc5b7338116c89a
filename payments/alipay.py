"""Alipay (支付宝开放平台 OpenAPI, RSA2) spoken over the shared ``httpx.AsyncClient``.

What Alipay requires, and why this module does what it does:

- **Every request is signed** with the app's private key: the common parameters
  (``app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp, version=1.0``,
  ``notify_url`` when there is one) plus ``biz_content`` (the business JSON); the string
  to sign is every non-empty parameter but ``sign``, sorted by name, ``k=v`` joined by
  ``&`` with the values *unencoded*; the signature is SHA256withRSA (PKCS#1 v1.5),
  base64. ``timestamp`` is Beijing time (``YYYY-MM-DD HH:MM:SS``, Asia/Shanghai): the
  gateway refuses a clock that is off, and UTC is eight hours off.
- **Keys come in several shapes**: Alipay's key tool writes PKCS#1 for most languages and
  PKCS#8 for Java, PEM or bare base64; the console shows Alipay's public key as bare
  base64. All are accepted (``load_private_key`` / ``load_public_key``).
- **The app pays with an order string** (``alipay.trade.app.pay``): the signed, URL-encoded
  parameters handed to the Alipay SDK in the app; no call to the gateway. An Alipay
  mini-program instead needs a trade created first (``alipay.trade.create``, with the
  buyer's id) and opens its cashier with the ``trade_no``.
- **Gateway calls are form POSTs** to one URL (``…/gateway.do``). As the vendor's SDKs do,
  the common parameters travel in the query string (the gateway reads ``charset`` there
  before decoding the body) and ``biz_content`` in the form body. The URL is taken as
  given, port included: the vendor's Python SDK drops any port but 80/443, which is one
  reason it is not used here (it is also synchronous; it serves the tests as reference).
- **Every answer is signed** by Alipay over the *exact text* of the
  ``"<method>_response"`` value as it appears in the body; re-serialising the parsed JSON
  gives other bytes (escaping, spacing, key order) and a failed check. So the raw
  substring is cut out of the body (a small scanner over the top-level object, which also
  refuses duplicate members) and verified with Alipay's public key; the Java SDK's
  fallback for a body that escapes ``/`` as ``\\/`` is kept.
- **An answer we cannot verify is never believed**: a success must carry a valid
  signature, and so must any refusal we act on (``ACQ.TRADE_NOT_EXIST`` would otherwise
  let a forged answer close an order). An unsigned or badly signed answer raises
  ``ProviderUnavailable`` — the outcome is unknown, the caller queries again — and is
  logged as a security event.
- **Codes**: ``10000`` success; ``20000``, ``ACQ.SYSTEM_ERROR``/``SYSTEM_ERROR`` and
  ``isp.*`` mean "busy, outcome unknown" (``ProviderUnavailable``); ``40004`` and the
  ``4000x`` parameter/permission errors are refusals for good (``ProviderRejected`` with
  the ``sub_code``), except the "no such trade/order" answers of the queries, which are
  states (``NOT_FOUND``). Timeouts, refused connections and non-200 answers are
  ``ProviderUnavailable``.
- **Asynchronous notifications** are form-encoded POSTs signed over every parameter but
  ``sign`` and ``sign_type``, sorted, ``k=v&…``, with URL-*decoded* values and empty
  values left out (the Java SDK's ``rsaCheckV1``). A refund arrives as the same
  ``trade_status_sync`` notification with ``refund_fee``/``out_biz_no``/``gmt_refund``.
  Alipay retries until it reads exactly ``success``; anything else means "send again".
  Alipay's notifications carry no freshness guarantee (it retries for about a day), so
  ``now`` is not used to reject them: replays are made harmless by the idempotent
  recording in ``workflows.payments.orders``.

The private key is held only as a key object, is not in ``repr`` and is never logged;
neither are request or notification bodies.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from models.clock import SHANGHAI
from payments.agreements import (
    AgreementNotification,
    AgreementSignRequest,
    AgreementState,
    WithholdRequest,
)
from payments.base import (
    CallbackReply,
    Checkout,
    InvalidNotification,
    PaymentMethod,
    PaymentNotification,
    PayRequest,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    RefundState,
    TradeState,
    TradeStatus,
    TransferRequest,
    TransferResult,
    TransferState,
)

log = logging.getLogger("anxin.payments.alipay")

CHARSET = "utf-8"
SIGN_TYPE = "RSA2"
API_VERSION = "1.0"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SUCCESS = "10000"
UNAVAILABLE_CODES = frozenset({"20000"})
SYSTEM_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"})
TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
ORDER_NOT_EXIST = "ORDER_NOT_EXIST"
NOTIFY_TYPE = "trade_status_sync"
MAX_NOTIFICATION_BYTES = 64 * 1024
ALIPAY_USER_ID = re.compile(r"^2088\d{12}$")
# 商户代扣: the product codes agreed with Alipay, and the scene shown on the sign page.
WITHHOLDING_PRODUCT = "GENERAL_WITHHOLDING"
WITHHOLDING_PERSONAL_PRODUCT = "GENERAL_WITHHOLDING_P1"
WITHHOLDING_SCENE = "INDUSTRY|INSURANCE"
AGREEMENT_NOTIFY_TYPES = {"dut_user_sign": "NORMAL", "dut_user_unsign": "UNSIGN"}
AGREEMENT_STATES = {"NORMAL": AgreementState.ACTIVE, "UNSIGN": AgreementState.ENDED}
PAY_IN_PROCESS = "10003"  # alipay.trade.pay: ORDER_SUCCESS_PAY_INPROCESS
AMOUNT = re.compile(r"^\d{1,10}(?:\.\d{1,2})?$")

TRADE_STATES = {
    "WAIT_BUYER_PAY": TradeState.WAITING,
    "TRADE_SUCCESS": TradeState.PAID,
    "TRADE_FINISHED": TradeState.PAID,  # paid, and no longer refundable
    "TRADE_CLOSED": TradeState.CLOSED,  # closed unpaid, or fully refunded
}
TRANSFER_STATES = {
    "SUCCESS": TransferState.SUCCESS,
    "DEALING": TransferState.PROCESSING,
    "INIT": TransferState.PROCESSING,
    "UNKNOWN": TransferState.PROCESSING,  # Alipay does not know yet: query again
    "FAIL": TransferState.FAILED,
    "REFUND": TransferState.FAILED,  # 退票: paid to a bank card, then returned
    "CLOSED": TransferState.FAILED,
}


# ------------------------------------------------------------------ keys and signatures


def _key_bytes(text: str) -> tuple[bytes, bool]:
    """The key's bytes and whether they are PEM (else DER from bare base64)."""
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return stripped.encode(), True
    return base64.b64decode("".join(stripped.split()), validate=True), False


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PKCS#1 (``BEGIN RSA PRIVATE KEY``) or PKCS#8
    (``BEGIN PRIVATE KEY``) PEM, or the bare base64 of either, as Alipay's key tool writes it.
    """
    try:
        data, pem = _key_bytes(text)
        key = (
            serialization.load_pem_private_key(data, password=None)
            if pem
            else serialization.load_der_private_key(data, password=None)
        )
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        # ``from None``: nothing of the key may travel in a traceback.
        raise ValueError("not a readable RSA private key (PKCS#1 or PKCS#8)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Alipay's public key: PEM or the bare base64 the Alipay console shows."""
    try:
        data, pem = _key_bytes(text)
        key = (
            serialization.load_pem_public_key(data)
            if pem
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise ValueError("not a readable RSA public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return key


def sign_content(params: Mapping[str, str], exclude: Collection[str] = ("sign",)) -> str:
    """Alipay's string to sign: the non-empty parameters but ``exclude``, sorted by name,
    ``k=v`` joined by ``&``, values as they are (not URL-encoded)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v and k not in exclude)


def rsa2_sign(key: rsa.RSAPrivateKey, content: str) -> str:
    signature = key.sign(content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(key: rsa.RSAPublicKey, content: bytes, sign: str) -> bool:
    try:
        signature = base64.b64decode(sign, validate=True)
        key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# ------------------------------------------------------------------ the answer's raw text

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def top_level_members(text: str) -> dict[str, tuple[int, int]]:
    """Where each member of the top-level JSON object sits in ``text``: name → (start, end)
    of its value, exactly as written. Raises ``ValueError`` for anything but one object,
    and for a name given twice (the signed member and a forged twin must not coexist)."""

    def skip(pos: int) -> int:
        match = _WHITESPACE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    members: dict[str, tuple[int, int]] = {}
    pos = skip(0)
    if text[pos : pos + 1] != "{":
        raise ValueError("not a JSON object")
    pos = skip(pos + 1)
    if text[pos : pos + 1] == "}":
        pos += 1
    else:
        while True:
            if text[pos : pos + 1] != '"':
                raise ValueError("expected a member name")
            name, pos = _DECODER.raw_decode(text, pos)
            pos = skip(pos)
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            start = skip(pos + 1)
            _, end = _DECODER.raw_decode(text, start)
            if name in members:
                raise ValueError(f"member {name!r} appears twice")
            members[name] = (start, end)
            pos = skip(end)
            if text[pos : pos + 1] == ",":
                pos = skip(pos + 1)
                continue
            if text[pos : pos + 1] == "}":
                pos += 1
                break
            raise ValueError("expected ',' or '}'")
    if skip(pos) != len(text):
        raise ValueError("text after the JSON object")
    return members


# ------------------------------------------------------------------ values


def yuan(amount: Decimal) -> str:
    """``Decimal("12.3")`` → ``"12.30"``; refuses fractions of a fen and non-positive sums."""
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"not a payable amount in yuan: {amount}")
    return f"{amount:.2f}"


def _beijing(value: datetime) -> str:
    if value.tzinfo is None:  # stored times are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def _parse_beijing(value: str) -> datetime:
    """``2026-11-30 10:15:02`` (or with ``.320`` milliseconds, as ``gmt_refund``) → UTC."""
    for fmt in (TIME_FORMAT, TIME_FORMAT + ".%f"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=SHANGHAI).astimezone(UTC)
        except ValueError:
            continue
    raise ValueError(f"not an Alipay time: {value!r}")


def _optional_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _parse_beijing(value)
    except ValueError:
        return None


def _amount(value: object) -> Decimal:
    if not isinstance(value, str) or not AMOUNT.match(value):
        raise ValueError(f"not an Alipay amount: {value!r}")
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"not an Alipay amount: {value!r}") from None


def _optional_amount(value: object) -> Decimal | None:
    try:
        return _amount(value)
    except ValueError:
        return None


def _text(content: Mapping[str, Any], name: str) -> str | None:
    value = content.get(name)
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------ the provider


class AlipayProvider:
    """The ``PaymentProvider`` for Alipay: the app's order string, mini-program trades,
    query/close/refund, claim payouts by ``alipay.fund.trans.uni.transfer``, and the
    verification of Alipay's notifications."""

    name = "alipay"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        gateway_url: str,
        app_id: str,
        seller_id: str,
        app_private_key_pem: str,
        alipay_public_key_pem: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._gateway_url = gateway_url
        self.app_id = app_id
        self.seller_id = seller_id
        self.merchant_id = seller_id  # the seller's 2088… id, echoed in every notification
        self._private_key = load_private_key(app_private_key_pem)
        self._alipay_key = load_public_key(alipay_public_key_pem)
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"AlipayProvider(app_id={self.app_id!r}, seller_id={self.seller_id!r}, "
            f"gateway_url={self._gateway_url!r})"
        )

    # ------------------------------------------------------------ signing

    def _signed_params(
        self, method: str, biz_content: Mapping[str, Any], notify_url: str | None = None
    ) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": CHARSET,
            "sign_type": SIGN_TYPE,
            "timestamp": _beijing(self._clock()),
            "version": API_VERSION,
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        if notify_url:
            params["notify_url"] = notify_url
        params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        return params

    # ------------------------------------------------------------ the gateway

    async def _call(
        self,
        method: str,
        biz_content: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        states: Collection[str] = (),
        codes: Collection[str] = (),
    ) -> dict[str, Any]:
        """POST one signed call; return the verified ``<method>_response`` object.

        A refusal whose ``sub_code`` is in ``states`` is an answer (e.g. "no such trade"
        to a query) and is returned too, and so is an answer whose ``code`` is in
        ``codes`` (``10003``: a withholding payment in process); the caller looks at
        ``code``.
        """
        params = self._signed_params(method, biz_content, notify_url)
        form = {"biz_content": params.pop("biz_content")}
        try:
            response = await self._client.post(
                self._gateway_url,
                params=params,
                data=form,
                headers={"content-type": f"application/x-www-form-urlencoded;charset={CHARSET}"},
            )
        except httpx.HTTPError as exc:
            log.warning("alipay %s failed: %s", method, type(exc).__name__)
            raise ProviderUnavailable(f"{method}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            log.warning("alipay %s answered HTTP %s", method, response.status_code)
            raise ProviderUnavailable(f"{method}: HTTP {response.status_code}")
        content = self._verified_content(method, response.content)
        code = str(content.get("code", ""))
        if code == SUCCESS or code in codes:
            return content
        sub_code = str(content.get("sub_code") or code)
        sub_msg = str(content.get("sub_msg") or content.get("msg") or "")
        if code in UNAVAILABLE_CODES or sub_code in SYSTEM_SUB_CODES or sub_code.startswith("isp."):
            log.warning("alipay %s: system busy (%s %s)", method, code, sub_code)
            raise ProviderUnavailable(f"{method}: {code} {sub_code}")
        if sub_code in states:
            return content
        log.info("alipay %s refused: %s %s", method, code, sub_code)
        raise ProviderRejected(sub_code, sub_msg)

    def _verified_content(self, method: str, body: bytes) -> dict[str, Any]:
        """The ``<method>_response`` (or ``error_response``) object, believed only when its
        raw text carries Alipay's valid signature."""
        try:
            text = body.decode(CHARSET)
            members = top_level_members(text)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            log.warning("alipay %s: unreadable answer (%s)", method, exc)
            raise ProviderUnavailable(f"{method}: unreadable answer") from None
        key = method.replace(".", "_") + "_response"
        span = members.get(key) or members.get("error_response")
        if span is None:
            log.warning("alipay %s: answer without %s", method, key)
            raise ProviderUnavailable(f"{method}: answer without {key}")
        raw = text[span[0] : span[1]]
        content = json.loads(raw)
        if not isinstance(content, dict):
            raise ProviderUnavailable(f"{method}: {key} is not an object")
        sign_span = members.get("sign")
        sign = json.loads(text[sign_span[0] : sign_span[1]]) if sign_span else None
        if not isinstance(sign, str) or not sign:
            log.error(
                "alipay %s: unsigned answer (code %s %s) not believed",
                method,
                content.get("code"),
                content.get("sub_code"),
            )
            raise ProviderUnavailable(f"{method}: unsigned answer {content.get('code')}")
        if not (
            rsa2_verify(self._alipay_key, raw.encode(CHARSET), sign)
            or (
                "\\/" in raw
                and rsa2_verify(self._alipay_key, raw.replace("\\/", "/").encode(), sign)
            )
        ):
            log.error("alipay %s: answer signature invalid, not believed (security)", method)
            raise ProviderUnavailable(f"{method}: answer signature invalid")
        return content

    @staticmethod
    def _check_echo(method: str, content: Mapping[str, Any], name: str, expected: str) -> None:
        echoed = content.get(name)
        if echoed is not None and echoed != expected:
            log.error("alipay %s answered for another %s (security)", method, name)
            raise ProviderUnavailable(f"{method}: answer for another {name}")

    # ------------------------------------------------------------ paying

    async def checkout(self, request: PayRequest) -> Checkout:
        biz: dict[str, Any] = {
            "out_trade_no": request.order_number,
            "total_amount": yuan(request.amount),
            "subject": request.subject,
            "time_expire": _beijing(request.expires_at),
        }
        if request.method is PaymentMethod.ALIPAY_APP:
            biz["product_code"] = "QUICK_MSECURITY_PAY"
            params = self._signed_params("alipay.trade.app.pay", biz, request.notify_url)
            return Checkout(request.method, {"orderString": urlencode(params)})
        if request.method is PaymentMethod.ALIPAY_MINI_PROGRAM:
            if not request.payer_id:
                raise ValueError("an Alipay mini-program payment needs the buyer's id")
            buyer = "buyer_id" if ALIPAY_USER_ID.match(request.payer_id) else "buyer_open_id"
            biz[buyer] = request.payer_id
            biz["product_code"] = "JSAPI_PAY"
            method = "alipay.trade.create"
            content = await self._call(method, biz, notify_url=request.notify_url)
            self._check_echo(method, content, "out_trade_no", request.order_number)
            trade_no = _text(content, "trade_no")
            if trade_no is None:
                raise ProviderUnavailable(f"{method}: answer without trade_no")
            return Checkout(request.method, {"tradeNo": trade_no})
        raise ValueError(f"Alipay cannot take {request.method}")

    async def query(self, order_number: str) -> TradeStatus:
        method = "alipay.trade.query"
        content = await self._call(
            method, {"out_trade_no": order_number}, states=(TRADE_NOT_EXIST,)
        )
        if content.get("code") != SUCCESS:
            return TradeStatus(order_number, TradeState.NOT_FOUND)
        self._check_echo(method, content, "out_trade_no", order_number)
        status = str(content.get("trade_status", ""))
        state = TRADE_STATES.get(status)
        if state is None:
            raise ProviderUnavailable(f"{method}: unknown trade_status {status!r}")
        paid = state is TradeState.PAID
        return TradeStatus(
            order_number=order_number,
            state=state,
            amount=_optional_amount(content.get("total_amount")),
            provider_trade_no=_text(content, "trade_no"),
            paid_at=_optional_time(content.get("send_pay_date")) if paid else None,
        )

    async def close(self, order_number: str) -> None:
        """Close an unpaid trade. "No such trade" is success: with the app's order string
        the trade only exists at Alipay once the buyer opened the cashier, and after
        ``time_expire`` it never will. A paid trade answers ``ACQ.TRADE_STATUS_ERROR``
        (``ProviderRejected``): query it."""
        await self._call(
            "alipay.trade.close", {"out_trade_no": order_number}, states=(TRADE_NOT_EXIST,)
        )

    # ------------------------------------------------------------ refunds

    async def refund(self, request: RefundRequest) -> RefundResult:
        """``out_request_no`` = our refund number, so a retry never refunds twice. Alipay
        refunds synchronously: ``fund_change=Y`` is done; ``N`` means this call moved no
        money (typically a repeat) and the refund query says what happened.
        ``request.notify_url`` is not sent: refund notifications go to the trade's own
        ``notify_url``."""
        method = "alipay.trade.refund"
        content = await self._call(
            method,
            {
                "out_trade_no": request.order_number,
                "refund_amount": yuan(request.amount),
                "out_request_no": request.refund_number,
                "refund_reason": request.reason,
            },
        )
        self._check_echo(method, content, "out_trade_no", request.order_number)
        state = RefundState.SUCCESS if content.get("fund_change") == "Y" else RefundState.PROCESSING
        return RefundResult(request.refund_number, state, _text(content, "trade_no"))

    async def query_refund(self, order_number: str, refund_number: str) -> RefundResult:
        """``REFUND_SUCCESS`` is success. Without ``refund_status`` Alipay has not (yet)
        refunded — it may still, if asked too soon — so the answer is ``PROCESSING``: the
        safe next step is the same ``refund()`` call with the same refund number, never a
        new number."""
        method = "alipay.trade.fastpay.refund.query"
        content = await self._call(
            method,
            {
                "out_trade_no": order_number,
                "out_request_no": refund_number,
                "query_options": ["gmt_refund_pay"],
            },
        )
        self._check_echo(method, content, "out_request_no", refund_number)
        state = (
            RefundState.SUCCESS
            if content.get("refund_status") == "REFUND_SUCCESS"
            else RefundState.PROCESSING
        )
        return RefundResult(refund_number, state, _text(content, "trade_no"))

    # ------------------------------------------------------------ payouts

    async def transfer(self, request: TransferRequest) -> TransferResult:
        """A payout to an Alipay account. ``out_biz_no`` = our transfer number: Alipay
        answers a repeat with the first transfer, so a retry after a timeout is safe."""
        method = "alipay.fund.trans.uni.transfer"
        payee: dict[str, str] = {
            "identity": request.payee_id,
            "identity_type": (
                "ALIPAY_USER_ID" if ALIPAY_USER_ID.match(request.payee_id) else "ALIPAY_LOGON_ID"
            ),
        }
        if request.payee_name:
            payee["name"] = request.payee_name  # Alipay checks it against the real name
        content = await self._call(
            method,
            {
                "out_biz_no": request.transfer_number,
                "trans_amount": yuan(request.amount),
                "product_code": "TRANS_ACCOUNT_NO_PWD",
                "biz_scene": "DIRECT_TRANSFER",
                "order_title": request.remark,
                "payee_info": payee,
                "remark": request.remark,
            },
            notify_url=request.notify_url,
        )
        self._check_echo(method, content, "out_biz_no", request.transfer_number)
        return self._transfer_result(method, request.transfer_number, content)

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        method = "alipay.fund.trans.order.query"
        content = await self._call(
            method, {"out_biz_no": transfer_number}, states=(ORDER_NOT_EXIST,)
        )
        if content.get("code") != SUCCESS:
            return TransferResult(transfer_number, TransferState.NOT_FOUND)
        self._check_echo(method, content, "out_biz_no", transfer_number)
        return self._transfer_result(method, transfer_number, content)

    @staticmethod
    def _transfer_result(
        method: str, transfer_number: str, content: Mapping[str, Any]
    ) -> TransferResult:
        status = str(content.get("status", ""))
        state = TRANSFER_STATES.get(status)
        if state is None:
            raise ProviderUnavailable(f"{method}: unknown transfer status {status!r}")
        reason = None
        if state is TransferState.FAILED:
            reason = _text(content, "fail_reason") or _text(content, "error_code") or status
        return TransferResult(
            transfer_number=transfer_number,
            state=state,
            provider_transfer_id=_text(content, "order_id"),
            failure_reason=reason,
        )

    # ------------------------------------------------------------ notifications

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        """Verify and decode ``trade_status_sync``. A payment: ``kind="payment"``, state
        PAID/CLOSED/WAITING, ``amount`` = ``total_amount``. A refund (``refund_fee``
        present): ``kind="refund"``, state SUCCESS, ``refund_number`` = ``out_biz_no`` and
        ``amount`` = ``refund_fee``, which is Alipay's *total refunded so far* on the trade,
        not this refund's own amount. ``headers`` and ``now`` are not needed: the form is
        self-describing and Alipay's retries make any freshness window wrong."""
        try:
            params = self._verified_notification(body)
            return self._decode_notification(params)
        except InvalidNotification as exc:
            log.warning("alipay notification rejected: %s", exc)
            raise

    def _verified_notification(self, body: bytes) -> dict[str, str]:
        if not body or len(body) > MAX_NOTIFICATION_BYTES:
            raise InvalidNotification("empty or oversized body")
        try:
            text = body.decode("ascii")
            # First pass only to learn the charset the values were encoded in.
            charset = dict(parse_qsl(text, keep_blank_values=True, encoding="latin-1")).get(
                "charset", CHARSET
            )
            if charset.lower() not in {"utf-8", "gbk", "gb2312"}:
                raise InvalidNotification(f"unsupported charset {charset!r}")
            pairs = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=True,
                encoding=charset.lower(),
                errors="strict",
            )
        except ValueError:  # includes UnicodeDecodeError
            raise InvalidNotification("not a form-encoded body") from None
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                raise InvalidNotification(f"parameter {name} appears twice")
            params[name] = value
        sign = params.get("sign")
        if not sign:
            raise InvalidNotification("no sign")
        if params.get("sign_type") != SIGN_TYPE:
            raise InvalidNotification(f"sign_type {params.get('sign_type')!r} is not RSA2")
        content = sign_content(params, exclude=("sign", "sign_type"))
        if not rsa2_verify(self._alipay_key, content.encode(charset.lower()), sign):
            raise InvalidNotification("bad signature")
        return params

    @staticmethod
    def _decode_notification(params: Mapping[str, str]) -> PaymentNotification:
        if params.get("notify_type") != NOTIFY_TYPE:
            raise InvalidNotification(f"unsupported notify_type {params.get('notify_type')!r}")
        for required in ("app_id", "seller_id", "out_trade_no", "trade_status", "total_amount"):
            if not params.get(required):
                raise InvalidNotification(f"no {required}")
        raw = {k: v for k, v in params.items() if k != "sign"}
        try:
            if params.get("refund_fee"):
                return PaymentNotification(
                    kind="refund",
                    order_number=params["out_trade_no"],
                    state=RefundState.SUCCESS,
                    amount=_amount(params["refund_fee"]),
                    provider_trade_no=params.get("trade_no") or None,
                    app_id=params["app_id"],
                    merchant_id=params["seller_id"],
                    occurred_at=_optional_parse(params.get("gmt_refund")),
                    refund_number=params.get("out_biz_no") or None,
                    raw=raw,
                )
            state = TRADE_STATES.get(params["trade_status"])
            if state is None:
                raise InvalidNotification(f"unknown trade_status {params['trade_status']!r}")
            occurred = {
                TradeState.PAID: "gmt_payment",
                TradeState.CLOSED: "gmt_close",
            }.get(state, "gmt_create")
            return PaymentNotification(
                kind="payment",
                order_number=params["out_trade_no"],
                state=state,
                amount=_amount(params["total_amount"]),
                provider_trade_no=params.get("trade_no") or None,
                app_id=params["app_id"],
                merchant_id=params["seller_id"],
                occurred_at=_optional_parse(params.get(occurred)),
                raw=raw,
            )
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from None

    # ------------------------------------------------------------ 商户代扣

    def agreement_sign_url(self, request: AgreementSignRequest) -> str:
        """``alipay.user.agreement.page.sign`` as a page the customer opens (the SDKs'
        ``pageExecute`` with GET): every parameter signed, in the query string."""
        biz: dict[str, Any] = {
            "personal_product_code": WITHHOLDING_PERSONAL_PRODUCT,
            "product_code": WITHHOLDING_PRODUCT,
            "sign_scene": WITHHOLDING_SCENE,
            "external_agreement_no": request.external_agreement_no,
            "access_params": {"channel": "ALIPAYAPP"},
        }
        if request.logon_hint:
            biz["external_logon_id"] = request.logon_hint
        params = self._signed_params("alipay.user.agreement.page.sign", biz, request.notify_url)
        if request.return_url:
            params["return_url"] = request.return_url
            del params["sign"]
            params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        return f"{self._gateway_url}?{urlencode(params)}"

    def parse_agreement_notification(self, body: bytes) -> AgreementNotification:
        """Verify and decode ``dut_user_sign`` / ``dut_user_unsign`` (signed like every
        notification); the status must be the one its type announces."""
        try:
            params = self._verified_notification(body)
            kind = params.get("notify_type", "")
            if kind not in AGREEMENT_NOTIFY_TYPES:
                raise InvalidNotification(f"unsupported notify_type {kind!r}")
            status = params.get("status", "")
            if status != AGREEMENT_NOTIFY_TYPES[kind]:
                raise InvalidNotification(f"{kind} with status {status!r}")
            for required in ("app_id", "agreement_no", "external_agreement_no"):
                if not params.get(required):
                    raise InvalidNotification(f"no {required}")
            if params.get("personal_product_code") not in (None, WITHHOLDING_PERSONAL_PRODUCT):
                raise InvalidNotification("another product's agreement")
            when = params.get("sign_time") if kind == "dut_user_sign" else None
            try:
                occurred = _optional_parse(when or params.get("notify_time"))
            except ValueError as exc:
                raise InvalidNotification(str(exc)) from None
        except InvalidNotification as exc:
            log.warning("alipay agreement notification rejected: %s", exc)
            raise
        return AgreementNotification(
            external_agreement_no=params["external_agreement_no"],
            agreement_no=params["agreement_no"],
            state=AGREEMENT_STATES[status],
            app_id=params["app_id"],
            payer_id=params.get("alipay_user_id") or None,
            payer_masked=params.get("alipay_logon_id") or None,
            occurred_at=occurred,
            raw={k: v for k, v in params.items() if k != "sign"},
        )

    async def withhold(self, request: WithholdRequest) -> TradeStatus:
        """``alipay.trade.pay`` under the agreement. ``10000`` paid; ``10003`` in process
        (WAITING: the trade notification or ``query`` settles it); a refusal for good
        (``ACQ.BUYER_BALANCE_NOT_ENOUGH``, ``ACQ.AGREEMENT_*``) is ``ProviderRejected``.
        The same ``out_trade_no`` is never charged twice by Alipay."""
        method = "alipay.trade.pay"
        content = await self._call(
            method,
            {
                "out_trade_no": request.order_number,
                "total_amount": yuan(request.amount),
                "subject": request.subject,
                "product_code": WITHHOLDING_PRODUCT,
                "agreement_params": {"agreement_no": request.agreement_no},
            },
            notify_url=request.notify_url,
            codes=(PAY_IN_PROCESS,),
        )
        self._check_echo(method, content, "out_trade_no", request.order_number)
        paid = content.get("code") == SUCCESS
        return TradeStatus(
            order_number=request.order_number,
            state=TradeState.PAID if paid else TradeState.WAITING,
            amount=_optional_amount(content.get("total_amount")),
            provider_trade_no=_text(content, "trade_no"),
            paid_at=_optional_time(content.get("gmt_payment")) if paid else None,
        )

    async def unsign(self, agreement_no: str) -> None:
        """End an agreement (``alipay.user.agreement.unsign``); one already ended is
        success (``USER_AGREEMENT_NOT_EXIST``-like answers are states here)."""
        await self._call(
            "alipay.user.agreement.unsign",
            {
                "agreement_no": agreement_no,
                "personal_product_code": WITHHOLDING_PERSONAL_PRODUCT,
                "sign_scene": WITHHOLDING_SCENE,
            },
            states=("USER_AGREEMENT_NOT_EXIST", "AGREEMENT_NOT_EXIST"),
        )

    def reply(self, accepted: bool) -> CallbackReply:
        """Alipay stops retrying only when it reads exactly ``success``."""
        return CallbackReply(200, b"success" if accepted else b"fail", "text/plain")


def _optional_parse(value: str | None) -> datetime | None:
    """A signed time field: absent is ``None``, malformed is an error."""
    return _parse_beijing(value) if value else None
