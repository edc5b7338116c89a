"""Login, refresh, logout and staff login, through the GraphQL API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from hashlib import sha256 as _sha
from typing import Any

import httpx
import pytest

from api.services import Services
from models.auth import AuthSession, OtpChallenge, RefreshToken
from models.staff import StaffRole, StaffUser
from tests.conftest import postgres_only
from tests.factories import make_customer, make_staff, unique_phone
from tests.graphql import gql

REQUEST_CODE = """
mutation($phone: String!) {
  requestLoginCode(input: {phone: $phone}) {
    phone expiresInSeconds resendAfterSeconds errors { field message code }
  }
}"""
LOGIN = """
mutation($phone: String!, $code: String!) {
  loginWithCode(input: {phone: $phone, code: $code}) {
    session { accessToken refreshToken viewer { customer { id name phone } } }
    errors { field message code }
  }
}"""
REFRESH = """
mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) {
    session { accessToken refreshToken }
    errors { field code }
  }
}"""
STAFF_LOGIN = """
mutation($username: String!, $password: String!) {
  staffLogin(input: {username: $username, password: $password}) {
    session { accessToken viewer { staffMember { username role } permissions } }
    errors { field message code }
  }
}"""
ME = "{ me { customer { name phone } staffMember { username } } }"
LOGOUT = "mutation { logout { loggedOut errors { code } } }"


def sha256(value: str) -> str:
    return _sha(value.encode()).hexdigest()


def sent_code(services: Services, phone: str) -> str:
    return next(code for to, code in reversed(services.sms.sent) if to == phone)  # type: ignore[attr-defined]


async def request_code(client: httpx.AsyncClient, phone: str) -> dict[str, Any]:
    body = await gql(client, REQUEST_CODE, {"phone": phone})
    return body["data"]["requestLoginCode"]


async def login(client: httpx.AsyncClient, phone: str, code: str) -> dict[str, Any]:
    body = await gql(client, LOGIN, {"phone": phone, "code": code})
    return body["data"]["loginWithCode"]


async def sms_login(client: httpx.AsyncClient, services: Services, phone: str) -> dict[str, Any]:
    assert (await request_code(client, phone))["errors"] == []
    result = await login(client, phone, sent_code(services, phone))
    assert result["errors"] == []
    return result["session"]


async def test_sms_login_creates_a_session_for_the_phone(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services, name="王小明", phone="13912345678")
    sent = await request_code(client, "139 1234 5678")
    assert sent == {
        "phone": "139****5678",
        "expiresInSeconds": 300,
        "resendAfterSeconds": 60,
        "errors": [],
    }
    session = (await login(client, "+8613912345678", sent_code(services, "13912345678")))["session"]
    assert session["viewer"]["customer"]["name"] == "王小明"
    assert session["viewer"]["customer"]["phone"] == "139****5678"
    me = await gql(client, ME, token=session["accessToken"])
    assert me["data"]["me"]["customer"]["name"] == "王小明"
    # The code is stored only as a keyed hash.
    challenge = await OtpChallenge.get(phone_hash=customer.phone_hash)
    assert sent_code(services, "13912345678") not in challenge.code_hash


async def test_first_login_of_an_unknown_phone_opens_an_account(
    client: httpx.AsyncClient, services: Services
) -> None:
    session = await sms_login(client, services, "13700001111")
    assert session["viewer"]["customer"]["phone"] == "137****1111"


async def test_invalid_phone_is_a_typed_error_and_sends_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    result = await request_code(client, "12345")
    assert result["errors"] == [
        {"field": "phone", "message": "请输入正确的11位手机号码", "code": "INVALID_PHONE"}
    ]
    assert not services.sms.sent  # type: ignore[attr-defined]
    assert await OtpChallenge.all().count() == 0


async def test_resend_is_throttled(client: httpx.AsyncClient, services: Services) -> None:
    phone = unique_phone()
    assert (await request_code(client, phone))["errors"] == []
    again = await request_code(client, phone)
    assert again["errors"][0]["code"] == "THROTTLED"
    assert len(services.sms.sent) == 1  # type: ignore[attr-defined]


async def test_hourly_cap_on_codes(client: httpx.AsyncClient, services: Services) -> None:
    phone = unique_phone()
    phone_hash = services.pii.phone_hash(phone)
    past = datetime.now(UTC) - timedelta(minutes=30)
    for slot in range(services.settings.otp_max_per_hour):
        await OtpChallenge.create(
            phone_hash=phone_hash, send_slot=slot, code_hash="x", expires_at=past
        )
    await OtpChallenge.filter(phone_hash=phone_hash).update(created_at=past)
    result = await request_code(client, phone)
    assert result["errors"][0]["code"] == "THROTTLED"
    assert "一小时" in result["errors"][0]["message"]


async def test_five_wrong_codes_lock_the_code(
    client: httpx.AsyncClient, services: Services
) -> None:
    phone = unique_phone()
    await request_code(client, phone)
    right = sent_code(services, phone)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    codes = [(await login(client, phone, wrong))["errors"][0] for _ in range(5)]
    assert [c["code"] for c in codes] == ["INVALID_CODE"] * 4 + ["TOO_MANY_ATTEMPTS"]
    assert codes[0]["message"] == "验证码错误，还可尝试4次"
    locked = await login(client, phone, right)
    assert locked["session"] is None
    assert locked["errors"][0]["code"] == "TOO_MANY_ATTEMPTS"


async def test_expired_and_used_codes_are_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    phone = unique_phone()
    await request_code(client, phone)
    code = sent_code(services, phone)
    assert (await login(client, phone, code))["errors"] == []
    assert (await login(client, phone, code))["errors"][0]["code"] == "CODE_REQUIRED"

    other = unique_phone()
    await request_code(client, other)
    await OtpChallenge.filter(phone_hash=services.pii.phone_hash(other)).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    expired = await login(client, other, sent_code(services, other))
    assert expired["errors"][0]["code"] == "CODE_EXPIRED"


async def test_malformed_code_is_refused_without_counting(
    client: httpx.AsyncClient, services: Services
) -> None:
    phone = unique_phone()
    await request_code(client, phone)
    result = await login(client, phone, "12ab")
    assert result["errors"][0] == {
        "field": "code",
        "message": "请输入6位数字验证码",
        "code": "INVALID_CODE",
    }
    challenge = await OtpChallenge.get(phone_hash=services.pii.phone_hash(phone))
    assert challenge.attempts == 0


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, services: Services
) -> None:
    session = await sms_login(client, services, unique_phone())
    first = (await gql(client, REFRESH, {"token": session["refreshToken"]}))["data"]
    rotated = first["refreshToken"]["session"]
    assert rotated["refreshToken"] != session["refreshToken"]
    assert (await gql(client, ME, token=rotated["accessToken"]))["data"]["me"] is not None

    # Presented again minutes later, the old token must have leaked.
    await RefreshToken.filter(token_hash=sha256(session["refreshToken"])).update(
        rotated_at=datetime.now(UTC) - timedelta(minutes=2)
    )
    reuse = (await gql(client, REFRESH, {"token": session["refreshToken"]}))["data"]
    assert reuse["refreshToken"] == {
        "session": None,
        "errors": [{"field": "refreshToken", "code": "REFRESH_TOKEN_REUSED"}],
    }
    # The whole family is gone: the newest refresh token and the access tokens too.
    newest = (await gql(client, REFRESH, {"token": rotated["refreshToken"]}))["data"]
    assert newest["refreshToken"]["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert (await gql(client, ME, token=rotated["accessToken"]))["data"]["me"] is None
    assert (await gql(client, ME, token=session["accessToken"]))["data"]["me"] is None


async def test_a_duplicate_refresh_moments_later_keeps_the_session(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Two tabs or a retry: the loser is refused, the winner's tokens keep working."""
    session = await sms_login(client, services, unique_phone())
    first = (await gql(client, REFRESH, {"token": session["refreshToken"]}))["data"]
    winner = first["refreshToken"]["session"]
    duplicate = (await gql(client, REFRESH, {"token": session["refreshToken"]}))["data"]
    assert duplicate["refreshToken"]["errors"] == [
        {"field": "refreshToken", "code": "INVALID_REFRESH_TOKEN"}
    ]
    assert (await gql(client, ME, token=winner["accessToken"]))["data"]["me"] is not None
    again = (await gql(client, REFRESH, {"token": winner["refreshToken"]}))["data"]
    assert again["refreshToken"]["errors"] == []


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    result = (await gql(client, REFRESH, {"token": "not-a-token"}))["data"]["refreshToken"]
    assert result["errors"] == [{"field": "refreshToken", "code": "INVALID_REFRESH_TOKEN"}]


