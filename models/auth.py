"""Login codes and sessions. A session is one refresh-token family: rotation keeps it,
reuse of a rotated token or logout revokes it (and the access tokens that name it)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.customers import WechatIdentity


class SubjectKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class OtpChallenge(Entity):
    """One SMS code sent to one phone, the code kept only as a keyed hash."""

    phone_hash = fields.CharField(max_length=64, db_index=True)
    send_slot = fields.BigIntField()  # unique per phone: a double tap sends one SMS
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    consumed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "otp_challenge"
        unique_together = (("phone_hash", "send_slot"),)


class AuthSession(Entity):
    subject_kind = fields.CharEnumField(SubjectKind, max_length=16)
    subject_id = fields.UUIDField()
    channel = fields.CharField(max_length=32)
    # A mini-program login: the WeChat identity (app id and openid) it logged in with,
    # the one that pays and is paid for this session (a customer may have several).
    wechat_identity: fields.ForeignKeyNullableRelation[WechatIdentity] = fields.ForeignKeyField(
        "models.WechatIdentity", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    wechat_identity_id: uuid.UUID | None
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, null=True)
    # When a staff session was last used (written at most once a minute): the idle
    # timeout refuses a staff token unused for longer (null: since created_at).
    last_used_at = fields.DatetimeField(null=True)

    refresh_tokens: fields.ReverseRelation[RefreshToken]

    class Meta:
        table = "auth_session"


class RefreshToken(Entity):
    session: fields.ForeignKeyRelation[AuthSession] = fields.ForeignKeyField(
        "models.AuthSession", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    rotated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_token"
