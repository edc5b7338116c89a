"""The one way staff read a full personal value: state the purpose, the read is logged
(who, whose, through which record, which field, when, why) in the same step, and the
alert is raised once a staff member reads more than the allowed number in an hour.

Every reveal of the system goes through ``reveal``: the phone of a visit or recovery
call, and staff reads of whole documents (``log_document_read``). Masked forms are
never logged: they reveal nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.customers import Customer
from models.pii import PiiCipher
from models.privacy import PiiAccess, PiiField, PiiRevealAlert, PiiSubjectKind
from workflows.access import Actor
from workflows.privacy.rules import (
    ALERT_WINDOW,
    PURPOSE_MAX,
    PURPOSE_MIN,
    PrivacyError,
    PrivacyErrorCode,
)

security = logging.getLogger("anxin.security")


@dataclass(frozen=True)
class RevealLimits:
    """How many records one staff member may read in an hour before admins are alerted
    (``ANXIN_PII_REVEAL_ALERT_PER_HOUR``)."""

    alert_per_hour: int = 50


@dataclass(frozen=True)
class Subject:
    """The record a value is read through, and whose value it is."""

    kind: PiiSubjectKind
    id: uuid.UUID
    customer_id: uuid.UUID | None


def checked_purpose(purpose: str, field: str = "purpose") -> str:
    """The stated purpose, trimmed; refused when missing, too short or too long."""
    text = " ".join(purpose.split())
    if len(text) < PURPOSE_MIN:
        raise PrivacyError(
            PrivacyErrorCode.PURPOSE_REQUIRED,
            f"请说明查看的用途（至少{PURPOSE_MIN}个字）",
            field,
        )
    if len(text) > PURPOSE_MAX:
        raise PrivacyError(
            PrivacyErrorCode.PURPOSE_TOO_LONG, f"用途不能超过{PURPOSE_MAX}个字", field
        )
    return text


def window_start(at: datetime) -> datetime:
    """The UTC hour an access falls in: alerts are counted per such window."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def record(
    actor: Actor, subject: Subject, field: PiiField, purpose: str, limits: RevealLimits
) -> PiiAccess:
    """Log one read (before the value is handed out: no log, no value) and raise the
    hour's alert when this read takes the staff member past the limit."""
    if actor.subject_id is None or not actor.is_staff:
        raise PermissionError("only staff reveal personal data")
    text = checked_purpose(purpose)
    row = await PiiAccess.create(
        staff_id=actor.subject_id,
        session_id=actor.session_id,
        customer_id=subject.customer_id,
        subject_kind=subject.kind,
        subject_id=subject.id,
        field=field,
        purpose=text,
    )
    security.info(
        "staff %s read %s of %s %s (customer %s) for %r",
        actor.subject_id,
        field,
        subject.kind,
        subject.id,
        subject.customer_id,
        text,
    )
    await _alert_if_over(actor.subject_id, row.created_at, limits.alert_per_hour)
    return row


async def _alert_if_over(staff_id: uuid.UUID, at: datetime, threshold: int) -> None:
    start = window_start(at)
    end = start + ALERT_WINDOW
    count = await PiiAccess.filter(
        staff_id=staff_id, created_at__gte=start, created_at__lt=end
    ).count()
    if count <= threshold:
        return
    try:
        async with in_transaction():
            await PiiRevealAlert.create(
                staff_id=staff_id, window_start=start, reveal_count=count, threshold=threshold
            )
    except IntegrityError:
        return  # raised already for this window (the unique key keeps it to one)
    security.warning(
        "PII reveal alert: staff %s read %d records in the hour from %s (limit %d)",
        staff_id,
        count,
        start.isoformat(),
        threshold,
    )


async def reveal(
    actor: Actor,
    subject: Subject,
    field: PiiField,
    purpose: str,
    limits: RevealLimits,
    read: Callable[[], str],
) -> str:
    """The full value ``read`` returns, after the read is logged."""
    await record(actor, subject, field, purpose, limits)
    return read()


async def reveal_phone(
    actor: Actor,
    pii: PiiCipher,
    customer: Customer,
    subject: Subject,
    purpose: str,
    limits: RevealLimits,
) -> str:
    """A customer's full phone number for the staff member about to call them."""
    return await reveal(
        actor,
        subject,
        PiiField.PHONE,
        purpose,
        limits,
        lambda: pii.decrypt(customer.phone_encrypted, "phone"),
    )
