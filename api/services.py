"""The process-wide dependencies, built once in the lifespan and handed to workflows.

Everything is passed explicitly (no registries), so a test can build its own.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError

from api.memory import TrimWhenIdle
from api.settings import Settings, SmsProvider, StorageBackend
from models.pii import PiiCipher
from payments.base import PaymentProvider, TransferProvider
from payments.invoicing import InvoiceProvider, SandboxInvoiceProvider
from payments.sandbox import BankSandbox, SandboxProvider
from push.bus import EventBus, build_bus
from push.loops import LoopHealth
from push.queue import DeliveryQueue, build_queue
from push.sms import AliyunSmsSender, ConsoleSmsSender, SmsSender
from push.survey_links import SurveyLinks
from push.wechat_login import WechatMiniProgram
from storage.base import ObjectStorage
from storage.decoding import DecodeGate
from storage.local import LocalStorage
from storage.s3 import S3Storage
from workflows import auth
from workflows.benefits import BookingDeps, PartnerDirectory
from workflows.claim_documents import DocumentIntake
from workflows.complaints.rules import ClockSettings
from workflows.limits import RateLimiter, build_limiter
from workflows.policy_service.documents import DocumentDeps
from workflows.policy_service.identity import RealNameVerifier, SandboxRealName
from workflows.privacy.reveal import RevealLimits


@dataclass
class Services:
    settings: Settings
    http: httpx.AsyncClient
    pii: PiiCipher
    sms: SmsSender
    wechat: WechatMiniProgram
    redis: redis.Redis | None  # None: the embedded default, no Redis
    bus: EventBus
    queue: DeliveryQueue
    storage: ObjectStorage
    upload_gate: DecodeGate  # how many photos decode at once, by count and bytes
    payment_providers: dict[str, PaymentProvider]
    bank_providers: dict[str, TransferProvider]  # claim payouts to bank cards
    limiter: RateLimiter  # per-client rate limits: Redis when configured, else in memory
    survey_links: SurveyLinks  # survey link tokens: derived when sent, never stored
    loops: LoopHealth = field(default_factory=LoopHealth)  # what /readyz reports
    # E-invoices (电子发票): the sandbox in development; no real platform is wired yet.
    invoice_provider: InvoiceProvider | None = None
    # Real-name verification of applicants (实名核验): the sandbox until a provider is wired.
    real_name: RealNameVerifier = field(default_factory=SandboxRealName)
    # Value-added service partners: adapters built from the catalogue and the secrets.
    partners: PartnerDirectory | None = None

    @property
    def transfer_providers(self) -> dict[str, TransferProvider]:
        """Where claim payouts can go: every payment provider, and bank cards."""
        return {**self.payment_providers, **self.bank_providers}

    @property
    def bookings(self) -> BookingDeps:
        """What booking a value-added service needs: the partners and the PII cipher."""
        if self.partners is None:
            raise RuntimeError("services built without partners")
        return BookingDeps(self.partners, self.pii)

    @property
    def reveal_limits(self) -> RevealLimits:
        """When staff reads of full personal values raise an alert (the settings)."""
        return RevealLimits(self.settings.pii_reveal_alert_per_hour)

    @property
    def complaint_clocks(self) -> ClockSettings:
        """The complaint first-response times, from the settings."""
        return ClockSettings(
            major=timedelta(minutes=self.settings.complaint_first_response_major_minutes),
            urgent=timedelta(minutes=self.settings.complaint_first_response_urgent_minutes),
            general_working_days=self.settings.complaint_first_response_general_working_days,
        )

    @property
    def documents(self) -> DocumentDeps:
        """What issuing policy documents needs: the object store and the public address
        their QR codes open."""
        return DocumentDeps(self.storage, self.settings.public_base_url, self.reveal_limits)

    @property
    def document_intake(self) -> DocumentIntake:
        """What the claims workflow needs to take in uploaded files."""
        return DocumentIntake(
            storage=self.storage,
            decoding=self.upload_gate,
            max_files=self.settings.upload_max_files,
            max_bytes=self.settings.upload_max_bytes,
            max_pixels=self.settings.upload_max_pixels,
            temp_dir=self.settings.storage_temp_dir,
        )


# One reconnect for a connection that broke (a Redis restart), quickly; a timeout is not
# retried (a hung Redis costs one timeout per call, not several). redis-py's own default
# (ten retries backing off up to 1 s, when a client is built from host and port) cost
# ~3.6 s per call while Redis was down; `from_url` had none (the next library version
# may differ): explicit here.
REDIS_RETRY = Retry(
    ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1, supported_errors=(ConnectionError,)
)


def connect_redis(
    url: str, *, socket_connect_timeout: float | None = None, socket_timeout: float | None = None
) -> redis.Redis:
    """The process's Redis client, with bounded retries."""
    client: redis.Redis = redis.Redis.from_url(
        url,
        retry=copy.deepcopy(REDIS_RETRY),
        socket_connect_timeout=socket_connect_timeout,
        socket_timeout=socket_timeout,
    )
    return client


