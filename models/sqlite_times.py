"""Times written to SQLite as UTC text.

SQLite has no time type: a time is text, and comparisons compare text. Tortoise
converts an aware time to UTC when it creates a row, but writes ``update()``, ``save()``
and filter values as they are, so ``2026-11-30 00:00:00+08:00`` beside stored
``…+00:00`` values compared wrongly by eight hours (a Beijing-midnight bound missed
the day's first eight hours). One adapter turns every aware time sent to SQLite into
UTC text; PostgreSQL compares real timestamps and is not affected.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


def install() -> None:
    """Process-wide, idempotent: the adapter replaces sqlite3's default for datetimes,
    and Tortoise's (registered when its SQLite executor is first imported: imported
    here first, so ours is the one that stays)."""
    import tortoise.backends.sqlite.executor  # noqa: F401 - registers Tortoise's adapter

    sqlite3.register_adapter(datetime, _utc_text)
