"""Customers and the WeChat identities bound to them.

Phone and ID numbers are stored three ways: encrypted (to use them), a keyed hash (to
find them without decrypting in SQL) and a masked form (to show them).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields

from models.base import Entity

if TYPE_CHECKING:
    from models.policies import Policy


class Customer(Entity):
    name = fields.CharField(max_length=64, default="")
    phone_encrypted = fields.TextField()
    phone_hash = fields.CharField(max_length=64, unique=True)
    phone_masked = fields.CharField(max_length=16)
    id_number_encrypted = fields.TextField(null=True)
    id_number_hash = fields.CharField(max_length=64, null=True, db_index=True)
    id_number_masked = fields.CharField(max_length=32, null=True)
    email_encrypted = fields.TextField(null=True)
    email_masked = fields.CharField(max_length=128, null=True)

    policies_held: fields.ReverseRelation[Policy]
    wechat_identities: fields.ReverseRelation[WechatIdentity]

    class Meta:
        table = "customer"


class WechatIdentity(Entity):
    """A mini-program openid (and unionid when WeChat sends one) bound to a customer."""

    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="wechat_identities", on_delete=fields.CASCADE
    )
    customer_id: uuid.UUID
    app_id = fields.CharField(max_length=64)
    openid = fields.CharField(max_length=128)
    unionid = fields.CharField(max_length=128, null=True, db_index=True)

    class Meta:
        table = "wechat_identity"
        unique_together = (("app_id", "openid"),)
