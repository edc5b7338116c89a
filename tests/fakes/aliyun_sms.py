"""A fake Alibaba Cloud SMS endpoint (dysmsapi, RPC style, ``Action=SendSms``, Version
2017-05-25) that judges our requests the way Alibaba does.

The signature check is written here again from Alibaba's published RPC signature spec,
deliberately without importing ``push.sms``: if our signer drifts from the spec, this
fake and our code disagree and the test fails. The fake's own signer is pinned to the
examples in Alibaba's documentation (see ``tests/push/test_sms.py``).

Platform errors (signature, key, timestamp, nonce) come back with a 4xx status and
``HostId``/``Recommend``; business errors (``isv.*``) with 200, as the real service does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

API_VERSION = "2017-05-25"
HOST_ID = "dysmsapi.aliyuncs.com"
TIMESTAMP_TOLERANCE = timedelta(minutes=15)
TIMESTAMP_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PHONE_PATTERN = re.compile(r"^(?:\+?86|0086)?1\d{10}$")
# RFC 3986 unreserved characters: the only bytes left as they are.
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


# ------------------------------------------------------------------ the signature spec


def rfc3986_encode(value: str) -> str:
    """UTF-8 bytes; unreserved kept, every other byte as ``%XY`` (upper-case hex).

    So a space is ``%20`` (never ``+``), ``*`` is ``%2A`` and ``~`` stays ``~``.
    """
    return "".join(chr(byte) if byte in UNRESERVED else f"%{byte:02X}" for byte in value.encode())


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """``METHOD&%2F&encode(canonicalized query)``; the query is every parameter but
    ``Signature``, sorted by name, each name and value encoded, joined by ``=`` and ``&``."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{rfc3986_encode(k)}={rfc3986_encode(v)}" for k, v in pairs)
    return f"{method.upper()}&{rfc3986_encode('/')}&{rfc3986_encode(canonical)}"


