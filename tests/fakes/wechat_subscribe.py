"""A fake WeChat server API for subscribe messages, judging requests as WeChat does:

- ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`` checks the app's
  credentials and issues a token valid ``token_ttl`` seconds on the fake's clock. As at
  WeChat, fetching a new token leaves the previous one valid for 5 more minutes only.
- ``POST /cgi-bin/message/subscribe/send?access_token=`` checks the token (unknown:
  40001, expired: 42001), the body (UTF-8 JSON), ``touser`` (an openid of this app:
  40003), ``template_id`` (a template of this app: 40037), the data (every keyword of
  the template present as ``{"value": str}``, none extra, each within its type's limits:
  47003), ``miniprogram_state`` and ``lang`` (47003), and the user's consent to the
  template (one consent per message; none left: 43101).

Answers are HTTP 200 with ``{"errcode", "errmsg"}``, ``errmsg`` ending in a ``rid``.
Switches: ``fail_next`` (e.g. 45009, -1), ``expire_token_once`` and consents given or
not with ``subscribe``. The fake's clock is injectable (``FakeClock``) so token expiry
is tested without waiting.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

OLD_TOKEN_GRACE_SECONDS = 300
STATES = frozenset({"developer", "trial", "formal"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})
# Keyword type -> (max characters, allowed characters); the types the fake knows.
KEYWORD_RULES: dict[str, tuple[int, re.Pattern[str] | None]] = {
    "thing": (20, None),
    "phrase": (5, re.compile(r"[\u4e00-\u9fff]+")),
    "character_string": (32, re.compile(r"[\x21-\x7e]+")),
    "number": (32, re.compile(r"[+-]?\d+(\.\d+)?")),
    "letter": (32, re.compile(r"[A-Za-z]+")),
}


@dataclass
class FakeClock:
    """Seconds that pass only when a test says so."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class SentSubscribeMessage:
    """A message the fake accepted: what the user's WeChat would show."""

    msgid: int
    touser: str
    template_id: str
    values: dict[str, str]  # keyword -> value
    page: str | None
    miniprogram_state: str
    lang: str
    raw: bytes  # the request body as it came over the wire


