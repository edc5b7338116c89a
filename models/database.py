"""Opening the database outside the web app (CLI, worker, tests) and migrating it with
Tortoise's own migration engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate

from models.config import tortoise_config


@asynccontextmanager
async def open_database(database_url: str) -> AsyncIterator[TortoiseContext]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(database_url))
        yield ctx


async def migrate_database(database_url: str) -> None:
    """Apply every migration in ``models/migrations`` that the database lacks."""
    config = tortoise_config(database_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        await migrate(config=config)
