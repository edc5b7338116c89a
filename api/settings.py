"""Settings from the environment (prefix ``ANXIN_``), validated once at start-up.

Development runs with no settings at all: SQLite file, in-process bus, console SMS and
fixed development secrets. Production refuses to start without real secrets, so a
forgotten variable cannot ship a guessable signing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.config import DEFAULT_DATABASE_URL
from workflows.limits import Rate

DEV_PLACEHOLDER = "dev-insecure-change-me-never-use-in-production"
# A fixed key: good enough for a laptop, refused in production under any key id.
DEV_PII_KEY_BYTES = b"anxin-development-pii-key-32byte"
DEV_PII_KEY = "k1:" + base64.b64encode(DEV_PII_KEY_BYTES).decode()


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class SmsProvider(StrEnum):
    CONSOLE = "console"
    ALIYUN = "aliyun"


def _rate(value: object) -> object:
    return Rate.parse(value) if isinstance(value, str) else value


# A rate limit: COUNT/WINDOW, e.g. "10/10m", "20/1h", "5/900" (seconds); "0/1m" is off.
RateSetting = Annotated[Rate, NoDecode, BeforeValidator(_rate)]


class Settings(BaseSettings):
    """Every knob of the gateway; the README has the same list as a table."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None

    # Secrets. Placeholders only work in development.
    secret_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    lookup_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    pii_keys: SecretStr = SecretStr(DEV_PII_KEY)

    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
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
    # A WARNING on the anxin.security logger (once per window) past this many lockouts.
    lockout_storm: RateSetting = Rate(20, 300)

    sms_provider: SmsProvider = SmsProvider.CONSOLE
    aliyun_sms_base_url: str = "https://dysmsapi.aliyuncs.com"
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: SecretStr = SecretStr("")
    aliyun_sms_sign_name: str = "安心保险"
    aliyun_sms_login_template: str = ""

    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr = SecretStr("")

    http_timeout_seconds: float = 5.0

    # Request sizes, enforced before a body is read (413). Multipart requests to /graphql
    # may carry upload_max_files files: upload_max_files x upload_max_bytes in total plus
    # this JSON limit, each part at most twice upload_max_bytes (a photo just over its
    # limit still gets the typed FILE_TOO_LARGE answer; a 1 GiB part is cut off).
    graphql_max_body_bytes: int = Field(1024 * 1024, ge=1024)  # JSON bodies to /graphql
    callback_max_body_bytes: int = Field(64 * 1024, ge=1024)  # /payments/*/notify
    default_max_body_bytes: int = Field(64 * 1024, ge=1024)  # any other route
    websocket_max_message_bytes: int = Field(256 * 1024, ge=1024)  # each message

    # Where providers reach this gateway (payment callbacks).
    public_base_url: str = "http://127.0.0.1:8000"
    # The web page that answers a survey by its link token (e-mail visits link to it).
    survey_link_base: str = "https://m.anxin.example.cn/survey?token="

    # Alipay (the app's payment method); empty app id: off.
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_app_id: str = ""
    alipay_seller_id: str = ""  # the 2088… partner id notifications name
    alipay_app_private_key: SecretStr = SecretStr("")  # PKCS#1 or PKCS#8 PEM
    alipay_public_key: SecretStr = SecretStr("")  # Alipay's public key (PEM or base64)

    # WeChat Pay API v3 (the mini-program's payment method); empty merchant id: off.
    wechatpay_base_url: str = "https://api.mch.weixin.qq.com"
    wechatpay_merchant_id: str = ""
    wechatpay_merchant_serial_no: str = ""
    wechatpay_private_key: SecretStr = SecretStr("")  # the merchant API key (PEM)
    wechatpay_apiv3_key: SecretStr = SecretStr("")  # decrypts callback resources
    wechatpay_platform_public_key: SecretStr = SecretStr("")  # verifies WeChat's signatures
    wechatpay_platform_serial_no: str = ""
    wechatpay_insurance_filing_no: str = ""  # 保险产品备案编号, reported with claim transfers
    wechatpay_insurance_product_name: str = ""  # 保险名称, reported with claim transfers

    # Claims: above this approved amount an adjuster's decision waits for a supervisor.
    adjuster_authority_limit: Decimal = Decimal("50000.00")

    # Claim photos and documents.
    storage_backend: StorageBackend = StorageBackend.LOCAL
    storage_root: Path = Path("data/files")
    storage_url_prefix: str = "/files"  # or an absolute https URL behind a proxy
    storage_temp_dir: Path | None = None  # on disk, not tmpfs: uploads spool here
    signed_url_ttl_seconds: int = Field(300, ge=10, le=86_400)
    upload_max_bytes: int = 25 * 1024 * 1024
    upload_max_pixels: int = 50_000_000  # 48 MP iPhone photos pass
    upload_max_files: int = 10  # per request
    upload_decode_concurrency: int = 2
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_region: str = "cn-north-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")

    # Background jobs (outbox relay, deliveries, reminders) inside the API process.
    # None: yes without Redis (the single-process embedded default), else `anxin worker`.
    background_jobs: bool | None = None
    # Seconds between runs of a periodic job, by job name, where the declared interval
    # does not suit (e.g. {"payouts": 20}); the names are in the README.
    job_intervals: dict[str, float] = {}
    # A long-running loop (relay, deliveries, jobs, bus listener) counts as stuck, and the
    # process as unready, after this many failures in a row or this long without success.
    loop_max_failures: int = Field(5, ge=1)
    loop_stale_seconds: float = Field(60.0, gt=0)
    worker_health_port: int | None = None  # `anxin worker` answers /healthz, /readyz here
    worker_health_host: str = "127.0.0.1"  # 0.0.0.0 for probes from outside the container

    # Push channels; a channel whose credentials are empty is off.
    apns_base_url: str = "https://api.push.apple.com"
    apns_team_id: str = ""
    apns_key_id: str = ""
    apns_private_key: SecretStr = SecretStr("")  # the .p8 signing key (PEM)
    apns_topic: str = ""  # the iOS app's bundle id
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_token_url: str = "https://oauth2.googleapis.com/token"
    fcm_project_id: str = ""
    fcm_client_email: str = ""
    fcm_private_key: SecretStr = SecretStr("")  # the service account's key (PEM)
    # event kind -> {"template_id": ..., "data": {"thing1": "{title}", ...}}
    wechat_message_templates: dict[str, dict[str, Any]] = {}
    wechat_mini_program_state: str = "formal"
    sms_templates: dict[str, str] = {}  # event kind -> Alibaba Cloud template code
    smtp_host: str = ""
    smtp_port: int = 465
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_sender: str = "安心保险 <service@anxin.example.cn>"
    smtp_use_tls: bool = True  # implicit TLS (port 465); False with STARTTLS or plain
    smtp_start_tls: bool = False

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("cors_origins", "trusted_proxies"):
                if isinstance(data.get(name), str):
                    data[name] = [o.strip() for o in data[name].split(",") if o.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        ring = self.pii_keyring  # validates the key ring in every environment
        try:
            self.trusted_proxy_networks  # noqa: B018 - validates the list
        except ValueError as exc:
            raise ValueError(f"ANXIN_TRUSTED_PROXIES: {exc}") from None
        if self.storage_backend is StorageBackend.S3 and not (
            self.s3_endpoint_url and self.s3_bucket and self.s3_access_key_id
        ):
            raise ValueError("ANXIN_STORAGE_BACKEND=s3 needs the ANXIN_S3_* settings")
        if self.sms_provider is SmsProvider.ALIYUN and not (
            self.aliyun_access_key_id and self.aliyun_sms_login_template
        ):
            raise ValueError("ANXIN_SMS_PROVIDER=aliyun needs the ALIYUN_* settings")
        if self.env is not Environment.PRODUCTION:
            return self
        for name in ("secret_key", "lookup_key"):
            value = getattr(self, name).get_secret_value()
            if DEV_PLACEHOLDER in value or len(value) < 32:
                raise ValueError(f"ANXIN_{name.upper()} must be a real secret of 32+ characters")
        if DEV_PII_KEY_BYTES in ring.values():
            raise ValueError("ANXIN_PII_KEYS must not contain the development key")
        if self.sms_provider is SmsProvider.CONSOLE:
            raise ValueError("ANXIN_SMS_PROVIDER=console only works in development")
        if "*" in self.cors_origins:
            raise ValueError("ANXIN_CORS_ORIGINS must list origins, not *")
        if self.database_url.startswith("sqlite"):
            raise ValueError("ANXIN_DATABASE_URL must name PostgreSQL in production")
        return self

    @cached_property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies)

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

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

    @property
    def run_background_jobs(self) -> bool:
        return self.redis_url is None if self.background_jobs is None else self.background_jobs

    @property
    def introspection_enabled(self) -> bool:
        return self.is_development if self.introspection is None else self.introspection

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
