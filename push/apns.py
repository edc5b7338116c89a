"""iOS push through Apple's APNs provider API, with token-based authentication.

What Apple requires, and why the code looks the way it does:

- HTTP/2 only (``POST /3/device/<token>``). The gateway's shared ``httpx.AsyncClient``
  may be HTTP/1.1 only; then the channel opens and owns a client with
  ``http1=False, http2=True`` (close it with ``aclose()``). With HTTP/1.1 switched off,
  httpx speaks HTTP/2 whatever happens: negotiated by TLS ALPN on ``https://`` (Apple),
  with prior knowledge (h2c) on a plaintext ``http://`` URL. It never falls back.
- Every request carries ``authorization: bearer <JWT>``, ES256 signed with the team's
  ``.p8`` key: header ``{alg, kid}``, claims ``{iss: team id, iat}``. Apple refuses a
  token older than an hour (ExpiredProviderToken) and throttles one renewed more often
  than every 20 minutes (TooManyProviderTokenUpdates), so one token is signed and
  reused for 50 minutes. When Apple calls it expired or invalid anyway, it is signed
  again once and the message sent once more.
- The payload is at most 4 KB; ``apns-collapse-id`` (the event id, so a resent message
  replaces rather than doubles) at most 64 bytes.

Answers: 200 is delivered; 410 and a token Apple does not know (BadDeviceToken,
DeviceTokenNotForTopic) are dead targets; 429, 5xx and network trouble are transient;
any other refusal is permanent, with Apple's ``reason`` in the error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from push.base import (
    DeadTargetError,
    DeliveryError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)

log = logging.getLogger("anxin.push.apns")

Clock = Callable[[], float]  # seconds since the epoch, like time.time

PROVIDER_TOKEN_LIFETIME_SECONDS = 50 * 60  # Apple: older than 60 min is refused
MESSAGE_LIFETIME_SECONDS = 24 * 60 * 60  # apns-expiration: Apple retries until then
MAX_PAYLOAD_BYTES = 4096
MAX_COLLAPSE_ID_BYTES = 64
DEFAULT_TIMEOUT = httpx.Timeout(10.0)
DEVICE_TOKEN = re.compile(r"[0-9A-Fa-f]{32,200}")
DEAD_TARGET_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})
PROVIDER_TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})


@dataclass(frozen=True)
class ProviderToken:
    jwt: str
    issued_at: int


def speaks_http2(client: httpx.AsyncClient, url: str) -> bool:
    """Whether ``client`` talks HTTP/2 to ``url``.

    httpx has no public way to ask, so this reads the connection pool's settings and
    answers no when in doubt (a custom transport): the caller then opens its own client.
    Plaintext needs HTTP/1.1 switched off, or httpx sends HTTP/1.1 without upgrading.
    """
    target = httpx.URL(url)
    transport = client._transport_for_url(target)
    pool = getattr(transport, "_pool", None)
    if not getattr(pool, "_http2", False):
        return False
    return target.scheme == "https" or not getattr(pool, "_http1", True)


def load_signing_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """The ``.p8`` key Apple issues: PKCS#8 PEM, EC P-256. The error never quotes it."""
    try:
        key = serialization.load_pem_private_key(pem.replace("\\n", "\n").encode(), None)
    except (ValueError, TypeError):
        raise ValueError("the APNs signing key is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the APNs signing key must be an EC P-256 (.p8) key")
    return key


def collapse_id(value: str) -> str:
    """Apple's limit is 64 bytes; a longer id is replaced by its SHA-256 (64 hex digits),
    which still collapses a resent message onto the first one."""
    if len(value.encode()) <= MAX_COLLAPSE_ID_BYTES:
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def encode_payload(message: PushMessage) -> bytes:
    """The JSON body; UTF-8 without ``\\u`` escapes (Chinese text takes half the bytes)."""
    payload = {
        "aps": {
            "alert": {"title": message.title, "body": message.body},
            "sound": "default",
            "thread-id": message.kind,
        },
        "deep_link": message.deep_link,
        "kind": message.kind,
    }
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PermanentDeliveryError(f"APNs payload is {len(body)} bytes, over 4096")
    return body


def masked(token: str) -> str:
    return f"…{token[-6:]}"


