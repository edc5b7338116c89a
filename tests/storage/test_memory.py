"""A 20 MB photo is never held whole in Python memory.

What is measured: ``tracemalloc`` sees every allocation made through Python's allocators,
in every thread (the worker threads that read, write and decode included): ``bytes``
chunks, ``BytesIO`` buffers, hash state, Python objects. It does not see Pillow's C
buffers: the decoded pixels (width x height x 3 bytes, ~36 MB for this 12 MP photo, plus
a transient copy when rotating) and libjpeg's work memory. Those are bounded by the pixel
limit, not by the file size, and are the one whole-image copy the pipeline holds.

If anything held the upload or the re-encoded file as one ``bytes`` object (a
``BytesIO`` output, ``await upload.read()``), the peak would exceed the file size (20+
MB); the pipeline's budget is a few 64 KiB chunks, the 320 px thumbnail and Pillow's
Python-side objects.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from anyio import to_thread
from PIL import Image

from storage.images import ingest
from storage.local import LocalStorage
from tests.storage.conftest import leftovers

MB = 1024 * 1024
PYTHON_MEMORY_BUDGET = 4 * MB


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 12 MP (4032x3024, an iPhone's) JPEG of noise at quality 99: about 21 MB."""
    path = tmp_path_factory.mktemp("big") / "IMG_0001.jpg"
    width, height = 4032, 3024
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        path, "JPEG", quality=99
    )
    return path, path.stat().st_size


async def _read_from_disk(path: Path) -> AsyncIterator[bytes]:
    """The upload arriving in network-sized chunks, without the test holding it."""
    with path.open("rb") as handle:
        while chunk := await to_thread.run_sync(handle.read, 64 * 1024):
            yield chunk


async def test_a_20_mb_photo_is_ingested_with_bounded_python_memory(
    big_photo: tuple[Path, int], local_storage: LocalStorage, work_dir: Path
) -> None:
    path, size = big_photo
    assert 20 * MB <= size <= 30 * MB

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        stored = await ingest(
            _read_from_disk(path),
            purpose="photo",
            max_bytes=25 * MB,
            max_pixels=40_000_000,
            storage=local_storage,
            key_prefix="claims/big",
            temp_dir=work_dir,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (stored.width, stored.height) == (4032, 3024)
    assert stored.original_size == size
    assert stored.size > 5 * MB  # noise barely compresses: the re-encoded file is big too
    print(f"file {size / MB:.1f} MB, stored {stored.size / MB:.1f} MB, peak {peak / MB:.2f} MB")
    assert peak < PYTHON_MEMORY_BUDGET, f"peak Python memory {peak / MB:.1f} MB"
    assert leftovers(work_dir) == []


async def test_the_measurement_would_see_a_whole_file_held_in_a_worker_thread(
    big_photo: tuple[Path, int],
) -> None:
    """The control: the same measurement catches the mistake it guards against."""
    tracemalloc.start()
    try:
        data = await to_thread.run_sync(big_photo[0].read_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak >= len(data) > PYTHON_MEMORY_BUDGET
