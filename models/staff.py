"""The insurer's service staff and their roles."""

from enum import StrEnum

from tortoise import fields

from models.base import Entity


class StaffRole(StrEnum):
    AGENT = "agent"
    ADJUSTER = "adjuster"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class StaffUser(Entity):
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=64)
    role = fields.CharEnumField(StaffRole, max_length=16)
    team = fields.CharField(max_length=64, null=True)  # e.g. 理赔一组: who works with whom
    password_hash = fields.CharField(max_length=255)
    is_active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_user"
