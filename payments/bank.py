"""The insurer's payment platform (资金平台): claim payouts to UnionPay debit cards.

The platform's protocol, a small signed HTTP JSON API:

- **Signing.** Every request, every answer and every callback carries
  ``X-Platform-App-Id``, ``X-Platform-Timestamp`` (unix seconds), ``X-Platform-Nonce``
  (random, 16+ characters) and ``X-Platform-Signature`` =
  ``base64(HMAC-SHA256(key, "{METHOD}\\n{path}\\n{timestamp}\\n{nonce}\\n{body}"))``, where
  path is the URL path as sent and body the exact bytes (empty for a GET). An answer is
  signed over the method and path of its request; a callback over ``POST`` and the path of
  the ``notify_url`` it was sent to. One key, shared with the platform, signs both ways.
- ``POST {base}/v1/transfers`` with ``{"app_id", "out_transfer_no", "amount_fen" (int),
  "payee": {"card_no", "name", "bank_name"}, "remark", "notify_url"}`` answers 200
  ``{"out_transfer_no", "transfer_id", "status": "PROCESSING|SUCCESS|FAILED",
  "fail_reason"?}``. The same ``out_transfer_no`` again returns the existing transfer
  (idempotent), so a retry after a timeout sends the *same* number and never pays twice.
  4xx ``{"code", "message"}`` is a refusal.
- ``GET {base}/v1/transfers/{out_transfer_no}`` answers the same shape; 404: no such
  transfer.
- The callback, ``POST notify_url`` signed by the platform: ``{"app_id",
  "out_transfer_no", "transfer_id", "status", "amount_fen", "fail_reason"?,
  "finished_at"}`` (RFC 3339). We answer 200 ``{"code": "SUCCESS"}`` or 400
  ``{"code": "FAIL"}`` (the platform retries).

What we believe (errors of ``payments.base``)::

    timeout, connection error, 3xx, 5xx, 408, 429       ProviderUnavailable (query, retry)
    answer unsigned, badly signed, stale, other app     ProviderUnavailable + security log
    answer about another transfer, unknown status       ProviderUnavailable
    signed 4xx {"code", "message"}                      ProviderRejected(code, message)
    signed 404 to a query                               TransferState.NOT_FOUND
    callback: bad signature, older or newer than the    InvalidNotification
    window (5 min), another app, bad fields

A 4xx counts only when signed: an unsigned one (a proxy, a forgery) could otherwise mark
a transfer that went through as failed, and a new number would pay twice. The window is
not a replay cache: a repeated callback inside it is recorded idempotently by the payout
workflow. The key is never logged and not in ``repr``; card numbers are logged masked
only (``6222****1234``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from payments.base import (
    CallbackReply,
    InvalidNotification,
    PaymentNotification,
    ProviderRejected,
    ProviderUnavailable,
    TransferRequest,
    TransferResult,
    TransferState,
)

log = logging.getLogger("anxin.payments.bank")
security_log = logging.getLogger("anxin.security")

NOTIFY_PATH = "/payments/bank/notify"  # our callback route, as the platform is told
WINDOW_SECONDS = 300
STATES = {s: TransferState(s) for s in ("PROCESSING", "SUCCESS", "FAILED")}
TRANSFER_NO = re.compile(r"[0-9A-Za-z_-]{1,64}")
CARD_NO = re.compile(r"\d{12,19}")  # ISO/IEC 7812 card numbers; UnionPay debit: 16-19
RETRY_LATER = frozenset({408, 429})


def sign(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def signed_headers(
    key: bytes, app_id: str, method: str, path: str, body: bytes, now: float
) -> dict[str, str]:
    timestamp, nonce = str(int(now)), secrets.token_hex(16)
    return {
        "X-Platform-App-Id": app_id,
        "X-Platform-Timestamp": timestamp,
        "X-Platform-Nonce": nonce,
        "X-Platform-Signature": sign(key, method, path, timestamp, nonce, body),
    }


def signature_problem(
    key: bytes,
    app_id: str,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    now: float,
    window: int = WINDOW_SECONDS,
) -> str | None:
    """Why a platform signature is not to be believed, or None."""
    lower = {name.lower(): value for name, value in headers.items()}
    timestamp = lower.get("x-platform-timestamp", "")
    nonce = lower.get("x-platform-nonce", "")
    if lower.get("x-platform-app-id") != app_id:
        return "signed for another app id, or unsigned"
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "timestamp missing or not a number"
    if abs(now - int(timestamp)) > window:
        return f"timestamp {int(now) - int(timestamp)} s off: stale or replayed"
    if not 16 <= len(nonce) <= 64:
        return "nonce missing or not 16 to 64 characters"
    expected = sign(key, method, path, timestamp, nonce, body).encode()
    if not hmac.compare_digest(expected, lower.get("x-platform-signature", "").encode()):
        return "signature does not verify"
    return None


def to_fen(amount: Decimal) -> int:
    """Yuan → integer fen, exactly: more than two places or a non-positive amount is refused."""
    try:
        exact = amount.is_finite() and (amount * 100) == (amount * 100).to_integral_value()
    except (InvalidOperation, TypeError, AttributeError):
        exact = False
    if not exact or amount <= 0:
        raise ProviderRejected("INVALID_AMOUNT", "the amount must be positive, in whole fen")
    return int(amount * 100)


def mask_card(card: str) -> str:
    return f"{card[:4]}****{card[-4:]}"


def checked_payee(request: TransferRequest) -> tuple[str, int, str, str]:
    """(transfer number, fen, card number, holder's name), or ``ProviderRejected`` before
    anything is sent. Messages never quote the card."""
    if not TRANSFER_NO.fullmatch(request.transfer_number):
        raise ProviderRejected("INVALID_TRANSFER_NO", "transfer number is not allowed")
    fen = to_fen(request.amount)
    card = "".join(request.payee_id.split())
    if not CARD_NO.fullmatch(card):
        raise ProviderRejected("INVALID_CARD_NO", "the card number must be 12 to 19 digits")
    name = (request.payee_name or "").strip()
    if not name:
        raise ProviderRejected("PAYEE_NAME_REQUIRED", "a bank transfer needs the holder's name")
    return request.transfer_number, fen, card, name


def read_notification(
    key: bytes, app_id: str, path: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> PaymentNotification:
    """A platform callback, verified (signature, freshness, app id) and decoded."""
    moment = (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()
    problem = signature_problem(key, app_id, headers, "POST", path, body, moment)
    if problem:
        raise InvalidNotification(problem)
    data = _object(body)
    if data is None or data.get("app_id") != app_id:
        raise InvalidNotification("not a JSON object for our app id")
    fen, number = data.get("amount_fen"), data.get("out_transfer_no")
    transfer_id = data.get("transfer_id")
    status = data.get("status")
    state = STATES.get(status) if isinstance(status, str) else None
    if type(fen) is not int or fen <= 0 or state is None:
        raise InvalidNotification("amount_fen or status is not valid")
    if not (isinstance(number, str) and number and isinstance(transfer_id, str) and transfer_id):
        raise InvalidNotification("out_transfer_no or transfer_id missing")
    return PaymentNotification(
        kind="transfer",
        order_number=number,
        state=state.value,
        amount=(Decimal(fen) / 100).quantize(Decimal("0.01")),
        provider_trade_no=transfer_id,
        app_id=app_id,
        merchant_id=app_id,
        occurred_at=_time(data.get("finished_at")),
        raw=data,
    )


def reply(accepted: bool) -> CallbackReply:
    body = b'{"code":"SUCCESS"}' if accepted else b'{"code":"FAIL"}'
    return CallbackReply(200 if accepted else 400, body, "application/json")


class BankTransferProvider:
    """A ``TransferProvider`` for one app of the payment platform."""

    name = "bank"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        app_id: str,
        key: str,
        notify_path: str = NOTIFY_PATH,
        clock: Callable[[], float] = time.time,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not (base_url and app_id and key):
            raise ValueError("the payment platform needs its URL, app id and key")
        self._client, self._base = client, base_url.rstrip("/")
        self.app_id = self.merchant_id = app_id
        self._key, self._notify_path = key.encode(), notify_path
        self._clock, self._timeout = clock, timeout_seconds

    def __repr__(self) -> str:
        return f"BankTransferProvider(app_id={self.app_id!r}, base_url={self._base!r})"

    async def transfer(self, request: TransferRequest) -> TransferResult:
        number, fen, card, name = checked_payee(request)
        payee = {"card_no": card, "name": name, "bank_name": request.payee_bank or ""}
        payload = {
            "app_id": self.app_id,
            "out_transfer_no": number,
            "amount_fen": fen,
            "payee": payee,
            "remark": request.remark,
            "notify_url": request.notify_url,
        }
        status, answer = await self._call("POST", "/v1/transfers", payload)
        if status >= 300:
            raise _refusal("POST /v1/transfers", status, answer)
        result = self._result(answer, number)
        log.info("bank transfer %s to %s: %s", number, mask_card(card), result.state)
        return result

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        if not TRANSFER_NO.fullmatch(transfer_number):
            raise ProviderRejected("INVALID_TRANSFER_NO", "transfer number is not allowed")
        status, answer = await self._call("GET", f"/v1/transfers/{transfer_number}")
        if status == 404:
            return TransferResult(transfer_number, TransferState.NOT_FOUND)
        if status >= 300:
            raise _refusal("GET /v1/transfers", status, answer)
        return self._result(answer, transfer_number)

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        try:
            return read_notification(self._key, self.app_id, self._notify_path, headers, body, now)
        except InvalidNotification as exc:
            log.warning("bank platform notification refused: %s", exc)
            raise

    def reply(self, accepted: bool) -> CallbackReply:
        return reply(accepted)

    async def _call(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON object) of a signed 2xx or 4xx answer; else unavailable."""
        url = httpx.URL(self._base + path)
        wire_path = url.raw_path.decode("ascii")
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(self._key, self.app_id, method, wire_path, body, self._clock())
        headers["Accept"] = "application/json"
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = await self._client.request(
                method, url, content=body or None, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            log.warning("bank platform %s %s: %s", method, path, type(exc).__name__)
            raise ProviderUnavailable(f"bank platform: {type(exc).__name__}") from None
        status = response.status_code
        if not 200 <= status < 500 or status in RETRY_LATER:
            log.warning("bank platform %s %s answered HTTP %s", method, path, status)
            raise ProviderUnavailable(f"bank platform: HTTP {status}")
        raw = response.content
        now = self._clock()
        problem = signature_problem(
            self._key, self.app_id, response.headers, method, wire_path, raw, now
        )
        if problem:
            security_log.warning("bank platform answer not believed (HTTP %s): %s", status, problem)
            raise ProviderUnavailable(f"bank platform: answer not believed ({problem})")
        answer = _object(raw)
        if answer is None:
            raise ProviderUnavailable("bank platform: the answer is not a JSON object")
        return status, answer

    @staticmethod
    def _result(answer: Mapping[str, Any], number: str) -> TransferResult:
        status = answer.get("status")
        state = STATES.get(status) if isinstance(status, str) else None
        if answer.get("out_transfer_no") != number or state is None:
            raise ProviderUnavailable("bank platform: answer about another transfer or state")
        transfer_id, reason = answer.get("transfer_id"), answer.get("fail_reason")
        return TransferResult(
            number,
            state,
            transfer_id if isinstance(transfer_id, str) and transfer_id else None,
            failure_reason=reason[:200] if isinstance(reason, str) and reason else None,
        )


def _refusal(operation: str, status: int, answer: Mapping[str, Any]) -> ProviderRejected:
    code, message = str(answer.get("code") or f"HTTP_{status}")[:64], answer.get("message")
    log.warning("bank platform %s refused: HTTP %s %s", operation, status, code)
    return ProviderRejected(code, str(message)[:200] if message else "")


def _object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment and moment.tzinfo else None
