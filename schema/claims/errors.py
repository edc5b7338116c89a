"""The payload error of every claim action and the codes it answers."""

from __future__ import annotations

import strawberry

from schema.errors import CODE, Error, ErrorCodes, answers_with
from workflows import claims as flows
from workflows.idempotency import IdempotencyError

CLAIM_CODES = ErrorCodes(
    "ClaimErrorCode", "Why a claim action failed.", flows.ClaimError, IdempotencyError
)


@answers_with(CLAIM_CODES)
@strawberry.type(description="A failed claim action.")
class ClaimError(Error):
    code: str = strawberry.field(graphql_type=CLAIM_CODES.enum, description=CODE)
