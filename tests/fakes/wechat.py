"""A fake WeChat server API for mini-program login:
``GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code``.

``login()`` plays ``wx.login()`` in the mini-program: it mints a one-time js_code for a
WeChat user. Answers follow WeChat: HTTP 200 always, errors as ``{"errcode", "errmsg"}``
with a ``rid`` suffix, and the body served as ``text/plain`` (as WeChat does for this
API), so a client that trusts the content type instead of the body fails here too.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve


@dataclass(frozen=True)
class WechatUser:
    """What code2session reveals about the user behind a js_code."""

    openid: str
    session_key: str
    unionid: str | None = None


class WechatRefusal(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class FakeWechat:
    """One mini-program (``app_id`` + ``app_secret``) and the js_codes it has issued."""

    app_id: str
    app_secret: str
    url: str = ""
    calls: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)
    _codes: dict[str, WechatUser] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)
    _queued: list[tuple[int, str]] = field(default_factory=list)
    _raw: list[Response] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[Route("/sns/jscode2session", self._jscode2session, methods=["GET"])]
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeWechat]:
        async with serve(self.app) as url:
            self.url = url
            yield self

    def login(self, openid: str, unionid: str | None = None) -> str:
        """``wx.login()``: a fresh js_code that code2session will exchange once."""
        js_code = secrets.token_hex(16)
        self._codes[js_code] = WechatUser(openid, secrets.token_urlsafe(18), unionid)
        return js_code

    def user_for(self, js_code: str) -> WechatUser:
        return self._codes[js_code]

    def fail_next(self, errcode: int, errmsg: str) -> None:
        """Refuse the next well-formed call, e.g. ``-1 system error`` or ``45011`` quota."""
        self._queued.append((errcode, errmsg))

    def answer_next_raw(self, response: Response) -> None:
        """Answer the next call with ``response`` unchecked: a broken gateway in front."""
        self._raw.append(response)

    async def _jscode2session(self, request: Request) -> Response:
        self.calls += 1
        if self._raw:
            return self._raw.pop(0)
        try:
            user = self._check(dict(request.query_params))
        except WechatRefusal as refusal:
            rid = secrets.token_hex(12)
            body: dict[str, Any] = {
                "errcode": refusal.errcode,
                "errmsg": f"{refusal.errmsg}, rid: {rid}",
            }
        else:
            body = {"session_key": user.session_key, "openid": user.openid}
            if user.unionid:
                body["unionid"] = user.unionid
        self.answers.append(body)
        return Response(json.dumps(body), 200, media_type="text/plain")

    def _check(self, query: dict[str, str]) -> WechatUser:
        if not query.get("appid"):
            raise WechatRefusal(41002, "appid missing")
        if query["appid"] != self.app_id:
            raise WechatRefusal(40013, "invalid appid")
        if not query.get("secret"):
            raise WechatRefusal(41004, "appsecret missing")
        if not secrets.compare_digest(query["secret"], self.app_secret):
            raise WechatRefusal(40125, "invalid appsecret")
        if query.get("grant_type") != "authorization_code":
            raise WechatRefusal(40002, "invalid grant_type")
        js_code = query.get("js_code", "")
        if not js_code:
            raise WechatRefusal(41008, "missing code")
        if self._queued:
            raise WechatRefusal(*self._queued.pop(0))
        if js_code in self._used:
            raise WechatRefusal(40163, "code been used")
        user = self._codes.get(js_code)
        if user is None:
            raise WechatRefusal(40029, "invalid code")
        self._used.add(js_code)
        return user
