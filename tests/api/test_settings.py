"""Production refuses placeholder secrets; development runs with none."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from api.settings import Settings

REAL = {
    "env": "production",
    "secret_key": "k" * 48,
    "lookup_key": "l" * 48,
    "pii_keys": "2026a:" + base64.b64encode(b"p" * 32).decode(),
    "sms_provider": "aliyun",
    "aliyun_access_key_id": "LTAI-test",
    "aliyun_sms_login_template": "SMS_000001",
    "database_url": "postgres://anxin@db.internal:5432/anxin",
}


def test_development_needs_no_settings() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.is_development
    assert settings.introspection_enabled
    assert settings.database_url.startswith("sqlite://")


def test_production_with_real_secrets_starts_without_introspection() -> None:
    settings = Settings(**REAL)
    assert not settings.introspection_enabled
    assert settings.current_pii_key_id == "2026a"


@pytest.mark.parametrize("name", ["secret_key", "lookup_key", "pii_keys"])
def test_production_refuses_placeholder_secrets(name: str) -> None:
    values = dict(REAL)
    del values[name]
    with pytest.raises(ValidationError, match=f"ANXIN_{name.upper()}"):
        Settings(**values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret_key": "short"}, "32\\+ characters"),
        ({"sms_provider": "console"}, "console"),
        (
            {"pii_keys": "prod:" + base64.b64encode(b"anxin-development-pii-key-32byte").decode()},
            "development key",
        ),
        ({"cors_origins": "*"}, "not \\*"),
        ({"database_url": "sqlite://data/anxin.sqlite3"}, "PostgreSQL"),
        ({"bench_counts": "true"}, "ANXIN_BENCH_COUNTS"),
    ],
)
def test_production_refuses_insecure_values(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**{**REAL, **change})


def test_pii_key_ring_and_origins_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new, old = base64.b64encode(b"n" * 32).decode(), base64.b64encode(b"o" * 32).decode()
    monkeypatch.setenv("ANXIN_PII_KEYS", f"k2:{new},k1:{old}")
    monkeypatch.setenv("ANXIN_CORS_ORIGINS", "https://app.example.cn, https://m.example.cn")
    settings = Settings()
    assert list(settings.pii_keyring) == ["k2", "k1"]
    assert settings.current_pii_key_id == "k2"
    assert settings.cors_origins == ["https://app.example.cn", "https://m.example.cn"]
    monkeypatch.setenv("ANXIN_PII_KEYS", "k1:dG9vLXNob3J0")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings()


def test_secrets_do_not_show_in_repr() -> None:
    assert "k" * 48 not in repr(Settings(**REAL))


def test_rate_limits_and_trusted_proxies_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workflows.limits import Rate

    assert Settings().trusted_proxies == []  # X-Forwarded-For is not believed by default
    monkeypatch.setenv("ANXIN_LIMIT_SMS_PER_IP", "30/1h")
    monkeypatch.setenv("ANXIN_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    settings = Settings()
    assert settings.limit_sms_per_ip == Rate(30, 3600)
    assert [str(n) for n in settings.trusted_proxy_networks] == ["10.0.0.0/8", "192.0.2.1/32"]
    monkeypatch.setenv("ANXIN_LIMIT_SMS_PER_IP", "lots")
    with pytest.raises(ValidationError, match="COUNT/WINDOW"):
        Settings()
    monkeypatch.setenv("ANXIN_LIMIT_SMS_PER_IP", "30/1h")
    monkeypatch.setenv("ANXIN_TRUSTED_PROXIES", "the-load-balancer")
    with pytest.raises(ValidationError, match="ANXIN_TRUSTED_PROXIES"):
        Settings()


WECHATPAY_NEEDS = [
    "ANXIN_WECHAT_APP_ID",
    "ANXIN_WECHATPAY_MERCHANT_SERIAL_NO",
    "ANXIN_WECHATPAY_PRIVATE_KEY",
    "ANXIN_WECHATPAY_APIV3_KEY",
    "ANXIN_WECHATPAY_PLATFORM_PUBLIC_KEY",
    "ANXIN_WECHATPAY_PLATFORM_SERIAL_NO",
]


def test_wechat_pay_names_every_missing_setting_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(wechatpay_merchant_id="1900000001", wechatpay_merchant_serial_no="SERIAL")
    message = str(refused.value)
    missing = [name for name in WECHATPAY_NEEDS if name != "ANXIN_WECHATPAY_MERCHANT_SERIAL_NO"]
    assert f"WeChat Pay also needs {', '.join(missing)}" in message
    assert "MERCHANT_SERIAL_NO" not in message.split("needs", 1)[1]


def test_wechat_pay_keys_that_do_not_load_are_named_without_their_value() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(
            wechat_app_id="wx-app",
            wechatpay_merchant_id="1900000001",
            wechatpay_merchant_serial_no="SERIAL",
            wechatpay_private_key="private-secret-material",
            wechatpay_apiv3_key="too-short-apiv3-secret",
            wechatpay_platform_public_key="not-a-key",
            wechatpay_platform_serial_no="PUB_KEY_ID_1",
        )
    message = str(refused.value)
    for name in ("APIV3_KEY", "PRIVATE_KEY", "PLATFORM_PUBLIC_KEY"):
        assert f"ANXIN_WECHATPAY_{name}" in message
    assert "private-secret-material" not in message and "too-short" not in message
