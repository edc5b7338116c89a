"""Mini-program login through GraphQL against a fake WeChat ``jscode2session`` on
127.0.0.1: first-time binding by phone + SMS code, direct login afterwards, unionid
sharing across apps, and every way it can fail (bad js_code, WeChat down or refusing,
forged or stale binding tickets, an openid bound twice) without leaking the app secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from starlette.responses import Response
from strawberry.relay import to_base64

from api.logging import redact
from api.services import Services
from api.settings import Settings
from models.customers import Customer, WechatIdentity
from push.sms import ConsoleSmsSender
from tests.factories import make_customer, unique_phone
from tests.fakes.server import refused_url
from tests.fakes.wechat import FakeWechat
from tests.graphql import gql

APP_ID = "wx5e1a7c2b9d3f4a60"
APP_SECRET = "3f9c0b7e1d2a4c6e8f0a1b2c3d4e5f60"

WECHAT_LOGIN = """
mutation ($code: String!) {
  wechatLogin(input: {code: $code}) {
    session { accessToken refreshToken viewer { customer { id phone } } }
    bindingTicket bindingTicketExpiresInSeconds
    errors { code field message }
  }
}
"""
REQUEST_CODE = """
mutation ($phone: String!) {
  requestLoginCode(input: {phone: $phone}) { phone errors { code field message } }
}
"""
BIND = """
mutation ($ticket: String!, $phone: String!, $code: String!) {
  bindWechatPhone(input: {bindingTicket: $ticket, phone: $phone, code: $code}) {
    session { accessToken refreshToken viewer { customer { id phone } } }
    errors { code field message }
  }
}
"""
ME = "query { me { customer { id phone } } }"


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWechat]:
    async with FakeWechat(app_id=APP_ID, app_secret=APP_SECRET).running() as fake:
        yield fake


@pytest.fixture
def settings_overrides(
    request: pytest.FixtureRequest, wechat: FakeWechat
) -> Iterator[dict[str, Any]]:
    """Point the app at the fake (started first, through the ``wechat`` dependency).

    Indirect parameters: ``"down"`` points at a port that refuses connections,
    ``"wrong-secret"`` configures a secret WeChat does not know.
    """
    overrides: dict[str, Any] = {
        "wechat_api_base_url": wechat.url,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
    }
    variant = getattr(request, "param", None)
    if variant == "down":
        with refused_url() as url:
            yield {**overrides, "wechat_api_base_url": url}
        return
    if variant == "wrong-secret":
        overrides["wechat_app_secret"] = "0" * 32
    yield overrides


def customer_id(customer: Customer) -> str:
    return to_base64("Customer", str(customer.id))


async def wechat_login(client: httpx.AsyncClient, js_code: str) -> dict[str, Any]:
    body = await gql(client, WECHAT_LOGIN, {"code": js_code})
    return body["data"]["wechatLogin"]


async def sms_code(client: httpx.AsyncClient, services: Services, phone: str) -> str:
    """Ask for a login code; the development console sender keeps what it 'sent'."""
    result = (await gql(client, REQUEST_CODE, {"phone": phone}))["data"]["requestLoginCode"]
    assert result["errors"] == []
    assert isinstance(services.sms, ConsoleSmsSender)
    return [code for to, code in services.sms.sent if to == phone][-1]


async def bind(client: httpx.AsyncClient, ticket: str, phone: str, code: str) -> dict[str, Any]:
    variables = {"ticket": ticket, "phone": phone, "code": code}
    return (await gql(client, BIND, variables))["data"]["bindWechatPhone"]


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


# ------------------------------------------------------------------ the happy paths


async def test_first_login_binds_a_phone_then_logs_in_directly(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechat
) -> None:
    phone = unique_phone()
    customer = await make_customer(services, phone=phone)

    first = await wechat_login(client, wechat.login("o-alice"))
    assert first["errors"] == []
    assert first["session"] is None
    assert first["bindingTicket"]
    assert first["bindingTicketExpiresInSeconds"] == 600
    assert not await WechatIdentity.exists()

    bound = await bind(
        client, first["bindingTicket"], phone, await sms_code(client, services, phone)
    )
    assert bound["errors"] == []
    assert bound["session"]["viewer"]["customer"]["id"] == customer_id(customer)
    me = await gql(client, ME, token=bound["session"]["accessToken"])
    assert me["data"]["me"]["customer"]["id"] == customer_id(customer)
    identity = await WechatIdentity.get(app_id=APP_ID, openid="o-alice")
    assert identity.customer_id == customer.id

    again = await wechat_login(client, wechat.login("o-alice"))  # a new wx.login() code
    assert again["errors"] == []
    assert again["bindingTicket"] is None
    assert again["session"]["viewer"]["customer"]["id"] == customer_id(customer)
    assert wechat.calls == 2


async def test_binding_a_new_phone_creates_the_customer(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechat
) -> None:
    """No account for that phone yet: binding opens one (as SMS login would)."""
    phone = unique_phone()
    ticket = (await wechat_login(client, wechat.login("o-newcomer", "u-newcomer")))["bindingTicket"]
    bound = await bind(client, ticket, phone, await sms_code(client, services, phone))
    assert bound["errors"] == []
    assert bound["session"]["viewer"]["customer"]["phone"] == f"{phone[:3]}****{phone[-4:]}"
    identity = await WechatIdentity.get(app_id=APP_ID, openid="o-newcomer")
    assert identity.unionid == "u-newcomer"  # kept from the ticket for sibling apps


async def test_unionid_known_from_another_app_binds_automatically(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechat
) -> None:
    """Same WeChat open-platform account, other app: no second phone binding needed."""
    customer = await make_customer(services)
    await WechatIdentity.create(
        customer=customer, app_id="wx-official-account", openid="o-oa-bob", unionid="u-bob"
    )
    result = await wechat_login(client, wechat.login("o-mp-bob", unionid="u-bob"))
    assert result["errors"] == []
    assert result["bindingTicket"] is None
    assert result["session"]["viewer"]["customer"]["id"] == customer_id(customer)
    identity = await WechatIdentity.get(app_id=APP_ID, openid="o-mp-bob")
    assert (identity.customer_id, identity.unionid) == (customer.id, "u-bob")


# ------------------------------------------------------------------ bad codes, WeChat failing


async def test_unknown_js_code_is_wechat_code_invalid(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    result = await wechat_login(client, "0a3XyZ-never-issued")
    assert result["session"] is None and result["bindingTicket"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("WECHAT_CODE_INVALID", "code")]
    assert wechat.answers[-1]["errcode"] == 40029


async def test_js_code_used_twice_is_wechat_code_invalid(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    js_code = wechat.login("o-carol")
    assert (await wechat_login(client, js_code))["bindingTicket"]
    again = await wechat_login(client, js_code)
    assert error_codes(again) == ["WECHAT_CODE_INVALID"]
    assert wechat.answers[-1]["errcode"] == 40163


async def test_blank_js_code_is_refused_without_asking_wechat(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    assert error_codes(await wechat_login(client, "   ")) == ["WECHAT_CODE_INVALID"]
    assert wechat.calls == 0


@pytest.mark.parametrize("settings_overrides", ["down"], indirect=True)
async def test_wechat_down_is_wechat_unavailable(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    result = await wechat_login(client, wechat.login("o-dave"))
    assert result["session"] is None and result["bindingTicket"] is None
    assert error_codes(result) == ["WECHAT_UNAVAILABLE"]
    assert wechat.calls == 0


@pytest.mark.parametrize("settings_overrides", ["wrong-secret"], indirect=True)
async def test_wrong_app_secret_is_wechat_unavailable(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    """Our misconfiguration is not the user's bad code: they are told to try later."""
    result = await wechat_login(client, wechat.login("o-erin"))
    assert error_codes(result) == ["WECHAT_UNAVAILABLE"]
    assert wechat.answers[-1]["errcode"] == 40125
    assert wechat.answers[-1]["errmsg"].startswith("invalid appsecret")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda fake: fake.fail_next(-1, "system error"),
        lambda fake: fake.fail_next(
            45011, "api minute-quota reach limit  mustslower  retry next minute"
        ),
        lambda fake: fake.answer_next_raw(
            Response("<html>502 Bad Gateway</html>", 502, media_type="text/html")
        ),
        lambda fake: fake.answer_next_raw(Response("null", 200, media_type="text/plain")),
        lambda fake: fake.answer_next_raw(
            Response('{"session_key": "k"}', media_type="text/plain")
        ),
    ],
    ids=["system-error", "quota", "html-502", "json-null", "no-openid"],
)
async def test_wechat_refusing_or_garbled_is_wechat_unavailable(
    client: httpx.AsyncClient, wechat: FakeWechat, breakage: Callable[[FakeWechat], None]
) -> None:
    breakage(wechat)
    result = await wechat_login(client, wechat.login("o-frank"))
    assert error_codes(result) == ["WECHAT_UNAVAILABLE"]