def sign(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """Base64(HMAC-SHA1(key = secret + "&", string to sign))."""
    key = (access_key_secret + "&").encode()
    digest = hmac.new(key, string_to_sign(method, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# ------------------------------------------------------------------ the fake service


@dataclass(frozen=True)
class SentSms:
    """A message the fake accepted: what the customer's phone would have shown."""

    phone: str
    sign_name: str
    template_code: str
    template_param: dict[str, str]
    biz_id: str

    @property
    def code(self) -> str:
        return self.template_param["code"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as it arrived, kept so a test can inspect or replay it."""

    method: str
    content_type: str
    body: bytes
    params: dict[str, str]
    answer: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.answer["Code"])


class ProviderError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class FakeAliyunSms:
    """One Alibaba Cloud account with one approved sign name and its approved templates
    (template code → the variables its text uses, e.g. ``{"SMS_1": {"code"}}``).

    ``fail_next`` queues business refusals (for instance ``isv.BUSINESS_LIMIT_CONTROL``)
    that are answered after authentication, as the real service would.
    """

    access_key_id: str
    access_key_secret: str
    sign_name: str
    templates: Mapping[str, frozenset[str]]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sent: list[SentSms] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    url: str = ""
    _nonces: set[str] = field(default_factory=set)
    _queued: list[tuple[str, str]] = field(default_factory=list)
    _raw: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/", self._endpoint, methods=["GET", "POST"])])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeAliyunSms]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    def fail_next(self, code: str, message: str = "触发分钟级流控Permits:1") -> None:
        self._queued.append((code, message))

    def answer_next_raw(self, response: Response) -> None:
        """Answer the next request with ``response`` unchecked: a broken gateway in front."""
        self._raw.append(response)

    def code_for(self, phone: str) -> str:
        """The code in the latest message accepted for ``phone``."""
        for message in reversed(self.sent):
            if message.phone == phone:
                return message.code
        raise AssertionError(f"no SMS was accepted for {phone}")

    # ------------------------------------------------------------ HTTP

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        if self._raw:
            return self._raw.pop(0)
        content_type = request.headers.get("content-type", "")
        params: dict[str, str] = {}
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        if request.method == "POST" and content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            pairs += parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        for name, value in pairs:
            if name in params:
                return self._answer(
                    request,
                    body,
                    params,
                    ProviderError(
                        400, "InvalidParameter", f"Parameter {name} appears more than once."
                    ),
                )
            params[name] = value
        try:
            biz_id = self._handle(request.method, params)
        except ProviderError as error:
            return self._answer(request, body, params, error)
        return self._answer(request, body, params, None, biz_id)

    def _answer(
        self,
        request: Request,
        body: bytes,
        params: dict[str, str],
        error: ProviderError | None,
        biz_id: str | None = None,
    ) -> Response:
        request_id = str(uuid.uuid4()).upper()
        if error is None:
            status = 200
            answer: dict[str, Any] = {
                "Code": "OK",
                "Message": "OK",
                "BizId": biz_id,
                "RequestId": request_id,
            }
        else:
            status = error.status
            answer = {"RequestId": request_id, "Code": error.code, "Message": error.message}
            if not error.code.startswith("isv."):
                answer["HostId"] = HOST_ID
                answer["Recommend"] = (
                    f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Dysmsapi"
                )
        self.requests.append(
            ReceivedRequest(
                method=request.method,
                content_type=request.headers.get("content-type", ""),
                body=body,
                params=params,
                answer=answer,
            )
        )
        # Alibaba answers XML unless the caller asked for JSON.
        if params.get("Format", "XML").upper() == "JSON":
            return Response(
                json.dumps(answer, ensure_ascii=False), status, media_type="application/json"
            )
        xml = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in answer.items())
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?><SendSmsResponse>{xml}</SendSmsResponse>',
            status,
            media_type="text/xml",
        )

    # ------------------------------------------------------------ the checks

    def _handle(self, method: str, params: dict[str, str]) -> str:
        """Authenticate, then validate the SendSms call; returns the BizId."""
        for name in (
            "AccessKeyId",
            "Signature",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
            "Timestamp",
            "Action",
            "Version",
        ):
            if not params.get(name):
                raise ProviderError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if params["AccessKeyId"] != self.access_key_id:
            raise ProviderError(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        if params["SignatureMethod"] != "HMAC-SHA1":
            raise ProviderError(
                400, "InvalidSignatureMethod", "Specified signature method is not supported."
            )
        if params["SignatureVersion"] != "1.0":
            raise ProviderError(
                400, "InvalidSignatureVersion", "Specified signature version is not supported."
            )
        self._check_timestamp(params["Timestamp"])
        expected = sign(method, params, self.access_key_secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise ProviderError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. server string to sign is:"
                + string_to_sign(method, params),
            )
        if params["SignatureNonce"] in self._nonces:
            raise ProviderError(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        self._nonces.add(params["SignatureNonce"])
        if params["Action"] != "SendSms":
            raise ProviderError(404, "InvalidAction.NotFound", "Specified api is not found.")
        if params["Version"] != API_VERSION:
            raise ProviderError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        return self._send(params)

    def _check_timestamp(self, raw: str) -> None:
        if not TIMESTAMP_PATTERN.match(raw):
            raise ProviderError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        try:
            stamp = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise ProviderError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            ) from None
        if abs(self.clock() - stamp) > TIMESTAMP_TOLERANCE:
            raise ProviderError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )

    def _send(self, params: dict[str, str]) -> str:
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                raise ProviderError(400, f"Missing{name}", f"{name} is mandatory for this action.")
        phones = params["PhoneNumbers"].split(",")
        if not all(PHONE_PATTERN.match(phone) for phone in phones):
            raise ProviderError(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params["SignName"] != self.sign_name:
            raise ProviderError(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        if params["TemplateCode"] not in self.templates:
            raise ProviderError(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            template_param = json.loads(params.get("TemplateParam", ""))
        except ValueError:
            raise ProviderError(
                200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"
            ) from None
        if not isinstance(template_param, dict) or not all(
            isinstance(value, str) for value in template_param.values()
        ):
            raise ProviderError(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not all(template_param.get(name) for name in self.templates[params["TemplateCode"]]):
            raise ProviderError(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        if self._queued:
            code, message = self._queued.pop(0)
            raise ProviderError(200, code, message)
        biz_id = f"{secrets.randbelow(10**18):018d}^0"
        for phone in phones:
            self.sent.append(
                SentSms(
                    phone=phone,
                    sign_name=params["SignName"],
                    template_code=params["TemplateCode"],
                    template_param=template_param,
                    biz_id=biz_id,
                )
            )
        return biz_id
