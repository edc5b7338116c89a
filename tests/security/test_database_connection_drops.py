"""PostgreSQL connections dropped under the running process (``pg_terminate_backend``).

Found by a chaos test: after a drop, the outbox relay logged ``InterfaceError: cannot
call Connection.transaction(): connection has been released back to the pool`` every
0.5 s until a restart. The cause is in Tortoise's pooled transaction context: when
``BEGIN`` fails on a connection that died in the pool, ``__aenter__`` raises after it
has put the transaction wrapper into the task's context variable, and nothing takes it
out again; every later query of that task runs on the dead, released connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from tests.conftest import TEST_DATABASE_URL, postgres_only

pytestmark = postgres_only


def database_name() -> str:
    assert TEST_DATABASE_URL
    return urlsplit(TEST_DATABASE_URL).path.lstrip("/")


@pytest.fixture
async def killer(app: object) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside the app's pool that terminates the app's connections."""
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


async def test_a_failed_begin_leaves_no_dead_transaction_behind(
    killer: asyncpg.Connection,
) -> None:
    """A transaction that cannot even begin must not poison its task."""
    await connections.get("default").execute_query("SELECT 1")  # a connection in the pool
    failed_to_begin = 0
    for _ in range(10):
        entered = False
        await drop_connections(killer)  # ... and, at once, a transaction on the dead one
        try:
            async with in_transaction() as connection:
                entered = True
                await connection.execute_query("SELECT 1")
        except Exception:
            failed_to_begin += not entered
        # Whatever happened, this task is back on the pool client ...
        assert type(connections.get("default")).__name__ == "AsyncpgDBClient"
        # ... and its next transaction works.
        async with in_transaction() as connection:
            _, rows = await connection.execute_query("SELECT 1 AS one")
            assert rows[0]["one"] == 1
        if failed_to_begin:
            break
    assert failed_to_begin, "the drop never hit a BEGIN: the test proved nothing"
