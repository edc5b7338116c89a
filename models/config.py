"""The Tortoise configuration, built from settings (also read by Tortoise's own CLI:
``tortoise -c models.config.TORTOISE_ORM makemigrations``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from models import MODEL_MODULES, sqlite_times, transaction_safety

DEFAULT_DATABASE_URL = "sqlite://data/anxin.sqlite3"  # the embedded default
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout `make serve` runs in


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://")
    return Path(path) if path and path != ":memory:" else None


def existing_database(database_url: str) -> str | None:
    """``database_url`` if its database can exist here; for the default SQLite file
    (relative to the current directory) also the project's own when run elsewhere.
    None when no such SQLite file exists: reading commands must not create one."""
    path = sqlite_path(database_url)
    if path is None or path.exists():
        return database_url
    if database_url == DEFAULT_DATABASE_URL and (PROJECT_ROOT / path).exists():
        return f"sqlite://{PROJECT_ROOT / path}"
    return None


def tortoise_config(database_url: str) -> dict[str, Any]:
    transaction_safety.install()  # transactions that survive a dropped connection
    if database_url.startswith("sqlite://"):
        sqlite_times.install()  # times compared as UTC text
        path = sqlite_path(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
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
