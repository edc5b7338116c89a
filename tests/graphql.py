"""A small GraphQL client for tests: POST a query, return the JSON, fail loudly on
unexpected GraphQL errors unless the test asks to see them."""

from __future__ import annotations

from typing import Any

import httpx


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    allow_errors: bool = False,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    if not allow_errors:
        assert "errors" not in body, body["errors"]
    return body
