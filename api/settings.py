"""Settings from the environment (prefix ``ANXIN_``), validated once at start-up.

Development runs with no settings at all: SQLite file, in-process bus, console SMS and
fixed development secrets. Production refuses to start without real secrets, so a
forgotten variable cannot ship a guessable signing key.
"""

from __future__ import annotations

import base64
from enum import StrEnum
from functools import cached_property
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_PLACEHOLDER = "dev-insecure-change-me-never-use-in-production"
# 32 zero-ish bytes: good enough for a laptop, refused in production.
DEV_PII_KEY = "k1:" + base64.b64encode(b"anxin-development-pii-key-32byte").decode()


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SmsProvider(StrEnum):
    CONSOLE = "console"
    ALIYUN = "aliyun"


class Settings(BaseSettings):
    """Every knob of the gateway; the README has the same list as a table."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite://data/anxin.sqlite3"
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
    staff_max_failed_logins: int = 5
    staff_lockout_seconds: int = 900

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

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("cors_origins"), str):
            raw = data["cors_origins"]
            data["cors_origins"] = [o.strip() for o in raw.split(",") if o.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            for name in ("secret_key", "lookup_key", "pii_keys"):
                value = getattr(self, name).get_secret_value()
                if not value or DEV_PLACEHOLDER in value or value == DEV_PII_KEY:
                    raise ValueError(f"ANXIN_{name.upper()} must be set to a real secret")
                if name != "pii_keys" and len(value) < 32:
                    raise ValueError(f"ANXIN_{name.upper()} must be at least 32 characters")
            if self.sms_provider is SmsProvider.CONSOLE:
                raise ValueError("ANXIN_SMS_PROVIDER=console only works in development")
        self.pii_keyring  # noqa: B018 - validate the key ring early
        if self.sms_provider is SmsProvider.ALIYUN and not (
            self.aliyun_access_key_id and self.aliyun_sms_login_template
        ):
            raise ValueError("ANXIN_SMS_PROVIDER=aliyun needs the ALIYUN_* settings")
        return self

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

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
