"""Background work: the outbox relay, delivery workers, reminders and housekeeping.

``anxin worker`` runs it when Redis is configured (several workers share the work);
without Redis the API process runs it itself, as the in-process bus and queue only
reach subscribers of the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as redis
from tortoise.expressions import Q

from api.services import Services, build_services
from api.settings import Settings
from models.auth import AuthSession, OtpChallenge
from models.database import open_database
from push.channels import build_channels, wechat_template_ids
from push.delivery import Deliverer, DeliveryWorker
from push.health_server import serve_health
from push.loops import LoopHealth, supervise
from push.outbox import OutboxRelay
from push.reminders import run_reminders
from workflows.payments.orders import settle_silent_orders
from workflows.payments.payouts import follow_up_payouts, start_chosen_payouts
from workflows.payments.refunds import follow_up_refunds
from workflows.policies import refresh_policy_statuses
from workflows.survey_exchange import delete_old_exports
from workflows.surveys import invite_relationship_surveys
from workflows.visits import plan_visits, send_email_visits

log = logging.getLogger("anxin.worker")
HOUSEKEEPING_SECONDS = 300
REMINDER_SECONDS = 300
PAYMENT_CHECK_SECONDS = 60
SURVEY_SECONDS = 6 * 3600
VISIT_PLAN_SECONDS = 3600
KEEP_ENDED_SESSIONS_DAYS = 30  # kept a while for security investigations


async def purge_login_records(now: datetime | None = None) -> tuple[int, int]:
    """Delete SMS codes past use and sessions that ended over 30 days ago."""
    now = now or datetime.now(UTC)
    codes = await OtpChallenge.filter(created_at__lt=now - timedelta(hours=2)).delete()
    cutoff = now - timedelta(days=KEEP_ENDED_SESSIONS_DAYS)
    sessions = await AuthSession.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return codes, sessions


async def every(
    seconds: float,
    job: Callable[[], Awaitable[Any]],
    *,
    health: LoopHealth | None = None,
    name: str | None = None,
    first_after: float = 0,
) -> None:
    """Run ``job`` every ``seconds``; a failed run is retried sooner, with backoff."""

    async def step() -> None:
        await job()

    await supervise(
        name or str(getattr(job, "__name__", "job")),
        step,
        health or LoopHealth(),
        interval=seconds,
        first_after=first_after,
    )


async def email_visits(services: Services) -> int:
    return await send_email_visits(email_on=bool(services.settings.smtp_host))


async def pay_out(services: Services) -> None:
    """Pay approved claims to the accounts their claimants chose, then settle transfers
    in flight."""
    await start_chosen_payouts(
        services.payment_providers, notify_base_url=services.settings.public_base_url
    )
    await follow_up_payouts(
        services.payment_providers, notify_base_url=services.settings.public_base_url
    )


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_jobs(services: Services) -> None:
    """Run every background job of this process until cancelled; each loop recovers by
    itself and reports to ``services.loops`` (``/readyz``, the worker's health port)."""
    channels = build_channels(services)
    deliverer = Deliverer(channels, services.queue, wechat_template_ids(services))
    health = services.loops

    def periodic(name: str, seconds: float, job: Callable[[], Awaitable[Any]], **kw: Any) -> Any:
        return every(seconds, job, health=health, name=name, **kw)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(OutboxRelay(services.bus, services.queue).run(health))
            group.create_task(DeliveryWorker(deliverer, consumer_name()).run(health))
            group.create_task(periodic("reminders", REMINDER_SECONDS, run_reminders))
            group.create_task(
                periodic("policy-statuses", REMINDER_SECONDS, refresh_policy_statuses)
            )
            # Not at start-up: a process restart should not be the moment customers are asked.
            group.create_task(
                periodic(
                    "relationship-surveys",
                    SURVEY_SECONDS,
                    invite_relationship_surveys,
                    first_after=600,
                )
            )
            group.create_task(
                periodic("visit-planning", VISIT_PLAN_SECONDS, plan_visits, first_after=60)
            )
            group.create_task(
                periodic("email-visits", REMINDER_SECONDS, lambda: email_visits(services))
            )
            group.create_task(periodic("login-records", HOUSEKEEPING_SECONDS, purge_login_records))
            group.create_task(
                periodic(
                    "export-files",
                    HOUSEKEEPING_SECONDS,
                    lambda: delete_old_exports(services.storage),
                )
            )
            group.create_task(
                periodic(
                    "silent-orders",
                    PAYMENT_CHECK_SECONDS,
                    lambda: settle_silent_orders(services.payment_providers),
                )
            )
            group.create_task(periodic("payouts", PAYMENT_CHECK_SECONDS, lambda: pay_out(services)))
            group.create_task(
                periodic(
                    "refunds",
                    PAYMENT_CHECK_SECONDS,
                    lambda: follow_up_refunds(
                        services.payment_providers,
                        notify_base_url=services.settings.public_base_url,
                    ),
                )
            )
    finally:
        for channel in channels.values():
            close = getattr(channel, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


async def run_jobs_once(services: Services) -> None:
    """Each job once, in order (``anxin worker --once``, cron-style operation)."""
    await refresh_policy_statuses()
    await run_reminders()
    await invite_relationship_surveys()
    await plan_visits()
    await email_visits(services)
    while await OutboxRelay(services.bus, services.queue).relay_once():
        pass
    deliverer = Deliverer(build_channels(services), services.queue, wechat_template_ids(services))
    await deliverer.sweep()
    worker = DeliveryWorker(deliverer, consumer_name())
    while await worker.work_once(block_ms=100):
        pass
    await settle_silent_orders(services.payment_providers)
    await pay_out(services)
    await follow_up_refunds(
        services.payment_providers, notify_base_url=services.settings.public_base_url
    )
    codes, sessions = await purge_login_records()
    exports = await delete_old_exports(services.storage)
    log.info(
        "housekeeping: removed %d codes, %d sessions, %d export files", codes, sessions, exports
    )


async def run_worker(settings: Settings, *, once: bool = False) -> None:
    redis_client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
    async with httpx.AsyncClient(timeout=settings.http_timeout_seconds) as http:
        services = build_services(settings, http, redis_client)
        try:
            async with open_database(settings.database_url):
                if once:
                    await run_jobs_once(services)
                    return
                async with serve_health(
                    services.loops, settings.worker_health_port, settings.worker_health_host
                ):
                    await run_jobs(services)
        finally:
            await services.bus.close()
            if redis_client is not None:
                with contextlib.suppress(Exception):
                    await redis_client.aclose()
