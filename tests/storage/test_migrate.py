"""``anxin migrate-storage``: the local folder's objects copied into S3 (moto, on
127.0.0.1) under the same keys, verified, idempotent, resumable, never overwriting, local
files kept unless asked; and a document stored before the switch still opens afterwards."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from PIL import Image
from pydantic import SecretStr

import api.cli
from api.app import create_app
from api.cli import main
from api.settings import Settings, StorageBackend
from storage.local import LocalStorage
from storage.migrate import Outcome, migrate_to_s3
from storage.s3 import S3Storage
from tests.claims_helpers import auto_policy, loss_input, upload
from tests.factories import customer_token, make_customer
from tests.fakes.server import refused_url
from tests.graphql import gql
from tests.storage import samples
from tests.storage.conftest import MOTO_KEY_ID, MOTO_SECRET, REGION, boto3_s3, make_s3
from tests.storage.samples import chunked

OBJECTS = {
    "claims/6f1c0d1e/0b6f4a2c.jpg": samples.encode(samples.photo(1, (400, 300)), "JPEG"),
    "claims/6f1c0d1e/0b6f4a2c-thumb.jpg": samples.encode(samples.photo(1, (40, 30)), "JPEG"),
    "claims/6f1c0d1e/9a8b7c6d.pdf": samples.pdf(),
    "exports/surveys/NPS_20250101-20250131.csv": "题目,得分\n满意度,9\n".encode(),
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def filled(local_storage: LocalStorage) -> LocalStorage:
    """A local folder as a running gateway leaves it: objects, a temp file of an upload
    in flight, and a stray file no gateway wrote."""
    for key, data in OBJECTS.items():
        await local_storage.put(key, chunked(data), "application/octet-stream")
    (local_storage.root / "claims" / "6f1c0d1e" / ".tmp-0123abcd").write_bytes(b"half")
    (local_storage.root / "claims" / "说明.txt").write_text("not ours")
    return local_storage


def in_bucket(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto3_s3(endpoint)
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed
    }


async def test_copies_every_object_verified_and_a_second_run_copies_nothing(
    filled: LocalStorage, s3_storage: S3Storage, moto_endpoint: str, bucket: str
) -> None:
    report = await migrate_to_s3(filled.root, s3_storage)
    assert report.ok, report.problems
    assert report.copied == len(OBJECTS) and report.already_there == 0
    assert report.copied_bytes == sum(len(data) for data in OBJECTS.values())
    assert report.skipped == ["claims/说明.txt"]  # the temp file is not even mentioned
    assert in_bucket(moto_endpoint, bucket) == OBJECTS
    head = boto3_s3(moto_endpoint).head_object(Bucket=bucket, Key="claims/6f1c0d1e/9a8b7c6d.pdf")
    assert head["ContentType"] == "application/pdf"  # served by type, as the app stores
    assert head["Metadata"] == {"sha256": sha(OBJECTS["claims/6f1c0d1e/9a8b7c6d.pdf"])}

    again = await migrate_to_s3(filled.root, s3_storage)
    assert (again.copied, again.already_there, again.ok) == (0, len(OBJECTS), True)
    assert report.removed_local == again.removed_local == 0
    for key, data in OBJECTS.items():  # local files stay unless asked
        assert (filled.root / key).read_bytes() == data


async def test_dry_run_sends_nothing(
    filled: LocalStorage, s3_storage: S3Storage, moto_endpoint: str, bucket: str
) -> None:
    report = await migrate_to_s3(filled.root, s3_storage, dry_run=True, delete_local=True)
    assert (report.would_copy, report.copied, report.removed_local) == (len(OBJECTS), 0, 0)
    assert in_bucket(moto_endpoint, bucket) == {}
    assert all((filled.root / key).exists() for key in OBJECTS)


async def test_resumes_checks_what_is_there_and_never_overwrites(
    filled: LocalStorage, s3_storage: S3Storage, moto_endpoint: str, bucket: str
) -> None:
    """A run interrupted earlier (or another tool) left some objects in the bucket, without
    our SHA-256: they are read back and compared. One key holds other bytes: a conflict,
    left alone on both sides, while the rest goes on."""
    keys = sorted(OBJECTS)
    s3 = boto3_s3(moto_endpoint)
    for key in keys[:2]:
        s3.put_object(Bucket=bucket, Key=key, Body=OBJECTS[key])
    s3.put_object(Bucket=bucket, Key=keys[2], Body=b"something else")

    report = await migrate_to_s3(filled.root, s3_storage, delete_local=True)
    assert (report.copied, report.already_there) == (1, 2)
    assert report.problems == [
        (keys[2], Outcome.CONFLICT, "the bucket holds other bytes under this key")
    ]
    assert not report.ok
    assert report.removed_local == 3  # what is verified in the bucket, nothing else
    assert [key for key in keys if (filled.root / key).exists()] == [keys[2]]
    assert in_bucket(moto_endpoint, bucket)[keys[2]] == b"something else"


class FailingPuts(httpx.AsyncBaseTransport):
    """The network to S3, where every PUT of ``key`` fails (a connection reset)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path.endswith(self.key):
            raise httpx.ConnectError("connection reset", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def flaky_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=FailingPuts("9a8b7c6d.pdf"), timeout=10) as client:
        yield client


