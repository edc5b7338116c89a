"""CPU amplification: one anonymous request making many argon2 hashes (30 aliased
``staffLogin`` calls cost 14.5 s), or many cheap requests making one each. At most one
costly anonymous mutation per request, through aliases and fragments; and the client's
login rate is checked before any password is hashed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.factories import make_staff
from tests.graphql import gql
from workflows import auth


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The password hashes checked (counted, then really checked)."""
    checked: list[str] = []
    verify: Callable[[str, str], bool] = auth._verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(auth, "_verify_password", counting)
    return checked


def staff_login(alias: str, n: int) -> str:
    return (
        f'{alias}: staffLogin(input: {{username: "admin", password: "guess-{n}"}}) '
        "{ errors { code } }"
    )


async def test_aliased_logins_in_one_request_are_refused_before_any_hash(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    await make_staff(username="admin", password="the-right-one")
    hashes.clear()
    query = "mutation {" + " ".join(staff_login(f"a{n}", n) for n in range(30)) + "}"
    body = await gql(client, query, allow_errors=True)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "ONE_LOGIN_PER_REQUEST"
    assert hashes == []


@pytest.mark.parametrize(
    "query",
    [
        # Through a named fragment and an inline fragment.
        "fragment F on Mutation { "
        + staff_login("a", 1)
        + " } mutation { ...F ... on Mutation { "
        + staff_login("b", 2)
        + " } }",
        # Two different costly mutations.
        'mutation { requestLoginCode(input: {phone: "13900000001"}) { errors { code } } '
        + staff_login("b", 2)
        + " }",
        # Refresh rotations and WeChat logins are costly too.
        'mutation { a: refreshToken(input: {refreshToken: "x"}) { errors { code } } '
        'b: refreshToken(input: {refreshToken: "y"}) { errors { code } } }',
        'mutation { a: wechatLogin(input: {code: "x"}) { errors { code } } '
        'b: wechatLogin(input: {code: "y"}) { errors { code } } }',
    ],
    ids=["fragments", "mixed", "refresh", "wechat"],
)
async def test_costly_mutations_cannot_be_multiplied_in_one_request(
    client: httpx.AsyncClient, hashes: list[str], query: str
) -> None:
    body = await gql(client, query, allow_errors=True)
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["ONE_LOGIN_PER_REQUEST"]
    assert hashes == []


async def test_one_login_per_request_still_works(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    """One login with other (cheap) fields, and the same field repeated under one
    response key (graphql merges it into one call), are fine."""
    await make_staff(username="admin", password="the-right-one")
    query = (
        'mutation { staffLogin(input: {username: "admin", password: "the-right-one"}) '
        '{ errors { code } } staffLogin(input: {username: "admin", password: "the-right-one"}) '
        "{ session { accessToken } } }"
    )
    body = await gql(client, query)
    assert body["data"]["staffLogin"]["errors"] == []
    assert len(hashes) == 1


@pytest.mark.parametrize("settings_overrides", [{"limit_login_per_ip": "3/1m"}])
async def test_a_clients_login_rate_is_checked_before_hashing(
    client: httpx.AsyncClient, hashes: list[str]
) -> None:
    """Spread over usernames (so no lockout applies) and over requests."""
    codes = []
    for n in range(8):
        body = await gql(
            client,
            'mutation($u: String!) { staffLogin(input: {username: $u, password: "pw"}) '
            "{ errors { code retryAfterSeconds } } }",
            {"u": f"user{n}"},
        )
        codes.append(body["data"]["staffLogin"]["errors"][0])
    assert [c["code"] for c in codes] == ["INVALID_CREDENTIALS"] * 3 + ["THROTTLED"] * 5
    assert all(0 < c["retryAfterSeconds"] <= 60 for c in codes[3:])
    assert len(hashes) == 3
