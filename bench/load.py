"""Load test of one API process as it is deployed: where is the knee, what happens past
it, and does the push path keep up.

Real processes on 127.0.0.1 only: ``anxin serve`` (one API process) and ``anxin worker``
on PostgreSQL + Redis, plus a fake FCM endpoint (a child process that answers at once),
so a claim report becomes an Android push handed to "Google". The demo data is loaded;
every demo customer has an Android device and no quiet hours. The clients run in this
process (httpx, one asyncio loop) on the same machine.

The workload is the mix of an after-sales day: customers read their policies (30 %),
claims (20 %) and inbox (25 %), report losses (10 %: each a claim, an outbox event and a
push); staff read the claim queue (15 %). A request is good when it answers 200 without
GraphQL or payload errors.

Phases, each bounded (default ≤ 60 s):

1. **step**: closed loop at 1, 4, 8, 16, 32, 64 concurrent clients: throughput and
   latency per level. The knee is the best throughput with < 1 % bad answers.
2. **overload**: open loop (Poisson arrivals) at 2× the knee for ``--overload-seconds``;
   a client gives up after ``--client-timeout`` s (and closes its connection). Goodput is
   good answers per second; shed (503) and timed-out requests are counted apart.
3. **recovery**: the moment the overload stops, every request still waiting is dropped
   and one client probes every 0.1 s: the time until three probes in a row are good and
   as fast as at one client (≤ max(2 × p99 at 1 client, 100 ms)). Bounded at 60 s.
4. **soak**: open loop at 70 % of the knee; then push latency (the outbox event's
   creation → the delivery handed to the provider, for the soak's reports) p50/p99.
5. **ws-churn**: WebSocket connections opened, initialised with a token and closed, 20
   at a time; API memory before and after.
6. **flood**: for ``--flood-seconds``, up to ``--flood-connections`` WebSocket
   connections opened as fast as 100 clients (source addresses 127.0.1.1-100) can and
   never initialised, beside 1,000 TCP connections that never send a byte; a probe
   (``/healthz``) every 0.1 s measures the stalls. Counted: accepted, refused (503),
   closed by the server for want of ``connection_init`` (4408), silent connections the
   server closed (header timeout); API memory before, at the peak and after.

Printed: the step table, the knee, goodput under overload, recovery time, API memory
(before the load, after overload, after recovery and soak, around the churn), push
latency, and what the API process logged per phase (ERROR lines, tracebacks, bytes).

    PYTHONPATH=$PWD .venv/bin/python bench/load.py [--overload-seconds 30]
        [--soak-seconds 45] [--set ANXIN_NAME=value ...] [--keep-database]

Uses the PostgreSQL database ``anxin_test_load_bench`` (dropped and recreated) and Redis
db 12 (flushed). Timings depend on the machine and on what else runs on it: on a 2-core
machine the clients, PostgreSQL, Redis and the worker share the cores with the API
process, and other work on the machine moves the figures by tens of percent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
from _harness import (
    bench_suffix,
    die_with_parent,
    drop,
    free_port,
    process_cpu_seconds,
    recreate,
    url_of,
)
from _loadgen import encode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from strawberry import relay

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
DATABASE = "anxin_test_load_bench" + bench_suffix()
DATABASE_URL = url_of(DATABASE)
REDIS_URL = os.environ.get("ANXIN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
DEMO_PHONES = [f"1380000000{i}" for i in range(1, 6)]
STAFF_USER = "supervisor.zhao"
START_SECONDS = 60
STEP_LEVELS = (1, 4, 8, 16, 32, 64)
MAX_BAD_SHARE = 0.01  # a level with more bad answers than this is past the knee
OPERATIONS = ("policies", "claims", "inbox", "queue", "report")

POLICIES = """{ myPolicies(first: 10) { edges { node { id number status startsAt endsAt
  sumInsured { amount currency } premium { amount } product { name }
  coverages { name sumInsured { amount } remainingAmount { amount } } } } } }"""
CLAIMS = """{ myClaims(first: 10) { edges { node { id reportNumber status statusName
  lossType reportedAt approvedAmount { amount } } } } }"""
INBOX = """{ unreadNotificationCount notifications(first: 20) { edges { node { id kind
  title body read createdAt } } } }"""
QUEUE = """{ claimQueue(first: 20) { edges { node { id reportNumber status reportedAt
  lossType } } } }"""
REPORT = """mutation($input: ReportLossInput!) { reportLoss(input: $input) {
  claim { id reportNumber status } errors { code message } } }"""


# ------------------------------------------------------------------ processes


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def spawn(name: str, command: list[str], env: dict[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: die_with_parent(os.getppid()),
        )
    return Process(name, popen, log)


async def wait_ready(process: Process, path: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    url = f"http://127.0.0.1:{process.port}{path}"
    async with httpx.AsyncClient(timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{process.name} not ready in {START_SECONDS} s:\n{process.tail()}")


def stop(processes: list[Process]) -> None:
    for process in processes:
        if process.popen.poll() is None:
            process.popen.terminate()
    for process in processes:
        try:
            process.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()


@dataclass
class Cluster:
    api: Process
    worker: Process
    fcm: Process

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"

    def check_alive(self) -> None:
        for process in (self.api, self.worker, self.fcm):
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")


def fcm_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def gateway_env(logs: Path, fcm_port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    fcm = f"http://127.0.0.1:{fcm_port}"
    env.update(
        ANXIN_ENV="development",
        ANXIN_DATABASE_URL=DATABASE_URL,
        ANXIN_REDIS_URL=REDIS_URL,
        ANXIN_STORAGE_ROOT=str(logs / "files"),
        ANXIN_ACCESS_TOKEN_TTL_SECONDS="7200",
        ANXIN_FCM_BASE_URL=fcm,
        ANXIN_FCM_TOKEN_URL=f"{fcm}/token",
        ANXIN_FCM_PROJECT_ID="anxin-bench",
        ANXIN_FCM_CLIENT_EMAIL="bench@anxin-bench.iam.gserviceaccount.com",
        ANXIN_FCM_PRIVATE_KEY=fcm_key_pem(),
        ANXIN_BENCH_COUNTS="true",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def cluster(logs: Path, extra: dict[str, str]) -> AsyncIterator[Cluster]:
    started: list[Process] = []
    try:
        fcm_port = free_port()
        fcm = spawn(
            "fcm",
            [sys.executable, str(SCRIPT), "--fake-fcm", str(fcm_port)],
            {**os.environ, "PYTHONPATH": str(ROOT)},
            logs,
        )
        fcm.port = fcm_port
        started.append(fcm)
        env = gateway_env(logs, fcm_port, extra)
        port = free_port()
        serve = [sys.executable, "-m", "api.cli", "serve", "--port", str(port)]
        api = spawn("api", serve, env, logs)
        api.port = port
        started.append(api)
        worker = spawn("worker", [sys.executable, "-m", "api.cli", "worker"], env, logs)
        started.append(worker)
        await wait_ready(fcm, "/token")
        await wait_ready(api, "/readyz")
        await asyncio.sleep(1)  # the worker connects to the database and Redis
        running = Cluster(api, worker, fcm)
        running.check_alive()
        yield running
    finally:
        stop(started)


def serve_fake_fcm(port: int) -> None:
    """FCM's two endpoints, answering at once and checking nothing (the protocol itself
    is tested in tests/push/test_fcm.py): the bench measures our side."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    sent = 0

    async def token(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({"ready": True})
        return JSONResponse({"access_token": "bench", "expires_in": 3600, "token_type": "Bearer"})

    async def send(request: Request) -> JSONResponse:
        nonlocal sent
        await request.body()
        sent += 1
        return JSONResponse({"name": f"projects/anxin-bench/messages/{sent}"})

    app = Starlette(
        routes=[
            Route("/token", token, methods=["GET", "POST"]),
            Route("/v1/projects/{project}/messages:send", send, methods=["POST"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------ data


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


@dataclass
class Reporter:
    token: str
    policy_id: str
    loss_type: str
    contact: str


@dataclass
class People:
    customers: list[str]  # access tokens
    reporters: list[Reporter]
    staff: str


async def prepare() -> People:
    """A fresh database with the demo data, Android devices and tokens."""
    from api.demo import load_demo
    from api.services import build_services
    from api.settings import Settings
    from models.auth import SubjectKind
    from models.customers import Customer
    from models.database import migrate_database, open_database
    from models.notifications import Device, DevicePlatform, QuietHours
    from models.policies import InsuredPerson, Policy, PolicyStatus
    from models.staff import StaffUser
    from workflows.auth import Channel, start_session

    assert "test" in DATABASE and "bench" in DATABASE, DATABASE  # never a real database
    await recreate(DATABASE)
    await migrate_database(DATABASE_URL)
    settings = Settings(env="development", database_url=DATABASE_URL, access_token_ttl_seconds=7200)
    with contextlib.redirect_stdout(None):
        await load_demo(settings, only_if_empty=True)
    flusher = redis.Redis.from_url(REDIS_URL)
    await flusher.flushdb()
    await flusher.aclose()
    now = datetime.now(UTC)
    async with httpx.AsyncClient() as http, open_database(DATABASE_URL):
        services = build_services(settings, http, None)
        customers, reporters = [], []
        for index, phone in enumerate(DEMO_PHONES):
            customer = await Customer.get(phone_hash=services.pii.phone_hash(phone))
            issued = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
            customers.append(issued.access_token)
            await Device.create(
                customer=customer, platform=DevicePlatform.ANDROID, token=f"bench-fcm-{index}"
            )
            await QuietHours.create(customer=customer, start_minute=0, end_minute=0)
            policies = await Policy.filter(
                holder_id=customer.id,
                status=PolicyStatus.ACTIVE,
                starts_at__lt=now - timedelta(hours=2),
                ends_at__gt=now,
            ).prefetch_related("product")
            for policy in policies:
                insured = await InsuredPerson.filter(policy_id=policy.id).count()
                if insured == 1 and policy.product.loss_types:
                    code = policy.product.loss_types[0]["code"]
                    reporters.append(
                        Reporter(issued.access_token, gid("Policy", policy.id), code, phone)
                    )
        staff = await StaffUser.get(username=STAFF_USER)
        issued = await start_session(
            services, SubjectKind.STAFF, staff.id, Channel.STAFF_CONSOLE, role=staff.role
        )
    if not reporters:
        raise RuntimeError("no demo policy to report a loss on")
    await analyze()
    return People(customers, reporters, issued.access_token)


async def analyze() -> None:
    connection = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


# ------------------------------------------------------------------ workload


Operation = tuple[str, str, dict[str, Any]]  # name, token, JSON body


class Workload:
    def __init__(self, people: People, seed: int = 21) -> None:
        self.people = people
        self.rng = random.Random(seed)
        self.ops: list[tuple[str, float, Callable[[], Operation]]] = [
            ("policies", 0.30, lambda: ("policies", self._customer(), {"query": POLICIES})),
            ("claims", 0.20, lambda: ("claims", self._customer(), {"query": CLAIMS})),
            ("inbox", 0.25, lambda: ("inbox", self._customer(), {"query": INBOX})),
            ("queue", 0.15, lambda: ("queue", people.staff, {"query": QUEUE})),
            ("report", 0.10, self._report),
        ]

    def _customer(self) -> str:
        return self.rng.choice(self.people.customers)

    def _report(self) -> Operation:
        who = self.rng.choice(self.people.reporters)
        loss_at = datetime.now(UTC) - timedelta(minutes=self.rng.randint(5, 60))
        variables = {
            "input": {
                "policyId": who.policy_id,
                "lossType": who.loss_type,
                "lossAt": loss_at.isoformat(),
                "location": "上海市浦东新区世纪大道100号",
                "description": "压测报案：倒车时与路边石墩发生碰撞",
                "channel": "APP",
                "contactName": "压测",
                "contactPhone": who.contact,
            }
        }
        return "report", who.token, {"query": REPORT, "variables": variables}

    def next(self) -> Operation:
        pick = self.rng.random()
        for _name, share, make in self.ops:
            pick -= share
            if pick <= 0:
                return make()
        return self.ops[-1][2]()


@dataclass
class Outcome:
    kind: str  # good, shed, timeout, error
    seconds: float
    operation: str = ""


async def call(client: httpx.AsyncClient, operation: Operation, patience: float) -> Outcome:
    """One request; a client waits ``patience`` seconds at most, then gives up."""
    outcome = await _call(client, operation, patience)
    outcome.operation = operation[0]
    return outcome


async def _call(client: httpx.AsyncClient, operation: Operation, patience: float) -> Outcome:
    _name, token, body = operation
    started = time.perf_counter()
    try:
        async with asyncio.timeout(patience):  # the whole exchange, as a user waits
            response = await client.post(
                "/graphql", json=body, headers={"authorization": f"Bearer {token}"}
            )
    except (TimeoutError, httpx.TimeoutException):
        return Outcome("timeout", time.perf_counter() - started)
    except httpx.HTTPError:
        return Outcome("error", time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if response.status_code == 503:
        return Outcome("shed", seconds)
    if response.status_code != 200:
        return Outcome("error", seconds)
    try:
        answer = response.json()
    except ValueError:
        return Outcome("error", seconds)
    if answer.get("errors") or not answer.get("data"):
        return Outcome("error", seconds)
    report = answer["data"].get("reportLoss")
    if report is not None and report.get("errors"):
        return Outcome("error", seconds)
    return Outcome("good", seconds)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Tally:
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of all generator processes together
    client_cpu_max: float = 0.0  # ... of the busiest one
    send_lag_p99: float = 0.0  # open loop: how late the busiest generator sent (s)
    processes: int = 0
    connections: int = 0  # TCP connections the generators opened
    samples: list[str] = field(default_factory=list)  # a few bad answers, as received
    sent: int = 0  # open loop: requests started
    dropped: int = 0  # open loop: still waiting when the phase ended

    def count(self, kind: str) -> int:
        return sum(1 for o in self.outcomes if o.kind == kind)

    @property
    def good_rate(self) -> float:
        return self.count("good") / self.seconds if self.seconds else 0.0

    @property
    def bad_share(self) -> float:
        return 1 - self.count("good") / len(self.outcomes) if self.outcomes else 1.0

    def breakdown(self) -> str:
        kinds = ("good", "shed", "timeout", "error")
        return ", ".join(f"{kind} {self.count(kind)}" for kind in kinds)

    def latency(self, p: float, operation: str | None = None) -> float:
        return percentile(
            [
                o.seconds
                for o in self.outcomes
                if o.kind == "good" and operation in (None, o.operation)
            ],
            p,
        )


def new_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        trust_env=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
    )


GENERATOR = SCRIPT.parent / "_loadgen.py"
REQUESTS_PER_PROCESS = 400  # pre-encoded requests each generator process picks from


async def generate(
    base_url: str,
    workload: Workload,
    *,
    processes: int,
    seconds: float,
    patience: float,
    rate: float = 0.0,
    users: int = 0,
) -> Tally:
    """Open loop (``rate`` > 0, split evenly) or closed loop (``users``, split) over
    ``processes`` generator processes (bench/_loadgen.py); their results merged."""
    host, port = base_url.removeprefix("http://").split(":")
    shares = min(processes, users) if users else processes
    jobs = []
    for index in range(shares):
        requests = [
            (name, encode(host, int(port), token, body))
            for name, token, body in (workload.next() for _ in range(REQUESTS_PER_PROCESS))
        ]
        job: dict[str, Any] = {
            "host": host,
            "port": int(port),
            "requests": requests,
            "seconds": seconds,
            "patience": patience,
            "seed": workload.rng.randrange(1 << 30),
            "mode": "closed" if users else "open",
            "users": users // shares + (1 if index < users % shares else 0),
            "rate": rate / shares,
        }
        jobs.append(json.dumps(job).encode())

    async def one(job: bytes) -> dict[str, Any]:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(GENERATOR),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=lambda: die_with_parent(os.getppid()),
        )
        out, _ = await child.communicate(job)
        if child.returncode:
            raise RuntimeError(f"load generator exited with {child.returncode}")
        result: dict[str, Any] = json.loads(out)
        return result

    results = await asyncio.gather(*(one(job) for job in jobs))
    tally = Tally(seconds=max(r["seconds"] for r in results), processes=len(results))
    for result in results:
        tally.outcomes.extend(Outcome(kind, sec, name) for kind, sec, name in result["results"])
        tally.sent += result["sent"]
        tally.dropped += result["dropped"]
        tally.client_cpu += result["cpu"]
        tally.client_cpu_max = max(tally.client_cpu_max, result["cpu"])
        tally.send_lag_p99 = max(tally.send_lag_p99, result["lag_p99"])
        tally.connections += result["connections"]
        tally.samples.extend(result["samples"])
    return tally


async def recovery(
    base_url: str, workload: Workload, normal: float, limit: float, probes: list[Outcome]
) -> float:
    """Seconds from now until three probes in a row are good and ``normal``-fast."""
    started = time.perf_counter()
    streak_from: float | None = None
    streak = 0
    async with new_client(base_url) as client:
        while time.perf_counter() - started < limit:
            sent = time.perf_counter()
            probe = ("policies", workload.people.customers[0], {"query": POLICIES})
            outcome = await call(client, probe, 5)
            probes.append(outcome)
            if outcome.kind == "good" and outcome.seconds <= normal:
                streak_from = sent if streak == 0 else streak_from
                streak += 1
                if streak >= 3 and streak_from is not None:
                    return streak_from - started
            else:
                streak = 0
            await asyncio.sleep(0.1)
    return math.inf


# ------------------------------------------------------------------ push latency


async def push_latencies(since: datetime, wait: float) -> tuple[list[float], int]:
    """Event created → delivery handed to the provider, for the events made since
    ``since``; waits up to ``wait`` s for deliveries still pending. Returns the latencies
    and how many deliveries were never sent."""
    connection = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        query = """
            SELECT EXTRACT(EPOCH FROM (d.sent_at - e.created_at)) AS seconds, d.status
            FROM delivery d
            JOIN notification n ON n.id = d.notification_id
            JOIN outbox_event e ON e.event_id = n.event_id
            WHERE e.created_at >= $1 AND d.channel = 'FCM'
        """
        deadline = time.monotonic() + wait
        while True:
            rows = await connection.fetch(query, since)
            unsent = [r for r in rows if r["seconds"] is None]
            if not unsent or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        unpublished = await connection.fetchval(
            "SELECT count(*) FROM outbox_event WHERE created_at >= $1 AND published_at IS NULL",
            since,
        )
        latencies = [float(r["seconds"]) for r in rows if r["seconds"] is not None]
        return latencies, len(unsent) + int(unpublished)
    finally:
        await connection.close()


async def stream_entries_per_delivery() -> float:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        entries = await client.xlen("anxin:deliveries")
    finally:
        await client.aclose()
    connection = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        deliveries = await connection.fetchval("SELECT count(*) FROM delivery")
    finally:
        await connection.close()
    return entries / deliveries if deliveries else math.nan


# ------------------------------------------------------------------ WebSocket churn


async def ws_churn(base_url: str, token: str, seconds: float, parallel: int = 20) -> int:
    """Open, initialise (with a token) and close connections for ``seconds``."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    url = base_url.replace("http://", "ws://") + "/graphql"
    deadline = time.perf_counter() + seconds
    done = 0

    async def one_after_another() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            with contextlib.suppress(Exception):
                async with connect(
                    url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=5
                ) as ws:
                    payload = {"authorization": f"Bearer {token}"}
                    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
                    answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    if answer.get("type") == "connection_ack":
                        done += 1

    await asyncio.gather(*(one_after_another() for _ in range(parallel)))
    return done


# ------------------------------------------------------------------ flood


@dataclass
class Flood:
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    closed_4408: int = 0
    silent: int = 0
    silent_closed: int = 0
    probes: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def flood(base_url: str, seconds: float, attempts: int, silent: int = 1000) -> Flood:
    """Un-initialised WebSocket connections and silent TCP connections, held until the
    server closes them or the phase ends; a probe measures the event loop's stalls."""
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import InvalidStatus
    from websockets.typing import Subprotocol

    url = base_url.replace("http://", "ws://") + "/graphql"
    host, port = base_url.removeprefix("http://").split(":")
    result = Flood()
    held: list[ClientConnection] = []
    sockets: list[asyncio.StreamWriter] = []
    started = time.perf_counter()
    deadline = started + seconds
    budget = iter(range(attempts))

    async def opener(client: str) -> None:
        while time.perf_counter() < deadline and next(budget, None) is not None:
            try:
                held.append(
                    await connect(
                        url,
                        subprotocols=[Subprotocol("graphql-transport-ws")],
                        local_addr=(client, 0),
                        proxy=None,
                        open_timeout=10,
                        ping_interval=None,
                    )
                )
                result.accepted += 1
            except InvalidStatus:
                result.refused += 1
            except Exception:  # counted; the flood goes on
                result.failed += 1

    async def quiet(index: int) -> None:
        reader, writer = await asyncio.open_connection(
            host, int(port), local_addr=(f"127.0.2.{index % 250 + 1}", 0)
        )
        sockets.append(writer)
        result.silent += 1
        with contextlib.suppress(ConnectionError):
            if await reader.read(1) == b"":
                result.silent_closed += 1

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    await client.get("/healthz")
                result.probes.append(time.perf_counter() - sent)
                await asyncio.sleep(0.1)

    quiet_ones = [asyncio.create_task(quiet(i)) for i in range(silent)]
    await asyncio.gather(probe(), *(opener(f"127.0.1.{i + 1}") for i in range(100)))
    result.seconds = time.perf_counter() - started
    result.closed_4408 = sum(1 for ws in held if ws.close_code == 4408)
    for task in quiet_ones:
        task.cancel()
    await asyncio.gather(*quiet_ones, return_exceptions=True)
    for writer in sockets:
        writer.close()
    await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    return result


# ------------------------------------------------------------------ the run


@dataclass
class LogWatch:
    """What the API process logged since the last look."""

    path: Path
    offset: int = 0

    def since_last(self) -> tuple[int, int, int, int]:
        data = self.path.read_bytes()[self.offset :]
        self.offset += len(data)
        text = data.decode(errors="replace")
        errors = sum(1 for line in text.splitlines() if " ERROR " in line)
        never = text.count("Task exception was never retrieved")
        return errors, text.count("Traceback (most recent call last)"), never, len(data)


@dataclass
class Report:
    steps: list[tuple[int, Tally]] = field(default_factory=list)
    knee_clients: int = 0
    knee_rate: float = 0.0
    overload: Tally | None = None
    recovery_seconds: float = math.nan
    probes: list[Outcome] = field(default_factory=list)
    soak: Tally | None = None
    push: list[float] = field(default_factory=list)
    push_unsent: int = 0
    stream_ratio: float = math.nan
    memory: dict[str, float] = field(default_factory=dict)
    churned: int = 0
    flood: Flood | None = None
    capacity: list[Tally] = field(default_factory=list)  # just before and after the overload
    served: dict[str, Any] = field(default_factory=dict)  # the API's counts over the overload
    load_before: float = math.nan  # the machine's 1-minute load average
    load_after: float = math.nan
    logs: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def pick_knee(steps: list[tuple[int, Tally]]) -> tuple[int, float]:
    healthy = [(c, t) for c, t in steps if t.bad_share < MAX_BAD_SHARE] or steps[:1]
    best = max(t.good_rate for _, t in healthy)
    clients = next(c for c, t in healthy if t.good_rate >= 0.9 * best)
    return clients, best


async def run(args: argparse.Namespace) -> Report:
    report = Report()
    print(f"setting up {DATABASE} (demo data, devices, tokens) ...", flush=True)
    people = await prepare()
    workload = Workload(people)
    logs = Path(tempfile.mkdtemp(prefix="anxin-load-"))
    print(f"logs in {logs}", flush=True)
    extra = dict(item.split("=", 1) for item in args.set)
    async with cluster(logs, extra) as running:
        url = running.base_url
        watch = LogWatch(running.api.log)
        pid = running.api.popen.pid
        procs = args.client_processes
        # warm-up: caches, pools, JIT-free Python
        await generate(url, workload, processes=procs, seconds=3, patience=30, users=4)
        report.memory["start"] = rss_mb(pid)
        watch.since_last()

        print("step: closed loop", flush=True)
        for clients in args.levels:
            tally = await generate(
                url,
                workload,
                processes=procs,
                seconds=args.step_seconds,
                patience=30,
                users=clients,
            )
            report.steps.append((clients, tally))
            print(
                f"  {clients:>3} clients {tally.good_rate:7.1f} good/s "
                f"p50 {tally.latency(50) * 1000:6.0f} ms p99 {tally.latency(99) * 1000:6.0f} ms "
                f"bad {tally.bad_share:6.1%} client CPU {tally.client_cpu / tally.seconds:4.0%}"
                f" ({tally.breakdown()})",
                flush=True,
            )
            for sample in tally.samples[:2]:
                print(f"      e.g. {sample}", flush=True)
        report.knee_clients, report.knee_rate = pick_knee(report.steps)
        report.logs["step"] = watch.since_last()
        running.check_alive()

        rate = 2 * report.knee_rate
        print(f"overload: {rate:.0f} req/s for {args.overload_seconds:.0f} s", flush=True)
        # Capacity right before and after the overload (closed loop at the knee's
        # clients): the machine is shared, so goodput is also compared with these.
        report.capacity.append(
            await generate(
                url, workload, processes=procs, seconds=5, patience=30, users=report.knee_clients
            )
        )
        report.memory["before overload"] = rss_mb(pid)
        report.load_before = os.getloadavg()[0]
        served_before = await served(url)
        report.overload = await generate(
            url,
            workload,
            processes=procs,
            seconds=args.overload_seconds,
            patience=args.client_timeout,
            rate=rate,
        )
        report.served = served_difference(await served(url), served_before)
        report.load_after = os.getloadavg()[0]
        report.memory["after overload"] = rss_mb(pid)
        normal = max(2 * report.steps[0][1].latency(99), 0.1)
        report.recovery_seconds = await recovery(
            url, workload, normal, args.recovery_limit, report.probes
        )
        report.capacity.append(
            await generate(
                url, workload, processes=procs, seconds=5, patience=30, users=report.knee_clients
            )
        )
        print(f"  recovered in {report.recovery_seconds:.1f} s", flush=True)
        report.logs["overload+recovery"] = watch.since_last()
        await asyncio.sleep(2)
        report.memory["after recovery"] = rss_mb(pid)
        running.check_alive()

        if "soak" in args.phases:
            soak_rate = 0.7 * report.knee_rate
            print(f"soak: {soak_rate:.0f} req/s for {args.soak_seconds:.0f} s", flush=True)
            since = datetime.now(UTC)
            report.soak = await generate(
                url,
                workload,
                processes=procs,
                seconds=args.soak_seconds,
                patience=30,
                rate=soak_rate,
            )
            report.push, report.push_unsent = await push_latencies(since, args.push_wait)
            report.stream_ratio = await stream_entries_per_delivery()
            report.memory["after soak"] = rss_mb(pid)
            report.logs["soak"] = watch.since_last()
            running.check_alive()

        if "churn" in args.phases:
            print(f"ws-churn: {args.churn_seconds:.0f} s", flush=True)
            report.memory["before churn"] = rss_mb(pid)
            report.churned = await ws_churn(url, people.customers[0], args.churn_seconds)
            await asyncio.sleep(3)
            report.memory["after churn"] = rss_mb(pid)
            report.logs["ws-churn"] = watch.since_last()
            running.check_alive()

        if "flood" in args.phases:
            print(f"flood: {args.flood_seconds:.0f} s", flush=True)
            report.memory["before flood"] = rss_mb(pid)
            peak = asyncio.create_task(peak_rss(pid, args.flood_seconds))
            report.flood = await flood(url, args.flood_seconds, args.flood_connections)
            report.memory["flood peak"] = await peak
            await asyncio.sleep(3)
            report.memory["after flood"] = rss_mb(pid)
            report.logs["flood"] = watch.since_last()
            running.check_alive()
        report.memory["worker after"] = rss_mb(running.worker.popen.pid)
        report.memory["api cpu s"] = process_cpu_seconds(pid)
    if not args.keep_database:
        await drop(DATABASE)
    return report


async def served(base_url: str) -> dict[str, Any]:
    """The API process's own counts (ANXIN_BENCH_COUNTS, api/shedding.py)."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=30) as client:
        response = await client.get("/bench/served")
        if response.status_code != 200:  # a server from before the counts
            return {"shed": 0, "admitted": 0, "gone": 0, "timed_out": 0, "statuses": {}}
        answer: dict[str, Any] = response.json()
        return answer


def served_difference(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    difference: dict[str, Any] = {}
    for name, value in after.items():
        if isinstance(value, dict):
            difference[name] = {k: v - before[name].get(k, 0) for k, v in value.items()}
        else:
            difference[name] = value - before[name]
    return difference


async def peak_rss(pid: int, seconds: float) -> float:
    peak = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.5)
    return peak


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f}"


def print_report(report: Report, args: argparse.Namespace) -> None:
    print()
    print("Step (closed loop, mixed workload)")
    print(
        f"{'clients':>7} {'good/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'bad':>6} "
        f"{'client CPU':>10} (all generator processes)"
    )
    for clients, tally in report.steps:
        print(
            f"{clients:>7} {tally.good_rate:>8.1f} {ms(tally.latency(50)):>7} "
            f"{ms(tally.latency(99)):>7} {tally.bad_share:>6.1%} "
            f"{tally.client_cpu / tally.seconds:>9.0%}"
        )
    print(f"knee: {report.knee_rate:.1f} good req/s (reached at {report.knee_clients} clients)")
    first = report.steps[0][1]
    each = ", ".join(f"{name} {ms(first.latency(50, name))}" for name in OPERATIONS)
    print(f"p50 per operation at {report.steps[0][0]} client(s), ms: {each}")
    overload = report.overload
    assert overload is not None
    total = len(overload.outcomes)
    print()
    print(
        f"Overload (open loop, {2 * report.knee_rate:.0f} req/s offered for "
        f"{overload.seconds:.0f} s, client timeout {args.client_timeout:.0f} s)"
    )
    print(
        f"  goodput {overload.good_rate:.1f} req/s = "
        f"{overload.good_rate / report.knee_rate:.0%} of the knee; "
        f"good p50 {ms(overload.latency(50))} ms p99 {ms(overload.latency(99))} ms"
    )
    print(
        f"  sent {overload.sent} ({overload.sent / overload.seconds:.0f}/s); of {total} "
        f"finished: good {overload.count('good')}, shed (503) {overload.count('shed')}, "
        f"timed out {overload.count('timeout')}, other errors {overload.count('error')}; "
        f"{overload.dropped} still waiting at the end; client CPU "
        f"{overload.client_cpu / overload.seconds:.0%}"
    )
    print(
        f"  generators: {overload.processes} processes; CPU of the busiest "
        f"{overload.client_cpu_max / overload.seconds:.0%} of a core, of all "
        f"{overload.client_cpu / overload.seconds:.0%}; send lag p99 "
        f"{ms(overload.send_lag_p99)} ms; {overload.connections} connections opened; "
        f"load average {report.load_before:.1f} → {report.load_after:.1f}"
    )
    for sample in overload.samples[:5]:
        print(f"    e.g. {sample}")
    counts = report.served
    within = counts.get("answered_within", {})
    good_server = within.get(str(args.client_timeout))
    print(
        f"  server side: admitted {counts['admitted']}, shed at once {counts['shed']} "
        f"({counts.get('shed_by_target', 0)} of them under the cap, by the latency target), "
        f"stopped as the client left {counts['gone']}, stopped by timeout {counts['timed_out']}; "
        f"answers by status {counts['statuses']}; 2xx answered within (s) {within}"
    )
    around = [t.good_rate for t in report.capacity]
    capacity = sum(around) / len(around) if around else math.nan
    print(
        f"  capacity at {report.knee_clients} clients just before / after the overload: "
        + " / ".join(f"{rate:.1f}" for rate in around)
        + f" req/s; client goodput = {overload.good_rate / capacity:.0%} of their mean"
    )
    if good_server is not None:
        late = counts["statuses"].get("200", 0) - good_server
        print(
            f"  server goodput (2xx within the client timeout): "
            f"{good_server / overload.seconds:.1f} req/s = "
            f"{good_server / overload.seconds / report.knee_rate:.0%} of the knee, "
            f"{good_server / overload.seconds / capacity:.0%} of the capacity around it; "
            f"lost per second: shed at once {counts['shed'] / overload.seconds:.1f}, "
            f"accepted but too late (client gone or answered after its timeout) "
            f"{(counts['gone'] + late) / overload.seconds:.1f}, timed out "
            f"{counts['timed_out'] / overload.seconds:.1f}"
        )
    print(f"  recovery after the overload: {report.recovery_seconds:.1f} s")
    probes = ", ".join(f"{p.kind} {ms(p.seconds)}" for p in report.probes[:6])
    print(f"  first probes (ms): {probes}")
    soak = report.soak
    if soak is not None:
        print()
        print(
            f"Soak (open loop, {0.7 * report.knee_rate:.0f} req/s for {soak.seconds:.0f} s): "
            f"goodput {soak.good_rate:.1f} req/s, p99 {ms(soak.latency(99))} ms, "
            f"bad {soak.bad_share:.1%} ({soak.breakdown()})"
        )
        print(
            f"  push (event → handed to FCM): {len(report.push)} sent, "
            f"p50 {ms(percentile(report.push, 50))} ms, p99 {ms(percentile(report.push, 99))} "
            f"ms, max {ms(max(report.push, default=math.nan))} ms; never sent "
            f"{report.push_unsent}; stream entries per delivery {report.stream_ratio:.2f}"
        )
    print()
    print(f"WebSocket churn: {report.churned} connections opened, initialised and closed")
    flooded = report.flood
    if flooded is not None:
        print(
            f"Flood ({flooded.seconds:.0f} s): WebSocket connections never initialised: "
            f"accepted {flooded.accepted}, refused (503) {flooded.refused}, other failures "
            f"{flooded.failed}; closed by the server with 4408 {flooded.closed_4408}. Silent "
            f"TCP connections: {flooded.silent} opened, {flooded.silent_closed} closed by "
            f"the server. /healthz probe: {len(flooded.probes)} answers, p50 "
            f"{ms(percentile(flooded.probes, 50))} ms, p99 {ms(percentile(flooded.probes, 99))}"
            f" ms, max {ms(max(flooded.probes, default=math.nan))} ms"
        )
    print()
    print("API process memory (RSS, MB)")
    for name, value in report.memory.items():
        if name != "api cpu s":
            print(f"  {name:<16} {value:8.1f}")
    print()
    print("API log per phase: ERROR lines, tracebacks, 'Task exception was never retrieved', KB")
    for name, (errors, tracebacks, never, size) in report.logs.items():
        print(f"  {name:<18} {errors:>6} {tracebacks:>6} {never:>6} {size / 1024:>9.0f}")
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs shared by the clients (this process), the API "
        "process, the worker, PostgreSQL, Redis and the fake FCM, and whatever else runs."
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-fcm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--levels", default=",".join(map(str, STEP_LEVELS)))
    parser.add_argument("--step-seconds", type=float, default=6)
    parser.add_argument("--overload-seconds", type=float, default=30)
    parser.add_argument("--client-timeout", type=float, default=5)
    parser.add_argument("--recovery-limit", type=float, default=60)
    parser.add_argument("--soak-seconds", type=float, default=45)
    parser.add_argument("--push-wait", type=float, default=40)
    parser.add_argument("--churn-seconds", type=float, default=20)
    parser.add_argument("--flood-seconds", type=float, default=20)
    parser.add_argument("--flood-connections", type=int, default=15000)
    parser.add_argument(
        "--set", action="append", default=[], metavar="ANXIN_NAME=value", help="server setting"
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--phases",
        default="soak,churn,flood",
        help="which of soak, churn, flood to run after step, overload and recovery",
    )
    parser.add_argument("--client-processes", type=int, default=3, help="load generator processes")
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.levels.split(",")]
    args.phases = {phase.strip() for phase in args.phases.split(",") if phase.strip()}
    if len(args.levels) * args.step_seconds > 60:
        parser.error("the step phase is bounded at 60 s: fewer levels or shorter steps")
    for name in ("overload_seconds", "soak_seconds", "push_wait", "churn_seconds", "flood_seconds"):
        if getattr(args, name) > 60:
            parser.error(f"--{name.replace('_', '-')} is bounded at 60 s")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.fake_fcm is not None:
        serve_fake_fcm(args.fake_fcm)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    report = asyncio.run(run(args))
    print_report(report, args)


if __name__ == "__main__":
    main()
