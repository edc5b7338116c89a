"""FCM HTTP v1 against a fake Google on 127.0.0.1: an OAuth2 token endpoint that checks
the RS256 service-account assertion with the account's public key, and a send endpoint
that checks the access token, the project and the message shape. Messages must arrive
as Google would accept them, one access token must serve many concurrent sends until
it runs out, every answer must become the right ``DeliveryError``, and the
service-account key must never leak."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push.base import (
    DeadTargetError,
    DeliveryError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)
from push.fcm import FcmChannel
from tests.fakes.fcm import FakeFcm
from tests.fakes.server import http_client, refused_url

PROJECT = "anxin-insurance-prod"
ACCOUNT = "firebase-adminsdk-x1y2z@anxin-insurance-prod.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEVICE = "dQw4w9WgXcQ:APA91bH" + "x7Kq2" * 28
T0 = 1_750_000_000.0
MESSAGE = PushMessage(
    kind="claim.approved",
    title="理赔已通过",
    body="您的理赔申请 CL202506150001 已审核通过。",
    deep_link="anxin://claims/Q2xhaW06MQ==",
    mini_program_page="pages/claims/detail?id=Q2xhaW06MQ==",
    urgent=True,
    collapse_id="7a0d3c4e-5b8f-4f4e-9c61-0d2b9f1e6a11",
    data={"amount": Decimal("1280.00"), "days": 3, "claim_no": "CL202506150001"},
)


class ManualClock:
    """Time that moves only when a test says so; shared by the channel and the fake."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pem_of(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def account_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def google(account_key: rsa.RSAPrivateKey, clock: ManualClock) -> AsyncIterator[FakeFcm]:
    fake = FakeFcm(PROJECT, ACCOUNT, account_key.public_key(), clock=clock)
    async with fake.running():
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's shared client: HTTP/1.1 is all FCM needs."""
    async with http_client(timeout=5) as client:
        yield client


def make_channel(
    http: httpx.AsyncClient,
    google: FakeFcm,
    key: rsa.RSAPrivateKey,
    clock: ManualClock,
    *,
    base_url: str | None = None,
    token_url: str | None = None,
    client_email: str = ACCOUNT,
) -> FcmChannel:
    return FcmChannel(
        http,
        base_url=base_url or google.url,
        token_url=token_url or google.token_url,
        project_id=PROJECT,
        client_email=client_email,
        private_key_pem=pem_of(key),
        clock=clock,
    )


@pytest.fixture
def channel(
    http: httpx.AsyncClient, google: FakeFcm, account_key: rsa.RSAPrivateKey, clock: ManualClock
) -> FcmChannel:
    return make_channel(http, google, account_key, clock)


