"""The upload pipeline: what goes in, what comes out, what is refused and what is left."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from PIL import ExifTags, Image
from starlette.datastructures import UploadFile

from storage.decoding import DecodeGate
from storage.images import (
    JPEG_QUALITY,
    Purpose,
    StoredFile,
    UploadErrorCode,
    UploadRejected,
    configure_pillow,
    dhash,
    hamming,
    ingest,
)
from storage.local import LocalStorage
from tests.storage import samples
from tests.storage.conftest import leftovers, stored_files
from tests.storage.samples import chunked

MB = 1024 * 1024
PREFIX = "claims/3f2a9c1e"


async def _ingest(
    storage: LocalStorage,
    work_dir: Path,
    data: bytes,
    purpose: Purpose = Purpose.PHOTO,
    *,
    max_bytes: int = 25 * MB,
    max_pixels: int = 40_000_000,
) -> StoredFile:
    return await ingest(
        chunked(data),
        purpose=purpose,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        storage=storage,
        key_prefix=PREFIX,
        temp_dir=work_dir,
    )


async def _stored(storage: LocalStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in await storage.get(key)])


def _assert_no_metadata(data: bytes) -> None:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert len(image.getexif()) == 0
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    for name in ("exif", "xmp", "icc_profile", "comment", "photoshop"):
        assert name not in image.info, name
    # Below Pillow: the only segments before the scan are JFIF (APP0), quantisation and
    # Huffman tables and the frame header. No APP1 (EXIF/XMP), APP2 (ICC), COM, APP13...
    assert set(samples.jpeg_markers(data)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xDD, 0xDA}
    for secret in (b"Apple", b"iPhone", b"F17XK", b"home", b"GPS", b"Exif", b"xmpmeta"):
        assert secret not in data


# -- photos ------------------------------------------------------------------------------


async def test_jpeg_with_gps_is_stored_clean_upright_with_thumbnail_and_hashes(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    picture = samples.photo(1, (800, 600))
    picture.paste((255, 0, 0), (0, 0, 100, 100))  # a red block in the stored top-left
    original = samples.jpeg_with_gps(picture, orientation=6)  # "rotate 90° clockwise"
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    stored = await _ingest(local_storage, work_dir, original)

    assert stored.key.startswith(f"{PREFIX}/") and stored.key.endswith(".jpg")
    assert stored.content_type == "image/jpeg" and stored.original_type == "image/jpeg"
    data = await _stored(local_storage, stored.key)
    _assert_no_metadata(data)
    # Orientation applied before the EXIF went: now portrait, red block top-right.
    image = Image.open(io.BytesIO(data))
    assert image.size == (600, 800) == (stored.width, stored.height)
    red, green, blue = image.convert("RGB").getpixel((600 - 50, 50))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60
    # Hashes: of what is stored, and of what was uploaded.
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.original_sha256 == hashlib.sha256(original).hexdigest()
    assert stored.original_size == len(original)
    assert stored.phash is not None and len(stored.phash) == 16
    # The thumbnail: small, clean, same picture.
    assert stored.thumbnail_key is not None
    thumb_data = await _stored(local_storage, stored.thumbnail_key)
    _assert_no_metadata(thumb_data)
    thumb = Image.open(io.BytesIO(thumb_data))
    assert max(thumb.size) == 320 and thumb.size == (240, 320)
    assert len(thumb_data) < 40_000
    assert hamming(dhash(thumb), stored.phash) <= 4
    assert stored_files(local_storage.root) == sorted([stored.key, stored.thumbnail_key])
    assert leftovers(work_dir) == []


async def test_the_same_upload_twice_has_the_same_hashes(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    original = samples.jpeg_with_gps(samples.photo(2))
    first = await _ingest(local_storage, work_dir, original)
    second = await _ingest(local_storage, work_dir, original)
    assert first.key != second.key  # random keys, never derived from content
    assert first.original_sha256 == second.original_sha256
    assert first.sha256 == second.sha256  # the re-encoding is deterministic
    assert first.phash == second.phash


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
async def test_png_and_webp_become_clean_jpeg(
    local_storage: LocalStorage, work_dir: Path, fmt: str
) -> None:
    picture = samples.photo(3, (640, 480)).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize((640, 480)))  # transparent corner
    original = samples.encode(picture, fmt, exif=samples.camera_exif())
    stored = await _ingest(local_storage, work_dir, original)
    assert stored.original_type == f"image/{fmt.lower()}"
    data = await _stored(local_storage, stored.key)
    _assert_no_metadata(data)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "RGB" and image.size == (640, 480)
    assert image.getpixel((5, 5)) >= (245, 245, 245)  # type: ignore[operator]  # alpha on white


async def test_heic_from_an_iphone_becomes_jpeg_without_exif(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    original = samples.heic(samples.photo(4, (640, 480)))
    assert original[4:12] == b"ftypheic"
    stored = await _ingest(local_storage, work_dir, original)
    assert stored.original_type == "image/heic"
    assert stored.content_type == "image/jpeg" and stored.key.endswith(".jpg")
    data = await _stored(local_storage, stored.key)
    _assert_no_metadata(data)
    assert Image.open(io.BytesIO(data)).size == (stored.width, stored.height)
    assert stored.thumbnail_key is not None


async def test_a_heic_and_a_jpeg_of_the_same_scene_are_near_duplicates(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    picture = samples.photo(5)
    from_heic = await _ingest(local_storage, work_dir, samples.heic(picture))
    from_jpeg = await _ingest(local_storage, work_dir, samples.jpeg_with_gps(picture))
    assert from_heic.original_sha256 != from_jpeg.original_sha256
    assert from_heic.phash is not None and from_jpeg.phash is not None
    assert hamming(from_heic.phash, from_jpeg.phash) <= 6


async def test_near_duplicates_are_close_and_different_photos_far(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    picture = samples.photo(6)
    original = await _ingest(local_storage, work_dir, samples.encode(picture, "JPEG"))
    smaller = picture.resize((600, 450), Image.Resampling.BILINEAR)
    recompressed = await _ingest(
        local_storage, work_dir, samples.encode(smaller, "JPEG", quality=40)
    )
    as_png = await _ingest(local_storage, work_dir, samples.encode(picture, "PNG"))
    others = [
        await _ingest(local_storage, work_dir, samples.encode(samples.photo(seed), "JPEG"))
        for seed in (7, 8, 9)
    ]
    assert original.phash and recompressed.phash and as_png.phash
    assert hamming(original.phash, recompressed.phash) <= 6
    assert hamming(original.phash, as_png.phash) <= 3
    for other in others:
        assert other.phash is not None
        assert hamming(original.phash, other.phash) >= 16


def test_hamming_counts_differing_bits() -> None:
    assert hamming("0000000000000000", "ffffffffffffffff") == 64
    assert hamming("00000000000000f0", "0000000000000010") == 3
    assert hamming(0b1011, 0b0001) == 2
    gradient = Image.linear_gradient("L").rotate(90)  # brighter to the left
    assert dhash(gradient) in ("ffffffffffffffff", "0000000000000000")


# -- documents ---------------------------------------------------------------------------


async def test_a_pdf_document_is_stored_as_is(local_storage: LocalStorage, work_dir: Path) -> None:
    original = samples.pdf(pages=2)
    stored = await _ingest(local_storage, work_dir, original, Purpose.DOCUMENT)
    assert stored.key.endswith(".pdf") and stored.content_type == "application/pdf"
    assert stored.thumbnail_key is None and stored.phash is None and stored.width is None
    assert await _stored(local_storage, stored.key) == original
    assert stored.sha256 == stored.original_sha256 == hashlib.sha256(original).hexdigest()


async def test_documents_may_be_photos_too(local_storage: LocalStorage, work_dir: Path) -> None:
    original = samples.jpeg_with_gps(samples.photo(10, (400, 300)))
    stored = await _ingest(local_storage, work_dir, original, Purpose.DOCUMENT)
    assert stored.content_type == "image/jpeg" and stored.thumbnail_key is not None


# -- refusals: a typed code, nothing stored, no temp file left ---------------------------

TRUNCATED_JPEG = samples.encode(samples.photo(11, (800, 600)), "JPEG")[:20_000]
REFUSALS = [
    pytest.param(b"", Purpose.PHOTO, UploadErrorCode.EMPTY_FILE, id="empty"),
    pytest.param(samples.ELF, Purpose.PHOTO, UploadErrorCode.UNSUPPORTED_TYPE, id="elf"),
    pytest.param(samples.WINDOWS_EXE, Purpose.DOCUMENT, UploadErrorCode.UNSUPPORTED_TYPE, id="mz"),
    pytest.param(samples.HTML, Purpose.DOCUMENT, UploadErrorCode.UNSUPPORTED_TYPE, id="html"),
    pytest.param(
        samples.encode(Image.new("RGB", (50, 50)), "GIF"),
        Purpose.PHOTO,
        UploadErrorCode.UNSUPPORTED_TYPE,
        id="gif",
    ),
    pytest.param(samples.pdf(), Purpose.PHOTO, UploadErrorCode.UNSUPPORTED_TYPE, id="pdf-photo"),
    pytest.param(
        samples.pdf()[:-200], Purpose.DOCUMENT, UploadErrorCode.NOT_A_PDF, id="truncated-pdf"
    ),
    pytest.param(
        b"%PDF-garbage" + bytes(100) + b"%%EOF",
        Purpose.DOCUMENT,
        UploadErrorCode.NOT_A_PDF,
        id="bad-pdf-header",
    ),
    pytest.param(TRUNCATED_JPEG, Purpose.PHOTO, UploadErrorCode.CORRUPT_IMAGE, id="truncated"),
    pytest.param(
        b"\xff\xd8\xff\xe0" + bytes(5000), Purpose.PHOTO, UploadErrorCode.CORRUPT_IMAGE, id="junk"
    ),
    pytest.param(
        b"\x00\x00\x00\x18ftypheic" + bytes(500),
        Purpose.PHOTO,
        UploadErrorCode.CORRUPT_IMAGE,
        id="junk-heic",
    ),
    pytest.param(
        samples.png_header_only(100_000, 100_000),
        Purpose.PHOTO,
        UploadErrorCode.TOO_MANY_PIXELS,
        id="png-bomb",
    ),
    pytest.param(
        samples.png_header_only(8_000, 5_001),
        Purpose.PHOTO,
        UploadErrorCode.TOO_MANY_PIXELS,
        id="just-over-limit",
    ),
]


@pytest.mark.parametrize(("data", "purpose", "code"), REFUSALS)
async def test_refused_uploads_store_nothing(
    local_storage: LocalStorage,
    work_dir: Path,
    data: bytes,
    purpose: Purpose,
    code: UploadErrorCode,
) -> None:
    with pytest.raises(UploadRejected) as refusal:
        await _ingest(local_storage, work_dir, data, purpose)
    assert refusal.value.code is code
    assert refusal.value.message  # Chinese, for the customer
    assert not local_storage.root.exists() or stored_files(local_storage.root) == []
    assert leftovers(work_dir) == []


async def test_pixel_limit_is_checked_from_the_header_before_decoding(
    local_storage: LocalStorage, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bomb PNGs above carry only 1 kB of pixel data: decoding them would fail as
    CORRUPT_IMAGE. Here decoding is made impossible outright."""

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("decoded an image that is over the pixel limit")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    photo = samples.encode(samples.photo(12, (2000, 1500)), "JPEG")
    with pytest.raises(UploadRejected) as refusal:
        await _ingest(local_storage, work_dir, photo, max_pixels=2_999_999)
    assert refusal.value.code is UploadErrorCode.TOO_MANY_PIXELS


