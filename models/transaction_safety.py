"""A repair of Tortoise's pooled transactions (asyncpg) when a connection dies.

``TransactionContextPooled.__aenter__`` (tortoise-orm 1.1.9, still the same upstream)
takes a connection from the pool, puts the transaction wrapper into the task's context
variable and then sends ``BEGIN``. When ``BEGIN`` fails - the connection was dropped
(``pg_terminate_backend``, a database restart, a network cut) while it sat in the pool
and asyncpg has not noticed yet - ``__aenter__`` raises, so ``__aexit__`` never runs: the
context variable keeps pointing at the wrapper of a dead connection that asyncpg has
already taken back. Every later query and ``in_transaction()`` of that task then nests
into it and fails with ``cannot call Connection.transaction(): connection has been
released back to the pool``, forever; a request task ends and takes the damage with it,
but a long-running loop (the outbox relay) never recovers. ``__aexit__`` has a smaller
twin: when giving the connection back fails (asyncpg's reset on a dying connection),
the context variable is not reset either.

The same holds when the task is cancelled while ``BEGIN`` runs (a client gone, a
timeout, a shutdown): on PostgreSQL the connection is never given back, and after a few
such cancellations the pool is empty and every query waits for ever. SQLite's
transaction context has the same shape with a lock: it stays held, and every later
transaction of the process waits for ever (measured: the second cancellation).

A pool holds several connections and a restart kills them all; the next transactions
would each draw a dead one and fail. ``BEGIN`` has no effect to repeat, so a ``BEGIN``
that fails because its connection is gone is retried on another (asyncpg replaces a
terminated connection on the next acquire), a few times, with a WARNING: a database
restart costs requests nothing once the database is back.

``install()`` wraps these methods so that whatever fails, the context variable is
reset, the connection goes back to the pool (asyncpg terminates a broken one and opens
a new one on the next acquire) and SQLite's lock is released. It is idempotent and
called wherever this project configures Tortoise (``models.config.tortoise_config``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import asyncpg
from tortoise.backends.base.client import TransactionalDBClient, TransactionContextPooled
from tortoise.backends.sqlite.client import SqliteTransactionContext
from tortoise.connection import ConnectionToken, get_connections

_MARK = "_anxin_transaction_safety"
BEGIN_ATTEMPTS = 4  # a pool's dead connections are replaced one per attempt

log = logging.getLogger(__name__)

# What a BEGIN raises on a connection that died in the pool (killed backend, restart,
# network cut) or whose protocol still holds the server's last error.
_CONNECTION_GONE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # 57P01 terminating connection
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # "cannot switch to state ...; another operation"
    OSError,
)


def _reset_token(context: TransactionContextPooled | SqliteTransactionContext) -> None:
    token: ConnectionToken | None = getattr(context, "token", None)
    if token is not None and not token._used:
        get_connections().reset(token)


async def _give_back(context: TransactionContextPooled) -> None:
    """Return the transaction's connection to the pool; a failure here is asyncpg
    terminating a broken connection, which is what we want anyway."""
    pool = context.client._parent._pool
    connection = context.client._connection
    if pool is None or connection is None:
        return
    with contextlib.suppress(Exception):
        await pool.release(connection)


WRITTEN_FOR = "1.1."  # Tortoise versions whose transaction internals this patch knows


def install() -> None:
    if getattr(TransactionContextPooled, _MARK, False):
        return
    original_enter = TransactionContextPooled.__aenter__
    original_exit = TransactionContextPooled.__aexit__

    async def __aenter__(self: TransactionContextPooled) -> Any:
        for attempt in range(1, BEGIN_ATTEMPTS + 1):
            try:
                return await original_enter(self)
            except BaseException as exc:
                _reset_token(self)
                await _give_back(self)
                if attempt == BEGIN_ATTEMPTS or not isinstance(exc, _CONNECTION_GONE):
                    raise
                log.warning(
                    "BEGIN failed on a dropped database connection (%s); retrying on another",
                    type(exc).__name__,
                )
        raise AssertionError("unreachable")

    async def __aexit__(
        self: TransactionContextPooled, exc_type: Any, exc_val: Any, exc_tb: Any
    ) -> None:
        try:
            await original_exit(self, exc_type, exc_val, exc_tb)
        finally:
            _reset_token(self)

    TransactionContextPooled.__aenter__ = __aenter__  # type: ignore[method-assign]
    TransactionContextPooled.__aexit__ = __aexit__  # type: ignore[method-assign]
    setattr(TransactionContextPooled, _MARK, True)
    _install_sqlite()


def _install_sqlite() -> None:
    async def __aenter__(self: SqliteTransactionContext) -> TransactionalDBClient:
        """Tortoise's own steps, with the lock released and the context reset when any
        of them fails or is cancelled."""
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                _reset_token(self)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection

    SqliteTransactionContext.__aenter__ = __aenter__  # type: ignore[method-assign]
