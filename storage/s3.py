"""S3-compatible object storage (AWS S3, MinIO, Ceph RGW, OSS/COS S3 endpoints) over the
shared ``httpx.AsyncClient``, signed with AWS Signature Version 4 written here.

Why not boto3/aiobotocore: boto3 is synchronous, aiobotocore pins botocore and brings its
own HTTP stack, and we need five calls. SigV4 is ~60 lines; tests check it against
botocore's own signer and against a real S3 API server (moto) that verifies signatures.

- Path-style URLs (``{endpoint}/{bucket}/{key}``): work on every S3-compatible server and
  with any bucket name, without wildcard DNS.
- ``put`` spools the stream to a temp file (bounded memory) to learn its length and
  SHA-256, which S3 needs up front (it refuses chunked uploads without the aws-chunked
  encoding); the payload hash is signed, so S3 itself checks the bytes arrived intact.
  Files from ``multipart_threshold`` on go up as a multipart upload, part by part.
  An interrupted multipart upload is aborted; configure the bucket's lifecycle rule
  ``AbortIncompleteMultipartUpload`` for the ones a crashed process leaves behind.
- ``signed_url`` is a pre-signed GET: the browser reads from S3 directly and S3 checks the
  signature and ``X-Amz-Expires``; the gateway is not in the download path.
- ``exists`` needs ``s3:ListBucket`` on the bucket: without it S3 answers 403, not 404,
  for a missing key, and that becomes ``StorageRefusedError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx
from anyio import CancelScope

from storage.base import (
    ObjectNotFoundError,
    StorageRefusedError,
    StorageUnavailableError,
    content_disposition,
    validate_key,
    validate_lifetime,
)
from storage.files import CHUNK_SIZE, FileChunks, remove_quietly, spool

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_ERROR_BODY = 4096
_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
SHA256_META = "x-amz-meta-sha256"  # user metadata: the object's SHA-256, hex


@dataclass(frozen=True)
class ObjectInfo:
    """What a ``HEAD`` says about a stored object."""

    size: int | None
    sha256: str | None  # hex; None for an object not stored by ``put``


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """AWS ``UriEncode``: everything but ``A-Za-z0-9-_.~`` (and ``/`` in paths) as %XX."""
    return quote(value, safe="-_.~/" if keep_slash else "-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in params.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def amz_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class SigV4Signer:
    """Signature Version 4 for one key pair, region and service."""

    access_key_id: str
    secret_access_key: str
    region: str
    service: str = "s3"

    def scope(self, timestamp: str) -> str:
        return f"{timestamp[:8]}/{self.region}/{self.service}/aws4_request"

    def signature(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        payload_hash: str,
        timestamp: str,
    ) -> str:
        """Hex signature of a request; ``path`` and ``query`` exactly as on the wire
        (``query`` already canonical), ``headers`` the ones to sign, host included."""
        canonical_headers, signed = self.canonical_headers(headers)
        canonical_request = "\n".join(
            [method, path, query, canonical_headers, signed, payload_hash]
        )
        string_to_sign = "\n".join(
            [
                ALGORITHM,
                timestamp,
                self.scope(timestamp),
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        return hmac.new(
            self._signing_key(timestamp[:8]), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()

    @staticmethod
    def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
        """(``name:value\\n`` lines, ``;``-joined names): lower-cased, sorted, whitespace
        runs folded."""
        items = sorted(
            (name.lower().strip(), " ".join(value.split())) for name, value in headers.items()
        )
        lines = "".join(f"{name}:{value}\n" for name, value in items)
        return lines, ";".join(name for name, _ in items)

    def authorization(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        payload_hash: str,
        timestamp: str,
    ) -> str:
        signature = self.signature(method, path, query, headers, payload_hash, timestamp)
        _, signed = self.canonical_headers(headers)
        return (
            f"{ALGORITHM} Credential={self.access_key_id}/{self.scope(timestamp)}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )

    def presigned_query(
        self,
        method: str,
        host: str,
        path: str,
        params: Mapping[str, str],
        *,
        expires_in: int,
        timestamp: str,
    ) -> str:
        """The query string of a pre-signed URL (``X-Amz-Signature`` last)."""
        query = {
            **params,
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{self.access_key_id}/{self.scope(timestamp)}",
            "X-Amz-Date": timestamp,
            "X-Amz-Expires": str(expires_in),
            "X-Amz-SignedHeaders": "host",
        }
        canonical = canonical_query(query)
        signature = self.signature(
            method, path, canonical, {"host": host}, UNSIGNED_PAYLOAD, timestamp
        )
        return f"{canonical}&X-Amz-Signature={signature}"

    def _signing_key(self, date: str) -> bytes:
        key = f"AWS4{self.secret_access_key}".encode()
        for part in (date, self.region, self.service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return key


class ResponseChunks:
    """The body of a streamed S3 response; closing it returns the connection."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.aiter_raw(CHUNK_SIZE)  # bytes as stored, no decoding
        length = response.headers.get("content-length")
        self.size = int(length) if length and length.isdigit() else None

    def __aiter__(self) -> ResponseChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except httpx.TransportError as exc:
            await self.aclose()
            raise StorageUnavailableError(f"S3 read failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class S3Storage:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        endpoint_url: str,
        bucket: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        multipart_threshold: int = 64 * 1024 * 1024,
        part_size: int = 16 * 1024 * 1024,
        temp_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 parts are at least 5 MiB")
        url = httpx.URL(endpoint_url)
        self._client = client
        self._scheme = url.scheme
        self._host = url.netloc.decode("ascii")
        self._base_path = url.path.rstrip("/")
        self.bucket = bucket
        self._signer = SigV4Signer(access_key_id, secret_access_key, region)
        self.multipart_threshold = max(multipart_threshold, part_size)
        self.part_size = part_size
        self._temp_dir = temp_dir
        self.clock = clock

    # -- the ObjectStorage protocol ------------------------------------------------------

    async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
        validate_key(key)
        temp_dir = self._temp_dir or Path(tempfile.gettempdir())
        temp = temp_dir / f"anxin-s3-{secrets.token_hex(8)}"
        try:
            spooled = await spool(chunks, temp)
            # The object carries its SHA-256, so ``stat`` can compare it without reading it
            # (a multipart ETag is no digest of the bytes; even a plain one is MD5, or not
            # even that under SSE-KMS).
            headers = {"content-type": content_type, SHA256_META: spooled.sha256}
            if spooled.size >= self.multipart_threshold:
                await self._put_multipart(key, temp, spooled.size, headers)
            else:
                await self._upload("PUT", key, {}, temp, 0, spooled.size, spooled.sha256, headers)
        finally:
            remove_quietly(temp)

    async def get(self, key: str) -> ResponseChunks:
        response = await self._request("GET", key, stream=True)
        return ResponseChunks(response)

    async def delete(self, key: str) -> None:
        await self._request("DELETE", key)

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size and SHA-256 (when it was stored by ``put``) of ``key``, or None if there is
        no such object; one ``HEAD``."""
        try:
            response = await self._request("HEAD", key)
        except ObjectNotFoundError:
            return None
        length = response.headers.get("content-length", "")
        return ObjectInfo(
            size=int(length) if length.isdigit() else None,
            sha256=response.headers.get(SHA256_META),
        )

    async def check(self) -> None:
        """Raise a ``StorageError`` that says why, unless the bucket answers a signed
        ``HEAD`` (HeadBucket: the endpoint is up, the keys and their signature are
        accepted, the bucket exists and we may list it). One small request, no body:
        cheap enough for every readiness probe."""
        try:
            await self._request("HEAD", None)
        except ObjectNotFoundError:
            raise StorageRefusedError("S3 HEAD (bucket): 404, the bucket does not exist") from None

    def signed_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        path = self._path(key)
        # As the local endpoint does: images inline, PDFs as downloads, the signed name.
        params = {"response-content-disposition": content_disposition(key, filename)}
        query = self._signer.presigned_query(
            "GET",
            self._host,
            path,
            params,
            expires_in=validate_lifetime(expires_in),
            timestamp=amz_date(datetime.fromtimestamp(self.clock(), UTC)),
        )
        return f"{self._scheme}://{self._host}{path}?{query}"

    # -- requests ------------------------------------------------------------------------

    def _path(self, key: str | None) -> str:
        path = f"{self._base_path}/{uri_encode(self.bucket)}"
        if key is None:
            return path
        return f"{path}/{uri_encode(validate_key(key), keep_slash=True)}"

    async def _request(
        self,
        method: str,
        key: str | None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        content_length: int | None = None,
        payload_hash: str = EMPTY_SHA256,
        stream: bool = False,
    ) -> httpx.Response:
        """Sign and send; answer the response if 2xx, else raise the matching error."""
        path = self._path(key)
        query = canonical_query(params or {})
        timestamp = amz_date(datetime.fromtimestamp(self.clock(), UTC))
        signed = {
            **(headers or {}),
            "host": self._host,
            "x-amz-content-sha256": payload_hash,
            "x-amz-date": timestamp,
        }
        signed["authorization"] = self._signer.authorization(
            method, path, query, signed, payload_hash, timestamp
        )
        if content_length is not None:
            signed["content-length"] = str(content_length)  # not signed: proxies may re-frame
        url = f"{self._scheme}://{self._host}{path}" + (f"?{query}" if query else "")
        request = self._client.build_request(method, url, headers=signed, content=content)
        try:
            response = await self._client.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise StorageUnavailableError(f"S3 {method} failed: {type(exc).__name__}") from exc
        if response.is_success:
            return response
        await self._raise_for(response, method, key)
        raise AssertionError("unreachable")

    @staticmethod
    async def _raise_for(response: httpx.Response, method: str, key: str | None) -> None:
        body = b""
        try:
            if response.is_stream_consumed:
                body = response.content[:MAX_ERROR_BODY]
            else:  # a streamed response: read no more of an error than we need
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
        except httpx.TransportError:
            pass
        finally:
            await response.aclose()
        named = _xml_text(body, "Code")  # a HEAD's error has no body, so no code
        code = named or str(response.status_code)
        target = key or "(bucket)"
        detail = f"S3 {method} {target}: {response.status_code}" + (f" {named}" if named else "")
        if response.status_code == 404 and code in {"NoSuchKey", "404"}:
            raise ObjectNotFoundError(detail)
        if response.status_code in _RETRYABLE_STATUS:
            raise StorageUnavailableError(detail)
        raise StorageRefusedError(detail)

    async def _upload(
        self,
        method: str,
        key: str,
        params: Mapping[str, str],
        path: Path,
        start: int,
        length: int,
        sha256: str,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        """Send ``length`` bytes of the file at ``path`` from ``start``, streamed."""
        body = await FileChunks.open(path, start=start, length=length)
        try:
            return await self._request(
                method,
                key,
                params=params,
                headers=headers,
                content=body,
                content_length=length,
                payload_hash=sha256,
            )
        finally:
            await body.aclose()

    async def _put_multipart(
        self, key: str, path: Path, size: int, headers: Mapping[str, str]
    ) -> None:
        response = await self._request("POST", key, params={"uploads": ""}, headers=headers)
        upload_id = _xml_text(response.content, "UploadId")
        if not upload_id:
            raise StorageUnavailableError("S3 CreateMultipartUpload answered no UploadId")
        try:
            parts = []
            for number, start in enumerate(range(0, size, self.part_size), start=1):
                length = min(self.part_size, size - start)
                digest = await _sha256_window(path, start, length)
                params = {"partNumber": str(number), "uploadId": upload_id}
                response = await self._upload("PUT", key, params, path, start, length, digest, None)
                parts.append((number, response.headers["etag"]))
            await self._complete_multipart(key, upload_id, parts)
        except BaseException:
            # Abort, shielded so that a cancelled request still frees the stored parts.
            with CancelScope(shield=True), contextlib.suppress(Exception):
                await self._request("DELETE", key, params={"uploadId": upload_id})
            raise

    async def _complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> None:
        document = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for number, etag in parts
        )
        body = f"<CompleteMultipartUpload>{document}</CompleteMultipartUpload>".encode()
        response = await self._request(
            "POST",
            key,
            params={"uploadId": upload_id},
            headers={"content-type": "application/xml"},
            content=body,
            payload_hash=hashlib.sha256(body).hexdigest(),
        )
        # S3 may answer 200 and still fail: the error is then in the body.
        if _xml_root_tag(response.content) == "Error":
            code = _xml_text(response.content, "Code")
            raise StorageUnavailableError(f"S3 CompleteMultipartUpload failed: {code}")


async def _sha256_window(path: Path, start: int, length: int) -> str:
    digest = hashlib.sha256()
    async for chunk in await FileChunks.open(path, start=start, length=length):
        digest.update(chunk)
    return digest.hexdigest()


def _parse(document: bytes) -> ET.Element | None:
    # The configured S3 endpoint is trusted and its answers are small; a body that is not
    # XML (a proxy's HTML error page) just has no code.
    try:
        return ET.fromstring(document)  # noqa: S314
    except ET.ParseError:
        return None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_root_tag(document: bytes) -> str | None:
    root = _parse(document)
    return None if root is None else _local_name(root.tag)


def _xml_text(document: bytes, name: str) -> str | None:
    root = _parse(document)
    if root is None:
        return None
    for element in root.iter():
        if _local_name(element.tag) == name:
            return element.text
    return None
