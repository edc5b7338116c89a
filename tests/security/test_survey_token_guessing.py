"""Guessing survey link tokens: ``surveyByToken`` and ``submitSurvey`` with a token need
no login, so each client may try only so many tokens (THROTTLED with the seconds to
wait). The right token from a throttled client is refused too: nothing is looked up."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from api.services import Services
from tests.factories import make_customer
from tests.graphql import gql
from workflows import surveys

BY_TOKEN = "query($t: String!) { surveyByToken(token: $t) { title } }"
SUBMIT = """mutation($input: SubmitSurveyInput!) { submitSurvey(input: $input) {
  accepted errors { field code message retryAfterSeconds } } }"""

pytestmark = pytest.mark.parametrize("settings_overrides", [{"limit_survey_token_per_ip": "5/10m"}])


@pytest.fixture
async def token(services: Services) -> str:
    customer = await make_customer(services)
    async with in_transaction():
        made = await surveys.invite(customer.id, "claim.closed", "claim", "c-1", "CLAIM_SERVICE")
    assert made is not None
    return services.survey_links.token(made.id)


async def test_looking_tokens_up_is_limited_per_client(
    client: httpx.AsyncClient, token: str
) -> None:
    for n in range(5):
        body = await gql(client, BY_TOKEN, {"t": f"guess-{n}"})
        assert body["data"]["surveyByToken"] is None
    refused = await gql(client, BY_TOKEN, {"t": token}, allow_errors=True)
    assert refused["data"] == {"surveyByToken": None}
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "THROTTLED"
    assert 0 < error["extensions"]["retryAfterSeconds"] <= 600
    assert "后再试" in error["message"]


async def test_answering_by_token_shares_the_limit(client: httpx.AsyncClient, token: str) -> None:
    async def submit(value: str) -> dict[str, Any]:
        variables = {"input": {"token": value, "answers": []}}
        return (await gql(client, SUBMIT, variables))["data"]["submitSurvey"]

    for n in range(3):
        assert (await gql(client, BY_TOKEN, {"t": f"guess-{n}"}))["data"]["surveyByToken"] is None
    for n in range(2):
        assert (await submit(f"guess-{n}"))["errors"][0]["code"] == "NOT_FOUND"
    refused = await submit(token)
    assert refused["accepted"] is False
    [error] = refused["errors"]
    assert error["code"] == "THROTTLED" and 0 < error["retryAfterSeconds"] <= 600
