"""The Tortoise configuration, built from settings (also read by Tortoise's own CLI:
``tortoise -c models.config.TORTOISE_ORM makemigrations``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from models import MODEL_MODULES, sqlite_times, transaction_safety

DEFAULT_DATABASE_URL = "sqlite://data/anxin.sqlite3"  # the embedded default


def tortoise_config(database_url: str) -> dict[str, Any]:
    transaction_safety.install()  # transactions that survive a dropped connection
    if database_url.startswith("sqlite://"):
        sqlite_times.install()  # times compared as UTC text
        path = database_url.removeprefix("sqlite://")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    """``TORTOISE_ORM`` for Tortoise's CLI, from ``ANXIN_DATABASE_URL`` as the gateway
    reads it, built when asked for (not at import)."""
    if name == "TORTOISE_ORM":
        return tortoise_config(os.environ.get("ANXIN_DATABASE_URL") or DEFAULT_DATABASE_URL)
    raise AttributeError(name)
