"""Who may call what. Each staff field states its permission with ``HasPermission``.

Lacking login or permission is a GraphQL error with ``extensions.code``
(``UNAUTHENTICATED``/``FORBIDDEN``; ``STAFF_SESSION_IDLE`` for a staff token whose
session was idle too long); an object the caller may not see is answered as a
missing one (null), never with an error that would confirm it exists.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from strawberry.permission import BasePermission
from strawberry.types import Info

from workflows.access import Permission

REFUSALS = {
    # A staff token whose session was idle too long (ANXIN_STAFF_IDLE_TIMEOUT_SECONDS).
    "STAFF_SESSION_IDLE": "长时间未操作，登录已失效，请重新登录",
}


class IsAuthenticated(BasePermission):
    message = "请先登录"
    error_extensions = {"code": "UNAUTHENTICATED"}  # noqa: RUF012 - strawberry API

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        actor = info.context.actor
        if actor.kind is None and actor.refusal in REFUSALS:
            # The token was valid but refused by a session rule: say which, typed.
            raise GraphQLError(REFUSALS[actor.refusal], extensions={"code": actor.refusal})
        return actor.kind is not None


class _CustomerAccount(BasePermission):
    message = "请使用客户账号登录"
    error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry API

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(info.context.actor.is_customer)


# Customer-only fields: anonymous callers are told to log in, staff are refused.
CUSTOMER_ONLY: list[type[BasePermission]] = [IsAuthenticated, _CustomerAccount]


def staff_only(permission: Permission) -> list[type[BasePermission]]:
    """The permission classes of a staff field: logged in first, then the role's grant."""
    return [IsAuthenticated, HasPermission(permission)]


def HasPermission(permission: Permission) -> type[BasePermission]:
    """A permission class requiring a staff role that grants ``permission``."""

    class _HasPermission(BasePermission):
        message = f"需要权限 {permission.value}"
        error_extensions = {"code": "FORBIDDEN"}  # noqa: RUF012 - strawberry API

        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            return bool(info.context.actor.can(permission))

    _HasPermission.__name__ = f"Has{permission.name.title().replace('_', '')}"
    return _HasPermission
