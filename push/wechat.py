"""WeChat mini-program subscribe messages (订阅消息), sent from the server API.

What WeChat requires, and why this module looks the way it does:

- Every call carries an ``access_token`` in its query string; the token comes from
  ``GET /cgi-bin/token`` with the app id and secret, also in the query string. A token
  lives ``expires_in`` seconds (7,200) and fetches count against a daily quota, so it is
  cached, renewed 5 minutes before it runs out, and concurrent sends share one fetch.
  WeChat may still refuse a token early (another server fetched a newer one, the secret
  was reset): on 40001/42001/40014 the token is fetched again and the send retried once.
- Secret and token travel in URLs, so this module never logs a URL, and its errors quote
  only WeChat's ``errcode``/``errmsg`` (scrubbed of both, in case WeChat echoes them).
  httpx itself logs URLs at INFO: ``api.logging`` keeps the ``httpx`` logger at WARNING.
- A message needs the user's consent to its template (``wx.requestSubscribeMessage``),
  one consent per message; 43101 means none is left, and retrying cannot help.
- The body is JSON in UTF-8 with Chinese as it is (``ensure_ascii=False``), not
  ``\\uXXXX`` escapes.

Keyword values. Each template keyword is named by type plus a number (``thing1``,
``phrase2``, ``character_string3``), and WeChat checks each value against its type.
The rule here:

- ``thing`` (free text, at most 20 characters): runs of whitespace become one space, and
  a longer value is cut to 19 characters plus "…". Titles and bodies are often longer,
  and a shortened text is better than a refused message.
- Every other type has a format, not only a length (``phrase``: at most 5 Chinese
  characters; ``number``/``letter``/``character_string``: 32; ``amount``, ``date``,
  ``time``, ``phone_number``, ``car_number``, ``name``, ...). Cutting those would change
  what they say, so they are sent as rendered and WeChat's refusal (47003) becomes a
  ``PermanentDeliveryError``: the template configuration needs fixing.

Errors (``errcode`` of either call)::

    0                       the message id (``msgid``)
    40001, 42001, 40014     token refused: renew it and retry once; refused again: Transient
    -1, 45009, 45011        system busy, rate or quota limit: TransientDeliveryError
    transport, HTTP != 200  TransientDeliveryError
    43101                   no consent left: PermanentDeliveryError
    anything else           PermanentDeliveryError (40003 openid, 40037 template id,
                            41030 page, 47003 template data, 40125 secret, ...)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from push.base import PermanentDeliveryError, PushMessage, TransientDeliveryError

log = logging.getLogger("anxin.push.wechat")

TOKEN_REFRESH_MARGIN_SECONDS = 300
THING_MAX_CHARS = 20
ELLIPSIS = "…"
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
RETRY_LATER = frozenset({-1, 45009, 45011})
MINI_PROGRAM_STATES = frozenset({"developer", "trial", "formal"})
_KEYWORD = re.compile(r"^([a-z_]+?)\d+$")


def keyword_type(keyword: str) -> str:
    """``thing1`` → ``thing``, ``character_string12`` → ``character_string``."""
    match = _KEYWORD.match(keyword)
    return match.group(1) if match else keyword


def fit_value(keyword: str, value: str) -> str:
    """Apply the keyword rule above: only ``thing`` values are tidied and shortened."""
    if keyword_type(keyword) != "thing":
        return value
    value = " ".join(value.split())
    if len(value) <= THING_MAX_CHARS:
        return value
    return value[: THING_MAX_CHARS - 1] + ELLIPSIS


@dataclass(frozen=True)
class SubscribeTemplate:
    template_id: str
    data: Mapping[str, str]  # keyword -> str.format template


def parse_templates(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, SubscribeTemplate]:
    """Check the configured templates once, at start-up, rather than at each send."""
    templates: dict[str, SubscribeTemplate] = {}
    for kind, entry in raw.items():
        template_id, data = entry.get("template_id"), entry.get("data")
        if not isinstance(template_id, str) or not template_id:
            raise ValueError(f"wechat template for {kind!r} needs a template_id")
        if not isinstance(data, Mapping) or not data:
            raise ValueError(f"wechat template for {kind!r} needs data keywords")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"wechat template for {kind!r}: data must map str to str")
        templates[kind] = SubscribeTemplate(template_id, dict(data))
    return templates


def render_data(template: SubscribeTemplate, message: PushMessage) -> dict[str, dict[str, str]]:
    """Fill each keyword from the message (title, body, kind) and its display values."""
    fields = {**message.data, "title": message.title, "body": message.body, "kind": message.kind}
    try:
        return {
            keyword: {"value": fit_value(keyword, pattern.format_map(fields))}
            for keyword, pattern in template.data.items()
        }
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise PermanentDeliveryError(
            f"wechat template for {message.kind} cannot be filled: {type(exc).__name__} {exc}"
        ) from None


class WechatSubscribeChannel:
    """A ``PushChannel`` whose target is the customer's mini-program openid."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        app_id: str,
        secret: str,
        templates: dict[str, dict[str, Any]],
        mini_program_state: str = "formal",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mini_program_state not in MINI_PROGRAM_STATES:
            raise ValueError(f"mini_program_state must be one of {sorted(MINI_PROGRAM_STATES)}")
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = secret
        self._templates = parse_templates(templates)
        self._state = mini_program_state
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0

    def template_ids(self) -> dict[str, str]:
        """Event kind → template id: what the consent ledger counts consents against."""
        return {kind: template.template_id for kind, template in self._templates.items()}

    async def send(self, target: str, message: PushMessage) -> str | None:
        template = self._templates.get(message.kind)
        if template is None:
            raise PermanentDeliveryError(f"no wechat template for {message.kind}")
        body = self._body(target, template, message)
        token = await self._access_token()
        answer = await self._post(token, body)
        if _errcode(answer) in TOKEN_REFUSED:
            log.info("wechat refused the access token (errcode=%s): renewing", _errcode(answer))
            token = await self._access_token(refused=token)
            answer = await self._post(token, body)
        return self._outcome(answer, message.kind)

    def _body(self, openid: str, template: SubscribeTemplate, message: PushMessage) -> bytes:
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template.template_id,
            "data": render_data(template, message),
            "miniprogram_state": self._state,
            "lang": "zh_CN",
        }
        if message.mini_program_page:
            payload["page"] = message.mini_program_page
        return json.dumps(payload, ensure_ascii=False).encode()

    async def _post(self, token: str, body: bytes) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/cgi-bin/message/subscribe/send",
            {"access_token": token},
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def _outcome(self, answer: dict[str, Any], kind: str) -> str | None:
        errcode = _errcode(answer)
        if errcode == 0:
            msgid = answer.get("msgid")
            log.info("wechat subscribe message %s sent", kind)
            return None if msgid is None else str(msgid)
        reason = self._reason(answer)
        log.warning("wechat subscribe message %s refused: %s", kind, reason)
        if errcode in RETRY_LATER or errcode in TOKEN_REFUSED:
            raise TransientDeliveryError(reason)
        raise PermanentDeliveryError(reason)

    async def _access_token(self, *, refused: str | None = None) -> str:
        """The cached token, or a new one; ``refused`` is a token WeChat just turned down
        (if another send has replaced it meanwhile, that replacement is used)."""
        async with self._lock:
            token = self._token
            if token is not None and token != refused and self._clock() < self._token_renew_at:
                return token
            self._token = None
            asked_at = self._clock()
            token, expires_in = await self._fetch_token()
            self._token = token
            self._token_renew_at = asked_at + max(expires_in - TOKEN_REFRESH_MARGIN_SECONDS, 0)
            return token

    async def _fetch_token(self) -> tuple[str, int]:
        params = {"grant_type": "client_credential", "appid": self._app_id, "secret": self._secret}
        answer = await self._call("GET", "/cgi-bin/token", params)
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if isinstance(token, str) and token and isinstance(expires_in, int):
            log.info("wechat access token renewed, valid for %s s", expires_in)
            return token, expires_in
        reason = self._reason(answer)
        log.error("wechat refused an access token: %s", reason)
        if _errcode(answer) in RETRY_LATER or not _errcode(answer):
            raise TransientDeliveryError(f"access token: {reason}")
        raise PermanentDeliveryError(f"access token: {reason}")

    async def _call(
        self, method: str, path: str, params: dict[str, str], **kwargs: Any
    ) -> dict[str, Any]:
        """One request; a JSON object back or ``TransientDeliveryError``. WeChat answers
        200 with ``errcode`` even for refusals; anything else is a broken path to it."""
        try:
            response = await self._client.request(
                method, self._base_url + path, params=params, **kwargs
            )
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            answer = response.json()
            if not isinstance(answer, dict):
                raise ValueError("answer is not a JSON object")
        except (httpx.HTTPError, ValueError) as exc:
            # Only the type and our own text: an httpx error can carry the URL.
            detail = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
            log.warning("wechat %s unreachable: %s", path, self._scrub(detail))
            raise TransientDeliveryError(f"wechat {path} unreachable: {detail}") from None
        return answer

    def _reason(self, answer: dict[str, Any]) -> str:
        errmsg = self._scrub(str(answer.get("errmsg", "")))[:200]
        return f"errcode {answer.get('errcode')}: {errmsg}"

    def _scrub(self, text: str) -> str:
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


def _errcode(answer: Mapping[str, Any]) -> int:
    errcode = answer.get("errcode", 0)
    return errcode if isinstance(errcode, int) else -1
