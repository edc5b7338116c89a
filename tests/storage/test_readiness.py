"""``/readyz`` with S3 configured: the whole app on a real S3 API server (moto, on
127.0.0.1) is ready while the bucket answers a signed HEAD, and not ready — 503 with the
reason — when the bucket is missing, the keys are refused, the endpoint is down or
does not answer in time."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import api.routes
from tests.fakes.server import HOST, refused_url
from tests.storage.conftest import MOTO_KEY_ID, MOTO_SECRET, REGION


@contextlib.contextmanager
def silent_url() -> Iterator[str]:
    """A 127.0.0.1 URL that takes connections (the kernel's backlog) and never answers:
    an S3 endpoint that hangs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def s3_case(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "ok"))


@pytest.fixture
def settings_overrides(
    request: pytest.FixtureRequest, s3_case: str, moto_endpoint: str, bucket: str, tmp_path: Any
) -> Iterator[dict[str, Any]]:
    values: dict[str, Any] = {
        "storage_backend": "s3",
        "storage_temp_dir": tmp_path,
        "s3_endpoint_url": moto_endpoint,
        "s3_bucket": bucket,
        "s3_region": REGION,
        "s3_access_key_id": MOTO_KEY_ID,
        "s3_secret_access_key": MOTO_SECRET,
    }
    with contextlib.ExitStack() as stack:
        if s3_case == "missing bucket":
            values["s3_bucket"] = "no-such-bucket-anxin"
        elif s3_case in ("signatures checked", "wrong secret"):
            key_id, secret = request.getfixturevalue("iam_keys")
            request.getfixturevalue("moto_checks_signatures")
            values["s3_access_key_id"] = key_id
            values["s3_secret_access_key"] = secret if s3_case == "signatures checked" else "x"
        elif s3_case == "down":
            values["s3_endpoint_url"] = stack.enter_context(refused_url())
        elif s3_case == "silent":
            values["s3_endpoint_url"] = stack.enter_context(silent_url())
        yield values


async def test_ready_while_the_bucket_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checks"]["storage"] == "ok" and body["status"] == "ok"
    assert "reasons" not in body


@pytest.mark.parametrize("s3_case", ["signatures checked"], indirect=True)
async def test_moto_checks_the_signed_head_and_accepts_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["storage"] == "ok"


@pytest.mark.parametrize(
    ("s3_case", "reason"),
    [
        ("missing bucket", "S3 HEAD (bucket): 404, the bucket does not exist"),
        ("wrong secret", "S3 HEAD (bucket): 403"),
        ("down", "S3 HEAD failed: ConnectError"),
        ("silent", "S3 did not answer within 0.3 s"),
    ],
    indirect=["s3_case"],
)
async def test_not_ready_with_the_reason(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    monkeypatch.setattr(api.routes, "READY_TIMEOUT_SECONDS", 0.3)
    response = await client.get("/readyz")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["storage"] == "unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["loops"] == "ok"
    assert body["reasons"] == {"storage": reason}
    assert MOTO_SECRET not in response.text
