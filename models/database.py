"""Opening the database outside the web app (CLI, worker, tests) and migrating it with
Tortoise's own migration engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from tortoise.context import TortoiseContext

from models.config import tortoise_config
from models.migration_executor import migrate
from models.pii import MIGRATION_CIPHER, PiiCipher


@asynccontextmanager
async def open_database(database_url: str) -> AsyncIterator[TortoiseContext]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        yield ctx


async def migrate_database(
    database_url: str,
    pii: PiiCipher | None = None,
    progress: Callable[[str, str, str], object] | None = None,
) -> None:
    """Apply every migration in ``models/migrations`` that the database lacks; ``pii``
    seals personal data that an older version stored in clear. ``progress`` is Tortoise's
    (event, app, migration) callback: the tests keep a copy of the database as each
    migration leaves it, from the one pass that builds their template."""
    config = tortoise_config(database_url)
    token = MIGRATION_CIPHER.set(pii)
    try:
        async with TortoiseContext() as ctx:
            await ctx.init(config=config)
            await migrate(config, progress=progress)
    finally:
        MIGRATION_CIPHER.reset(token)
