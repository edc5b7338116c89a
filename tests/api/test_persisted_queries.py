"""Persisted operations (issue 19): automatic persisted queries as Apollo's
``PersistedQueryLink`` speaks them, over POST and (hash only, queries only) GET, stored in
Redis when there is one and in a bounded in-process LRU otherwise; and the allow-list
mode, where only the build-time manifest's operations run.

Before: an Apollo client with APQ got a plain-text 400 ("No GraphQL query found in the
request") for every query, since strawberry ignores ``extensions.persistedQuery``."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from asgi_lifespan import LifespanManager
from httpx_ws import aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from api.app import create_app
from api.persisted_queries import (
    REDIS_PREFIX,
    MemoryQueryStore,
    build_manifest,
    canonical,
    operations_of,
    sha256_hex,
    sources_in,
    with_typename,
)
from api.services import Services
from api.settings import PersistedQueriesMode, Settings
from models.auth import SubjectKind
from tests.api.gateway_process import CLIENTS, needs_node_clients, node_script, running_gateway
from tests.claims_helpers import gid
from tests.conftest import TEST_REDIS_URL, _flush_test_redis
from tests.factories import make_customer, make_policy
from workflows.auth import Channel, start_session

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = CLIENTS / "operations"
PING = "query Ping { __typename }"
JSON_ONLY = {"accept": "application/json"}


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def post(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=JSON_ONLY)


async def get(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    return await client.get("/graphql", params=encoded, headers=JSON_ONLY)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


@contextlib.asynccontextmanager
async def app_client(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    if settings.redis_url and settings.redis_url == TEST_REDIS_URL:
        await _flush_test_redis(settings.redis_url)  # as the app fixture does
    app = create_app(settings.model_copy(update=changes))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_an_unknown_hash_is_not_found_then_the_query_is_stored_and_runs_by_hash(
    client: httpx.AsyncClient,
) -> None:
    digest = sha256_hex(PING)
    missing = await post(client, extensions=persisted(digest))
    assert missing.status_code == 200  # Apollo retries on the error, not on a status
    assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert codes(missing) == ["PERSISTED_QUERY_NOT_FOUND"]

    sent = await post(client, query=PING, extensions=persisted(digest))
    assert sent.json() == {"data": {"__typename": "Query"}}
    by_hash = await post(client, extensions=persisted(digest))
    assert by_hash.json() == {"data": {"__typename": "Query"}}


async def test_a_mismatched_hash_is_refused_and_an_invalid_query_not_stored(
    client: httpx.AsyncClient,
) -> None:
    other = sha256_hex("query Other { __typename }")
    refused = await post(client, query=PING, extensions=persisted(other))
    assert refused.status_code == 400
    assert codes(refused) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert codes(await post(client, extensions=persisted(other))) == ["PERSISTED_QUERY_NOT_FOUND"]
    # Text that does not validate is never stored (Apollo Server's rule too).
    junk = "query Junk { noSuchField }"
    assert (await post(client, query=junk, extensions=persisted(sha256_hex(junk)))).json()["errors"]
    assert codes(await post(client, extensions=persisted(sha256_hex(junk)))) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    for bad in ({"version": 2, "sha256Hash": other}, {"version": 1, "sha256Hash": "x"}):
        answer = await post(client, query=PING, extensions={"persistedQuery": bad})
        assert answer.status_code == 400, bad


async def test_a_hashed_query_by_get_runs_but_no_query_text_and_no_mutation(
    client: httpx.AsyncClient,
) -> None:
    digest = sha256_hex(PING)
    assert codes(await get(client, extensions=persisted(digest))) == ["PERSISTED_QUERY_NOT_FOUND"]
    await post(client, query=PING, extensions=persisted(digest))
    answer = await get(client, extensions=persisted(digest), operationName="Ping")
    assert answer.status_code == 200
    assert answer.json() == {"data": {"__typename": "Query"}}

    # A query in a URL (access logs): refused, as before, with or without a hash.
    assert (await get(client, query=PING)).status_code == 400
    assert (await get(client, query=PING, extensions=persisted(digest))).status_code == 400
    # A mutation is never run by GET, even by its hash.
    mutation = "mutation Nothing { __typename }"
    await post(client, query=mutation, extensions=persisted(sha256_hex(mutation)))
    refused = await get(client, extensions=persisted(sha256_hex(mutation)))
    assert refused.status_code == 405
    # A browser's GET without a query still gets GraphiQL.
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")


async def test_queries_are_stored_in_redis_when_there_is_one(
    client: httpx.AsyncClient, services: Services
) -> None:
    digest = sha256_hex(PING)
    await post(client, query=PING, extensions=persisted(digest))
    if TEST_REDIS_URL is None:
        assert services.redis is None
        pytest.skip("needs Redis (ANXIN_TEST_REDIS_URL)")
    assert services.redis is not None
    assert await services.redis.get(REDIS_PREFIX + digest) == PING.encode()
    ttl = await services.redis.ttl(REDIS_PREFIX + digest)
    assert 0 < ttl <= services.settings.persisted_queries_ttl_seconds


async def test_a_query_over_the_size_bound_runs_but_is_not_stored(settings: Settings) -> None:
    long_query = "query Long { " + " ".join(["__typename"] * 30) + " }"
    digest = sha256_hex(long_query)
    async with app_client(settings, persisted_queries_max_query_chars=100) as client:
        ran = await post(client, query=long_query, extensions=persisted(digest))
        assert ran.json() == {"data": {"__typename": "Query"}}
        assert codes(await post(client, extensions=persisted(digest))) == [
            "PERSISTED_QUERY_NOT_FOUND"
        ]


async def test_the_memory_store_keeps_the_most_recently_used() -> None:
    store = MemoryQueryStore(max_entries=2)
    await store.put("a", "A")
    await store.put("b", "B")
    assert await store.get("a") == "A"  # a is now the most recent
    await store.put("c", "C")
    assert [await store.get(k) for k in "abc"] == ["A", None, "C"]


async def test_off_says_not_supported_so_apollo_stops_hashing(settings: Settings) -> None:
    async with app_client(settings, persisted_queries=PersistedQueriesMode.OFF) as client:
        answer = await post(client, extensions=persisted(sha256_hex(PING)))
        assert answer.json()["errors"][0]["message"] == "PersistedQueryNotSupported"
        assert (await post(client, query=PING)).json() == {"data": {"__typename": "Query"}}


def test_the_manifest_holds_each_operation_as_printed_and_as_apollo_sends_it() -> None:
    text = (OPERATIONS / "app.graphql").read_text()
    manifest = build_manifest([text])
    documents = operations_of(text)
    assert len(documents) == 4 and len(manifest) == 8
    cards = documents[0]
    assert [d.name.value for d in cards.definitions] == ["PolicyCards", "PolicyCard"]  # type: ignore[attr-defined]
    assert manifest[sha256_hex(canonical(cards))] == canonical(cards)
    apollo = canonical(with_typename(cards))
    assert "product {\n    name\n    kind\n    __typename\n  }" in apollo
    assert sha256_hex(apollo) in manifest
    for digest, query in manifest.items():
        assert sha256_hex(query) == digest


class BuiltManifest(NamedTuple):
    path: Path
    entries: dict[str, str]  # hash -> query, as the file holds them


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> BuiltManifest:
    """The manifest as the build makes it: the CLI over the app's operations folder (once
    for the module's tests, which only read it)."""
    path = tmp_path_factory.mktemp("manifest") / "persisted-queries.json"
    subprocess.run(
        [sys.executable, "-m", "api.cli", "persisted-queries", str(OPERATIONS), "-o", str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return BuiltManifest(path, json.loads(path.read_text()))


async def test_allowlist_runs_the_manifests_operations_and_refuses_any_other(
    settings: Settings, manifest: BuiltManifest
) -> None:
    inbox = next(q for q in manifest.entries.values() if "query Inbox" in q)
    as_written = next(
        t for t in sources_in([OPERATIONS]) if "query Inbox" in t
    )  # the file: comments, other operations, other layout
    inbox_only = "query Inbox {\n" + as_written.split("query Inbox {\n", 1)[1].split("\n}\n")[0]
    allowlist = PersistedQueriesMode.ALLOWLIST
    async with app_client(
        settings, persisted_queries=allowlist, persisted_queries_manifest=manifest.path
    ) as client:
        by_hash = await post(client, extensions=persisted(sha256_hex(inbox)))
        assert by_hash.status_code == 200
        assert by_hash.json()["data"] is None  # it ran: Inbox needs a login
        assert "OPERATION_NOT_ALLOWED" not in codes(by_hash)
        in_full = await post(client, query=inbox_only + "\n}")
        assert "OPERATION_NOT_ALLOWED" not in codes(in_full)

        unknown = await post(client, query=PING)
        assert codes(unknown) == ["OPERATION_NOT_ALLOWED"]
        assert unknown.json()["data"] is None
        # By hash, then with the query (Apollo's retry): refused, and not stored.
        by_unknown_hash = await post(client, extensions=persisted(sha256_hex(PING)))
        assert codes(by_unknown_hash) == ["PERSISTED_QUERY_NOT_FOUND"]
        again = await post(client, query=PING, extensions=persisted(sha256_hex(PING)))
        assert codes(again) == ["OPERATION_NOT_ALLOWED"]
        assert codes(await post(client, extensions=persisted(sha256_hex(PING)))) == [
            "PERSISTED_QUERY_NOT_FOUND"
        ]

    # Over WebSocket too (the allow-list is a validation rule of the schema).
    app = create_app(
        settings.model_copy(
            update={
                "persisted_queries": PersistedQueriesMode.ALLOWLIST,
                "persisted_queries_manifest": manifest.path,
            }
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=ASGIWebSocketTransport(app), base_url="http://testserver"
        ) as ws_client,
        aconnect_ws(
            "http://testserver/graphql", ws_client, subprotocols=["graphql-transport-ws"]
        ) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json())["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": PING}})
        answer = await ws.receive_json()
        assert answer["type"] == "error", answer
        assert answer["payload"][0]["extensions"]["code"] == "OPERATION_NOT_ALLOWED"


