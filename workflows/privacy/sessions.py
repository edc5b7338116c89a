"""Staff sessions for admins (SESSION_MANAGE): which are active (not revoked, not
expired, used within the idle timeout) and revoking one — its tokens stop working at
once and its live WebSockets are closed on every API process (``auth.revoke_session``)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models.auth import AuthSession, SubjectKind
from workflows.access import Actor, Permission
from workflows.auth import revoke_session
from workflows.privacy.rules import PrivacyError, PrivacyErrorCode

REVOKED_BY_ADMIN = "revoked_by_admin"
security = logging.getLogger("anxin.security")


def active_staff_sessions(actor: Actor, idle_seconds: int) -> QuerySet[AuthSession]:
    """Live staff sessions, the most recently used first; none for non-admins."""
    if not actor.can(Permission.SESSION_MANAGE):
        return AuthSession.filter(id=None)
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=idle_seconds)
    return AuthSession.filter(
        Q(last_used_at__gte=cutoff) | Q(last_used_at__isnull=True, created_at__gte=cutoff),
        subject_kind=SubjectKind.STAFF,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).order_by("-last_used_at", "-created_at", "id")


async def staff_session(actor: Actor, session_id: uuid.UUID) -> AuthSession | None:
    if not actor.can(Permission.SESSION_MANAGE):
        return None
    return await AuthSession.get_or_none(id=session_id, subject_kind=SubjectKind.STAFF)


async def revoke_staff_session(actor: Actor, session_id: uuid.UUID) -> AuthSession:
    """End a staff member's session (a lost laptop, someone leaving)."""
    session = await staff_session(actor, session_id)
    if session is None:
        raise PrivacyError(PrivacyErrorCode.NOT_FOUND, "未找到该会话", "sessionId")
    if session.id == actor.session_id:
        raise PrivacyError(
            PrivacyErrorCode.OWN_SESSION, "不能撤销当前使用的会话，请直接退出登录", "sessionId"
        )
    if session.revoked_at is not None or session.expires_at <= datetime.now(UTC):
        raise PrivacyError(PrivacyErrorCode.ALREADY_ENDED, "该会话已结束", "sessionId")
    await revoke_session(session.id, REVOKED_BY_ADMIN)
    security.warning(
        "admin %s revoked session %s of staff %s", actor.subject_id, session.id, session.subject_id
    )
    return await AuthSession.get(id=session.id)
