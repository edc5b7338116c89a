"""The xdist workers' isolation (tests/workers.py) and the per-test database reset and
snapshot (tests/conftest.py, tests/database_snapshot.py): the parallel suite is only as
trustworthy as these."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from api.services import Services
from models.customers import Customer
from models.policies import Policy
from tests import workers
from tests.conftest import TEST_DATABASE_URL, _truncate_postgres, postgres_only
from tests.database_snapshot import DatabaseSnapshot
from tests.factories import make_customer, make_policy


def test_a_plain_run_uses_the_urls_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    url = "postgres://postgres@127.0.0.1:5432/anxin_ci"
    assert workers.worker_database_url(url) == url
    assert workers.worker_redis_url("redis://127.0.0.1:6379/12") == "redis://127.0.0.1:6379/12"


def test_each_worker_has_its_own_database_and_redis_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert (
        workers.worker_database_url("postgres://postgres@127.0.0.1:5432/anxin_ci")
        == "postgres://postgres@127.0.0.1:5432/anxin_ci_gw3"
    )
    assert workers.worker_redis_url("redis://127.0.0.1:6379/12") == "redis://127.0.0.1:6379/15"
    with pytest.raises(RuntimeError, match="Redis db 16"):
        workers.worker_redis_url("redis://127.0.0.1:6379/13")


def test_the_environment_is_rewritten_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("ANXIN_TEST_DATABASE_URL", "postgres://h/anxin_test_x")
    monkeypatch.delenv("ANXIN_TEST_DATABASE_URL_OF_RUN", raising=False)
    monkeypatch.delenv("ANXIN_TEST_REDIS_URL", raising=False)
    monkeypatch.delenv("ANXIN_TEST_REDIS_URL_OF_RUN", raising=False)
    workers.isolate_environment()
    workers.isolate_environment()
    assert os.environ["ANXIN_TEST_DATABASE_URL"] == "postgres://h/anxin_test_x_gw1"
    assert "ANXIN_TEST_REDIS_URL" not in os.environ


def test_work_shared_by_the_workers_is_done_once(tmp_path: Path) -> None:
    built: list[int] = []

    def build() -> None:
        built.append(1)

    threads = [
        threading.Thread(target=workers.once_per_run, args=(tmp_path / "shared", build))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [1]


def test_a_failed_build_is_tried_again(tmp_path: Path) -> None:
    def fail() -> None:
        raise RuntimeError("migration failed")

    with pytest.raises(RuntimeError):
        workers.once_per_run(tmp_path, fail)
    built: list[int] = []
    workers.once_per_run(tmp_path, lambda: built.append(1))
    assert built == [1]


@postgres_only  # on SQLite each test copies the empty template
async def test_the_reset_empties_every_table(db: str, services: Services) -> None:
    """Rows in tables that reference each other (a policy, its customer, its coverage):
    after the reset the database is empty."""
    assert TEST_DATABASE_URL
    customer = await make_customer(services)
    await make_policy(services, customer)
    await _truncate_postgres(TEST_DATABASE_URL)
    assert await Customer.all().count() == 0
    assert await Policy.all().count() == 0


async def test_a_snapshot_is_copied_not_shared(db: str, services: Services, tmp_path: Path) -> None:
    """A restored database has the saved rows; a change to a restored copy does not
    reach the snapshot (the next restore has the saved rows again)."""
    snapshot = DatabaseSnapshot("example", tmp_path / "snapshot")
    snapshot.folder.mkdir()
    customer = await make_customer(services, "快照")
    (tmp_path / "files").mkdir(exist_ok=True)
    (tmp_path / "files" / "a.txt").write_text("stored")
    await snapshot.save(db, tmp_path / "files", customer.id)
    await Customer.filter(id=customer.id).delete()
    assert await Customer.filter(id=customer.id).count() == 0
    if TEST_DATABASE_URL:
        await _truncate_postgres(TEST_DATABASE_URL)
        await snapshot.restore(db, tmp_path / "restored")
        assert await Customer.filter(id=snapshot.value).count() == 1
        await Customer.filter(id=snapshot.value).delete()
        await _truncate_postgres(TEST_DATABASE_URL)
        await snapshot.restore(db, tmp_path / "restored")
        assert await Customer.filter(id=snapshot.value).count() == 1
    else:
        copy = tmp_path / "copy.sqlite3"
        await snapshot.restore(f"sqlite://{copy}", tmp_path / "restored")
        with sqlite3.connect(copy) as connection:
            rows = connection.execute("SELECT name FROM customer").fetchall()
        assert len(rows) == 1
    assert (tmp_path / "restored" / "a.txt").read_text() == "stored"