def test_allowlist_needs_a_manifest(settings: Settings) -> None:
    with pytest.raises(ValueError, match="ANXIN_PERSISTED_QUERIES_MANIFEST"):
        Settings(**{**settings.model_dump(), "persisted_queries": "allowlist"})


# --- Apollo Client's PersistedQueryLink, against the gateway process ------------------


async def apollo_plan(services: Services) -> dict[str, str]:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    tokens = await start_session(services, SubjectKind.CUSTOMER, holder.id, Channel.APP)
    return {"ANXIN_TOKEN": tokens.access_token, "ANXIN_POLICY_ID": gid("Policy", policy.id)}


async def run_apollo(url: str, plan: dict[str, str], **env: str) -> dict[str, Any]:
    async with node_script("apollo-persisted.mjs", ANXIN_URL=url, **plan, **env) as script:
        events = await script.rest(60)
        assert script.process.returncode == 0, events[-1:]
    return {e["event"]: e for e in events}


@needs_node_clients
@pytest.mark.parametrize("use_get", [False, True], ids=["post", "get"])
async def test_apollo_persisted_query_link_sends_hashes_and_the_query_once(
    database_url: str, services: Services, tmp_path: Path, use_get: bool
) -> None:
    plan = await apollo_plan(services)
    async with running_gateway(database_url, tmp_path, relay=False) as url:
        steps = await run_apollo(url, plan, ANXIN_USE_GET="1" if use_get else "0")
    assert "done" in steps
    method = "GET" if use_get else "POST"
    first = steps["PolicyCards.first"]
    assert first["error"] is None, first
    assert first["data"]["myPolicies"]["totalCount"] == 1
    # The hash alone, PersistedQueryNotFound (200), then the query (always POSTed).
    assert [(s["method"], s["withQuery"], s["status"]) for s in first["sent"]] == [
        (method, False, 200),
        ("POST", True, 200),
    ]
    again = steps["PolicyCards.again"]
    assert again["error"] is None and again["data"] == first["data"]
    assert [(s["method"], s["withQuery"]) for s in again["sent"]] == [(method, False)]
    assert again["sent"][0]["hash"] == first["sent"][0]["hash"]
    screen = steps["PolicyScreen"]
    assert screen["error"] is None and screen["data"]["policy"]["id"] == plan["ANXIN_POLICY_ID"]
    assert steps["Inbox"]["error"] is None
    marked = steps["MarkAllRead"]
    assert marked["error"] is None, marked
    assert {s["method"] for s in marked["sent"]} == {"POST"}  # never a mutation by GET


