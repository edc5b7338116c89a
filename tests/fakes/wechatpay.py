"""A fake WeChat Pay API v3 that judges requests as WeChat does; Starlette under uvicorn
on 127.0.0.1. Its crypto is written here from WeChat's documents, independently of
``payments.wechat`` (and the tests check it against the ``wechatpayv3`` SDK too).

Requests: ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,
timestamp=..,serial_no=..`` must name this merchant and its certificate serial, be at most
5 minutes off the fake's clock, use a nonce not seen before, and verify (SHA256withRSA,
PKCS#1 v1.5) with the merchant's public key over ``METHOD\\nPATH?QUERY\\nTS\\nNONCE\\nBODY\\n``
as received on the wire; otherwise ``401 SIGN_ERROR``. A ``Wechatpay-Serial`` request
header must be the platform key's id. Refusals are ``{"code", "message"}``.

Answers are signed with the platform (WeChat Pay public-key) private key over
``TS\\nNONCE\\nBODY\\n`` with ``Wechatpay-Timestamp/-Nonce/-Signature/-Serial/
-Signature-Type`` and a ``Request-ID``, errors included (401 excepted, as at WeChat).

Endpoints: JSAPI order, query and close by ``out_trade_no``; domestic refund and its
query; merchant transfer bill and its query by ``out_bill_no``. Orders, refunds and
transfers are kept; the test moves them on with ``pay``, ``set_trade_state``,
``settle_refund``, ``confirm_transfer``, ``finish_transfer``, and plays the payee's
``wx.requestMerchantTransfer`` with ``request_merchant_transfer``.

Switches: ``fail_next(status, code, message)`` (SYSTEM_ERROR, FREQUENCY_LIMITED 429,
PARAM_ERROR, NOT_ENOUGH, ...), ``sabotage_next(kind)`` for one answer (``tamper``:
bytes changed after signing; ``unsigned``; ``wrong_key``; ``wrong_serial``; ``stale``),
``delay_seconds`` (timeouts), ``transfer_first_state`` (``WAIT_USER_CONFIRM`` by
default, as in WeChat's user-confirm mode), ``balance_fen`` (NOT_ENOUGH beyond it).

Callbacks: ``payment_notification``/``refund_notification``/``transfer_notification``
build what WeChat POSTs to ``notify_url``: the resource encrypted with AES-256-GCM under
the APIv3 key, the body signed like an answer; every part can be overridden to forge one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

SCHEME = "WECHATPAY2-SHA256-RSA2048"
CHINA = timezone(timedelta(hours=8))
CLOCK_SKEW_SECONDS = 300
INSURANCE_SCENE = "1004"
INSURANCE_REPORT_TYPES = ("保险产品备案编号", "保险名称", "保险操作单号")
INSURANCE_PERCEPTIONS = frozenset({"保险理赔款"})
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
OUT_BILL_NO = re.compile(r"[0-9A-Za-z]{1,32}")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d")
AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
SABOTAGE = frozenset({"tamper", "unsigned", "wrong_key", "wrong_serial", "stale"})


class WechatPayError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message


class MerchantTransferRefused(Exception):
    """What ``wx.requestMerchantTransfer``'s ``fail`` callback would get (``errMsg``)."""


@dataclass(frozen=True)
class SeenRequest:
    """A request as it arrived (for the tests' own checks, e.g. with the SDK)."""

    method: str
    target: str  # raw path + query, as signed
    headers: dict[str, str]  # lower-case names
    body: bytes
    refused: str | None = None  # why the signature check refused it, if it did


@dataclass
class FakeOrder:
    request: dict[str, Any]
    prepay_id: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None
    refunded_fen: int = 0


@dataclass
class FakeRefund:
    request: dict[str, Any]
    refund_id: str
    transaction_id: str
    create_time: str
    status: str = "PROCESSING"
    success_time: str | None = None


@dataclass
class FakeTransfer:
    request: dict[str, Any]  # as sent, user_name still encrypted
    user_name: str | None  # decrypted with the platform private key
    transfer_bill_no: str
    create_time: str
    state: str
    package_info: str
    update_time: str
    fail_reason: str | None = None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return b64(key.sign(message, padding.PKCS1v15(), hashes.SHA256()))


