"""What an object store is: five methods over opaque, random keys.

Claim photos and documents are personal data, so a stored file is never reachable by a
guessable path: the only way to read one from outside is a short-lived signed URL
(``signed_url``), checked by the gateway (local folder) or by S3 itself (pre-signed).
Keys are made by the caller from random UUIDs (``claims/<uuid>/<uuid>.jpg``) and are
checked here to be plain relative paths of safe characters, so a key can never escape
the local root or need any URL encoding.

Errors say what to do next::

    StorageError
     ├── InvalidKeyError          a key that is not a plain relative path: a bug, not a retry
     ├── ObjectNotFoundError      no object under that key
     ├── StorageUnavailableError  backend down, timeout, 5xx: retry later
     └── StorageRefusedError      backend said no for good (credentials, permissions, bucket)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import quote

# Short-lived means short: a link in an app screen, not a bookmark. S3 caps at 7 days.
MAX_URL_LIFETIME_SECONDS = 7 * 86_400
MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")

# The served type follows the key's extension (keys are ours, made by the pipeline).
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
FALLBACK_CONTENT_TYPE = "application/octet-stream"
# The extension a download is named with, by the stored type ("jpg", not "jpeg").
_EXTENSION_FOR_TYPE = {kind: ext for ext, kind in CONTENT_TYPES.items() if ext != "jpeg"}
# Extensions of what people upload, replaced (not kept before the right one) when the
# stored type differs: an iPhone's IMG_4032.HEIC is stored as JPEG and saved as .jpg.
_UPLOAD_EXTENSIONS = frozenset(
    {"heic", "heif", "hif", "avif", "jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif"}
    | {"bmp", "tif", "tiff", "dng", "pdf", "csv", "xlsx"}
)
# Served as downloads, never rendered by the browser: a PDF viewer runs scripts.
DOWNLOAD_CONTENT_TYPES = frozenset(
    {"application/pdf", FALLBACK_CONTENT_TYPE, CONTENT_TYPES["csv"], CONTENT_TYPES["xlsx"]}
)


class StorageError(Exception):
    pass


class InvalidKeyError(StorageError, ValueError):
    pass


class ObjectNotFoundError(StorageError):
    pass


class StorageUnavailableError(StorageError):
    pass


class StorageRefusedError(StorageError):
    pass


def validate_key(key: str) -> str:
    """Return ``key`` if it is a relative path of ``[A-Za-z0-9._-]`` segments.

    Refused: empty, absolute, ``..`` or ``.`` (or any segment starting with a dot, which
    also keeps clear of the local backend's ``.tmp-`` files), empty segments, backslashes,
    anything outside the safe characters.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError("storage key must be 1-512 characters")
    segments = key.split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise InvalidKeyError(f"storage key is not a plain relative path: {key!r}")
    return key


def validate_lifetime(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_URL_LIFETIME_SECONDS:
        raise ValueError(f"expires_in must be 1..{MAX_URL_LIFETIME_SECONDS} seconds")
    return expires_in


def content_type_for(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if "." not in name:
        return FALLBACK_CONTENT_TYPE
    return CONTENT_TYPES.get(name.rsplit(".", 1)[1].lower(), FALLBACK_CONTENT_TYPE)


def download_name(name: str, content_type: str) -> str:
    """``name`` with the extension of the type the bytes really have.

    Uploads are re-encoded (HEIC, PNG and WebP photos are stored as JPEG), so the name a
    customer uploaded may promise another format than the file holds: ``IMG_4032.HEIC``
    becomes ``IMG_4032.jpg``, ``scan.png`` ``scan.jpg``. A name whose extension already
    fits (``photo.JPEG``) is kept as it is; one without a known extension gets one added.
    A type we do not name (the fallback) leaves the name alone.
    """
    extension = _EXTENSION_FOR_TYPE.get(content_type)
    if extension is None or not name:
        return name
    stem, dot, current = name.rpartition(".")
    if dot and stem:
        if CONTENT_TYPES.get(current.lower()) == content_type:
            return name
        if current.lower() in _UPLOAD_EXTENSIONS:
            return f"{stem}.{extension}"
    return f"{name}.{extension}"


def content_disposition(key: str, filename: str | None) -> str:
    """``inline`` for images, ``attachment`` for PDFs and unknown types; with an ASCII
    fallback name and the UTF-8 one (RFC 6266, RFC 5987), so a Chinese file name survives
    and no quote or newline can break out of the header. The name's extension follows the
    stored type (the key's), whatever name the link was signed with: a document stored
    before names were corrected at upload still downloads as what it is."""
    content_type = content_type_for(key)
    kind = "attachment" if content_type in DOWNLOAD_CONTENT_TYPES else "inline"
    if not filename:
        return kind
    filename = download_name(filename, content_type)
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class ByteStream(Protocol):
    """An async iterator of bytes that holds a resource (a file, a connection) until it
    is exhausted or closed: consume it to the end, or ``aclose()`` it."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None: ...


class ObjectStorage(Protocol):
    async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
        """Store the streamed bytes under ``key``, replacing any object there, atomically:
        a reader sees the old object or the whole new one, and a failed put leaves nothing."""
        ...

    async def get(self, key: str) -> ByteStream:
        """Open ``key`` (``ObjectNotFoundError`` here, before any byte) and return its
        bytes as a stream."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...

    def signed_url(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL that reads ``key`` for ``expires_in`` seconds; ``filename`` is the name a
        browser saves it under."""
        ...
