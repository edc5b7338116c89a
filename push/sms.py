"""Text messages: a console sender for development and Alibaba Cloud SMS for real.

Alibaba Cloud's RPC API signs every request: HMAC-SHA1 over the sorted, RFC 3986
percent-encoded parameters, keyed with ``AccessKeySecret + "&"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

import httpx

from models.customers import Customer
from models.pii import PiiCipher, mask_phone
from push.base import (
    DeadTargetError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)

log = logging.getLogger("anxin.sms")


class SmsError(Exception):
    """The provider refused or could not be reached; the caller decides what the user sees."""


class SmsSender(Protocol):
    async def send_login_code(self, phone: str, code: str) -> None: ...

    async def send(self, phone: str, template: str, params: dict[str, str]) -> None: ...


class ConsoleSmsSender:
    """Development only: prints the code so a developer can log in without a provider."""

    def __init__(self) -> None:
        # The latest messages, for tests and the developer (bounded: a dev server runs long).
        self.sent: deque[tuple[str, str]] = deque(maxlen=100)
        self.notifications: deque[tuple[str, str, dict[str, str]]] = deque(maxlen=100)

    async def send_login_code(self, phone: str, code: str) -> None:
        self.sent.append((phone, code))
        print(f"[anxin dev sms] {mask_phone(phone)} 登录验证码 {code}", flush=True)

    async def send(self, phone: str, template: str, params: dict[str, str]) -> None:
        self.notifications.append((phone, template, params))
        print(f"[anxin dev sms] {mask_phone(phone)} {template} {params}", flush=True)


def percent_encode(value: str) -> str:
    return quote(value, safe="~")


def aliyun_rpc_signature(params: dict[str, str], secret: str, method: str = "POST") -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class AliyunSmsSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        login_template: str,
    ):
        self._client = client
        self._base_url = base_url.rstrip("/") + "/"
        self._key_id = access_key_id
        self._secret = access_key_secret
        self._sign_name = sign_name
        self._login_template = login_template

    async def send_login_code(self, phone: str, code: str) -> None:
        await self.send(phone, self._login_template, {"code": code})

    async def send(self, phone: str, template: str, template_params: dict[str, str]) -> None:
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": phone,
            "RegionId": "cn-hangzhou",
            "SignName": self._sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template,
            "TemplateParam": json.dumps(template_params, ensure_ascii=False),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        params["Signature"] = aliyun_rpc_signature(params, self._secret)
        try:
            response = await self._client.post(self._base_url, data=params)
            body = response.json()
            if not isinstance(body, dict):  # e.g. `null` from a gateway in front
                raise ValueError("answer is not a JSON object")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("aliyun sms to %s failed: %s", mask_phone(phone), type(exc).__name__)
            raise SmsError("provider unreachable") from exc
        if body.get("Code") != "OK":
            log.warning(
                "aliyun sms to %s refused: %s", mask_phone(phone), body.get("Code", "unknown")
            )
            raise SmsError(body.get("Code", "unknown"))


class SmsChannel:
    """Notifications by SMS. The target is ``customer:<id>``: the phone number is
    decrypted only at the moment of sending, never stored with the delivery."""

    def __init__(self, sender: SmsSender, pii: PiiCipher, templates: dict[str, str]) -> None:
        self._sender = sender
        self._pii = pii
        self._templates = templates
        self._prepared: dict[str, str] = {}  # target -> sealed phone, read for a batch

    async def prepare(self, targets: Sequence[str]) -> None:
        """The sealed phone numbers of a batch's customers in one query (one per message
        cost a round trip and a ``Customer`` object each); still sealed until sending."""
        ids = [i for t in targets if (i := _customer_id(t)) is not None]
        rows = await Customer.filter(id__in=ids).values_list("id", "phone_encrypted")
        self._prepared = {f"customer:{customer_id}": sealed for customer_id, sealed in rows}

    async def send(self, target: str, message: PushMessage) -> str | None:
        template = self._templates.get(message.kind)
        if template is None:
            raise PermanentDeliveryError(f"no SMS template for {message.kind}")
        sealed = self._prepared.pop(target, None)
        if sealed is None:
            customer = await Customer.get_or_none(id=target.removeprefix("customer:"))
            if customer is None:
                raise DeadTargetError("customer gone")
            sealed = customer.phone_encrypted
        phone = self._pii.decrypt(sealed, "phone")
        params = {"title": message.title, **message.data}
        try:
            await self._sender.send(phone, template, params)
        except SmsError as exc:
            raise TransientDeliveryError(str(exc)) from exc
        return None


def _customer_id(target: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(target.removeprefix("customer:"))
    except ValueError:
        return None
