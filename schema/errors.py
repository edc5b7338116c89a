"""Payload errors: every mutation answers ``errors: [XError!]!`` with ``field`` (the input
field at fault, null for the whole input), ``message`` (Chinese, for the end user) and a
stable ``code`` from one enum per domain."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError


@strawberry.interface(description="An expected failure of a mutation, shown to the user.")
class Error:
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase), or null if the whole input is."
    )
    message: str = strawberry.field(description="What went wrong, in Chinese, for the user.")


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
