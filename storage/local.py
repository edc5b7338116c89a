"""The default backend: a folder on the API host's disk, served by the gateway itself.

No web server serves the folder directly: ``GET /files/{key}`` (``file_endpoint``)
streams a file only with a valid, unexpired HMAC signature made by ``signed_url``, so a
leaked key alone opens nothing and a leaked URL dies within minutes. Writes go to a temp
file beside the target and are renamed into place, so a reader never sees half a file and
a failed upload leaves nothing behind.

Several API processes can share one folder (NFS or a shared volume) as long as they
share the signing key. For more than one host without a shared disk, use S3.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from urllib.parse import quote, urlencode

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from storage.base import (
    InvalidKeyError,
    ObjectNotFoundError,
    content_disposition,
    content_type_for,
    validate_key,
    validate_lifetime,
)
from storage.files import FileChunks, remove_quietly, spool

MIN_SIGNING_KEY_BYTES = 32


class LocalStorage:
    def __init__(
        self,
        root: Path,
        *,
        url_prefix: str,
        signing_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError("the file signing key must be at least 32 bytes")
        self.root = root.resolve()
        self.url_prefix = url_prefix.rstrip("/")
        self._signing_key = signing_key
        self.clock = clock

    def path_for(self, key: str) -> Path:
        return self.root / validate_key(key)

    async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
        # ``content_type`` is not stored: the served type follows the key's extension.
        path = self.path_for(key)
        await to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        temp = path.parent / f".tmp-{secrets.token_hex(8)}"
        try:
            await spool(chunks, temp, durable=True)
            await to_thread.run_sync(os.replace, temp, path)
        finally:
            remove_quietly(temp)  # gone after the rename; a leftover on any failure

    async def get(self, key: str) -> FileChunks:
        try:
            return await FileChunks.open(self.path_for(key))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFoundError(key) from exc

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def exists(self, key: str) -> bool:
        path = self.path_for(key)
        return await to_thread.run_sync(path.is_file)

    def signed_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        validate_key(key)
        expires = int(self.clock()) + validate_lifetime(expires_in)
        query = {"expires": str(expires)}
        if filename is not None:
            query["filename"] = filename
        query["signature"] = self._signature(key, expires, filename)
        return f"{self.url_prefix}/{key}?{urlencode(query, quote_via=quote)}"

    def verify(
        self,
        key: str,
        expires: int | str,
        signature: str,
        now: float | None = None,
        *,
        filename: str | None = None,
    ) -> bool:
        """True if ``signature`` was made by ``signed_url`` for these values and has not
        expired. Compared in constant time; malformed input is simply invalid."""
        try:
            expires_at = int(expires)
            expected = self._signature(key, expires_at, filename).encode()
            given = signature.encode("ascii")
        except (ValueError, UnicodeEncodeError):
            return False
        valid = hmac.compare_digest(expected, given)
        current = self.clock() if now is None else now
        return valid and current < expires_at

    def _signature(self, key: str, expires: int, filename: str | None) -> str:
        # Newline-separated: a key has no newline, expires is digits, filename comes last,
        # so no two different (key, expires, filename) give the same message.
        message = f"{key}\n{expires}\n{filename if filename is not None else ''}"
        return hmac.new(self._signing_key, message.encode(), hashlib.sha256).hexdigest()


def _error(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status_code,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _stream(chunks: FileChunks) -> AsyncIterator[bytes]:
    async with aclosing(chunks):  # closed even when the client goes away mid-download
        async for chunk in chunks:
            yield chunk


def file_endpoint(storage: LocalStorage) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /files/{key:path}`` endpoint for ``storage``.

    403 for a missing, bad or expired signature, checked before the file is looked at, so
    nobody without a valid URL learns whether a key exists; 404 (same body shape) only for
    a validly signed key whose file is gone.
    """

    async def serve_file(request: Request) -> Response:
        key = request.path_params["key"]
        params = request.query_params
        now = storage.clock()
        expires = params.get("expires", "")
        filename = params.get("filename")
        if not storage.verify(key, expires, params.get("signature", ""), now, filename=filename):
            return _error(403, "FORBIDDEN", "链接无效或已过期，请刷新后重试")
        try:
            chunks = await storage.get(key)
        except (ObjectNotFoundError, InvalidKeyError):
            return _error(404, "NOT_FOUND", "文件不存在")
        content_type = content_type_for(key)
        headers = {
            "Content-Length": str(chunks.size),
            "Cache-Control": f"private, max-age={max(0, int(expires) - int(now))}",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": content_disposition(key, filename),
            "Referrer-Policy": "no-referrer",  # the signed URL must not leak onwards
        }
        if request.method == "HEAD":
            await chunks.aclose()
            return Response(media_type=content_type, headers=headers)
        return StreamingResponse(_stream(chunks), media_type=content_type, headers=headers)

    return serve_file
