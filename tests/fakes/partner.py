"""A fake service partner (a roadside or health provider) that judges our requests as a
partner following the protocol in ``workflows/benefits/partners.py`` would; Starlette
under uvicorn on 127.0.0.1. Its signing is written here from the protocol text,
independently of that module, so a mistake there fails here.

Requests must name this partner in ``X-Anxin-Partner``, carry a timestamp within 5
minutes and ``hex(HMAC-SHA256(secret, "<ts>." + body))``; otherwise ``401``. Answers are
signed the same way. Endpoints: ``POST /bookings`` (the same booking number again
answers the existing booking), ``POST /bookings/cancel``, ``POST /bookings/status``.

``advance(number, state, sequence)`` moves a booking on at the partner (its status
answer), without a callback. Switches: ``fail_next(status)``, ``reject_next()`` (an
answer ``accepted: false``), ``tamper_next()`` (the answer's body changed after
signing). ``callback(...)`` builds the signed event the partner POSTs to
``/partners/{code}/notify``; any part can be forged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

SKEW_SECONDS = 300


def _sign(secret: bytes, ts: str, body: bytes) -> str:
    return hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Seen:
    path: str
    body: dict[str, Any]
    refused: str | None


@dataclass
class FakePartner:
    code: str
    secret: bytes
    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    _fail: int | None = None
    _reject: bool = False
    _tamper: bool = False

    def fail_next(self, status: int) -> None:
        self._fail = status

    def reject_next(self) -> None:
        self._reject = True

    def tamper_next(self) -> None:
        self._tamper = True

    def _answer(self, payload: dict[str, Any], status: int = 200) -> Response:
        body = json.dumps(payload).encode()
        ts = str(int(time.time()))
        signature = _sign(self.secret, ts, body)
        if self._tamper:
            self._tamper = False
            body = body.replace(b"REQUESTED", b"CONFIRMED")
        headers = {"x-anxin-timestamp": ts, "x-anxin-signature": signature}
        return Response(body, status, headers=headers, media_type="application/json")

    def _refusal(self, request: Request, body: bytes) -> str | None:
        if request.headers.get("x-anxin-partner") != self.code:
            return "partner"
        ts = request.headers.get("x-anxin-timestamp", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > SKEW_SECONDS:
            return "timestamp"
        given = request.headers.get("x-anxin-signature", "")
        if not hmac.compare_digest(_sign(self.secret, ts, body), given):
            return "signature"
        return None

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        refused = self._refusal(request, body)
        data = json.loads(body) if refused is None else {}
        self.seen.append(Seen(request.url.path, data, refused))
        if refused is not None:
            return self._answer({"error": refused}, 401)
        if self._fail is not None:
            status, self._fail = self._fail, None
            return self._answer({"error": "busy"}, status)
        number = data.get("bookingNumber", "")
        if request.url.path == "/bookings":
            if self._reject:
                self._reject = False
                return self._answer({"accepted": False, "reason": "no capacity"})
            booking = self.bookings.setdefault(
                number,
                {"request": data, "reference": f"P-{uuid.uuid4().hex[:8]}", "state": "REQUESTED"},
            )
            return self._answer({"reference": booking["reference"], "state": booking["state"]})
        if number not in self.bookings:
            return self._answer({"error": "not found"}, 404)
        if request.url.path == "/bookings/cancel":
            self.bookings[number]["state"] = "CANCELLED"
        booking = self.bookings[number]
        return self._answer({"state": booking["state"], "sequence": booking.get("sequence", 0)})

    def advance(self, booking_number: str, state: str, sequence: int) -> None:
        """The partner's own record moves on (its callback may be lost)."""
        self.bookings[booking_number].update(state=state, sequence=sequence)

    def app(self) -> Starlette:
        paths = ("/bookings", "/bookings/cancel", "/bookings/status")
        return Starlette(routes=[Route(p, self.handle, methods=["POST"]) for p in paths])

    def callback(
        self,
        booking_number: str,
        state: str,
        sequence: int,
        *,
        event_id: str | None = None,
        eta_minutes: int | None = None,
        occurred_at: datetime | None = None,
        ts: float | None = None,
        secret: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The signed event the partner POSTs to our notify URL."""
        body = json.dumps(
            {
                "eventId": event_id or uuid.uuid4().hex,
                "bookingNumber": booking_number,
                "state": state,
                "sequence": sequence,
                "occurredAt": (occurred_at or datetime.now(UTC)).isoformat(),
                "etaMinutes": eta_minutes,
            }
        ).encode()
        stamp = str(int(ts if ts is not None else time.time()))
        headers = {
            "x-anxin-timestamp": stamp,
            "x-anxin-signature": _sign(secret or self.secret, stamp, body),
            "content-type": "application/json",
        }
        return headers, body


@asynccontextmanager
async def running_partner(code: str, secret: bytes) -> AsyncIterator[tuple[FakePartner, str]]:
    fake = FakePartner(code, secret)
    async with serve(fake.app()) as base_url:
        yield fake, base_url
