"""A module's expensive starting data, built once and copied into each test's database.

Some modules run many tests against the same rich set of objects (the authorization
tests' ``world``: ~100 objects of every node type, ~0.5 s of CPU to make). Each test
still gets its own database, as every test does: the first test of the module (per xdist
worker) builds the data on its fresh database and saves it here; each later test's
database starts as a copy of that, with the stored files, and gets the value the builder
returned. A test that writes changes only its own copy.

SQLite: the saved database is a file, copied as the migrated template is. PostgreSQL:
the rows of every table are kept in a schema of the test database beside ``public``
(which the per-test truncation leaves alone) and inserted back after the truncation.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

TABLES = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND tablename NOT LIKE 'tortoise_migrations%' ORDER BY tablename"
)


class DatabaseSnapshot:
    """The database (and stored files) as ``fixture`` left them in the first test that
    used it; ``value`` is what that fixture returned."""

    def __init__(self, fixture: str, folder: Path) -> None:
        self.fixture = fixture
        self.folder = folder
        self.schema = "snapshot_" + re.sub(r"\W", "_", fixture)
        self.saved = False
        self.value: Any = None
        self._tables: list[str] = []  # PostgreSQL: the tables that had rows

    async def save(self, database_url: str, files: Path, value: Any) -> None:
        if database_url.startswith("sqlite://"):
            path = database_url.removeprefix("sqlite://")
            # The backup API reads what is committed, the WAL included.
            with (
                contextlib.closing(sqlite3.connect(path)) as source,
                contextlib.closing(sqlite3.connect(self.folder / "database.sqlite3")) as copy,
            ):
                source.backup(copy)
        else:
            self._tables = await _save_postgres(database_url, self.schema)
        _copy_folder(files, self.folder / "files")
        self.value = value
        self.saved = True

    async def restore(self, database_url: str, files: Path) -> None:
        """Into an empty, migrated test database (and its empty files folder)."""
        assert self.saved
        if database_url.startswith("sqlite://"):
            shutil.copyfile(
                self.folder / "database.sqlite3", database_url.removeprefix("sqlite://")
            )
        else:
            await _restore_postgres(database_url, self.schema, self._tables)
        _copy_folder(self.folder / "files", files)


def _copy_folder(source: Path, target: Path) -> None:
    """The stored files (a document PDF, photos), if the builder stored any."""
    if source.exists():
        shutil.copytree(source, target, dirs_exist_ok=True)


async def _connect(database_url: str) -> asyncpg.Connection:
    parts = urlsplit(database_url)
    return await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))


async def _save_postgres(database_url: str, schema: str) -> list[str]:
    connection = await _connect(database_url)
    try:
        async with connection.transaction():
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await connection.execute(f'CREATE SCHEMA "{schema}"')
            kept = []
            for row in await connection.fetch(TABLES):
                table = row["tablename"]
                await connection.execute(
                    f'CREATE TABLE "{schema}"."{table}" AS TABLE "public"."{table}"'
                )
                if await connection.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")'):  # noqa: S608
                    kept.append(table)
            return kept
    finally:
        await connection.close()


async def _restore_postgres(database_url: str, schema: str, tables: list[str]) -> None:
    connection = await _connect(database_url)
    try:
        async with connection.transaction():
            # The rows were consistent when saved: insert them in any order, without
            # checking foreign keys row by row (as pg_restore does).
            await connection.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                await connection.execute(
                    f'INSERT INTO "public"."{table}" SELECT * FROM "{schema}"."{table}"'  # noqa: S608
                )
    finally:
        await connection.close()
