"""Android push through Firebase Cloud Messaging, HTTP v1 API, as a service account.

What Google requires, and why the code looks the way it does:

- ``POST /v1/projects/<project>/messages:send`` with an OAuth2 access token. The token
  comes from the service-account flow (RFC 7523): a JWT signed RS256 with the
  account's private key, claims ``iss`` (the account's e-mail), ``scope``
  (firebase.messaging), ``aud`` (the token URL), ``iat`` and ``exp`` (at most an hour
  later), posted form-encoded as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``.
- An access token lives ``expires_in`` seconds (an hour); it is cached and fetched
  again five minutes before it runs out. One ``asyncio.Lock`` makes a burst of
  concurrent sends fetch it once. A 401 drops it: fetched anew, the message is sent
  once more.
- ``data`` values must be strings, and some keys are Google's own (``from``,
  ``message_type``, ``google.*``, ``gcm.*``): values are turned into text, those keys
  left out.

Answers: UNREGISTERED, or a registration token Google calls invalid, is a dead target
(only when Google's own error JSON says so: a 404 from a misconfigured proxy must not
wipe every device token); 429, 5xx, UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED and network
trouble are transient; anything else is permanent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from push.base import (
    DeadTargetError,
    DeliveryError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)

log = logging.getLogger("anxin.push.fcm")

Clock = Callable[[], float]  # seconds since the epoch, like time.time

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 3600  # Google's maximum
REFRESH_MARGIN_SECONDS = 300
RESERVED_DATA_KEYS = frozenset({"from", "message_type", "notification"})
RESERVED_DATA_PREFIXES = ("google", "gcm")
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"})


@dataclass(frozen=True)
class AccessToken:
    value: str
    refresh_at: float


def load_service_account_key(pem: str) -> rsa.RSAPrivateKey:
    """The ``private_key`` of the service-account JSON. The error never quotes it."""
    try:
        key = serialization.load_pem_private_key(pem.replace("\\n", "\n").encode(), None)
    except (ValueError, TypeError):
        raise ValueError("the FCM service-account key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the FCM service-account key must be an RSA key")
    return key


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # numbers, Decimal, dates


def data_of(message: PushMessage) -> dict[str, str]:
    data = {
        key: as_text(value)
        for key, value in message.data.items()
        if key not in RESERVED_DATA_KEYS and not key.lower().startswith(RESERVED_DATA_PREFIXES)
    }
    data.update(deep_link=message.deep_link, kind=message.kind)
    return data


def encode_message(token: str, message: PushMessage) -> dict[str, Any]:
    android: dict[str, Any] = {"priority": "high" if message.urgent else "normal"}
    if message.collapse_id:
        android["collapse_key"] = message.collapse_id
        android["notification"] = {"tag": message.collapse_id}
    return {
        "message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": data_of(message),
            "android": android,
        }
    }


def google_error(response: httpx.Response) -> Mapping[str, Any]:
    """The ``error`` object of Google's JSON error answer; empty when there is none."""
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def error_codes(error: Mapping[str, Any]) -> set[str]:
    details = error.get("details")
    codes = {d.get("errorCode") for d in details or [] if isinstance(d, dict)}
    return {code for code in codes if isinstance(code, str)}


def about_the_token(error: Mapping[str, Any]) -> bool:
    """A 400 INVALID_ARGUMENT that blames ``message.token``."""
    for detail in error.get("details") or []:
        violations = detail.get("fieldViolations") if isinstance(detail, dict) else None
        if any(isinstance(v, dict) and v.get("field") == "message.token" for v in violations or []):
            return True
    return "registration token" in str(error.get("message", "")).lower()


def delivery_error(response: httpx.Response) -> DeliveryError:
    status = response.status_code
    error = google_error(response)
    codes = error_codes(error)
    name = str(error.get("status", ""))
    text = f"FCM answered {status} {'/'.join(sorted(codes)) or name or '(no error)'}"
    if error.get("message"):
        text += f": {str(error['message'])[:200]}"
    if "UNREGISTERED" in codes or (status == 404 and name == "NOT_FOUND"):
        return DeadTargetError(text)
    if status == 400 and name == "INVALID_ARGUMENT" and about_the_token(error):
        return DeadTargetError(text)
    if status == 429 or status >= 500 or (codes | {name}) & TRANSIENT_CODES:
        return TransientDeliveryError(text)
    return PermanentDeliveryError(text)


