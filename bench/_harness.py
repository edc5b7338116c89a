"""What the benchmarks share: throw-away PostgreSQL databases, running a data benchmark
on both backends, a bench script's own server in a child process (uvicorn on a free
127.0.0.1 port, gone when the bench dies), and CPU readings from /proc.

Every bench runs as ``python bench/<name>.py``, so this folder is on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from api.settings import Settings

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def bench_suffix() -> str:
    """``ANXIN_BENCH_DB_SUFFIX``: appended to a bench's database name, so two people
    benchmarking on one PostgreSQL server never drop each other's database."""
    return os.environ.get("ANXIN_BENCH_DB_SUFFIX", "")


ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ databases


def url_of(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def name_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def recreate(name: str) -> str:
    """Drop and create database ``name``; returns its Tortoise URL."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url_of(name)


async def drop(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def run_on_backends(
    measure: Callable[[str], Awaitable[None]], backend: str, pg_database: str
) -> None:
    """``measure(database_url)`` on a fresh SQLite file and/or a fresh PostgreSQL
    database (``backend``: sqlite, postgres or both), each removed afterwards."""
    if backend in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix=f"anxin-{pg_database}-"))
        try:
            print("SQLite")
            asyncio.run(measure(f"sqlite://{folder / 'bench.sqlite3'}"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if backend in ("postgres", "both"):
        print("PostgreSQL")
        url = asyncio.run(recreate(pg_database))
        try:
            asyncio.run(measure(url))
        finally:
            asyncio.run(drop(pg_database))


def settings_from(environment: dict[str, str]) -> Settings:
    values = {key.removeprefix("ANXIN_").lower(): value for key, value in environment.items()}
    # model_validate, not Settings(): only these values, whatever this shell exports.
    return Settings.model_validate({**values, "redis_url": None})


# ------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def running_server(
    script: str,
    environment: dict[str, str],
    workdir: Path,
    *,
    name: str = "server",
    serve_args: tuple[str, ...] = (),
    start_timeout: float = 60.0,
) -> Iterator[Server]:
    """``script --serve [serve_args] --port P --parent-pid ME`` in a child process, with
    exactly ``environment`` as its ANXIN_* settings; yields once ``/healthz`` answers."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")} | environment
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                str(Path(script).resolve()),
                *("--serve", *serve_args, "--port", str(port), "--parent-pid", str(os.getpid())),
            ],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/healthz", timeout=1, trust_env=False).is_success:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel sends this server SIGTERM when the bench process dies, however it
    dies, so a killed run leaves no server behind."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before prctl took effect
        sys.exit("the bench process is gone")


# ------------------------------------------------------------------ CPU


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU of every local PostgreSQL process (backends included; other users' too)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = stat.read_text()
            if text.split("(", 1)[1].startswith("postgres)"):
                total += process_cpu_seconds(int(text.split(" ", 1)[0]))
    return total


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy (not idle, not waiting for I/O), from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS


@dataclass
class CpuSample:
    wall: float
    server: float
    client: float
    database: float
    machine: float

    @classmethod
    def take(cls, server_pid: int, with_postgres: bool = True) -> CpuSample:
        return cls(
            time.perf_counter(),
            process_cpu_seconds(server_pid),
            time.process_time(),
            postgres_cpu_seconds() if with_postgres else 0.0,
            machine_busy_seconds(),
        )


# ------------------------------------------------------------------ goals


def goal_line(what: str, measured: float, goal: float, unit: str = "", *, at_most: bool) -> str:
    """One line a bench prints per goal of its issue: the figure measured in this run,
    the goal, their ratio and whether it is met — so a run says where it stands without
    a table to look up. ``at_most``: the goal is a ceiling (latency, memory), otherwise
    a floor (throughput, ratio)."""
    met = measured <= goal if at_most else measured >= goal
    ratio = measured / goal if goal else float("inf")
    unit_text = f" {unit}" if unit else ""
    return (
        f"GOAL {what}: measured {measured:.3g}{unit_text}, goal {'≤' if at_most else '≥'} "
        f"{goal:.3g}{unit_text} (measured/goal {ratio:.2f}) — {'met' if met else 'NOT met'}"
    )
