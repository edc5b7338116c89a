"""The first complaint of a process, with and without the classifier warm-up.

Each mode runs in a fresh child process (the dictionary is loaded once per process):
the app starts on a migrated SQLite file, ``/readyz`` is asked at once, then (warm-up
on) the bench waits until the background load is done, as a process does between its
start and its first complaint, and times the first ``fileComplaint`` over ASGI, then a
second one. Prints milliseconds.

    python bench/complaint_warm_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE = """mutation($input: FileComplaintInput!) { fileComplaint(input: $input) {
  changed complaint { contentClass } } }"""


async def child(warm_up: bool) -> dict[str, float]:
    import httpx
    from asgi_lifespan import LifespanManager

    from api.app import create_app
    from api.settings import Settings
    from models.database import migrate_database
    from tests.factories import customer_token, make_customer
    from workflows.complaints import classify

    folder = Path(tempfile.mkdtemp())
    url = f"sqlite://{folder / 'bench.sqlite3'}"
    await migrate_database(url)
    settings = Settings(
        database_url=url,
        storage_root=folder / "files",
        background_jobs=False,
        complaint_classifier_warm_up=warm_up,
    )
    app = create_app(settings)
    started = time.perf_counter()
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            ready = await client.get("/readyz")
            ready_ms = (time.perf_counter() - started) * 1000
            assert ready.status_code == 200
            services = app.state.services
            token = await customer_token(services, await make_customer(services))
            if warm_up:  # the process's idle start: wait for the background load to end
                await asyncio.to_thread(classify.warm_up)
            timings = []
            for text in ("理赔审核太慢了", "客服电话一直没人接"):
                begin = time.perf_counter()
                response = await client.post(
                    "/graphql",
                    json={"query": FILE, "variables": {"input": {"channel": "APP", "text": text}}},
                    headers={"authorization": f"Bearer {token}"},
                )
                timings.append((time.perf_counter() - begin) * 1000)
                assert response.json()["data"]["fileComplaint"]["changed"], response.text
    return {"ready_ms": ready_ms, "first_ms": timings[0], "second_ms": timings[1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["on", "off"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child == "on"))))
        return
    for mode in ("off", "on"):
        for run in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"warm-up {mode:3} run {run + 1}: ready {result['ready_ms']:7.1f} ms, "
                f"first fileComplaint {result['first_ms']:7.1f} ms, "
                f"second {result['second_ms']:6.1f} ms"
            )


if __name__ == "__main__":
    main()