async def test_pillow_guards_every_open_and_never_refuses_what_the_limit_allows(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    configure_pillow(1_000_000)
    with pytest.raises(Image.DecompressionBombError):  # > 2x: any Image.open in the process
        Image.open(io.BytesIO(samples.png_header_only(2000, 1001)))
    photo = samples.encode(samples.photo(16, (1600, 1400)), "JPEG")  # 2.24 MP
    stored = await _ingest(local_storage, work_dir, photo, max_pixels=3_000_000)
    assert (stored.width, stored.height) == (1600, 1400)
    assert Image.MAX_IMAGE_PIXELS == 3_000_000


async def test_the_size_limit_stops_reading_at_once(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while True:
            pulled += 1
            yield b"\xff\xd8\xff" + bytes(64 * 1024 - 3)

    with pytest.raises(UploadRejected) as refusal:
        await ingest(
            endless(),
            purpose="photo",
            max_bytes=1 * MB,
            max_pixels=40_000_000,
            storage=local_storage,
            key_prefix=PREFIX,
            temp_dir=work_dir,
        )
    assert refusal.value.code is UploadErrorCode.FILE_TOO_LARGE
    assert pulled == 17  # 16 chunks fill 1 MiB exactly; the 17th is over and ends it
    assert leftovers(work_dir) == []


async def test_a_file_of_exactly_the_limit_is_accepted(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    original = samples.encode(samples.photo(13, (300, 200)), "JPEG")
    stored = await _ingest(local_storage, work_dir, original, max_bytes=len(original))
    assert stored.original_size == len(original)


async def test_nothing_stays_stored_when_the_thumbnail_cannot_be_stored(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    class ThumbnailsFail(LocalStorage):
        async def put(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> None:
            if key.endswith("-thumb.jpg"):
                raise OSError("disk full")
            await super().put(key, chunks, content_type)

    storage = ThumbnailsFail(
        local_storage.root, url_prefix="/files", signing_key=b"k" * 32, clock=local_storage.clock
    )
    with pytest.raises(OSError, match="disk full"):
        await _ingest(storage, work_dir, samples.encode(samples.photo(14), "JPEG"))
    assert stored_files(storage.root) == []
    assert leftovers(work_dir) == []


# -- sources -----------------------------------------------------------------------------


async def test_sources_can_be_files_sync_or_async(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    original = samples.jpeg_with_gps(samples.photo(15, (500, 400)))
    expected = hashlib.sha256(original).hexdigest()

    plain = io.BytesIO(original)
    stored = await ingest(
        plain,
        purpose=Purpose.PHOTO,
        max_bytes=MB,
        max_pixels=10**7,
        storage=local_storage,
        key_prefix=PREFIX,
        temp_dir=work_dir,
    )
    assert stored.original_sha256 == expected

    # What strawberry hands a resolver for an ``Upload`` on Starlette.
    spooled = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115
    spooled.write(original)
    spooled.seek(0)
    upload = UploadFile(file=spooled, filename="IMG_0001.jpg.exe")  # type: ignore[arg-type]  # the name is ignored
    try:
        stored = await ingest(
            upload,
            purpose="photo",
            max_bytes=MB,
            max_pixels=10**7,
            storage=local_storage,
            key_prefix=PREFIX,
            temp_dir=work_dir,
        )
    finally:
        await upload.close()
    assert stored.original_sha256 == expected and stored.key.endswith(".jpg")


async def test_re_encoding_quality_is_the_documented_one() -> None:
    assert JPEG_QUALITY == 85


async def test_concurrent_uploads_share_a_decode_gate(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    gate = DecodeGate(1, 10**9)
    originals = [samples.encode(samples.photo(seed, (640, 480)), "JPEG") for seed in range(4)]
    results: list[StoredFile] = []

    async def one(data: bytes) -> None:
        stored = await ingest(
            chunked(data),
            purpose=Purpose.PHOTO,
            max_bytes=MB,
            max_pixels=10**7,
            storage=local_storage,
            key_prefix=PREFIX,
            temp_dir=work_dir,
            gate=gate,
        )
        results.append(stored)

    async with anyio.create_task_group() as group:
        for data in originals:
            group.start_soon(one, data)
    assert sorted(r.original_sha256 for r in results) == sorted(
        hashlib.sha256(data).hexdigest() for data in originals
    )
    assert len(stored_files(local_storage.root)) == 8  # four photos, four thumbnails
    assert leftovers(work_dir) == []


async def test_a_cancelled_upload_leaves_nothing(
    local_storage: LocalStorage, work_dir: Path
) -> None:
    """The client goes away mid-upload: the request task is cancelled while spooling."""
    original = samples.encode(samples.photo(17), "JPEG")

    async def stalls() -> AsyncIterator[bytes]:
        yield original[:50_000]
        await anyio.sleep_forever()

    with anyio.move_on_after(0.2) as scope:
        await ingest(
            stalls(),
            purpose=Purpose.PHOTO,
            max_bytes=MB,
            max_pixels=10**7,
            storage=local_storage,
            key_prefix=PREFIX,
            temp_dir=work_dir,
        )
    assert scope.cancelled_caught
    assert leftovers(work_dir) == []
    assert not local_storage.root.exists() or stored_files(local_storage.root) == []
