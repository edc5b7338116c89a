"""Non-GraphQL HTTP: liveness and readiness probes, claim files behind signed URLs, and
payment providers' and service partners' callbacks."""

from __future__ import annotations

import asyncio
import html
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from tortoise import connections

from models.clock import local_time
from storage.base import StorageError
from storage.local import LocalStorage, file_endpoint
from storage.s3 import S3Storage
from workflows.benefits import handle_notification
from workflows.payments.orders import handle_callback
from workflows.policy_service.agreements import handle_agreement_callback
from workflows.policy_service.documents import DocumentError, verify_document

log = logging.getLogger("anxin.health")
READY_TIMEOUT_SECONDS = 2.0  # per dependency: a probe must answer before the balancer's


async def healthz(request: Request) -> JSONResponse:
    """The process is alive (no dependency is checked: a restart would not fix them)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database and, when configured, Redis and the S3 bucket answer
    within 2 s, and no background loop of this process (relay, deliveries, jobs, bus
    listener) is stuck. Not ready: 503 with the failing check, and ``reasons`` for the
    object store (what S3 answered)."""
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        log.warning("readiness: database: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    if services.redis is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis: %s", type(exc).__name__)
            checks["redis"] = "unavailable"
    reasons: dict[str, str] = {}
    if isinstance(services.storage, S3Storage):
        reason = await storage_problem(services.storage)
        checks["storage"] = "ok" if reason is None else "unavailable"
        if reason is not None:
            log.warning("readiness: storage: %s", reason)
            reasons["storage"] = reason
    stuck = services.loops.problems()  # background loops of this process, if any
    if stuck:
        log.warning("readiness: stuck loops: %s", stuck)
    checks["loops"] = "stuck" if stuck else "ok"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if reasons:
        body["reasons"] = reasons
    if stuck:
        body["stuck"] = sorted(stuck)
    return JSONResponse(body, status_code=200 if ready else 503)


async def storage_problem(storage: S3Storage) -> str | None:
    """Why the object store cannot take or serve claim files now, or None. Photos are
    part of reporting a claim: an instance that cannot store them is not ready. The
    reason names the failure (S3's status and error code), never a credential."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await storage.check()
    except TimeoutError:
        return f"S3 did not answer within {READY_TIMEOUT_SECONDS:g} s"
    except StorageError as exc:
        return str(exc)
    return None


async def serve_file(request: Request) -> Response:
    """Files of the local storage, only through the short-lived signed URLs the API hands
    out (S3 serves its own pre-signed URLs)."""
    storage = request.app.state.services.storage
    if not isinstance(storage, LocalStorage):
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "not found"}}, 404)
    return await file_endpoint(storage)(request)


async def payment_notify(request: Request) -> Response:
    """Provider callbacks: verified, checked and recorded before the provider's answer.
    A provider that only pays out (the bank platform) is believed only about transfers."""
    services = request.app.state.services
    name = request.path_params["provider"]
    provider = services.payment_providers.get(name) or services.transfer_providers.get(name)
    if provider is None:
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "not found"}}, 404)
    body = await request.body()
    reply = await handle_callback(
        provider,
        dict(request.headers),
        body,
        transfers_only=name not in services.payment_providers,
        pii=services.pii,
    )
    return Response(reply.body, reply.status_code, media_type=reply.content_type)


async def partner_notify(request: Request) -> Response:
    """A service partner's signed status event (``workflows/benefits/callbacks.py``)."""
    services = request.app.state.services
    body = await request.body()
    reply = await handle_notification(
        services.partners, request.path_params["code"], dict(request.headers), body
    )
    return JSONResponse(reply.body, reply.status_code)


async def agreement_notify(request: Request) -> Response:
    """Withholding-agreement callbacks (代扣协议签约/解约): verified and recorded before
    the provider's answer, like payment callbacks."""
    services = request.app.state.services
    provider = services.payment_providers.get(request.path_params["provider"])
    if provider is None:
        return JSONResponse({"error": {"code": "NOT_FOUND", "message": "not found"}}, 404)
    reply = await handle_agreement_callback(provider, await request.body())
    return Response(reply.body, reply.status_code, media_type=reply.content_type)


_VERIFY_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>安心保险 单证验真</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}}
.ok{{color:#137333}}.no{{color:#b3261e}}dt{{color:#666;margin-top:.6rem}}dd{{margin:0}}</style>
</head><body><h1>单证验真</h1>{body}</body></html>"""


async def verify_page(request: Request) -> HTMLResponse:
    """The page a document's QR code opens: whether we issued it, with its kind, number,
    issue time and the holder's masked name only (no other personal data, never cached)."""
    headers = {"cache-control": "no-store", "x-robots-tag": "noindex"}
    try:
        found = await verify_document(request.path_params["code"][:128])
    except DocumentError:
        body = '<p class="no">验真码格式不正确。</p>'
        return HTMLResponse(_VERIFY_PAGE.format(body=body), 400, headers=headers)
    if found is None:
        body = '<p class="no">未查询到该单证：它不是安心保险签发的，或已被篡改。</p>'
        return HTMLResponse(_VERIFY_PAGE.format(body=body), 404, headers=headers)
    issued = local_time(found.issued_at).strftime("%Y-%m-%d %H:%M")
    rows = [
        ("单证类型", found.title),
        ("单证号码", found.number),
        ("版本", f"第{found.version}版" + ("（已有更新版本）" if found.superseded else "")),
        ("签发时间", f"{issued}（北京时间）"),
        ("签发对象", found.holder_name_masked),
    ]
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows)
    body = f'<p class="ok">该单证由安心财产保险股份有限公司签发。</p><dl>{items}</dl>'
    return HTMLResponse(_VERIFY_PAGE.format(body=body), 200, headers=headers)
