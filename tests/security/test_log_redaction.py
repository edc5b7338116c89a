"""Personal data slipping past the log redaction: numbers written with spaces, dashes or
line breaks, and GraphQL error excerpts, which graphql-core cuts into 80-column pieces
(a query line over 120 characters) so that a number straddling a cut came out whole on
two lines."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import GraphQLError, Source

from api.app import create_app
from api.logging import RedactingFormatter, redact
from api.settings import Settings
from tests.api.test_settings import REAL

PHONE_DIGITS = "13800000003"
ID_DIGITS = "110105198503122173"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ." + "s" * 43


def leaked(text: str) -> list[str]:
    """Pieces of the secrets that must not appear, whatever separates their digits."""
    digits_only = "".join(c for c in text if c.isdigit() or c in "Xx")
    found = [s for s in (PHONE_DIGITS, ID_DIGITS) if s in digits_only]
    found += [
        piece for piece in ("00000003", "19850312", "0000 0003", "1985 0312") if piece in text
    ]
    found += [piece for piece in JWT.split(".") if piece in text.replace("\n", "")]
    return found


@pytest.mark.parametrize(
    "written",
    [
        "138 0000 0003",
        "138-0000-0003",
        "138 - 0000 - 0003",
        "138\n0000\n0003",
        "1380000\r\n0003",
        "110105 19850312 2173",
        "110105-1985-0312-2173",
        "11010519850\n3122173",
        "1101051985031221\n7X",
    ],
)
def test_numbers_with_separators_are_redacted(written: str) -> None:
    cleaned = redact(f"customer said: {written}.")
    digits = "".join(c for c in cleaned if c.isdigit())
    assert "00000003" not in digits and "19850312" not in digits, cleaned
    assert "*" in cleaned, cleaned


def test_masks_keep_the_shape() -> None:
    assert redact("138 0000 0003") == "138 **** 0003"
    assert redact("110105-1985-0312-2173") == "110105-****-****-2173"
    assert redact("13800000003") == "138****0003"


def test_ordinary_numbers_are_left_alone() -> None:
    line = "order PO20261201000001 amount 1280.00 at 2026-12-01 13:45:00, 3 retries"
    assert redact(line) == line


def _wrapped_query() -> str:
    """One long line (minified query) where the phone, the ID number and a JWT each
    straddle one of graphql-core's 80-column cuts."""
    head = '{ searchPolicies(input: {holderPhone: "'
    pad = "x" * (80 - len(head) - 5)
    query = head + pad + PHONE_DIGITS + '", idNumber: "'
    query += "y" * (160 - len(query) - 9) + ID_DIGITS + '", token: "'
    query += "z" * (240 - len(query) - 30) + JWT + '"}) { totalCount } }'
    return query


def test_graphql_error_excerpts_are_redacted_before_wrapping() -> None:
    query = _wrapped_query()
    assert len(query) > 120
    error = GraphQLError("boom", source=Source(query), positions=[len(query) - 3])
    assert "\n  |" in str(error)  # graphql-core really wraps this line
    assert leaked(str(error))  # and unredacted it would leak
    record = logging.LogRecord("strawberry.execution", logging.ERROR, __file__, 1, error, (), None)
    text = RedactingFormatter("%(message)s").format(record)
    assert "GraphQL request:1:" in text and "^" in text
    assert leaked(text) == [], text
    as_argument = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (error,), None)
    text = RedactingFormatter("%(message)s").format(as_argument)
    assert text.startswith("failed: boom") and leaked(text) == [], text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("strawberry.execution")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_a_failing_query_is_logged_without_the_numbers_in_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch, captured: io.StringIO
) -> None:
    """A resolver fails (a bug: logged with the query excerpt); the query's one long
    line ends in a comment with a phone number across column 80 and an ID number."""

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("viewer backend down")

    monkeypatch.setattr("schema.auth.viewer_for", broken)
    settings = Settings(**REAL).model_copy(
        update={"database_url": database_url, "background_jobs": False}
    )
    app = create_app(settings)
    head = "{ me { permissions } } # "
    query = head + "c" * (80 - len(head) - 5) + PHONE_DIGITS + " or 138 0000 0003 "
    query += "id " + ID_DIGITS + " " + "c" * 60
    assert len(query) > 120
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        await client.post("/graphql", json={"query": query})
    text = captured.getvalue()
    assert "viewer backend down" in text and "\n  | " in text  # logged, excerpt wrapped
    assert leaked(text) == [], text
