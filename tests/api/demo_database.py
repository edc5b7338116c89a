"""The demo data as ``anxin demo`` loads it, made once and copied into the database of
each test that reads it (the CLI's and the console's): the load is ~15 s of CPU.

SQLite: once per run, shared by the xdist workers (a file and the stored files beside
it). PostgreSQL: once per worker, kept as a ``DatabaseSnapshot`` (rows in a schema of
the worker's database that the per-test truncation leaves alone). Each test still gets
its own copy: what it writes (a session, a refreshed token) no other test sees."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import workers
from tests.api.gateway_process import ROOT, _in_a_thread, fresh_database
from tests.conftest import TEST_DATABASE_URL
from tests.database_snapshot import DatabaseSnapshot


@dataclass
class DemoLoad:
    """How ``anxin demo`` ended, and where its database and files were kept."""

    returncode: int
    stdout: str
    stderr: str
    folder: Path
    snapshot: DatabaseSnapshot | None  # PostgreSQL; SQLite keeps a file in ``folder``

    async def restore(self, database_url: str, files: Path) -> None:
        """Into a test's empty, migrated database (and its empty files folder)."""
        assert self.returncode == 0, self.stderr[-3000:]
        if self.snapshot is not None:
            await self.snapshot.restore(database_url, files)
            return
        shutil.copyfile(self.folder / "demo.sqlite3", database_url.removeprefix("sqlite://"))
        if (self.folder / "files").exists():
            shutil.copytree(self.folder / "files", files, dirs_exist_ok=True)


def _run_demo(database_url: str, files: Path) -> subprocess.CompletedProcess[str]:
    """``anxin demo`` as a developer runs it (no Redis: the demo writes only rows)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        ANXIN_ENV="development",
        ANXIN_DATABASE_URL=database_url,
        ANXIN_STORAGE_ROOT=str(files),  # never the repository's data/
    )
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _load_sqlite(migrated_template: str, folder: Path) -> DemoLoad:
    def build() -> None:
        building = folder / "building"
        building.mkdir(exist_ok=True)
        database = fresh_database(migrated_template, building)
        done = _run_demo(database, folder / "files")
        (folder / "returncode").write_text(str(done.returncode))
        (folder / "stdout").write_text(done.stdout)
        (folder / "stderr").write_text(done.stderr)
        # The backup API reads what is committed, the WAL included.
        path = database.removeprefix("sqlite://")
        with (
            closing(sqlite3.connect(path)) as source,
            closing(sqlite3.connect(folder / "demo.sqlite3")) as copy,
        ):
            source.backup(copy)

    workers.once_per_run(folder, build)
    return DemoLoad(
        int((folder / "returncode").read_text()),
        (folder / "stdout").read_text(),
        (folder / "stderr").read_text(),
        folder,
        None,
    )


def _load_postgres(migrated_template: str, folder: Path) -> DemoLoad:
    database = fresh_database(migrated_template, folder)
    files = folder / "demo-files"  # the snapshot keeps its copy in folder / "files"
    done = _run_demo(database, files)
    snapshot = DatabaseSnapshot("anxin_demo", folder)
    if done.returncode == 0:
        _in_a_thread(snapshot.save(database, files, None))
    return DemoLoad(done.returncode, done.stdout, done.stderr, folder, snapshot)


@pytest.fixture(scope="session")
def demo_load(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> DemoLoad:
    if TEST_DATABASE_URL:
        return _load_postgres(migrated_template, tmp_path_factory.mktemp("demo"))
    folder = workers.run_folder(tmp_path_factory.getbasetemp()) / "demo-sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    return _load_sqlite(migrated_template, folder)


@pytest.fixture
async def demo_database_url(demo_load: DemoLoad, database_url: str, tmp_path: Path) -> str:
    """The test's own database holding the demo (its stored files in ``tmp_path/files``,
    where the ``settings`` fixture and ``running_gateway`` keep them)."""
    await demo_load.restore(database_url, tmp_path / "files")
    return database_url