def assertion(key: rsa.RSAPrivateKey, google: FakeFcm, **overrides: Any) -> str:
    claims = {
        "iss": ACCOUNT,
        "scope": SCOPE,
        "aud": google.token_url,
        "iat": int(T0),
        "exp": int(T0) + 3600,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256")


# ------------------------------------------------------------------ the judge is live


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("good", None),
        ("other key", "invalid_grant"),
        ("other account", "invalid_grant"),
        ("other scope", "invalid_scope"),
        ("other audience", "invalid_grant"),
        ("two hours", "invalid_grant"),
        ("expired", "invalid_grant"),
        ("other grant type", "unsupported_grant_type"),
    ],
)
async def test_fake_token_endpoint_checks_are_live(
    http: httpx.AsyncClient,
    google: FakeFcm,
    account_key: rsa.RSAPrivateKey,
    case: str,
    error: str | None,
) -> None:
    overrides: dict[str, dict[str, Any]] = {
        "other account": {"iss": "someone@else.iam.gserviceaccount.com"},
        "other scope": {"scope": "https://www.googleapis.com/auth/cloud-platform.read-only"},
        "other audience": {"aud": "https://oauth2.googleapis.com/token"},
        "two hours": {"exp": int(T0) + 7200},
        "expired": {"iat": int(T0) - 3700, "exp": int(T0) - 100},
    }
    claims = overrides.get(case, {})
    key = rsa.generate_private_key(65537, 2048) if case == "other key" else account_key
    grant_type = "client_credentials" if case == "other grant type" else None
    form = {
        "grant_type": grant_type or "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": assertion(key, google, **claims),
    }
    response = await http.post(google.token_url, data=form)
    if error is None:
        assert response.status_code == 200
        assert response.json()["token_type"] == "Bearer"
    else:
        assert (response.status_code, response.json()["error"]) == (400, error)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("good", 200, None),
        ("no token", 401, "UNAUTHENTICATED"),
        ("expired token", 401, "UNAUTHENTICATED"),
        ("other project", 403, "PERMISSION_DENIED"),
        ("number in data", 400, "INVALID_ARGUMENT"),
        ("reserved data key", 400, "INVALID_ARGUMENT"),
        ("bad registration token", 400, "INVALID_ARGUMENT"),
    ],
)
async def test_fake_send_endpoint_checks_are_live(
    http: httpx.AsyncClient,
    google: FakeFcm,
    account_key: rsa.RSAPrivateKey,
    clock: ManualClock,
    case: str,
    status: int,
    code: str | None,
) -> None:
    granted = await http.post(
        google.token_url,
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": assertion(account_key, google),
        },
    )
    headers = {"authorization": f"Bearer {granted.json()['access_token']}"}
    message: dict[str, Any] = {"token": DEVICE, "data": {"kind": "x"}}
    project = PROJECT
    if case == "no token":
        headers = {}
    elif case == "expired token":
        clock.advance(3600)
    elif case == "other project":
        project = "someone-elses-project"
    elif case == "number in data":
        message["data"] = {"amount": 1280}
    elif case == "reserved data key":
        message["data"] = {"google.sent_time": "1"}
    elif case == "bad registration token":
        message["token"] = "not a token"
    response = await http.post(
        f"{google.url}/v1/projects/{project}/messages:send",
        json={"message": message},
        headers=headers,
    )
    assert response.status_code == status
    if code:
        assert response.json()["error"]["status"] == code


# ------------------------------------------------------------------ delivery


@pytest.mark.parametrize(("urgent", "priority"), [(True, "high"), (False, "normal")])
async def test_message_arrives_in_fcm_v1_shape(
    channel: FcmChannel, google: FakeFcm, urgent: bool, priority: str
) -> None:
    name = await channel.send(DEVICE, replace(MESSAGE, urgent=urgent))

    [delivery] = google.delivered
    assert name == delivery.name
    assert name and name.startswith(f"projects/{PROJECT}/messages/")
    assert delivery.message == {
        "token": DEVICE,
        "notification": {"title": MESSAGE.title, "body": MESSAGE.body},
        "data": {
            "amount": "1280.00",
            "days": "3",
            "claim_no": "CL202506150001",
            "deep_link": MESSAGE.deep_link,
            "kind": "claim.approved",
        },
        "android": {
            "priority": priority,
            "collapse_key": MESSAGE.collapse_id,
            "notification": {"tag": MESSAGE.collapse_id},
        },
    }
    [grant] = google.grants
    assert grant.form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant.header["alg"] == "RS256"
    assert grant.claims == {
        "iss": ACCOUNT,
        "scope": SCOPE,
        "aud": google.token_url,
        "iat": int(T0),
        "exp": int(T0) + 3600,
    }
    assert delivery.access_token == grant.access_token


async def test_reserved_data_keys_are_left_out(channel: FcmChannel, google: FakeFcm) -> None:
    """Google refuses the whole message for one reserved key: ours are dropped instead."""
    data = {"from": "x", "google.c.a.e": "1", "gcm.n.e": "1", "policy_no": "P1"}
    await channel.send(DEVICE, replace(MESSAGE, data=data))
    sent = google.delivered[0].message["data"]
    assert set(sent) == {"policy_no", "deep_link", "kind"}


