"""The ASGI application: everything passed to one Starlette constructor. Building one
changes nothing process-wide (logging, GC, Pillow): ``api.serving`` does that, once, in
the process that serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path

import httpx
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from tortoise.contrib.starlette import RegisterTortoise

from api.clients import INSTALLATION_HEADER
from api.console import ConsoleFiles, export_figure
from api.graphql_view import GraphQLView
from api.jobs import run_jobs
from api.limits import RequestLimitsMiddleware, limit_table
from api.middleware import (
    PREFLIGHT_HEADERS,
    MultipartPreflightMiddleware,
    SecurityHeadersMiddleware,
)
from api.persisted_queries import build_persisted_queries, load_manifest
from api.routes import (
    agreement_notify,
    healthz,
    partner_notify,
    payment_notify,
    readyz,
    serve_file,
    verify_page,
)
from api.services import Services, build_services, connect_redis
from api.settings import PersistedQueriesMode, Settings
from api.shedding import LoadSheddingMiddleware, shedding_limits
from api.uploads import UPLOAD_PATH, upload_claim_document
from models.config import tortoise_config
from schema import SchemaOptions, build_schema
from workflows.assistant import answer as assistant
from workflows.complaints import classify

STATIC = Path(__file__).parent / "static"

log = logging.getLogger("anxin.app")


def schema_options(settings: Settings) -> SchemaOptions:
    allowed = None
    if settings.persisted_queries is PersistedQueriesMode.ALLOWLIST:
        assert settings.persisted_queries_manifest is not None  # the settings check it
        allowed = frozenset(load_manifest(settings.persisted_queries_manifest))
    return SchemaOptions(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_query_tokens,
        introspection=settings.introspection_enabled,
        mask_errors=not settings.is_development,
        allowed_operations=allowed,
        compiled_execution=settings.compiled_execution,
    )


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's verifying context, made once: loading the CA bundle takes ~30 ms, which
    every app built in one process (each test's) would pay again."""
    return httpx.create_ssl_context()


@cache
def _schema(options: SchemaOptions) -> strawberry.Schema:
    """One schema per set of options: building it takes ~40 ms, and apps built in one
    process (each test's) share it as one app's requests do."""
    return build_schema(options)


@asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[Services]:
    """The services with the clients they hold (HTTP, Redis), closed on the way out: the
    app's lifespan, and on their own for tests that need no HTTP."""
    redis_client = (
        connect_redis(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        if settings.redis_url
        else None
    )
    async with httpx.AsyncClient(
        timeout=settings.http_timeout_seconds, verify=_tls_context()
    ) as http:
        services = build_services(settings, http, redis_client)
        try:
            yield services
        finally:
            await services.bus.close()
            if redis_client is not None:
                await redis_client.aclose()


async def warm_up_classifier() -> None:
    """Load the complaint classifier's and the service assistant's dictionaries (and the
    assistant's knowledge index) in the background, so the first complaint or question
    of the process does not wait seconds for them; start-up and readiness do not wait
    for it either (a complaint filed meanwhile waits for the load, not twice)."""
    seconds = await asyncio.to_thread(classify.warm_up)
    if seconds:
        log.info("complaint classifier ready in %.1f s", seconds)
    try:
        await assistant.warm_up()
    except Exception:  # the first question builds it then
        log.exception("the service assistant could not warm up")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running_services(settings) as services:
            app.state.services = view.services = services
            view.persisted = build_persisted_queries(
                settings.persisted_queries.value,
                services.redis,
                settings.persisted_queries_manifest,
                ttl_seconds=settings.persisted_queries_ttl_seconds,
                memory_entries=settings.persisted_queries_memory_entries,
                max_query_chars=settings.persisted_queries_max_query_chars,
            )
            async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
                jobs = (
                    asyncio.create_task(run_jobs(services), name="background-jobs")
                    if settings.run_background_jobs
                    else None
                )
                warming = (
                    asyncio.create_task(warm_up_classifier(), name="classifier-warm-up")
                    if settings.complaint_classifier_warm_up
                    else None
                )
                try:
                    yield
                finally:
                    if warming is not None:
                        warming.cancel()  # the thread finishes on its own
                    if jobs is not None:
                        jobs.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await jobs

    view = GraphQLView(
        services=None,
        schema=_schema(schema_options(settings)),
        graphql_ide="graphiql"
        if settings.is_development or settings.introspection_enabled
        else None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        # Queries in URLs end up in access logs: by GET only a persisted query's hash
        # (Apollo's useGETForHashedQueries); the view refuses any other GET query.
        allow_queries_via_get=True,
        multipart_uploads_enabled=True,  # claim photos; guarded by the preflight header
        # Un-initialised connections cost memory and a timer each: not for long.
        connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout_seconds),
    )
    return Starlette(
        debug=False,
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/files/{key:path}", serve_file, methods=["GET", "HEAD"]),
            Route("/payments/{provider}/notify", payment_notify, methods=["POST"]),
            Route("/partners/{code}/notify", partner_notify, methods=["POST"]),
            Route("/payments/{provider}/agreements/notify", agreement_notify, methods=["POST"]),
            Route("/verify/{code}", verify_page, methods=["GET"]),
            Route(UPLOAD_PATH, upload_claim_document, methods=["POST"]),
            Mount("/static/graphiql", StaticFiles(directory=STATIC / "graphiql")),
            Route("/console/export", export_figure, methods=["GET"]),
            Mount("/console", ConsoleFiles()),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(RequestLimitsMiddleware, table=limit_table(settings)),
            Middleware(MultipartPreflightMiddleware, bearer_only=(UPLOAD_PATH,)),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                # What browser clients send: Apollo's preflight headers (either one
                # satisfies the CSRF guard) and its client-awareness headers too.
                allow_headers=[
                    "authorization",
                    "content-type",
                    *(name.decode() for name in PREFLIGHT_HEADERS),
                    "apollographql-client-name",
                    "apollographql-client-version",
                    INSTALLATION_HEADER,
                ],
                max_age=600,
            ),
            # Innermost: its refusals still carry the CORS and security headers, and it
            # watches (and cancels) the request's work itself.
            Middleware(LoadSheddingMiddleware, limits=shedding_limits(settings)),
        ],
        lifespan=lifespan,
    )
