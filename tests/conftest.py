"""Test fixtures: every test gets a freshly migrated database, and the real app if it
speaks HTTP.

Embedded backends by default (a SQLite file per test, copied from one migrated
template). With ``ANXIN_TEST_DATABASE_URL`` (PostgreSQL) and ``ANXIN_TEST_REDIS_URL``
the same tests run against those servers: the database is recreated and migrated once
per run and truncated before each test, the Redis db flushed. Under pytest-xdist
(``make test``) each worker has its own PostgreSQL database and Redis db
(``tests/workers.py``); the migration pass is shared by all workers.

``app``/``client`` boot the whole app (schema, middleware, lifespan). A test that needs
no HTTP asks for ``db`` (Tortoise on the test database) and, if it needs them,
``services``: the same services as the app's, built without the app. A test that uses
the app gets the app's own services and database from ``services`` and ``db``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from tortoise.context import TortoiseContext

from api.app import create_app, running_services
from api.services import Services
from api.settings import Settings
from models.config import tortoise_config
from models.database import migrate_database
from tests import model_registry, workers
from tests.database_snapshot import DatabaseSnapshot
from tests.migration_snapshots import MigrationSnapshots
from workflows import auth

workers.isolate_environment()  # under xdist: this worker's own databases, before any read
model_registry.install()  # Tortoise finalises the models once per process and dialect
TEST_DATABASE_URL = os.environ.get("ANXIN_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("ANXIN_TEST_REDIS_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL)

postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="needs PostgreSQL (ANXIN_TEST_DATABASE_URL): real row locks"
)


async def _recreate_postgres_database(url: str, template: str | None = None) -> None:
    """Drop and create the test database, empty or as a copy of ``template`` (a
    database of the same server that nobody is connected to)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not ("test" in name or name.endswith("_ci") or "_ci_gw" in name):
        raise RuntimeError(
            f"refusing to drop {name!r}: test databases have test or _ci in their name"
        )
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        copy = f' TEMPLATE "{template}"' if template else ""
        await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()


async def _truncate_postgres(url: str) -> None:
    """Empty every table of the test database (the migrations' record excepted).

    Only the tables that hold rows are emptied, by DELETE: a TRUNCATE of all 116 tables
    cost 1.4–3.3 s per test (a new file for each table and index), most of the
    PostgreSQL suite's time, where a test leaves rows in a handful. Foreign keys are not
    checked row by row (every table ends up empty either way), as TRUNCATE … CASCADE
    did not check them either."""
    parts = urlsplit(url)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        tables = [
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT LIKE 'tortoise_migrations%'"
            )
        ]
        if not tables:
            return
        holding = " UNION ALL ".join(
            f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")"  # noqa: S608
            for name in tables
        )
        filled = [row[0] for row in await connection.fetch(holding)]
        if filled:
            async with connection.transaction():
                await connection.execute("SET LOCAL session_replication_role = replica")
                for name in filled:
                    await connection.execute(f'DELETE FROM "{name}"')  # noqa: S608
    finally:
        await connection.close()


async def visible_elsewhere(database_url: str, table: str, row_id: uuid.UUID) -> bool:
    """Whether another connection to the test database (another process's, as it were)
    can read the row with ``row_id`` now: a row of an uncommitted transaction cannot."""
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://")
        try:  # blocking on purpose: the writer must not move on meanwhile
            with contextlib.closing(sqlite3.connect(path, timeout=0.5)) as connection:
                row = connection.execute(
                    f'SELECT 1 FROM "{table}" WHERE id = ?',  # noqa: S608 (a model's table)
                    (str(row_id),),
                ).fetchone()
        except sqlite3.OperationalError:  # locked by the writer: not readable either
            return False
        return row is not None
    parts = urlsplit(database_url)
    connection = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        query = f'SELECT 1 FROM "{table}" WHERE id = $1'  # noqa: S608 (a model's table)
        found = await connection.fetchval(query, row_id)
    finally:
        await connection.close()
    return found is not None