class WechatRefusal(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _keyword_type(keyword: str) -> str:
    return re.sub(r"\d+$", "", keyword)


@dataclass
class FakeWechatSubscribe:
    """One mini-program: credentials, its templates (id → keywords) and its users."""

    app_id: str
    app_secret: str
    templates: dict[str, tuple[str, ...]]
    clock: Callable[[], float] = time.monotonic
    token_ttl: int = 7200
    token_delay: float = 0.0  # seconds the token endpoint takes: makes races visible
    url: str = ""
    token_fetches: int = 0
    send_calls: int = 0
    sent: list[SentSubscribeMessage] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # every send answer
    issued_tokens: list[str] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    _users: set[str] = field(default_factory=set)
    _consents: dict[tuple[str, str], int] = field(default_factory=dict)
    _queued: list[tuple[int, str]] = field(default_factory=list)
    _expire_next_token: bool = False

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/token", self._token, methods=["GET"]),
                Route("/cgi-bin/message/subscribe/send", self._send, methods=["POST"]),
            ]
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeWechatSubscribe]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    # ------------------------------------------------------------------ switches

    def add_user(self, openid: str) -> None:
        """A user of the mini-program (known openid) who has consented to nothing yet."""
        self._users.add(openid)

    def subscribe(self, openid: str, template_id: str, times: int = 1) -> None:
        """``wx.requestSubscribeMessage`` accepted ``times`` times: that many messages."""
        self._users.add(openid)
        key = (openid, template_id)
        self._consents[key] = self._consents.get(key, 0) + times

    def consents_left(self, openid: str, template_id: str) -> int:
        return self._consents.get((openid, template_id), 0)

    def fail_next(self, errcode: int, errmsg: str = "system error") -> None:
        """Refuse the next send that holds a valid token, e.g. 45009 or -1."""
        self._queued.append((errcode, errmsg))

    def expire_token_once(self) -> None:
        """The next send's (valid) token has just expired: 42001, and it stays dead."""
        self._expire_next_token = True

    # ------------------------------------------------------------------ endpoints

    async def _token(self, request: Request) -> Response:
        self.token_fetches += 1
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        try:
            self._check_credentials(dict(request.query_params))
        except WechatRefusal as refusal:
            return _answer(_refusal_body(refusal))
        now = self.clock()
        for old, expires_at in self._tokens.items():
            self._tokens[old] = min(expires_at, now + OLD_TOKEN_GRACE_SECONDS)
        token = secrets.token_urlsafe(96)
        self._tokens[token] = now + self.token_ttl
        self.issued_tokens.append(token)
        return _answer({"access_token": token, "expires_in": self.token_ttl})

    async def _send(self, request: Request) -> Response:
        self.send_calls += 1
        raw = await request.body()
        try:
            self._check_token(request.query_params.get("access_token", ""))
            if self._queued:
                raise WechatRefusal(*self._queued.pop(0))
            sent = self._accept(raw)
        except WechatRefusal as refusal:
            answer = _refusal_body(refusal)
        else:
            self.sent.append(sent)
            answer = {"errcode": 0, "errmsg": "ok", "msgid": sent.msgid}
        self.answers.append(answer)
        return _answer(answer)

    # ------------------------------------------------------------------ checks

    def _check_credentials(self, query: dict[str, str]) -> None:
        if query.get("grant_type") != "client_credential":
            raise WechatRefusal(40002, "invalid grant_type")
        if not query.get("appid"):
            raise WechatRefusal(41002, "appid missing")
        if query["appid"] != self.app_id:
            raise WechatRefusal(40013, "invalid appid")
        if not query.get("secret"):
            raise WechatRefusal(41004, "appsecret missing")
        if not secrets.compare_digest(query["secret"], self.app_secret):
            raise WechatRefusal(40125, "invalid appsecret")

    def _check_token(self, token: str) -> None:
        if not token:
            raise WechatRefusal(41001, "access_token missing")
        expires_at = self._tokens.get(token)
        if expires_at is None:
            raise WechatRefusal(40001, "invalid credential, access_token is invalid or not latest")
        if self._expire_next_token:
            self._expire_next_token = False
            self._tokens[token] = self.clock()
        if self.clock() >= self._tokens[token]:
            raise WechatRefusal(42001, "access_token expired")

    def _accept(self, raw: bytes) -> SentSubscribeMessage:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise WechatRefusal(47001, "data format error") from None
        if not isinstance(body, dict):
            raise WechatRefusal(47001, "data format error")
        touser = body.get("touser")
        if not isinstance(touser, str) or touser not in self._users:
            raise WechatRefusal(40003, "invalid openid")
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or template_id not in self.templates:
            raise WechatRefusal(40037, "invalid template_id")
        values = self._check_data(self.templates[template_id], body.get("data"))
        state = body.get("miniprogram_state", "formal")
        if state not in STATES:
            raise WechatRefusal(47003, "argument invalid! miniprogram_state invalid")
        lang = body.get("lang", "zh_CN")
        if lang not in LANGS:
            raise WechatRefusal(47003, "argument invalid! lang invalid")
        page = body.get("page")
        if page is not None and not isinstance(page, str):
            raise WechatRefusal(47003, "argument invalid! page invalid")
        if self._consents.get((touser, template_id), 0) <= 0:
            raise WechatRefusal(43101, "user refuse to accept the msg")
        self._consents[(touser, template_id)] -= 1
        msgid = secrets.randbits(62)
        return SentSubscribeMessage(msgid, touser, template_id, values, page, state, lang, raw)

    def _check_data(self, keywords: tuple[str, ...], data: Any) -> dict[str, str]:
        if not isinstance(data, dict):
            raise WechatRefusal(47003, "argument invalid! data is empty")
        extra = set(data) - set(keywords)
        if extra:
            raise WechatRefusal(47003, f"argument invalid! data.{sorted(extra)[0]} not exist")
        values: dict[str, str] = {}
        for keyword in keywords:
            entry = data.get(keyword)
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                raise WechatRefusal(47003, f"argument invalid! data.{keyword}.value is empty")
            rule = KEYWORD_RULES.get(_keyword_type(keyword))
            if rule is not None:
                limit, pattern = rule
                if len(value) > limit:
                    raise WechatRefusal(
                        47003, f"argument invalid! data.{keyword}.value exceeds limit"
                    )
                if pattern is not None and not pattern.fullmatch(value):
                    raise WechatRefusal(47003, f"argument invalid! data.{keyword}.value invalid")
            values[keyword] = value
        return values


def _answer(body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), 200, media_type="application/json; encoding=utf-8"
    )


def _refusal_body(refusal: WechatRefusal) -> dict[str, Any]:
    rid = secrets.token_hex(12)
    return {"errcode": refusal.errcode, "errmsg": f"{refusal.errmsg} rid: {rid}"}