def token_endpoint_error(response: httpx.Response) -> DeliveryError:
    """OAuth errors are ``{"error": "invalid_grant", "error_description": ...}``."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    text = f"FCM token endpoint answered {response.status_code} {body.get('error', '')}"
    if body.get("error_description"):
        text += f": {str(body['error_description'])[:200]}"
    if response.status_code == 429 or response.status_code >= 500:
        return TransientDeliveryError(text)
    return PermanentDeliveryError(text)


def masked(token: str) -> str:
    return f"…{token[-6:]}"


class FcmChannel:
    """Sends one notification to one registration token; returns the message ``name``."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        token_url: str,
        project_id: str,
        client_email: str,
        private_key_pem: str,
        clock: Clock = time.time,
    ) -> None:
        self._client = client
        self._send_url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._token_url = token_url
        self._project_id = project_id
        self._client_email = client_email
        self._signing_key = load_service_account_key(private_key_pem)
        self._clock = clock
        self._token: AccessToken | None = None
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"FcmChannel(project_id={self._project_id!r}, client_email={self._client_email!r})"

    async def send(self, target: str, message: PushMessage) -> str | None:
        body = encode_message(target, message)
        token = await self._access_token()
        response = await self._post(target, body, token)
        if response.status_code == 401:
            log.info("FCM refused the access token: fetching a new one")
            response = await self._post(target, body, await self._access_token(refused=token))
        if response.status_code == 200:
            return self._message_name(response)
        error = delivery_error(response)
        log.warning("FCM push to %s failed: %s", masked(target), error)
        raise error

    # ------------------------------------------------------------ access token

    async def _access_token(self, refused: AccessToken | None = None) -> AccessToken:
        """The cached token, or a new one; ``refused`` is dropped unless a concurrent
        send has already replaced it."""
        async with self._token_lock:
            token = self._token
            if token is None or token is refused or self._clock() >= token.refresh_at:
                token = self._token = await self._fetch_token()
            return token

    def _assertion(self, now: int) -> str:
        claims = {
            "iss": self._client_email,
            "scope": SCOPE,
            "aud": self._token_url,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._signing_key, algorithm="RS256")

    async def _fetch_token(self) -> AccessToken:
        now = self._clock()
        form = {"grant_type": GRANT_TYPE, "assertion": self._assertion(int(now))}
        try:
            response = await self._client.post(self._token_url, data=form)
        except httpx.TransportError as exc:
            log.warning("FCM token endpoint unreachable: %s", type(exc).__name__)
            raise TransientDeliveryError(f"FCM token endpoint: {type(exc).__name__}") from exc
        if response.status_code != 200:
            error = token_endpoint_error(response)
            log.warning("%s", error)
            raise error
        try:
            answer = response.json()
            value, lifetime = str(answer["access_token"]), float(answer["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise TransientDeliveryError("FCM token endpoint: malformed answer") from None
        return AccessToken(value, refresh_at=now + lifetime - REFRESH_MARGIN_SECONDS)

    # ------------------------------------------------------------ HTTP

    async def _post(self, target: str, body: dict[str, Any], token: AccessToken) -> httpx.Response:
        headers = {"authorization": f"Bearer {token.value}"}
        try:
            return await self._client.post(self._send_url, json=body, headers=headers)
        except httpx.TransportError as exc:
            log.warning("FCM push to %s failed: %s", masked(target), type(exc).__name__)
            raise TransientDeliveryError(f"FCM unreachable: {type(exc).__name__}") from exc

    @staticmethod
    def _message_name(response: httpx.Response) -> str | None:
        try:
            name = response.json().get("name")
        except (ValueError, AttributeError):
            return None
        return name if isinstance(name, str) else None
