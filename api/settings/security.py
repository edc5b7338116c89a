"""Secrets, tokens, query limits, logins, client rate limits and request sizes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from functools import cached_property
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode

from workflows.limits import Rate

DEV_PLACEHOLDER = "dev-insecure-change-me-never-use-in-production"
# A fixed key: good enough for a laptop, refused in production under any key id.
DEV_PII_KEY_BYTES = b"anxin-development-pii-key-32byte"
DEV_PII_KEY = "k1:" + base64.b64encode(DEV_PII_KEY_BYTES).decode()


def _rate(value: object) -> object:
    return Rate.parse(value) if isinstance(value, str) else value


# A rate limit: COUNT/WINDOW, e.g. "10/10m", "20/1h", "5/900" (seconds); "0/1m" is off.
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(_rate)]


class SecuritySettings(BaseSettings):
    # Secrets. Placeholders only work in development.
    secret_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    lookup_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    pii_keys: SecretStr = SecretStr(DEV_PII_KEY)

    # argon2id cost of staff passwords (argon2-cffi's defaults, above OWASP's minimum of
    # 19 MiB x 2 passes, which production refuses to go below); tests use the lowest.
    password_hash_time_cost: int = Field(3, ge=1)
    password_hash_memory_kib: int = Field(65_536, ge=8)
    password_hash_parallelism: int = Field(4, ge=1)

    # At least 10 s: short enough to test token expiry on a live socket with real clients.
    access_token_ttl_seconds: int = Field(900, ge=10, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=3_600)
    cors_origins: Annotated[list[str], NoDecode] = []
    introspection: bool | None = None  # None: on in development, off in production

    max_query_depth: int = 12
    max_aliases: int = 30
    max_query_tokens: int = 3_000

    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    otp_resend_seconds: int = 60
    otp_max_per_hour: int = 10
    # Staff password guesses: locked per username AND client IP after this many
    # failures (unknown usernames alike, so a lock tells nothing), for this long.
    staff_max_failed_logins: int = 5
    staff_lockout_seconds: int = 900
    # Tries per username from all clients together within the lockout time before the
    # username is locked for everyone (guessing spread over many IPs); 0: no ceiling.
    staff_max_failed_logins_per_account: int = 100
    # A staff access token whose session was not used for this long is refused
    # (STAFF_SESSION_IDLE); the staff member logs in again.
    staff_idle_timeout_seconds: int = Field(1800, ge=60, le=86_400)
    # Full personal values one staff member may read in an hour before admins get a
    # PII reveal alert (workflows/privacy).
    pii_reveal_alert_per_hour: int = Field(50, ge=1, le=100_000)
    # Personal data downloads (requestMyData): how long the signed link lives.
    data_export_link_seconds: int = Field(3600, ge=60, le=7 * 86_400)

    # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; none by
    # default: the peer address is the client, and the header is ignored.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    # Per-client rate limits (see workflows/limits.py). "IP" is the client address,
    # "installation" the app's X-Anxin-Installation header.
    limit_sms_per_ip: RateSetting = Rate(10, 600)
    limit_sms_per_installation: RateSetting = Rate(5, 3600)
    limit_login_per_ip: RateSetting = Rate(20, 60)  # staff, SMS-code and WeChat logins
    limit_login_per_installation: RateSetting = Rate(10, 600)
    limit_survey_token_per_ip: RateSetting = Rate(30, 600)
    limit_ratings_per_customer: RateSetting = Rate(20, 3600)
    # Service-plan questionnaires a customer may submit (each reads their policies and
    # stores a plan; interest in its products creates work for agents).
    limit_service_plans_per_customer: RateSetting = Rate(10, 3600)
    # Files sent to POST /uploads/claim-documents (the mini-program's uploads), per account.
    limit_uploads_per_account: RateSetting = Rate(60, 600)
    # Figures exported from the operations console (GET /console/export), per staff member.
    limit_dashboard_exports_per_staff: RateSetting = Rate(30, 600)
    # A WARNING on the anxin.security logger (once per window) past this many lockouts.
    lockout_storm: RateSetting = Rate(20, 300)

    # Request sizes, enforced before a body is read (413). Multipart requests to /graphql
    # may carry upload_max_files files: upload_max_files x upload_max_bytes in total plus
    # this JSON limit, each part at most twice upload_max_bytes (a photo just over its
    # limit still gets the typed FILE_TOO_LARGE answer; a 1 GiB part is cut off).
    graphql_max_body_bytes: int = Field(1024 * 1024, ge=1024)  # JSON bodies to /graphql
    callback_max_body_bytes: int = Field(64 * 1024, ge=1024)  # /payments/*/notify
    default_max_body_bytes: int = Field(64 * 1024, ge=1024)  # any other route
    websocket_max_message_bytes: int = Field(256 * 1024, ge=1024)  # each message

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @property
    def file_signing_key(self) -> bytes:
        """Derived from the secret key: one secret less to manage."""
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, b"anxin/file-urls", hashlib.sha256).digest()

    @property
    def survey_link_key(self) -> bytes:
        """Signs survey link tokens (derived from the secret key): a token is computed
        when it is sent and checked by computing it again, so it is never stored."""
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, b"anxin/survey-links", hashlib.sha256).digest()

    @property
    def survey_pseudonym_key(self) -> bytes:
        """Names customers in third-party survey files: derived from the lookup key (which
        must stay stable anyway), and unlike the phone lookup hashes, so the two never match."""
        secret = self.lookup_key.get_secret_value().encode()
        return hmac.new(secret, b"anxin/survey-pseudonyms", hashlib.sha256).digest()

    @cached_property
    def pii_keyring(self) -> dict[str, bytes]:
        """``kid:base64key,kid2:...``; the first key encrypts, all of them decrypt."""
        ring: dict[str, bytes] = {}
        for item in self.pii_keys.get_secret_value().split(","):
            kid, _, encoded = item.strip().partition(":")
            key = base64.b64decode(encoded)
            if not kid or len(key) != 32:
                raise ValueError("ANXIN_PII_KEYS entries must be kid:base64(32 bytes)")
            ring[kid] = key
        return ring

    @property
    def current_pii_key_id(self) -> str:
        return next(iter(self.pii_keyring))
