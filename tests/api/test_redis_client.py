"""The processes' Redis client retries a broken connection once and never a timeout.

Found (issue 19): a client built the way redis-py's constructor defaults are (ten
retries, backing off up to 1 s) spent ~3.6 s per call while Redis was down; built by
``from_url`` it did not retry at all (not even the reconnect after a Redis restart).
Counted here by connection attempts, never by time."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError, TimeoutError

from api.services import connect_redis


async def attempts_of_one_call(server_says: str) -> int:
    attempts = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        if server_says == "hang":
            await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = connect_redis(
        f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1, socket_timeout=0.2
    )
    try:
        with pytest.raises(TimeoutError if server_says == "hang" else ConnectionError):
            await client.get("key")
    finally:
        await client.aclose()
        server.close()
    return attempts


async def test_a_broken_connection_is_retried_once() -> None:
    assert await attempts_of_one_call("close") == 2


async def test_a_timeout_is_not_retried() -> None:
    assert await attempts_of_one_call("hang") == 1
