"""What a service partner is to anxin: three calls (create, cancel, status) and signed
callbacks, over the shared httpx client.

The protocol is ours (partners integrate with it, as with a bank's platform): JSON over
HTTPS, every request and every callback signed with the partner's shared secret::

    X-Anxin-Timestamp: <unix seconds>
    X-Anxin-Signature: hex(HMAC-SHA256(secret, "<timestamp>." + body))

    POST {base_url}/bookings          {"bookingNumber", "service", "customerName", ...}
                                      -> {"reference", "state"}
    POST {base_url}/bookings/cancel   {"bookingNumber", "reference", "reason"} -> {"state"}
    POST {base_url}/bookings/status   {"bookingNumber", "reference"} -> {"state", "sequence"}
    POST {our base}/partners/{code}/notify   {"eventId", "bookingNumber", "state",
                                      "sequence", "occurredAt", "etaMinutes"?, "note"?}

Errors say what to do next::

    PartnerError
     ├── PartnerUnavailable   timeout, connection refused, 5xx: the outcome is unknown
     └── PartnerRejected      4xx or a refusal in the answer: refused for good
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

TIMESTAMP_HEADER = "x-anxin-timestamp"
SIGNATURE_HEADER = "x-anxin-signature"
PARTNER_HEADER = "x-anxin-partner"
CALLBACK_WINDOW_SECONDS = 300  # a callback older or newer than 5 minutes is refused
TIMEOUT_SECONDS = 10.0


class PartnerError(Exception):
    pass


class PartnerUnavailable(PartnerError):
    """No answer we can trust (timeout, refused, 5xx): the partner may or may not have it."""


class PartnerRejected(PartnerError):
    """The partner refused the request for good."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "content-type": "application/json",
    }


