"""A fake APNs provider API (``POST /3/device/<token>``) that judges requests as Apple
does, served over HTTP/2 by hypercorn on 127.0.0.1.

By default it runs behind TLS with a self-signed certificate made at start (HTTP/2
negotiated by ALPN, as with Apple); ``tls=False`` serves plaintext, where only HTTP/2
with prior knowledge (h2c) reaches it as HTTP/2. Any request that arrives as HTTP/1.x
is answered 505 and recorded: Apple speaks HTTP/2 only.

The provider token is checked here without PyJWT (so a bug shared with our signer
cannot hide): ES256 over ``header.claims`` with the raw 64-byte ``r || s`` signature
JWS requires (not DER), header ``alg``/``kid``, claims ``iss``/``iat``; older than an
hour is ExpiredProviderToken, and a token renewed within 20 minutes of the one before
is TooManyProviderTokenUpdates (429), as Apple throttles.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import logging
import re
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOST = "127.0.0.1"
TOKEN_MAX_AGE_SECONDS = 60 * 60
TOKEN_MIN_RENEWAL_SECONDS = 20 * 60
CLOCK_SKEW_SECONDS = 60
MAX_PAYLOAD_BYTES = 4096
DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64}")


# ------------------------------------------------------------------ TLS and serving


@dataclass(frozen=True)
class SelfSignedCertificate:
    cert_pem: bytes
    key_pem: bytes

    def write_to(self, folder: Path) -> tuple[str, str]:
        """Write the files hypercorn wants; returns (certfile, keyfile)."""
        cert, key = folder / "cert.pem", folder / "key.pem"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        return str(cert), str(key)

    def client_context(self) -> ssl.SSLContext:
        """What a client needs to trust this certificate, and nothing else."""
        return ssl.create_default_context(cadata=self.cert_pem.decode())


def self_signed_certificate(host: str = HOST) -> SelfSignedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake APNs")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SelfSignedCertificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)


@asynccontextmanager
async def serve_http2(
    app: Any, certificate: SelfSignedCertificate | None = None
) -> AsyncIterator[str]:
    """Serve ``app`` with hypercorn (HTTP/2 and HTTP/1.1) until the block ends; yields the
    base URL, ``https://`` with a certificate, else ``http://``.

    The socket is bound and listening before hypercorn starts, so the port is ours and a
    client connecting early waits in the backlog instead of being refused.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(100)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns and closes it
    config.accesslog = None
    config.errorlog = logging.getLogger("tests.fakes.apns.server")  # no stderr handler
    config.graceful_timeout = 2
    shutdown = asyncio.Event()
    with tempfile.TemporaryDirectory() as folder:
        scheme = "http"
        if certificate is not None:
            scheme = "https"
            config.certfile, config.keyfile = certificate.write_to(Path(folder))
        task = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=shutdown.wait))
        try:
            await asyncio.sleep(0)
            if task.done():
                task.result()  # surface a startup failure
            yield f"{scheme}://{HOST}:{port}"
        finally:
            shutdown.set()
            await task


# ------------------------------------------------------------------ the token check


