"""WeChat subscribe messages against a fake WeChat server API on 127.0.0.1 that judges
the token exchange and each message as WeChat does (see ``tests/fakes/wechat_subscribe``):
what arrives, how the access token is cached and renewed, how every refusal is
classified, and that neither the app secret nor a token reaches the logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from push.base import (
    DeliveryError,
    PermanentDeliveryError,
    PushMessage,
    TransientDeliveryError,
)
from push.wechat import WechatSubscribeChannel, fit_value, keyword_type
from tests.fakes.server import http_client, refused_url, serve
from tests.fakes.wechat_subscribe import FakeClock, FakeWechatSubscribe

APP_ID = "wx5f2a9c7e1d3b4a60"
SECRET = "wechat-subscribe-secret-7Qm2ZpX9"
REPORTED_ID = "tpl-claim-reported-Aa1"
PAID_ID = "tpl-claim-paid-Bb2"
OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
TEMPLATES: dict[str, dict[str, Any]] = {
    "claim.reported": {
        "template_id": REPORTED_ID,
        "data": {
            "thing1": "{title}",
            "thing2": "{body}",
            "character_string3": "{report_number}",
            "phrase4": "已受理",
        },
    },
    "claim.paid": {
        "template_id": PAID_ID,
        "data": {"thing1": "{title}", "amount2": "{amount}元", "thing3": "{body}"},
    },
}
FAKE_TEMPLATES = {
    REPORTED_ID: ("thing1", "thing2", "character_string3", "phrase4"),
    PAID_ID: ("thing1", "amount2", "thing3"),
}
BODY = "您的报案BA20250101000123已受理，请按提示上传理赔材料。"


def reported(**data: Any) -> PushMessage:
    return PushMessage(
        kind="claim.reported",
        title="报案已受理",
        body=BODY,
        deep_link="anxin://claims/c-1",
        mini_program_page="pages/claim/detail?id=c-1",
        urgent=False,
        collapse_id="evt-1",
        data={"report_number": "BA20250101000123", **data},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def wechat(clock: FakeClock) -> AsyncIterator[FakeWechatSubscribe]:
    fake = FakeWechatSubscribe(APP_ID, SECRET, FAKE_TEMPLATES, clock=clock)
    fake.subscribe(OPENID, REPORTED_ID, times=50)
    fake.subscribe(OPENID, PAID_ID, times=50)
    async with fake.running():
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(timeout=5) as client:
        yield client


def make_channel(
    http: httpx.AsyncClient,
    base_url: str,
    clock: FakeClock,
    *,
    secret: str = SECRET,
    templates: dict[str, dict[str, Any]] | None = None,
    state: str = "formal",
) -> WechatSubscribeChannel:
    return WechatSubscribeChannel(
        http,
        base_url=base_url,
        app_id=APP_ID,
        secret=secret,
        templates=TEMPLATES if templates is None else templates,
        mini_program_state=state,
        clock=clock,
    )


@pytest.fixture
def channel(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> WechatSubscribeChannel:
    return make_channel(http, wechat.url, clock)


# ------------------------------------------------------------------ the judge is live


async def _token(http: httpx.AsyncClient, url: str, **query: str) -> dict[str, Any]:
    params = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET, **query}
    return (await http.get(url + "/cgi-bin/token", params=params)).json()


@pytest.mark.parametrize(
    ("query", "errcode"),
    [
        ({"secret": "wrong"}, 40125),
        ({"appid": "wx-other"}, 40013),
        ({"grant_type": "authorization_code"}, 40002),
    ],
)
async def test_fake_token_endpoint_checks_credentials(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, query: dict[str, str], errcode: int
) -> None:
    assert "access_token" in await _token(http, wechat.url)
    assert (await _token(http, wechat.url, **query))["errcode"] == errcode


def _valid_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "touser": OPENID,
        "template_id": REPORTED_ID,
        "data": {
            "thing1": {"value": "报案已受理"},
            "thing2": {"value": "请上传材料"},
            "character_string3": {"value": "BA001"},
            "phrase4": {"value": "已受理"},
        },
        "miniprogram_state": "formal",
        "lang": "zh_CN",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [
        ({}, 0),
        ({"touser": "o-stranger"}, 40003),
        ({"template_id": "tpl-unknown"}, 40037),
        ({"data": {"thing1": {"value": "报案已受理"}}}, 47003),  # keywords missing
        ({"data": {**_valid_body()["data"], "thing2": "无value"}}, 47003),
        ({"data": {**_valid_body()["data"], "thing2": {"value": "字" * 21}}}, 47003),
        ({"data": {**_valid_body()["data"], "phrase4": {"value": "已受理完毕了"}}}, 47003),
        ({"miniprogram_state": "beta"}, 47003),
    ],
)
async def test_fake_send_endpoint_checks_messages(
    http: httpx.AsyncClient,
    wechat: FakeWechatSubscribe,
    overrides: dict[str, Any],
    errcode: int,
) -> None:
    """Each check answers WeChat's errcode for a message that breaks one rule (and the
    unbroken message is accepted), so a passing channel test means something."""
    token = (await _token(http, wechat.url))["access_token"]
    url = wechat.url + "/cgi-bin/message/subscribe/send"
    answer = await http.post(url, params={"access_token": token}, json=_valid_body(**overrides))
    assert answer.json()["errcode"] == errcode


async def test_fake_send_endpoint_checks_the_token(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    url = wechat.url + "/cgi-bin/message/subscribe/send"
    bad = await http.post(url, params={"access_token": "forged"}, json=_valid_body())
    assert bad.json()["errcode"] == 40001
    token = (await _token(http, wechat.url))["access_token"]
    clock.advance(7200)
    late = await http.post(url, params={"access_token": token}, json=_valid_body())
    assert late.json()["errcode"] == 42001


# ------------------------------------------------------------------ delivery


async def test_delivers_the_rendered_template(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    """The configured template is filled from the message; page, state and language go
    along; the answer's msgid comes back; the body is raw UTF-8, not \\u escapes."""
    msgid = await channel.send(OPENID, reported())

    [sent] = wechat.sent
    assert msgid == str(sent.msgid)
    assert sent.touser == OPENID
    assert sent.template_id == REPORTED_ID
    assert sent.values == {
        "thing1": "报案已受理",
        "thing2": BODY[:19] + "…",
        "character_string3": "BA20250101000123",
        "phrase4": "已受理",
    }
    assert sent.page == "pages/claim/detail?id=c-1"
    assert (sent.miniprogram_state, sent.lang) == ("formal", "zh_CN")
    assert "报案已受理".encode() in sent.raw
    assert b"\\u" not in sent.raw
    assert wechat.consents_left(OPENID, REPORTED_ID) == 49


