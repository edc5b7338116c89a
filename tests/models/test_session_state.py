"""Connections given back to the PostgreSQL pool: no reset round trip for the ORM's
queries and transactions, yet never a connection handed out inside a transaction, and
the session state a marked connection took (advisory lock, ``SET``) undone."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import connections
from tortoise.transactions import in_transaction

from models.customers import Customer
from models.session_state import holds_session_state
from tests.conftest import TEST_DATABASE_URL, postgres_only
from tests.sql_counter import counting_round_trips

LOCK_KEY = 0x7465737431  # a key of this test's own


async def outsider() -> asyncpg.Connection:
    assert TEST_DATABASE_URL
    parts = urlsplit(TEST_DATABASE_URL)
    return await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))


@postgres_only
async def test_a_query_and_a_transaction_cost_no_reset_round_trip(db: str) -> None:
    async with counting_round_trips() as trips:
        await Customer.filter(name="nobody").count()
        async with in_transaction():
            await Customer.filter(name="nobody").count()
        sent = await trips.sent()
    assert len(sent) == 4, sent  # the query; BEGIN, the query, COMMIT
    assert not any("RESET ALL" in statement for statement in sent)


@postgres_only
async def test_a_transaction_left_open_is_rolled_back_on_release(db: str) -> None:
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMP TABLE left_open (n int) ON COMMIT DROP")
    for _ in range(client._pool.get_max_size()):  # whichever connection comes next
        async with client.acquire_connection() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT to_regclass('left_open')") is None


@postgres_only
async def test_a_marked_connection_gives_up_its_session_state(db: str) -> None:
    client = connections.get("default")
    async with client.acquire_connection() as connection:
        holds_session_state(connection)
        assert await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
        await connection.execute("SET statement_timeout = 1234")
        marked = connection.get_server_pid()
        # given back without unlocking or resetting: the pool does both
    other = await outsider()
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
    finally:
        await other.close()
    for _ in range(client._pool.get_max_size()):
        async with client.acquire_connection() as connection:
            if connection.get_server_pid() == marked:
                assert await connection.fetchval("SHOW statement_timeout") == "0"
