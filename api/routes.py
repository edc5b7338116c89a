"""Non-GraphQL HTTP: liveness and readiness probes, claim files behind signed URLs, and
payment providers' callbacks."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from storage.base import StorageError
from storage.local import LocalStorage, file_endpoint
from storage.s3 import S3Storage
from workflows.payments.orders import handle_callback

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
