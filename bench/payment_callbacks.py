"""Payment-callback benchmark: provider callbacks handled per second on PostgreSQL, with
every payment notified several times at once, and proof that nothing is recorded twice.

Providers retry their payment notifications until they read the success reply, and a
retry can arrive while the first delivery is still being handled. This measures the real
callback path (``POST /payments/{provider}/notify`` → signature check → app id, merchant,
order number and amount checks → the order's row lock → order paid, installment paid,
one ledger entry, one ``payment.received`` outbox event) under that traffic:

- a fresh PostgreSQL database (``anxin_bench_callbacks``), migrated, with N customers,
  policies and unpaid installments and N open payment orders made through the models
  (the amount is the installment's), plus a few decoy orders that only ever get forged
  callbacks;
- one valid signed callback per order — the sandbox provider's HMAC notification, or
  with ``--provider alipay`` an RSA2-signed ``trade_status_sync`` form, the app started
  with ``ANXIN_ALIPAY_*`` settings naming key pairs generated here, so every callback
  goes through real SHA256withRSA verification;
- a stream of N × (1 + duplicates) posts: the callbacks are shuffled and then dealt in
  windows of about ``concurrency`` posts, each window holding every copy of its callbacks
  in random order, so copies of one callback are in flight together; forged callbacks
  (tampered after signing, and validly signed for the wrong amount) are mixed in, half
  aimed at decoy orders and half racing the valid copies of real ones;
- the app under uvicorn (one worker, uvloop + httptools, no access log, no background
  jobs) on 127.0.0.1, loaded by ``concurrency`` keep-alive httpx clients (one connection
  each: one client sharing many connections costs several times the CPU per request)
  after an untimed warm-up of forged callbacks.

Reported: callbacks handled per second (every post, duplicates included) and payments
recorded per second, p50/p99/max latency by kind of post, whether every reply is exactly
the provider's success reply (valid) or failure reply (forged), how many copies really
raced, CPU per callback of the server, the client and PostgreSQL; then, read back from
the database with plain SQL: exactly N PREMIUM_RECEIVED ledger entries (one per order,
the order's amount and the valid callback's transaction id), N paid orders, N paid
installments, N ``payment.received`` outbox events, and nothing for the decoys. It prints
``no double entry: OK`` or exits with status 1 (also when a reply is wrong or the server
logged an error or an unexpected number of security events).

The client, the server and PostgreSQL share this machine: the CPU line says whether
callbacks/s is the server's ceiling (its core saturated) or a floor (all cores busy, or
other processes interfering); server CPU ms per callback is the figure that travels.

    python bench/payment_callbacks.py [--orders 500] [--duplicates 4] [--concurrency 32]
        [--provider sandbox|alipay] [--forged 20] [--warmup 64] [--db-pool N]
        [--seed S] [--time-limit SECONDS]

Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres); the database is dropped
again at the end, however the run ends. ``--db-pool`` sets Tortoise's ``maxsize`` in the
app's database URL (unset: Tortoise's default of 5, as the app is deployed).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import uvloop
from _harness import (
    CpuSample,
    Server,
    bench_suffix,
    die_with_parent,
    drop,
    goal_line,
    recreate,
    running_server,
    settings_from,
)
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from api.services import build_payment_providers, build_pii_cipher
from api.settings import Settings
from models.customers import Customer
from models.database import migrate_database, open_database
from models.payments import OrderStatus, PaymentOrder
from models.policies import (
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
    Product,
    ProductKind,
)
from payments.base import PaymentMethod, PaymentProvider
from payments.sandbox import SandboxProvider
from workflows.payments.orders import ORDER_LIFETIME

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "anxin_bench_callbacks" + bench_suffix()
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
ASYNCPG_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")

ALIPAY_APP_ID = "2021000000000001"
ALIPAY_SELLER_ID = "2088101122136241"
ALIPAY_BUYER_ID = "2088102177846880"
ALIPAY_TIME = "%Y-%m-%d %H:%M:%S"
# Never called: with background jobs off nothing queries or closes orders. Port 9
# (discard) on 127.0.0.1, so a call by mistake would fail at once and stay local.
UNREACHABLE_GATEWAY = "http://127.0.0.1:9/gateway.do"

VALID = "valid"
TAMPERED = "forged: tampered"
WRONG_AMOUNT = "forged: wrong amount"
FORGED_KINDS = (TAMPERED, WRONG_AMOUNT)


# ------------------------------------------------------------------ settings and keys


@dataclass(frozen=True)
class AlipayKeys:
    """Two fresh key pairs: the app's (its private half configured in the app) and
    "Alipay"'s (its private half signs the notifications here, its public half is what
    the app verifies them with)."""

    app_private_pem: str
    alipay_private: rsa.RSAPrivateKey
    alipay_public_pem: str

    @classmethod
    def generate(cls) -> AlipayKeys:
        app = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        alipay = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(
            app.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as Alipay's tool
                serialization.NoEncryption(),
            ).decode(),
            alipay,
            alipay.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode(),
        )


def bench_environment(keys: AlipayKeys | None, pool_size: int | None) -> dict[str, str]:
    """Development settings (the sandbox provider exists only there), no background jobs
    (the outbox relay would otherwise run in the API process and compete for the pool)."""
    url = DATABASE_URL + (f"?maxsize={pool_size}" if pool_size else "")
    environment = {
        "ANXIN_ENV": "development",
        "ANXIN_DATABASE_URL": url,
        "ANXIN_BACKGROUND_JOBS": "false",
    }
    if keys is not None:
        environment |= {
            "ANXIN_ALIPAY_GATEWAY_URL": UNREACHABLE_GATEWAY,
            "ANXIN_ALIPAY_APP_ID": ALIPAY_APP_ID,
            "ANXIN_ALIPAY_SELLER_ID": ALIPAY_SELLER_ID,
            "ANXIN_ALIPAY_APP_PRIVATE_KEY": keys.app_private_pem,
            "ANXIN_ALIPAY_PUBLIC_KEY": keys.alipay_public_pem,
        }
    return environment


# ------------------------------------------------------------------ the database


def drop_database() -> None:
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(drop(DATABASE))


@dataclass(frozen=True)
class Order:
    id: uuid.UUID
    number: str
    amount: Decimal
    installment_id: uuid.UUID
    decoy: bool  # gets forged callbacks only: must stay unpaid


def installment_amount(index: int) -> Decimal:
    """Varied premiums (300.00 … 1299.96), so a wrong amount is never right by chance."""
    return (Decimal(300 + index % 1000) + Decimal(index % 97) / 100).quantize(CENT)


async def create_orders(settings: Settings, provider: str, count: int, decoys: int) -> list[Order]:
    """Customers, policies, one unpaid installment each and an open order for it, made
    through the models in bulk; ``decoys`` more of each for the forged callbacks."""
    await recreate(DATABASE)
    await migrate_database(settings.database_url)
    total = count + decoys
    method = PaymentMethod.SANDBOX if provider == "sandbox" else PaymentMethod.ALIPAY_APP
    now = datetime.now(UTC)
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    today = date.today()
    pii = build_pii_cipher(settings)
    async with open_database(settings.database_url):
        product = await Product.create(
            code="BENCH-PAY",
            name="安心百万医疗险",
            kind=ProductKind.HEALTH,
            report_time_limit_hours=48,
        )
        customers = []
        for index in range(total):
            phone = pii.seal_phone(f"139{index:08d}")
            customers.append(
                Customer(
                    name=f"客户{index}",
                    phone_encrypted=phone.encrypted,
                    phone_hash=phone.lookup_hash,
                    phone_masked=phone.masked,
                )
            )
        await Customer.bulk_create(customers, batch_size=500)
        policies = [
            Policy(
                number=f"AXB{index:010d}",
                product_id=product.id,
                holder_id=customer.id,
                status=PolicyStatus.ACTIVE,
                starts_at=now - timedelta(days=30),
                ends_at=now + timedelta(days=335),
                issued_at=now - timedelta(days=31),
                sum_insured=Decimal("100000.00"),
                premium=installment_amount(index) * 2,
                payment_frequency=PaymentFrequency.SEMI_ANNUAL,
            )
            for index, customer in enumerate(customers)
        ]
        await Policy.bulk_create(policies, batch_size=500)
        installments = [
            PremiumInstallment(
                policy_id=policy.id,
                sequence=1,
                due_date=today,
                amount=installment_amount(index),
                paid_at=None,
            )
            for index, policy in enumerate(policies)
        ]
        await PremiumInstallment.bulk_create(installments, batch_size=500)
        orders = [
            PaymentOrder(
                order_number=f"PO{day}{index + 1:06d}",
                customer_id=policy.holder_id,
                policy_id=policy.id,
                installment_id=installment.id,
                provider=provider,
                method=str(method),
                amount=installment.amount,  # the amount comes from the installment
                expires_at=now + ORDER_LIFETIME,
            )
            for index, (policy, installment) in enumerate(zip(policies, installments, strict=True))
        ]
        await PaymentOrder.bulk_create(orders, batch_size=500)
        stored = await PaymentOrder.filter(status=OrderStatus.CREATED).count()
        if stored != total:
            raise RuntimeError(f"{stored} open orders stored, {total} expected")
    return [
        Order(order.id, order.order_number, order.amount, order.installment_id, index >= count)
        for index, order in enumerate(orders)
    ]


# ------------------------------------------------------------------ the callbacks


@dataclass(frozen=True)
class Callback:
    kind: str
    order: Order
    trade_no: str
    headers: dict[str, str]
    body: bytes


class Notifier(Protocol):
    def valid(self, order: Order) -> Callback: ...

    def tampered(self, order: Order) -> Callback: ...

    def wrong_amount(self, order: Order) -> Callback: ...


def wrong(amount: Decimal) -> Decimal:
    return amount - Decimal("0.01") if amount > 1 else amount + 1


class SandboxNotifier:
    """The sandbox provider's own notifications (``SandboxProvider.paid_notification``),
    built with the key the app derives from the same settings."""

    def __init__(self, provider: SandboxProvider) -> None:
        self.provider = provider

    def _callback(self, kind: str, order: Order, headers: dict[str, str], body: bytes) -> Callback:
        trade_no = json.loads(body)["trade_no"]
        return Callback(kind, order, trade_no, headers | {"content-type": "application/json"}, body)

    def valid(self, order: Order) -> Callback:
        return self._callback(
            VALID, order, *self.provider.paid_notification(order.number, order.amount)
        )

    def tampered(self, order: Order) -> Callback:
        """A valid notification whose amount was lowered after signing."""
        headers, body = self.provider.paid_notification(order.number, order.amount)
        data = json.loads(body) | {"amount": f"{wrong(order.amount):.2f}"}
        return self._callback(TAMPERED, order, headers, json.dumps(data).encode())

    def wrong_amount(self, order: Order) -> Callback:
        """Correctly signed, for another amount than the order's."""
        headers, body = self.provider.paid_notification(order.number, wrong(order.amount))
        return self._callback(WRONG_AMOUNT, order, headers, body)


