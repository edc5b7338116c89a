"""Moving the local folder's objects into S3 (``anxin migrate-storage``), for a switch from
``ANXIN_STORAGE_BACKEND=local`` to ``s3`` that keeps every stored link working.

Keys stay as they are (``claims/<uuid>/<uuid>.jpg``): the database names objects by key,
not by backend, so once an object is in the bucket under its key, the S3 backend serves
every document stored before the switch. Nothing here touches the database.

Safe to run as often as needed, before and after the switch:

- **Verified**: each object is hashed here, sent with its SHA-256 in the signed payload
  hash (S3 refuses bytes that do not match) and as ``x-amz-meta-sha256``, then checked
  with a ``HEAD``: size and SHA-256 must be what the local file has.
- **Idempotent and resumable**: an object already in the bucket with the same size and
  SHA-256 is counted, not sent again; an interrupted run is resumed by running it again.
  An object there without our hash (copied by another tool) is read back and hashed.
- **Never overwrites**: a key whose bucket object holds other bytes is reported as a
  conflict and left alone on both sides.
- **Local files stay** unless ``delete_local`` is given, and then only those verified in
  the bucket are removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from anyio import to_thread

from storage.base import InvalidKeyError, StorageError, content_type_for, validate_key
from storage.files import FileChunks, remove_quietly, sha256_of
from storage.s3 import S3Storage

TEMP_PREFIX = ".tmp-"  # the local backend's files being written: never objects


class Outcome(StrEnum):
    COPIED = "copied"
    ALREADY_THERE = "already there"
    WOULD_COPY = "would copy"  # a dry run
    CONFLICT = "conflict"  # the bucket holds other bytes under the key
    FAILED = "failed"


@dataclass
class MigrationReport:
    """What a run did, by outcome; the problems by key, with the reason."""

    copied: int = 0
    copied_bytes: int = 0
    already_there: int = 0
    would_copy: int = 0
    removed_local: int = 0
    problems: list[tuple[str, Outcome, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # file names that are not keys

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        parts = [
            f"copied {self.copied} ({self.copied_bytes} bytes)",
            f"already in the bucket {self.already_there}",
        ]
        if self.would_copy:
            parts.append(f"would copy {self.would_copy}")
        parts.append(f"local files removed {self.removed_local}")
        conflicts = sum(1 for _, outcome, _ in self.problems if outcome is Outcome.CONFLICT)
        parts.append(f"conflicts {conflicts}")
        parts.append(f"failed {len(self.problems) - conflicts}")
        if self.skipped:
            parts.append(f"skipped (not object keys) {len(self.skipped)}")
        return ", ".join(parts)


def local_keys(root: Path, skipped: list[str]) -> Iterator[str]:
    """Every object key under ``root``, in a stable order; files whose relative path is
    not a valid key (none that we wrote) go to ``skipped``, temp files are ignored."""
    for directory, folders, files in os.walk(root):
        folders.sort()
        for name in sorted(files):
            relative = (Path(directory) / name).relative_to(root).as_posix()
            if name.startswith(TEMP_PREFIX):
                continue
            try:
                yield validate_key(relative)
            except InvalidKeyError:
                skipped.append(relative)


async def _bucket_sha256(target: S3Storage, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in await target.get(key):
        digest.update(chunk)
    return digest.hexdigest()


async def migrate_object(
    root: Path, key: str, target: S3Storage, *, dry_run: bool, delete_local: bool
) -> tuple[Outcome, int, str]:
    """Copy one object; its outcome, the bytes sent and, for a problem, why."""
    path = root / key
    size, sha256 = await sha256_of(path)
    there = await target.stat(key)
    if there is not None:
        same = there.size == size and (
            there.sha256 == sha256
            if there.sha256 is not None
            else await _bucket_sha256(target, key) == sha256
        )
        if not same:
            return Outcome.CONFLICT, 0, "the bucket holds other bytes under this key"
        outcome, sent = Outcome.ALREADY_THERE, 0
    elif dry_run:
        return Outcome.WOULD_COPY, 0, ""
    else:
        await target.put(key, await FileChunks.open(path), content_type_for(key))
        stored = await target.stat(key)
        if stored is None or (stored.size, stored.sha256) != (size, sha256):
            return Outcome.FAILED, 0, "not found with the same size and SHA-256 after the copy"
        outcome, sent = Outcome.COPIED, size
    if delete_local and not dry_run:
        await to_thread.run_sync(remove_quietly, path)
    return outcome, sent, ""


async def migrate_to_s3(
    root: Path,
    target: S3Storage,
    *,
    dry_run: bool = False,
    delete_local: bool = False,
    concurrency: int = 4,
    progress: Callable[[str, Outcome], None] | None = None,
) -> MigrationReport:
    """Copy every object under ``root`` into ``target`` (see the module docstring).

    ``concurrency`` objects move at once. One object's failure (S3 down for a moment, a
    file that vanished) is reported and the rest go on; run again to retry it."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = MigrationReport()
    # Listed in a worker thread (the walk blocks); a key is ~60 bytes, a million ~60 MB.
    listed = await to_thread.run_sync(
        lambda: list(local_keys(root, report.skipped)) if root.is_dir() else []
    )
    keys = iter(listed)

    async def worker() -> None:
        for key in keys:  # one shared iterator: each key goes to one worker
            try:
                outcome, sent, why = await migrate_object(
                    root, key, target, dry_run=dry_run, delete_local=delete_local
                )
            except (StorageError, OSError) as exc:
                outcome, sent, why = Outcome.FAILED, 0, f"{type(exc).__name__}: {exc}"
            _count(report, key, outcome, sent, why, deleted=delete_local and not dry_run)
            if progress is not None:
                progress(key, outcome)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.problems.sort()
    return report


def _count(
    report: MigrationReport, key: str, outcome: Outcome, sent: int, why: str, *, deleted: bool
) -> None:
    if outcome is Outcome.COPIED:
        report.copied += 1
        report.copied_bytes += sent
    elif outcome is Outcome.ALREADY_THERE:
        report.already_there += 1
    elif outcome is Outcome.WOULD_COPY:
        report.would_copy += 1
    else:
        report.problems.append((key, outcome, why))
        return
    if deleted and outcome is not Outcome.WOULD_COPY:
        report.removed_local += 1
