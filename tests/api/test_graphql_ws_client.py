"""The reference ``graphql-ws`` client under Node, against the gateway on 127.0.0.1 with
10-second access tokens, using the README's client snippet (``tests/clients/anxin-live.mjs``).

Found: the server closed a subscription's socket with 4401 when the token expired, and
graphql-ws treats 4401 as fatal: the app's live updates stopped for good every 15
minutes. Now expiry closes with 4403 (graphql-ws reconnects, asks ``connectionParams``
again, which refreshes the token, and subscribes again); ``claimUpdated`` answers with the
claim's current state first, so a change made while the socket was down is seen; a
logout still closes with 4401, which the client does not retry.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.services import Services
from models.auth import SubjectKind
from tests.api.gateway_process import CLIENTS, needs_node_clients, node_script, running_gateway
from tests.claims_helpers import auto_policy, loss_input
from tests.factories import make_customer
from workflows.auth import Channel, start_session

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SECONDS = 10
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id status } errors { code } } }"""
SUBMIT = """mutation($id: ID!) { submitClaim(input: {claimId: $id, explanation: "稍后补交"}) {
  claim { status } errors { code } } }"""
WITHDRAW = """mutation($id: ID!) {
  withdrawClaim(input: {claimId: $id, reason: "已私了"}) { claim { status } errors { code } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"access_token_ttl_seconds": TOKEN_SECONDS}


def status_of(event: dict[str, Any]) -> str:
    assert event["errors"] is None, event
    return str(event["data"]["claimUpdated"]["status"])


def test_the_readme_shows_the_client_the_tests_run() -> None:
    """The README's graphql-ws snippet is the module this test runs, word for word."""
    snippet = (CLIENTS / "anxin-live.mjs").read_text()
    body = snippet[snippet.index("import { createClient }") :]
    assert body in (ROOT / "README.md").read_text()


@needs_node_clients
async def test_graphql_ws_reconnects_after_expiry_catches_up_and_stops_at_logout(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    customer = await make_customer(services, "断线重连用户")
    policy, _ = await auto_policy(services, customer)
    async with (
        running_gateway(database_url, tmp_path, access_token_ttl_seconds=str(TOKEN_SECONDS)) as url,
        httpx.AsyncClient(timeout=10) as http,
    ):
        tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
        reported = await gql_at(
            http, url, REPORT, {"input": loss_input(policy)}, tokens.access_token
        )
        claim = reported["reportLoss"]["claim"]
        session = {
            "accessToken": tokens.access_token,
            "accessTokenExpiresAt": tokens.access_expires_at.isoformat(),
            "refreshToken": tokens.refresh_token,
        }
        async with node_script(
            "reconnect.mjs",
            ANXIN_GRAPHQL_URL=url,
            ANXIN_SESSION=json.dumps(session),
            ANXIN_CLAIM_ID=claim["id"],
        ) as client:
            # Subscribed: the claim as it is, without waiting for a change.
            assert status_of(await client.until("next", 15)) == claim["status"]

            # The token expires: 4403, which graphql-ws retries.
            closed = await client.until("closed", TOKEN_SECONDS + 10)
            assert (closed["code"], closed["reason"]) == (4403, "token expired")
            # While it is away (its first retry waits at least 1.3 s), the claim moves on.
            other = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
            submitted = await gql_at(http, url, SUBMIT, {"id": claim["id"]}, other.access_token)
            assert submitted["submitClaim"]["errors"] == []
            changed_at = time.time() * 1000

            # It reconnects by itself with a refreshed token and catches up.
            refreshed = await client.until("refreshed", 15)
            connected = await client.until("connected", 15)
            assert connected["retry"] is True and connected["at"] > changed_at
            assert status_of(await client.until("next", 10)) == "SUBMITTED"

            # The resubscribed operation is live again.
            withdrawn = await gql_at(
                http, url, WITHDRAW, {"id": claim["id"]}, refreshed["accessToken"]
            )
            assert withdrawn["withdrawClaim"]["errors"] == []
            assert status_of(await client.until("next", 10)) == "WITHDRAWN"

            # Logout revokes the session: 4401, fatal for graphql-ws, no reconnect.
            logout = await gql_at(
                http, url, "mutation { logout { loggedOut } }", {}, refreshed["accessToken"]
            )
            assert logout["logout"]["loggedOut"] is True
            events = await client.rest(15)
            after_logout = events[events.index(connected) + 1 :]
            closes = [e for e in after_logout if e["event"] == "closed"]
            assert [(e["code"], e["reason"]) for e in closes] == [(4401, "session revoked")]
            assert after_logout[-1]["event"] == "error" and after_logout[-1]["code"] == 4401
            assert not [e for e in after_logout if e["event"] in ("connecting", "connected")]
            assert client.process.returncode == 0
            connects = [e for e in events if e["event"] == "connected"]
            assert [e["retry"] for e in connects] == [False, True]


async def gql_at(
    http: httpx.AsyncClient, url: str, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """A GraphQL call to the gateway process."""
    response = await http.post(
        url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])
