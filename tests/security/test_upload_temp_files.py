"""Uploaded files that Starlette spooled to disk (parts over 1 MiB) are closed when the
request ends, not whenever the garbage collector gets to the request: an attacker
sending many large uploads would otherwise hold open file descriptors and disk space
well after the answer."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.test_request_size_limits import MULTIPART, multipart_body

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"upload_max_bytes": 2 * 1024 * 1024}


def open_temp_files() -> list[str]:
    """Deleted files this process holds open (Python's TemporaryFile unlinks at once)."""
    fds = Path("/proc/self/fd")
    names = []
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
        except OSError:
            continue
        if target.endswith("(deleted)") or target.startswith("/tmp/#"):
            names.append(target)
    return names


async def test_uploaded_temp_files_are_closed_when_the_request_ends(
    client: httpx.AsyncClient,
) -> None:
    before = open_temp_files()
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            body = multipart_body(1536 * 1024)  # rolls over to disk
            response = await client.post(
                "/graphql", content=body, headers=MULTIPART | {"content-length": str(body.length)}
            )
            assert response.json() == {"data": {"__typename": "Query"}}
        after = open_temp_files()
    finally:
        gc.enable()
    assert len(after) <= len(before), after
