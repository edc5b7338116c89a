"""The one base class of expected, typed failures.

A workflow raises ``DomainError`` subclasses for what a user can cause (wrong code,
expired link, not yours); the schema turns them into payload errors
``{field, message, code}`` with one generic mapping (``schema/errors.py``). Anything else
is a bug and is masked outside development. A refusal that passes with time (a rate
limit, a lockout) says when: ``retry_after`` seconds, shown as ``retryAfterSeconds``.

Each domain has one error class and one code enum, used only by that domain::

    class ClaimError(DomainError):
        codes = ClaimErrorCode

Raising a domain's error with another domain's code is a ``TypeError`` at once, so a
code cannot be borrowed (an unknown payout provider is not an "invalid checklist item").
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class DomainError(Exception):
    codes: ClassVar[type[StrEnum]]

    def __init__(
        self,
        code: StrEnum,
        message: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
    ):
        if not isinstance(code, self.codes):
            raise TypeError(f"{type(self).__name__} takes a {self.codes.__name__}, not {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
