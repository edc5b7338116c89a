"""The Tortoise configuration, built from settings (also read by Tortoise's own CLI:
``tortoise -c models.config.TORTOISE_ORM makemigrations``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.settings import Settings
from models import MODEL_MODULES, transaction_safety


def tortoise_config(database_url: str) -> dict[str, Any]:
    transaction_safety.install()  # transactions that survive a dropped connection
    if database_url.startswith("sqlite://"):
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
    """``TORTOISE_ORM`` for Tortoise's CLI, built when asked for (not at import, so that
    importing models never reads or validates settings)."""
    if name == "TORTOISE_ORM":
        return tortoise_config(Settings().database_url)
    raise AttributeError(name)
