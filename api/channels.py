"""The push channels this process can use, built from settings: a channel whose
credentials are not configured is absent, and its deliveries are marked SKIPPED."""

from __future__ import annotations

from api.services import Services
from api.settings import SmsProvider
from models.notifications import Channel
from push.base import PushChannel
from push.sms import SmsChannel
from push.survey_links import EmailWithSurveyLink, SmsWithSurveyToken
from push.templates import TEMPLATES


def build_channels(services: Services) -> dict[Channel, PushChannel]:
    settings = services.settings
    links = services.survey_links  # survey link tokens are added when sent, never stored
    channels: dict[Channel, PushChannel] = {}
    if settings.apns_key_id and settings.apns_team_id and settings.apns_topic:
        from push.apns import ApnsChannel

        channels[Channel.APNS] = ApnsChannel(
            None,
            base_url=settings.apns_base_url,
            team_id=settings.apns_team_id,
            key_id=settings.apns_key_id,
            private_key_pem=settings.apns_private_key.get_secret_value(),
            topic=settings.apns_topic,
        )
    if settings.fcm_project_id and settings.fcm_client_email:
        from push.fcm import FcmChannel

        channels[Channel.FCM] = FcmChannel(
            services.http,
            base_url=settings.fcm_base_url,
            token_url=settings.fcm_token_url,
            project_id=settings.fcm_project_id,
            client_email=settings.fcm_client_email,
            private_key_pem=settings.fcm_private_key.get_secret_value(),
        )
    if settings.wechat_app_id and settings.wechat_message_templates:
        from push.wechat import WechatSubscribeChannel

        channels[Channel.WECHAT] = WechatSubscribeChannel(
            services.http,
            base_url=settings.wechat_api_base_url,
            app_id=settings.wechat_app_id,
            secret=settings.wechat_app_secret.get_secret_value(),
            templates=settings.wechat_message_templates,
            mini_program_state=settings.wechat_mini_program_state,
        )
    if settings.smtp_host:
        from push.email import EmailChannel

        channels[Channel.EMAIL] = EmailWithSurveyLink(
            EmailChannel(
                pii=services.pii,
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value(),
                sender=settings.smtp_sender,
                use_tls=settings.smtp_use_tls,
                start_tls=settings.smtp_start_tls,
            ),
            links,
        )
    sms_templates = dict(settings.sms_templates)
    if settings.sms_provider is SmsProvider.CONSOLE:
        # The development console prints any message: every kind has a "template".
        sms_templates = {kind: kind for kind in TEMPLATES} | sms_templates
    channels[Channel.SMS] = SmsWithSurveyToken(
        SmsChannel(services.sms, services.pii, sms_templates), links
    )
    return channels


def wechat_template_ids(services: Services) -> dict[str, str]:
    return {
        kind: str(spec["template_id"])
        for kind, spec in services.settings.wechat_message_templates.items()
        if "template_id" in spec
    }
