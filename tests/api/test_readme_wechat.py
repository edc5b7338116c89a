"""The README's WeChat section stays true: it names every WeChat setting the code
defines (a new ``ANXIN_WECHAT*`` setting fails here until the README lists it), and the
parameter names it tells the mini-program to pass to ``wx.requestPayment`` and
``wx.requestMerchantTransfer`` are the ones the provider really returns."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from api.settings import Settings
from payments.wechat import WechatPayProvider
from tests.payments.test_wechatpay import (
    APIV3_KEY,
    MCH_SERIAL,
    PLATFORM_SERIAL,
    private_pem,
    public_pem,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
HEADING = "### WeChat: the settings and the `wx` calls"
SECTION = README[README.index(HEADING) : README.index("\n## ", README.index(HEADING))]


def _paragraph(opening: str) -> str:
    """The text from ``opening`` to the next client call's paragraph."""
    start = SECTION.index(opening)
    following = SECTION.find("\n**`wx.", start + 1)
    return SECTION[start : following if following != -1 else None]


def test_the_section_names_every_wechat_setting_in_full() -> None:
    names = [f"ANXIN_{name.upper()}" for name in Settings.model_fields if "wechat" in name]
    assert len(names) >= 12  # login, subscribe messages and the seven WeChat Pay ones
    table = SECTION[SECTION.index("| setting |") :].split("\n\n")[0]
    listed = re.findall(r"^\| `(ANXIN_[A-Z0-9_]+)` \|", table, re.M)
    assert sorted(set(names) - set(listed)) == []  # every one, each on its own row
    assert len(listed) == len(set(listed))


def test_the_client_calls_name_the_fields_the_provider_returns() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider = WechatPayProvider(
        httpx.AsyncClient(),  # never used: nothing is sent
        base_url="http://127.0.0.1:9",
        app_id="wx-readme",
        merchant_id="1900000109",
        merchant_serial_no=MCH_SERIAL,
        merchant_private_key_pem=private_pem(key),
        apiv3_key=APIV3_KEY,
        platform_public_key_pem=public_pem(key),
        platform_serial_no=PLATFORM_SERIAL,
    )
    payment = _paragraph("**`wx.requestPayment`")
    for name in provider.request_payment_params("wx201410272009395522657a690389285100"):
        assert f"`{name}`" in payment, name
    transfer = _paragraph("**`wx.requestMerchantTransfer`")
    for name in provider.confirm_parameters("ABBQO+oYAAABAAAAAAAk"):
        assert f"`{name}`" in transfer, name
    for call in ("wx.login", "wx.requestPayment", "wx.requestMerchantTransfer"):
        assert f"**`{call}` → " in SECTION, call
