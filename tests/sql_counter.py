"""Counting the SQL statements Tortoise sends, for tests of how many a request costs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import asyncpg
from asyncpg.connection import LoggedQuery
from tortoise import connections


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends (it logs each on tortoise.db_client)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@contextlib.contextmanager
def counting_statements() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    logger = logging.getLogger("tortoise.db_client")
    previous = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)


class RoundTrips:
    """What ``counting_round_trips`` saw; asyncpg calls its loggers soon after a query,
    not at once, hence ``sent()`` awaits a turn of the loop first."""

    def __init__(self) -> None:
        self._sent: list[str] = []

    def log(self, record: LoggedQuery) -> None:
        self._sent.append(record.query)

    async def sent(self) -> list[str]:
        await asyncio.sleep(0)
        return list(self._sent)

    def clear(self) -> None:
        self._sent.clear()


@contextlib.asynccontextmanager
async def counting_round_trips() -> AsyncIterator[RoundTrips]:
    """PostgreSQL: every statement the app's pool sends, as asyncpg sends it - the ORM's,
    ``BEGIN``/``COMMIT`` and the reset run when a connection goes back to the pool, which
    Tortoise's log does not show. Every connection of the pool is opened first and
    watched with asyncpg's query logger."""
    client = connections.get("default")
    await client.execute_query("SELECT 1")  # Tortoise opens its pool on first use
    pool: asyncpg.Pool = client._pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    for connection in held:
        await pool.release(connection)
    trips = RoundTrips()
    watched = [holder._con for holder in pool._holders if holder._con is not None]
    for connection in watched:
        connection.add_query_logger(trips.log)
    try:
        yield trips
    finally:
        for connection in watched:
            connection.remove_query_logger(trips.log)
