"""Isolation of pytest-xdist workers (``make test`` runs ``pytest -n``): each worker gets
its own PostgreSQL database and Redis database, and work that every worker would repeat
(the migration pass) is done once per run by whichever worker comes first.

A worker is named by xdist in ``PYTEST_XDIST_WORKER`` (``gw0``, ``gw1``, …). Without
xdist (a plain ``pytest``) every function here returns its input unchanged, so a single
process uses exactly the URLs it was given.

The worker's URLs are written back into ``ANXIN_TEST_DATABASE_URL`` and
``ANXIN_TEST_REDIS_URL`` before anything reads them (``tests/conftest.py`` imports this
module first), so fixtures, helpers and the gateway subprocesses all see the worker's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # Redis's default `databases`: db numbers 0–15


def worker_id() -> str | None:
    """``gw0``, ``gw1``, … under xdist; None in a plain run."""
    return os.environ.get("PYTEST_XDIST_WORKER") or None


def worker_index() -> int:
    worker = worker_id()
    return int(worker.removeprefix("gw")) if worker else 0


def worker_database_url(url: str) -> str:
    """The worker's own PostgreSQL database: the URL's database name + ``_gw<N>``."""
    worker = worker_id()
    if not worker:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path}_{worker}"))


def worker_redis_url(url: str) -> str:
    """The worker's own Redis database: the URL's db number + the worker's index. FLUSHDB
    in one worker then never empties another's, and keys never mix."""
    worker = worker_id()
    if not worker:
        return url
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    db = base + worker_index()
    if db >= REDIS_DATABASES:
        raise RuntimeError(
            f"worker {worker} would use Redis db {db} (ANXIN_TEST_REDIS_URL's db {base} + "
            f"worker index): Redis has {REDIS_DATABASES}; pick a lower db or fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{db}"))


def isolate_environment() -> None:
    """Rewrite the test URLs in the environment to the worker's own (idempotent: only the
    URLs as given to the run are rewritten, kept in ``ANXIN_TEST_*_URL_OF_RUN``)."""
    for name, rewrite in (
        ("ANXIN_TEST_DATABASE_URL", worker_database_url),
        ("ANXIN_TEST_REDIS_URL", worker_redis_url),
    ):
        given = os.environ.get(f"{name}_OF_RUN", os.environ.get(name))
        if given:
            os.environ[f"{name}_OF_RUN"] = given
            os.environ[name] = rewrite(given)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once_per_run(folder: Path, build: Callable[[], None]) -> None:
    """Run ``build`` once for the whole run (all workers): the first worker to get here
    builds while the others wait on a lock; a ``done`` marker tells the later ones it
    succeeded. A failed build leaves no marker, so the next worker tries (and fails) too."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "done"
    with locked(folder / "lock"):
        if not done.exists():
            build()
            done.touch()


def run_folder(basetemp: Path) -> Path:
    """The temporary folder of the whole run: the workers' base folders are its
    ``popen-gw<N>`` children; a plain run's base folder is its own."""
    return basetemp.parent if worker_id() else basetemp
