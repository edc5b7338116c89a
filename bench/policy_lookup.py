"""Policy-lookup benchmark: what the GraphQL stack costs on the query customers run most.

Measures requests/s and p50/p99 latency of a realistic ``myPolicies(first: 10)`` query
(10 policies with product, holder, coverages, insured persons, beneficiaries and
installments: ~660 resolved fields) served by the real app under uvicorn, beside a
hand-written Starlette endpoint that returns the same JSON from the same database in as
few queries as it can (session, page, one UNION ALL for the children). Both run in the
same invocation under the same uvicorn settings, on SQLite and on PostgreSQL, and the
ratio is printed. The GraphQL app runs twice: as clients sent it so far (the full query
by POST, graphql-core executing it: ``ANXIN_COMPILED_EXECUTION=false``) and as an Apollo
app with persisted queries sends it (the hash alone by GET, the query known, so run from
its compiled plan: ``schema/compiled``); the three servers take turns in every round.
Then a cProfile of each GraphQL variant, run in-process, shows where the time goes by
layer (graphql-core, strawberry, our compiled executor, Tortoise, the driver, our code),
beside the time the garbage collector takes, which cProfile cannot attribute.

Why: the ratio is what the GraphQL layer costs over the floor the same data allows; the
profile says where to look first when that is too much.

    python bench/policy_lookup.py [--backend sqlite|postgres|both] [--requests N]
                                  [--concurrency C] [--rounds R] [--profile-iterations I]

The postgres backend needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres); it
creates and drops the database ``anxin_bench``. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import json
import logging
import os
import pstats
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import jwt
import uvloop
from _harness import (
    CpuSample,
    Server,
    bench_suffix,
    die_with_parent,
    drop,
    goal_line,
    name_of,
    recreate,
    running_server,
    settings_from,
)
from asgi_lifespan import LifespanManager
from graphql.validation.validate import validate as graphql_validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE, BaseExecutor
from tortoise.contrib.starlette import RegisterTortoise

from api.app import create_app
from api.demo import seed
from api.graphql_view import GraphQLView, bearer_token
from api.persisted_queries import sha256_hex
from api.services import build_services
from api.settings import Settings
from models.auth import SubjectKind
from models.config import tortoise_config
from models.customers import Customer
from models.database import migrate_database, open_database
from schema.common import paginate
from schema.policies.types import Policy as PolicyType
from schema.policies.types import Product as ProductType
from workflows.auth import JWT_ALGORITHM, JWT_ISSUER, Channel, start_session

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_BENCH_URL = "postgres://postgres@127.0.0.1:5432/anxin_bench" + bench_suffix()
DEMO_PHONE = "13800000001"  # 张伟: holder, insured or beneficiary of exactly 10 policies
PAGE_SIZE = 10
SHANGHAI = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
RENEWAL_WINDOW_DAYS = 60  # as schema.policies.types
PREMIUM_OWED = ("PENDING", "ACTIVE", "LAPSED")  # as schema.policies.types

QUERY = """
query MyPolicies($first: Int!) {
  myPolicies(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      node {
        id number status myRoles
        product { name kind }
        startsAt endsAt daysToExpiry renewable
        sumInsured { amount currency }
        premium { amount currency }
        holder { name phone }
        coverages { name sumInsured { amount } deductible { amount } remainingAmount { amount } }
        insuredPersons { name idNumber relationToHolder }
        beneficiaries { name idNumber sharePercent }
        installments { sequence dueDate amount { amount } status }
        nextPremiumDue { dueDate amount { amount } }
      }
    }
  }
}
"""


# ------------------------------------------------------------------ the baseline endpoint
#
# Hand-written: verify the JWT, one query for the session, one for the page (policy +
# product + holder, total by a window function), one UNION ALL for the four child
# tables, then build the dict in the order GraphQL would and json.dumps it the way
# strawberry does. The children query casts every column to TEXT so that both backends
# return the same types.

PAGE_SQL = """
SELECT p.id, p.number, p.status, p.starts_at, p.ends_at, p.sum_insured, p.premium,
       p.holder_id, pr.name AS product_name, pr.kind AS product_kind,
       pr.renewable AS product_renewable, c.name AS holder_name,
       c.phone_masked AS holder_phone, COUNT(*) OVER () AS total
FROM policy p
JOIN product pr ON pr.id = p.product_id
JOIN customer c ON c.id = p.holder_id
WHERE p.holder_id = {me}
   OR p.id IN (SELECT policy_id FROM insured_person WHERE customer_id = {me})
   OR p.id IN (SELECT policy_id FROM beneficiary WHERE customer_id = {me})
