"""The S3 backend against a real S3 API server (moto, on 127.0.0.1), and our SigV4 against
botocore's: same request, same instant, same signature."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from PIL import Image

from storage.base import (
    InvalidKeyError,
    ObjectNotFoundError,
    StorageRefusedError,
    StorageUnavailableError,
)
from storage.images import Purpose, ingest
from storage.s3 import S3Storage, SigV4Signer
from tests.fakes.server import refused_url
from tests.storage import samples
from tests.storage.conftest import (
    MOTO_KEY_ID,
    MOTO_SECRET,
    Clock,
    boto3_s3,
    leftovers,
    make_s3,
)
from tests.storage.samples import chunked

KEY = "claims/6f1c0d1e/0b6f4a2c.jpg"
FIXED = datetime(2025, 6, 15, 8, 30, 0, tzinfo=UTC)


async def _read(storage: S3Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in await storage.get(key)])


async def test_put_get_exists_delete(s3_storage: S3Storage, moto_endpoint: str) -> None:
    data = os.urandom(300_000)
    await s3_storage.put(KEY, chunked(data), "image/jpeg")
    assert await s3_storage.exists(KEY)
    stream = await s3_storage.get(KEY)
    assert stream.size == len(data)
    assert b"".join([chunk async for chunk in stream]) == data
    # What we stored is what botocore reads, with the type we gave.
    head = boto3_s3(moto_endpoint).head_object(Bucket=s3_storage.bucket, Key=KEY)
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == len(data)

    await s3_storage.delete(KEY)
    assert not await s3_storage.exists(KEY)
    await s3_storage.delete(KEY)  # deleting again is fine
    with pytest.raises(ObjectNotFoundError):
        await s3_storage.get(KEY)


async def test_reads_what_botocore_wrote(s3_storage: S3Storage, moto_endpoint: str) -> None:
    boto3_s3(moto_endpoint).put_object(Bucket=s3_storage.bucket, Key=KEY, Body=b"from boto3")
    assert await _read(s3_storage, KEY) == b"from boto3"


async def test_big_files_go_up_as_multipart(
    http_client: httpx.AsyncClient, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    part = 5 * 1024 * 1024
    storage = make_s3(
        http_client,
        moto_endpoint,
        bucket,
        multipart_threshold=part,
        part_size=part,
        temp_dir=tmp_path,
    )
    data = os.urandom(2 * part + 12_345)
    await storage.put(KEY, chunked(data), "application/pdf")
    assert await _read(storage, KEY) == data
    head = boto3_s3(moto_endpoint).head_object(Bucket=bucket, Key=KEY)
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert head["ContentType"] == "application/pdf"
    assert leftovers(tmp_path) == []  # the spool file is gone


async def test_a_failed_put_stores_nothing(s3_storage: S3Storage, tmp_path: Path) -> None:
    async def broken() -> Any:
        yield b"half a photo"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await s3_storage.put(KEY, broken(), "image/jpeg")
    assert not await s3_storage.exists(KEY)
    assert leftovers(tmp_path) == []


async def test_keys_are_checked(s3_storage: S3Storage) -> None:
    for key in ("../x.jpg", "/x.jpg", "a//b.jpg", ""):
        with pytest.raises(InvalidKeyError):
            await s3_storage.put(key, chunked(b"x"), "image/jpeg")
        with pytest.raises(InvalidKeyError):
            s3_storage.signed_url(key, expires_in=60)


# -- signatures --------------------------------------------------------------------------


async def test_moto_accepts_our_signatures_and_refuses_a_wrong_secret(
    http_client: httpx.AsyncClient,
    moto_endpoint: str,
    bucket: str,
    tmp_path: Path,
    iam_keys: tuple[str, str],
    moto_checks_signatures: None,
) -> None:
    key_id, secret = iam_keys
    part = 5 * 1024 * 1024
    storage = make_s3(
        http_client,
        moto_endpoint,
        bucket,
        access_key_id=key_id,
        secret_access_key=secret,
        multipart_threshold=part,
        part_size=part,
        temp_dir=tmp_path,
    )
    await storage.put(KEY, chunked(b"signed"), "image/jpeg")  # PUT
    assert await storage.exists(KEY)  # HEAD
    assert await _read(storage, KEY) == b"signed"  # GET
    big = os.urandom(part + 1)
    await storage.put("claims/x/big.pdf", chunked(big), "application/pdf")  # multipart
    assert await _read(storage, "claims/x/big.pdf") == big
    await storage.delete(KEY)  # DELETE
    assert not await storage.exists(KEY)

    forged = make_s3(
        http_client, moto_endpoint, bucket, access_key_id=key_id, secret_access_key="wrong"
    )
    with pytest.raises(StorageRefusedError, match="SignatureDoesNotMatch"):
        await forged.put(KEY, chunked(b"forged"), "image/jpeg")
    with pytest.raises(StorageRefusedError):
        await forged.get("claims/x/big.pdf")


def _fixed_botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda *a, **k: FIXED.replace(tzinfo=None)
    )


async def test_authorization_header_is_what_botocore_computes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Capture the request S3Storage sends and let botocore sign the same request at the
    same instant: the Authorization headers must be identical, byte for byte."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    sent: list[httpx.Request] = []

    async def capture(request: httpx.Request) -> httpx.Response:
        await request.aread()
        sent.append(request)
        return httpx.Response(200, headers={"content-length": "0"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(capture)) as client:
        storage = S3Storage(
            client,
            endpoint_url="https://oss.example.cn:9443/s3",
            bucket="anxin-claims",
            region="cn-north-1",
            access_key_id=MOTO_KEY_ID,
            secret_access_key=MOTO_SECRET,
            clock=Clock(FIXED.timestamp()),
        )
        await storage.put("claims/a-b_c/x.y_Z-9.jpg", chunked(b"photo bytes"), "image/jpeg")
        await storage.exists("claims/a/b.jpg")
        await storage.delete("claims/a/b.jpg")

    _fixed_botocore_clock(monkeypatch)
    signer = S3SigV4Auth(Credentials(MOTO_KEY_ID, MOTO_SECRET), "s3", "cn-north-1")
    assert [r.method for r in sent] == ["PUT", "HEAD", "DELETE"]
    for request in sent:
        assert request.url.host == "oss.example.cn"
        signed = {
            name: request.headers[name]
            for name in ("content-type", "x-amz-content-sha256", "x-amz-meta-sha256")
            if name in request.headers
        }
        theirs = AWSRequest(
            method=request.method, url=str(request.url), headers=signed, data=request.content
        )
        signer.add_auth(theirs)
        assert request.headers["x-amz-date"] == "20250615T083000Z"
        assert (
            request.headers["x-amz-content-sha256"] == hashlib.sha256(request.content).hexdigest()
        )
        assert request.headers["authorization"] == theirs.headers["Authorization"]


def test_presigned_url_is_what_botocore_presigns(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    client = httpx.AsyncClient()  # never used to send
    storage = S3Storage(
        client,
        endpoint_url="http://127.0.0.1:9000",
        bucket="anxin-claims",
        region="cn-north-1",
        access_key_id=MOTO_KEY_ID,
        secret_access_key=MOTO_SECRET,
        clock=Clock(FIXED.timestamp()),
    )
    ours = storage.signed_url(KEY, expires_in=900, filename="定损照片.jpg")

    _fixed_botocore_clock(monkeypatch)
    query = dict(parse_qsl(urlsplit(ours).query))
    theirs = AWSRequest(
        method="GET",
        url=f"http://127.0.0.1:9000/anxin-claims/{KEY}",
        params={"response-content-disposition": query["response-content-disposition"]},
    )
    S3SigV4QueryAuth(Credentials(MOTO_KEY_ID, MOTO_SECRET), "s3", "cn-north-1", 900).add_auth(
        theirs
    )
    assert urlsplit(ours).path == urlsplit(theirs.url).path
    assert query == dict(parse_qsl(urlsplit(theirs.url).query))
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Date"] == "20250615T083000Z"
    assert query["X-Amz-SignedHeaders"] == "host"


def test_signer_matches_the_aws_documentation_example() -> None:
    """AWS's published GET Object example (SigV4 for S3, "Example: GET Object")."""
    signer = SigV4Signer(
        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"
    )
    empty = hashlib.sha256(b"").hexdigest()
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": empty,
        "x-amz-date": "20130524T000000Z",
    }
    signature = signer.signature("GET", "/test.txt", "", headers, empty, "20130524T000000Z")
    assert signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