# argon2 at its lowest cost in tests, which hash and check many staff passwords (the
# default costs ~0.25 s a hash on a test machine); production keeps its own. The app's
# services set it from these settings; the gateway processes get them from gateway_env.
CHEAP_PASSWORD_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 8,
    "password_hash_parallelism": 1,
}


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Also for tests that hash without building services (factories on ``db``)."""
    production = auth.password_hasher
    auth.configure_password_hashing(1, 8, 1)
    yield
    auth.password_hasher = production


@pytest.fixture(scope="session")
def sqlite_migrations(tmp_path_factory: pytest.TempPathFactory) -> MigrationSnapshots:
    """One SQLite pass through every migration per run, shared by the xdist workers: the
    template, and the database as each migration left it (for the upgrade tests, on any
    backend). Read-only once made: tests copy from it."""
    folder = workers.run_folder(tmp_path_factory.getbasetemp()) / "migrated-sqlite"
    snapshots = MigrationSnapshots(folder)
    workers.once_per_run(
        folder,
        lambda: asyncio.run(
            migrate_database(f"sqlite://{snapshots.latest}", progress=snapshots.progress)
        ),
    )
    return snapshots


def _migrate_postgres_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The worker's PostgreSQL database, migrated: a copy of one database migrated once
    per run (the run's own URL, the workers' databases beside it)."""
    assert TEST_DATABASE_URL
    run_url = os.environ.get("ANXIN_TEST_DATABASE_URL_OF_RUN", TEST_DATABASE_URL)
    if run_url == TEST_DATABASE_URL:  # a plain run: migrate the database itself
        asyncio.run(_recreate_postgres_database(TEST_DATABASE_URL))
        asyncio.run(migrate_database(TEST_DATABASE_URL))
        return
    folder = workers.run_folder(tmp_path_factory.getbasetemp()) / "migrated-postgres"

    def migrate_run_database() -> None:
        asyncio.run(_recreate_postgres_database(run_url))
        asyncio.run(migrate_database(run_url))

    workers.once_per_run(folder, migrate_run_database)
    with workers.locked(folder / "lock"):  # CREATE … TEMPLATE: one copy at a time
        template = urlsplit(run_url).path.lstrip("/")
        asyncio.run(_recreate_postgres_database(TEST_DATABASE_URL, template=template))


@pytest.fixture(scope="session")
def migrated_template(request: pytest.FixtureRequest) -> str:
    """Migrate once per run: a SQLite template file, or the PostgreSQL test database."""
    if TEST_DATABASE_URL:
        _migrate_postgres_once(request.getfixturevalue("tmp_path_factory"))
        return TEST_DATABASE_URL
    snapshots: MigrationSnapshots = request.getfixturevalue("sqlite_migrations")
    return str(snapshots.latest)


@pytest.fixture
def database_snapshot() -> DatabaseSnapshot | None:
    """Override (module scope) in a module whose tests share expensive starting data:
    see ``tests/database_snapshot.py``."""
    return None


@pytest.fixture
async def database_url(
    migrated_template: str,
    tmp_path: Path,
    database_snapshot: DatabaseSnapshot | None,
    request: pytest.FixtureRequest,
) -> str:
    """The test's own database: migrated and empty, or a copy of the module's snapshot
    for a test that asks for the fixture that made it."""
    if TEST_DATABASE_URL:
        await _truncate_postgres(TEST_DATABASE_URL)
        url = TEST_DATABASE_URL
    else:
        copy = tmp_path / "anxin.sqlite3"
        shutil.copyfile(migrated_template, copy)
        url = f"sqlite://{copy}"
    snapshot = database_snapshot
    if snapshot is not None and snapshot.saved and snapshot.fixture in request.fixturenames:
        await snapshot.restore(url, tmp_path / "files")
    return url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(database_url: str, settings_overrides: dict[str, Any], tmp_path: Path) -> Settings:
    values: dict[str, Any] = {
        "storage_root": tmp_path / "files",
        "env": "development",
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "wechat_app_id": "wx-test-app",
        "wechat_app_secret": "wechat-test-secret",
        "background_jobs": False,  # tests drive the relay and deliveries themselves
        # No dictionary load in a thread behind every app (it would skew the memory
        # and task counts some tests take); the warm-up's own tests turn it on.
        "complaint_classifier_warm_up": False,
        **CHEAP_PASSWORD_HASHING,
    }
    values.update(settings_overrides)
    return Settings(**values)


async def _flush_test_redis(url: str) -> None:
    """Each test starts with an empty Redis db (rate-limit counters, streams), as its
    database starts empty. FLUSHDB: only the test db named in the URL."""
    client = redis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def _uses_app(request: pytest.FixtureRequest) -> bool:
    return "app" in request.fixturenames


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    if settings.redis_url and settings.redis_url == TEST_REDIS_URL:
        await _flush_test_redis(settings.redis_url)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def _tortoise(database_url: str) -> AsyncIterator[str]:
    """Tortoise on the test database, as the app's lifespan opens it (visible to every
    task, as RegisterTortoise makes it)."""
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(database_url), _enable_global_fallback=True)
        yield database_url


@pytest.fixture
def db(request: pytest.FixtureRequest) -> str:
    """The test's migrated, empty database, ready for the models; its URL. Without the
    app, unless the test uses the app anyway (then the app's lifespan opened it)."""
    if _uses_app(request):
        request.getfixturevalue("app")
        return str(request.getfixturevalue("database_url"))
    return str(request.getfixturevalue("_tortoise"))


@pytest.fixture
async def _services_without_app(db: str, settings: Settings) -> AsyncIterator[Services]:
    if settings.redis_url and settings.redis_url == TEST_REDIS_URL:
        await _flush_test_redis(settings.redis_url)
    async with running_services(settings) as built:
        yield built


@pytest.fixture
def services(request: pytest.FixtureRequest) -> Services:
    """The app's services when the test uses the app; otherwise the same built on
    ``db`` without it (no schema, middleware or lifespan to boot)."""
    if _uses_app(request):
        app: Starlette = request.getfixturevalue("app")
        return cast(Services, app.state.services)
    return cast(Services, request.getfixturevalue("_services_without_app"))


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
