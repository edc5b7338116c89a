"""APNs against a fake Apple on 127.0.0.1 that speaks HTTP/2 over TLS (hypercorn, a
self-signed certificate made for the run, trusted by the client and nothing else) and
checks the ES256 provider token with the team's public key: messages must arrive as
Apple would accept them, over HTTP/2 even from an HTTP/1.1 shared client, every answer
must become the right ``DeliveryError``, and the signing key must never leak."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from push.apns import ApnsChannel, speaks_http2
from push.base import (
    DeadTargetError,
    DeliveryError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)
from tests.fakes.apns import FakeApns
from tests.fakes.server import refused_url

TEAM_ID = "ANXINTEAM1"
KEY_ID = "ABC123DEFG"
TOPIC = "cn.anxin.customer"
DEVICE = "a1" * 32
T0 = 1_750_000_000.0
MESSAGE = PushMessage(
    kind="claim.approved",
    title="理赔已通过",
    body="您的理赔申请 CL202506150001 已审核通过，赔款 1,280.00 元将在 3 个工作日内到账。",
    deep_link="anxin://claims/Q2xhaW06MQ==",
    mini_program_page="pages/claims/detail?id=Q2xhaW06MQ==",
    urgent=True,
    collapse_id="7a0d3c4e-5b8f-4f4e-9c61-0d2b9f1e6a11",
)


class ManualClock:
    """Time that moves only when a test says so; shared by the channel and the fake."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * 60


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def private_key_pem(signing_key: ec.EllipticCurvePrivateKey) -> str:
    return pem_of(signing_key)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def apple(
    signing_key: ec.EllipticCurvePrivateKey, clock: ManualClock
) -> AsyncIterator[FakeApns]:
    fake = FakeApns(TEAM_ID, KEY_ID, signing_key.public_key(), TOPIC, clock=clock)
    async with fake.running():
        yield fake


@pytest.fixture
async def http2(apple: FakeApns) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's shared client, HTTP/2 capable, trusting only the fake's certificate."""
    async with httpx.AsyncClient(http2=True, verify=apple.client_context(), timeout=5) as c:
        yield c


def make_channel(
    client: httpx.AsyncClient | None,
    base_url: str,
    pem: str,
    clock: ManualClock,
    verify: ssl.SSLContext | bool = True,
) -> ApnsChannel:
    return ApnsChannel(
        client,
        base_url=base_url,
        team_id=TEAM_ID,
        key_id=KEY_ID,
        private_key_pem=pem,
        topic=TOPIC,
        clock=clock,
        verify=verify,
    )


@pytest.fixture
async def channel(
    http2: httpx.AsyncClient, apple: FakeApns, private_key_pem: str, clock: ManualClock
) -> AsyncIterator[ApnsChannel]:
    channel = make_channel(http2, apple.url, private_key_pem, clock)
    yield channel
    await channel.aclose()


def signed(key: ec.EllipticCurvePrivateKey, iat: float, kid: str = KEY_ID) -> str:
    return jwt.encode(
        {"iss": TEAM_ID, "iat": int(iat)}, key, algorithm="ES256", headers={"kid": kid}
    )


def headers_for(token: str, **overrides: str) -> dict[str, str]:
    return {
        "authorization": f"bearer {token}",
        "apns-topic": TOPIC,
        "apns-push-type": "alert",
        **overrides,
    }


# ------------------------------------------------------------------ the judge is live


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("good", 200, ""),
        ("other key", 403, "InvalidProviderToken"),
        ("other kid", 403, "InvalidProviderToken"),
        ("61 minutes old", 403, "ExpiredProviderToken"),
        ("no token", 403, "MissingProviderToken"),
        ("other topic", 400, "TopicDisallowed"),
        ("no push type", 400, "InvalidPushType"),
        ("bad device", 400, "BadDeviceToken"),
        ("no aps", 400, "PayloadEmpty"),
    ],
)
async def test_fake_checks_are_live(
    http2: httpx.AsyncClient,
    apple: FakeApns,
    signing_key: ec.EllipticCurvePrivateKey,
    clock: ManualClock,
    case: str,
    status: int,
    reason: str,
) -> None:
    """Each rule breaks one request that is otherwise good (and the good one passes), so
    a passing channel test means Apple's rule was followed."""
    token = signed(signing_key, clock())
    headers, device, body = headers_for(token), DEVICE, b'{"aps":{"alert":"hi"}}'
    if case == "other key":
        headers = headers_for(signed(ec.generate_private_key(ec.SECP256R1()), clock()))
    elif case == "other kid":
        headers = headers_for(signed(signing_key, clock(), kid="ZZZ999ZZZZ"))
    elif case == "61 minutes old":
        headers = headers_for(signed(signing_key, clock() - 61 * 60))
    elif case == "no token":
        del headers["authorization"]
    elif case == "other topic":
        headers["apns-topic"] = "com.example.other"
    elif case == "no push type":
        del headers["apns-push-type"]
    elif case == "bad device":
        device = "not-a-device-token"
    elif case == "no aps":
        body = b'{"deep_link":"x"}'
    response = await http2.post(f"{apple.url}/3/device/{device}", content=body, headers=headers)
    assert response.http_version == "HTTP/2"
    assert response.status_code == status
    assert (response.json()["reason"] if status != 200 else "") == reason


