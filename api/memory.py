"""Giving freed memory back to the system after a burst of WebSocket connections (issue
21: a flood of never-initialised connections took the API process from 287 to 670 MB,
and it stayed there after they were all closed).

Measured (5,000 connections opened, closed 4408 by the init timeout, then by the client,
``gc.collect()``): RSS 176 → 436 → 427 MB, and no Python object type left more than 50
instances behind (no per-connection state still referenced); ``malloc_trim(0)`` then
brought it to 212 MB. So the memory is free inside glibc's heap, held between chunks
still in use, which ``free`` alone does not return. After a burst has mostly closed
(``TRIM_AFTER_CLOSED`` connections gone and at most half of the peak left), the process
collects its garbage (the connections' reference cycles) and asks glibc once to return
the free memory; the trim in a thread, as the walk over a large heap takes a while.

Photo uploads (issue 19) showed the other way glibc keeps memory: a decoded 12 MP photo
is 46 MiB of Pillow blocks (16 MiB each). The first ones are ``mmap``-ed and unmapped on
``free``, but each such free raises glibc's dynamic mmap threshold (up to 32 MiB), so
later frames come from the heap of the decoding worker thread's own arena, and every
thread that ever decoded keeps its last frame (20 uploads: 327 MiB stayed resident).
``tune_allocator`` fixes the threshold at start-up (``mallopt``, the same settings as the
``MALLOC_*`` variables, which glibc reads only before the process starts, so no re-exec
is needed) and caps the arenas; a variable set in the environment wins.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("anxin.memory")

TRIM_AFTER_CLOSED = 1000

# glibc's malloc.h: mallopt parameter numbers, each with its environment variable.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Blocks this big or bigger are mmap-ed and given back on free (Pillow's image blocks
# are 16 MiB); fixing it turns glibc's dynamic threshold off.
MMAP_THRESHOLD = 1024 * 1024
# Arenas for the whole process (glibc: 8 per core); each keeps its own free memory.
ARENA_MAX = 2
ALLOCATOR_SETTINGS = {
    "MALLOC_MMAP_THRESHOLD_": (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    "MALLOC_ARENA_MAX": (M_ARENA_MAX, ARENA_MAX),
}
_TUNABLE = {"MALLOC_MMAP_THRESHOLD_": "mmap_threshold", "MALLOC_ARENA_MAX": "arena_max"}


@functools.cache
def _c_library() -> str | None:
    """The C library's file name, looked up once per process: ``find_library`` runs
    ``ldconfig -p`` in a subprocess (~6 ms of CPU), and every app built asks for it."""
    return ctypes.util.find_library("c")


def _glibc(function: str) -> Any:
    """The C library's ``function`` (a ctypes function), or None where it has none."""
    name = _c_library()
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


def tune_allocator(
    environ: Mapping[str, str] = os.environ,
    mallopt: Callable[[int, int], int] | None = None,
) -> dict[str, int]:
    """Apply ``ALLOCATOR_SETTINGS`` the environment leaves unset (neither the ``MALLOC_*``
    variable nor its ``GLIBC_TUNABLES`` entry); once per process, early, before the
    worker threads start. Returns what was applied (nothing without glibc)."""
    setter = mallopt if mallopt is not None else _glibc("mallopt")
    if setter is None:
        return {}
    tunables = environ.get("GLIBC_TUNABLES", "")
    applied = {}
    for variable, (parameter, value) in ALLOCATOR_SETTINGS.items():
        if variable in environ or f"glibc.malloc.{_TUNABLE[variable]}=" in tunables:
            continue
        if setter(parameter, value) == 1:  # mallopt answers 1 on success
            applied[variable] = value
    return applied


def _glibc_trim() -> Callable[[], None] | None:
    trim = _glibc("malloc_trim")
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


class TrimAfterBursts:
    """Counts connections; once a burst of them has closed, hands back freed memory.
    ``release`` is blocking (run in a thread); None where the C library has no trim."""

    def __init__(
        self,
        release: Callable[[], None] | None = None,
        closed_enough: int = TRIM_AFTER_CLOSED,
    ) -> None:
        self.release = release if release is not None else _glibc_trim()
        self.closed_enough = closed_enough
        self.open = 0
        self.peak = 0
        self.trimming: asyncio.Task[None] | None = None

    def opened(self) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        self.open -= 1
        if (
            self.release is not None
            and self.peak - self.open >= self.closed_enough
            and self.open <= self.peak // 2
            and (self.trimming is None or self.trimming.done())
        ):
            self.peak = self.open
            self.trimming = asyncio.get_running_loop().create_task(self._trim())

    async def _trim(self) -> None:
        assert self.release is not None
        # The closed connections' objects hold reference cycles: freed only by a full
        # collection, which a quiet process may not run for minutes (one pause now).
        gc.collect()
        await _release_in_thread(self.release)


class TrimWhenIdle:
    """The ``on_idle`` of the photo decode gate (storage/decoding.py): once a burst of
    decodes has ended, hands back what it freed inside glibc's heaps (the frames
    themselves are mmap-ed and go back at once, ``tune_allocator``; this is the rest:
    codec and request buffers between chunks still in use). No collection: the
    pipeline's objects hold no cycles worth a pause."""

    def __init__(self, release: Callable[[], None] | None = None) -> None:
        self.release = release if release is not None else _glibc_trim()
        self.trimming: asyncio.Task[None] | None = None

    def __call__(self) -> None:
        if self.release is not None and (self.trimming is None or self.trimming.done()):
            self.trimming = asyncio.get_running_loop().create_task(_release_in_thread(self.release))


async def _release_in_thread(release: Callable[[], None]) -> None:
    try:
        await asyncio.to_thread(release)  # a walk over the heaps: not on the event loop
    except Exception:  # never fatal: memory stays as it was
        log.exception("returning freed memory failed")
