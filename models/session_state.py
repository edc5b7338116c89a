"""Giving a PostgreSQL connection back to the pool without a reset round trip.

By default asyncpg resets every connection it takes back: after rolling back a
transaction left open (and forgetting ``add_listener`` callbacks), it sends
``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`` - one more round
trip on every release, that is on every query outside a transaction and on every
transaction. Measured on the payment callback: 2 of a duplicate callback's 2 round
trips were 1 query and 1 reset.

What that query undoes is session state, and this code makes session state only on
connections it says so of: ORM queries and transactions never take session advisory
locks, ``LISTEN``, open ``WITH HOLD`` cursors or ``SET`` session settings (a ``SET
LOCAL`` or a ``pg_advisory_xact_lock`` ends with its transaction; the server settings
Tortoise passes at connect time are the session's defaults, which ``RESET ALL`` would
not change anyway). So the pool's ``reset`` (:func:`reset`) keeps asyncpg's own first
step - the open transaction rolled back, so no connection is ever handed out inside a
transaction - and sends the reset query only to a connection marked with
:func:`holds_session_state` since it was acquired (the outbox relay's session advisory
lock). Code that makes session state on a pooled connection must mark it *before*
(``tests/test_architecture.py`` checks the source for such statements).
"""

from __future__ import annotations

import weakref
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from tortoise.backends.base.config_generator import expand_db_url

_HOLDING: weakref.WeakSet[asyncpg.Connection] = weakref.WeakSet()


def _raw(connection: Any) -> asyncpg.Connection:
    if isinstance(connection, PoolConnectionProxy):
        return connection._con  # the proxy Tortoise hands out; the pool resets the connection
    return connection


def holds_session_state(connection: Any) -> None:
    """Mark a pooled connection (as ``acquire_connection`` gives it) that is about to take
    state outliving a transaction (a session advisory lock, ``LISTEN``, ``SET``): the pool
    resets it fully when it is given back, whatever happens in between."""
    _HOLDING.add(_raw(connection))


async def reset(connection: asyncpg.Connection) -> None:
    """The pool's reset (``asyncpg.create_pool(reset=...)``), after asyncpg rolled back
    any open transaction: the full reset query only for a marked connection."""
    if connection in _HOLDING:
        _HOLDING.discard(connection)
        await connection.execute(connection.get_reset_query())


def pool_options(database_url: str) -> dict[str, Any] | str:
    """``database_url`` as Tortoise's connection setting: for PostgreSQL the expanded
    credentials with this module's ``reset`` (a callable cannot travel in the URL)."""
    if not database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return database_url
    expanded = expand_db_url(database_url)
    expanded["credentials"]["reset"] = reset
    return expanded
