"""Every code every domain can raise reaches the client as itself, through the one
generic mapping; a domain error no payload type answers fails here, not in production."""

from __future__ import annotations

import importlib
import pkgutil
from enum import StrEnum

import pytest

import schema  # noqa: F401  (registers every payload error type)
import workflows
from schema.errors import _CODES, Error, ErrorCodes, payload_errors
from workflows.errors import DomainError


def _all_domain_errors() -> set[type[DomainError]]:
    for module in pkgutil.walk_packages(workflows.__path__, "workflows."):
        importlib.import_module(module.name)
    found: set[type[DomainError]] = set()
    todo = list(DomainError.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def _every_mapping() -> list[tuple[type[Error], ErrorCodes, type[DomainError], StrEnum]]:
    return [
        (error_type, codes, family, code)
        for error_type, codes in _CODES.items()
        for family in codes.families
        for code in family.codes
    ]


@pytest.mark.parametrize(
    ("error_type", "codes", "family", "code"),
    _every_mapping(),
    # Named alike in every process (pytest-xdist's workers must collect the same ids):
    # the codes object by its enum's name, not its repr with an address.
    ids=lambda value: (
        value.enum.__name__
        if isinstance(value, ErrorCodes)
        else getattr(value, "__name__", str(value))
    ),
)
def test_every_code_round_trips_through_its_payload_error(
    error_type: type[Error], codes: ErrorCodes, family: type[DomainError], code: StrEnum
) -> None:
    (mapped,) = payload_errors(family(code, "消息", "someField", retry_after=7), error_type)
    assert isinstance(mapped, error_type)
    assert mapped.code == code.value  # type: ignore[attr-defined]
    assert isinstance(mapped.code, codes.enum)  # type: ignore[attr-defined]
    assert (mapped.field, mapped.message, mapped.retry_after_seconds) == ("someField", "消息", 7)


def test_every_domain_error_is_answered_by_some_payload_error() -> None:
    answered = {family for codes in _CODES.values() for family in codes.families}
    assert _all_domain_errors() - answered == set()


def test_a_domain_error_cannot_borrow_another_domains_code() -> None:
    from workflows.claims import ClaimError
    from workflows.idempotency import IdempotencyErrorCode

    with pytest.raises(TypeError):
        ClaimError(IdempotencyErrorCode.KEY_REUSED, "换个键")  # type: ignore[arg-type]


def test_a_payload_error_refuses_a_domain_it_does_not_answer() -> None:
    from schema.visits import VisitError
    from workflows.auth import AuthError, AuthErrorCode

    with pytest.raises(TypeError):
        payload_errors(AuthError(AuthErrorCode.INVALID_CODE, "验证码错误"), VisitError)