async def test_logout_ends_the_session(client: httpx.AsyncClient, services: Services) -> None:
    session = await sms_login(client, services, unique_phone())
    result = await gql(client, LOGOUT, token=session["accessToken"])
    assert result["data"]["logout"] == {"loggedOut": True, "errors": []}
    assert (await gql(client, ME, token=session["accessToken"]))["data"]["me"] is None
    refresh = (await gql(client, REFRESH, {"token": session["refreshToken"]}))["data"]
    assert refresh["refreshToken"]["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    anonymous = await gql(client, LOGOUT)
    assert anonymous["data"]["logout"]["errors"][0]["code"] == "NOT_AUTHENTICATED"


async def test_tampered_or_foreign_tokens_are_anonymous(
    client: httpx.AsyncClient, services: Services
) -> None:
    session = await sms_login(client, services, unique_phone())
    token = session["accessToken"]
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert (await gql(client, ME, token=tampered))["data"]["me"] is None
    import jwt

    forged = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False})},
        "another-secret-of-sufficient-length-for-hs256",
        algorithm="HS256",
    )
    assert (await gql(client, ME, token=forged))["data"]["me"] is None
    none_alg = jwt.encode(
        jwt.decode(token, options={"verify_signature": False}), None, algorithm="none"
    )
    assert (await gql(client, ME, token=none_alg))["data"]["me"] is None