async def test_fake_refuses_http1(apple: FakeApns, signing_key: ec.EllipticCurvePrivateKey) -> None:
    """Apple is HTTP/2 only: the fake answers an HTTP/1.1 request 505 and delivers
    nothing, so a channel that fell back to HTTP/1.1 could not pass the other tests."""
    async with httpx.AsyncClient(verify=apple.client_context()) as http1:
        response = await http1.post(
            f"{apple.url}/3/device/{DEVICE}",
            content=b'{"aps":{}}',
            headers=headers_for(signed(signing_key, apple.clock())),
        )
    assert response.http_version == "HTTP/1.1"
    assert response.status_code == 505
    assert apple.requests[-1].http_version == "1.1"
    assert apple.delivered == []


async def test_fake_throttles_renewals_within_20_minutes(
    http2: httpx.AsyncClient,
    apple: FakeApns,
    signing_key: ec.EllipticCurvePrivateKey,
    clock: ManualClock,
) -> None:
    """A channel that signed a new token for every message would be throttled here."""
    url, body = f"{apple.url}/3/device/{DEVICE}", b'{"aps":{}}'
    first = await http2.post(url, content=body, headers=headers_for(signed(signing_key, T0)))
    assert first.status_code == 200
    clock.advance(10)
    sooner = headers_for(signed(signing_key, T0 + 10 * 60))
    throttled = await http2.post(url, content=body, headers=sooner)
    assert (throttled.status_code, throttled.json()["reason"]) == (
        429,
        "TooManyProviderTokenUpdates",
    )


# ------------------------------------------------------------------ delivery


@pytest.mark.parametrize(("urgent", "priority"), [(True, "10"), (False, "5")])
async def test_message_arrives_over_http2_with_apples_headers_and_payload(
    channel: ApnsChannel, apple: FakeApns, clock: ManualClock, urgent: bool, priority: str
) -> None:
    apns_id = await channel.send(DEVICE, replace(MESSAGE, urgent=urgent))

    [request] = apple.requests
    [notification] = apple.delivered
    assert request.http_version == "2"
    assert apns_id == notification.apns_id
    assert notification.token == DEVICE
    assert notification.jwt_header == {"alg": "ES256", "kid": KEY_ID}
    assert notification.jwt_claims == {"iss": TEAM_ID, "iat": int(T0)}
    headers = notification.headers
    assert headers["authorization"].startswith("bearer ")
    assert headers["apns-topic"] == TOPIC
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == priority
    assert headers["apns-collapse-id"] == MESSAGE.collapse_id
    assert headers["apns-expiration"] == str(int(T0) + 24 * 3600)
    assert notification.payload == {
        "aps": {
            "alert": {"title": MESSAGE.title, "body": MESSAGE.body},
            "sound": "default",
            "thread-id": "claim.approved",
        },
        "deep_link": MESSAGE.deep_link,
        "kind": "claim.approved",
    }
    assert "\\u" not in request.body.decode()  # UTF-8, not escapes: room in the 4 KB


async def test_http1_shared_client_is_not_used_an_own_http2_client_is(
    apple: FakeApns, private_key_pem: str, clock: ManualClock
) -> None:
    """The gateway's shared client is HTTP/1.1 only: the channel opens its own HTTP/2
    client (with the shared client's timeout), and closes only that one."""
    async with httpx.AsyncClient(verify=apple.client_context(), timeout=3) as shared:
        channel = make_channel(
            shared, apple.url, private_key_pem, clock, verify=apple.client_context()
        )
        assert await channel.send(DEVICE, MESSAGE)
        await channel.aclose()
        assert not shared.is_closed
    assert [r.http_version for r in apple.requests] == ["2"]
    assert len(apple.delivered) == 1


