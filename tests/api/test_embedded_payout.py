"""End to end on the embedded server (background jobs in the API process, as `make
serve` runs): a claim is approved, the claimant chose a sandbox account, and the claim
becomes PAID with nobody calling a job by hand. Before the job registry, the long-running
modes never scheduled the payout job: the claim stayed PAYING for ever."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.services import Services
from tests.graphql import gql
from tests.workflows.payments.test_payouts import paying_claim

CLAIM = "query($id: ID!) { node(id: $id) { ... on Claim { status payouts { status } } } }"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The payout job every 0.2 s instead of every minute, so the test is quick.
    return {"background_jobs": True, "job_intervals": {"payouts": 0.2}}


async def test_an_approved_claim_is_paid_by_the_embedded_server(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    claim: dict[str, Any] = {}
    for _ in range(300):
        body = await gql(client, CLAIM, {"id": setup.claim_id}, token=setup.customer)
        claim = body["data"]["node"]
        if claim["status"] == "PAID":
            break
        await asyncio.sleep(0.05)
    assert claim == {"status": "PAID", "payouts": [{"status": "SUCCESS"}]}
