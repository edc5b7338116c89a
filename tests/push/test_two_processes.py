"""Several API processes share one Redis: a subscription opened on process A sees a
change that another process committed.

Three real processes run as an operator runs them (``anxin serve`` twice and ``anxin
worker`` once), all on the PostgreSQL test database and the test Redis. A customer
subscribes to ``myNotifications`` on A, a second customer on B. The first customer then
reports a loss through B's GraphQL API; the worker's relay publishes the committed
``claim.reported`` event on Redis, and A pushes it to its subscriber, once. B's
subscriber, another customer, gets nothing, and B answers the first customer's unread
count from the shared database.

Only on PostgreSQL + Redis: the in-process bus and a SQLite file cannot span processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from api.services import Services
from models.notifications import Notification, OutboxEvent
from push.bus import channel_prefix
from tests.claims_helpers import auto_policy, loss_input
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.factories import customer_token, make_customer
from tests.graphql import gql

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="needs PostgreSQL and Redis (ANXIN_TEST_DATABASE_URL, ANXIN_TEST_REDIS_URL): "
    "processes share events only through Redis",
)

ROOT = Path(__file__).parents[2]
SUBSCRIPTION = "subscription { myNotifications { kind title body } }"
START_SECONDS = 45  # a loaded 2-core machine starts a process in 10-20 s; a bound, not a wait
ARRIVAL_SECONDS = 5  # relay poll (0.2 s) + fan-out + Redis + WebSocket, with slack
Popen = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_env(files: Path) -> dict[str, str]:
    """The caller's environment without its ANXIN_ settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    assert TEST_DATABASE_URL and TEST_REDIS_URL
    env.update(
        ANXIN_ENV="development",
        ANXIN_DATABASE_URL=TEST_DATABASE_URL,
        ANXIN_REDIS_URL=TEST_REDIS_URL,
        ANXIN_STORAGE_ROOT=str(files),
        # No jieba dictionary load behind each process (no complaint is filed here).
        ANXIN_COMPLAINT_CLASSIFIER_WARM_UP="false",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def anxin_processes(commands: dict[str, list[str]], logs: Path) -> Iterator[dict[str, Popen]]:
    """Start ``python -m api.cli <args>`` per name; terminate them all on the way out."""
    started: dict[str, Popen] = {}
    try:
        for name, args in commands.items():
            log = (logs / f"{name}.log").open("wb")
            started[name] = subprocess.Popen(
                [sys.executable, "-m", "api.cli", *args],
                cwd=ROOT,
                env=process_env(logs / "files"),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()  # the child holds its own descriptor
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


def log_tail(logs: Path, name: str) -> str:
    return (logs / f"{name}.log").read_text(errors="replace")[-3000:]


async def wait_ready(port: int, process: Popen, logs: Path, name: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{name} exited:\n{log_tail(logs, name)}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    pytest.fail(f"{name} not ready within {START_SECONDS} s:\n{log_tail(logs, name)}")


async def subscribe(ws: AsyncWebSocketSession, token: str) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
    await ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})


async def wait_subscribed(client: redis.Redis, channels: list[str]) -> None:
    """graphql-transport-ws does not acknowledge a subscribe: ask Redis who listens."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        prefix = channel_prefix(client)  # the API processes' bus is on the same db
        counts = dict(await client.pubsub_numsub(*(prefix + c for c in channels)))
        if all(counts.get((prefix + c).encode(), 0) >= 1 for c in channels):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the API processes did not subscribe to {channels} on Redis")


async def messages_within(ws: AsyncWebSocketSession, seconds: float) -> list[dict[str, object]]:
    """Everything the server sends in the next ``seconds``."""
    received: list[dict[str, object]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            received.append(await ws.receive_json(timeout=left))
        except TimeoutError:
            break
    return received


async def test_a_change_through_one_process_reaches_a_subscriber_on_another(
    services: Services, tmp_path: Path
) -> None:
    watcher, other = await make_customer(services), await make_customer(services)
    policy, _ = await auto_policy(services, watcher)
    watcher_token = await customer_token(services, watcher)
    other_token = await customer_token(services, other)
    port_a, port_b = free_port(), free_port()
    commands = {
        "api-a": ["serve", "--port", str(port_a)],
        "api-b": ["serve", "--port", str(port_b)],
        "worker": ["worker"],
    }
    assert TEST_REDIS_URL
    observer = redis.Redis.from_url(TEST_REDIS_URL)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(observer.aclose)
        processes = stack.enter_context(anxin_processes(commands, tmp_path))
        await asyncio.gather(
            wait_ready(port_a, processes["api-a"], tmp_path, "api-a"),
            wait_ready(port_b, processes["api-b"], tmp_path, "api-b"),
        )
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}") as client_a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}") as client_b,
            aconnect_ws("/graphql", client_a, subprotocols=["graphql-transport-ws"]) as ws_a,
            aconnect_ws("/graphql", client_b, subprotocols=["graphql-transport-ws"]) as ws_b,
        ):
            await subscribe(ws_a, watcher_token)
            await subscribe(ws_b, other_token)
            await wait_subscribed(observer, [f"customer:{watcher.id}", f"customer:{other.id}"])

            # The change is made through process B: the watcher reports a loss there.
            reported = await gql(
                client_b,
                "mutation($input: ReportLossInput!) { reportLoss(input: $input) "
                "{ claim { reportNumber } errors { code } } }",
                {"input": loss_input(policy)},
                token=watcher_token,
            )
            number = reported["data"]["reportLoss"]["claim"]["reportNumber"]
            event = await OutboxEvent.get(event_type="claim.reported")
            committed = time.monotonic()

            first = await ws_a.receive_json(timeout=ARRIVAL_SECONDS)
            arrived = time.monotonic() - committed
            assert first["type"] == "next", first
            live = first["payload"]["data"]["myNotifications"]
            assert live["kind"] == "claim.reported"
            assert live["title"] == "报案已受理"
            assert number in live["body"]
            assert arrived < ARRIVAL_SECONDS

            # Exactly once on A; nothing for the other customer on B.
            more_a, on_b = await asyncio.gather(
                messages_within(ws_a, 1.0), messages_within(ws_b, 1.0)
            )
            assert more_a == [], more_a
            assert on_b == [], on_b

            # The relay commits after publishing: wait for it, then the inbox holds one entry,
            # which process B reads from the shared database.
            deadline = time.monotonic() + ARRIVAL_SECONDS
            while (await OutboxEvent.get(id=event.id)).published_at is None:
                assert time.monotonic() < deadline, "the worker never marked the event published"
                await asyncio.sleep(0.05)
            assert await Notification.filter(event_id=event.event_id).count() == 1
            assert (
                await Notification.filter(customer_id=watcher.id, kind="claim.reported").count()
                == 1
            )
            assert await Notification.filter(customer_id=other.id).count() == 0
            unread = await gql(client_b, "{ unreadNotificationCount }", token=watcher_token)
            assert unread["data"]["unreadNotificationCount"] == 1

            await ws_a.send_json({"id": "s", "type": "complete"})
            await ws_b.send_json({"id": "s", "type": "complete"})
        for name, process in processes.items():
            assert process.poll() is None, f"{name} died:\n{log_tail(tmp_path, name)}"
