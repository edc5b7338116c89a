"""PostgreSQL connections dropped under the running process (``pg_terminate_backend``).

Found by a chaos test: after a drop, the outbox relay logged ``InterfaceError: cannot
call Connection.transaction(): connection has been released back to the pool`` every
0.5 s until a restart. The cause is in Tortoise's pooled transaction context: when
``BEGIN`` fails on a connection that died in the pool, ``__aenter__`` raises after it
has put the transaction wrapper into the task's context variable, and nothing takes it
out again; every later query of that task runs on the dead, released connection. A
task cancelled in ``BEGIN`` did worse, on SQLite too (see ``models.transaction_safety``).
Then the long-running loops: they recover by themselves, and ``/readyz`` says when one
keeps failing or hangs. Only the test database's own backends are terminated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from models.notifications import OutboxEvent
from tests.conftest import TEST_DATABASE_URL, postgres_only
from tests.factories import make_policy
from tests.security.faults import (
    DELIVERY_SECONDS,
    background_jobs,
    customer,
    emit_overdue,
    eventually,
    sms_sent,
)


def database_name() -> str:
    assert TEST_DATABASE_URL
    return urlsplit(TEST_DATABASE_URL).path.lstrip("/")


@pytest.fixture
async def killer(db: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside Tortoise's pool that terminates the pool's connections."""
    assert TEST_DATABASE_URL
    parts = urlsplit(TEST_DATABASE_URL)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    yield connection
    await connection.close()


async def drop_connections(killer: asyncpg.Connection) -> int:
    """Terminate every other backend of the test database (only ours: the name is ours)."""
    killed: int = await killer.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        database_name(),
    )
    return killed


async def several_pooled_connections(count: int) -> None:
    """Make the pool hold ``count`` connections: transactions open at the same time."""
    both_open = asyncio.Barrier(count)

    async def hold() -> None:
        async with in_transaction() as connection:
            await connection.execute_query("SELECT 1")
            await both_open.wait()

    await asyncio.gather(*(hold() for _ in range(count)))


@postgres_only
async def test_a_failed_begin_leaves_no_dead_transaction_behind(
    killer: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """A restart kills every pooled connection; the transactions right after it used to
    draw dead ones and fail (and, before that, poisoned their task for good). A BEGIN on a
    dead connection is retried on another: nothing failed, nothing is left behind."""
    for _ in range(5):
        await several_pooled_connections(3)
        await drop_connections(killer)
        caplog.clear()
        with caplog.at_level("WARNING", logger="models.transaction_safety"):
            for _ in range(3):  # each draws a connection that died in the pool
                async with in_transaction() as connection:
                    _, rows = await connection.execute_query("SELECT 1 AS one")
                    assert rows[0]["one"] == 1
                # this task is back on the pool client
                assert type(connections.get("default")).__name__ == "AsyncpgDBClient"
        if any("BEGIN failed" in r.getMessage() for r in caplog.records):
            return
    raise AssertionError("the drop never hit a BEGIN: the test proved nothing")


async def test_a_transaction_cancelled_while_it_begins_leaves_the_database_usable(
    db: str,
) -> None:
    """A task cancelled in ``BEGIN`` (a client gone, a timeout, a shutdown) used to keep
    its pooled connection for ever (PostgreSQL: the pool ran dry after a few) or SQLite's
    transaction lock (every later transaction waited for ever, from the second)."""

    async def transaction() -> None:
        async with in_transaction() as connection:
            await connection.execute_query("SELECT 1")

    for attempt in range(40):
        doomed = asyncio.create_task(transaction())
        for _ in range(attempt % 8):  # cancel it at each step of its way in
            await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.gather(doomed, return_exceptions=True)
        await asyncio.wait_for(transaction(), 5)  # not waiting for ever
    assert type(connections.get("default")).__name__ in {"AsyncpgDBClient", "SqliteClient"}


__all__ = ["background_jobs", "customer"]  # fixtures


# --- the long-running loops under dropped connections ---------------------------------


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@postgres_only
async def test_the_running_loops_recover_from_dropped_connections(
    services: Services,
    client: httpx.AsyncClient,
    killer: asyncpg.Connection,
    customer: Customer,
    background_jobs: asyncio.Task[None],
) -> None:
    policy = await make_policy(services, customer)
    await eventually(lambda: ready(client), 10, "ready before the chaos")

    # Drop every connection of the test database, again and again, while the loops run.
    loop = asyncio.get_running_loop()
    until = loop.time() + 3
    while loop.time() < until:
        await drop_connections(killer)
        await asyncio.sleep(0.05)
    assert not background_jobs.done(), "the background jobs gave up"

    event = await emit_overdue(customer, policy)

    async def published() -> bool:
        return (await OutboxEvent.get(id=event.id)).published_at is not None

    await eventually(published, 15, "the relay published the event after the drops")
    await eventually(
        sms_sent(event), DELIVERY_SECONDS, "the delivery worker sent its SMS after the drops"
    )
    await eventually(lambda: ready(client), 10, "ready again after the drops")


@postgres_only
async def test_readyz_reports_a_failing_loop_and_its_recovery(
    services: Services,
    client: httpx.AsyncClient,
    killer: asyncpg.Connection,
    customer: Customer,
    background_jobs: asyncio.Task[None],
) -> None:
    """The relay fails on every step (its table is gone) while the database answers."""
    services.loops.max_failures = 3
    policy = await make_policy(services, customer)
    await eventually(lambda: ready(client), 10, "ready at first")
    await killer.execute("ALTER TABLE outbox_event RENAME TO outbox_event_away")
    try:

        async def relay_reported_stuck() -> bool:
            response = await client.get("/readyz")
            return response.status_code == 503 and "outbox-relay" in response.json()["stuck"]

        await eventually(relay_reported_stuck, 15, "/readyz reports the failing relay")
        checks = (await client.get("/readyz")).json()["checks"]
        assert checks["database"] == "ok" and checks["loops"] == "stuck"
    finally:
        await killer.execute("ALTER TABLE outbox_event_away RENAME TO outbox_event")

    event = await emit_overdue(customer, policy)

    async def published() -> bool:
        return (await OutboxEvent.get(id=event.id)).published_at is not None

    await eventually(published, 15, "the relay recovered by itself")
    await eventually(lambda: ready(client), 10, "ready again after the recovery")


@postgres_only
async def test_readyz_reports_a_hanging_loop(
    services: Services,
    client: httpx.AsyncClient,
    killer: asyncpg.Connection,
    background_jobs: asyncio.Task[None],
) -> None:
    """A step that hangs fails nothing, but stops succeeding: stale after a while."""
    await eventually(lambda: ready(client), 10, "ready at first")
    services.loops.loops["outbox-relay"].stale_after = 3.0
    async with killer.transaction():
        await killer.execute("LOCK TABLE outbox_event IN ACCESS EXCLUSIVE MODE")

        async def relay_reported_stuck() -> bool:
            response = await client.get("/readyz")
            return response.status_code == 503 and "outbox-relay" in response.json()["stuck"]

        await eventually(relay_reported_stuck, 10, "/readyz reports the hanging relay")
    await eventually(lambda: ready(client), 10, "ready again when the lock is gone")


def test_the_transaction_patch_knows_this_tortoise_version() -> None:
    """The patch wraps Tortoise internals: an upgrade must be checked against it (and
    against tortoise-orm #413) before this test is changed."""
    import tortoise

    from models.transaction_safety import WRITTEN_FOR

    assert tortoise.__version__.startswith(WRITTEN_FOR), tortoise.__version__