@needs_node_clients
async def test_apollo_by_hash_alone_in_allowlist_mode_with_the_built_manifest(
    database_url: str, services: Services, tmp_path: Path, manifest: BuiltManifest
) -> None:
    """The manifest the CLI builds holds the hashes Apollo Client computes (where the two
    printers agree): those operations run on their first request, by hash; every app
    operation runs; an operation not in the manifest is refused."""
    plan = await apollo_plan(services)
    async with running_gateway(
        database_url,
        tmp_path,
        relay=False,
        persisted_queries="allowlist",
        persisted_queries_manifest=str(manifest.path),
    ) as url:
        steps = await run_apollo(url, plan)
    known = manifest.entries
    for name in ("PolicyCards.first", "PolicyScreen", "Inbox", "MarkAllRead"):
        step = steps[name]
        assert step["error"] is None, step
        # By hash alone where graphql-core prints as graphql-js does; otherwise once
        # more with the query (an object literal: `{ all: true }` vs `{all: true}`).
        if step["sent"][0]["hash"] in known:
            assert [s["withQuery"] for s in step["sent"]] == [False], name
        else:
            assert [s["withQuery"] for s in step["sent"]] == [False, True], name
    assert steps["PolicyCards.first"]["sent"][0]["hash"] in known
    assert [s["withQuery"] for s in steps["PolicyCards.again"]["sent"]] == [False]
    refused = steps["AdHoc"]
    assert refused["data"] is None
    assert [e["extensions"]["code"] for e in refused["error"]["errors"]] == [
        "OPERATION_NOT_ALLOWED"
    ]
