"""The underwriters' queue: referred applications, one decision each (accept or decline,
with a reason), taken under the application's row lock so two underwriters deciding at
once give one decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.policy_applications import ApplicationStatus, PolicyApplication, RatingForm
from workflows.access import Actor, Permission
from workflows.policy_service.applications import settle_outcome
from workflows.policy_service.rating import ApplicationError
from workflows.policy_service.rating import ApplicationErrorCode as E
from workflows.policy_service.underwriting import Outcome

MAX_REASON = 500


def underwriting_queue() -> QuerySet[PolicyApplication]:
    """Referred applications, the earliest first."""
    return PolicyApplication.filter(status=ApplicationStatus.REFERRED).order_by("created_at")


async def decide_application(
    actor: Actor, application_id: uuid.UUID, accept: bool, reason: str
) -> PolicyApplication:
    if not actor.can(Permission.UNDERWRITE):
        raise ApplicationError(E.APPLICATION_NOT_FOUND, "未找到该投保申请", "applicationId")
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise ApplicationError(E.REASON_REQUIRED, "请填写核保意见（不超过500字）", "reason")
    now = datetime.now(UTC)
    async with in_transaction():
        application = await PolicyApplication.filter(id=application_id).select_for_update().first()
        if application is None:
            raise ApplicationError(E.APPLICATION_NOT_FOUND, "未找到该投保申请", "applicationId")
        if application.status is not ApplicationStatus.REFERRED:
            raise ApplicationError(E.ALREADY_DECIDED, "该投保申请已有核保结论", "applicationId")
        if accept and application.starts_at <= now:
            raise ApplicationError(
                E.INVALID_START_DATE, "保障起期已过，请客户重新投保", "applicationId"
            )
        form = await RatingForm.get_or_none(product_id=application.product_id)
        outcome = Outcome("ACCEPT" if accept else "DECLINE", reason, application.reasons)
        await settle_outcome(application, outcome, form, decided_by=actor.subject_id, now=now)
    return application