# ------------------------------------------------------------------ access token


async def test_one_token_serves_many_concurrent_sends(channel: FcmChannel, google: FakeFcm) -> None:
    names = await asyncio.gather(*(channel.send(DEVICE, MESSAGE) for _ in range(20)))
    assert len(set(names)) == 20
    assert len(google.grants) == 1
    assert {d.access_token for d in google.delivered} == {google.grants[0].access_token}


async def test_token_is_fetched_again_shortly_before_it_expires(
    channel: FcmChannel, google: FakeFcm, clock: ManualClock
) -> None:
    """Google's token lives 3599 s; it is used until five minutes before that."""
    await channel.send(DEVICE, MESSAGE)
    clock.advance(3599 - 301)
    await channel.send(DEVICE, MESSAGE)
    assert len(google.grants) == 1
    clock.advance(2)
    await asyncio.gather(*(channel.send(DEVICE, MESSAGE) for _ in range(5)))
    assert len(google.grants) == 2
    assert google.grants[1].claims["iat"] == int(clock())
    assert google.delivered[-1].access_token == google.grants[1].access_token


async def test_revoked_token_is_dropped_fetched_anew_and_the_message_resent(
    channel: FcmChannel, google: FakeFcm
) -> None:
    await channel.send(DEVICE, MESSAGE)
    google.revoke_next_token()
    assert await channel.send(DEVICE, MESSAGE) == google.delivered[-1].name
    first, second = google.grants
    assert google.send_attempts == [
        first.access_token,
        first.access_token,
        second.access_token,
    ]
    assert len(google.delivered) == 2


async def test_second_401_is_permanent(channel: FcmChannel, google: FakeFcm) -> None:
    """One refetch, not a loop."""
    google.revoke_next_token()
    google.revoke_next_token()
    with pytest.raises(PermanentDeliveryError, match="UNAUTHENTICATED"):
        await channel.send(DEVICE, MESSAGE)
    assert (len(google.grants), len(google.send_attempts)) == (2, 2)


async def test_concurrent_401s_cost_one_refetch(channel: FcmChannel, google: FakeFcm) -> None:
    await channel.send(DEVICE, MESSAGE)
    google.revoke_next_token()
    google.revoke_next_token()
    await asyncio.gather(channel.send(DEVICE, MESSAGE), channel.send(DEVICE, MESSAGE))
    assert len(google.grants) == 2
    assert len(google.delivered) == 3


