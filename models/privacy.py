"""Data security and personal-information rights (数据安全, 个人信息保护法).

``PiiAccess`` is the audit log: one row per full (unmasked) personal value or document
a staff member read, with the stated purpose. ``PiiRevealAlert`` is raised once per
staff member per hour window (unique in the database) when they read too many.
``PiiKeyRotation`` is the resumable cursor of ``anxin rotate-pii-key``.
``MarketingConsent``, ``DataExport``, ``DataDeletionRequest`` and ``RetentionRun`` carry
the customer's rights and the retention job's reports.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from tortoise import fields

from models.base import Entity


class PiiSubjectKind(StrEnum):
    """The record a revealed value was read through."""

    FOLLOW_UP_VISIT = "FOLLOW_UP_VISIT"
    RECOVERY_TASK = "RECOVERY_TASK"
    POLICY_DOCUMENT = "POLICY_DOCUMENT"
    CUSTOMER = "CUSTOMER"


class PiiField(StrEnum):
    """Which personal value was read in full."""

    PHONE = "PHONE"
    ID_NUMBER = "ID_NUMBER"
    EMAIL = "EMAIL"
    DOCUMENT = "DOCUMENT"  # a whole document (an e-policy carries names and ID numbers)


class PiiAccess(Entity):
    """One staff read of a full personal value: who, what, when and why. Rows are only
    ever inserted (the log is evidence)."""

    staff_id = fields.UUIDField(db_index=True)
    session_id = fields.UUIDField(null=True)
    customer_id = fields.UUIDField(null=True, db_index=True)  # whose value it is
    subject_kind = fields.CharEnumField(PiiSubjectKind, max_length=24)
    subject_id = fields.UUIDField()
    field = fields.CharEnumField(PiiField, max_length=16)
    purpose = fields.CharField(max_length=200)

    class Meta:
        table = "pii_access"
        ordering = ("-created_at",)
        indexes = (("staff_id", "created_at"),)


class PiiRevealAlert(Entity):
    """A staff member read more than the allowed number of records in one hour window
    (UTC hour). Unique per staff member and window, so it is raised once."""

    staff_id = fields.UUIDField()
    window_start = fields.DatetimeField()
    reveal_count = fields.IntField()  # reads in the window when it was raised
    threshold = fields.IntField()  # the setting then
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by = fields.UUIDField(null=True)

    class Meta:
        table = "pii_reveal_alert"
        unique_together = (("staff_id", "window_start"),)


class PiiKeyRotation(Entity):
    """One rotation to ``key_id``: where it got to (resumable after a stop)."""

    key_id = fields.CharField(max_length=32, unique=True)
    target_index = fields.IntField(default=0)  # position in the list of sealed columns
    last_id = fields.CharField(max_length=64, null=True)  # the last row done in that target
    rewrapped = fields.IntField(default=0)
    finished_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "pii_key_rotation"


class MarketingConsent(Entity):
    """A customer's marketing consent (营销信息). No row: not given."""

    customer_id = fields.UUIDField(unique=True)
    given = fields.BooleanField()
    changed_at = fields.DatetimeField()

    class Meta:
        table = "marketing_consent"


class DataExportStatus(StrEnum):
    READY = "READY"
    EXPIRED = "EXPIRED"  # the link expired; the file was deleted by the retention job


class DataExport(Entity):
    """A ZIP of a customer's own data, read through a signed link until ``expires_at``.
    One per customer and local day (the rate limit, kept by the database)."""

    customer_id = fields.UUIDField(db_index=True)
    day: date = fields.DateField()
    status = fields.CharEnumField(DataExportStatus, max_length=16)
    storage_key = fields.CharField(max_length=255)
    size_bytes = fields.IntField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "data_export"
        unique_together = (("customer_id", "day"),)


class DataDeletionRequest(Entity):
    """A customer's deletion request, carried out at once: what was deleted and kept."""

    customer_id = fields.UUIDField(db_index=True)
    deleted: fields.JSONField[dict[str, int]] = fields.JSONField(default=dict)
    kept: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)

    class Meta:
        table = "data_deletion_request"


class RetentionRun(Entity):
    """One run of the retention job, with how much it deleted of each kind."""

    day: date = fields.DateField(unique=True)  # one run per local day, however many workers
    finished_at: datetime | None = fields.DatetimeField(null=True)
    counts: fields.JSONField[dict[str, int]] = fields.JSONField(default=dict)

    class Meta:
        table = "retention_run"
