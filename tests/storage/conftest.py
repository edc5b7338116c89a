"""Storage fixtures: a local folder with a settable clock, and a real S3 API server (moto's
server mode, in a thread, on 127.0.0.1) with a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from storage.local import LocalStorage, file_endpoint
from storage.s3 import S3Storage

SIGNING_KEY = b"test-file-signing-key-of-32-bytes!"
REGION = "us-east-1"
MOTO_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
MOTO_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_pillow_limit() -> Iterator[None]:
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def local_storage(tmp_path: Path, clock: Clock) -> LocalStorage:
    return LocalStorage(
        tmp_path / "files", url_prefix="/files", signing_key=SIGNING_KEY, clock=clock
    )


@pytest.fixture
async def files_client(local_storage: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's ``GET /files/{key}`` endpoint over ``local_storage``, alone."""
    app = Starlette(routes=[Route("/files/{key:path}", file_endpoint(local_storage))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """The pipeline's temp folder: empty again after every ingest, whatever happened."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def stored_files(root: Path) -> list[str]:
    """Every file under ``root`` (none if it was never created)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def leftovers(folder: Path) -> list[str]:
    """What is left in a temp folder: must be nothing after any upload."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def boto3_s3(endpoint: str, key_id: str = MOTO_KEY_ID, secret: str = MOTO_SECRET) -> Any:
    """botocore's own client: sets up buckets and reads back what we wrote."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"anxin-test-{uuid.uuid4().hex[:12]}"
    boto3_s3(moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def make_s3(client: httpx.AsyncClient, endpoint: str, bucket: str, **overrides: Any) -> S3Storage:
    values: dict[str, Any] = {
        "endpoint_url": endpoint,
        "bucket": bucket,
        "region": REGION,
        "access_key_id": MOTO_KEY_ID,
        "secret_access_key": MOTO_SECRET,
    }
    values.update(overrides)
    return S3Storage(client, **values)


@pytest.fixture
def s3_storage(
    http_client: httpx.AsyncClient, moto_endpoint: str, bucket: str, tmp_path: Path
) -> S3Storage:
    return make_s3(http_client, moto_endpoint, bucket, temp_dir=tmp_path)


@pytest.fixture
def iam_keys(moto_endpoint: str) -> tuple[str, str]:
    """A real IAM user with an access key, so that moto can check signatures."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=MOTO_KEY_ID,
        aws_secret_access_key=MOTO_SECRET,
    )
    name = f"anxin-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="s3",
        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Action":"s3:*","Resource":"*"}]}',
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture
def moto_checks_signatures(moto_endpoint: str, iam_keys: tuple[str, str]) -> Iterator[None]:
    """Switch moto's request authentication on (it recomputes SigV4 with botocore)."""
    httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        yield
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()
