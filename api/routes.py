"""Non-GraphQL HTTP: liveness and readiness probes, claim files behind signed URLs, and
payment providers' callbacks."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from storage.local import LocalStorage, file_endpoint
from workflows.payments.orders import handle_callback

log = logging.getLogger("anxin.health")


async def healthz(request: Request) -> JSONResponse:
    """The process is alive (no dependency is checked: a restart would not fix them)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database and, when configured, Redis answer within 2 s, and
    no background loop of this process (relay, deliveries, jobs, bus listener) is stuck."""
    services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        log.warning("readiness: database: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    if services.redis is not None:
        try:
            async with asyncio.timeout(2):
                await services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            log.warning("readiness: redis: %s", type(exc).__name__)
            checks["redis"] = "unavailable"
    stuck = services.loops.problems()  # background loops of this process, if any
    if stuck:
        log.warning("readiness: stuck loops: %s", stuck)
    checks["loops"] = "stuck" if stuck else "ok"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if stuck:
        body["stuck"] = sorted(stuck)
    return JSONResponse(body, status_code=200 if ready else 503)


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