async def test_a_failed_copy_is_reported_and_the_next_run_finishes(
    filled: LocalStorage,
    s3_storage: S3Storage,
    flaky_client: httpx.AsyncClient,
    moto_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    flaky = make_s3(flaky_client, moto_endpoint, bucket, temp_dir=tmp_path)
    seen: list[tuple[str, Outcome]] = []
    first = await migrate_to_s3(
        filled.root,
        flaky,
        delete_local=True,
        concurrency=2,
        progress=lambda key, outcome: seen.append((key, outcome)),
    )
    ((key, outcome, why),) = first.problems
    assert (key, outcome) == ("claims/6f1c0d1e/9a8b7c6d.pdf", Outcome.FAILED)
    assert why.startswith("StorageUnavailableError")
    assert first.copied == len(OBJECTS) - 1 and len(seen) == len(OBJECTS)
    assert (filled.root / key).exists()  # not in the bucket: kept

    second = await migrate_to_s3(filled.root, s3_storage, delete_local=True)
    assert (second.copied, second.already_there, second.ok) == (1, 0, True)
    assert in_bucket(moto_endpoint, bucket) == OBJECTS
    assert not any((filled.root / key).exists() for key in OBJECTS)


def _s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, bucket: str, root: Path) -> None:
    for name, value in {
        "ANXIN_STORAGE_ROOT": str(root),
        "ANXIN_S3_ENDPOINT_URL": endpoint,
        "ANXIN_S3_BUCKET": bucket,
        "ANXIN_S3_REGION": REGION,
        "ANXIN_S3_ACCESS_KEY_ID": MOTO_KEY_ID,
        "ANXIN_S3_SECRET_ACCESS_KEY": MOTO_SECRET,
    }.items():
        monkeypatch.setenv(name, value)


