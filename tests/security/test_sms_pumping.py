"""SMS pumping: one client asking for login codes to many numbers (paid SMS, and code
guessing spread over many accounts). Limits per client IP and app installation come
before the per-phone limits; X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from api.services import Services
from tests.factories import unique_phone

REQUEST_CODE = """
mutation($phone: String!) {
  requestLoginCode(input: {phone: $phone}) {
    phone errors { field message code retryAfterSeconds }
  }
}"""
LOGIN = """
mutation($phone: String!, $code: String!) {
  loginWithCode(input: {phone: $phone, code: $code}) {
    session { accessToken } errors { field code retryAfterSeconds }
  }
}"""
BIND = """
mutation($phone: String!) {
  bindWechatPhone(input: {bindingTicket: "t", phone: $phone, code: "123456"}) {
    errors { code retryAfterSeconds }
  }
}"""
WECHAT = 'mutation { wechatLogin(input: {code: "js-code"}) { errors { code retryAfterSeconds } } }'


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def errors_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return next(iter(data.values()))["errors"]


@pytest.fixture
async def proxied(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Requests arriving through our load balancer at 10.0.0.2."""
    transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_one_client_cannot_send_codes_to_many_numbers(
    client: httpx.AsyncClient, services: Services
) -> None:
    results = [
        errors_of(await post(client, REQUEST_CODE, {"phone": unique_phone()})) for _ in range(40)
    ]
    allowed = services.settings.limit_sms_per_ip.count
    assert [r == [] for r in results] == [True] * allowed + [False] * (40 - allowed)
    assert len(services.sms.sent) == allowed  # type: ignore[attr-defined]
    refused = results[-1][0]
    assert refused["code"] == "THROTTLED"
    assert 0 < refused["retryAfterSeconds"] <= services.settings.limit_sms_per_ip.window_seconds
    assert "后再试" in refused["message"]


async def test_a_forged_x_forwarded_for_does_not_make_new_clients(
    client: httpx.AsyncClient, services: Services
) -> None:
    """No proxy is trusted by default: the header is the attacker's own text."""
    for n in range(15):
        headers = {"x-forwarded-for": f"203.0.113.{n}"}
        await post(client, REQUEST_CODE, {"phone": unique_phone()}, headers)
    assert len(services.sms.sent) == services.settings.limit_sms_per_ip.count  # type: ignore[attr-defined]


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": ["10.0.0.0/8"]}])
async def test_behind_a_trusted_proxy_each_client_counts_alone(
    proxied: httpx.AsyncClient, services: Services
) -> None:
    per_ip = services.settings.limit_sms_per_ip.count
    for n in range(per_ip):
        # What the client wrote itself (left of what our proxy added) is ignored.
        headers = {"x-forwarded-for": f"192.0.2.{n}, 198.51.100.7"}
        assert (
            errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, headers)) == []
        )
    again = {"x-forwarded-for": "192.0.2.99, 198.51.100.7"}
    refused = errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, again))
    assert refused[0]["code"] == "THROTTLED"
    other = {"x-forwarded-for": "198.51.100.8"}
    assert errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, other)) == []


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": ["10.0.0.0/8"]}])
async def test_one_app_installation_is_limited_across_addresses(
    proxied: httpx.AsyncClient, services: Services
) -> None:
    """A phone moving between Wi-Fi and mobile data keeps its installation id."""
    installation = "6f1c1b8e-4c9a-4f7e-9a59-2d7c1c0e5b11"
    per_installation = services.settings.limit_sms_per_installation.count
    results = []
    for n in range(per_installation + 1):
        headers = {"x-forwarded-for": f"198.51.100.{n}", "x-anxin-installation": installation}
        results.append(
            errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, headers))
        )
    assert all(r == [] for r in results[:-1])
    assert results[-1][0]["code"] == "THROTTLED"
    assert results[-1][0]["retryAfterSeconds"] > 0


async def test_code_guesses_spread_over_many_phones_are_limited(
    client: httpx.AsyncClient, services: Services
) -> None:
    allowed = services.settings.limit_login_per_ip.count
    codes = [
        errors_of(await post(client, LOGIN, {"phone": unique_phone(), "code": "123456"}))[0]
        for _ in range(allowed + 3)
    ]
    assert {c["code"] for c in codes[:allowed]} == {"CODE_REQUIRED"}
    assert {c["code"] for c in codes[allowed:]} == {"THROTTLED"}
    assert all(c["retryAfterSeconds"] > 0 for c in codes[allowed:])


@pytest.mark.parametrize(
    "settings_overrides",
    [{"limit_login_per_ip": "1/1m", "wechat_api_base_url": "http://127.0.0.1:1"}],
)
@pytest.mark.parametrize("mutation", ["wechatLogin", "bindWechatPhone"])
async def test_every_login_path_shares_the_clients_limit(
    client: httpx.AsyncClient, mutation: str
) -> None:
    query, variables = (
        (WECHAT, None) if mutation == "wechatLogin" else (BIND, {"phone": unique_phone()})
    )
    first = errors_of(await post(client, query, variables))
    assert first[0]["code"] != "THROTTLED"
    second = errors_of(await post(client, query, variables))
    assert second[0]["code"] == "THROTTLED"
    assert second[0]["retryAfterSeconds"] > 0


async def test_per_phone_refusals_say_when_to_retry(
    client: httpx.AsyncClient, services: Services
) -> None:
    phone = unique_phone()
    assert errors_of(await post(client, REQUEST_CODE, {"phone": phone})) == []
    again = errors_of(await post(client, REQUEST_CODE, {"phone": phone}))[0]
    assert again["code"] == "THROTTLED"
    assert 0 < again["retryAfterSeconds"] <= services.settings.otp_resend_seconds


async def test_sms_code_counters_live_in_redis_when_configured(services: Services) -> None:
    from workflows.limits import MemoryRateLimiter, RedisRateLimiter

    expected = RedisRateLimiter if services.redis is not None else MemoryRateLimiter
    assert isinstance(services.limiter, expected)


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": ["10.0.0.0/8"]}])
async def test_an_ipv6_subscriber_is_one_client_for_its_whole_64(
    proxied: httpx.AsyncClient, services: Services
) -> None:
    """One IPv6 subscriber gets a whole /64: a new address per request is not a new
    client (before, 2**64 clients)."""
    per_ip = services.settings.limit_sms_per_ip.count
    results = []
    for n in range(per_ip + 3):
        headers = {"x-forwarded-for": f"2001:db8:1:2::{n + 1:x}"}
        results.append(
            errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, headers))
        )
    assert [r == [] for r in results] == [True] * per_ip + [False] * 3
    other = {"x-forwarded-for": "2001:db8:1:3::1"}  # the next /64: someone else
    assert errors_of(await post(proxied, REQUEST_CODE, {"phone": unique_phone()}, other)) == []
