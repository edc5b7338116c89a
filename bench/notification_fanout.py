"""Notification fan-out benchmark: from a claim decision to 1,000 live WebSocket subscribers.

Measures the time from the commit of a decision to its arrival at each of N (default
1,000) concurrent ``myNotifications`` subscriptions over graphql-transport-ws, as
p50/p99/max, and the server memory per idle subscription (RSS growth of the API
processes from before the connections opened to after all N subscribed, divided by N).

"The decision" is the event a claim decision commits: a ``claim.decided`` outbox event,
committed here by this script in its own transaction (so no policies, claims or staff
need setting up); t0 is taken just after the commit. From there the real path runs: the
relay (``anxin worker``, or the API process itself without Redis) polls the outbox, writes
the inbox entry and deliveries, publishes on the bus, and each API process pushes to its
subscribers.

Scenarios (each with fresh processes, all real ``python -m api.cli`` processes on
127.0.0.1, PostgreSQL and Redis):

- ``one``: 1 API process + Redis + 1 worker;
- ``two``: 2 API processes behind one Redis (N/2 connections each) + 1 worker;
- ``embedded``: 1 API process, no Redis, the relay inside the API process.

Modes:

- ``shared``: all N connections are one customer (N devices), one event per round
  reaches all N: the server-side fan-out of one event (as a hot ``claimUpdated`` or a
  staff queue will be);
- ``per-customer``: N customers, one connection each, N decisions committed in one
  transaction per round: relay throughput plus fan-out.

Before the N connections open, one subscriber per API process takes a few single events:
that warms the processes and is the baseline (latency with one subscriber) the ratios are
against. Planner statistics are refreshed (ANALYZE) before each mode. Round 0 of each
mode is a readiness round (every subscription is live), not counted. The publish time
seen by a Redis observer in this script splits each latency into relay (commit -> Redis
publish) and fan-out (publish -> arrival at the client).

The clients run in this process (uvloop, one asyncio loop) on the same machine as the
servers, the worker, PostgreSQL and Redis: client-side queueing is inside the figures.

    python bench/notification_fanout.py [--connections 1000] [--rounds 5]
        [--scenarios one,two,embedded] [--modes shared,per-customer]
        [--compression deflate|none] [--deliveries due|clock] [--keep-database]

Uses the PostgreSQL database ``anxin_bench_fanout_test`` (dropped and recreated) and
Redis database 12 or ``ANXIN_BENCH_REDIS_URL`` (flushed); stops by itself within
``--time-limit`` seconds. Ends with one ``GOAL`` line per measured mode (issue 19).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import redis.asyncio as redis
import uvloop
from _harness import (
    bench_suffix,
    drop,
    free_port,
    goal_line,
    process_cpu_seconds,
    recreate,
    url_of,
)
from tortoise.transactions import in_transaction
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from api.services import Services, build_services
from api.settings import Settings
from models.auth import SubjectKind
from models.customers import Customer
from models.database import migrate_database, open_database
from models.notifications import QuietHours
from push.bus import channel_prefix
from push.outbox import emit
from workflows.auth import Channel, start_session

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "anxin_bench_fanout_test" + bench_suffix()
DATABASE_URL = url_of(DATABASE)
REDIS_URL = os.environ.get("ANXIN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
SUBSCRIPTION = "subscription { myNotifications { kind title body } }"
PROTOCOL = Subprotocol("graphql-transport-ws")
CLAIM_NUMBER = re.compile(r"BX(\d{2})N(\d{5})")  # BX<round>N<event>: 理赔BX01N00042已审核
BASELINE_ROUND = 50  # baseline samples are rounds 50, 51, ...; round 0 is readiness
START_SECONDS = 30
RELAY_POLL_SECONDS = 0.05  # OutboxRelay.run's idle interval
ROUND_TIMEOUT = 60.0
OPEN_CONCURRENCY = 50  # connection attempts in flight at once
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    api_processes: int
    redis: bool


SCENARIOS = {
    "one": Scenario("one", "1 API + Redis + worker", 1, True),
    "two": Scenario("two", "2 API + Redis + worker", 2, True),
    "embedded": Scenario("embedded", "1 API, no Redis (embedded)", 1, False),
}
MODES = {"shared": "1 customer, N conns", "per-customer": "N customers, 1 each"}


# ------------------------------------------------------------------ processes


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        sys.exit(f"file-descriptor limit {soft} < {needed}: raise ulimit -n")


def _die_with_parent() -> None:
    """Children get SIGTERM if this script dies without cleaning up (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


@dataclass
class Cluster:
    apis: list[Server]
    worker: Server | None

    @property
    def all(self) -> list[Server]:
        return [*self.apis, *([self.worker] if self.worker else [])]

    def api_rss_kb(self) -> int:
        return sum(rss_kb(s.process.pid) for s in self.apis)

    def cpu(self) -> tuple[float, float]:
        api = sum(process_cpu_seconds(s.process.pid) for s in self.apis)
        return api, process_cpu_seconds(self.worker.process.pid) if self.worker else 0.0

    def check_alive(self) -> None:
        for server in self.all:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.tail()}")