async def test_mini_program_state_is_passed_on(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    await make_channel(http, wechat.url, clock, state="trial").send(OPENID, reported())
    assert wechat.sent[-1].miniprogram_state == "trial"


async def test_long_thing_values_are_shortened_others_are_not(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    """``thing`` values: whitespace folded, at most 20 characters with "…"; a value of
    exactly 20 is kept whole. Other keyword types are sent as rendered."""
    twenty = "理赔款已支付请注意查收到账时间以银行为准"
    assert len(twenty) == 20
    message = PushMessage(
        kind="claim.paid",
        title=twenty,
        body="理赔CL2025000042的赔款\n  1,280.00元已支付，请注意查收。",
        deep_link="anxin://claims/c-9",
        mini_program_page="",
        urgent=False,
        collapse_id="evt-9",
        data={"amount": "1280.00"},
    )
    await channel.send(OPENID, message)

    values = wechat.sent[-1].values
    assert values["thing1"] == twenty
    assert values["thing3"] == "理赔CL2025000042的赔款 1…"  # newline and indent folded
    assert len(values["thing3"]) == 20
    assert values["amount2"] == "1280.00元"
    assert wechat.sent[-1].page is None  # no page: WeChat opens the mini-program's home


def test_keyword_rule() -> None:
    assert keyword_type("thing12") == "thing"
    assert keyword_type("character_string3") == "character_string"
    assert fit_value("thing1", "一" * 21) == "一" * 19 + "…"
    assert fit_value("phrase2", "一" * 21) == "一" * 21  # WeChat judges it: 47003
    assert fit_value("thing1", " a \t b\n") == "a b"


# ------------------------------------------------------------------ the access token


async def test_token_is_cached_across_sends(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    for _ in range(3):
        await channel.send(OPENID, reported())
    assert wechat.token_fetches == 1
    assert len(wechat.sent) == 3


async def test_concurrent_sends_fetch_one_token(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    wechat.token_delay = 0.2  # every send is waiting for the token at the same time
    results = await asyncio.gather(*(channel.send(OPENID, reported()) for _ in range(10)))
    assert wechat.token_fetches == 1
    assert len(set(results)) == 10
    assert len(wechat.sent) == 10


async def test_token_is_renewed_five_minutes_before_it_expires(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    await channel.send(OPENID, reported())
    clock.advance(7200 - 300 - 1)
    await channel.send(OPENID, reported())
    assert wechat.token_fetches == 1
    clock.advance(1)
    await channel.send(OPENID, reported())
    assert wechat.token_fetches == 2
    assert [a["errcode"] for a in wechat.answers] == [0, 0, 0]  # never sent a stale one


async def test_token_expired_at_wechat_is_renewed_once(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    """Our clock says the token is fine, WeChat's says it expired: 42001, one new token,
    one retry, delivered."""
    channel = make_channel(http, wechat.url, FakeClock(clock.now))  # a clock that stops
    await channel.send(OPENID, reported())
    clock.advance(7200)
    assert await channel.send(OPENID, reported()) == str(wechat.sent[-1].msgid)
    assert [a["errcode"] for a in wechat.answers] == [0, 42001, 0]
    assert wechat.token_fetches == 2


async def test_token_refused_early_is_renewed_once(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    await channel.send(OPENID, reported())
    wechat.expire_token_once()
    assert await channel.send(OPENID, reported()) == str(wechat.sent[-1].msgid)
    assert [a["errcode"] for a in wechat.answers] == [0, 42001, 0]
    assert wechat.token_fetches == 2
    await channel.send(OPENID, reported())
    assert wechat.token_fetches == 2  # the new token is cached in turn


async def test_token_refused_twice_is_transient_without_a_third_try(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    wechat.fail_next(40001, "invalid credential")
    wechat.fail_next(42001, "access_token expired")
    with pytest.raises(TransientDeliveryError):
        await channel.send(OPENID, reported())
    assert wechat.send_calls == 2
    assert wechat.token_fetches == 2
    assert wechat.sent == []


async def test_concurrent_sends_refused_token_renew_it_once(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    await channel.send(OPENID, reported())
    for _ in range(5):
        wechat.fail_next(42001, "access_token expired")
    await asyncio.gather(*(channel.send(OPENID, reported()) for _ in range(5)))
    assert wechat.token_fetches == 2
    assert len(wechat.sent) == 6


async def test_wrong_secret_is_permanent(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    channel = make_channel(http, wechat.url, clock, secret="not-the-secret")
    with pytest.raises(PermanentDeliveryError, match="40125"):
        await channel.send(OPENID, reported())
    assert wechat.send_calls == 0


# ------------------------------------------------------------------ refusals


async def test_no_consent_left_is_permanent(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    wechat.add_user("o-one-consent")
    wechat.subscribe("o-one-consent", REPORTED_ID, times=1)
    await channel.send("o-one-consent", reported())
    with pytest.raises(PermanentDeliveryError, match="43101"):
        await channel.send("o-one-consent", reported())


@pytest.mark.parametrize(
    ("errcode", "errmsg"), [(45009, "reach max api daily quota limit"), (-1, "system error")]
)
async def test_rate_limit_and_system_busy_are_transient(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe, errcode: int, errmsg: str
) -> None:
    wechat.fail_next(errcode, errmsg)
    with pytest.raises(TransientDeliveryError, match=str(errcode)):
        await channel.send(OPENID, reported())
    # The next try goes through.
    assert await channel.send(OPENID, reported()) == str(wechat.sent[-1].msgid)


async def test_invalid_template_data_is_permanent(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    """A phrase longer than 5 characters is not cut (it would say something else):
    WeChat refuses it with 47003, and that is final."""
    broken = {"claim.reported": {**TEMPLATES["claim.reported"]}}
    broken["claim.reported"]["data"] = {**TEMPLATES["claim.reported"]["data"], "phrase4": "{body}"}
    channel = make_channel(http, wechat.url, clock, templates=broken)
    with pytest.raises(PermanentDeliveryError, match="47003"):
        await channel.send(OPENID, reported())


async def test_unknown_template_id_is_permanent(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    wrong_id = {"claim.reported": {**TEMPLATES["claim.reported"], "template_id": "tpl-gone"}}
    channel = make_channel(http, wechat.url, clock, templates=wrong_id)
    with pytest.raises(PermanentDeliveryError, match="40037"):
        await channel.send(OPENID, reported())


async def test_kind_without_template_is_permanent_and_sends_nothing(
    channel: WechatSubscribeChannel, wechat: FakeWechatSubscribe
) -> None:
    message = PushMessage("survey.invited", "邀请您评价服务", "…", "anxin://x", "", False, "e")
    with pytest.raises(PermanentDeliveryError, match="no wechat template"):
        await channel.send(OPENID, message)
    assert (wechat.token_fetches, wechat.send_calls) == (0, 0)


async def test_template_naming_an_unknown_field_is_permanent(
    http: httpx.AsyncClient, wechat: FakeWechatSubscribe, clock: FakeClock
) -> None:
    typo = {"claim.reported": {"template_id": REPORTED_ID, "data": {"thing1": "{titel}"}}}
    with pytest.raises(PermanentDeliveryError, match="titel"):
        await make_channel(http, wechat.url, clock, templates=typo).send(OPENID, reported())


async def test_provider_down_is_transient(http: httpx.AsyncClient, clock: FakeClock) -> None:
    with refused_url() as url, pytest.raises(TransientDeliveryError):
        await make_channel(http, url, clock).send(OPENID, reported())


async def test_broken_gateway_in_front_is_transient(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    async def bad_gateway(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b"<html>502 Bad Gateway</html>"})

    async with serve(bad_gateway) as url:
        with pytest.raises(TransientDeliveryError, match="502"):
            await make_channel(http, url, clock).send(OPENID, reported())


def test_template_ids_for_the_consent_ledger(http: httpx.AsyncClient, clock: FakeClock) -> None:
    channel = make_channel(http, "http://127.0.0.1:9", clock)
    assert channel.template_ids() == {"claim.reported": REPORTED_ID, "claim.paid": PAID_ID}


@pytest.mark.parametrize(
    "templates",
    [
        {"claim.reported": {"data": {"thing1": "{title}"}}},
        {"claim.reported": {"template_id": "t", "data": {}}},
        {"claim.reported": {"template_id": "t", "data": {"thing1": 1}}},
    ],
)
def test_bad_template_configuration_fails_at_start(
    http: httpx.AsyncClient, clock: FakeClock, templates: dict[str, dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match=r"claim\.reported"):
        make_channel(http, "http://127.0.0.1:9", clock, templates=templates)


# ------------------------------------------------------------------ logs


async def test_secret_and_tokens_never_reach_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
    http: httpx.AsyncClient,
    wechat: FakeWechatSubscribe,
    clock: FakeClock,
) -> None:
    """Success, renewal after 42001, 43101, 45009, a wrong secret and an outage, all
    logged at DEBUG: no record of ours (message, arguments, traceback) and no error
    holds the secret or any token. httpx's own URL lines are ``api.logging``'s business
    (it keeps ``httpx`` at WARNING in production), so they are left out here."""
    caplog.set_level(logging.DEBUG)
    channel = make_channel(http, wechat.url, clock)
    errors: list[DeliveryError] = []

    async def attempt(send: Any) -> None:
        try:
            await send
        except DeliveryError as exc:
            errors.append(exc)

    await attempt(channel.send(OPENID, reported()))
    wechat.expire_token_once()
    await attempt(channel.send(OPENID, reported()))
    wechat.add_user("o-no-consent")
    await attempt(channel.send("o-no-consent", reported()))
    wechat.fail_next(45009, "reach max api daily quota limit")
    await attempt(channel.send(OPENID, reported()))
    await attempt(
        make_channel(http, wechat.url, clock, secret=SECRET + "x").send(OPENID, reported())
    )
    with refused_url() as url:
        await attempt(make_channel(http, url, clock).send(OPENID, reported()))

    assert len(errors) == 4
    assert len(wechat.issued_tokens) == 2
    secrets_ = [SECRET, *wechat.issued_tokens]
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name == "anxin.push.wechat" for r in ours)
    for record in ours:
        text = caplog.handler.format(record)
        assert not any(s in text for s in secrets_), record.name
    for error in errors:
        text = f"{error!s} {error!r} {error.__cause__!r} {error.__context__!r}"
        assert not any(s in text for s in secrets_)
