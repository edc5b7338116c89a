"""Money: Alipay and WeChat Pay merchant credentials and the insurer's payment platform
(bank-card payouts); a provider whose id is empty is off."""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings


class PaymentSettings(BaseSettings):
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
    # (The insurance filing number and name reported with claim transfers are each
    # product's own: Product.filing_number / filing_name, not settings.)

    # The insurer's payment platform (资金平台): claim payouts to bank cards; empty app id:
    # off (development then pays cards through a sandbox).
    bank_transfer_url: str = ""  # base URL, e.g. https://fund.example.cn/api
    bank_transfer_app_id: str = ""
    bank_transfer_key: SecretStr = SecretStr("")  # HMAC-SHA256 key, signs both ways

    @model_validator(mode="after")
    def _bank_transfer_complete(self) -> PaymentSettings:
        if self.bank_transfer_app_id and not (
            self.bank_transfer_url.startswith(("https://", "http://"))
            and self.bank_transfer_key.get_secret_value()
        ):
            raise ValueError(
                "ANXIN_BANK_TRANSFER_APP_ID needs ANXIN_BANK_TRANSFER_URL (http/https) "
                "and ANXIN_BANK_TRANSFER_KEY"
            )
        return self