def signature_ok(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> bool:
    """The signature matches the body and the timestamp is within the window."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER, "")
    signature = lowered.get(SIGNATURE_HEADER, "")
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature:
        return False
    current = now if now is not None else time.time()
    if abs(current - int(timestamp)) > CALLBACK_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature.lower())


@dataclass(frozen=True)
class BookingRequest:
    """What a partner needs to serve a booking: display values and the case, no ID numbers."""

    booking_number: str
    service_code: str
    service_kind: str
    customer_name: str
    customer_phone: str  # the partner calls the customer: the full number, sent over TLS
    preferred_at: datetime | None = None
    note: str = ""
    policy_number: str | None = None
    roadside: dict[str, Any] | None = None  # need, location, address, plate number

    def as_json(self) -> dict[str, Any]:
        return {
            "bookingNumber": self.booking_number,
            "service": self.service_code,
            "serviceKind": self.service_kind,
            "customerName": self.customer_name,
            "customerPhone": self.customer_phone,
            "preferredAt": self.preferred_at.isoformat() if self.preferred_at else None,
            "note": self.note,
            "policyNumber": self.policy_number,
            "roadside": self.roadside,
        }


@dataclass(frozen=True)
class PartnerAnswer:
    reference: str | None
    state: str
    sequence: int = 0


class PartnerAdapter(Protocol):
    async def create(self, request: BookingRequest) -> PartnerAnswer: ...

    async def cancel(self, booking_number: str, reference: str | None, reason: str) -> None: ...

    async def status(self, booking_number: str, reference: str | None) -> PartnerAnswer: ...


class HttpPartner:
    """A partner's API at ``base_url``, spoken over the shared client."""

    def __init__(self, http: httpx.AsyncClient, code: str, base_url: str, secret: bytes) -> None:
        self._http = http
        self._code = code
        self._base = base_url.rstrip("/")
        self._secret = secret

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {**signed_headers(self._secret, body), PARTNER_HEADER: self._code}
        try:
            response = await self._http.post(
                self._base + path, content=body, headers=headers, timeout=TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            raise PartnerUnavailable(f"{self._code}: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise PartnerUnavailable(f"{self._code}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PartnerRejected(f"{self._code}: HTTP {response.status_code}")
        if not signature_ok(self._secret, dict(response.headers), response.content):
            raise PartnerUnavailable(f"{self._code}: the answer's signature does not match")
        try:
            answer = response.json()
        except ValueError as exc:
            raise PartnerUnavailable(f"{self._code}: not JSON") from exc
        if not isinstance(answer, dict):
            raise PartnerUnavailable(f"{self._code}: not an object")
        return answer

    async def create(self, request: BookingRequest) -> PartnerAnswer:
        answer = await self._post("/bookings", request.as_json())
        if answer.get("accepted") is False:
            raise PartnerRejected(f"{self._code}: {str(answer.get('reason', ''))[:100]}")
        return PartnerAnswer(
            reference=str(answer.get("reference") or "")[:64] or None,
            state=str(answer.get("state", "REQUESTED")),
        )

    async def cancel(self, booking_number: str, reference: str | None, reason: str) -> None:
        payload = {"bookingNumber": booking_number, "reference": reference, "reason": reason}
        await self._post("/bookings/cancel", payload)

    async def status(self, booking_number: str, reference: str | None) -> PartnerAnswer:
        answer = await self._post(
            "/bookings/status", {"bookingNumber": booking_number, "reference": reference}
        )
        return PartnerAnswer(
            reference=reference,
            state=str(answer.get("state", "")),
            sequence=int(answer.get("sequence", 0)),
        )


class SandboxPartner:
    """Development's partner: accepts everything, keeps the bookings in memory; its
    callbacks are made by ``notification`` and go through the same notify path."""

    def __init__(self, code: str, secret: bytes) -> None:
        self.code = code
        self._secret = secret
        self._states: dict[str, str] = {}

    async def create(self, request: BookingRequest) -> PartnerAnswer:
        self._states[request.booking_number] = "REQUESTED"
        return PartnerAnswer(reference=f"SBX-{request.booking_number}", state="REQUESTED")

    async def cancel(self, booking_number: str, reference: str | None, reason: str) -> None:
        self._states[booking_number] = "CANCELLED"

    async def status(self, booking_number: str, reference: str | None) -> PartnerAnswer:
        return PartnerAnswer(reference, self._states.get(booking_number, "REQUESTED"))

    def notification(
        self, booking_number: str, state: str, sequence: int, eta_minutes: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """A signed callback as a real partner would send it."""
        body = json.dumps(
            {
                "eventId": uuid.uuid4().hex,
                "bookingNumber": booking_number,
                "state": state,
                "sequence": sequence,
                "occurredAt": datetime.now(UTC).isoformat(),
                "etaMinutes": eta_minutes,
            }
        ).encode()
        self._states[booking_number] = state
        return signed_headers(self._secret, body), body


@dataclass
class PartnerDirectory:
    """Builds the adapter of a partner row: its base URL from the catalogue, its secret
    from the settings (never the database); the sandbox where no URL is set, in
    development only."""

    http: httpx.AsyncClient
    secrets: Mapping[str, bytes]
    development: bool
    dev_key: bytes = b""  # development: secrets derived from it for partners not listed
    _sandboxes: dict[str, SandboxPartner] = field(default_factory=dict)

    def secret(self, code: str) -> bytes | None:
        if code in self.secrets:
            return self.secrets[code]
        if self.development and self.dev_key:
            return hmac.new(self.dev_key, f"anxin/partner/{code}".encode(), "sha256").digest()
        return None

    def adapter(self, code: str, base_url: str | None) -> PartnerAdapter | None:
        """None: the partner cannot be reached (no URL outside development, no secret)."""
        secret = self.secret(code)
        if secret is None:
            return None
        if base_url:
            if not (self.development or base_url.startswith("https://")):
                return None  # customers' names, phones and places go over TLS only
            return HttpPartner(self.http, code, base_url, secret)
        if not self.development:
            return None
        return self.sandbox(code)

    def sandbox(self, code: str) -> SandboxPartner | None:
        secret = self.secret(code)
        if secret is None or not self.development:
            return None
        if code not in self._sandboxes:
            self._sandboxes[code] = SandboxPartner(code, secret)
        return self._sandboxes[code]
