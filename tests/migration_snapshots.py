"""SQLite databases as each migration left them, from one pass through the migrations.

Tortoise's migration engine re-renders every model for each operation: a full pass costs
tens of seconds of CPU, and so did each upgrade test's own partial migration to the
version it starts from. The session's template pass copies the database before each
migration starts (the previous one is applied and recorded by then), so an upgrade test
starts from a copy of that version instead of migrating to it again. The upgrade itself,
the thing under test, still runs ``migrate_database`` from there.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path


class MigrationSnapshots:
    """The template at ``folder/latest.sqlite3`` and a copy after each migration,
    filled by ``migrate_database(..., progress=snapshots.progress)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.latest = folder / "latest.sqlite3"
        self._applied: str | None = None  # the last migration applied, in this pass

    def progress(self, event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            self._applied = f"{app_label}.{name}"
        elif event == "apply_start" and self._applied is not None:
            # The backup API reads what is committed, the WAL included.
            with (
                contextlib.closing(sqlite3.connect(self.latest)) as source,
                contextlib.closing(sqlite3.connect(self._path(self._applied))) as copy,
            ):
                source.backup(copy)

    def database_at(self, target: str, path: Path) -> str:
        """A new SQLite file at ``path`` migrated exactly to ``target`` (``models.0005_…``,
        as Tortoise's ``migrate(target=…)`` names it); its URL."""
        snapshot = self._path(target)
        if not snapshot.exists():
            raise LookupError(f"no migration {target!r} in this pass")
        shutil.copyfile(snapshot, path)
        return f"sqlite://{path}"

    def _path(self, migration: str) -> Path:
        return self.folder / f"{migration}.sqlite3"
