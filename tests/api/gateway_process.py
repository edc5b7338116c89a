"""The gateway as a real process on 127.0.0.1, and the Node client libraries of
``tests/clients`` that talk to it. Those tests skip when ``node`` or the packages are
missing (``npm ci --prefix tests/clients`` installs the locked versions; nothing is
fetched at test time).

On the embedded backends one ``anxin serve`` runs everything (relay included); with the
test Redis an ``anxin worker`` runs the relay beside it, as in production."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CHEAP_PASSWORD_HASHING,
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    _flush_test_redis,
    _truncate_postgres,
)
from tests.push.test_two_processes import free_port, log_tail, wait_ready

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "clients"
NODE = shutil.which("node")

# `make test` installs the client packages where Node is; CI requires them
# (ANXIN_REQUIRE_CLIENTS=1): there a missing client fails instead of skipping.
needs_node_clients = pytest.mark.skipif(
    (NODE is None or not (CLIENTS / "node_modules" / "graphql-ws").is_dir())
    and os.environ.get("ANXIN_REQUIRE_CLIENTS") != "1",
    reason="needs node and the client packages (npm ci --prefix tests/clients)",
)


def gateway_env(database_url: str, files: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without its ANXIN_ settings, plus the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        ANXIN_ENV="development",
        ANXIN_DATABASE_URL=database_url,
        ANXIN_STORAGE_ROOT=str(files),
        # No jieba dictionary load (~1-2.5 s of CPU) behind every gateway a test starts,
        # as the in-process test apps have none: a complaint filed loads it when needed.
        ANXIN_COMPLAINT_CLASSIFIER_WARM_UP="false",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"ANXIN_{name.upper()}": str(v) for name, v in CHEAP_PASSWORD_HASHING.items()})
    if TEST_REDIS_URL:
        env["ANXIN_REDIS_URL"] = TEST_REDIS_URL
    env.update({f"ANXIN_{name.upper()}": value for name, value in settings.items()})
    return env


@contextlib.asynccontextmanager
async def running_gateway(
    database_url: str, logs: Path, *, relay: bool = True, **settings: str
) -> AsyncIterator[str]:
    """``anxin serve`` (and, on Redis, ``anxin worker``) on the test database; yields
    the GraphQL URL once the API is ready; stops them on the way out.

    ``relay=False``: no ``anxin worker`` beside it on Redis, for a test that publishes
    no event (a process start is ~4-6 s of CPU)."""
    port = free_port()
    with _processes(port, database_url, logs, relay, settings) as started:
        await wait_ready(port, started["api"], logs, "api")
        yield f"http://127.0.0.1:{port}/graphql"
        _assert_alive(started, logs)


@contextlib.contextmanager
def shared_gateway(
    migrated_template: str, logs: Path, *, relay: bool = True, **settings: str
) -> Iterator[str]:
    """One gateway for the tests of a module that need the same settings and no data of
    their own (a module fixture: pytest finishes a module's tests on a worker before it
    starts another module's there). Its database: on SQLite a copy of the migrated
    template; on PostgreSQL the worker's test database, emptied, and the test Redis db
    flushed (a test of the module that asks for ``database_url`` empties them again; the
    gateway keeps serving)."""
    database_url = fresh_database(migrated_template, logs)
    port = free_port()
    with _processes(port, database_url, logs, relay, settings) as started:
        _in_a_thread(wait_ready(port, started["api"], logs, "api"))
        yield f"http://127.0.0.1:{port}/graphql"
        _assert_alive(started, logs)


def fresh_database(migrated_template: str, folder: Path) -> str:
    """A migrated, empty database outside any one test's fixtures (see ``shared_gateway``)."""
    if not TEST_DATABASE_URL:
        copy = folder / "anxin.sqlite3"
        shutil.copyfile(migrated_template, copy)
        return f"sqlite://{copy}"
    _in_a_thread(_truncate_postgres(TEST_DATABASE_URL))
    if TEST_REDIS_URL:
        _in_a_thread(_flush_test_redis(TEST_REDIS_URL))
    return TEST_DATABASE_URL


def _in_a_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` to its end from a synchronous fixture, on a loop of its own in
    another thread (never touching the event loop pytest-asyncio set for the tests)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@contextlib.contextmanager
def _processes(
    port: int, database_url: str, logs: Path, relay: bool, settings: dict[str, str]
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    commands = {"api": ["serve", "--port", str(port)]}
    if TEST_REDIS_URL and relay:
        commands["worker"] = ["worker"]
    env = gateway_env(database_url, logs / "files", **settings)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            started[name] = _start(args, env, logs / f"{name}.log")
        yield started
    finally:
        for process in started.values():
            if process.poll() is None:
                process.terminate()
        for process in started.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _assert_alive(started: dict[str, subprocess.Popen[bytes]], logs: Path) -> None:
    for name, process in started.items():
        assert process.poll() is None, f"{name} died:\n{log_tail(logs, name)}"


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


class NodeScript:
    """A script of ``tests/clients`` that reports one JSON line per event."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[dict[str, Any]] = []

    async def next_event(self, seconds: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        if not line:
            raise AssertionError(f"the script ended; it said: {self.seen}")
        event: dict[str, Any] = json.loads(line)
        self.seen.append(event)
        return event

    async def until(self, name: str, seconds: float) -> dict[str, Any]:
        """The next event called ``name`` (the ones before it stay in ``seen``)."""
        async with asyncio.timeout(seconds):
            while True:
                event = await self.next_event(seconds)
                if event["event"] == name:
                    return event

    async def rest(self, seconds: float) -> list[dict[str, Any]]:
        """Every event until the script exits."""
        async with asyncio.timeout(seconds):
            with contextlib.suppress(AssertionError):
                while True:
                    await self.next_event(seconds)
            await self.process.wait()
        return self.seen


@contextlib.asynccontextmanager
async def node_script(script: str, *args: str, **env: str) -> AsyncIterator[NodeScript]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENTS / script),
        *args,
        cwd=CLIENTS,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeScript(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
