"""The Tortoise configuration, built from settings (also read by Tortoise's own CLI:
``tortoise -c models.config.TORTOISE_ORM makemigrations``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import MODEL_MODULES, session_state, sqlite_times, transaction_safety

DEFAULT_DATABASE_URL = "sqlite://data/anxin.sqlite3"  # the embedded default
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout `make serve` runs in


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://")
    return Path(path) if path and path != ":memory:" else None


def sqlite_candidates(database_url: str) -> list[Path]:
    """Where a SQLite URL's file may be: the path as given (relative to the current
    directory); for the default, also the project's own, for commands run elsewhere."""
    path = sqlite_path(database_url)
    if path is None:
        return []
    return [path, PROJECT_ROOT / path] if database_url == DEFAULT_DATABASE_URL else [path]


def existing_database(database_url: str) -> str | None:
    """``database_url`` with the SQLite file that exists (see ``sqlite_candidates``);
    None when there is none: reading commands must not create one."""
    candidates = sqlite_candidates(database_url)
    if not candidates:
        return database_url
    found = next((path for path in candidates if path.exists()), None)
    return f"sqlite://{found}" if found else None


def tortoise_config(database_url: str) -> dict[str, Any]:
    transaction_safety.install()  # transactions that survive a dropped connection
    # Tortoise caches each model's INSERT/UPDATE/DELETE SQL per process, keyed by the
    # connection's name ("default") and table, not by dialect: a process that opens a
    # SQLite database and then PostgreSQL (the tests, a migration check) would send
    # SQLite's ``?`` placeholders to PostgreSQL. Rebuilt on first use; cheap.
    EXECUTOR_CACHE.clear()
    if database_url.startswith("sqlite://"):
        sqlite_times.install()  # times compared as UTC text
        path = sqlite_path(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    return {
        # PostgreSQL: connections go back to the pool without a reset round trip
        "connections": {"default": session_state.pool_options(database_url)},
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
