"""GraphQL over HTTP media types: ``application/graphql-response+json`` when the client's
``Accept`` prefers it (400 without ``data`` for a request that cannot run), and
``application/json`` exactly as before otherwise. Found with the ``graphql-http`` audits:
eight SHOULD warnings, all about the newer media type."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.media_types import GRAPHQL_RESPONSE_JSON, JSON, negotiate

GRJ = "application/graphql-response+json"
APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"
URQL_ACCEPT = (
    "application/graphql-response+json, application/graphql+json, application/json, "
    "text/event-stream, multipart/mixed"
)


async def post(
    client: httpx.AsyncClient, body: dict[str, Any] | str, accept: str | None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    content = body if isinstance(body, str) else httpx.Request("POST", "/", json=body).content
    return await client.post("/graphql", content=content, headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


@pytest.mark.parametrize("accept", [GRJ, APOLLO_ACCEPT, URQL_ACCEPT, f"{GRJ}; charset=utf-8"])
async def test_a_client_preferring_graphql_response_json_gets_it(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await post(client, {"query": "{ __typename }"}, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRJ}; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}
    assert "accept" in response.headers["vary"].lower()  # caches keep the types apart


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "*/*", "application/json, application/graphql-response+json"],
)
async def test_application_json_and_no_accept_answer_as_before(
    client: httpx.AsyncClient, accept: str | None
) -> None:
    ok = await post(client, {"query": "{ __typename }"}, accept)
    assert (ok.status_code, ok.headers["content-type"]) == (200, "application/json")
    # A request error answers 200 with data: null, as clients have always had it.
    invalid = await post(client, {"query": "{ nope }"}, accept)
    assert (invalid.status_code, media_type(invalid)) == (200, "application/json")
    assert invalid.json()["data"] is None and invalid.json()["errors"]
    # A malformed request: strawberry's plain-text 400, unchanged.
    broken = await post(client, '{"query": ', accept)
    assert broken.status_code == 400
    assert media_type(broken) == "text/plain"
    assert broken.text == "Unable to parse request body as JSON"


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("JSON parsing failure", '{ "not a JSON'),
        ("invalid parameters", {"qeury": "{ __typename }"}),
        ("invalid variables shape", {"query": "{ __typename }", "variables": [7]}),
        ("document parsing failure", {"query": "{"}),
        ("document validation failure", {"query": "{ nope }"}),
        (
            "operation cannot be determined",
            {"query": "query A { __typename } query B { __typename }", "operationName": "C"},
        ),
        (
            "variable coercion failure",
            {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": None}},
        ),
        (
            "unknown variable type value",
            {
                "query": "query($first: Int) { myPolicies(first: $first) { totalCount } }",
                "variables": {"first": "many"},
            },
        ),
    ],
)
async def test_a_request_that_cannot_run_answers_400_without_data(
    client: httpx.AsyncClient, case: str, body: dict[str, Any] | str
) -> None:
    response = await post(client, body, GRJ)
    assert response.status_code == 400, (case, response.text)
    assert response.headers["content-type"] == f"{GRJ}; charset=utf-8", case
    answer = response.json()
    assert "data" not in answer, case
    assert answer["errors"] and all(e["message"] for e in answer["errors"]), case


async def test_field_errors_are_a_200_partial_response(client: httpx.AsyncClient) -> None:
    """Not logged in: the field fails, the request ran; 200 with data (null: the field
    is not nullable) under either type."""
    query = {"query": "{ myPolicies(first: 1) { totalCount } }"}
    for accept in (GRJ, "application/json"):
        response = await post(client, query, accept)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "data" in body and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_accepting_neither_type_is_refused_with_406(client: httpx.AsyncClient) -> None:
    for accept in ("text/html", "application/xml", f"{GRJ};q=0, application/json;q=0"):
        response = await post(client, {"query": "{ __typename }"}, accept)
        assert response.status_code == 406, accept
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    # GET keeps serving GraphiQL's page to a browser.
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text


async def test_a_query_by_get_is_refused_in_the_accepted_type(client: httpx.AsyncClient) -> None:
    refused = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": GRJ}
    )
    assert refused.status_code == 400
    assert media_type(refused) == GRJ and "data" not in refused.json()
    legacy = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"}
    )
    assert legacy.status_code == 400 and media_type(legacy) == "text/plain"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], JSON),
        (["*/*"], JSON),
        (["application/*"], JSON),
        (["application/json"], JSON),
        ([GRJ], GRAPHQL_RESPONSE_JSON),
        ([APOLLO_ACCEPT], GRAPHQL_RESPONSE_JSON),
        ([URQL_ACCEPT], GRAPHQL_RESPONSE_JSON),
        (["application/json, application/graphql-response+json"], JSON),
        (
            ["application/json;q=0.5, application/graphql-response+json;q=0.8"],
            GRAPHQL_RESPONSE_JSON,
        ),
        (["application/json, text/plain, */*"], JSON),  # axios
        (["*/*, application/json;q=0"], GRAPHQL_RESPONSE_JSON),
        (["application/graphql-response+json;q=0, */*"], JSON),
        (["text/html", "application/graphql-response+json"], GRAPHQL_RESPONSE_JSON),
        (["application/json;q=oops"], None),
        (["text/html"], None),
        (["application/graphql-response+json;q=0"], None),
    ],
)
def test_negotiation(headers: list[str], expected: str | None) -> None:
    assert negotiate(headers) == expected