def build_pii_cipher(settings: Settings) -> PiiCipher:
    return PiiCipher(
        settings.pii_keyring,
        settings.current_pii_key_id,
        settings.lookup_key.get_secret_value().encode(),
    )


def build_storage(settings: Settings, http: httpx.AsyncClient) -> ObjectStorage:
    if settings.storage_backend is StorageBackend.S3:
        return S3Storage(
            http,
            endpoint_url=settings.s3_endpoint_url,
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            temp_dir=settings.storage_temp_dir,
        )
    return LocalStorage(
        settings.storage_root,
        url_prefix=settings.storage_url_prefix,
        signing_key=settings.file_signing_key,
    )


def build_payment_providers(
    settings: Settings, http: httpx.AsyncClient
) -> dict[str, PaymentProvider]:
    """The sandbox in development; Alipay and WeChat Pay when configured."""
    providers: dict[str, PaymentProvider] = {}
    if settings.is_development:
        key = hmac.new(settings.file_signing_key, b"anxin/sandbox-pay", hashlib.sha256)
        providers["sandbox"] = SandboxProvider(key.digest())
    if settings.alipay_app_id:
        from payments.alipay import AlipayProvider

        providers["alipay"] = AlipayProvider(
            http,
            gateway_url=settings.alipay_gateway_url,
            app_id=settings.alipay_app_id,
            seller_id=settings.alipay_seller_id,
            app_private_key_pem=settings.alipay_app_private_key.get_secret_value(),
            alipay_public_key_pem=settings.alipay_public_key.get_secret_value(),
        )
    if settings.wechatpay_merchant_id:
        from payments.wechat import WechatPayProvider

        providers["wechat"] = WechatPayProvider(
            http,
            base_url=settings.wechatpay_base_url,
            app_id=settings.wechat_app_id,
            merchant_id=settings.wechatpay_merchant_id,
            merchant_serial_no=settings.wechatpay_merchant_serial_no,
            merchant_private_key_pem=settings.wechatpay_private_key.get_secret_value(),
            apiv3_key=settings.wechatpay_apiv3_key.get_secret_value(),
            platform_public_key_pem=settings.wechatpay_platform_public_key.get_secret_value(),
            platform_serial_no=settings.wechatpay_platform_serial_no,
        )
    return providers


def build_bank_providers(
    settings: Settings, http: httpx.AsyncClient
) -> dict[str, TransferProvider]:
    """Bank-card payouts ("bank"): the insurer's payment platform when configured, else
    a sandbox in development."""
    providers: dict[str, TransferProvider] = {}
    if settings.bank_transfer_app_id:
        from payments.bank import NOTIFY_PATH, BankTransferProvider

        providers["bank"] = BankTransferProvider(
            http,
            base_url=settings.bank_transfer_url,
            app_id=settings.bank_transfer_app_id,
            key=settings.bank_transfer_key.get_secret_value(),
            # The platform signs callbacks over the path of the notify_url it was given.
            notify_path=urlsplit(settings.public_base_url).path.rstrip("/") + NOTIFY_PATH,
        )
    elif settings.is_development:
        key = hmac.new(settings.file_signing_key, b"anxin/sandbox-bank", hashlib.sha256)
        providers["bank"] = BankSandbox(key.digest())
    return providers


def build_services(
    settings: Settings, http: httpx.AsyncClient, redis_client: redis.Redis | None
) -> Services:
    auth.configure_password_hashing(
        settings.password_hash_time_cost,
        settings.password_hash_memory_kib,
        settings.password_hash_parallelism,
    )
    sms: SmsSender
    if settings.sms_provider is SmsProvider.ALIYUN:
        sms = AliyunSmsSender(
            http,
            base_url=settings.aliyun_sms_base_url,
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret.get_secret_value(),
            sign_name=settings.aliyun_sms_sign_name,
            login_template=settings.aliyun_sms_login_template,
        )
    else:
        sms = ConsoleSmsSender()
    wechat = WechatMiniProgram(
        http,
        base_url=settings.wechat_api_base_url,
        app_id=settings.wechat_app_id,
        secret=settings.wechat_app_secret.get_secret_value(),
    )
    loops = LoopHealth(
        max_failures=settings.loop_max_failures, stale_seconds=settings.loop_stale_seconds
    )
    return Services(
        settings,
        http,
        build_pii_cipher(settings),
        sms,
        wechat,
        redis_client,
        build_bus(redis_client, loops),
        build_queue(redis_client),
        build_storage(settings, http),
        DecodeGate(
            settings.upload_decode_concurrency,
            settings.upload_decode_memory_bytes,
            on_idle=TrimWhenIdle(),
        ),
        build_payment_providers(settings, http),
        build_bank_providers(settings, http),
        build_limiter(redis_client),
        SurveyLinks(settings.survey_link_key, settings.survey_link_base),
        loops=loops,
        invoice_provider=SandboxInvoiceProvider() if settings.is_development else None,
        partners=PartnerDirectory(
            http,
            {code: s.get_secret_value().encode() for code, s in settings.partner_secrets.items()},
            development=settings.is_development,
            dev_key=settings.file_signing_key if settings.is_development else b"",
        ),
    )
