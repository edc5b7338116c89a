"""Messages to customers: SMS (Alibaba Cloud), the WeChat mini-program, APNs, FCM and
e-mail; a channel whose credentials are empty is off."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings


class SmsProvider(StrEnum):
    CONSOLE = "console"
    ALIYUN = "aliyun"


class MessagingSettings(BaseSettings):
    sms_provider: SmsProvider = SmsProvider.CONSOLE
    aliyun_sms_base_url: str = "https://dysmsapi.aliyuncs.com"
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: SecretStr = SecretStr("")
    aliyun_sms_sign_name: str = "安心保险"
    aliyun_sms_login_template: str = ""

    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr = SecretStr("")

    # The service number texts name ("如需帮助请致电…"); empty: they point to the app.
    service_hotline: str = ""
    # The web page that answers a survey by its link token (e-mail visits link to it).
    survey_link_base: str = "https://m.anxin.example.cn/survey?token="

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