async def test_plaintext_base_url_uses_http2_prior_knowledge(
    signing_key: ec.EllipticCurvePrivateKey, private_key_pem: str, clock: ManualClock
) -> None:
    """Without TLS there is no ALPN: with HTTP/1.1 switched off, httpx opens with the
    HTTP/2 preface (h2c prior knowledge) instead of silently speaking HTTP/1.1."""
    fake = FakeApns(TEAM_ID, KEY_ID, signing_key.public_key(), TOPIC, clock=clock, tls=False)
    async with fake.running():
        assert fake.url.startswith("http://")
        channel = make_channel(None, fake.url, private_key_pem, clock)
        try:
            assert await channel.send(DEVICE, MESSAGE)
        finally:
            await channel.aclose()
    assert [r.http_version for r in fake.requests] == ["2"]


def test_which_clients_speak_http2() -> None:
    """Plain HTTP needs HTTP/1.1 off: httpx never upgrades a plaintext HTTP/1.1 connection."""
    cases = [
        (httpx.AsyncClient(), "https://api.push.apple.com", False),
        (httpx.AsyncClient(http2=True), "https://api.push.apple.com", True),
        (httpx.AsyncClient(http2=True), "http://127.0.0.1:1", False),
        (httpx.AsyncClient(http1=False, http2=True), "http://127.0.0.1:1", True),
        (
            httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
            "https://x",
            False,
        ),
    ]
    assert [speaks_http2(client, url) for client, url, _ in cases] == [c[2] for c in cases]


async def test_long_collapse_id_is_hashed_to_apples_limit(
    channel: ApnsChannel, apple: FakeApns
) -> None:
    await channel.send(DEVICE, replace(MESSAGE, collapse_id="event:" + "x" * 80))
    collapse = apple.delivered[0].headers["apns-collapse-id"]
    assert len(collapse.encode()) == 64


# ------------------------------------------------------------------ provider token


async def test_provider_token_is_reused_for_50_minutes_then_renewed(
    channel: ApnsChannel, apple: FakeApns, clock: ManualClock
) -> None:
    """Apple throttles renewals within 20 minutes (the fake would answer 429) and
    refuses tokens older than 60 (403): one token serves 50 minutes."""
    await channel.send(DEVICE, MESSAGE)
    clock.advance(25)
    await channel.send(DEVICE, MESSAGE)
    clock.advance(24)  # 49 minutes old
    await channel.send(DEVICE, MESSAGE)
    clock.advance(2)  # 51 minutes: renewed
    await channel.send(DEVICE, MESSAGE)

    tokens = [n.jwt_claims["iat"] for n in apple.delivered]
    assert tokens == [int(T0)] * 3 + [int(T0) + 51 * 60]
    jwts = [r.jwt for r in apple.requests]
    assert len(set(jwts[:3])) == 1
    assert jwts[3] != jwts[0]


async def test_expired_provider_token_is_renewed_once_and_the_message_resent(
    channel: ApnsChannel, apple: FakeApns
) -> None:
    apple.fail_next(403, "ExpiredProviderToken")
    assert await channel.send(DEVICE, MESSAGE)
    first, second = apple.requests
    assert (first.status, first.reason, second.status) == (403, "ExpiredProviderToken", 200)
    assert first.jwt != second.jwt
    assert len(apple.delivered) == 1


async def test_provider_token_refused_again_is_permanent(
    channel: ApnsChannel, apple: FakeApns
) -> None:
    """One renewal, not a loop: a key Apple does not accept is a configuration error."""
    apple.fail_next(403, "InvalidProviderToken")
    apple.fail_next(403, "InvalidProviderToken")
    with pytest.raises(PermanentDeliveryError, match="InvalidProviderToken"):
        await channel.send(DEVICE, MESSAGE)
    assert len(apple.requests) == 2


