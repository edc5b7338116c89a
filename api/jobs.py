"""The job runner: the outbox relay, the delivery worker and every periodic job of
``workflows.schedule.SCHEDULE``, in the three modes that run them.

``anxin worker`` runs them when Redis is configured (several workers share the work);
without Redis the API process runs them itself (``run_jobs`` from the lifespan), as the
in-process bus and queue only reach subscribers of the same process; ``anxin worker
--once`` runs each once (cron-style operation). All three take the same ``SCHEDULE``,
so a job declared by a domain cannot be forgotten by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import httpx

from api.channels import build_channels, wechat_template_ids
from api.services import Services, build_services, connect_redis
from api.settings import Settings
from models.database import open_database
from push.delivery import DELIVERY_LOOP, Deliverer, DeliveryWorker
from push.health_server import serve_health
from push.loops import LoopHealth, supervise
from push.outbox import RELAY_LOOP, OutboxRelay
from workflows.jobs import Job, JobDeps
from workflows.schedule import SCHEDULE

log = logging.getLogger("anxin.worker")


def job_deps(services: Services) -> JobDeps:
    return JobDeps(
        payment_providers=services.payment_providers,
        transfer_providers=services.transfer_providers,
        pii=services.pii,
        storage=services.storage,
        notify_base_url=services.settings.public_base_url,
        email_on=bool(services.settings.smtp_host),
        invoice_provider=services.invoice_provider,
        agent_hours=services.settings.agent_working_hours,
        partners=services.partners,
    )


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_periodically(job: Job, deps: JobDeps, health: LoopHealth, every: float) -> None:
    """Run ``job`` every ``every`` seconds; a failed run is retried sooner, with backoff
    (``supervise``)."""

    async def step() -> None:
        await job.run(deps)

    await supervise(job.name, step, health, interval=every, first_after=job.first_after)


async def run_jobs(services: Services, schedule: tuple[Job, ...] = SCHEDULE) -> None:
    """Run every background loop of this process until cancelled; each loop recovers by
    itself and reports to ``services.loops`` (``/readyz``, the worker's health port)."""
    channels = build_channels(services)
    deliverer = Deliverer(channels, services.queue, wechat_template_ids(services))
    health = services.loops
    deps = job_deps(services)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(OutboxRelay(services.bus, services.queue).run(health))
            group.create_task(DeliveryWorker(deliverer, consumer_name()).run(health))
            for job in schedule:
                every = services.settings.job_intervals.get(job.name, job.every_seconds)
                group.create_task(run_periodically(job, deps, health, every), name=job.name)
    finally:
        for channel in channels.values():
            close = getattr(channel, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


async def run_jobs_once(services: Services, schedule: tuple[Job, ...] = SCHEDULE) -> list[str]:
    """Each job once, in order, then relay and deliver what they announced; returns the
    names of what ran (``anxin worker --once``)."""
    deps = job_deps(services)
    ran = []
    for job in schedule:
        result = await job.run(deps)
        log.info("%s: %s", job.name, result)
        ran.append(job.name)
    while await OutboxRelay(services.bus, services.queue).relay_once():
        pass
    ran.append(RELAY_LOOP)
    deliverer = Deliverer(build_channels(services), services.queue, wechat_template_ids(services))
    await deliverer.sweep()
    worker = DeliveryWorker(deliverer, consumer_name())
    while await worker.work_once(block_ms=100):
        pass
    ran.append(DELIVERY_LOOP)
    return ran


async def run_worker(settings: Settings, *, once: bool = False) -> None:
    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
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
