"""The dHash of a photo never changes with the pipeline's memory work (issue 19): stored
hashes and their bands are compared with new uploads' hashes, so a photo uploaded again
after a change must hash as before. The values below were computed by the pipeline
before issue 19 (stored files and thumbnails were byte-identical too), for every shape
of photo it treats differently."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from storage.images import Purpose, ingest
from storage.local import LocalStorage
from tests.storage import samples
from tests.storage.samples import chunked

SIZE = (1200, 900)
BEFORE = {
    (0, "jpeg"): "010b0b0d26335370",
    (0, "rotated 6"): "606010484c93b093",
    (0, "rotated 3"): "f135339b0f2f2f7f",
    (0, "rgba png"): "010b030d26335370",
    (0, "la png"): "010b030d26335370",
    (0, "p png with transparency"): "010b0b0d26335370",
    (0, "grayscale jpeg"): "010b0b0d26335370",
    (0, "cmyk jpeg"): "010b0b0d26335370",
    (0, "rgba webp"): "010b030d26335370",
    (0, "heic"): "010b0b0d26335370",
    (1, "jpeg"): "3f3b1350082c3939",
    (1, "rotated 6"): "245a1a8c1cc6ce56",
    (1, "rotated 3"): "6363cbeff5370303",
    (1, "rgba png"): "fcfcfcfcfcfcfcf8",
    (1, "la png"): "fcfcfcfcfcfcfcf8",
    (1, "p png with transparency"): "3f3b1350082c3939",
    (1, "grayscale jpeg"): "3f3b1350082c3939",
    (1, "cmyk jpeg"): "3f3b1350082c3939",
    (1, "rgba webp"): "fcfcfcfcfcfcfcf8",
    (1, "heic"): "3f3b1350082c3939",
}


def upload(seed: int, shape: str) -> bytes:
    picture = samples.photo(seed, SIZE)
    rgba = picture.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(SIZE).rotate(seed * 90))
    match shape:
        case "jpeg":
            return samples.jpeg_with_gps(picture)
        case "rotated 6":
            return samples.jpeg_with_gps(picture, orientation=6)
        case "rotated 3":
            return samples.jpeg_with_gps(picture, orientation=3)
        case "rgba png":
            return samples.encode(rgba, "PNG")
        case "la png":
            return samples.encode(rgba.convert("LA"), "PNG")
        case "p png with transparency":
            return samples.encode(picture.convert("P"), "PNG", transparency=5)
        case "grayscale jpeg":
            return samples.encode(picture.convert("L"), "JPEG")
        case "cmyk jpeg":
            return samples.encode(picture.convert("CMYK"), "JPEG")
        case "rgba webp":
            return samples.encode(rgba, "WEBP")
        case "heic":
            return samples.heic(picture, orientation=6)
    raise AssertionError(shape)


@pytest.mark.parametrize(("seed", "shape"), sorted(BEFORE))
async def test_a_photo_hashes_as_before(
    seed: int, shape: str, local_storage: LocalStorage, work_dir: Path
) -> None:
    stored = await ingest(
        chunked(upload(seed, shape)),
        purpose=Purpose.PHOTO,
        max_bytes=25 * 2**20,
        max_pixels=40_000_000,
        storage=local_storage,
        key_prefix="claims/hash-stability",
        temp_dir=work_dir,
    )
    assert stored.phash == BEFORE[seed, shape]
