"""Survey link tokens, derived instead of stored.

A link token is the invitation's UUID and an HMAC of it under a server key
(``Settings.survey_link_key``), base64url: 43 characters. It is computed at the moment
an SMS or e-mail is sent and checked by computing it again, so no event payload, inbox
entry, delivery row or log line ever holds one — and a leaked database row opens no
survey. Other channels (app push, WeChat) carry only the invitation's ID: the app and
mini-program answer logged in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import replace

from models.ids import parse_global_id
from push.base import PushChannel, PushMessage, prepare

MAC_BYTES = 16
# Event kinds whose messages lead to a survey by its link, and the channels that need
# the token itself (there is no login behind an SMS or an e-mail).
LINKED_KINDS = frozenset({"survey.invited", "visit.email"})


class SurveyLinks:
    def __init__(self, key: bytes, link_base: str) -> None:
        self._key = key
        self.link_base = link_base

    def _mac(self, invitation_id: uuid.UUID) -> bytes:
        message = b"anxin/survey-link:" + invitation_id.bytes
        return hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def token(self, invitation_id: uuid.UUID) -> str:
        raw = invitation_id.bytes + self._mac(invitation_id)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def link(self, invitation_id: uuid.UUID) -> str:
        return self.link_base + self.token(invitation_id)

    def invitation_id(self, token: str) -> uuid.UUID | None:
        """The invitation a token was made for, or None for anything not made by us."""
        text = token.strip()
        if len(text) != 43:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 16 + MAC_BYTES:
            return None
        invitation_id = uuid.UUID(bytes=raw[:16])
        return invitation_id if hmac.compare_digest(raw[16:], self._mac(invitation_id)) else None


def invitation_of(message: PushMessage) -> uuid.UUID | None:
    """The invitation a message leads to (its ``invitation_id`` display value: the
    Survey's global ID, or a SurveyInvitation's in messages queued before the rename)."""
    value = message.data.get("invitation_id") if message.kind in LINKED_KINDS else None
    if not value:
        return None
    return parse_global_id(value, "Survey") or parse_global_id(value, "SurveyInvitation")


class SmsWithSurveyToken:
    """The SMS channel, with ``survey_token`` added for the SMS template at sending."""

    def __init__(self, inner: PushChannel, links: SurveyLinks) -> None:
        self.inner = inner
        self.links = links

    async def prepare(self, targets: Sequence[str]) -> None:
        await prepare(self.inner, targets)

    async def send(self, target: str, message: PushMessage) -> str | None:
        invitation_id = invitation_of(message)
        if invitation_id is not None:
            data = {**message.data, "survey_token": self.links.token(invitation_id)}
            message = replace(message, data=data)
        return await self.inner.send(target, message)


class EmailWithSurveyLink:
    """The e-mail channel: the survey's web link (with its token) is the e-mail's link,
    where the stored inbox entry has the app's route."""

    def __init__(self, inner: PushChannel, links: SurveyLinks) -> None:
        self.inner = inner
        self.links = links

    async def send(self, target: str, message: PushMessage) -> str | None:
        invitation_id = invitation_of(message)
        if invitation_id is not None:
            message = replace(message, deep_link=self.links.link(invitation_id))
        return await self.inner.send(target, message)