def aes_gcm_encrypt(key: str, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """WeChat's resource encryption: AEAD_AES_256_GCM, ciphertext||tag in base64."""
    return b64(AESGCM(key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode()))


def parse_authorization(value: str) -> dict[str, str]:
    scheme, _, params = value.partition(" ")
    if scheme != SCHEME:
        raise WechatPayError(401, "SIGN_ERROR", "签名类型不支持")
    return dict(AUTH_PARAM.findall(params))


@dataclass
class FakeWechatPay:
    """One merchant with one mini-program app id, its API certificate and WeChat Pay key."""

    app_id: str
    merchant_id: str
    merchant_serial_no: str
    merchant_public_key: rsa.RSAPublicKey
    platform_key: rsa.RSAPrivateKey
    platform_serial_no: str
    apiv3_key: str
    clock: Callable[[], float] = time.time
    transfer_scene_id: str = INSURANCE_SCENE
    transfer_first_state: str = "WAIT_USER_CONFIRM"
    balance_fen: int = 10**10
    delay_seconds: float = 0.0
    url: str = ""
    requests: list[SeenRequest] = field(default_factory=list)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    refunds: dict[str, FakeRefund] = field(default_factory=dict)
    transfers: dict[str, FakeTransfer] = field(default_factory=dict)
    _queued: list[WechatPayError] = field(default_factory=list)
    _sabotage: list[tuple[str, tuple[bytes, bytes] | None]] = field(default_factory=list)
    _nonces: set[str] = field(default_factory=set)
    _intruder: rsa.RSAPrivateKey | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/v3/pay/transactions/jsapi", self._route(self._jsapi), methods=["POST"]),
                Route(
                    "/v3/pay/transactions/out-trade-no/{n}",
                    self._route(self._query),
                    methods=["GET"],
                ),
                Route(
                    "/v3/pay/transactions/out-trade-no/{n}/close",
                    self._route(self._close),
                    methods=["POST"],
                ),
                Route("/v3/refund/domestic/refunds", self._route(self._refund), methods=["POST"]),
                Route(
                    "/v3/refund/domestic/refunds/{n}",
                    self._route(self._query_refund),
                    methods=["GET"],
                ),
                Route(
                    "/v3/fund-app/mch-transfer/transfer-bills",
                    self._route(self._transfer),
                    methods=["POST"],
                ),
                Route(
                    "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{n}",
                    self._route(self._query_transfer),
                    methods=["GET"],
                ),
            ]
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeWechatPay]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    # ------------------------------------------------------------------ switches

    def fail_next(self, status: int, code: str, message: str = "系统错误") -> None:
        self._queued.append(WechatPayError(status, code, message))

    def sabotage_next(self, kind: str, replace: tuple[bytes, bytes] | None = None) -> None:
        """Spoil the next answer: ``tamper`` replaces ``replace[0]`` by ``replace[1]`` in
        the body after signing (or alters one byte)."""
        if kind not in SABOTAGE:
            raise ValueError(kind)
        self._sabotage.append((kind, replace))

    def pay(self, out_trade_no: str) -> FakeOrder:
        """The customer pays in WeChat."""
        order = self.orders[out_trade_no]
        order.state = "SUCCESS"
        order.transaction_id = "4200" + secrets.token_hex(12)[:24]
        order.success_time = self.now_text()
        return order

    def set_trade_state(self, out_trade_no: str, state: str) -> None:
        self.orders[out_trade_no].state = state

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> FakeRefund:
        refund = self.refunds[out_refund_no]
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = self.now_text()
        return refund

    def confirm_transfer(self, out_bill_no: str) -> FakeTransfer:
        """The payee confirms receipt in WeChat; the money moves."""
        return self.finish_transfer(out_bill_no, "SUCCESS")

    def request_merchant_transfer(self, params: Mapping[str, Any], openid: str) -> FakeTransfer:
        """The payee's mini-program calls ``wx.requestMerchantTransfer(params)`` while the
        WeChat user ``openid`` is in it, and confirms: judged as WeChat documents it for a
        normal (not service-provider) merchant: ``mchId``, ``appId`` and ``package``
        required (``openId`` optional), the merchant and app id those the bill was made
        with, the package a waiting bill's, and the user the bill's payee. Then the money
        moves (SUCCESS). Refusals raise ``MerchantTransferRefused`` with WeChat's text."""
        unknown = set(params) - {"mchId", "appId", "package", "openId", "subMchId", "subAppId"}
        if unknown:
            raise MerchantTransferRefused(
                f"requestMerchantTransfer:fail 未知参数 {sorted(unknown)}"
            )
        for name in ("mchId", "appId", "package"):
            if not isinstance(params.get(name), str) or not params[name]:
                raise MerchantTransferRefused(f"requestMerchantTransfer:fail 缺少参数 {name}")
        if params["mchId"] != self.merchant_id:
            raise MerchantTransferRefused("requestMerchantTransfer:fail 商户号有误")
        bill = next(
            (t for t in self.transfers.values() if t.package_info == params["package"]), None
        )
        if bill is None or bill.state != "WAIT_USER_CONFIRM":
            raise MerchantTransferRefused("requestMerchantTransfer:fail package_info信息有误")
        if params["appId"] != bill.request["appid"]:
            raise MerchantTransferRefused("requestMerchantTransfer:fail appId与转账单不一致")
        if openid != bill.request["openid"] or params.get("openId", openid) != openid:
            raise MerchantTransferRefused(
                "requestMerchantTransfer:fail 你的微信号与商家指定的微信号不一致"
            )
        return self.confirm_transfer(bill.request["out_bill_no"])

    def finish_transfer(
        self, out_bill_no: str, state: str, fail_reason: str | None = None
    ) -> FakeTransfer:
        transfer = self.transfers[out_bill_no]
        transfer.state = state
        transfer.fail_reason = fail_reason
        transfer.update_time = self.now_text()
        return transfer

    def now_text(self) -> str:
        return datetime.fromtimestamp(int(self.clock()), CHINA).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ callbacks

    def notification(
        self,
        event_type: str,
        summary: str,
        resource: Mapping[str, Any],
        *,
        original_type: str,
        associated_data: str,
        apiv3_key: str | None = None,
        resource_nonce: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        serial: str | None = None,
        signing_key: rsa.RSAPrivateKey | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """What WeChat POSTs to ``notify_url``: (headers, body). Overrides forge one."""
        resource_nonce = resource_nonce or secrets.token_hex(6)  # 12 characters, as WeChat
        plaintext = json.dumps(resource, ensure_ascii=False).encode()
        envelope = {
            "id": str(uuid.uuid4()),
            "create_time": self.now_text(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": aes_gcm_encrypt(
                    apiv3_key or self.apiv3_key, resource_nonce, associated_data, plaintext
                ),
                "associated_data": associated_data,
                "nonce": resource_nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        return self.signed_headers(
            body, timestamp=timestamp, nonce=nonce, serial=serial, key=signing_key
        ), body

    def signed_headers(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        serial: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
    ) -> dict[str, str]:
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        signature = rsa_sign(
            key or self.platform_key, f"{stamp}\n{nonce}\n".encode() + body + b"\n"
        )
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or self.platform_serial_no,
            "Wechatpay-Signature-Type": SCHEME,
            "Content-Type": "application/json",
        }

    def payment_resource(self, out_trade_no: str) -> dict[str, Any]:
        order = self.orders[out_trade_no]
        return {
            "appid": self.app_id,
            "mchid": self.merchant_id,
            "out_trade_no": out_trade_no,
            "transaction_id": order.transaction_id,
            "trade_type": "JSAPI",
            "trade_state": order.state,
            "trade_state_desc": "支付成功" if order.state == "SUCCESS" else "未支付",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": order.success_time,
            "payer": {"openid": order.request["payer"]["openid"]},
            "amount": {
                "total": order.request["amount"]["total"],
                "payer_total": order.request["amount"]["total"],
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }

    def payment_notification(
        self, out_trade_no: str, **overrides: Any
    ) -> tuple[dict[str, str], bytes]:
        resource = overrides.pop("resource", None) or self.payment_resource(out_trade_no)
        return self.notification(
            "TRANSACTION.SUCCESS",
            "支付成功",
            resource,
            original_type="transaction",
            associated_data="transaction",
            **overrides,
        )

    def refund_resource(self, out_refund_no: str) -> dict[str, Any]:
        refund = self.refunds[out_refund_no]
        amount = refund.request["amount"]
        resource: dict[str, Any] = {
            "mchid": self.merchant_id,
            "out_trade_no": refund.request["out_trade_no"],
            "transaction_id": refund.transaction_id,
            "out_refund_no": out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": amount["total"],
                "refund": amount["refund"],
                "payer_total": amount["total"],
                "payer_refund": amount["refund"],
            },
        }
        if refund.success_time:
            resource["success_time"] = refund.success_time
        return resource

    def refund_notification(
        self, out_refund_no: str, **overrides: Any
    ) -> tuple[dict[str, str], bytes]:
        status = self.refunds[out_refund_no].status
        return self.notification(
            f"REFUND.{status}",
            "退款成功" if status == "SUCCESS" else "退款异常",
            self.refund_resource(out_refund_no),
            original_type="refund",
            associated_data="refund",
            **overrides,
        )

    def transfer_resource(self, out_bill_no: str) -> dict[str, Any]:
        transfer = self.transfers[out_bill_no]
        resource: dict[str, Any] = {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer.transfer_bill_no,
            "state": transfer.state,
            "mch_id": self.merchant_id,
            "transfer_amount": transfer.request["transfer_amount"],
            "openid": transfer.request["openid"],
            "create_time": transfer.create_time,
            "update_time": transfer.update_time,
        }
        if transfer.fail_reason:
            resource["fail_reason"] = transfer.fail_reason
        return resource

    def transfer_notification(
        self, out_bill_no: str, **overrides: Any
    ) -> tuple[dict[str, str], bytes]:
        resource = overrides.pop("resource", None) or self.transfer_resource(out_bill_no)
        return self.notification(
            "MCHTRANSFER.BILL.FINISHED",
            "商家转账单据终态通知",
            resource,
            original_type="mch_payment",
            associated_data="mch_payment",
            **overrides,
        )

    # ------------------------------------------------------------------ the judge

    def _route(
        self, handler: Callable[[Request, Any], tuple[int, dict[str, Any] | None]]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            target = request.scope["raw_path"].decode()
            if request.scope.get("query_string"):
                target += "?" + request.scope["query_string"].decode()
            headers = {k.lower(): v for k, v in request.headers.items()}
            refused = self._authentication_problem(request.method, target, headers, raw)
            self.requests.append(SeenRequest(request.method, target, headers, raw, refused))
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            try:
                if refused:
                    raise WechatPayError(401, "SIGN_ERROR", refused)
                self._check_headers(request.method, headers)
                if self._queued:
                    raise self._queued.pop(0)
                payload: Any = None
                if raw:
                    try:
                        payload = json.loads(raw)
                    except ValueError:
                        raise WechatPayError(400, "PARAM_ERROR", "请求体不是JSON") from None
                status, answer = handler(request, payload)
            except WechatPayError as error:
                body = {"code": error.code, "message": error.message}
                return self._respond(error.status, body, sign=error.status != 401)
            return self._respond(status, answer)

        return endpoint

    def _authentication_problem(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        try:
            params = parse_authorization(headers.get("authorization", ""))
        except WechatPayError as error:
            return error.message
        for name in ("mchid", "nonce_str", "signature", "timestamp", "serial_no"):
            if not params.get(name):
                return f"Authorization 缺少 {name}"
        if params["mchid"] != self.merchant_id:
            return "mchid 与签名不匹配"
        if params["serial_no"] != self.merchant_serial_no:
            return "商户证书序列号有误"
        if not params["timestamp"].isdigit():
            return "时间戳格式错误"
        if abs(self.clock() - int(params["timestamp"])) > CLOCK_SKEW_SECONDS:
            return "请求时间戳已过期"
        if params["nonce_str"] in self._nonces:
            return "随机串已使用"
        message = (
            f"{method}\n{target}\n{params['timestamp']}\n{params['nonce_str']}\n".encode()
            + body
            + b"\n"
        )
        try:
            self.merchant_public_key.verify(
                base64.b64decode(params["signature"], validate=True),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "签名错误"
        self._nonces.add(params["nonce_str"])
        return None

    def _check_headers(self, method: str, headers: Mapping[str, str]) -> None:
        if not headers.get("user-agent"):
            raise WechatPayError(400, "PARAM_ERROR", "缺少 User-Agent")
        if "application/json" not in headers.get("accept", ""):
            raise WechatPayError(400, "PARAM_ERROR", "Accept 应为 application/json")
        if method == "POST" and "application/json" not in headers.get("content-type", ""):
            raise WechatPayError(400, "PARAM_ERROR", "Content-Type 应为 application/json")
        serial = headers.get("wechatpay-serial")
        if serial is not None and serial != self.platform_serial_no:
            raise WechatPayError(400, "PARAM_ERROR", "Wechatpay-Serial 无效")

    def _respond(
        self, status: int, answer: dict[str, Any] | None, *, sign: bool = True
    ) -> Response:
        body = b"" if answer is None else json.dumps(answer, ensure_ascii=False).encode()
        headers = {"Request-ID": secrets.token_hex(16)}
        sabotage, replace = self._sabotage.pop(0) if self._sabotage else (None, None)
        if sign and sabotage != "unsigned":
            key = self.platform_key
            timestamp = None
            serial = None
            if sabotage == "wrong_key":
                self._intruder = self._intruder or rsa.generate_private_key(65537, 2048)
                key = self._intruder
            elif sabotage == "stale":
                timestamp = int(self.clock()) - CLOCK_SKEW_SECONDS - 60
            elif sabotage == "wrong_serial":
                serial = "PUB_KEY_ID_0000000000000000000000000000000000"
            signed = self.signed_headers(body, timestamp=timestamp, serial=serial, key=key)
            headers.update({k: v for k, v in signed.items() if k != "Content-Type"})
        if sabotage == "tamper":
            if replace is not None:
                body = body.replace(replace[0], replace[1])
            else:
                body = body.replace(b'":', b'" :', 1)
        media = "application/json; charset=utf-8" if body else None
        return Response(body, status, headers=headers, media_type=media)

    # ------------------------------------------------------------------ endpoints

    def _jsapi(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        body = _object(body)
        _require(body, "appid", self.app_id)
        _require(body, "mchid", self.merchant_id)
        number = _string(body, "out_trade_no", 32)
        if not OUT_TRADE_NO.fullmatch(number):
            raise WechatPayError(400, "PARAM_ERROR", "out_trade_no 格式错误")
        _string(body, "description", 127)
        notify_url = _string(body, "notify_url", 256)
        if not notify_url.startswith("https://") or "?" in notify_url:
            raise WechatPayError(400, "PARAM_ERROR", "notify_url 应为不带参数的 https 地址")
        if "time_expire" in body and not RFC3339.fullmatch(str(body["time_expire"])):
            raise WechatPayError(400, "PARAM_ERROR", "time_expire 格式错误")
        amount = _object(body.get("amount"), "amount")
        _positive_int(amount, "total")
        if amount.get("currency", "CNY") != "CNY":
            raise WechatPayError(400, "PARAM_ERROR", "currency 仅支持 CNY")
        _string(_object(body.get("payer"), "payer"), "openid", 128)
        existing = self.orders.get(number)
        if existing is not None:
            if existing.state == "SUCCESS":
                raise WechatPayError(400, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                raise WechatPayError(400, "ORDERCLOSED", "该订单已关闭")
            if existing.request != body:
                raise WechatPayError(400, "INVALID_REQUEST", "201 商户订单号重复")
            return 200, {"prepay_id": existing.prepay_id}
        order = FakeOrder(request=body, prepay_id="wx" + secrets.token_hex(16))
        self.orders[number] = order
        return 200, {"prepay_id": order.prepay_id}

    def _query(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        if request.query_params.get("mchid") != self.merchant_id:
            raise WechatPayError(400, "PARAM_ERROR", "mchid 参数错误")
        number = request.path_params["n"]
        if number not in self.orders:
            raise WechatPayError(404, "ORDER_NOT_EXIST", "订单不存在")
        order = self.orders[number]
        answer = self.payment_resource(number)
        if order.state not in ("SUCCESS", "REFUND"):
            for name in ("transaction_id", "success_time", "bank_type"):
                answer.pop(name, None)
            answer["amount"] = {"total": order.request["amount"]["total"], "currency": "CNY"}
        answer["trade_state_desc"] = order.state
        return 200, answer

    def _close(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        _require(_object(body), "mchid", self.merchant_id)
        number = request.path_params["n"]
        order = self.orders.get(number)
        if order is None:
            raise WechatPayError(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state in ("SUCCESS", "REFUND"):
            raise WechatPayError(400, "ORDERPAID", "订单已支付")
        order.state = "CLOSED"
        return 204, None

    def _refund(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        body = _object(body)
        number = _string(body, "out_refund_no", 64)
        order_number = _string(body, "out_trade_no", 32)
        amount = _object(body.get("amount"), "amount")
        refund_fen, total_fen = _positive_int(amount, "refund"), _positive_int(amount, "total")
        if amount.get("currency") != "CNY":
            raise WechatPayError(400, "PARAM_ERROR", "currency 仅支持 CNY")
        existing = self.refunds.get(number)
        if existing is not None:
            if existing.request != body:
                raise WechatPayError(400, "INVALID_REQUEST", "退款单号重复，且参数不一致")
            return 200, self._refund_view(number)
        order = self.orders.get(order_number)
        if order is None or order.state not in ("SUCCESS", "REFUND"):
            raise WechatPayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if total_fen != order.request["amount"]["total"]:
            raise WechatPayError(400, "PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
        if refund_fen > total_fen - order.refunded_fen:
            raise WechatPayError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if refund_fen > self.balance_fen:
            raise WechatPayError(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        self.balance_fen -= refund_fen
        order.refunded_fen += refund_fen
        order.state = "REFUND"
        self.refunds[number] = FakeRefund(
            request=body,
            refund_id="5030" + secrets.token_hex(12),
            transaction_id=order.transaction_id or "",
            create_time=self.now_text(),
        )
        return 200, self._refund_view(number)

    def _query_refund(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        number = request.path_params["n"]
        if number not in self.refunds:
            raise WechatPayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return 200, self._refund_view(number)

    def _refund_view(self, number: str) -> dict[str, Any]:
        refund = self.refunds[number]
        view: dict[str, Any] = {
            "refund_id": refund.refund_id,
            "out_refund_no": number,
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.request["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": refund.create_time,
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": {
                **refund.request["amount"],
                "payer_total": refund.request["amount"]["total"],
            },
        }
        if refund.success_time:
            view["success_time"] = refund.success_time
        return view

    def _transfer(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        body = _object(body)
        _require(body, "appid", self.app_id)
        number = _string(body, "out_bill_no", 32)
        if not OUT_BILL_NO.fullmatch(number):
            raise WechatPayError(400, "PARAM_ERROR", "out_bill_no 只能由数字、大小写字母组成")
        _require(body, "transfer_scene_id", self.transfer_scene_id)
        _string(body, "openid", 64)
        fen = _positive_int(body, "transfer_amount")
        if fen < 10:
            raise WechatPayError(400, "INVALID_REQUEST", "单笔转账额度最低为0.1元")
        _string(body, "transfer_remark", 32)
        notify_url = body.get("notify_url")
        if notify_url is not None and not str(notify_url).startswith("https://"):
            raise WechatPayError(400, "PARAM_ERROR", "notify_url 应为 https 地址")
        if self.transfer_scene_id == INSURANCE_SCENE:
            perception = body.get("user_recv_perception")
            if perception is not None and perception not in INSURANCE_PERCEPTIONS:
                raise WechatPayError(400, "INVALID_REQUEST", "暂不支持展示当前传入的用户收款感知")
            infos = body.get("transfer_scene_report_infos")
            kinds = [i.get("info_type") for i in infos or [] if isinstance(i, dict)]
            contents = [i.get("info_content") for i in infos or [] if isinstance(i, dict)]
            if sorted(map(str, kinds)) != sorted(INSURANCE_REPORT_TYPES) or not all(
                isinstance(c, str) and 1 <= len(c) <= 32 for c in contents
            ):
                raise WechatPayError(400, "PARAM_ERROR", "需传入转账场景报备信息,请检查")
        user_name = self._decrypt_user_name(body.get("user_name"), request)
        if fen >= 200_000 and not user_name:
            raise WechatPayError(400, "PARAM_ERROR", "转账金额>=2000元时，收款用户姓名必填")
        existing = self.transfers.get(number)
        if existing is not None:
            same = {k: v for k, v in existing.request.items() if k != "user_name"} == {
                k: v for k, v in body.items() if k != "user_name"
            } and existing.user_name == user_name
            if not same:
                raise WechatPayError(
                    400, "INVALID_REQUEST", "单号已存在但信息不一致，请查单后比较确认"
                )
            return 200, self._transfer_answer(number)
        if fen > self.balance_fen:
            raise WechatPayError(403, "NOT_ENOUGH", "资金不足")
        self.balance_fen -= fen
        now = self.now_text()
        self.transfers[number] = FakeTransfer(
            request=body,
            user_name=user_name,
            transfer_bill_no="1330" + secrets.token_hex(14),
            create_time=now,
            state=self.transfer_first_state,
            package_info="ABBQO+oYAAABAAAAAAB" + secrets.token_urlsafe(24),
            update_time=now,
        )
        return 200, self._transfer_answer(number)

    def _decrypt_user_name(self, value: Any, request: Request) -> str | None:
        if value is None:
            return None
        if request.headers.get("wechatpay-serial") != self.platform_serial_no:
            raise WechatPayError(400, "PARAM_ERROR", "加密字段需在 Wechatpay-Serial 中指明公钥ID")
        try:
            sha1 = hashes.SHA1()  # noqa: S303 -- WeChat's OAEP parameters
            plain = self.platform_key.decrypt(
                base64.b64decode(str(value), validate=True),
                padding.OAEP(mgf=padding.MGF1(sha1), algorithm=sha1, label=None),
            )
            return plain.decode()
        except ValueError:
            raise WechatPayError(400, "PARAM_ERROR", "user_name 解密失败") from None

    def _transfer_answer(self, number: str) -> dict[str, Any]:
        transfer = self.transfers[number]
        answer: dict[str, Any] = {
            "out_bill_no": number,
            "transfer_bill_no": transfer.transfer_bill_no,
            "create_time": transfer.create_time,
            "state": transfer.state,
        }
        if transfer.state == "WAIT_USER_CONFIRM":
            answer["package_info"] = transfer.package_info
        if transfer.fail_reason:
            answer["fail_reason"] = transfer.fail_reason
        return answer

    def _query_transfer(self, request: Request, body: Any) -> tuple[int, dict[str, Any] | None]:
        number = request.path_params["n"]
        transfer = self.transfers.get(number)
        if transfer is None:
            raise WechatPayError(404, "NOT_FOUND", "记录不存在")
        answer: dict[str, Any] = {
            "mch_id": self.merchant_id,
            "out_bill_no": number,
            "transfer_bill_no": transfer.transfer_bill_no,
            "appid": self.app_id,
            "state": transfer.state,
            "transfer_amount": transfer.request["transfer_amount"],
            "transfer_remark": transfer.request["transfer_remark"],
            "openid": transfer.request["openid"],
            "create_time": transfer.create_time,
            "update_time": transfer.update_time,
        }
        if transfer.fail_reason:
            answer["fail_reason"] = transfer.fail_reason
        return 200, answer


# ------------------------------------------------------------------ field checks


def _object(value: Any, name: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WechatPayError(400, "PARAM_ERROR", f"{name} 应为 JSON 对象")
    return value


def _string(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise WechatPayError(
            400, "PARAM_ERROR", f"输入源“/body/{name}”映射到字段“{name}”必填性规则校验失败"
        )
    if len(value) > limit:
        raise WechatPayError(400, "PARAM_ERROR", f"{name} 长度超过限制")
    return value


def _require(body: Mapping[str, Any], name: str, expected: str) -> None:
    if body.get(name) != expected:
        raise WechatPayError(400, "PARAM_ERROR", f"{name} 与商户号不匹配或有误")


def _positive_int(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WechatPayError(400, "PARAM_ERROR", f"{name} 应为正整数（分）")
    return value