class AlipayNotifier:
    """``trade_status_sync`` forms as Alipay posts them (and as ``tests/fakes/alipay.py``
    builds them): signed with "Alipay"'s private key over every non-empty parameter but
    ``sign`` and ``sign_type``, sorted, ``k=v`` joined by ``&``, SHA256withRSA, base64.
    Written here from Alipay's rules, not with ``payments.alipay``'s own helpers."""

    HEADERS: ClassVar[dict[str, str]] = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"
    }

    def __init__(self, keys: AlipayKeys) -> None:
        self.keys = keys
        self.serial = 0

    def _sign(self, params: dict[str, str]) -> dict[str, str]:
        content = "&".join(
            f"{name}={params[name]}"
            for name in sorted(params)
            if params[name] and name not in ("sign", "sign_type")
        )
        raw = self.keys.alipay_private.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())
        return params | {"sign": base64.b64encode(raw).decode()}

    def _params(self, order: Order, amount: Decimal) -> dict[str, str]:
        self.serial += 1
        now = datetime.now(SHANGHAI)
        total = f"{amount:.2f}"
        return {
            "notify_time": now.strftime(ALIPAY_TIME),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": ALIPAY_APP_ID,
            "auth_app_id": ALIPAY_APP_ID,
            "trade_no": f"{now:%Y%m%d}22001{self.serial:018d}",
            "out_trade_no": order.number,
            "buyer_id": ALIPAY_BUYER_ID,
            "buyer_logon_id": "159****5620",
            "seller_id": ALIPAY_SELLER_ID,
            "seller_email": "anxin-pay@example.cn",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": total,
            "receipt_amount": total,
            "invoice_amount": total,
            "buyer_pay_amount": total,
            "point_amount": "0.00",
            "subject": "安心百万医疗险 第1期保费",
            "gmt_create": (now - timedelta(seconds=40)).strftime(ALIPAY_TIME),
            "gmt_payment": (now - timedelta(seconds=5)).strftime(ALIPAY_TIME),
            "fund_bill_list": json.dumps(
                [{"amount": total, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
            ),
        }

    def _callback(self, kind: str, order: Order, params: dict[str, str]) -> Callback:
        return Callback(
            kind, order, params["trade_no"], dict(self.HEADERS), urlencode(params).encode()
        )

    def valid(self, order: Order) -> Callback:
        return self._callback(VALID, order, self._sign(self._params(order, order.amount)))

    def tampered(self, order: Order) -> Callback:
        """A valid notification whose amount was lowered after signing."""
        params = self._sign(self._params(order, order.amount))
        return self._callback(
            TAMPERED, order, params | {"total_amount": f"{wrong(order.amount):.2f}"}
        )

    def wrong_amount(self, order: Order) -> Callback:
        """Correctly signed, for another amount than the order's."""
        return self._callback(
            WRONG_AMOUNT, order, self._sign(self._params(order, wrong(order.amount)))
        )


def forged_callbacks(notifier: Notifier, orders: list[Order], count: int) -> list[Callback]:
    """``count`` forgeries, alternately tampered and wrong amount, alternately aimed at
    a decoy order and at a real order (where they race the valid copies)."""
    decoys = [order for order in orders if order.decoy]
    real = [order for order in orders if not order.decoy]
    forged = []
    for index in range(count):
        target = (
            decoys[(index // 2) % len(decoys)]
            if index % 2 == 0
            else real[(index * 7919) % len(real)]
        )
        make = notifier.tampered if (index // 2) % 2 == 0 else notifier.wrong_amount
        forged.append(make(target))
    return forged


def warmup_callbacks(notifier: Notifier, orders: list[Order], count: int) -> list[Callback]:
    """Forgeries aimed at the decoys only: they take the whole rejection path (and the
    wrong amounts the order's row lock) and warm connections and pools, changing nothing."""
    decoys = [order for order in orders if order.decoy]
    return [
        (notifier.tampered if index % 2 else notifier.wrong_amount)(decoys[index % len(decoys)])
        for index in range(count)
    ]


def build_stream(
    valid: list[Callback],
    forged: list[Callback],
    duplicates: int,
    concurrency: int,
    rng: random.Random,
) -> list[Callback]:
    """Every valid callback 1 + ``duplicates`` times; callbacks dealt in windows of about
    ``concurrency`` posts holding all their copies, shuffled inside the window, so copies
    are sent while their twins are still in flight; the forgeries anywhere."""
    callbacks = valid[:]
    rng.shuffle(callbacks)
    per_window = max(1, concurrency // (1 + duplicates))
    stream: list[Callback] = []
    for start in range(0, len(callbacks), per_window):
        window = [cb for cb in callbacks[start : start + per_window] for _ in range(1 + duplicates)]
        rng.shuffle(window)
        stream += window
    for callback in forged:
        stream.insert(rng.randrange(len(stream) + 1), callback)
    return stream


# ------------------------------------------------------------------ the server


def serve(port: int, parent_pid: int) -> None:
    """Child-process entry: the app exactly as ``anxin serve`` builds it, without access log."""
    import uvicorn

    die_with_parent(parent_pid)
    uvicorn.run(
        "api.serving:serve_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )


# ------------------------------------------------------------------ CPU accounting

CORES = os.cpu_count() or 1


# ------------------------------------------------------------------ load


@dataclass
class Post:
    callback: Callback
    started: float = 0.0
    ended: float = 0.0
    status: int = 0
    body: bytes = b""
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


async def fire(clients: list[httpx.AsyncClient], path: str, stream: list[Callback]) -> list[Post]:
    """Post the stream in order, one worker per client (so as many posts in flight as
    there are clients); every post's timing and reply."""
    posts = [Post(callback) for callback in stream]
    position = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal position
        while position < len(posts):
            post = posts[position]
            position += 1
            post.started = time.perf_counter()
            try:
                response = await client.post(
                    path, content=post.callback.body, headers=post.callback.headers
                )
                post.status, post.body = response.status_code, response.content
            except httpx.HTTPError as exc:
                post.error = type(exc).__name__
            post.ended = time.perf_counter()

    await asyncio.gather(*(worker(client) for client in clients))
    return posts


@dataclass
class Run:
    posts: list[Post]
    warmup: list[Post]
    before: CpuSample
    after: CpuSample

    @property
    def seconds(self) -> float:
        return self.after.wall - self.before.wall


async def load(
    server: Server,
    path: str,
    warmup: list[Callback],
    stream: list[Callback],
    concurrency: int,
    time_limit: float,
) -> Run:
    # One client with one keep-alive connection per worker: one httpx client sharing 32
    # connections spends ~4x the CPU per request in its pool (measured here, httpcore
    # 1.0.9), CPU the server and PostgreSQL need on a small machine.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with asyncio.timeout(time_limit), contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30, trust_env=False)
            )
            for _ in range(concurrency)
        ]
        warm = await fire(clients, path, warmup) if warmup else []
        before = CpuSample.take(server.process.pid)
        posts = await fire(clients, path, stream)
        after = CpuSample.take(server.process.pid)
    return Run(posts, warm, before, after)


# ------------------------------------------------------------------ checks and report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def right_reply(post: Post, success: tuple[int, bytes], failure: tuple[int, bytes]) -> bool:
    expected = success if post.callback.kind == VALID else failure
    return post.error is None and (post.status, post.body) == expected


def racing_copies(posts: list[Post]) -> tuple[float, int]:
    """Share of valid posts in flight while another copy of the same callback was, and the
    most copies of one callback in flight at once."""
    by_order: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        if post.callback.kind == VALID:
            by_order[post.callback.order.number].append(post)
    overlapped = 0
    most = 0
    for copies in by_order.values():
        for post in copies:
            if any(
                other is not post and other.started < post.ended and post.started < other.ended
                for other in copies
            ):
                overlapped += 1
        events = sorted([(p.started, 1) for p in copies] + [(p.ended, -1) for p in copies])
        in_flight = 0
        for _, step in events:
            in_flight += step
            most = max(most, in_flight)
    valid = sum(len(copies) for copies in by_order.values())
    return overlapped / max(valid, 1), most


def print_load(
    run: Run, success: tuple[int, bytes], failure: tuple[int, bytes], orders: int
) -> list[str]:
    """The latency table and throughput; returns the problems found in the replies."""
    problems = []
    header = f"{'count':>6} {'right reply':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(f"\n  {'posts':<22} {header}")
    groups = [
        (kind, [p for p in run.posts if p.callback.kind == kind]) for kind in (VALID, *FORGED_KINDS)
    ]
    for name, posts in [*groups, ("all", run.posts)]:
        if not posts:
            continue
        ms = [post.seconds * 1000 for post in posts]
        right = sum(right_reply(post, success, failure) for post in posts)
        print(
            f"  {name:<22} {len(posts):6d} {right:11d} {percentile(ms, 50):8.2f}"
            f" {percentile(ms, 99):8.2f} {max(ms):8.2f}"
        )
    wrong_replies = Counter(
        (post.callback.kind, post.error or f"HTTP {post.status} {post.body[:40]!r}")
        for post in [*run.warmup, *run.posts]
        if not right_reply(post, success, failure)
    )
    for (kind, answer), count in wrong_replies.most_common():
        problems.append(f"{count} {kind} post(s) answered {answer}")
    warm_right = sum(right_reply(post, success, failure) for post in run.warmup)
    print(
        f"  (expected replies: valid HTTP {success[0]} {success[1]!r}, forged HTTP {failure[0]}"
        f" {failure[1]!r}; untimed warm-up: {warm_right}/{len(run.warmup)} forged posts right)"
    )
    racing, most = racing_copies(run.posts)
    print(
        f"\n  callbacks handled/s: {len(run.posts) / run.seconds:8.1f}   (every post, duplicates"
        " and forgeries included)"
    )
    print(f"  payments recorded/s: {orders / run.seconds:8.1f}   wall time {run.seconds:.2f} s")
    print(
        "  "
        + goal_line(
            "signed callbacks with duplicates handled/s (issue 19)",
            len(run.posts) / run.seconds,
            1000,
            "/s",
            at_most=False,
        )
    )
    print(
        f"  copies racing: {racing:.0%} of valid posts were in flight alongside another copy of"
        f" the same callback; up to {most} copies of one callback at once"
    )
    b, a = run.before, run.after
    seconds = run.seconds
    server, client, database = a.server - b.server, a.client - b.client, a.database - b.database
    others = max((a.machine - b.machine) - server - client - database, 0.0)
    per = 1000 / len(run.posts)
    print(
        f"  CPU, share of one core: server {server / seconds:.0%}, client {client / seconds:.0%},"
        f" PostgreSQL {database / seconds:.0%}, others {others / seconds:.0%} ({CORES} cores)"
    )
    print(
        f"  CPU ms per callback: server {server * per:.2f}, PostgreSQL {database * per:.2f},"
        f" client {client * per:.2f}"
    )
    if server / seconds > 0.9:
        print("  note: the server's one worker saturated its core: this is its ceiling here")
    elif (server + client + database + others) / seconds > 0.9 * CORES:
        print(
            f"  note: all {CORES} cores were busy (client, server and PostgreSQL share them):"
            " callbacks/s is a floor"
        )
    if others / seconds > 0.2:
        print(
            f"  warning: other processes used {others / seconds:.0%} of a core: figures are noisy"
        )
    return problems


@dataclass
class Check:
    name: str
    expected: int
    actual: int

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


async def database_checks(orders: list[Order], valid: list[Callback]) -> list[Check]:
    """What the database holds after the run, read with plain SQL (not the app's ORM)."""
    real = {order.id for order in orders if not order.decoy}
    decoys = {order.id for order in orders if order.decoy}
    by_id = {order.id: order for order in orders}
    trade_no = {cb.order.id: cb.trade_no for cb in valid}
    connection = await asyncpg.connect(ASYNCPG_URL)
    try:
        ledger = await connection.fetch(
            "SELECT kind, order_id, provider_txn_id, amount FROM ledger_entry"
        )
        paid = await connection.fetch(
            "SELECT id, provider_trade_no, paid_at FROM payment_order WHERE status = 'PAID'"
        )
        open_orders = await connection.fetch(
            "SELECT id FROM payment_order WHERE status = 'CREATED'"
        )
        installments = await connection.fetch(
            "SELECT id FROM premium_installment WHERE paid_at IS NOT NULL"
        )
        events = await connection.fetch(
            "SELECT entity_id FROM outbox_event WHERE event_type = 'payment.received'"
        )
        all_events = await connection.fetchval("SELECT count(*) FROM outbox_event")
    finally:
        await connection.close()
    premiums = [row for row in ledger if row["kind"] == "PREMIUM_RECEIVED"]
    per_order = Counter(row["order_id"] for row in premiums)
    paid_ids = {row["id"] for row in paid}
    paid_installments = {row["id"] for row in installments}
    decoy_installments = {by_id[i].installment_id for i in decoys}
    event_ids = Counter(uuid.UUID(row["entity_id"]) for row in events)
    return [
        Check("ledger entries PREMIUM_RECEIVED", len(real), len(premiums)),
        Check("ledger entries of any other kind", 0, len(ledger) - len(premiums)),
        Check("orders with a ledger entry", len(real), len(per_order.keys() & real)),
        Check("orders with more than one entry", 0, sum(n > 1 for n in per_order.values())),
        Check(
            "entries not of order amount + valid txn id",
            0,
            sum(
                row["order_id"] not in by_id
                or row["amount"] != by_id[row["order_id"]].amount
                or row["provider_txn_id"] != trade_no.get(row["order_id"])
                for row in premiums
            ),
        ),
        Check("payment orders PAID", len(real), len(paid)),
        Check(
            "paid orders without valid txn id",
            0,
            sum(
                row["provider_trade_no"] != trade_no.get(row["id"]) or row["paid_at"] is None
                for row in paid
            ),
        ),
        Check("installments with paid_at", len(real), len(installments)),
        Check(
            "paid installments of paid orders",
            len(real),
            len({by_id[i].installment_id for i in paid_ids & real} & paid_installments),
        ),
        Check("payment.received outbox events", len(real), len(events)),
        Check("orders with more than one event", 0, sum(n > 1 for n in event_ids.values())),
        Check("outbox events of any other type", 0, all_events - len(events)),
        Check(
            "decoy orders still CREATED", len(decoys), len({r["id"] for r in open_orders} & decoys)
        ),
        Check(
            "decoys: entries + paid + events",
            0,
            len(per_order.keys() & decoys)
            + len(paid_ids & decoys)
            + len(paid_installments & decoy_installments)
            + len(event_ids.keys() & decoys),
        ),
    ]


def server_log_findings(log: Path, forged: int) -> list[str]:
    """Anything in the app's log beside the expected security events."""
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    rejected = sum("anxin.security" in line and "rejected" in line for line in lines)
    findings = []
    if rejected != forged:
        findings.append(f"{rejected} security events logged for {forged} forged posts")
    errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
    if errors:
        findings.append(
            f"{len(errors)} ERROR/Traceback lines in the server log, first: {errors[0]}"
        )
    return findings


# ------------------------------------------------------------------ the run


def expected_replies(provider: PaymentProvider) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    ok, refused = provider.reply(True), provider.reply(False)
    return (ok.status_code, ok.body), (refused.status_code, refused.body)


def run(args: argparse.Namespace, workdir: Path) -> int:
    keys = AlipayKeys.generate() if args.provider == "alipay" else None
    environment = bench_environment(keys, args.db_pool)
    settings = settings_from(environment)
    decoys = max(1, args.forged // 4)
    rng = random.Random(args.seed)
    print(
        f"=== payment callbacks on PostgreSQL ({DATABASE}), provider {args.provider}:"
        f" {args.orders} orders, {args.duplicates} duplicates each, concurrency"
        f" {args.concurrency}, seed {args.seed}"
    )
    started = time.perf_counter()
    orders = asyncio.run(create_orders(settings, args.provider, args.orders, decoys))
    print(
        f"  database ready in {time.perf_counter() - started:.1f} s: {args.orders} open orders"
        f" + {decoys} decoy orders (forged callbacks only), one customer, policy and unpaid"
        " installment each"
    )
    # The providers the app builds from the same settings (same sandbox key, same Alipay
    # ids), for their notifications and replies; the client is never opened.
    providers = build_payment_providers(settings, httpx.AsyncClient(trust_env=False))
    provider = providers[args.provider]
    notifier: Notifier
    if isinstance(provider, SandboxProvider):
        notifier = SandboxNotifier(provider)
    else:
        assert keys is not None
        notifier = AlipayNotifier(keys)
    real = [order for order in orders if not order.decoy]
    valid = [notifier.valid(order) for order in real]
    forged = forged_callbacks(notifier, orders, args.forged)
    stream = build_stream(valid, forged, args.duplicates, args.concurrency, rng)
    warmup = warmup_callbacks(notifier, orders, args.warmup)
    success, failure = expected_replies(provider)
    pool = f"maxsize={args.db_pool}" if args.db_pool else "Tortoise default maxsize=5"
    print(
        f"  stream: {len(valid)} valid callbacks x {1 + args.duplicates} = "
        f"{len(valid) * (1 + args.duplicates)} posts + {len(forged)} forged, dealt in windows"
        f" of {max(1, args.concurrency // (1 + args.duplicates))} callbacks with all their copies"
    )
    print(
        f"  POST /payments/{args.provider}/notify from {args.concurrency} keep-alive httpx clients"
        f" after {len(warmup)} untimed forged posts; uvicorn 1 worker, no access log, background"
        f" jobs off; app DB pool: {pool}"
    )
    with running_server(__file__, environment, workdir) as server:
        result = uvloop.run(
            load(
                server,
                f"/payments/{args.provider}/notify",
                warmup,
                stream,
                args.concurrency,
                args.time_limit,
            )
        )
    problems = print_load(result, success, failure, len(valid))
    problems += server_log_findings(server.log, len(forged) + len(warmup))
    checks = asyncio.run(database_checks(orders, valid))
    print(f"\n  {'database check':<44} {'expected':>8} {'actual':>8}")
    for check in checks:
        verdict = "OK" if check.ok else "FAIL"
        print(f"  {check.name:<44} {check.expected:8d} {check.actual:8d}  {verdict}")
    for problem in problems:
        print(f"  problem: {problem}")
    recorded_once = all(check.ok for check in checks)
    print(f"\nreplies and security log: {'OK' if not problems else 'FAILED (see problems)'}")
    print(f"no double entry: {'OK' if recorded_once else 'FAILED'}")
    return 0 if recorded_once and not problems else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=500, help="payments (distinct callbacks)")
    parser.add_argument("--duplicates", type=int, default=4, help="extra copies of each callback")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent httpx clients")
    parser.add_argument("--provider", choices=["sandbox", "alipay"], default="sandbox")
    parser.add_argument("--forged", type=int, default=20, help="forged callbacks in the stream")
    parser.add_argument("--warmup", type=int, default=64, help="untimed forged posts first")
    parser.add_argument("--db-pool", type=int, help="the app's asyncpg pool maxsize")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--time-limit", type=float, default=600, help="seconds for the load")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return args
    if not 1 <= args.orders <= 100_000 or not 0 <= args.duplicates <= 100:
        parser.error("--orders must be 1..100000 and --duplicates 0..100")
    if not 1 <= args.concurrency <= 1000 or not 2 <= args.forged <= 10_000:
        parser.error("--concurrency must be 1..1000 and --forged 2..10000")
    if args.warmup < 0 or args.time_limit <= 0 or (args.db_pool is not None and args.db_pool < 1):
        parser.error("--warmup >= 0, --time-limit > 0, --db-pool >= 1")
    return args


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.port, args.parent_pid)
        return 0
    signal.signal(signal.SIGTERM, stop)  # clean up (server, files, database) on kill too
    try:
        with tempfile.TemporaryDirectory(prefix="anxin-bench-callbacks-") as workdir:
            return run(args, Path(workdir))
    except TimeoutError:
        print(f"\nthe load did not finish within --time-limit {args.time_limit:g} s")
        return 1
    finally:
        drop_database()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: server stopped, temporary files and the bench database removed")