def apple_reason(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return ""
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else ""


def delivery_error(status: int, reason: str) -> DeliveryError:
    text = f"APNs answered {status} {reason or '(no reason)'}"
    if status == 410 or reason in DEAD_TARGET_REASONS:
        return DeadTargetError(text)
    if status == 429 or status >= 500:
        return TransientDeliveryError(text)
    return PermanentDeliveryError(text)


class ApnsChannel:
    """Sends one alert to one device token; returns Apple's ``apns-id``."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        *,
        base_url: str,
        team_id: str,
        key_id: str,
        private_key_pem: str,
        topic: str,
        clock: Clock = time.time,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify`` and the shared client's timeout apply to a client of our own."""
        self._base_url = base_url.rstrip("/")
        self._team_id = team_id
        self._key_id = key_id
        self._topic = topic
        self._signing_key = load_signing_key(private_key_pem)
        self._clock = clock
        self._token: ProviderToken | None = None
        if client is not None and speaks_http2(client, self._base_url):
            self._client, self._owns_client = client, False
        else:
            timeout = client.timeout if client is not None else DEFAULT_TIMEOUT
            self._client = httpx.AsyncClient(
                http1=False, http2=True, verify=verify, timeout=timeout
            )
            self._owns_client = True

    def __repr__(self) -> str:
        return (
            f"ApnsChannel(base_url={self._base_url!r}, team_id={self._team_id!r}, "
            f"key_id={self._key_id!r}, topic={self._topic!r})"
        )

    async def aclose(self) -> None:
        """Close the HTTP/2 client if the channel opened it (never the shared one)."""
        if self._owns_client:
            await self._client.aclose()

    async def send(self, target: str, message: PushMessage) -> str | None:
        if not DEVICE_TOKEN.fullmatch(target):
            raise DeadTargetError("not an APNs device token (hex digits expected)")
        body = encode_payload(message)
        token = self._provider_token()
        response = await self._post(target, message, body, token)
        if response.status_code == 403 and apple_reason(response) in PROVIDER_TOKEN_REASONS:
            log.info("APNs refused provider token %s: signing a new one", self._key_id)
            response = await self._post(target, message, body, self._renew(token))
        if response.status_code == 200:
            return response.headers.get("apns-id")
        error = delivery_error(response.status_code, apple_reason(response))
        log.warning("APNs push to %s failed: %s", masked(target), error)
        raise error

    # ------------------------------------------------------------ provider token

    def _provider_token(self) -> ProviderToken:
        now = int(self._clock())
        token = self._token
        if token is None or now - token.issued_at >= PROVIDER_TOKEN_LIFETIME_SECONDS:
            token = self._token = self._sign(now)
        return token

    def _renew(self, refused: ProviderToken) -> ProviderToken:
        """Sign anew unless a concurrent send already replaced the refused token, so a
        burst of refusals costs one renewal (Apple throttles frequent renewals)."""
        if self._token is refused:
            self._token = self._sign(int(self._clock()))
        return self._token or self._provider_token()

    def _sign(self, now: int) -> ProviderToken:
        encoded = jwt.encode(
            {"iss": self._team_id, "iat": now},
            self._signing_key,
            algorithm="ES256",
            headers={"kid": self._key_id, "typ": None},  # Apple's header: alg and kid
        )
        return ProviderToken(jwt=encoded, issued_at=now)

    # ------------------------------------------------------------ HTTP

    def _headers(self, message: PushMessage, token: ProviderToken) -> dict[str, str]:
        headers = {
            "authorization": f"bearer {token.jwt}",
            "apns-topic": self._topic,
            "apns-push-type": "alert",
            "apns-priority": "10" if message.urgent else "5",
            "apns-expiration": str(int(self._clock()) + MESSAGE_LIFETIME_SECONDS),
            "content-type": "application/json",
        }
        if message.collapse_id:
            headers["apns-collapse-id"] = collapse_id(message.collapse_id)
        return headers

    async def _post(
        self, target: str, message: PushMessage, body: bytes, token: ProviderToken
    ) -> httpx.Response:
        url = f"{self._base_url}/3/device/{target}"
        try:
            return await self._client.post(url, content=body, headers=self._headers(message, token))
        except httpx.TransportError as exc:
            log.warning("APNs push to %s failed: %s", masked(target), type(exc).__name__)
            raise TransientDeliveryError(f"APNs unreachable: {type(exc).__name__}") from exc
