"""Where a WebSocket flood's memory goes (issue 21): is per-connection state still
referenced after the connections close, or is the memory free inside the allocator?

One process: uvicorn serving the app (SQLite in a temporary folder, init timeout 3 s)
and ``--connections`` never-initialised WebSocket clients. The server closes them 4408,
the clients close too, then ``gc.collect()``: RSS, asyncio tasks and the object types
that grew by more than 50 instances over the baseline; then ``malloc_trim(0)`` and RSS
again. RSS that a trim returns was free in glibc's heap (not ours); object types that
stay grown are state still referenced (ours).

    PYTHONPATH=$PWD .venv/bin/python bench/ws_memory.py [--connections 5000]

Measured (2 cores, loaded): 176 MB → 436 MB with 5,000 open → 427 MB after close and
gc, no type grown → 212 MB after the trim.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import tempfile
from collections import Counter
from pathlib import Path

from _harness import free_port


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def object_types() -> Counter[str]:
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


async def measure(connections: int) -> None:
    import uvicorn
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.typing import Subprotocol

    from api.app import create_app
    from api.header_timeout import header_timeout_protocol
    from api.settings import Settings
    from models.database import migrate_database

    url = f"sqlite://{tempfile.mkdtemp(prefix='anxin-ws-memory-')}/bench.sqlite3"
    await migrate_database(url)
    settings = Settings(
        env="development",
        database_url=url,
        complaint_classifier_warm_up=False,
        websocket_init_timeout_seconds=3,
        websocket_max_connections=connections * 2,
        websocket_max_connections_per_client=connections * 2,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            http=header_timeout_protocol(10.0),
        )
    )
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if serving.done():
                serving.result()  # a start-up failure
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.1)
    opening = asyncio.Semaphore(200)

    async def one() -> ClientConnection | None:
        async with opening:
            with contextlib.suppress(Exception):
                return await connect(
                    f"ws://127.0.0.1:{port}/graphql",
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    proxy=None,
                    open_timeout=30,
                    ping_interval=None,
                )
            return None

    async def flood(count: int) -> list[ClientConnection]:
        return [ws for ws in await asyncio.gather(*(one() for _ in range(count))) if ws]

    await asyncio.gather(*(ws.close() for ws in await flood(50)))  # warm-up
    await asyncio.sleep(4)
    gc.collect()
    before, baseline = rss_mb(), object_types()
    print(f"before: RSS {before:.1f} MB, {len(asyncio.all_tasks())} tasks")
    held = await flood(connections)
    print(f"{len(held)} open: RSS {rss_mb():.1f} MB, {len(asyncio.all_tasks())} tasks")
    await asyncio.sleep(settings.websocket_init_timeout_seconds + 2)
    print(f"closed by the server: {dict(Counter(ws.close_code for ws in held))}")
    await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
    del held
    await asyncio.sleep(2)
    gc.collect()
    after = rss_mb()
    print(
        f"closed and collected: RSS {after:.1f} MB ({after - before:+.1f}), "
        f"{len(asyncio.all_tasks())} tasks"
    )
    now = object_types()
    grown = sorted(((n - baseline[k], k) for k, n in now.items() if n - baseline[k] > 50))
    for count, name in reversed(grown[-25:]):
        print(f"  +{count:7d} {name}")
    if not grown:
        print("  no object type grew by more than 50 instances")
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    trimmed = rss_mb()
    print(f"after malloc_trim(0): RSS {trimmed:.1f} MB ({trimmed - before:+.1f})")
    server.should_exit = True
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    asyncio.run(measure(parser.parse_args().connections))


if __name__ == "__main__":
    main()