def test_the_command_reports_counts_and_exit_codes(
    tmp_path: Path,
    moto_endpoint: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "files"
    (root / "claims" / "a").mkdir(parents=True)
    (root / "claims" / "a" / "b.jpg").write_bytes(b"\xff\xd8\xff photo")
    _s3_env(monkeypatch, moto_endpoint, bucket, root)

    with pytest.raises(SystemExit) as done:
        main(["migrate-storage", "--verbose"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "copied         claims/a/b.jpg" in out
    assert "copied 1 (9 bytes), already in the bucket 0" in out
    assert in_bucket(moto_endpoint, bucket) == {"claims/a/b.jpg": b"\xff\xd8\xff photo"}

    monkeypatch.setattr(api.cli, "PROGRESS_EVERY", 1)
    with pytest.raises(SystemExit) as done:
        main(["migrate-storage", "--delete-local"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "... 1 objects checked" in out  # progress without --verbose
    assert "copied 0 (0 bytes), already in the bucket 1, local files removed 1" in out
    assert not (root / "claims" / "a" / "b.jpg").exists()

    monkeypatch.setenv("ANXIN_S3_BUCKET", "no-such-bucket-anxin")
    with pytest.raises(SystemExit) as done:
        main(["migrate-storage"])
    assert done.value.code == 2
    assert "the bucket is not usable: S3 HEAD (bucket): 404" in capsys.readouterr().err

    with refused_url() as url:
        monkeypatch.setenv("ANXIN_S3_ENDPOINT_URL", url)
        with pytest.raises(SystemExit) as done:
            main(["migrate-storage"])
    assert done.value.code == 2

    monkeypatch.delenv("ANXIN_S3_BUCKET")
    with pytest.raises(SystemExit) as done:
        main(["migrate-storage"])
    assert "set ANXIN_S3_ENDPOINT_URL" in str(done.value.code)


async def test_a_document_stored_before_the_switch_opens_after_it(
    settings: Settings, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    """The gateway on the local folder takes a claim photo; the operator runs the
    migration and switches to S3; the same document (same row, same key) now opens from
    the bucket through the link the API hands out."""
    query = """query Documents($id: ID!) { claim(id: $id) { documents { fileName url } } }"""
    local_app = create_app(settings)
    async with LifespanManager(local_app):
        services = local_app.state.services
        transport = httpx.ASGITransport(app=local_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            holder = await make_customer(services, "张伟")
            policy, _ = await auto_policy(services, holder)
            token = await customer_token(services, holder)
            report = """mutation Report($input: ReportLossInput!) { reportLoss(input: $input) {
              claim { id } errors { code } } }"""
            body = await gql(client, report, {"input": loss_input(policy)}, token=token)
            claim_id = body["data"]["reportLoss"]["claim"]["id"]
            photo = samples.heic(samples.photo(7, (640, 480)))
            answer = await upload(client, token, claim_id, [("D01", "IMG_4032.HEIC", photo)])
            assert answer.json()["data"]["uploadClaimDocuments"]["errors"] == []
            before = await gql(client, query, {"id": claim_id}, token=token)
            local_url = before["data"]["claim"]["documents"][0]["url"]
            stored = (await client.get(local_url)).content

    async with httpx.AsyncClient(timeout=10) as http:
        target = make_s3(http, moto_endpoint, bucket, temp_dir=tmp_path)
        migrated = await migrate_to_s3(settings.storage_root, target)
    assert migrated.ok and migrated.copied == 2  # the photo and its thumbnail

    on_s3 = settings.model_copy(
        update={
            "storage_backend": StorageBackend.S3,
            "s3_endpoint_url": moto_endpoint,
            "s3_bucket": bucket,
            "s3_region": REGION,
            "s3_access_key_id": MOTO_KEY_ID,
            "s3_secret_access_key": SecretStr(MOTO_SECRET),
        }
    )
    s3_app = create_app(on_s3)
    async with LifespanManager(s3_app):
        transport = httpx.ASGITransport(app=s3_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/readyz")).json()["checks"]["storage"] == "ok"
            after = await gql(client, query, {"id": claim_id}, token=token)
    document = after["data"]["claim"]["documents"][0]
    assert document["url"].startswith(moto_endpoint)
    assert document["fileName"] == "IMG_4032.jpg"
    async with httpx.AsyncClient(timeout=10) as browser:
        served = await browser.get(document["url"])
    assert served.status_code == 200 and served.content == stored
    assert Image.open(io.BytesIO(served.content)).format == "JPEG"
    assert 'filename="IMG_4032.jpg"' in served.headers["content-disposition"]
