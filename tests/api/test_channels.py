"""Which channels a process builds from its settings."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.channels import build_channels, wechat_template_ids
from api.services import build_services
from api.settings import Settings
from models.notifications import Channel
from push.apns import ApnsChannel
from push.email import EmailChannel
from push.fcm import FcmChannel
from push.sms import SmsChannel
from push.wechat import WechatSubscribeChannel


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


async def test_only_configured_channels_are_built() -> None:
    async with httpx.AsyncClient() as http:
        bare = build_services(Settings(), http, None)
        assert set(build_channels(bare)) == {Channel.SMS}
        assert isinstance(build_channels(bare)[Channel.SMS].inner, SmsChannel)  # type: ignore[attr-defined]

        full = Settings(
            apns_team_id="TEAM123456",
            apns_key_id="KEY1234567",
            apns_topic="cn.anxin.app",
            apns_private_key=pem(ec.generate_private_key(ec.SECP256R1())),
            fcm_project_id="anxin",
            fcm_client_email="push@anxin.iam.example",
            fcm_private_key=pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            wechat_app_id="wx1",
            wechat_app_secret="s",
            wechat_message_templates={
                "claim.decided": {"template_id": "T1", "data": {"thing1": "{title}"}}
            },
            smtp_host="127.0.0.1",
        )
        services = build_services(full, http, None)
        channels = build_channels(services)
        assert isinstance(channels[Channel.APNS], ApnsChannel)
        assert isinstance(channels[Channel.FCM], FcmChannel)
        assert isinstance(channels[Channel.WECHAT], WechatSubscribeChannel)
        assert isinstance(channels[Channel.EMAIL].inner, EmailChannel)  # type: ignore[attr-defined]
        assert wechat_template_ids(services) == {"claim.decided": "T1"}
        await channels[Channel.APNS].aclose()  # type: ignore[attr-defined]


async def test_payment_providers_are_built_from_settings() -> None:
    import base64

    from api.services import build_payment_providers
    from payments.alipay import AlipayProvider
    from payments.sandbox import SandboxProvider
    from payments.wechat import WechatPayProvider

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    async with httpx.AsyncClient() as http:
        assert set(build_payment_providers(Settings(), http)) == {"sandbox"}
        configured = Settings(
            alipay_app_id="2021000000000001",
            alipay_seller_id="2088000000000001",
            alipay_app_private_key=pem(rsa_key),
            alipay_public_key=public,
            wechat_app_id="wx-app",
            wechatpay_merchant_id="1900000001",
            wechatpay_merchant_serial_no="SERIAL",
            wechatpay_private_key=pem(rsa_key),
            wechatpay_apiv3_key=base64.b64encode(b"k" * 24).decode()[:32],
            wechatpay_platform_public_key=public,
            wechatpay_platform_serial_no="PUB_KEY_ID_1",
        )
        providers = build_payment_providers(configured, http)
        assert isinstance(providers["sandbox"], SandboxProvider)
        assert isinstance(providers["alipay"], AlipayProvider)
        assert isinstance(providers["wechat"], WechatPayProvider)
        assert providers["wechat"].merchant_id == "1900000001"
