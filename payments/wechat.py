"""WeChat Pay API v3 (微信支付 APIv3): premiums from the mini-program, refunds, claim payouts.

What WeChat Pay requires, and why this module looks the way it does:

- Every request is signed with the merchant's API certificate key (SHA256withRSA,
  PKCS#1 v1.5) over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`` and carries it
  in ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="",signature="",
  timestamp="",serial_no=""``. The path is exactly what goes on the wire
  (``httpx.URL.raw_path``) and the body exactly the bytes sent, so what is signed is
  what WeChat receives. WeChat refuses a timestamp more than 5 minutes off.
- Every answer is signed by WeChat over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers
  ``Wechatpay-Timestamp``/``-Nonce``/``-Signature``/``-Serial``). The key is the WeChat
  Pay public key (微信支付公钥) given in settings with its id (``PUB_KEY_ID_...``):
  nothing is downloaded at start, which would fail offline and would trust whatever the
  download returned. Requests carry ``Wechatpay-Serial: <that id>`` so WeChat signs its
  answers (and expects sensitive fields encrypted) with that key. A 2xx answer that is
  unsigned, signed under another serial, stale, or whose signature fails is not
  believed: ``ProviderUnavailable`` (outcome unknown: query again later). An error
  answer that carries a signature must verify too; an unsigned one may still be an
  error (WeChat does not sign its ``401 SIGN_ERROR``), but never becomes a result such
  as "this order does not exist".
- Callbacks (``parse_notification``) are believed only when the signature verifies with
  the same key under the same serial, the timestamp is within
  ``replay_window_seconds`` of now (a captured callback cannot be replayed later), and
  the ``resource`` decrypts with AEAD_AES_256_GCM under the APIv3 key, its nonce and its
  associated data (GCM's tag also proves the plaintext was not altered). WeChat sends
  probes signed ``WECHATPAY/SIGNTEST/...`` to see that merchants check: they fail here
  like any forgery. The freshness window is not a replay *cache*: a duplicate inside
  the window (WeChat itself repeats callbacks) is verified again and must be
  idempotent in the order workflow, which also checks app id, merchant, order and amount.
- Replies to callbacks: 200 with no body when handled; otherwise 500 with
  ``{"code": "FAIL", "message": "失败"}``, and WeChat retries (15s, 15s, 30s, 3m, ...).
- Money is integer fen on the wire (``amount.total``, ``transfer_amount``) and
  ``Decimal`` yuan everywhere else; an amount with more than two places is refused here
  rather than rounded. ``time_expire`` is RFC 3339 in China time (+08:00).
- Claim payouts use merchant transfer (商家转账, ``/v3/fund-app/mch-transfer/
  transfer-bills``) in the insurance-claim scene: ``transfer_scene_id`` 1004 (保险理赔),
  ``user_recv_perception`` 保险理赔款 and three ``transfer_scene_report_infos``
  (保险产品备案编号, 保险名称, 保险操作单号: the claim's own product, from the request,
  each at most 32 characters), as WeChat's scene guide requires
  (pay.weixin.qq.com/doc/v3/merchant/4013774595). The payee's real name, when given
  (required from 2,000 yuan), is encrypted with the WeChat Pay public key (RSA-OAEP,
  SHA-1, as WeChat specifies). Usually the answer is ``WAIT_USER_CONFIRM`` with a
  ``package_info`` the mini-program passes to ``wx.requestMerchantTransfer`` with this
  merchant id and app id (``confirm_parameters``: the three together) so the customer
  confirms receipt; unconfirmed bills close after 24 hours. Queries answer no package:
  the first answer's stays in use. ``out_bill_no`` makes a retry safe: on a timeout or
  an unknown error, query, then send the *same* request again (WeChat answers with the
  same bill and package) -- never a new number unless the bill is known to have failed.

Errors (``payments.base``)::

    transport error, timeout, 5xx, 429       ProviderUnavailable  (query, then retry)
    SYSTEM_ERROR, FREQUENCY_LIMITED, BANK_ERROR  ProviderUnavailable
    answer not signed / signature fails      ProviderUnavailable  (logged as a security event)
    other 4xx {"code", "message"}            ProviderRejected(code, message); for a
                                             transfer only once a query finds no bill
    bad callback of any kind                 InvalidNotification

Keys: the merchant key, the APIv3 key and the platform key are held only as
``cryptography`` key objects (their reprs show no key material); nothing here logs a
header, a body or a key, and ``repr(provider)`` names only the merchant and app.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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

if TYPE_CHECKING:
    from payments.base import PaymentProvider

log = logging.getLogger("anxin.payments.wechat")
_State = TypeVar("_State", TradeState, RefundState, TransferState)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
USER_AGENT = "anxin-wechatpay/1.0 (httpx)"
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving since 1991
CURRENCY = "CNY"
FEN = Decimal("0.01")

# Merchant transfer in the insurance-claim scene (保险理赔); see the module docstring.
INSURANCE_CLAIM_SCENE_ID = "1004"
INSURANCE_CLAIM_PERCEPTION = "保险理赔款"
NAME_REQUIRED_FROM_FEN = 200_000  # 2,000 yuan: the payee's real name is required
REPORT_INFO_MAX = 32  # characters of each transfer_scene_report_infos content

RETRY_LATER_CODES = frozenset(
    {"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BANK_ERROR", "BANKERROR"}
)

TRADE_STATES: Mapping[str, TradeState] = {
    "SUCCESS": TradeState.PAID,
    "REFUND": TradeState.PAID,  # paid, then (partly) refunded: the premium did arrive
    "NOTPAY": TradeState.WAITING,
    "USERPAYING": TradeState.WAITING,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.CLOSED,
}
REFUND_STATES: Mapping[str, RefundState] = {
    "SUCCESS": RefundState.SUCCESS,
    "PROCESSING": RefundState.PROCESSING,
    "ABNORMAL": RefundState.FAILED,  # the card is gone: staff must refund another way
    "CLOSED": RefundState.FAILED,
}
TRANSFER_STATES: Mapping[str, TransferState] = {
    "ACCEPTED": TransferState.PROCESSING,
    "PROCESSING": TransferState.PROCESSING,
    "WAIT_USER_CONFIRM": TransferState.WAIT_USER_CONFIRM,
    "TRANSFERING": TransferState.PROCESSING,  # (sic) confirmed, result not known yet
    "CANCELING": TransferState.PROCESSING,
    "SUCCESS": TransferState.SUCCESS,
    "FAIL": TransferState.FAILED,
    "CANCELLED": TransferState.FAILED,
}

# Our numbers go into URL paths: only what WeChat allows for each.
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")


# ------------------------------------------------------------------ small pure helpers


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The merchant's ``apiclient_key.pem`` (PKCS#8 or PKCS#1). Errors never quote it."""
    try:
        key = serialization.load_pem_private_key(_pem_text(pem, "PRIVATE KEY").encode(), None)
    except (ValueError, TypeError):
        raise ValueError("the WeChat Pay merchant key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ValueError("the WeChat Pay merchant key must be an RSA key of 2048 bits or more")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The WeChat Pay public key (``pub_key.pem``), PEM or its bare base64."""
    try:
        key = serialization.load_pem_public_key(_pem_text(pem, "PUBLIC KEY").encode())
    except (ValueError, TypeError):
        raise ValueError("the WeChat Pay platform key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the WeChat Pay platform key must be an RSA key")
    return key


def _pem_text(text: str, label: str) -> str:
    text = text.replace("\\n", "\n").strip()
    if "-----BEGIN" in text:
        return text
    return f"-----BEGIN {label}-----\n{text}\n-----END {label}-----\n"


def to_fen(amount: Decimal) -> int:
    """Yuan → integer fen; more than two decimal places or a non-positive amount is refused."""
    try:
        fen = amount * 100
        exact = fen == fen.to_integral_value()
    except (InvalidOperation, TypeError, AttributeError):
        exact = False
    if not exact or not amount.is_finite() or amount <= 0:
        raise ProviderRejected("PARAM_ERROR", f"amount {amount} is not a positive yuan amount")
    return int(fen)


def to_yuan(fen: Any) -> Decimal:
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise ValueError(f"amount in fen must be a non-negative integer, not {fen!r}")
    return (Decimal(fen) / 100).quantize(FEN)


def china_time(moment: datetime) -> str:
    """RFC 3339 in China time, as ``time_expire`` wants: ``2026-11-30T18:00:00+08:00``.
    A naive datetime is taken as UTC (the database stores UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def parse_time(value: Any) -> datetime | None:
    """WeChat's RFC 3339 times (``2018-06-08T10:34:56+08:00``) → aware UTC datetimes."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _checked(number: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(number, str) or not pattern.fullmatch(number):
        raise ProviderRejected("PARAM_ERROR", f"{what} {number!r} is not allowed by WeChat Pay")
    return number


def _text(value: Any, limit: int = 200) -> str:
    return str(value if value is not None else "")[:limit]


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer from WeChat Pay: status, JSON object (empty for 204), and whether
    its signature was present and verified."""

    status: int
    body: dict[str, Any]
    signed: bool
    request_id: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return _text(self.body.get("code") or f"HTTP_{self.status}", 64)

    @property
    def message(self) -> str:
        return _text(self.body.get("message"))


class WechatPayProvider:
    """A ``PaymentProvider`` for one WeChat Pay merchant and one mini-program app id."""

    name = "wechat"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        app_id: str,
        merchant_id: str,
        merchant_serial_no: str,
        merchant_private_key_pem: str,
        apiv3_key: str,
        platform_public_key_pem: str,
        platform_serial_no: str,
        transfer_scene_id: str = INSURANCE_CLAIM_SCENE_ID,
        scene_report_infos: Callable[[TransferRequest], Sequence[tuple[str, str]]] | None = None,
        user_recv_perception: str | None = INSURANCE_CLAIM_PERCEPTION,
        clock: Callable[[], float] = time.time,
        replay_window_seconds: int = 300,
        timeout_seconds: float = 10.0,
    ) -> None:
        for label, value in [
            ("app_id", app_id),
            ("merchant_id", merchant_id),
            ("merchant_serial_no", merchant_serial_no),
            ("platform_serial_no", platform_serial_no),
            ("transfer_scene_id", transfer_scene_id),
        ]:
            if not value:
                raise ValueError(f"WeChat Pay needs {label}")
        key = apiv3_key.encode() if isinstance(apiv3_key, str) else b""
        if len(key) != 32:
            raise ValueError("the WeChat Pay APIv3 key must be 32 ASCII characters")
        if scene_report_infos is None and transfer_scene_id != INSURANCE_CLAIM_SCENE_ID:
            raise ValueError(f"transfer scene {transfer_scene_id} needs scene_report_infos")
        self._client = client
        self._base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.merchant_id = merchant_id
        self._merchant_serial_no = merchant_serial_no
        self._merchant_key = load_private_key(merchant_private_key_pem)
        self._aead = AESGCM(key)
        self._platform_key = load_public_key(platform_public_key_pem)
        self._platform_serial_no = platform_serial_no
        self._scene_id = transfer_scene_id
        self._scene_report_infos = scene_report_infos or self._insurance_report_infos
        self._perception = user_recv_perception
        self._clock = clock
        self._window = replay_window_seconds
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        return f"WechatPayProvider(merchant_id={self.merchant_id!r}, app_id={self.app_id!r})"

    # ------------------------------------------------------------ premiums

    async def checkout(self, request: PayRequest) -> Checkout:
        """A JSAPI order, then the signed ``wx.requestPayment`` parameters for it."""
        if request.method is not PaymentMethod.WECHAT_JSAPI:
            raise ProviderRejected("UNSUPPORTED_METHOD", f"WeChat Pay cannot do {request.method}")
        if not request.payer_id:
            raise ProviderRejected("PARAM_ERROR", "a JSAPI order needs the payer's openid")
        number = _checked(request.order_number, OUT_TRADE_NO, "out_trade_no")
        payload: dict[str, Any] = {
            "appid": self.app_id,
            "mchid": self.merchant_id,
            "description": request.subject,
            "out_trade_no": number,
            "time_expire": china_time(request.expires_at),
            "notify_url": request.notify_url,
            "amount": {"total": to_fen(request.amount), "currency": CURRENCY},
            "payer": {"openid": request.payer_id},
        }
        if request.client_ip:
            payload["scene_info"] = {"payer_client_ip": request.client_ip}
        answer = await self._call("POST", "/v3/pay/transactions/jsapi", "jsapi order", payload)
        self._expect_ok(answer, "jsapi order")
        prepay_id = answer.body.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ProviderUnavailable("wechat pay jsapi order: no prepay_id in the answer")
        log.info("wechat pay order %s created", number)
        return Checkout(PaymentMethod.WECHAT_JSAPI, self.request_payment_params(prepay_id))

    def request_payment_params(self, prepay_id: str) -> dict[str, str]:
        """What ``wx.requestPayment`` takes: paySign over appId, timeStamp, nonceStr, package."""
        timestamp, nonce, package = str(int(self._clock())), new_nonce(), f"prepay_id={prepay_id}"
        pay_sign = self._sign(f"{self.app_id}\n{timestamp}\n{nonce}\n{package}\n".encode())
        return {
            "appId": self.app_id,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    async def query(self, order_number: str) -> TradeStatus:
        number = _checked(order_number, OUT_TRADE_NO, "out_trade_no")
        path = f"/v3/pay/transactions/out-trade-no/{quote(number, safe='')}"
        answer = await self._call("GET", path, "order query", query={"mchid": self.merchant_id})
        if answer.status == 404 and answer.code == "ORDER_NOT_EXIST":
            self._expect_signed(answer, "order query")
            return TradeStatus(number, TradeState.NOT_FOUND)
        self._expect_ok(answer, "order query")
        body = answer.body
        self._expect_same(body, "out_trade_no", number, "order query")
        self._expect_same(body, "mchid", self.merchant_id, "order query")
        state = self._mapped(TRADE_STATES, body.get("trade_state"), "order query")
        amount = body.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        return TradeStatus(
            order_number=number,
            state=state,
            amount=to_yuan(total) if type(total) is int and total >= 0 else None,
            provider_trade_no=_text(body.get("transaction_id"), 64) or None,
            paid_at=parse_time(body.get("success_time")) if state is TradeState.PAID else None,
        )

    async def close(self, order_number: str) -> None:
        number = _checked(order_number, OUT_TRADE_NO, "out_trade_no")
        path = f"/v3/pay/transactions/out-trade-no/{quote(number, safe='')}/close"
        answer = await self._call("POST", path, "order close", {"mchid": self.merchant_id})
        self._expect_ok(answer, "order close")
        log.info("wechat pay order %s closed", number)

    # ------------------------------------------------------------ refunds

    async def refund(self, request: RefundRequest) -> RefundResult:
        order = _checked(request.order_number, OUT_TRADE_NO, "out_trade_no")
        number = _checked(request.refund_number, OUT_REFUND_NO, "out_refund_no")
        payload = {
            "out_trade_no": order,
            "out_refund_no": number,
            "reason": request.reason,
            "notify_url": request.notify_url,
            "amount": {
                "refund": to_fen(request.amount),
                "total": to_fen(request.total),
                "currency": CURRENCY,
            },
        }
        answer = await self._call("POST", "/v3/refund/domestic/refunds", "refund", payload)
        self._expect_ok(answer, "refund")
        result = self._refund_result(answer.body, number, order, "refund")
        log.info("wechat pay refund %s of order %s: %s", number, order, result.state)
        return result

    async def query_refund(self, order_number: str, refund_number: str) -> RefundResult:
        order = _checked(order_number, OUT_TRADE_NO, "out_trade_no")
        number = _checked(refund_number, OUT_REFUND_NO, "out_refund_no")
        path = f"/v3/refund/domestic/refunds/{quote(number, safe='')}"
        answer = await self._call("GET", path, "refund query")
        self._expect_ok(answer, "refund query")
        return self._refund_result(answer.body, number, order, "refund query")

    def _refund_result(
        self, body: Mapping[str, Any], number: str, order: str, operation: str
    ) -> RefundResult:
        self._expect_same(body, "out_refund_no", number, operation)
        if body.get("out_trade_no") != order:
            raise ProviderRejected(
                "ORDER_MISMATCH", f"refund {number} does not belong to order {order}"
            )
        return RefundResult(
            refund_number=number,
            state=self._mapped(REFUND_STATES, body.get("status"), operation),
            provider_refund_id=_text(body.get("refund_id"), 64) or None,
        )

    # ------------------------------------------------------------ claim payouts

    async def transfer(self, request: TransferRequest) -> TransferResult:
        """One merchant-transfer bill. Sending the same request again (same
        ``transfer_number``) never pays twice: WeChat answers with the same bill.

        ``ProviderRejected`` means no bill exists under the number (a refusal is checked
        with a query first), so a new number is then safe; if a bill does exist (e.g.
        ``INVALID_REQUEST`` "单号已存在但信息不一致"), its state is returned instead."""
        number = _checked(request.transfer_number, OUT_BILL_NO, "out_bill_no")
        fen = to_fen(request.amount)
        if fen >= NAME_REQUIRED_FROM_FEN and not request.payee_name:
            raise ProviderRejected(
                "PARAM_ERROR", "a transfer of 2,000 yuan or more needs the payee's real name"
            )
        infos = list(self._scene_report_infos(request))
        for info_type, content in infos:
            if not content or len(content) > REPORT_INFO_MAX:
                raise ProviderRejected(
                    "PARAM_ERROR", f"{info_type} must be 1 to {REPORT_INFO_MAX} characters"
                )
        payload: dict[str, Any] = {
            "appid": self.app_id,
            "out_bill_no": number,
            "transfer_scene_id": self._scene_id,
            "openid": request.payee_id,
            "transfer_amount": fen,
            "transfer_remark": request.remark,
            "notify_url": request.notify_url,
            "transfer_scene_report_infos": [
                {"info_type": info_type, "info_content": content} for info_type, content in infos
            ],
        }
        if request.payee_name:
            payload["user_name"] = self.encrypt(request.payee_name)
        if self._perception:
            payload["user_recv_perception"] = self._perception
        path = "/v3/fund-app/mch-transfer/transfer-bills"
        answer = await self._call("POST", path, "transfer", payload)
        try:
            self._expect_ok(answer, "transfer")
        except ProviderRejected as rejected:
            # WeChat: after a refusal, never renumber before a query shows no bill exists.
            known = await self.query_transfer(number)
            if known.state is TransferState.NOT_FOUND:
                raise
            log.error(
                "wechat pay transfer %s refused (%s) but the bill exists: reporting its state",
                number,
                rejected.code,
            )
            return known
        result = self._transfer_result(answer.body, number, "transfer")
        log.info("wechat pay transfer %s: %s", number, result.state)
        return result

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        number = _checked(transfer_number, OUT_BILL_NO, "out_bill_no")
        path = f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{quote(number, safe='')}"
        answer = await self._call("GET", path, "transfer query")
        if answer.status == 404 and answer.code == "NOT_FOUND":
            self._expect_signed(answer, "transfer query")
            return TransferResult(number, TransferState.NOT_FOUND)
        self._expect_ok(answer, "transfer query")
        return self._transfer_result(answer.body, number, "transfer query")

    def _transfer_result(
        self, body: Mapping[str, Any], number: str, operation: str
    ) -> TransferResult:
        self._expect_same(body, "out_bill_no", number, operation)
        state = self._mapped(TRANSFER_STATES, body.get("state"), operation)
        package = body.get("package_info")
        final = state in (TransferState.SUCCESS, TransferState.FAILED)
        waiting = isinstance(package, str) and bool(package) and not final
        if not waiting:
            package = None
        return TransferResult(
            transfer_number=number,
            state=state,
            provider_transfer_id=_text(body.get("transfer_bill_no"), 64) or None,
            confirm_package=package,
            confirm_parameters=self.confirm_parameters(package) if package else None,
            failure_reason=_text(body.get("fail_reason"), 64) or None,
        )

    def confirm_parameters(self, package: str) -> dict[str, str]:
        """What ``wx.requestMerchantTransfer`` takes for a bill waiting for its payee, in
        normal (not service-provider) mode: this merchant, the app id the bill was made
        under (the payee's openid is of that app) and the bill's ``package_info``."""
        return {"mchId": self.merchant_id, "appId": self.app_id, "package": package}

    @staticmethod
    def _insurance_report_infos(request: TransferRequest) -> list[tuple[str, str]]:
        """The insurance-claim scene's report: the product the claim is paid under, as
        filed (each claim's own product, never one value for all), and our number."""
        return [
            ("保险产品备案编号", request.product_filing_no or ""),
            ("保险名称", request.product_name or ""),
            ("保险操作单号", request.transfer_number),
        ]

    def encrypt(self, text: str) -> str:
        """A sensitive field for WeChat (e.g. ``user_name``): RSA-OAEP (SHA-1, as WeChat
        specifies) with the WeChat Pay public key; requests carry its id in
        ``Wechatpay-Serial``."""
        sha1 = hashes.SHA1()  # noqa: S303 -- OAEP's hash, WeChat's choice; not a signature
        oaep = padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None)
        ciphertext = self._platform_key.encrypt(text.encode(), oaep)
        return base64.b64encode(ciphertext).decode()

    # ------------------------------------------------------------ callbacks

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        try:
            return self._parse_notification(headers, body, now)
        except InvalidNotification as exc:
            log.warning("wechat pay notification refused: %s", exc)
            raise

    def _parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        lower = {key.lower(): value for key, value in headers.items()}
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        problem = self._signature_problem(lower, body, now.timestamp())
        if problem:
            raise InvalidNotification(problem)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise InvalidNotification("body is not JSON") from None
        if not isinstance(envelope, dict):
            raise InvalidNotification("body is not a JSON object")
        if envelope.get("resource_type") != "encrypt-resource":
            raise InvalidNotification("resource_type is not encrypt-resource")
        resource = self._decrypt_resource(envelope.get("resource"))
        event_type = _text(envelope.get("event_type"), 64)
        try:
            if event_type == "TRANSACTION.SUCCESS":
                return self._payment_notification(resource)
            if event_type.startswith("REFUND."):
                return self._refund_notification(resource, envelope)
            if event_type == "MCHTRANSFER.BILL.FINISHED":
                return self._transfer_notification(resource)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidNotification(f"{event_type}: malformed resource ({exc})") from None
        raise InvalidNotification(f"event type {event_type!r} is not handled")

    def _decrypt_resource(self, resource: Any) -> dict[str, Any]:
        if not isinstance(resource, dict):
            raise InvalidNotification("no resource")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise InvalidNotification("resource algorithm is not AEAD_AES_256_GCM")
        nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
        associated = resource.get("associated_data") or ""
        if not (isinstance(nonce, str) and nonce and isinstance(ciphertext, str)):
            raise InvalidNotification("resource without nonce or ciphertext")
        if not isinstance(associated, str):
            raise InvalidNotification("resource associated_data is not a string")
        try:
            plain = self._aead.decrypt(
                nonce.encode(), base64.b64decode(ciphertext, validate=True), associated.encode()
            )
            decoded = json.loads(plain)
        except (InvalidTag, binascii.Error, ValueError):
            raise InvalidNotification("resource does not decrypt with the APIv3 key") from None
        if not isinstance(decoded, dict):
            raise InvalidNotification("decrypted resource is not a JSON object")
        return decoded

    def _payment_notification(self, resource: dict[str, Any]) -> PaymentNotification:
        if resource.get("trade_state") != "SUCCESS":
            raise InvalidNotification("TRANSACTION.SUCCESS without trade_state SUCCESS")
        amount = resource["amount"]
        if amount.get("currency", CURRENCY) != CURRENCY:
            raise InvalidNotification(f"currency {amount.get('currency')!r} is not CNY")
        return PaymentNotification(
            kind="payment",
            order_number=str(resource["out_trade_no"]),
            state=TradeState.PAID.value,
            amount=to_yuan(amount["total"]),
            provider_trade_no=str(resource["transaction_id"]),
            app_id=str(resource["appid"]),
            merchant_id=str(resource["mchid"]),
            occurred_at=parse_time(resource.get("success_time")),
            raw=resource,
        )

    def _refund_notification(
        self, resource: dict[str, Any], envelope: Mapping[str, Any]
    ) -> PaymentNotification:
        state = REFUND_STATES.get(_text(resource.get("refund_status"), 32))
        if state is None:
            raise InvalidNotification(
                f"refund_status {resource.get('refund_status')!r} is not known"
            )
        return PaymentNotification(
            kind="refund",
            order_number=str(resource["out_trade_no"]),
            state=state.value,
            amount=to_yuan(resource["amount"]["refund"]),
            provider_trade_no=str(resource["refund_id"]),
            app_id="",  # WeChat's refund notification names no app id
            merchant_id=str(resource["mchid"]),
            occurred_at=parse_time(resource.get("success_time"))
            or parse_time(envelope.get("create_time")),
            refund_number=str(resource["out_refund_no"]),
            raw=resource,
        )

    def _transfer_notification(self, resource: dict[str, Any]) -> PaymentNotification:
        state = TRANSFER_STATES.get(_text(resource.get("state"), 32))
        if state is None:
            raise InvalidNotification(f"transfer state {resource.get('state')!r} is not known")
        return PaymentNotification(
            kind="transfer",
            order_number=str(resource["out_bill_no"]),
            state=state.value,
            amount=to_yuan(resource["transfer_amount"]),
            provider_trade_no=str(resource["transfer_bill_no"]),
            app_id="",  # nor does the transfer notification: the openid stands for it
            merchant_id=str(resource.get("mch_id") or resource["mchid"]),
            occurred_at=parse_time(resource.get("update_time")),
            payee_id=str(resource["openid"]),
            failure_reason=_text(resource.get("fail_reason"), 64) or None,
            raw=resource,
        )

    def reply(self, accepted: bool) -> CallbackReply:
        if accepted:
            return CallbackReply(200, b"", "text/plain; charset=utf-8")
        body = json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False).encode()
        return CallbackReply(500, body, "application/json; charset=utf-8")

    # ------------------------------------------------------------ signatures

    def _sign(self, message: bytes) -> str:
        signature = self._merchant_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode()

    def authorization(self, method: str, target: str, body: bytes) -> str:
        """The ``Authorization`` header for one request; ``target`` is path plus query."""
        timestamp, nonce = str(int(self._clock())), new_nonce()
        message = f"{method}\n{target}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"
        return (
            f'{SIGNATURE_TYPE} mchid="{self.merchant_id}",nonce_str="{nonce}",'
            f'signature="{self._sign(message)}",timestamp="{timestamp}",'
            f'serial_no="{self._merchant_serial_no}"'
        )

    def _signature_problem(self, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
        """Why a WeChat signature (answer or callback) is not to be believed, or None.
        ``headers`` have lower-case names."""
        signature = headers.get("wechatpay-signature", "")
        timestamp = headers.get("wechatpay-timestamp", "")
        nonce = headers.get("wechatpay-nonce", "")
        serial = headers.get("wechatpay-serial", "")
        if not (signature and timestamp and nonce and serial):
            return "Wechatpay-Signature/-Timestamp/-Nonce/-Serial missing"
        if headers.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
            return "Wechatpay-Signature-Type is not WECHATPAY2-SHA256-RSA2048"
        if serial != self._platform_serial_no:
            return f"signed under serial {serial[:64]!r}, not the configured WeChat Pay key"
        if not timestamp.isdigit():
            return "Wechatpay-Timestamp is not a number"
        if abs(now - int(timestamp)) > self._window:
            return f"Wechatpay-Timestamp is {int(now) - int(timestamp)} s off: stale or replayed"
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
            self._platform_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (binascii.Error, ValueError, InvalidSignature):
            return "Wechatpay-Signature does not verify with the WeChat Pay key"
        return None

    # ------------------------------------------------------------ HTTP

    async def _call(
        self,
        method: str,
        path: str,
        operation: str,
        payload: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
    ) -> _Answer:
        url = httpx.URL(self._base_url + path, params=query)
        body = b"" if payload is None else json_bytes(payload)
        headers = {
            "Authorization": self.authorization(method, url.raw_path.decode("ascii"), body),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Wechatpay-Serial": self._platform_serial_no,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, url, content=body or None, headers=headers, timeout=self._timeout
            )
            raw = response.content
        except httpx.TimeoutException:
            log.warning("wechat pay %s: timed out", operation)
            raise ProviderUnavailable(f"wechat pay {operation}: timed out") from None
        except httpx.HTTPError as exc:
            log.warning("wechat pay %s: unreachable (%s)", operation, type(exc).__name__)
            raise ProviderUnavailable(
                f"wechat pay {operation}: unreachable ({type(exc).__name__})"
            ) from None
        return self._answer(response, raw, operation)

    def _answer(self, response: httpx.Response, raw: bytes, operation: str) -> _Answer:
        request_id = _text(response.headers.get("request-id"), 64)
        lower = {key.lower(): value for key, value in response.headers.items()}
        signed = "wechatpay-signature" in lower
        if signed:
            problem = self._signature_problem(lower, raw, self._clock())
            if problem:
                log.error(
                    "wechat pay %s: answer refused, %s (HTTP %s, request id %s)",
                    operation,
                    problem,
                    response.status_code,
                    request_id,
                )
                raise ProviderUnavailable(f"wechat pay {operation}: {problem}")
        body: Any = {}
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                if 200 <= response.status_code < 300:
                    raise ProviderUnavailable(f"wechat pay {operation}: answer is not JSON")
                body = {}
        return _Answer(response.status_code, body, signed, request_id)

    def _expect_signed(self, answer: _Answer, operation: str) -> None:
        if not answer.signed:
            log.error(
                "wechat pay %s: unsigned answer (HTTP %s, request id %s)",
                operation,
                answer.status,
                answer.request_id,
            )
            raise ProviderUnavailable(f"wechat pay {operation}: the answer is not signed")

    def _expect_ok(self, answer: _Answer, operation: str) -> None:
        """Return for a signed 2xx; raise the error the answer means otherwise."""
        if answer.ok:
            self._expect_signed(answer, operation)
            return
        text = f"wechat pay {operation}: HTTP {answer.status} {answer.code}: {answer.message}"
        if answer.status >= 500 or answer.status == 429 or answer.code in RETRY_LATER_CODES:
            log.warning("%s (request id %s)", text, answer.request_id)
            raise ProviderUnavailable(text)
        log.warning("%s (request id %s)", text, answer.request_id)
        raise ProviderRejected(answer.code, answer.message)

    def _expect_same(
        self, body: Mapping[str, Any], field: str, expected: str, operation: str
    ) -> None:
        if body.get(field) != expected:
            raise ProviderUnavailable(
                f"wechat pay {operation}: answer is about {field} {_text(body.get(field), 64)!r}"
            )

    def _mapped(self, states: Mapping[str, _State], value: Any, operation: str) -> _State:
        state = states.get(value) if isinstance(value, str) else None
        if state is None:
            raise ProviderUnavailable(f"wechat pay {operation}: unknown state {_text(value, 32)!r}")
        return state


if TYPE_CHECKING:

    def _is_a_payment_provider(provider: WechatPayProvider) -> PaymentProvider:
        return provider