ORDER BY p.starts_at DESC, p.number ASC
LIMIT {limit}
"""

CHILDREN_SQL = """
SELECT 'C' AS kind, CAST(policy_id AS TEXT) AS policy_id, position AS seq, name,
       CAST(sum_insured AS TEXT) AS a, CAST(deductible AS TEXT) AS b,
       CAST(used_amount AS TEXT) AS c, NULL AS customer_id
FROM coverage WHERE policy_id {ids}
UNION ALL
SELECT 'I', CAST(policy_id AS TEXT), position, name, id_number_masked, relation_to_holder,
       NULL, CAST(customer_id AS TEXT)
FROM insured_person WHERE policy_id {ids}
UNION ALL
SELECT 'B', CAST(policy_id AS TEXT), position, name, id_number_masked,
       CAST(share_percent AS TEXT), NULL, CAST(customer_id AS TEXT)
FROM beneficiary WHERE policy_id {ids}
UNION ALL
SELECT 'P', CAST(policy_id AS TEXT), sequence, NULL, CAST(amount AS TEXT),
       CAST(due_date AS TEXT), CASE WHEN paid_at IS NULL THEN NULL ELSE 'paid' END, NULL
FROM premium_installment WHERE policy_id {ids}
ORDER BY seq
"""

SESSION_SQL = """
SELECT CAST(subject_id AS TEXT) AS subject_id, subject_kind FROM auth_session
WHERE id = {sid} AND revoked_at IS NULL AND expires_at > {now}
"""


@dataclass(frozen=True)
class Sql:
    """The three statements and their parameters for one backend."""

    postgres: bool

    def session(self, session_id: str, now: datetime) -> tuple[str, Any]:
        if self.postgres:
            return SESSION_SQL.format(sid="$1", now="$2"), [session_id, now]
        # Tortoise stores SQLite datetimes as isoformat(" ") text: compare like with like.
        return SESSION_SQL.format(sid=":sid", now=":now"), {
            "sid": session_id,
            "now": now.isoformat(" "),
        }

    def page(self, customer_id: str, limit: int) -> tuple[str, Any]:
        if self.postgres:
            return PAGE_SQL.format(me="$1", limit="$2"), [customer_id, limit]
        return PAGE_SQL.format(me=":me", limit=":limit"), {"me": customer_id, "limit": limit}

    def children(self, policy_ids: list[Any]) -> tuple[str, Any]:
        if self.postgres:
            return CHILDREN_SQL.format(ids="= ANY($1::uuid[])"), [policy_ids]
        ids = "IN (SELECT value FROM json_each(:ids))"
        return CHILDREN_SQL.format(ids=ids), {"ids": json.dumps([str(i) for i in policy_ids])}


def _amount(value: Any) -> str:
    return str(Decimal(value).quantize(CENT))


def _local(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(SHANGHAI)


def _global_id(type_name: str, object_id: Any) -> str:
    return base64.b64encode(f"{type_name}:{object_id}".encode()).decode()


def _policy_json(
    row: dict[str, Any], kids: dict[str, list[dict[str, Any]]], me: str, today: date
) -> dict[str, Any]:
    ends = _local(row["ends_at"])
    days_left = (ends.date() - today).days
    status = row["status"]
    insured, beneficiaries, installments = kids["I"], kids["B"], kids["P"]
    roles = []
    if str(row["holder_id"]) == me:
        roles.append("HOLDER")
    if any(person["customer_id"] == me for person in insured):
        roles.append("INSURED")
    if any(person["customer_id"] == me for person in beneficiaries):
        roles.append("BENEFICIARY")
    owed = status in PREMIUM_OWED
    schedule = []
    next_due = None
    for item in installments:
        due = item["b"]
        if item["c"] is not None:
            state = "PAID"
        elif not owed:
            state = "CANCELLED"
        elif date.fromisoformat(due) < today:
            state = "OVERDUE"
        else:
            state = "UNPAID"
        schedule.append(
            {
                "sequence": item["seq"],
                "dueDate": due,
                "amount": {"amount": _amount(item["a"])},
                "status": state,
            }
        )
        if owed and next_due is None and item["c"] is None:
            next_due = {"dueDate": due, "amount": {"amount": _amount(item["a"])}}
    return {
        "id": _global_id("Policy", row["id"]),
        "number": row["number"],
        "status": status,
        "myRoles": roles,
        "product": {"name": row["product_name"], "kind": row["product_kind"]},
        "startsAt": _local(row["starts_at"]).isoformat(),
        "endsAt": ends.isoformat(),
        "daysToExpiry": max(days_left, 0) if status == "ACTIVE" else None,
        "renewable": bool(row["product_renewable"])
        and status in ("ACTIVE", "EXPIRED")
        and abs(days_left) <= RENEWAL_WINDOW_DAYS,
        "sumInsured": {"amount": _amount(row["sum_insured"]), "currency": "CNY"},
        "premium": {"amount": _amount(row["premium"]), "currency": "CNY"},
        "holder": {"name": row["holder_name"], "phone": row["holder_phone"]},
        "coverages": [
            {
                "name": cov["name"],
                "sumInsured": {"amount": _amount(cov["a"])},
                "deductible": {"amount": _amount(cov["b"])},
                "remainingAmount": {
                    "amount": _amount(max(Decimal(cov["a"]) - Decimal(cov["c"]), Decimal(0)))
                },
            }
            for cov in kids["C"]
        ],
        "insuredPersons": [
            {"name": p["name"], "idNumber": p["a"], "relationToHolder": p["b"]} for p in insured
        ],
        "beneficiaries": [
            {"name": p["name"], "idNumber": p["a"], "sharePercent": str(Decimal(p["b"]))}
            for p in beneficiaries
        ],
        "installments": schedule,
        "nextPremiumDue": next_due,
    }


def create_baseline_app(settings: Settings) -> Starlette:
    """The floor: the same answer as ``myPolicies`` with 3 queries and no GraphQL or ORM."""
    sql = Sql(postgres=not settings.database_url.startswith("sqlite"))
    secret = settings.secret_key.get_secret_value()

    async def my_policies(request: Request) -> Response:
        token = bearer_token(request.headers.get("authorization"))
        try:
            claims = jwt.decode(
                token or "",
                secret,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.PyJWTError:
            claims = {}
        if claims.get("typ") != "access" or claims.get("knd") != SubjectKind.CUSTOMER:
            return JSONResponse({"errors": [{"message": "请使用客户账号登录"}]}, status_code=401)
        db = connections.get("default")
        session = await db.execute_query_dict(*sql.session(claims["sid"], datetime.now(UTC)))
        if not session or (session[0]["subject_id"], session[0]["subject_kind"]) != (
            claims["sub"],
            claims["knd"],
        ):
            return JSONResponse({"errors": [{"message": "登录已失效"}]}, status_code=401)
        variables = json.loads(await request.body()).get("variables") or {}
        first = min(max(int(variables.get("first", 20)), 0), 100)
        me = claims["sub"]
        rows = await db.execute_query_dict(*sql.page(me, first)) if first else []
        kids: dict[str, dict[str, list[dict[str, Any]]]] = {
            str(row["id"]): {"C": [], "I": [], "B": [], "P": []} for row in rows
        }
        if rows:
            for child in await db.execute_query_dict(*sql.children([r["id"] for r in rows])):
                kids[child["policy_id"]][child["kind"]].append(child)
        today = datetime.now(SHANGHAI).date()
        total = rows[0]["total"] if rows else 0
        end_cursor = base64.b64encode(f"offset:{len(rows) - 1}".encode()).decode() if rows else None
        payload = {
            "data": {
                "myPolicies": {
                    "totalCount": total,
                    "pageInfo": {"hasNextPage": len(rows) < total, "endCursor": end_cursor},
                    "edges": [
                        {"node": _policy_json(row, kids[str(row["id"])], me, today)} for row in rows
                    ],
                }
            }
        }
        return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            yield

    return Starlette(
        routes=[Route("/graphql", my_policies, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


# ------------------------------------------------------------------ the three servers

QUERY_HASH = sha256_hex(QUERY)
PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": QUERY_HASH}}


@dataclass(frozen=True)
class Variant:
    """One server of the comparison: what it runs and how the client asks it."""

    name: str
    serve: str  # "graphql" (the app) or "baseline"
    environment: dict[str, str]
    method: str
    url: str
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    def with_token(self, token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token}", **self.headers}


FULL_QUERY = json.dumps({"query": QUERY, "variables": {"first": PAGE_SIZE}}).encode()
JSON_BODY = {"content-type": "application/json"}
BY_HASH = "/graphql?" + urlencode(
    {
        "operationName": "MyPolicies",
        "variables": json.dumps({"first": PAGE_SIZE}),
        "extensions": json.dumps(PERSISTED),
    }
)
VARIANTS = [
    # graphql-core as before: the full query by POST, no compiled plan
    Variant(
        "graphql",
        "graphql",
        {"ANXIN_COMPILED_EXECUTION": "false"},
        "POST",
        "/graphql",
        FULL_QUERY,
        JSON_BODY,
    ),
    # Apollo with persisted queries: the hash alone by GET, run from the compiled plan
    Variant("compiled", "graphql", {"ANXIN_COMPILED_EXECUTION": "true"}, "GET", BY_HASH, None),
    Variant("baseline", "baseline", {}, "POST", "/graphql", FULL_QUERY, JSON_BODY),
]


# ------------------------------------------------------------------ database and servers


def bench_environment(database_url: str) -> dict[str, str]:
    """Development settings with introspection off, which gives the schema the validation
    rules of production (production itself refuses SQLite and console SMS). Only
    ``MaskErrors`` is missing, and it has nothing to do when there is no error."""
    return {
        "ANXIN_ENV": "development",
        "ANXIN_DATABASE_URL": database_url,
        "ANXIN_INTROSPECTION": "false",
        "ANXIN_ACCESS_TOKEN_TTL_SECONDS": "7200",
        # Without Redis the app runs the outbox relay, reminders and status refresh in
        # its own process; deployed, they run in `anxin worker`. Keep them out of the way.
        "ANXIN_BACKGROUND_JOBS": "false",
    }


async def prepare_database(settings: Settings) -> str:
    """Migrate and seed a fresh database; return an access token of the demo customer."""
    url = settings.database_url
    if not url.startswith("sqlite"):
        await recreate(name_of(url))
    await migrate_database(url)
    async with httpx.AsyncClient(trust_env=False) as http, open_database(url):
        services = build_services(settings, http, None)
        await seed(settings, services.pii)
        customer = await Customer.get(phone_hash=services.pii.phone_hash(DEMO_PHONE))
        tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.CLI)
    return tokens.access_token


def serve(name: str, port: int, parent_pid: int) -> None:
    """Child-process entry: the real app exactly as ``anxin serve`` builds it, or the
    baseline; both without access log (it would cost the same on both sides)."""
    import uvicorn

    die_with_parent(parent_pid)

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
    }
    if name == "graphql":
        uvicorn.run("api.serving:serve_app", factory=True, **options)
    else:
        uvicorn.run(create_baseline_app(Settings()), **options)


# ------------------------------------------------------------------ load generation

CORES = os.cpu_count() or 1


@dataclass
class LoadResult:
    """One server's timed requests, summed over the rounds."""

    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    database_cpu: float = 0.0
    machine_cpu: float = 0.0

    def add(self, latencies: list[float], errors: int, before: CpuSample, after: CpuSample) -> None:
        self.requests += len(latencies)
        self.errors += errors
        self.latencies += latencies
        self.seconds += after.wall - before.wall
        self.server_cpu += after.server - before.server
        self.client_cpu += after.client - before.client
        self.database_cpu += after.database - before.database
        self.machine_cpu += after.machine - before.machine

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_ms(self) -> float:
        return self.server_cpu * 1000 / self.requests

    @property
    def foreign_cpu(self) -> float:
        """Cores' worth of CPU used by other processes on the machine meanwhile."""
        ours = self.server_cpu + self.client_cpu + self.database_cpu
        return max(self.machine_cpu - ours, 0.0) / self.seconds

    @property
    def client_bound(self) -> bool:
        return self.client_cpu / self.seconds > 0.9

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def fire(
    client: httpx.AsyncClient,
    variant: Variant,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    expected_size: int,
) -> tuple[list[float], int]:
    """``count`` requests from ``concurrency`` clients; latencies and the number of bad
    answers."""
    method, url, body = variant.method, variant.url, variant.body
    latencies: list[float] = []
    errors = 0
    remaining = count

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.request(method, url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or len(response.content) != expected_size:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def compare(
    servers: list[Server], token: str, expected_size: int, args: argparse.Namespace, postgres: bool
) -> list[LoadResult]:
    """Warm every server up, then take turns: each round sends its share of the requests
    to one server after the other, so drift and stray load hit them alike."""
    variants = {variant.name: variant for variant in VARIANTS}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=None)
    results = [LoadResult(server.name) for server in servers]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60, trust_env=False)
            )
            for server in servers
        ]
        for server, client in zip(servers, clients, strict=True):
            variant = variants[server.name]
            headers = variant.with_token(token)
            await fire(client, variant, headers, args.warmup, args.concurrency, expected_size)
        for round_number in range(args.rounds):
            count = args.requests // args.rounds + (round_number < args.requests % args.rounds)
            for server, client, result in zip(servers, clients, results, strict=True):
                before = CpuSample.take(server.process.pid, postgres)
                variant = variants[server.name]
                latencies, errors = await fire(
                    client,
                    variant,
                    variant.with_token(token),
                    count,
                    args.concurrency,
                    expected_size,
                )
                result.add(latencies, errors, before, CpuSample.take(server.process.pid, postgres))
    return results