class Refusal(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_es256(
    token: str, public_key: ec.EllipticCurvePublicKey
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the JWS signature; returns (header, claims). Raises ValueError."""
    header_part, claims_part, signature_part = token.split(".")
    header = json.loads(b64url_decode(header_part))
    claims = json.loads(b64url_decode(claims_part))
    signature = b64url_decode(signature_part)
    if header.get("alg") != "ES256" or len(signature) != 64:
        raise ValueError("not ES256 with a raw r||s signature")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public_key.verify(der, f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("bad signature") from None
    return header, claims


# ------------------------------------------------------------------ the fake service


@dataclass(frozen=True)
class ApnsRequest:
    """One request as it arrived, with the answer given."""

    http_version: str
    token: str
    headers: dict[str, str]
    body: bytes
    status: int
    reason: str

    @property
    def jwt(self) -> str:
        return self.headers.get("authorization", "").partition(" ")[2]


@dataclass(frozen=True)
class ApnsNotification:
    """A notification Apple accepted: what the device will show."""

    token: str
    apns_id: str
    headers: dict[str, str]
    payload: dict[str, Any]
    jwt_header: dict[str, Any]
    jwt_claims: dict[str, Any]


@dataclass
class FakeApns:
    """One team's signing key (``key_id`` + public key) and one app (``topic``)."""

    team_id: str
    key_id: str
    public_key: ec.EllipticCurvePublicKey
    topic: str
    clock: Callable[[], float] = time.time
    tls: bool = True
    delay_seconds: float = 0.0
    delivered: list[ApnsNotification] = field(default_factory=list)
    requests: list[ApnsRequest] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)
    url: str = ""
    certificate: SelfSignedCertificate | None = field(default=None, repr=False)
    _queued: list[tuple[int, str]] = field(default_factory=list)
    _current_iat: int | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/3/device/{token}", self._endpoint, methods=["POST"])])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeApns]:
        self.certificate = self_signed_certificate() if self.tls else None
        async with serve_http2(self.app, self.certificate) as url:
            self.url = url
            yield self

    def client_context(self) -> ssl.SSLContext:
        assert self.certificate is not None, "the fake runs without TLS"
        return self.certificate.client_context()

    def fail_next(self, status: int, reason: str) -> None:
        """Answer the next authenticated, well-formed request with this refusal."""
        self._queued.append((status, reason))

    def unregister(self, token: str) -> None:
        """The app was removed from the device: 410 Unregistered from now on."""
        self.unregistered.add(token)

    # ------------------------------------------------------------ HTTP

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        token = request.path_params["token"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        version = str(request.scope.get("http_version"))
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        try:
            if version != "2":
                raise Refusal(505, "HTTP2Required")  # the fake's verdict: Apple is h2-only
            notification = self._judge(token, headers, body, apns_id)
        except Refusal as refusal:
            self.requests.append(
                ApnsRequest(version, token, headers, body, refusal.status, refusal.reason)
            )
            answer: dict[str, Any] = {"reason": refusal.reason}
            if refusal.status == 410:
                answer["timestamp"] = int(self.clock() * 1000)
            return JSONResponse(answer, refusal.status, headers={"apns-id": apns_id})
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        self.requests.append(ApnsRequest(version, token, headers, body, 200, ""))
        self.delivered.append(notification)
        return Response(status_code=200, headers={"apns-id": apns_id})

    # ------------------------------------------------------------ the checks

    def _judge(
        self, token: str, headers: dict[str, str], body: bytes, apns_id: str
    ) -> ApnsNotification:
        jwt_header, claims = self._authenticate(headers)
        self._check_headers(headers)
        if self._queued:
            raise Refusal(*self._queued.pop(0))
        if not DEVICE_TOKEN.fullmatch(token):
            raise Refusal(400, "BadDeviceToken")
        if token in self.unregistered:
            raise Refusal(410, "Unregistered")
        payload = self._check_payload(body)
        return ApnsNotification(token, apns_id, headers, payload, jwt_header, claims)

    def _authenticate(self, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Refusal(403, "MissingProviderToken")
        try:
            jwt_header, claims = verify_es256(token, self.public_key)
        except ValueError:
            raise Refusal(403, "InvalidProviderToken") from None
        if jwt_header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            raise Refusal(403, "InvalidProviderToken")
        iat = claims.get("iat")
        now = self.clock()
        if not isinstance(iat, int) or iat > now + CLOCK_SKEW_SECONDS:
            raise Refusal(403, "InvalidProviderToken")
        if now - iat > TOKEN_MAX_AGE_SECONDS:
            raise Refusal(403, "ExpiredProviderToken")
        self._note_renewal(iat)
        return jwt_header, claims

    def _note_renewal(self, iat: int) -> None:
        current = self._current_iat
        if current is not None and current < iat < current + TOKEN_MIN_RENEWAL_SECONDS:
            raise Refusal(429, "TooManyProviderTokenUpdates")
        if current is None or iat > current:
            self._current_iat = iat

    def _check_headers(self, headers: dict[str, str]) -> None:
        topic = headers.get("apns-topic")
        if not topic:
            raise Refusal(400, "MissingTopic")
        if topic != self.topic:
            raise Refusal(400, "TopicDisallowed")
        if headers.get("apns-push-type") != "alert":
            raise Refusal(400, "InvalidPushType")
        if headers.get("apns-priority", "10") not in {"5", "10"}:
            raise Refusal(400, "BadPriority")
        if not headers.get("apns-expiration", "0").isdigit():
            raise Refusal(400, "BadExpirationDate")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            raise Refusal(400, "BadCollapseId")

    @staticmethod
    def _check_payload(body: bytes) -> dict[str, Any]:
        if len(body) > MAX_PAYLOAD_BYTES:
            raise Refusal(413, "PayloadTooLarge")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Refusal(400, "PayloadEmpty") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            raise Refusal(400, "PayloadEmpty")
        return payload