async def test_presigned_url_works_with_a_plain_get(
    s3_storage: S3Storage, http_client: httpx.AsyncClient
) -> None:
    await s3_storage.put(KEY, chunked(b"jpeg bytes"), "image/jpeg")
    url = s3_storage.signed_url(KEY, expires_in=300, filename="照片.jpg")
    response = await http_client.get(url)  # no credentials, no headers: a browser's GET
    assert response.status_code == 200
    assert response.content == b"jpeg bytes"
    assert response.headers["content-type"] == "image/jpeg"
    assert "filename*=UTF-8''%E7%85%A7%E7%89%87.jpg" in response.headers["content-disposition"]
    with pytest.raises(ValueError):
        s3_storage.signed_url(KEY, expires_in=8 * 86_400)  # S3's limit is 7 days


async def test_an_unreachable_endpoint_is_unavailable(http_client: httpx.AsyncClient) -> None:
    with refused_url() as url:
        storage = make_s3(http_client, url, "anxin-claims")
        with pytest.raises(StorageUnavailableError):
            await storage.exists(KEY)
        with pytest.raises(StorageUnavailableError):
            await storage.put(KEY, chunked(b"x"), "image/jpeg")


async def test_a_missing_bucket_is_refused_not_missing(
    http_client: httpx.AsyncClient, moto_endpoint: str
) -> None:
    storage = make_s3(http_client, moto_endpoint, "no-such-bucket-anxin")
    with pytest.raises(StorageRefusedError, match="NoSuchBucket"):
        await storage.put(KEY, chunked(b"x"), "image/jpeg")