async def test_concurrent_refusals_cost_one_renewal(channel: ApnsChannel, apple: FakeApns) -> None:
    await channel.send(DEVICE, MESSAGE)
    apple.fail_next(403, "ExpiredProviderToken")
    apple.fail_next(403, "ExpiredProviderToken")
    await asyncio.gather(channel.send(DEVICE, MESSAGE), channel.send(DEVICE, MESSAGE))
    assert len({r.jwt for r in apple.requests}) == 2  # the first token and one renewal
    assert len(apple.delivered) == 3


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (400, "BadDeviceToken", DeadTargetError),
        (400, "DeviceTokenNotForTopic", DeadTargetError),
        (429, "TooManyRequests", TransientDeliveryError),
        (500, "InternalServerError", TransientDeliveryError),
        (503, "ServiceUnavailable", TransientDeliveryError),
        (400, "BadCollapseId", PermanentDeliveryError),
        (403, "Forbidden", PermanentDeliveryError),
        (413, "PayloadTooLarge", PermanentDeliveryError),
    ],
)
async def test_refusals_become_delivery_errors(
    channel: ApnsChannel, apple: FakeApns, status: int, reason: str, error: type[Exception]
) -> None:
    apple.fail_next(status, reason)
    with pytest.raises(error, match=reason):
        await channel.send(DEVICE, MESSAGE)
    assert len(apple.requests) == 1  # no retry here: the delivery worker backs off


async def test_unregistered_device_is_a_dead_target(channel: ApnsChannel, apple: FakeApns) -> None:
    apple.unregister(DEVICE)
    with pytest.raises(DeadTargetError, match="410 Unregistered"):
        await channel.send(DEVICE, MESSAGE)


async def test_malformed_device_token_is_dead_without_asking_apple(
    channel: ApnsChannel, apple: FakeApns
) -> None:
    """A token with ``/`` or ``?`` would also change the URL path: never sent."""
    with pytest.raises(DeadTargetError):
        await channel.send("../../3/device/" + DEVICE, MESSAGE)
    assert apple.requests == []


async def test_payload_over_4_kb_is_permanent_without_asking_apple(
    channel: ApnsChannel, apple: FakeApns
) -> None:
    with pytest.raises(PermanentDeliveryError, match="4096"):
        await channel.send(DEVICE, replace(MESSAGE, body="赔" * 1400))
    assert apple.requests == []


async def test_apple_down_is_transient(private_key_pem: str, clock: ManualClock) -> None:
    with refused_url() as url:
        channel = make_channel(None, url, private_key_pem, clock)
        try:
            with pytest.raises(TransientDeliveryError, match="ConnectError"):
                await channel.send(DEVICE, MESSAGE)
        finally:
            await channel.aclose()


async def test_timeout_is_transient(
    apple: FakeApns, private_key_pem: str, clock: ManualClock
) -> None:
    apple.delay_seconds = 1.0
    async with httpx.AsyncClient(http2=True, verify=apple.client_context(), timeout=0.2) as c:
        channel = make_channel(c, apple.url, private_key_pem, clock)
        with pytest.raises(TransientDeliveryError, match="ReadTimeout"):
            await channel.send(DEVICE, MESSAGE)


# ------------------------------------------------------------------ secrets


async def test_signing_key_never_in_logs_errors_or_repr(
    channel: ApnsChannel,
    apple: FakeApns,
    private_key_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, h2 and hpack included
    await channel.send(DEVICE, MESSAGE)
    apple.fail_next(403, "ExpiredProviderToken")
    await channel.send(DEVICE, MESSAGE)
    errors: list[str] = []
    for status, reason in [(500, "InternalServerError"), (400, "BadTopic")]:
        apple.fail_next(status, reason)
        with pytest.raises(DeliveryError) as caught:
            await channel.send(DEVICE, MESSAGE)
        errors.append(repr(caught.value))
    apple.unregister(DEVICE)
    with pytest.raises(DeadTargetError):
        await channel.send(DEVICE, MESSAGE)

    key_lines = [line for line in private_key_pem.splitlines() if "-----" not in line]
    everything = "\n".join([caplog.text, repr(channel), str(channel), *errors])
    assert "PRIVATE KEY" not in everything
    assert not any(line in everything for line in key_lines)
    ours = [r for r in caplog.records if r.name.startswith("anxin")]
    assert ours, "the channel logs its refusals"
    for record in ours:
        text = record.getMessage()
        assert DEVICE not in text  # device tokens are masked
        assert not any(r.jwt in text for r in apple.requests)
    assert repr(channel) == (
        f"ApnsChannel(base_url={apple.url!r}, team_id={TEAM_ID!r}, "
        f"key_id={KEY_ID!r}, topic={TOPIC!r})"
    )


def test_a_key_that_is_not_p256_is_refused_without_quoting_it() -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for pem in (rsa_pem, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----"):
        with pytest.raises(ValueError) as caught:
            make_channel(None, "https://api.push.apple.com", pem, ManualClock())
        assert "PRIVATE KEY" not in str(caught.value)
        assert caught.value.__cause__ is None  # no chained parser error quoting the key
        assert caught.value.__context__ is None or caught.value.__suppress_context__
