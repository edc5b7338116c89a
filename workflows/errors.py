"""The one base class of expected, typed failures.

A workflow raises ``DomainError`` subclasses for what a user can cause (wrong code,
expired link, not yours); the schema turns them into payload errors
``{field, message, code}``. Anything else is a bug and is masked outside development.
A refusal that passes with time (a rate limit, a lockout) says when: ``retry_after``
seconds, shown as ``retryAfterSeconds``.
"""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    def __init__(
        self,
        code: StrEnum,
        message: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
