"""Staff usernames must not be discoverable (real ones used to answer ACCOUNT_LOCKED
after five failures, unknown ones never), and nobody may lock a colleague out from
elsewhere. Failures count per username and client IP, unknown names alike; a ceiling
per username catches guessing spread over many addresses; a storm of lockouts is
reported on the ``anxin.security`` logger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from tests.factories import make_staff
from tests.graphql import gql
from workflows import auth

STAFF_LOGIN = """
mutation($username: String!, $password: String!) {
  staffLogin(input: {username: $username, password: $password}) {
    session { accessToken } errors { field message code retryAfterSeconds }
  }
}"""


@pytest.fixture
def from_ip(app: Starlette) -> Callable[[str], Any]:
    @asynccontextmanager
    async def open_client(ip: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(ip, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    return open_client


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    verify = auth._verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(auth, "_verify_password", counting)
    return checked


async def attempt(client: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    body = await gql(client, STAFF_LOGIN, {"username": username, "password": password})
    return body["data"]["staffLogin"]


def answers(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["errors"][0]["code"], r["errors"][0]["message"]) for r in results]


async def test_unknown_and_real_usernames_answer_alike(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    await make_staff(username="li.ming", password="right-password")
    real = [await attempt(client, "li.ming", "guess") for _ in range(7)]
    real_hashes = len(hashes)
    unknown = [await attempt(client, "no.such.person", "guess") for _ in range(7)]
    assert answers(real) == answers(unknown)
    assert [code for code, _ in answers(unknown)] == ["INVALID_CREDENTIALS"] * 5 + [
        "ACCOUNT_LOCKED"
    ] * 2
    locked = unknown[-1]["errors"][0]
    assert 0 < locked["retryAfterSeconds"] <= 900 and "后再试" in locked["message"]
    # The same work for both: five hashes each (a dummy one for the unknown name).
    assert real_hashes == 5 and len(hashes) == 10


async def test_an_attacker_cannot_lock_a_colleague_out(
    from_ip: Callable[[str], Any],
) -> None:
    await make_staff(username="li.ming", password="right-password")
    async with from_ip("198.51.100.66") as attacker:
        for _ in range(6):
            await attempt(attacker, "li.ming", "guess")
        refused = await attempt(attacker, "li.ming", "right-password")
        assert refused["errors"][0]["code"] == "ACCOUNT_LOCKED"
    async with from_ip("10.20.0.15") as office:
        assert (await attempt(office, "li.ming", "right-password"))["errors"] == []


async def test_a_successful_login_clears_its_clients_failures(client: httpx.AsyncClient) -> None:
    await make_staff(username="li.ming", password="right-password")
    for _ in range(4):
        await attempt(client, "li.ming", "typo")
    assert (await attempt(client, "li.ming", "right-password"))["errors"] == []
    for _ in range(4):
        assert (await attempt(client, "li.ming", "typo"))["errors"][0]["code"] == (
            "INVALID_CREDENTIALS"
        )


@pytest.mark.parametrize(
    "settings_overrides",
    [{"staff_max_failed_logins_per_account": 7, "limit_login_per_ip": "100/1m"}],
)
async def test_guessing_spread_over_addresses_meets_a_ceiling_per_username(
    from_ip: Callable[[str], Any],
) -> None:
    """Repeated tries from all addresses together meet a ceiling per username; a first
    try from a clean address is never refused, so the guessers cannot lock a colleague
    out (the lockout DoS the per-client lock was for)."""
    await make_staff(username="li.ming", password="right-password")
    codes = []
    for n in range(12):  # four addresses, three guesses each: below five per address
        async with from_ip(f"203.0.113.{n % 4 + 1}") as guesser:
            codes.append((await attempt(guesser, "li.ming", f"guess-{n}"))["errors"][0]["code"])
    # Each address's first try is not counted; the 8th counted try meets the ceiling of 7.
    assert codes[:11] == ["INVALID_CREDENTIALS"] * 11
    assert codes[11] == "ACCOUNT_LOCKED"
    async with from_ip("203.0.113.1") as guesser:
        again = await attempt(guesser, "li.ming", "guess-again")
        assert again["errors"][0]["code"] == "ACCOUNT_LOCKED"
    async with from_ip("10.20.0.15") as colleague:
        result = await attempt(colleague, "li.ming", "right-password")
        assert result["errors"] == []
    async with from_ip("203.0.113.9") as anyone:
        unknown = await attempt(anyone, "no.such.person", "guess")
    assert unknown["errors"][0]["code"] == "INVALID_CREDENTIALS"  # only that name


async def test_guesses_at_an_unknown_name_sent_at_once_stop_at_the_limit(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    """The reservation before hashing holds for unknown names as for real ones."""
    results = await asyncio.gather(
        *[attempt(client, "no.such.person", f"guess-{n}") for n in range(12)]
    )
    codes = [r["errors"][0]["code"] for r in results]
    assert codes.count("INVALID_CREDENTIALS") == 5
    assert codes.count("ACCOUNT_LOCKED") == 7
    assert len(hashes) == 5


@pytest.mark.parametrize(
    "settings_overrides",
    [{"staff_max_failed_logins": 1, "lockout_storm": "3/5m", "limit_login_per_ip": "100/1m"}],
)
async def test_a_lockout_storm_is_reported_once(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="anxin.security")
    for n in range(3):
        await attempt(client, f"user{n}", "guess")  # three lockouts: normal life
    assert not [r for r in caplog.records if r.name == "anxin.security"]
    for n in range(3, 8):
        await attempt(client, f"user{n}", "guess")
    storm = [r for r in caplog.records if r.name == "anxin.security"]
    assert len(storm) == 1
    assert storm[0].levelno == logging.WARNING
    assert "lockout storm" in storm[0].getMessage()
