"""The job runner: every mode runs the one schedule the domains declare, and the
embedded server pays a claim out with nobody calling a job by hand."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.jobs import run_jobs_once, run_worker
from api.settings import Settings
from models.auth import AuthSession, OtpChallenge, SubjectKind
from push.delivery import DELIVERY_LOOP
from push.outbox import RELAY_LOOP
from tests.push.test_two_processes import free_port
from workflows.auth import purge_login_records
from workflows.schedule import SCHEDULE

EVERY_LOOP = {job.name for job in SCHEDULE} | {RELAY_LOOP, DELIVERY_LOOP}


async def eventually(check: Callable[[], Any], seconds: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


def test_job_names_are_unique() -> None:
    names = [job.name for job in SCHEDULE]
    assert len(names) == len(set(names))
    assert {"payouts", "refunds", "silent-orders", "reminders"} <= set(names)


async def test_the_worker_the_embedded_server_and_once_run_the_same_jobs(
    settings: Settings,
) -> None:
    embedded = create_app(settings.model_copy(update={"background_jobs": True}))
    async with LifespanManager(embedded):
        loops = embedded.state.services.loops.loops

        async def all_started() -> bool:
            return set(loops) >= EVERY_LOOP

        await eventually(all_started)
        in_embedded = set(loops)

    port = free_port()
    worker = asyncio.create_task(
        run_worker(settings.model_copy(update={"worker_health_port": port}))
    )

    async def worker_loops() -> set[str] | None:
        try:
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"http://127.0.0.1:{port}/readyz")).json()
        except httpx.TransportError:
            return None
        return set(body["loops"]) if set(body["loops"]) >= EVERY_LOOP else None

    try:
        in_worker = await eventually(worker_loops)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    once_only = create_app(settings)
    async with LifespanManager(once_only):
        in_once = set(await run_jobs_once(once_only.state.services))

    assert in_embedded == in_worker == in_once == EVERY_LOOP


async def test_purge_keeps_what_is_still_useful(db: str) -> None:
    now = datetime.now(UTC)
    old = await OtpChallenge.create(phone_hash="a", send_slot=1, code_hash="x", expires_at=now)
    fresh = await OtpChallenge.create(phone_hash="a", send_slot=2, code_hash="x", expires_at=now)
    await OtpChallenge.filter(id=old.id).update(created_at=now - timedelta(hours=3))

    def session(**kwargs: object) -> dict[str, object]:
        return {
            "subject_kind": SubjectKind.CUSTOMER,
            "subject_id": uuid.uuid4(),
            "channel": "app",
            **kwargs,
        }

    ended = await AuthSession.create(**session(expires_at=now - timedelta(days=31)))
    revoked = await AuthSession.create(
        **session(expires_at=now + timedelta(days=1), revoked_at=now - timedelta(days=40))
    )
    live = await AuthSession.create(**session(expires_at=now + timedelta(days=1)))
    recently_revoked = await AuthSession.create(
        **session(expires_at=now + timedelta(days=1), revoked_at=now - timedelta(days=1))
    )
    assert await purge_login_records(now) == (1, 2)
    assert {c.id for c in await OtpChallenge.all()} == {fresh.id}
    assert {s.id for s in await AuthSession.all()} == {live.id, recently_revoked.id}
    assert await AuthSession.filter(id__in=[ended.id, revoked.id]).count() == 0