async def fetch_answers(servers: list[Server], token: str) -> list[bytes]:
    """Each server's answer as its load will ask for it. The persisted query is sent
    once with its text (Apollo's second request after PersistedQueryNotFound), and
    run by hash over POST too: every way must answer the same bytes."""
    variants = {variant.name: variant for variant in VARIANTS}
    answers = []
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        for server in servers:
            variant = variants[server.name]
            headers = variant.with_token(token)
            if variant.method == "GET":
                await persist(client, server.url, headers)
            # twice: the second run is the one a known query gets (compiled plan)
            for _ in range(2):
                response = await client.request(
                    variant.method, server.url + variant.url, content=variant.body, headers=headers
                )
            if response.status_code != 200 or b'"errors"' in response.content:
                raise SystemExit(f"{server.name}: HTTP {response.status_code}: {response.text}")
            answers.append(response.content)
    return answers


async def persist(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    """Register the query by its hash as Apollo does, and check that POST by hash
    answers as GET by hash will."""
    by_hash = {"operationName": "MyPolicies", "variables": {"first": PAGE_SIZE}}
    unknown = await client.post(
        f"{url}/graphql", json={**by_hash, "extensions": PERSISTED}, headers=headers
    )
    if b"PersistedQueryNotFound" not in unknown.content:
        raise SystemExit(f"persisted query: expected PersistedQueryNotFound, got {unknown.text}")
    stored = await client.post(
        f"{url}/graphql",
        json={**by_hash, "query": QUERY, "extensions": PERSISTED},
        headers=headers,
    )
    again = await client.post(
        f"{url}/graphql", json={**by_hash, "extensions": PERSISTED}, headers=headers
    )
    if stored.status_code != 200 or again.content != stored.content:
        raise SystemExit(f"persisted query by POST: {again.status_code} {again.text[:300]}")


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            if found := first_difference(a[key], b[key], f"{path}.{key}"):
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if found := first_difference(x, y, f"{path}[{index}]"):
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


# ------------------------------------------------------------------ in-process profile


class QueryCounter(logging.Handler):
    """Counts the SQL statements Tortoise logs (at DEBUG) while attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        words = record.getMessage().split(None, 1)
        if words and words[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}:
            self.count += 1


@contextlib.contextmanager
def counting_queries() -> Iterator[QueryCounter]:
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
        logger.propagate = propagate


SITE = "site-packages/"
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "graphql-core: validation (rules, visitor)",
        ("/graphql/validation/", "/graphql/language/", "/graphql/pyutils/group_by.py"),
    ),
    ("graphql-core: execution", ("/graphql/",)),
    ("strawberry", ("/strawberry/",)),
    ("Tortoise ORM (+pypika, iso8601)", ("/tortoise/", "/pypika_tortoise/", "/iso8601/")),
    ("DB driver (asyncpg/aiosqlite)", ("/asyncpg/", "/aiosqlite/", "/sqlite3/")),
    ("compiled executor (schema/compiled)", (f"{ROOT}/schema/compiled/",)),
    (
        "our code (api/schema/models/workflows)",
        tuple(f"{ROOT}/{package}/" for package in ("api", "schema", "models", "workflows")),
    ),
    ("starlette", ("/starlette/",)),
    ("JWT", ("/jwt/",)),
    ("json encode/decode", ("/json/",)),
    ("asyncio loop (incl. waiting for the DB)", ("/asyncio/", "/selectors.py")),
    (
        "harness (httpx in-process client)",
        ("/httpx/", "/httpcore/", "/anyio/", "/sniffio/", "/asgi_lifespan/", __file__),
    ),
]
Func = tuple[str, int, str]


def layer_of(func: Func) -> str:
    for name, markers in LAYERS:
        if any(marker in func[0] for marker in markers):
            return name
    return "other (stdlib: uuid, enum, decimal, ...)"


def self_time_by_layer(stats: dict[Func, Any]) -> dict[str, float]:
    """Self time per layer; a C function's time goes to the layers of its callers."""
    totals: dict[str, float] = {}

    def charge(func: Func, seconds: float, depth: int = 0) -> None:
        callers = stats[func][4] if func in stats else {}
        if func[0] != "~" or not callers or depth > 3:
            name = layer_of(func)
            totals[name] = totals.get(name, 0.0) + seconds
            return
        caller_total = sum(value[2] for value in callers.values()) or 1.0
        for caller, value in callers.items():
            charge(caller, seconds * value[2] / caller_total, depth + 1)

    for func, (_, _, tottime, _, _) in stats.items():
        charge(func, tottime)
    return totals


def short_name(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    if SITE in filename:
        filename = filename.split(SITE, 1)[1]
    elif filename.startswith(str(ROOT)):
        filename = filename[len(str(ROOT)) + 1 :]
    else:
        filename = "/".join(Path(filename).parts[-2:])
    return f"{filename}:{line}({name})"


def func_key(function: Any) -> Func:
    """cProfile's key of a Python function (or classmethod)."""
    code = getattr(function, "__func__", function).__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


STAGES: list[tuple[str, Func]] = [
    ("graphql validate() (should be cached)", func_key(graphql_validate)),
    ("GraphQLView.get_context (JWT + session)", func_key(GraphQLView.get_context)),
    ("paginate (COUNT + page query)", func_key(paginate)),
    ("Tortoise execute_select (the ORM SELECTs)", func_key(BaseExecutor.execute_select)),
    ("Policy.from_model", func_key(PolicyType.from_model)),
    ("  of which Product.from_model", func_key(ProductType.from_model)),
    ("json.dumps of the answer", func_key(json.dumps)),
]


@dataclass
class InProcess:
    queries: dict[str, int] = field(default_factory=dict)
    ms_per_request: dict[str, float] = field(default_factory=dict)
    gc: dict[str, GcTimer] = field(default_factory=dict)
    reports: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class GcTimer:
    """Time the cyclic garbage collector spends while installed (cProfile cannot see it:
    a collection is charged to whatever function happened to allocate)."""

    seconds: float = 0.0
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    @contextlib.contextmanager
    def installed(self) -> Iterator[GcTimer]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)


async def run_in_process(settings: Settings, token: str, iterations: int) -> InProcess:
    """The three servers' apps through httpx.ASGITransport (no uvicorn, no sockets): SQL
    statements per request, ms per sequential request, and a cProfile of each GraphQL
    one (graphql-core, compiled)."""
    result = InProcess()
    for variant in VARIANTS:
        if variant.serve == "baseline":
            app = create_baseline_app(settings)
        else:
            compiled = variant.environment["ANXIN_COMPILED_EXECUTION"] == "true"
            app = create_app(settings.model_copy(update={"compiled_execution": compiled}))
        headers = variant.with_token(token)
        method, url, body = variant.method, variant.url, variant.body
        transport = httpx.ASGITransport(app=app)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            if variant.method == "GET":
                await persist(client, "http://bench", headers)
            for _ in range(2):  # the second is the known query's (compiled plan)
                await client.request(method, url, content=body, headers=headers)
            with counting_queries() as counter:
                await client.request(method, url, content=body, headers=headers)
            result.queries[variant.name] = counter.count
            for _ in range(20):
                await client.request(method, url, content=body, headers=headers)
            with GcTimer().installed() as gc_timer:
                started = time.perf_counter()
                for _ in range(iterations):
                    await client.request(method, url, content=body, headers=headers)
                elapsed = time.perf_counter() - started
            result.ms_per_request[variant.name] = elapsed * 1000 / iterations
            result.gc[variant.name] = gc_timer
            if variant.serve == "graphql":
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(iterations):
                    await client.request(method, url, content=body, headers=headers)
                profiler.disable()
                result.reports[variant.name] = profile_report(profiler, iterations)
    return result


def profile_report(profiler: cProfile.Profile, iterations: int) -> list[str]:
    stats: dict[Func, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    per = 1000 / iterations
    lines = [
        f"  cProfile of {iterations} sequential GraphQL requests: {total * per:.2f} ms/request "
        "under the profiler",
        "  (cProfile inflates call-heavy Python code: read the shares, not the milliseconds;",
        "  garbage-collector pauses are charged to whichever function allocated at the time)",
        "",
        f"  {'self time by layer':<44} {'ms/req':>7} {'share':>6}",
    ]
    for name, seconds in sorted(self_time_by_layer(stats).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<44} {seconds * per:7.2f} {seconds / total:6.1%}")
    lines += [
        "",
        f"  {'stages (cumulative time, they overlap)':<44} {'ms/req':>7} {'calls/req':>9}",
    ]
    for label, key in STAGES:
        _, ncalls, _, cumtime, _ = stats.get(key, (0, 0, 0.0, 0.0, {}))
        lines.append(f"  {label:<44} {cumtime * per:7.2f} {ncalls / iterations:9.1f}")
    validations = stats.get(STAGES[0][1], (0, 0))[1]
    if validations > 1:
        lines.append(
            f"  !! graphql-core validated the same query {validations} times in {iterations} "
            "requests: ValidationCache never hits"
        )
    lines.append("  (calls of a coroutine count each resumption)")
    lines += ["", f"  {'top 15 by self time':<58} {'self':>6} {'cum':>7} {'calls':>6}"]
    lines.append(f"  {'':<58} {'ms/req':>6} {'ms/req':>7} {'/req':>6}")
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]
    for func, (_, ncalls, tottime, cumtime, _) in ranked:
        name = short_name(func)[:58]
        lines.append(
            f"  {name:<58} {tottime * per:6.2f} {cumtime * per:7.2f} {ncalls / iterations:6.0f}"
        )
    ours = [(func, entry) for func, entry in stats.items() if layer_of(func).startswith("our")]
    lines += ["", f"  {'our code, top 8 by self time':<58} {'self':>6} {'cum':>7} {'calls':>6}"]
    for func, (_, ncalls, tottime, cumtime, _) in sorted(ours, key=lambda kv: -kv[1][2])[:8]:
        name = short_name(func)[:58]
        lines.append(
            f"  {name:<58} {tottime * per:6.2f} {cumtime * per:7.2f} {ncalls / iterations:6.0f}"
        )
    return lines


# ------------------------------------------------------------------ the run


@dataclass
class BackendResult:
    backend: str
    results: dict[str, LoadResult]


GOAL_RATIO = 0.5  # issue 19: req/s GraphQL / hand-written


def print_load_table(results: list[LoadResult], postgres: bool) -> None:
    print(
        f"  {'server':<9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        f" {'server CPU':>10} {'server':>6} {'client':>6} {'PG CPU':>7} {'others':>6}"
    )
    print(
        f"  {'':<9} {'':>7} {'':>7} {'':>7} {'':>6}"
        f" {'ms/req':>10} {'CPU':>6} {'CPU':>6} {'ms/req':>7} {'CPU':>6}"
    )
    for r in results:
        database = f"{r.database_cpu * 1000 / r.requests:7.2f}" if postgres else f"{'-':>7}"
        print(
            f"  {r.name:<9} {r.rps:7.1f} {r.percentile(50) * 1000:7.2f}"
            f" {r.percentile(99) * 1000:7.2f} {r.errors:6d} {r.server_ms:10.2f}"
            f" {r.server_cpu / r.seconds:6.0%} {r.client_cpu / r.seconds:6.0%} {database}"
            f" {r.foreign_cpu:6.0%}"
        )
    print(
        "  (CPU columns: share of one core while that server was loaded; 'others' is every "
        f"other process on this {CORES}-core machine)"
    )
    for r in results:
        busy = (r.server_cpu + r.client_cpu + r.database_cpu) / r.seconds + r.foreign_cpu
        if busy > 0.9 * CORES and r.server_cpu / r.seconds < 0.9:
            print(
                f"  note: all {CORES} cores were busy while loading {r.name} (client, server and "
                "database share them): its req/s is a floor, its server CPU ms/req is fair"
            )
        elif r.client_bound:
            print(
                f"  note: the client saturated its core while loading {r.name}: its req/s is "
                "a floor, its server CPU ms/req is the fair figure"
            )
        if r.foreign_cpu > 0.2:
            print(
                f"  warning: other processes used {r.foreign_cpu:.0%} of a core during the "
                f"{r.name} runs: figures are noisy, rerun on a quiet machine"
            )


def print_ratios(gql: LoadResult, base: LoadResult) -> None:
    p50 = gql.percentile(50) / base.percentile(50)
    p99 = gql.percentile(99) / base.percentile(99)
    print(
        f"  ratio {gql.name}/{base.name}: throughput {gql.rps / base.rps:.3f}"
        f" ({base.name} {base.rps / gql.rps:.2f}x), p50 {p50:.2f}x, p99 {p99:.2f}x,"
        f" server CPU per request {gql.server_ms / base.server_ms:.2f}x"
    )


def run_backend(backend: str, workdir: Path, args: argparse.Namespace) -> BackendResult:
    postgres = backend == "postgres"
    url = POSTGRES_BENCH_URL if postgres else f"sqlite://{workdir}/bench.sqlite3"
    environment = bench_environment(url)
    settings = settings_from(environment)
    EXECUTOR_CACHE.clear()  # Tortoise caches SQL per dialect: `?` would leak into PostgreSQL
    print(f"\n=== {backend}: {url}")
    try:
        token = asyncio.run(prepare_database(settings))
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(
                    running_server(
                        __file__,
                        environment | variant.environment,
                        workdir,
                        name=variant.name,
                        serve_args=(variant.serve,),
                    )
                )
                for variant in VARIANTS
            ]
            answers = asyncio.run(fetch_answers(servers, token))
            first = json.loads(answers[0])
            for server, answer in zip(servers[1:], answers[1:], strict=True):
                if difference := first_difference(first, json.loads(answer)):
                    raise SystemExit(f"{server.name} answers differently: {difference}")
            edges = first["data"]["myPolicies"]["edges"]
            identical = all(answer == answers[0] for answer in answers)
            print(
                f"answers equal: {len(edges)} policies, {len(answers[0])} bytes of JSON, "
                f"byte-identical: {'yes' if identical else 'no'} "
                f"({', '.join(v.name for v in VARIANTS)})"
            )
            print(
                f"{args.requests} timed requests per server after {args.warmup} warm-up, "
                f"{args.concurrency} concurrent httpx clients (keep-alive), {args.rounds} "
                "alternating rounds; uvicorn, 1 worker, uvloop + httptools, no access log"
            )
            loaded = uvloop.run(compare(servers, token, len(answers[0]), args, postgres))
        results = {r.name: r for r in loaded}
        print_load_table(loaded, postgres)
        base = results["baseline"]
        print_ratios(results["graphql"], base)
        print_ratios(results["compiled"], base)
        print_ratios(results["compiled"], results["graphql"])
        for name in ("graphql", "compiled"):
            print(
                goal_line(
                    f"req/s GraphQL ({name}) ÷ hand-written, {backend}",
                    results[name].rps / base.rps,
                    GOAL_RATIO,
                    at_most=False,
                )
            )
        if args.profile_iterations:
            EXECUTOR_CACHE.clear()
            in_process = asyncio.run(run_in_process(settings, token, args.profile_iterations))
            ms, queries = in_process.ms_per_request, in_process.queries
            print(
                "\nin-process (ASGITransport, one request at a time): "
                + "; ".join(
                    f"{name} {ms[name]:.2f} ms/req, {queries[name]} SQL statements" for name in ms
                )
                + f" (graphql {ms['graphql'] / ms['baseline']:.2f}x, compiled "
                f"{ms['compiled'] / ms['baseline']:.2f}x the baseline; compiled/graphql "
                f"{ms['compiled'] / ms['graphql']:.2f})"
            )
            for name, timer in in_process.gc.items():
                n = args.profile_iterations
                print(
                    f"  garbage collector, {name}: {timer.seconds * 1000 / n:.2f} ms/req; "
                    "collections per request, generation 0/1/2: "
                    + " / ".join(f"{count / n:.2f}" for count in timer.collections)
                )
            for name, report in in_process.reports.items():
                print(f"\n  --- {name}")
                print("\n".join(report))
        return BackendResult(backend, results)
    finally:
        if postgres:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                asyncio.run(drop(name_of(url)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per server")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per server")
    parser.add_argument("--rounds", type=int, default=4, help="alternations between servers")
    parser.add_argument(
        "--profile-iterations", type=int, default=200, help="in-process requests (0: skip)"
    )
    parser.add_argument("--serve", choices=["graphql", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return args
    if not 0 < args.requests <= 1_000_000 or not 0 < args.concurrency <= 1000:
        parser.error("--requests must be 1..1000000 and --concurrency 1..1000")
    if not 0 < args.rounds <= args.requests or args.warmup < 0 or args.profile_iterations < 0:
        parser.error("--rounds must be 1..requests; --warmup and --profile-iterations >= 0")
    return args


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.parent_pid)
        return
    signal.signal(signal.SIGTERM, stop)  # clean up (servers, files, database) on kill too
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="anxin-bench-") as workdir:
        for backend in backends:
            results.append(run_backend(backend, Path(workdir), args))
    print("\n=== summary: myPolicies(first: 10), GraphQL app vs hand-written baseline")
    print(
        f"  {'backend':<9} {'req/s graphql':>13} {'compiled':>9} {'baseline':>9}"
        f" {'ratio graphql':>13} {'ratio compiled':>14} {'compiled/graphql':>16}"
    )
    for r in results:
        g, c, b = r.results["graphql"], r.results["compiled"], r.results["baseline"]
        print(
            f"  {r.backend:<9} {g.rps:13.1f} {c.rps:9.1f} {b.rps:9.1f}"
            f" {g.rps / b.rps:13.3f} {c.rps / b.rps:14.3f} {c.rps / g.rps:16.2f}"
        )
    for r in results:
        print(
            goal_line(
                f"req/s GraphQL (persisted + compiled) ÷ hand-written, {r.backend}",
                r.results["compiled"].rps / r.results["baseline"].rps,
                GOAL_RATIO,
                at_most=False,
            )
        )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary files and the bench database removed")
