"""A fake Google OAuth2 token endpoint and FCM HTTP v1 send endpoint that judge our
requests as Google does; Starlette under uvicorn on 127.0.0.1.

``POST /token`` takes the service-account grant (RFC 7523): form-encoded
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``. The
assertion is checked here without PyJWT: RS256 (PKCS#1 v1.5, SHA-256) with the service
account's public key, ``iss`` the account, ``scope`` firebase.messaging, ``aud`` this
token URL, ``exp`` in the future and at most an hour after ``iat``. Refusals are
OAuth's ``{"error", "error_description"}``; a good grant gets an opaque token.

``POST /v1/projects/<project>/messages:send`` wants ``Authorization: Bearer`` with a
live token of ours, our project, and a v1 ``message`` of the right shape (one target,
string-only ``data``, no reserved keys). Errors are Google's JSON errors with
``status`` and ``details[].errorCode`` (FcmError) as FCM sends them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.server import serve

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_SECONDS = 3600
CLOCK_SKEW_SECONDS = 60
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
REGISTRATION_TOKEN = re.compile(r"[A-Za-z0-9_:\-]{20,4096}")
RESERVED_DATA_KEYS = frozenset({"from", "message_type", "notification"})
PRIORITIES = frozenset({"high", "normal"})


# ------------------------------------------------------------------ the grant check


class OAuthRefusal(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(error, description)
        self.error = error
        self.description = description


class FcmRefusal(Exception):
    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        error_code: str | None = None,
        field_name: str | None = None,
    ):
        super().__init__(code, status, message)
        details: list[dict[str, Any]] = []
        if error_code:
            details.append({"@type": FCM_ERROR, "errorCode": error_code})
        if field_name:
            details.append(
                {
                    "@type": BAD_REQUEST,
                    "fieldViolations": [{"field": field_name, "description": message}],
                }
            )
        self.code = code
        self.body: dict[str, Any] = {"error": {"code": code, "message": message, "status": status}}
        if details:
            self.body["error"]["details"] = details


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the JWS signature; returns (header, claims). Raises ValueError."""
    header_part, claims_part, signature_part = token.split(".")
    header = json.loads(b64url_decode(header_part))
    claims = json.loads(b64url_decode(claims_part))
    if header.get("alg") != "RS256":
        raise ValueError("not RS256")
    try:
        public_key.verify(
            b64url_decode(signature_part),
            f"{header_part}.{claims_part}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise ValueError("bad signature") from None
    return header, claims


# ------------------------------------------------------------------ the fake service


@dataclass(frozen=True)
class FcmDelivery:
    """A message FCM accepted."""

    name: str
    message: dict[str, Any]
    access_token: str


@dataclass(frozen=True)
class Grant:
    """A token request the endpoint accepted: the assertion's header and claims."""

    form: dict[str, str]
    header: dict[str, Any]
    claims: dict[str, Any]
    access_token: str


@dataclass
class FakeFcm:
    """One Firebase project and one service account allowed to send for it."""

    project_id: str
    client_email: str
    public_key: rsa.RSAPublicKey
    clock: Callable[[], float] = time.time
    token_lifetime: int = 3599  # what Google answers
    delivered: list[FcmDelivery] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    send_attempts: list[str] = field(default_factory=list)  # the bearer token of each
    unregistered: set[str] = field(default_factory=set)
    url: str = ""
    _tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry
    _queued: list[FcmRefusal] = field(default_factory=list)
    _token_failures: list[tuple[int, str]] = field(default_factory=list)
    _revoke_next: int = 0

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/token", self._token_endpoint, methods=["POST"]),
                Route(
                    "/v1/projects/{project}/messages:send", self._send_endpoint, methods=["POST"]
                ),
            ]
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeFcm]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def fail_next(
        self, code: int, status: str, error_code: str | None = None, message: str = "refused"
    ) -> None:
        """Answer the next authenticated, well-formed send with this error."""
        self._queued.append(FcmRefusal(code, status, message, error_code))

    def fail_next_grant(self, code: int, error: str) -> None:
        self._token_failures.append((code, error))

    def revoke_next_token(self) -> None:
        """The next send finds its access token revoked: 401, and the token stays dead."""
        self._revoke_next += 1

    def unregister(self, token: str) -> None:
        self.unregistered.add(token)

    # ------------------------------------------------------------ token endpoint

    async def _token_endpoint(self, request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse({"error": "invalid_request"}, 400)
        form = dict(parse_qsl(body, keep_blank_values=True))
        if self._token_failures:
            code, error = self._token_failures.pop(0)
            return JSONResponse({"error": error, "error_description": "refused"}, code)
        try:
            header, claims = self._judge_grant(form)
        except OAuthRefusal as refusal:
            answer = {"error": refusal.error, "error_description": refusal.description}
            return JSONResponse(answer, 400)
        access_token = "ya29.fake-" + secrets.token_urlsafe(32)
        self._tokens[access_token] = self.clock() + self.token_lifetime
        self.grants.append(Grant(form, header, claims, access_token))
        return JSONResponse(
            {
                "access_token": access_token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
            }
        )

    def _judge_grant(self, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        if form.get("grant_type") != GRANT_TYPE:
            raise OAuthRefusal("unsupported_grant_type", "Invalid grant_type: ")
        try:
            header, claims = verify_rs256(form.get("assertion", ""), self.public_key)
        except ValueError:
            raise OAuthRefusal("invalid_grant", "Invalid JWT Signature.") from None
        if claims.get("iss") != self.client_email:
            raise OAuthRefusal("invalid_grant", "Invalid grant: account not found")
        if SCOPE not in str(claims.get("scope", "")).split():
            raise OAuthRefusal(
                "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        if claims.get("aud") != self.token_url:
            raise OAuthRefusal("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.clock()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or iat > now + CLOCK_SKEW_SECONDS
            or exp <= now
            or exp - iat > MAX_ASSERTION_LIFETIME_SECONDS
        ):
            raise OAuthRefusal(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        return header, claims

    # ------------------------------------------------------------ send endpoint

    async def _send_endpoint(self, request: Request) -> JSONResponse:
        scheme, _, access_token = request.headers.get("authorization", "").partition(" ")
        self.send_attempts.append(access_token)
        try:
            self._authenticate(scheme, access_token, request.path_params["project"])
            message = self._check_message(await request.body())
            if self._queued:
                raise self._queued.pop(0)
            if message["token"] in self.unregistered:
                raise FcmRefusal(
                    404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"
                )
        except FcmRefusal as refusal:
            return JSONResponse(refusal.body, refusal.code)
        message_id = f"0:{secrets.randbelow(10**16)}%{secrets.token_hex(8)}"
        name = f"projects/{self.project_id}/messages/{message_id}"
        self.delivered.append(FcmDelivery(name, message, access_token))
        return JSONResponse({"name": name})

    def _authenticate(self, scheme: str, access_token: str, project: str) -> None:
        if self._revoke_next:
            self._revoke_next -= 1
            self._tokens.pop(access_token, None)
        expiry = self._tokens.get(access_token)
        if scheme.lower() != "bearer" or expiry is None or expiry <= self.clock():
            raise FcmRefusal(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        if project != self.project_id:
            raise FcmRefusal(
                403, "PERMISSION_DENIED", f"Permission denied on resource project {project}."
            )

    @staticmethod
    def _check_message(body: bytes) -> dict[str, Any]:
        def invalid(field_name: str, text: str) -> FcmRefusal:
            return FcmRefusal(400, "INVALID_ARGUMENT", text, "INVALID_ARGUMENT", field_name)

        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            raise invalid("message", "Invalid JSON payload received.") from None
        if not isinstance(message, dict):
            raise invalid("message", "Invalid JSON payload received.")
        if sum(key in message for key in ("token", "topic", "condition")) != 1:
            raise invalid("message", "Exactly one of token, topic or condition must be set.")
        if not REGISTRATION_TOKEN.fullmatch(str(message.get("token", ""))):
            raise invalid(
                "message.token", "The registration token is not a valid FCM registration token"
            )
        notification = message.get("notification", {})
        if not all(isinstance(notification.get(k, ""), str) for k in ("title", "body")):
            raise invalid("message.notification", "Invalid value at 'message.notification'")
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise invalid("message.data", "Invalid value at 'message.data': string values only")
        for key in data:
            if key in RESERVED_DATA_KEYS or key.lower().startswith(("google", "gcm")):
                raise invalid("message.data", f"Invalid data payload key: {key}")
        android = message.get("android", {})
        if str(android.get("priority", "normal")).lower() not in PRIORITIES:
            raise invalid("message.android.priority", "Invalid value at 'message.android.priority'")
        return message