async def test_staff_login_and_permissions(client: httpx.AsyncClient) -> None:
    await make_staff(StaffRole.SUPERVISOR, username="zhao.min", password="correct-horse-1")
    result = (
        await gql(client, STAFF_LOGIN, {"username": " Zhao.Min ", "password": "correct-horse-1"})
    )["data"]["staffLogin"]
    assert result["errors"] == []
    viewer = result["session"]["viewer"]
    assert viewer["staffMember"] == {"username": "zhao.min", "role": "SUPERVISOR"}
    assert "STAFF_READ" in viewer["permissions"]


@pytest.mark.parametrize(
    "settings_overrides", [{"staff_max_failed_logins": 2, "staff_lockout_seconds": 3}]
)
async def test_staff_lockout_after_repeated_failures(client: httpx.AsyncClient) -> None:
    """Short settings keep it quick (five failures: tests/security/test_staff_enumeration)."""
    await make_staff(username="li.ming", password="right-password")
    for _ in range(2):
        bad = await gql(client, STAFF_LOGIN, {"username": "li.ming", "password": "nope"})
        assert bad["data"]["staffLogin"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    locked = await gql(client, STAFF_LOGIN, {"username": "li.ming", "password": "right-password"})
    assert locked["data"]["staffLogin"]["errors"][0]["code"] == "ACCOUNT_LOCKED"
    await asyncio.sleep(3.1)  # the lockout time passes (counted from the last failure)
    ok = await gql(client, STAFF_LOGIN, {"username": "li.ming", "password": "right-password"})
    assert ok["data"]["staffLogin"]["errors"] == []


async def test_unknown_and_disabled_staff_get_the_same_answer(client: httpx.AsyncClient) -> None:
    await make_staff(
        username="gone",
        password="pw-123456",
    )
    await StaffUser.filter(username="gone").update(is_active=False)
    unknown = await gql(client, STAFF_LOGIN, {"username": "nobody", "password": "pw-123456"})
    disabled = await gql(client, STAFF_LOGIN, {"username": "gone", "password": "pw-123456"})
    assert unknown["data"] == {
        "staffLogin": {
            "session": None,
            "errors": [
                {"field": "password", "message": "用户名或密码错误", "code": "INVALID_CREDENTIALS"}
            ],
        }
    }
    assert disabled["data"] == unknown["data"]


async def test_disabled_staff_cannot_refresh(client: httpx.AsyncClient) -> None:
    staff = await make_staff(username="leaver", password="pw-123456")
    login_result = await gql(
        client,
        'mutation { staffLogin(input: {username: "leaver", password: "pw-123456"}) '
        "{ session { refreshToken } } }",
    )
    refresh_token = login_result["data"]["staffLogin"]["session"]["refreshToken"]
    await StaffUser.filter(id=staff.id).update(is_active=False)
    result = (await gql(client, REFRESH, {"token": refresh_token}))["data"]["refreshToken"]
    assert result["errors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    assert await AuthSession.filter(subject_id=staff.id, revoked_at=None).count() == 0


@postgres_only
@pytest.mark.parametrize("settings_overrides", [{"limit_login_per_ip": "100/1m"}])
async def test_guesses_sent_at_once_cannot_exceed_the_lockout_limit(
    client: httpx.AsyncClient,
) -> None:
    await make_staff(username="target", password="the-right-one")
    results = await asyncio.gather(
        *[
            gql(client, STAFF_LOGIN, {"username": "target", "password": f"guess-{n}"})
            for n in range(20)
        ]
    )
    codes = [r["data"]["staffLogin"]["errors"][0]["code"] for r in results]
    assert codes.count("INVALID_CREDENTIALS") == 5  # only five passwords were checked
    assert codes.count("ACCOUNT_LOCKED") == 15
    right = await gql(client, STAFF_LOGIN, {"username": "target", "password": "the-right-one"})
    assert right["data"]["staffLogin"]["errors"][0]["code"] == "ACCOUNT_LOCKED"


async def test_a_disabled_or_demoted_staff_members_token_follows_the_account(
    client: httpx.AsyncClient,
) -> None:
    staff = await make_staff(StaffRole.SUPERVISOR, username="mover", password="pw-123456")
    login = await gql(client, STAFF_LOGIN, {"username": "mover", "password": "pw-123456"})
    token = login["data"]["staffLogin"]["session"]["accessToken"]
    permissions = "{ me { permissions } }"
    assert (
        "STAFF_READ" in (await gql(client, permissions, token=token))["data"]["me"]["permissions"]
    )
    await StaffUser.filter(id=staff.id).update(role=StaffRole.AGENT)
    demoted = (await gql(client, permissions, token=token))["data"]["me"]["permissions"]
    assert "STAFF_READ" not in demoted
    await StaffUser.filter(id=staff.id).update(is_active=False)
    assert (await gql(client, permissions, token=token))["data"]["me"] is None


async def test_a_token_cannot_claim_another_identity_than_its_session(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Even with the signing key, a token naming a session of someone else is anonymous."""
    import uuid

    import jwt

    session = await sms_login(client, services, unique_phone())
    claims = jwt.decode(session["accessToken"], options={"verify_signature": False})
    forged = {**claims, "knd": "staff", "role": "admin", "sub": str(uuid.uuid4())}
    token = jwt.encode(forged, services.settings.secret_key.get_secret_value(), "HS256")
    assert (await gql(client, "{ me { permissions } }", token=token))["data"]["me"] is None


@postgres_only
async def test_concurrent_refreshes_of_one_token_succeed_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    session = await sms_login(client, services, unique_phone())
    results = await asyncio.gather(
        *[gql(client, REFRESH, {"token": session["refreshToken"]}) for _ in range(10)]
    )
    sessions = [r["data"]["refreshToken"]["session"] for r in results]
    winners = [s for s in sessions if s is not None]
    assert len(winners) == 1
    assert (await gql(client, ME, token=winners[0]["accessToken"]))["data"]["me"] is not None


@postgres_only
async def test_double_tap_sends_one_code(client: httpx.AsyncClient, services: Services) -> None:
    phone = unique_phone()
    results = await asyncio.gather(*[request_code(client, phone) for _ in range(5)])
    assert sum(r["errors"] == [] for r in results) == 1
    assert len(services.sms.sent) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", ["myPolicies", "node", "searchPolicies"])
async def test_anonymous_callers_are_told_to_log_in(client: httpx.AsyncClient, field: str) -> None:
    queries = {
        "myPolicies": "{ myPolicies { totalCount } }",
        "node": '{ node(id: "UG9saWN5OjE=") { id } }',
        "searchPolicies": '{ searchPolicies(input: {number: "X"}) { totalCount } }',
    }
    body = await gql(client, queries[field], allow_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
