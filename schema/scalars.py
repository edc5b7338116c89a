"""Custom scalars. ``Amount`` is the only way money enters the schema: a plain decimal
with at most two places, parsed by a strict pattern *before* ``decimal`` sees it, so
``NaN``, ``sNaN``, infinities, exponents (``1E+100000``) and fractions of a fen are
refused as a typed input error instead of crashing a workflow with
``decimal.InvalidOperation``. ``tests/security/test_money_inputs.py`` fails when an
input takes a bare ``Decimal``."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

Amount = NewType("Amount", Decimal)

# 12 integer digits and 2 places: what the database's DECIMAL(14, 2) columns hold.
AMOUNT_PATTERN = re.compile(r"-?(?:0|[1-9]\d{0,11})(?:\.\d{1,2})?")
INVALID_AMOUNT = "INVALID_AMOUNT"
AMOUNT_MESSAGE = '金额格式不正确：请填写最多两位小数的数字（如 "1280.00"），且不超过 12 位整数'


def parse_amount(value: Any) -> Amount:
    """A JSON string or number (``"1280.00"``, ``1280``, ``12.5``); anything else is
    refused. A float is read through its shortest ``repr``, so ``0.1`` is ``0.10``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid()
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 20 or not AMOUNT_PATTERN.fullmatch(text):
        raise _invalid()
    return Amount(Decimal(text).quantize(Decimal("0.01")))


def _invalid() -> GraphQLError:
    return GraphQLError(AMOUNT_MESSAGE, extensions={"code": INVALID_AMOUNT})


def serialize_amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _safe_decimal(value: Any) -> Decimal:
    """The built-in ``Decimal`` scalar, kept for outputs, refuses non-finite and exponent
    forms too: a future input that forgets ``Amount`` cannot crash on ``NaN``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise GraphQLError("Decimal 格式不正确", extensions={"code": "INVALID_DECIMAL"})
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 40 or not re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        raise GraphQLError("Decimal 格式不正确", extensions={"code": "INVALID_DECIMAL"})
    return Decimal(text)


SCALARS: dict[object, ScalarDefinition] = {
    Amount: strawberry.scalar(
        name="Amount",
        description=(
            "An amount of money in yuan (CNY): a decimal string with at most two places, "
            'e.g. `"1280.00"` (a JSON number is accepted too). NaN, infinities, exponents, '
            "more than two places or more than 12 integer digits are refused (`INVALID_AMOUNT`)."
        ),
        serialize=serialize_amount,
        parse_value=parse_amount,
    ),
    Decimal: strawberry.scalar(
        name="Decimal",
        description="Decimal (fixed-point)",
        serialize=str,
        parse_value=_safe_decimal,
    ),
}
