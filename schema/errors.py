"""Payload errors: every mutation answers ``errors: [XError!]!`` with ``field`` (the input
field at fault, null for the whole input), ``message`` (Chinese, for the end user), a
stable ``code`` and, for refusals that pass with time, ``retryAfterSeconds``.

One generic mapping turns any ``DomainError`` into the payload error type of the
operation. Each payload error type declares the domain errors it answers with
``ErrorCodes``; its GraphQL code enum is the union of their code enums, so a code a
domain can raise always has a GraphQL value (``tests/schema/test_error_codes.py``
round-trips every code of every domain), and mapping an error the type does not answer
is a bug that fails loudly instead of a payload with a wrong code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar, cast

import strawberry
from graphql import GraphQLError

from workflows.errors import DomainError

CODE = "Stable code for programs."


@strawberry.interface(description="An expected failure of a mutation, shown to the user.")
class Error:
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), or null if the whole input is."
    )
    message: str = strawberry.field(description="What went wrong, in Chinese, for the user.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="For a refusal that passes with time (too many attempts, a lockout): "
        "seconds until trying again can work; otherwise null.",
    )


class ErrorCodes:
    """The codes one payload error type answers: the union of some domains' code enums,
    as one GraphQL enum."""

    def __init__(self, name: str, description: str, *families: type[DomainError]):
        self.families = families
        values: dict[str, str] = {}
        for family in families:
            for code in family.codes:
                values[code.value] = code.value
        # Members named by their values: the JSON a client reads is the value either way.
        merged = cast(type[StrEnum], StrEnum(name, values))
        self.enum = strawberry.enum(merged, description=description)

    def answers(self, error: DomainError) -> bool:
        return isinstance(error, self.families)


E = TypeVar("E", bound=Error)
_CODES: dict[type[Any], ErrorCodes] = {}


def answers_with(codes: ErrorCodes) -> Any:
    """Class decorator: this payload error type answers ``codes``."""

    def register(error_type: type[E]) -> type[E]:
        _CODES[error_type] = codes
        return error_type

    return register


def payload_errors(error: DomainError, error_type: type[E]) -> list[E]:
    """``error`` as the operation's payload errors (a list of one)."""
    codes = _CODES[error_type]
    if not codes.answers(error):
        raise TypeError(f"{error_type.__name__} does not answer {type(error).__name__}")
    return [
        error_type(  # type: ignore[call-arg]
            field=error.field,
            message=error.message,
            code=codes.enum(error.code.value),
            retry_after_seconds=error.retry_after,
        )
    ]


class UserInputError(GraphQLError):
    """A query-level input problem the caller can fix (bad page size, empty search)."""

    def __init__(self, message: str):
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


class ThrottledError(GraphQLError):
    """A query asked too often by this client (queries have no payload errors)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(
            message, extensions={"code": "THROTTLED", "retryAfterSeconds": retry_after}
        )


def should_mask_error(error: GraphQLError) -> bool:
    """Hide unexpected exceptions (bugs) outside development; keep deliberate
    GraphQL errors: validation, permissions, user input."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)
