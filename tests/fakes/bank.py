"""A fake of the insurer's payment platform (资金平台) that judges requests as the platform
does; Starlette under uvicorn on 127.0.0.1. Its signing is written here from the protocol
in the ``payments.bank`` docstring, independently of that module, so a mistake there
fails here.

Requests must name this app in ``X-Platform-App-Id``, carry a timestamp within 5 minutes
of the fake's clock and a nonce of 16+ characters not seen before, and verify:
``base64(HMAC-SHA256(key, METHOD\\nPATH\\nTS\\nNONCE\\nBODY))`` over the path and the body
as received; otherwise ``401 SIGN_ERROR``. Every answer, errors included, is signed over
the request's method and path. The fake can sit under a path prefix (``prefix``), as a
platform behind a gateway does, so the signed path must be the whole path on the wire.

Endpoints: ``POST {prefix}/v1/transfers`` (the same ``out_transfer_no`` again answers the
existing transfer) and ``GET {prefix}/v1/transfers/{no}`` (404 ``NOT_FOUND``).

Switches: ``fail_next(status, code)``; ``sabotage_next(kind)`` for one answer
(``tamper``: body changed after signing, ``unsigned``, ``wrong_key``, ``stale``,
``other_app``); ``delay_seconds`` (timeouts); ``first_state`` of new transfers;
``finish(no, status, reason)`` moves a transfer on. ``callback(...)`` builds what the
platform POSTs to a ``notify_url``; every part can be overridden to forge one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve

SKEW_SECONDS = 300
SABOTAGE = frozenset({"tamper", "unsigned", "wrong_key", "stale", "other_app"})
CARD = re.compile(r"\d{12,19}")


class PlatformError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    refused: str | None  # why the signature check refused it, if it did


@dataclass
class FakeTransfer:
    request: dict[str, Any]
    transfer_id: str
    status: str
    fail_reason: str | None = None
    finished_at: str | None = None


def hmac_signature(key: bytes, method: str, path: str, ts: str, nonce: str, body: bytes) -> str:
    message = b"\n".join([method.encode(), path.encode(), ts.encode(), nonce.encode(), body])
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


@dataclass
class FakePlatform:
    app_id: str
    key: bytes
    prefix: str = ""
    clock: Callable[[], float] = time.time
    first_state: str = "SUCCESS"
    delay_seconds: float = 0.0
    url: str = ""
    requests: list[SeenRequest] = field(default_factory=list)
    transfers: dict[str, FakeTransfer] = field(default_factory=dict)
    _queued: list[PlatformError] = field(default_factory=list)
    _sabotage: list[str] = field(default_factory=list)
    _nonces: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        base = f"{self.prefix}/v1/transfers"
        self.app = Starlette(
            routes=[
                Route(base, self._endpoint(self._transfer), methods=["POST"]),
                Route(base + "/{no}", self._endpoint(self._query), methods=["GET"]),
            ]
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakePlatform]:
        async with serve(self.app) as url:
            self.url = url + self.prefix
            yield self

    @property
    def refused(self) -> list[str]:
        return [seen.refused for seen in self.requests if seen.refused]

    # ------------------------------------------------------------------ switches

    def fail_next(self, status: int, code: str, message: str = "系统繁忙") -> None:
        self._queued.append(PlatformError(status, code, message))

    def sabotage_next(self, kind: str) -> None:
        assert kind in SABOTAGE, kind
        self._sabotage.append(kind)

    def finish(self, number: str, status: str, reason: str | None = None) -> FakeTransfer:
        transfer = self.transfers[number]
        transfer.status, transfer.fail_reason = status, reason
        transfer.finished_at = datetime.fromtimestamp(self.clock(), UTC).isoformat()
        return transfer

    # ------------------------------------------------------------------ signing

    def signed(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        key: bytes | None = None,
        app_id: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_urlsafe(18)
        return {
            "X-Platform-App-Id": self.app_id if app_id is None else app_id,
            "X-Platform-Timestamp": ts,
            "X-Platform-Nonce": nonce,
            "X-Platform-Signature": hmac_signature(key or self.key, method, path, ts, nonce, body),
        }

    def callback(
        self,
        number: str,
        *,
        status: str = "SUCCESS",
        amount_fen: int,
        transfer_id: str = "PT-CALLBACK-1",
        notify_path: str = "/payments/bank/notify",
        body: Mapping[str, Any] | None = None,
        **forgery: Any,
    ) -> tuple[dict[str, str], bytes]:
        """What the platform POSTs to a notify_url with that path: (headers, body).
        ``forgery`` goes to ``signed`` (key, app_id, timestamp, nonce)."""
        payload = dict(
            body
            or {
                "app_id": self.app_id,
                "out_transfer_no": number,
                "transfer_id": transfer_id,
                "status": status,
                "amount_fen": amount_fen,
                "finished_at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            }
        )
        raw = json.dumps(payload, ensure_ascii=False).encode()
        headers = self.signed("POST", notify_path, raw, **forgery)
        return headers | {"Content-Type": "application/json"}, raw

    def notification(self, number: str, **forgery: Any) -> tuple[dict[str, str], bytes]:
        """The callback for a transfer the fake holds, to the notify_url it was given."""
        transfer = self.transfers[number]
        body: dict[str, Any] = {
            "app_id": self.app_id,
            "out_transfer_no": number,
            "transfer_id": transfer.transfer_id,
            "status": transfer.status,
            "amount_fen": transfer.request["amount_fen"],
            "finished_at": transfer.finished_at,
        }
        if transfer.fail_reason:
            body["fail_reason"] = transfer.fail_reason
        path = urlsplit(transfer.request["notify_url"]).path
        return self.callback(
            number, amount_fen=0, notify_path=path, body=forgery.pop("body", body), **forgery
        )

    # ------------------------------------------------------------------ the judge

    def _endpoint(
        self, handler: Callable[[Request, Any], tuple[int, dict[str, Any]]]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            path = request.scope["raw_path"].decode()
            headers = {k.lower(): v for k, v in request.headers.items()}
            refused = self._signature_problem(request.method, path, headers, raw)
            self.requests.append(SeenRequest(request.method, path, headers, raw, refused))
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            try:
                if refused:
                    raise PlatformError(401, "SIGN_ERROR", refused)
                if self._queued:
                    raise self._queued.pop(0)
                payload = json.loads(raw) if raw else None
                status, answer = handler(request, payload)
            except PlatformError as error:
                status, answer = error.status, {"code": error.code, "message": error.message}
            except ValueError:
                status, answer = 400, {"code": "PARAM_ERROR", "message": "请求体不是JSON"}
            return self._respond(request.method, path, status, answer)

        return endpoint

    def _signature_problem(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> str | None:
        ts, nonce = headers.get("x-platform-timestamp", ""), headers.get("x-platform-nonce", "")
        if headers.get("x-platform-app-id") != self.app_id:
            return "应用编号有误"
        if not ts.isdigit() or abs(self.clock() - int(ts)) > SKEW_SECONDS:
            return "时间戳有误或已过期"
        if len(nonce) < 16 or nonce in self._nonces:
            return "随机串过短或已使用"
        expected = hmac_signature(self.key, method, path, ts, nonce, body)
        if not hmac.compare_digest(expected, headers.get("x-platform-signature", "")):
            return "签名错误"
        self._nonces.add(nonce)
        return None

    def _respond(self, method: str, path: str, status: int, answer: dict[str, Any]) -> Response:
        body = json.dumps(answer, ensure_ascii=False).encode()
        sabotage = self._sabotage.pop(0) if self._sabotage else None
        headers: dict[str, str] = {}
        if sabotage != "unsigned":
            headers = self.signed(
                method,
                path,
                body,
                key=b"intruder-key-0123456789abcdef" if sabotage == "wrong_key" else None,
                app_id="another-app" if sabotage == "other_app" else None,
                timestamp=int(self.clock()) - SKEW_SECONDS - 60 if sabotage == "stale" else None,
            )
        if sabotage == "tamper":
            body = body.replace(b'"PROCESSING"', b'"SUCCESS"').replace(b'"FAILED"', b'"SUCCESS"')
            body = body.replace(b"{", b"{ ", 1)  # changed, whatever the state
        return Response(body, status, headers=headers, media_type="application/json")

    # ------------------------------------------------------------------ endpoints

    def _transfer(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict) or body.get("app_id") != self.app_id:
            raise PlatformError(400, "PARAM_ERROR", "app_id 有误")
        number, fen, payee = body.get("out_transfer_no"), body.get("amount_fen"), body.get("payee")
        if not isinstance(number, str) or not 1 <= len(number) <= 64:
            raise PlatformError(400, "PARAM_ERROR", "out_transfer_no 有误")
        if type(fen) is not int or fen <= 0:
            raise PlatformError(400, "PARAM_ERROR", "amount_fen 应为正整数")
        if not isinstance(payee, dict) or not CARD.fullmatch(str(payee.get("card_no"))):
            raise PlatformError(400, "PARAM_ERROR", "卡号有误")
        if not payee.get("name") or not isinstance(payee.get("bank_name"), str):
            raise PlatformError(400, "PARAM_ERROR", "户名或开户行有误")
        for name in ("remark", "notify_url"):
            if not isinstance(body.get(name), str):
                raise PlatformError(400, "PARAM_ERROR", f"{name} 有误")
        if number not in self.transfers:  # the same number again: the same transfer
            self.transfers[number] = FakeTransfer(
                body, "PT" + secrets.token_hex(10).upper(), self.first_state
            )
        return 200, self._view(number)

    def _query(self, request: Request, body: Any) -> tuple[int, dict[str, Any]]:
        number = request.path_params["no"]
        if number not in self.transfers:
            raise PlatformError(404, "NOT_FOUND", "转账不存在")
        return 200, self._view(number)

    def _view(self, number: str) -> dict[str, Any]:
        transfer = self.transfers[number]
        view: dict[str, Any] = {
            "out_transfer_no": number,
            "transfer_id": transfer.transfer_id,
            "status": transfer.status,
        }
        if transfer.fail_reason:
            view["fail_reason"] = transfer.fail_reason
        return view
