"""Bounded-memory file plumbing shared by the backends and the upload pipeline.

A 20 MB photo must never sit whole in memory: bytes go from the network to a file on
disk in ``CHUNK_SIZE`` pieces, counted and hashed on the way (one pass), and come back
out the same way. Reads and writes run in worker threads (anyio), never on the event
loop; closing and unlinking are synchronous so that cleanup also works in a cancelled task.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

CHUNK_SIZE = 64 * 1024
HEAD_SIZE = 64  # enough for every magic number we sniff


class SizeLimitExceeded(Exception):
    """More than ``max_bytes`` arrived; the rest was not read."""


@dataclass(frozen=True)
class Spooled:
    size: int
    sha256: str  # hex, of exactly the bytes written
    head: bytes  # the first HEAD_SIZE bytes


async def spool(
    chunks: AsyncIterator[bytes],
    path: Path,
    *,
    max_bytes: int | None = None,
    durable: bool = False,
) -> Spooled:
    """Write ``chunks`` to a new file at ``path`` (which must not exist), counting and
    hashing. Stops reading as soon as ``max_bytes`` would be passed. ``durable`` fsyncs
    before returning. On error the partial file is left for the caller to remove."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    handle = await to_thread.run_sync(_create, path)
    try:
        async for chunk in chunks:
            if max_bytes is not None and size + len(chunk) > max_bytes:
                raise SizeLimitExceeded(f"more than {max_bytes} bytes")
            size += len(chunk)
            digest.update(chunk)
            if len(head) < HEAD_SIZE:
                head = (head + chunk[:HEAD_SIZE])[:HEAD_SIZE]
            await to_thread.run_sync(handle.write, chunk)
        if durable:
            await to_thread.run_sync(_flush_and_sync, handle)
    finally:
        handle.close()  # synchronous: an await here would be cancelled with the task
    return Spooled(size=size, sha256=digest.hexdigest(), head=head)


def _create(path: Path) -> BinaryIO:
    return path.open("xb")


def _open_for_reading(path: Path) -> BinaryIO:
    return path.open("rb")


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class FileChunks:
    """An open file read in chunks (optionally a window of it), closed at the end or by
    ``aclose()``. Opening happens before the first chunk, so a missing file is an error
    at open time, not halfway through a response."""

    def __init__(self, handle: BinaryIO, size: int, length: int | None = None) -> None:
        self._handle = handle
        self.size = size
        self._remaining = length

    @classmethod
    async def open(cls, path: Path, *, start: int = 0, length: int | None = None) -> FileChunks:
        handle = await to_thread.run_sync(_open_for_reading, path)
        try:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(start)
        except BaseException:
            handle.close()
            raise
        return cls(handle, size, length)

    def __aiter__(self) -> FileChunks:
        return self

    async def __anext__(self) -> bytes:
        want = CHUNK_SIZE if self._remaining is None else min(CHUNK_SIZE, self._remaining)
        chunk = await to_thread.run_sync(self._handle.read, want) if want else b""
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        if self._remaining is not None:
            self._remaining -= len(chunk)
        return chunk

    async def aclose(self) -> None:
        self._handle.close()  # synchronous: closing a regular file does not block


async def sha256_of(path: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in await FileChunks.open(path):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def remove_quietly(path: Path) -> None:
    """Remove a temp file if it is there; never raises. Synchronous on purpose: cleanup
    runs in ``finally`` blocks of cancelled tasks, where an await would be cancelled too
    (anyio cancel scopes), and one unlink is a single fast system call."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
