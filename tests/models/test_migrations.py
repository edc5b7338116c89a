"""A fresh database migrates to exactly the models' schema (no missing migration)."""

from __future__ import annotations

from tortoise.migrations.autodetector import MigrationAutodetector

from models.config import tortoise_config
from models.database import open_database
from models.policies import Policy


async def test_migrations_match_the_models(database_url: str) -> None:
    config = tortoise_config(database_url)
    async with open_database(database_url) as ctx:
        assert ctx.apps is not None
        changes = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
        assert changes == [], "models changed without a migration: run makemigrations"
        # The migrated tables are really there and usable.
        assert await Policy.all().count() == 0
