"""Settings from the environment (prefix ``ANXIN_``), validated once at start-up.

Grouped per concern, one module each (runtime, serving, security, messaging, payments,
claims, complaints); ``Settings`` joins the groups under the same flat variable names
(a group alone is not meant to be read from the environment). The composition root
(``api/services.py``) passes the values down; no adapter or workflow imports these
settings.

Development runs with no settings at all: SQLite file, in-process bus, console SMS and
fixed development secrets. Production refuses to start without real secrets, so a
forgotten variable cannot ship a guessable signing key.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from api.settings.benefits import BenefitSettings
from api.settings.claims import ClaimSettings, StorageBackend
from api.settings.complaints import ComplaintSettings
from api.settings.conversations import ConversationSettings
from api.settings.messaging import MessagingSettings, SmsProvider
from api.settings.payments import PaymentSettings
from api.settings.persisted import PersistedQueriesMode, PersistedQuerySettings
from api.settings.runtime import Environment, RuntimeSettings
from api.settings.security import (
    DEV_PII_KEY,
    DEV_PII_KEY_BYTES,
    DEV_PLACEHOLDER,
    RateSetting,
    SecuritySettings,
)
from api.settings.serving import ServingSettings

__all__ = [
    "DEV_PII_KEY",
    "DEV_PLACEHOLDER",
    "Environment",
    "PersistedQueriesMode",
    "RateSetting",
    "Settings",
    "SmsProvider",
    "StorageBackend",
]


class Settings(
    RuntimeSettings,
    ServingSettings,
    SecuritySettings,
    MessagingSettings,
    PaymentSettings,
    ClaimSettings,
    ComplaintSettings,
    ConversationSettings,
    PersistedQuerySettings,
    BenefitSettings,
):
    """Every knob of the gateway; the README has the same list as a table."""

    model_config = SettingsConfigDict(env_prefix="ANXIN_", extra="ignore")

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
        self._check_wechatpay()
        if (
            self.persisted_queries is PersistedQueriesMode.ALLOWLIST
            and self.persisted_queries_manifest is None
        ):
            raise ValueError(
                "ANXIN_PERSISTED_QUERIES=allowlist needs ANXIN_PERSISTED_QUERIES_MANIFEST"
            )
        if self.env is not Environment.PRODUCTION:
            return self
        if self.password_hash_memory_kib < 19_456 or self.password_hash_time_cost < 2:
            raise ValueError(
                "ANXIN_PASSWORD_HASH_*: production needs at least 19456 KiB and 2 passes"
            )
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
        if self.bench_counts:
            raise ValueError("ANXIN_BENCH_COUNTS is for benchmarks, not production")
        return self

    def _check_wechatpay(self) -> None:
        """WeChat Pay is on with a merchant id: then everything it needs must be there and
        usable, named in one message at start-up (not a traceback from the first payment
        or from building the provider)."""
        if not self.wechatpay_merchant_id:
            return
        from payments.wechat import load_private_key, load_public_key

        needed = {
            "ANXIN_WECHAT_APP_ID": self.wechat_app_id,
            "ANXIN_WECHATPAY_MERCHANT_SERIAL_NO": self.wechatpay_merchant_serial_no,
            "ANXIN_WECHATPAY_PRIVATE_KEY": self.wechatpay_private_key.get_secret_value(),
            "ANXIN_WECHATPAY_APIV3_KEY": self.wechatpay_apiv3_key.get_secret_value(),
            "ANXIN_WECHATPAY_PLATFORM_PUBLIC_KEY": (
                self.wechatpay_platform_public_key.get_secret_value()
            ),
            "ANXIN_WECHATPAY_PLATFORM_SERIAL_NO": self.wechatpay_platform_serial_no,
        }
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(
                f"ANXIN_WECHATPAY_MERCHANT_ID is set, so WeChat Pay also needs {', '.join(missing)}"
            )
        problems = []
        apiv3 = self.wechatpay_apiv3_key.get_secret_value()
        if len(apiv3) != 32 or not apiv3.isascii():
            problems.append("ANXIN_WECHATPAY_APIV3_KEY must be 32 ASCII characters")
        for name, load in (
            ("ANXIN_WECHATPAY_PRIVATE_KEY", load_private_key),
            ("ANXIN_WECHATPAY_PLATFORM_PUBLIC_KEY", load_public_key),
        ):
            try:
                load(needed[name])
            except ValueError as exc:  # the message never quotes the key
                problems.append(f"{name}: {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def introspection_enabled(self) -> bool:
        return self.is_development if self.introspection is None else self.introspection
