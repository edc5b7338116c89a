"""The WeChat mini-program server API, as far as login needs it: ``code2session``.

``wx.login()`` in the mini-program yields a one-time code; the server exchanges it for
the user's openid (and unionid when the app is bound to an open platform account). The
``session_key`` that comes with it is never stored or logged: login does not need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

log = logging.getLogger("anxin.wechat")


class WechatError(Exception):
    def __init__(self, errcode: int | None, reason: str):
        super().__init__(reason)
        self.errcode = errcode


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


class WechatMiniProgram:
    def __init__(self, client: httpx.AsyncClient, *, base_url: str, app_id: str, secret: str):
        self._client = client
        self._base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = secret

    async def code2session(self, js_code: str) -> WechatSession:
        try:
            response = await self._client.get(
                f"{self._base_url}/sns/jscode2session",
                params={
                    "appid": self.app_id,
                    "secret": self._secret,
                    "js_code": js_code,
                    "grant_type": "authorization_code",
                },
            )
            body = response.json()
            if not isinstance(body, dict):  # e.g. `null` from a gateway in front
                raise ValueError("answer is not a JSON object")
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("code2session failed: %s", type(exc).__name__)
            raise WechatError(None, "unreachable") from exc
        errcode = body.get("errcode") or 0
        if errcode != 0 or not body.get("openid"):
            log.info("code2session refused: errcode=%s", errcode)
            raise WechatError(errcode, str(body.get("errmsg", "")))
        return WechatSession(openid=body["openid"], unionid=body.get("unionid") or None)
