"""A cheap load generator for bench/load.py, run as several child processes so that the
clients are not the bottleneck (issue 21: one httpx process reached 97 % CPU on 2 cores
and could not tell the server's goodput from its own starvation).

Each process reads a job from stdin (JSON) and writes its result to stdout (JSON):

- ``open``: Poisson arrivals at ``rate`` per second for ``seconds`` (its share of the
  total rate). A request is timed from the moment it was *due*, not from when it went
  out, so a late client does not hide the server's latency (no coordinated omission).
  It takes an idle kept-alive connection or opens a new one; a request not answered
  within ``patience`` s of being due is given up and its connection closed, as a user
  who leaves (the server sees the disconnect).
- ``closed``: ``users`` clients, each sending its next request when the last answered.

HTTP/1.1 by hand over asyncio streams (requests pre-encoded, answers read by
``Content-Length``): a few tens of microseconds of CPU per request instead of httpx's
milliseconds. A request is good when it answers 200 with data and without an error
object (``"errors":[{``, top-level or in a payload).

Reported: per finished request (kind, seconds from due, operation), how many were sent
and still waiting at the end, the process's CPU seconds, and how late the sends were
(the generator's own health: a send lag of tens of ms means this process is starved).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Client:
    def __init__(self, host: str, port: int, requests: list[tuple[str, bytes]]) -> None:
        self.host = host
        self.port = port
        self.requests = requests
        self.idle: list[Connection] = []
        self.results: list[tuple[str, float, str]] = []
        self.opened = 0
        self.samples: list[str] = []  # the first few bad answers, for the report

    async def _connection(self) -> tuple[Connection, bool]:
        """An idle kept-alive connection the server has not closed (its keep-alive
        timeout), else a new one; and whether it was reused."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return (reader, writer), True
            writer.close()
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port), False

    async def _exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        (reader, writer), reused = await self._connection()
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                partial = getattr(exc, "partial", b"")
                if not (reused and not partial):
                    raise
                # The server closed the idle connection as we sent (its keep-alive
                # timeout): nothing was answered, so send again on a new one, as HTTP
                # clients do.
                writer.close()
                self.opened += 1
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length, chunked, close = 0, False, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    parts.append(await reader.readexactly(size + 2))
                    if size == 0:
                        break
                body = b"".join(parts)
            else:
                body = await reader.readexactly(length)
        except BaseException:
            writer.close()  # given up (cancelled) or broken: this connection is done
            raise
        if close:
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, body, close

    async def one(self, due: float, patience: float, rng: random.Random) -> None:
        name, request = rng.choice(self.requests)
        left = patience - (time.perf_counter() - due)
        try:
            async with asyncio.timeout(left):
                status, body, _ = await self._exchange(request)
        except TimeoutError:
            self.results.append(("timeout", time.perf_counter() - due, name))
            return
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            if len(self.samples) < 5:
                self.samples.append(f"{name} {exc!r}")
            self.results.append(("error", time.perf_counter() - due, name))
            return
        seconds = time.perf_counter() - due
        if status == 503:
            kind = "shed"
        elif status == 200 and b'"data":{' in body and b'"errors":[{' not in body:
            kind = "good"
        else:
            kind = "error"
        if kind == "error" and len(self.samples) < 5:
            self.samples.append(f"{name} {status} {body[:300].decode(errors='replace')}")
        self.results.append((kind, seconds, name))

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = [(name, request.encode("latin-1")) for name, request in job["requests"]]
    client = Client(job["host"], job["port"], requests)
    rng = random.Random(job["seed"])
    seconds, patience = job["seconds"], job["patience"]
    lags: list[float] = []
    pending: set[asyncio.Task[None]] = set()
    cpu = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    if job["mode"] == "closed":

        async def user() -> None:
            while time.perf_counter() < deadline:
                await client.one(time.perf_counter(), patience, rng)

        await asyncio.gather(*(user() for _ in range(job["users"])))
    else:
        rate = job["rate"]
        due = started
        while True:
            due += rng.expovariate(rate)
            if due >= deadline:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(time.perf_counter() - due)
            task = asyncio.create_task(client.one(due, patience, rng))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(max(deadline - time.perf_counter(), 0))
    elapsed = time.perf_counter() - started
    dropped = len(pending)
    for task in list(pending):
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    client.close()
    lags.sort()
    return {
        "seconds": elapsed,
        "results": client.results,
        "sent": len(lags) if job["mode"] == "open" else len(client.results),
        "dropped": dropped,
        "connections": client.opened,
        "samples": client.samples,
        "cpu": time.process_time() - cpu,
        "lag_p50": lags[len(lags) // 2] if lags else 0.0,
        "lag_p99": lags[int(len(lags) * 0.99)] if lags else 0.0,
    }


def encode(host: str, port: int, token: str, body: dict[str, Any]) -> str:
    """One POST /graphql as it goes on the wire (latin-1 text of the UTF-8 bytes)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"content-type: application/json\r\naccept: application/json\r\n"
        f"authorization: Bearer {token}\r\ncontent-length: {len(payload)}\r\n\r\n"
    )
    return (head.encode() + payload).decode("latin-1")


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = asyncio.run(run(job))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
