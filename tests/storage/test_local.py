"""The local folder backend and its signed ``/files`` endpoint."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from storage.base import InvalidKeyError, ObjectNotFoundError
from storage.local import LocalStorage, file_endpoint
from tests.fakes.server import serve
from tests.storage.conftest import Clock, stored_files
from tests.storage.samples import chunked, encode, pdf, photo

KEY = "claims/6f1c0d1e/0b6f4a2c.jpg"
BAD_KEYS = [
    "",
    "../etc/passwd",
    "claims/../../x.jpg",
    "/etc/passwd",
    "claims//x.jpg",
    "claims/./x.jpg",
    "claims/.tmp-abc",
    ".hidden",
    "claims\\x.jpg",
    "claims/x.jpg\n",
    "claims/文件.jpg",
    "claims/x.jpg?a=b",
    "claims/",
]


async def test_put_get_exists_delete(local_storage: LocalStorage) -> None:
    data = bytes(range(256)) * 1000  # 256 kB: several read chunks
    await local_storage.put(KEY, chunked(data, 10_000), "image/jpeg")
    assert await local_storage.exists(KEY)
    stream = await local_storage.get(KEY)
    assert stream.size == len(data)
    chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == data and len(chunks) > 1
    await local_storage.delete(KEY)
    assert not await local_storage.exists(KEY)
    await local_storage.delete(KEY)  # deleting again is fine
    with pytest.raises(ObjectNotFoundError):
        await local_storage.get(KEY)


async def test_put_replaces_atomically_and_a_failed_put_leaves_nothing(
    local_storage: LocalStorage,
) -> None:
    await local_storage.put(KEY, chunked(b"old"), "image/jpeg")

    async def broken() -> AsyncIterator[bytes]:
        yield b"new bytes that never complete"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await local_storage.put(KEY, broken(), "image/jpeg")
    assert b"".join([c async for c in await local_storage.get(KEY)]) == b"old"
    # No half-written file and no temp file left beside it.
    assert stored_files(local_storage.root) == [KEY]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_keys_that_are_not_plain_relative_paths_are_refused(
    local_storage: LocalStorage, key: str
) -> None:
    with pytest.raises(InvalidKeyError):
        await local_storage.put(key, chunked(b"x"), "image/jpeg")
    with pytest.raises(InvalidKeyError):
        await local_storage.get(key)
    with pytest.raises(InvalidKeyError):
        local_storage.signed_url(key, expires_in=60)
    assert not local_storage.root.exists() or stored_files(local_storage.root) == []


def test_a_short_signing_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        LocalStorage(tmp_path, url_prefix="/files", signing_key=b"short")


def _parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def test_signed_url_verifies_until_it_expires(local_storage: LocalStorage, clock: Clock) -> None:
    url = local_storage.signed_url(KEY, expires_in=300)
    path, query = _parts(url)
    assert path == f"/files/{KEY}"
    assert set(query) == {"expires", "signature"}
    assert int(query["expires"]) == int(clock.now) + 300
    assert len(query["signature"]) == 64  # HMAC-SHA256, hex

    assert local_storage.verify(KEY, query["expires"], query["signature"])
    clock.now += 299
    assert local_storage.verify(KEY, query["expires"], query["signature"])
    clock.now += 1
    assert not local_storage.verify(KEY, query["expires"], query["signature"])


def test_tampering_with_any_part_breaks_the_signature(local_storage: LocalStorage) -> None:
    _, query = _parts(local_storage.signed_url(KEY, expires_in=300, filename="定损照片.jpg"))
    expires, signature, filename = query["expires"], query["signature"], query["filename"]
    assert local_storage.verify(KEY, expires, signature, filename=filename)
    other_key = "claims/6f1c0d1e/ffffffff.jpg"
    assert not local_storage.verify(other_key, expires, signature, filename=filename)
    assert not local_storage.verify(KEY, str(int(expires) + 3600), signature, filename=filename)
    assert not local_storage.verify(KEY, expires, signature, filename="evil.html")
    assert not local_storage.verify(KEY, expires, signature)  # filename dropped
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert not local_storage.verify(KEY, expires, flipped, filename=filename)
    assert not local_storage.verify(KEY, expires, "", filename=filename)
    assert not local_storage.verify(KEY, "soon", signature, filename=filename)
    assert not local_storage.verify(KEY, expires, "签名", filename=filename)  # non-ASCII


def test_lifetimes_are_short(local_storage: LocalStorage) -> None:
    for bad in (0, -5, 8 * 86_400):
        with pytest.raises(ValueError):
            local_storage.signed_url(KEY, expires_in=bad)


# -- the endpoint ------------------------------------------------------------------------


async def test_endpoint_streams_a_photo_inline_with_safe_headers(
    local_storage: LocalStorage, files_client: httpx.AsyncClient, clock: Clock
) -> None:
    data = encode(photo(1), "JPEG")
    await local_storage.put(KEY, chunked(data), "image/jpeg")
    url = local_storage.signed_url(KEY, expires_in=600)
    clock.now += 100
    response = await files_client.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["cache-control"] == "private, max-age=500"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["referrer-policy"] == "no-referrer"

    head = await files_client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))


async def test_endpoint_serves_pdfs_as_downloads_with_the_signed_name(
    local_storage: LocalStorage, files_client: httpx.AsyncClient
) -> None:
    key = "claims/6f1c0d1e/9a8b7c6d.pdf"
    await local_storage.put(key, chunked(pdf()), "application/pdf")
    response = await files_client.get(
        local_storage.signed_url(key, expires_in=60, filename='诊断证明"1".pdf')
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"_____1_.pdf\"; filename*=UTF-8''"
        "%E8%AF%8A%E6%96%AD%E8%AF%81%E6%98%8E%221%22.pdf"
    )


async def test_endpoint_refuses_bad_or_expired_signatures_before_looking_at_the_file(
    local_storage: LocalStorage, files_client: httpx.AsyncClient, clock: Clock
) -> None:
    await local_storage.put(KEY, chunked(b"secret photo"), "image/jpeg")
    good = local_storage.signed_url(KEY, expires_in=60)
    path, query = _parts(good)
    missing = "claims/6f1c0d1e/00000000.jpg"
    attempts = [
        f"/files/{KEY}",  # no signature at all: the guessable path
        f"{path}?expires={query['expires']}&signature={'0' * 64}",
        f"/files/{missing}?expires={query['expires']}&signature={query['signature']}",
        # httpx would resolve a literal ../ itself; encoded dots reach the endpoint as ..
        f"/files/claims/%2e%2e/%2e%2e/etc/passwd?expires={query['expires']}&signature=x",
    ]
    bodies = []
    for url in attempts:
        response = await files_client.get(url)
        assert response.status_code == 403, url
        assert response.headers["cache-control"] == "no-store"
        bodies.append(response.json())
    clock.now += 61
    expired = await files_client.get(good)
    assert expired.status_code == 403
    # One answer for all: nothing tells a missing key from a wrong signature.
    assert all(body == expired.json() for body in bodies)
    assert expired.json()["error"]["code"] == "FORBIDDEN"


async def test_endpoint_answers_404_only_behind_a_valid_signature(
    local_storage: LocalStorage, files_client: httpx.AsyncClient
) -> None:
    missing = "claims/6f1c0d1e/00000000.jpg"
    response = await files_client.get(local_storage.signed_url(missing, expires_in=60))
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "NOT_FOUND"


async def test_endpoint_over_a_real_socket_streams_big_files_and_answers_head(
    local_storage: LocalStorage,
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    await local_storage.put(KEY, chunked(data), "image/jpeg")
    app = Starlette(routes=[Route("/files/{key:path}", file_endpoint(local_storage))])
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        url = local_storage.signed_url(KEY, expires_in=60)
        async with client.stream("GET", url) as response:
            assert response.status_code == 200
            received = [chunk async for chunk in response.aiter_raw()]
        assert b"".join(received) == data
        head = await client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(data))
        assert (await client.get(f"/files/{KEY}")).status_code == 403