# ------------------------------------------------------------------ binding tickets


def _claims(ticket: str) -> dict[str, Any]:
    return jwt.decode(ticket, options={"verify_signature": False})


def _resign(settings: Settings, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")


def _swap_payload(ticket: str, **changes: Any) -> str:
    """Edit the claims but keep the original signature: a forgery."""
    header, _, signature = ticket.split(".")
    payload = json.dumps({**_claims(ticket), **changes}, separators=(",", ":")).encode()
    return f"{header}.{jwt.utils.base64url_encode(payload).decode()}.{signature}"


FORGERIES: dict[str, Callable[[Settings, str], str]] = {
    "other-openid-unsigned": lambda s, t: _swap_payload(t, sub="o-victim"),
    "signed-with-other-key": lambda s, t: jwt.encode(_claims(t), "x" * 48, algorithm="HS256"),
    "expired": lambda s, t: _resign(
        s, {**_claims(t), "iat": int(time.time()) - 700, "exp": int(time.time()) - 100}
    ),
    "other-app": lambda s, t: _resign(s, {**_claims(t), "app": "wx-some-other-app"}),
    "wrong-type": lambda s, t: _resign(s, {**_claims(t), "typ": "access"}),
    "garbage": lambda s, t: "not-a-ticket",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_or_stale_binding_ticket_is_refused(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    wechat: FakeWechat,
    forge: Callable[[Settings, str], str],
) -> None:
    """The ticket is checked before the SMS code is spent: after the refusal the same
    code still binds with the genuine ticket (which proves the forgery was the fault)."""
    ticket = (await wechat_login(client, wechat.login("o-grace")))["bindingTicket"]
    phone = unique_phone()
    code = await sms_code(client, services, phone)

    refused = await bind(client, forge(settings, ticket), phone, code)
    assert refused["session"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("INVALID_BINDING_TICKET", "bindingTicket")
    ]
    assert not await WechatIdentity.exists()

    genuine = await bind(client, ticket, phone, code)
    assert genuine["errors"] == []
    assert await WechatIdentity.filter(openid="o-grace").count() == 1


async def test_binding_ticket_is_not_an_access_token(
    client: httpx.AsyncClient, wechat: FakeWechat
) -> None:
    ticket = (await wechat_login(client, wechat.login("o-heidi")))["bindingTicket"]
    assert (await gql(client, ME, token=ticket))["data"]["me"] is None


async def test_openid_already_bound_to_another_customer(
    client: httpx.AsyncClient, services: Services, wechat: FakeWechat
) -> None:
    """Two devices got tickets for the same WeChat user; the first binding wins and the
    second, to another phone, is refused rather than moving the openid."""
    first_ticket = (await wechat_login(client, wechat.login("o-ivan")))["bindingTicket"]
    second_ticket = (await wechat_login(client, wechat.login("o-ivan")))["bindingTicket"]
    phone_a, phone_b = unique_phone(), unique_phone()

    bound = await bind(client, first_ticket, phone_a, await sms_code(client, services, phone_a))
    assert bound["errors"] == []
    owner = bound["session"]["viewer"]["customer"]["id"]

    refused = await bind(client, second_ticket, phone_b, await sms_code(client, services, phone_b))
    assert refused["session"] is None
    assert error_codes(refused) == ["WECHAT_ALREADY_BOUND"]
    identity = await WechatIdentity.get(app_id=APP_ID, openid="o-ivan")
    assert customer_id(await Customer.get(id=identity.customer_id)) == owner

    later = await wechat_login(client, wechat.login("o-ivan"))
    assert later["session"]["viewer"]["customer"]["id"] == owner


# ------------------------------------------------------------------ logs


async def test_app_secret_and_session_key_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture,
    client: httpx.AsyncClient,
    services: Services,
    wechat: FakeWechat,
) -> None:
    """Our loggers never see the secret. httpx itself logs each request URL at INFO, and
    WeChat wants the secret in the query string: production raises ``httpx`` to WARNING
    and redacts ``secret=`` in its handler (``api.logging``); that filter must catch it."""
    caplog.set_level(logging.DEBUG)
    phone = unique_phone()
    js_code = wechat.login("o-judy", unionid="u-judy")
    ticket = (await wechat_login(client, js_code))["bindingTicket"]
    await bind(client, ticket, phone, await sms_code(client, services, phone))
    await wechat_login(client, "0a3XyZ-never-issued")
    wechat.fail_next(-1, "system error")
    await wechat_login(client, wechat.login("o-judy"))
    session_key = wechat.user_for(js_code).session_key

    assert any(record.name == "anxin.wechat" for record in caplog.records)
    for record in caplog.records:
        text = caplog.handler.format(record)  # message, arguments and any traceback
        assert session_key not in text, record.name
        assert APP_SECRET not in redact(text), record.name
        if record.name != "httpx":
            assert APP_SECRET not in text, record.name