def _spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> Server:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    return Server(name, process, log)


async def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=2) as c:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready in {START_SECONDS} s:\n{server.tail()}")


def _stop(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextlib.asynccontextmanager
async def cluster(scenario: Scenario, logs: Path) -> AsyncIterator[Cluster]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(
        ANXIN_ENV="development",
        ANXIN_DATABASE_URL=DATABASE_URL,
        ANXIN_BACKGROUND_JOBS="false" if scenario.redis else "true",
        ANXIN_STORAGE_ROOT=str(logs / "files"),  # claim photos: none here, kept out of data/
        # Every bench connection comes from 127.0.0.1: one client for the per-client cap
        # (200 by default; 800 of 1,000 connections were refused with 503).
        ANXIN_WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT="100000",
        PYTHONUNBUFFERED="1",
    )
    if scenario.redis:
        env["ANXIN_REDIS_URL"] = REDIS_URL
    started: list[Server] = []
    try:
        apis = []
        for index in range(scenario.api_processes):
            port = free_port()
            server = _spawn(
                f"{scenario.key}-api{index + 1}", ["serve", "--port", str(port)], env, logs
            )
            server.port = port
            started.append(server)
            apis.append(server)
        worker = None
        if scenario.redis:
            worker = _spawn(f"{scenario.key}-worker", ["worker"], env, logs)
            started.append(worker)
        await asyncio.gather(*(_wait_ready(s) for s in apis))
        await asyncio.sleep(1)  # the worker connects to the database and Redis
        running = Cluster(apis, worker)
        running.check_alive()
        yield running
    finally:
        _stop(started)


# ------------------------------------------------------------------ data


async def analyze() -> None:
    """Fresh planner statistics, as autovacuum would keep them (it is off on some dev
    machines, and the notification tables grow by thousands of rows per mode)."""
    connection = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def make_customer(services: Services, index: int) -> Customer:
    phone = services.pii.seal_phone(f"137{index:08d}")
    ident = services.pii.seal_id_number(f"11010119900101{index % 1000:03d}X")
    return await Customer.create(
        name=f"压测客户{index}",
        phone_encrypted=phone.encrypted,
        phone_hash=phone.lookup_hash,
        phone_masked=phone.masked,
        id_number_encrypted=ident.encrypted,
        id_number_hash=ident.lookup_hash,
        id_number_masked=ident.masked,
    )


async def token_for(services: Services, customer: Customer) -> str:
    issued = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    return issued.access_token


@dataclass
class People:
    shared: uuid.UUID
    shared_token: str
    customers: list[uuid.UUID]
    tokens: list[str]


async def make_people(n: int, deliveries: str) -> People:
    settings = Settings(
        env="development",
        database_url=DATABASE_URL,
        access_token_ttl_seconds=3600,  # longer than the run: no 4401 closes mid-bench
    )
    async with httpx.AsyncClient() as http:
        services = build_services(settings, http, None)
        shared = await make_customer(services, 0)
        shared_token = await token_for(services, shared)
        customers, tokens = [], []
        for index in range(1, n + 1):
            customer = await make_customer(services, index)
            customers.append(customer.id)
            tokens.append(await token_for(services, customer))
            if deliveries == "due":  # no quiet period (start = end): pushes go out now
                await QuietHours.create(customer_id=customer.id, start_minute=0, end_minute=0)
    return People(shared.id, shared_token, customers, tokens)


async def decide(customer_ids: list[uuid.UUID], round_: int, run: str) -> float:
    """Commit one ``claim.decided`` per customer in one transaction; return t0."""
    async with in_transaction():
        for index, customer_id in enumerate(customer_ids):
            await emit(
                "claim.decided",
                entity_type="claim",
                entity_id=f"bench-{run}-{round_}-{index}",
                customer_id=customer_id,
                payload={
                    "claim_id": f"bench-{index}",
                    "claim_number": f"BX{round_:02d}N{index:05d}",
                    "decision": "通过，赔付 1,000.00 元",
                },
            )
    return time.perf_counter()


# ------------------------------------------------------------------ clients


class Tally:
    """Arrivals per round, and an event when a round is complete."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.expected: dict[int, int] = {}
        self.done: dict[int, asyncio.Event] = {}

    def expect(self, round_: int, count: int) -> asyncio.Event:
        self.counts.setdefault(round_, 0)
        self.expected[round_] = count
        self.done[round_] = event = asyncio.Event()
        if self.counts[round_] >= count:
            event.set()
        return event

    def arrived(self, round_: int) -> None:
        self.counts[round_] = self.counts.get(round_, 0) + 1
        if round_ in self.expected and self.counts[round_] >= self.expected[round_]:
            self.done[round_].set()


@dataclass
class Subscriber:
    ws: ClientConnection
    event_index: int  # which event of a round is this subscriber's (per-customer mode)
    tally: Tally
    arrivals: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    unexpected: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await self.ws.send('{"type":"pong"}')
                    continue
                if message.get("type") != "next":
                    self.unexpected.append(str(message)[:300])
                    continue
                body = message["payload"]["data"]["myNotifications"]["body"]
                match = CLAIM_NUMBER.search(body)
                if match is None:
                    self.unexpected.append(body)
                    continue
                round_ = int(match.group(1))
                if round_ in self.arrivals:
                    self.duplicates += 1
                    continue
                self.arrivals[round_] = now
                self.tally.arrived(round_)


async def open_subscriber(
    url: str, token: str, event_index: int, tally: Tally, compression: str | None
) -> Subscriber:
    ws = await connect(
        url,
        subprotocols=[PROTOCOL],
        compression=compression,
        ping_interval=None,  # idle subscriptions: only the server's pings
        open_timeout=60,
        close_timeout=5,
    )
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 60))
    if ack.get("type") != "connection_ack":
        await ws.close()
        raise RuntimeError(f"connection refused: {ack}")
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
    subscriber = Subscriber(ws, event_index, tally)
    subscriber.task = asyncio.create_task(subscriber.read())
    return subscriber


async def open_all(
    plan: list[tuple[str, str, int]], tally: Tally, compression: str | None
) -> list[Subscriber]:
    """Open every (url, token, event index) with a bounded number of handshakes in flight."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(url: str, token: str, index: int) -> Subscriber:
        async with gate:
            return await open_subscriber(url, token, index, tally, compression)

    results = await asyncio.gather(*(one(*p) for p in plan), return_exceptions=True)
    opened = [r for r in results if isinstance(r, Subscriber)]
    failed = [r for r in results if not isinstance(r, Subscriber)]
    if failed:
        await close_all(opened)
        raise RuntimeError(f"{len(failed)} of {len(plan)} connections failed: {failed[0]!r}")
    return opened


async def close_all(subscribers: list[Subscriber]) -> None:
    async def close(subscriber: Subscriber) -> None:
        with contextlib.suppress(ConnectionClosed, WebSocketException, OSError, TimeoutError):
            await subscriber.ws.send('{"id":"1","type":"complete"}')
            await subscriber.ws.close()
        if subscriber.task is not None:
            subscriber.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await subscriber.task

    await asyncio.gather(*(close(s) for s in subscribers))


class PublishObserver:
    """When the relay published each bench event on Redis (its ``claim:<id>`` channel,
    published just before the customer's)."""

    def __init__(self, run: str) -> None:
        self.client = redis.Redis.from_url(REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pattern = f"{channel_prefix(self.client)}claim:bench-{run}-*"  # as the bus names it
        self.published: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pubsub.psubscribe(self.pattern)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "pmessage":
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            key = channel.split("-", 2)[2]  # claim:bench-<run>-<round>-<index>
            self.published.setdefault(key, time.perf_counter())

    def at(self, round_: int, index: int) -> float | None:
        return self.published.get(f"{round_}-{index}")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()
        await self.client.aclose()


# ------------------------------------------------------------------ measuring


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@dataclass
class Result:
    scenario: Scenario
    mode: str
    connections: int
    rounds: int
    connect_seconds: float = 0.0
    baseline_ms: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    relay_ms: list[float] = field(default_factory=list)  # commit -> Redis publish
    fanout_ms: list[float] = field(default_factory=list)  # Redis publish -> arrival
    arrived: int = 0
    expected: int = 0
    duplicates: int = 0
    unexpected: int = 0
    rss_before_kb: int = 0
    rss_idle_kb: int = 0
    api_cpu_ms: list[float] = field(default_factory=list)
    worker_cpu_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def kb_per_subscription(self) -> float:
        return (self.rss_idle_kb - self.rss_before_kb) / self.connections


async def run_round(
    tally: Tally,
    subscribers: list[Subscriber],
    customer_ids: list[uuid.UUID],
    round_: int,
    run: str,
) -> tuple[float, bool]:
    """Commit the round's decisions; wait for every subscriber; return (t0, complete)."""
    done = tally.expect(round_, len(subscribers))
    await asyncio.sleep(random.uniform(0, RELAY_POLL_SECONDS))  # a random relay-poll phase
    t0 = await decide(customer_ids, round_, run)
    try:
        await asyncio.wait_for(done.wait(), ROUND_TIMEOUT)
    except TimeoutError:
        return t0, False
    await asyncio.sleep(0.3)  # duplicates, if any, show up
    return t0, True


async def measure_baseline(
    running: Cluster,
    token: str,
    customer: uuid.UUID,
    samples: int,
    run: str,
    result: Result,
) -> None:
    """One subscriber per API process, ``samples`` single events: warm-up and baseline."""
    tally = Tally()
    plan = [(f"ws://127.0.0.1:{s.port}/graphql", token, 0) for s in running.apis]
    subscribers = await open_all(plan, tally, None)
    try:
        await asyncio.sleep(0.5)
        for sample in range(samples):
            round_ = BASELINE_ROUND + sample
            t0, complete = await run_round(tally, subscribers, [customer], round_, run)
            if not complete:
                raise RuntimeError("baseline event never arrived")
            result.baseline_ms.extend((s.arrivals[round_] - t0) * 1000 for s in subscribers)
            await asyncio.sleep(0.1)
    finally:
        await close_all(subscribers)


async def run_mode(
    running: Cluster,
    scenario: Scenario,
    mode: str,
    args: argparse.Namespace,
    people: People,
    run: str,
) -> Result:
    n = args.connections
    result = Result(scenario, mode, n, args.rounds)
    observer = PublishObserver(run) if scenario.redis else None
    subscribers: list[Subscriber] = []
    try:
        if observer is not None:
            await observer.start()
        await measure_baseline(
            running, people.shared_token, people.shared, args.baseline, run, result
        )
        await asyncio.sleep(1.0)
        result.rss_before_kb = running.api_rss_kb()

        urls = [f"ws://127.0.0.1:{s.port}/graphql" for s in running.apis]
        if mode == "shared":
            plan = [(urls[i % len(urls)], people.shared_token, 0) for i in range(n)]
            customer_ids = [people.shared]
        else:
            plan = [(urls[i % len(urls)], people.tokens[i], i) for i in range(n)]
            customer_ids = people.customers[:n]
        tally = Tally()
        started = time.perf_counter()
        subscribers = await open_all(plan, tally, args.compression)
        result.connect_seconds = time.perf_counter() - started
        await asyncio.sleep(2.0)  # subscriptions settle (each checks its session first)
        result.rss_idle_kb = running.api_rss_kb()

        _, complete = await run_round(tally, subscribers, customer_ids, 0, run)  # readiness
        if not complete:
            raise RuntimeError(
                f"readiness round: {tally.counts.get(0, 0)} of {n} subscriptions answered"
            )
        for round_ in range(1, args.rounds + 1):
            await asyncio.sleep(0.5)
            api_cpu, worker_cpu = running.cpu()
            t0, _ = await run_round(tally, subscribers, customer_ids, round_, run)
            api_cpu_after, worker_cpu_after = running.cpu()
            result.api_cpu_ms.append((api_cpu_after - api_cpu) * 1000)
            result.worker_cpu_ms.append((worker_cpu_after - worker_cpu) * 1000)
            latencies = []
            for subscriber in subscribers:
                result.expected += 1
                arrival = subscriber.arrivals.get(round_)
                if arrival is None:
                    continue
                result.arrived += 1
                latencies.append((arrival - t0) * 1000)
                published = observer.at(round_, subscriber.event_index) if observer else None
                if published is not None:
                    result.fanout_ms.append((arrival - published) * 1000)
            if observer is not None:
                for index in range(len(customer_ids)):
                    published = observer.at(round_, index)
                    if published is not None:
                        result.relay_ms.append((published - t0) * 1000)
            result.latencies_ms.extend(latencies)
            print(
                f"    round {round_}: {len(latencies)}/{n} arrived, "
                f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, "
                f"max {max(latencies, default=math.nan):.0f} ms",
                flush=True,
            )
        result.duplicates = sum(s.duplicates for s in subscribers)
        result.unexpected = sum(len(s.unexpected) for s in subscribers)
        running.check_alive()
    finally:
        await close_all(subscribers)
        if observer is not None:
            await observer.close()
    return result


# ------------------------------------------------------------------ report


def fmt(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


# Issue 19's goals: p99 from the commit to the last subscriber, per mode (ms).
GOALS_MS = {"shared": 200.0, "per-customer": 1000.0}
GOAL_TEXT = {
    "shared": "1 customer x {n} subscribers, one event, p99",
    "per-customer": "{n} customers x 1 event each, p99",
}


def print_goals(results: list[Result]) -> None:
    for r in results:
        if r.error or not r.latencies_ms:
            continue
        what = f"{GOAL_TEXT[r.mode].format(n=r.connections)} ({r.scenario.title})"
        print(goal_line(what, percentile(r.latencies_ms, 99), GOALS_MS[r.mode], "ms", at_most=True))


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"Decision -> arrival at {args.connections} graphql-transport-ws subscribers "
        f"(myNotifications), {args.rounds} rounds each, times in ms"
    )
    print("'decision' = a claim.decided outbox event committed by the bench (no claim rows)")
    header = (
        f"{'scenario':<27} {'mode':<20} {'arrived':>11} {'p50':>6} {'p99':>6} {'max':>6} "
        f"{'1-sub p50':>9} {'x base':>6} {'relay p50':>9} {'fan-out p50/p99':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.error:
            print(f"{r.scenario.title:<27} {MODES[r.mode]:<20} FAILED: {r.error[:60]}")
            continue
        p50 = percentile(r.latencies_ms, 50)
        base = percentile(r.baseline_ms, 50)
        fanout = (
            f"{fmt(percentile(r.fanout_ms, 50))}/{fmt(percentile(r.fanout_ms, 99))}"
            if r.fanout_ms
            else "-"
        )
        print(
            f"{r.scenario.title:<27} {MODES[r.mode]:<20} {f'{r.arrived}/{r.expected}':>11} "
            f"{fmt(p50):>6} {fmt(percentile(r.latencies_ms, 99)):>6} "
            f"{fmt(max(r.latencies_ms, default=math.nan)):>6} {fmt(base):>9} "
            f"{fmt(p50 / base, 1):>6} {fmt(percentile(r.relay_ms, 50)):>9} {fanout:>15}"
        )
    print()
    print("Memory and CPU of the API process(es)")
    header = (
        f"{'scenario':<27} {'mode':<20} {'RSS before':>10} {'RSS idle':>9} "
        f"{'KB/sub':>7} {'open s':>7} {'API CPU ms/round':>16} {'worker CPU':>10} {'dup':>4} "
        f"{'odd':>4}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.error:
            continue
        api_cpu = sum(r.api_cpu_ms) / len(r.api_cpu_ms) if r.api_cpu_ms else math.nan
        worker_cpu = sum(r.worker_cpu_ms) / len(r.worker_cpu_ms) if r.worker_cpu_ms else math.nan
        print(
            f"{r.scenario.title:<27} {MODES[r.mode]:<20} {r.rss_before_kb / 1024:>8.1f}MB "
            f"{r.rss_idle_kb / 1024:>7.1f}MB {r.kb_per_subscription:>7.1f} "
            f"{r.connect_seconds:>7.1f} {fmt(api_cpu):>16} "
            f"{fmt(worker_cpu) if r.scenario.redis else 'in API':>10} {r.duplicates:>4} "
            f"{r.unexpected:>4}"
        )
    print()
    print(
        "p50/p99/max: commit of the decision -> the subscriber's client received the message, "
        "pooled over rounds.\n"
        "1-sub p50: the same with one subscriber per API process (baseline); x base = p50 / "
        "1-sub p50.\n"
        "relay p50: commit -> the relay's publish seen on Redis (includes the relay's "
        f"{RELAY_POLL_SECONDS} s poll); fan-out: Redis publish -> arrival.\n"
        "KB/sub: (API RSS with N idle subscriptions - RSS before) / N. CPU: per measured "
        f"round. WebSocket compression offered: {args.compression or 'none'}.\n"
        "open s: wall time to open, authenticate and subscribe all N connections "
        f"({OPEN_CONCURRENCY} handshakes in flight). dup: a message seen twice by one "
        "subscriber; odd: any other unexpected message.\n"
        f"Machine: {os.cpu_count()} CPUs shared by the client (this process), the API "
        "process(es), the worker, PostgreSQL and Redis."
    )


# ------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=20, help="single-subscriber samples")
    parser.add_argument("--scenarios", default="one,two,embedded")
    parser.add_argument("--modes", default="shared,per-customer")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    parser.add_argument("--time-limit", type=float, default=1200, help="seconds, whole run")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--deliveries",
        choices=["due", "clock"],
        default="due",
        help="due: each decision's SMS is sent at once, whatever the time (the worker "
        "sends 1,000 per round beside the relay); clock: the default quiet hours "
        "(22:00-08:00 Asia/Shanghai) hold them back at night",
    )
    args = parser.parse_args(argv)
    args.compression = None if args.compression == "none" else args.compression
    args.scenario_list = [SCENARIOS[s] for s in args.scenarios.split(",") if s]
    args.mode_list = [m for m in args.modes.split(",") if m]
    for mode in args.mode_list:
        if mode not in MODES:
            parser.error(f"unknown mode {mode}")
    return args


async def bench(args: argparse.Namespace) -> list[Result]:
    run = uuid.uuid4().hex[:8]
    results: list[Result] = []
    print(f"setting up {DATABASE_URL} with {args.connections + 1} customers ...", flush=True)
    assert "bench" in DATABASE and "test" in DATABASE, DATABASE  # never a real database
    await recreate(DATABASE)
    await migrate_database(DATABASE_URL)
    flusher = redis.Redis.from_url(REDIS_URL)
    await flusher.flushdb()
    await flusher.aclose()
    try:
        async with open_database(DATABASE_URL):
            people = await make_people(args.connections, args.deliveries)
            now = datetime.now(UTC).astimezone(SHANGHAI)
            if args.deliveries == "due":
                print("deliveries (SMS) are due at once: the bench customers keep no quiet hours")
            else:
                print(
                    f"Asia/Shanghai time {now:%H:%M}: deliveries inside the default quiet hours "
                    "(22:00-08:00) wait; the inbox entry and live push do not",
                    flush=True,
                )
            with tempfile.TemporaryDirectory(prefix="anxin-fanout-") as tmp:
                for scenario in args.scenario_list:
                    for mode in args.mode_list:
                        print(f"{scenario.title} / {MODES[mode]}", flush=True)
                        await analyze()
                        try:
                            async with cluster(scenario, Path(tmp)) as running:
                                results.append(
                                    await run_mode(running, scenario, mode, args, people, run)
                                )
                        except (RuntimeError, OSError, WebSocketException) as exc:
                            print(f"    FAILED: {exc}", flush=True)
                            results.append(
                                Result(
                                    scenario, mode, args.connections, args.rounds, error=str(exc)
                                )
                            )
    finally:
        if not args.keep_database:
            await drop(DATABASE)
        flusher = redis.Redis.from_url(REDIS_URL)
        await flusher.flushdb()
        await flusher.aclose()
    return results


async def main_async(args: argparse.Namespace) -> list[Result]:
    task = asyncio.current_task()
    assert task is not None
    cancel: Callable[[], Any] = task.cancel
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, cancel)
    async with asyncio.timeout(args.time_limit):
        return await bench(args)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_fd_limit(2 * args.connections + 512)
    results = uvloop.run(main_async(args))
    print_report(results, args)
    print()
    print_goals(results)


if __name__ == "__main__":
    main()
