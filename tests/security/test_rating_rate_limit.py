"""Flooding ``rateService`` (210 one-star ratings in 1.2 s buried a real complaint in
the recovery queue): ratings per customer are rate-limited. Which subjects may be
rated is checked in workflows/surveys.py; this only limits how often."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.claims import ClaimStatus
from models.surveys import ServiceRating
from tests.factories import customer_token, make_claim, make_customer, make_policy
from tests.graphql import gql

RATE = """mutation($input: RateServiceInput!) { rateService(input: $input) {
  rating { stars } errors { field code message retryAfterSeconds } } }"""


@pytest.mark.parametrize("settings_overrides", [{"limit_ratings_per_customer": "3/1h"}])
async def test_a_customer_cannot_flood_ratings(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    claim = await make_claim(customer, await make_policy(services, customer), ClaimStatus.PAID)
    token = await customer_token(services, customer)
    subject = str(relay.GlobalID("Claim", str(claim.id)))

    async def rate(stars: int) -> dict[str, Any]:
        variables = {"input": {"subjectType": "CLAIM", "subjectId": subject, "stars": stars}}
        return (await gql(client, RATE, variables, token=token))["data"]["rateService"]

    assert [(await rate(stars))["errors"] for stars in (5, 4, 3)] == [[], [], []]
    refused = await rate(1)
    assert refused["rating"] is None
    [error] = refused["errors"]
    assert error["code"] == "THROTTLED"
    assert 3500 < error["retryAfterSeconds"] <= 3600
    assert [r.stars for r in await ServiceRating.all()] == [3]  # the refused one changed nothing
    # Another customer has their own allowance.
    other = await make_customer(services)
    other_claim = await make_claim(other, await make_policy(services, other), ClaimStatus.PAID)
    variables = {
        "input": {
            "subjectType": "CLAIM",
            "subjectId": str(relay.GlobalID("Claim", str(other_claim.id))),
            "stars": 5,
        }
    }
    result = await gql(client, RATE, variables, token=await customer_token(services, other))
    assert result["data"]["rateService"]["errors"] == []


async def test_the_default_allows_twenty_ratings_an_hour(services: Services) -> None:
    assert (
        services.settings.limit_ratings_per_customer.count,
        services.settings.limit_ratings_per_customer.window_seconds,
    ) == (20, 3600)
