"""Online service across API processes (PostgreSQL + Redis): a customer watches their
conversation on process A; the hand-off is asked for there, and an agent on process B
accepts and answers; the worker relays; the customer sees the agent's answer live on A.
Real processes, the real assistant seam (whatever it answers, the customer asks for an
agent with ``requestAgent``)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from httpx_ws import aconnect_ws
from strawberry import relay

from api.services import Services
from models.staff import StaffRole
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.push import test_two_processes as two_processes
from tests.push.test_two_processes import (
    ROOT,
    free_port,
    process_env,
    wait_ready,
    wait_subscribed,
)

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL and TEST_REDIS_URL),
    reason="needs PostgreSQL and Redis: processes share events only through Redis",
)
LIVE = """subscription($id: ID!) { conversationUpdated(conversationId: $id) {
  conversation { status agentName } messages { seq author text } } }"""
ARRIVAL_SECONDS = 10


@contextlib.contextmanager
def processes(commands: dict[str, list[str]], logs: Path) -> Iterator[dict[str, Any]]:
    """``python -m api.cli <args>`` per name, agents at work all day; all stopped after."""
    env = {**process_env(logs / "files"), "ANXIN_AGENT_HOURS": "00:00-24:00"}
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                started[name] = subprocess.Popen(
                    [sys.executable, "-m", "api.cli", *args],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
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


async def test_an_agent_on_one_process_reaches_the_customer_on_another(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three processes start at once here (two API, one worker) on a loaded 2-core machine.
    monkeypatch.setattr(two_processes, "START_SECONDS", 120)
    alice = await make_customer(services)
    token = await customer_token(services, alice)
    agent = await make_staff(StaffRole.AGENT)
    agent_token = await staff_token(services, agent)
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
        started = stack.enter_context(processes(commands, tmp_path))
        await asyncio.gather(
            wait_ready(port_a, started["api-a"], tmp_path, "api-a"),
            wait_ready(port_b, started["api-b"], tmp_path, "api-b"),
        )
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}", timeout=30) as on_a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}", timeout=30) as on_b,
        ):
            started_conversation = await gql(
                on_a,
                "mutation { startConversation(input: {channel: APP}) "
                "{ errors { code } conversation { id } } }",
                token=token,
            )
            conversation_id = started_conversation["data"]["startConversation"]["conversation"][
                "id"
            ]
            async with aconnect_ws("/graphql", on_a, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send_json(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                )
                assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
                payload = {"query": LIVE, "variables": {"id": conversation_id}}
                await ws.send_json({"id": "c", "type": "subscribe", "payload": payload})
                first = await ws.receive_json(timeout=ARRIVAL_SECONDS)
                assert first["payload"]["data"]["conversationUpdated"]["messages"] == []
                raw = relay.GlobalID.from_id(conversation_id).node_id
                await wait_subscribed(observer, [f"conversation:{raw}"])

                asked = await gql(
                    on_a,
                    "mutation($input: ConversationInput!) { requestAgent(input: $input) "
                    "{ errors { code } conversation { status } } }",
                    {"input": {"conversationId": conversation_id}},
                    token=token,
                )
                assert asked["data"]["requestAgent"]["conversation"]["status"] == "WAITING"
                await gql(
                    on_b,
                    "mutation { setAgentPresence(input: {status: AVAILABLE}) { errors { code } } }",
                    token=agent_token,
                )
                accepted = await gql(
                    on_b,
                    "mutation($input: ConversationInput!) { acceptConversation(input: $input) "
                    "{ errors { code } } }",
                    {"input": {"conversationId": conversation_id}},
                    token=agent_token,
                )
                assert accepted["data"]["acceptConversation"]["errors"] == []
                await gql(
                    on_b,
                    "mutation($input: SendAgentMessageInput!) { sendAgentMessage(input: $input) "
                    "{ errors { code } } }",
                    {"input": {"conversationId": conversation_id, "text": "您好，我是人工客服"}},
                    token=agent_token,
                )
                sent = time.monotonic()
                texts: list[str] = []
                while "您好，我是人工客服" not in texts:
                    left = ARRIVAL_SECONDS - (time.monotonic() - sent)
                    assert left > 0, f"not seen on A; saw {texts}"
                    message = await ws.receive_json(timeout=left)
                    assert message["type"] == "next", message
                    update = message["payload"]["data"]["conversationUpdated"]
                    texts += [m["text"] for m in update["messages"] if m["author"] == "AGENT"]
                assert update["conversation"]["status"] == "WITH_AGENT"
                assert update["conversation"]["agentName"] == agent.display_name
        for name, process in started.items():
            assert process.poll() is None, name