async def test_refused_grant_is_permanent(
    http: httpx.AsyncClient, google: FakeFcm, account_key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    channel = make_channel(
        http, google, account_key, clock, client_email="deleted@x.iam.gserviceaccount.com"
    )
    with pytest.raises(PermanentDeliveryError, match="invalid_grant"):
        await channel.send(DEVICE, MESSAGE)
    assert google.send_attempts == []


async def test_token_endpoint_trouble_is_transient(
    http: httpx.AsyncClient, google: FakeFcm, account_key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    google.fail_next_grant(503, "temporarily_unavailable")
    channel = make_channel(http, google, account_key, clock)
    with pytest.raises(TransientDeliveryError, match="503"):
        await channel.send(DEVICE, MESSAGE)
    with refused_url() as url:
        down = make_channel(http, google, account_key, clock, token_url=url + "/token")
        with pytest.raises(TransientDeliveryError, match="ConnectError"):
            await down.send(DEVICE, MESSAGE)
    assert await channel.send(DEVICE, MESSAGE) == google.delivered[-1].name  # and it recovers


# ------------------------------------------------------------------ refusals


async def test_unregistered_token_is_a_dead_target(channel: FcmChannel, google: FakeFcm) -> None:
    google.unregister(DEVICE)
    with pytest.raises(DeadTargetError, match="UNREGISTERED"):
        await channel.send(DEVICE, MESSAGE)


async def test_invalid_registration_token_is_a_dead_target(
    channel: FcmChannel, google: FakeFcm
) -> None:
    with pytest.raises(DeadTargetError, match="registration token"):
        await channel.send("not a token", MESSAGE)


@pytest.mark.parametrize(
    ("status", "name", "code", "error"),
    [
        (400, "INVALID_ARGUMENT", "UNREGISTERED", DeadTargetError),
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", TransientDeliveryError),
        (503, "UNAVAILABLE", "UNAVAILABLE", TransientDeliveryError),
        (500, "INTERNAL", "INTERNAL", TransientDeliveryError),
        (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", PermanentDeliveryError),
        (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", PermanentDeliveryError),
        (404, "NOT_FOUND", None, DeadTargetError),
    ],
)
async def test_refusals_become_delivery_errors(
    channel: FcmChannel,
    google: FakeFcm,
    status: int,
    name: str,
    code: str | None,
    error: type[Exception],
) -> None:
    google.fail_next(status, name, code, message="Request contains an invalid argument.")
    with pytest.raises(error, match=str(status)):
        await channel.send(DEVICE, MESSAGE)
    assert len(google.send_attempts) == 1  # no retry here: the delivery worker backs off


async def test_a_404_that_is_not_googles_is_not_a_dead_target(
    http: httpx.AsyncClient, google: FakeFcm, account_key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    """A wrong base URL (a proxy's 404 page) must not wipe every device token."""
    channel = make_channel(http, google, account_key, clock, base_url=google.url + "/wrong")
    with pytest.raises(DeliveryError) as caught:
        await channel.send(DEVICE, MESSAGE)
    assert type(caught.value) is PermanentDeliveryError


async def test_fcm_down_is_transient(
    http: httpx.AsyncClient, google: FakeFcm, account_key: rsa.RSAPrivateKey, clock: ManualClock
) -> None:
    with refused_url() as url:
        channel = make_channel(http, google, account_key, clock, base_url=url)
        with pytest.raises(TransientDeliveryError, match="ConnectError"):
            await channel.send(DEVICE, MESSAGE)


# ------------------------------------------------------------------ secrets


async def test_service_account_key_never_in_logs_errors_or_repr(
    channel: FcmChannel,
    google: FakeFcm,
    account_key: rsa.RSAPrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await channel.send(DEVICE, MESSAGE)
    google.revoke_next_token()
    await channel.send(DEVICE, MESSAGE)
    errors: list[str] = []
    for status, name in [(503, "UNAVAILABLE"), (400, "INVALID_ARGUMENT")]:
        google.fail_next(status, name, name)
        with pytest.raises(DeliveryError) as caught:
            await channel.send(DEVICE, MESSAGE)
        errors.append(repr(caught.value))
    google.unregister(DEVICE)
    with pytest.raises(DeadTargetError):
        await channel.send(DEVICE, MESSAGE)

    pem = pem_of(account_key)
    key_lines = [line for line in pem.splitlines() if "-----" not in line]
    everything = "\n".join([caplog.text, repr(channel), str(channel), *errors])
    assert "PRIVATE KEY" not in everything
    assert not any(line in everything for line in key_lines)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("anxin")]
    assert ours, "the channel logs its refusals"
    secrets = [DEVICE, *(g.access_token for g in google.grants)]
    secrets += [g.form["assertion"] for g in google.grants]
    assert not any(secret in text for text in ours for secret in secrets)
    assert repr(channel) == f"FcmChannel(project_id={PROJECT!r}, client_email={ACCOUNT!r})"


def test_a_key_that_is_not_rsa_is_refused_without_quoting_it(http: httpx.AsyncClient) -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for pem in (ec_pem, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"):
        with pytest.raises(ValueError) as caught:
            FcmChannel(
                http,
                base_url="https://fcm.googleapis.com",
                token_url="https://oauth2.googleapis.com/token",
                project_id=PROJECT,
                client_email=ACCOUNT,
                private_key_pem=pem,
            )
        assert "PRIVATE KEY" not in str(caught.value)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__