async def test_the_pipeline_stores_into_s3_and_the_presigned_url_serves_clean_jpeg(
    s3_storage: S3Storage, http_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    stored = await ingest(
        chunked(samples.heic(samples.photo(21, (800, 600)))),
        purpose=Purpose.PHOTO,
        max_bytes=10 * 1024 * 1024,
        max_pixels=40_000_000,
        storage=s3_storage,
        key_prefix="claims/s3-e2e",
        temp_dir=work,
    )
    assert stored.thumbnail_key is not None
    assert await s3_storage.exists(stored.key) and await s3_storage.exists(stored.thumbnail_key)
    response = await http_client.get(s3_storage.signed_url(stored.key, expires_in=60))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(response.content).hexdigest() == stored.sha256
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and len(image.getexif()) == 0 and "exif" not in image.info
    assert leftovers(work) == []


async def test_a_stream_closed_early_returns_its_connection(s3_storage: S3Storage) -> None:
    data = os.urandom(1_000_000)
    await s3_storage.put(KEY, chunked(data), "image/jpeg")
    for _ in range(3):  # the pool would run dry if closed streams kept their connection
        stream = await s3_storage.get(KEY)
        first = await stream.__anext__()
        assert first == data[: len(first)] and len(first) > 0
        await stream.aclose()
    assert await s3_storage.exists(KEY)


async def test_presigned_pdfs_download_and_photos_show_inline(
    s3_storage: S3Storage, http_client: httpx.AsyncClient
) -> None:
    await s3_storage.put("claims/x/a.pdf", chunked(samples.pdf()), "application/pdf")
    await s3_storage.put(KEY, chunked(b"jpeg"), "image/jpeg")
    pdf = await http_client.get(s3_storage.signed_url("claims/x/a.pdf", expires_in=60))
    assert pdf.headers["content-disposition"] == "attachment"
    assert pdf.headers["content-type"] == "application/pdf"
    photo = await http_client.get(s3_storage.signed_url(KEY, expires_in=60))
    assert photo.headers["content-disposition"] == "inline"
