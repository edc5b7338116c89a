"""Schema discovery through error messages: with introspection off (production), no
error says "Did you mean …" — not for fields, arguments, enum values, type conditions,
input fields or variable types, whether the mistake is in the query or in the
variables. Development keeps the suggestions (they are why GraphiQL is pleasant)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.settings import Settings
from tests.api.test_settings import REAL

MISTAKES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ myPolicie { totalCount } }", None),  # field
    ("{ myPolicies(frist: 1) { totalCount } }", None),  # argument
    ("{ myPolicies(filter: {status: [ACTIV]}) { totalCount } }", None),  # enum literal
    ("{ myPolicies(filter: {statuss: [ACTIVE]}) { totalCount } }", None),  # input field
    ('{ node(id: "x") { ... on Polcy { id } } }', None),  # type condition
    ("query($f: PolicyFiltr) { myPolicies(filter: $f) { totalCount } }", None),  # var type
    ("fragment F on Polic { id } { ...F }", None),  # fragment type
    (  # enum value in variables
        "query($f: PolicyFilter) { myPolicies(filter: $f) { totalCount } }",
        {"f": {"status": ["ACTIV"]}},
    ),
    (  # input field in variables
        "query($f: PolicyFilter) { myPolicies(filter: $f) { totalCount } }",
        {"f": {"statuss": ["ACTIVE"]}},
    ),
    ('mutation { requestLoginCod(input: {phone: "13800000001"}) { sent } }', None),
    ('mutation { requestLoginCode(inpt: {phone: "13800000001"}) { __typename } }', None),
]


@pytest.fixture
async def production(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(**REAL).model_copy(
        update={"database_url": database_url, "background_jobs": False}
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def _errors(client: httpx.AsyncClient, query: str, variables: Any) -> list[str]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert body.get("errors"), body
    return [error["message"] for error in body["errors"]]


@pytest.mark.parametrize(("query", "variables"), MISTAKES, ids=[q for q, _ in MISTAKES])
async def test_production_errors_suggest_nothing(
    production: httpx.AsyncClient, query: str, variables: Any
) -> None:
    for message in await _errors(production, query, variables):
        assert "did you mean" not in message.lower(), message


async def test_development_still_suggests(client: httpx.AsyncClient) -> None:
    """The same mistakes do produce suggestions where introspection is on, so the
    production test above really exercises the suggestion paths."""
    suggested = 0
    for query, variables in MISTAKES:
        messages = await _errors(client, query, variables)
        suggested += any("Did you mean" in m for m in messages)
    assert suggested == len(MISTAKES)
