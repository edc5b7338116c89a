"""The upload pipeline: from an untrusted upload to a clean stored file, or a typed refusal.

Order matters, each step bounding the next:

1. Spool to a temp file in 64 KiB chunks, counting and hashing (SHA-256 of the original
   bytes) on the way; refuse (``FILE_TOO_LARGE``) the moment the limit is passed, without
   reading the rest. Python memory stays at a few chunks whatever the size.
2. Decide the type from the first bytes, never from the client's file name or MIME type:
   JPEG, PNG, WebP, HEIC/HEIF; PDF only as a document, and only if it has a PDF header and
   an ``%%EOF`` trailer.
3. Read the image header only (Pillow opens lazily) and refuse ``TOO_MANY_PIXELS`` before
   any pixel is decoded. ``configure_pillow`` (at start-up) sets ``Image.MAX_IMAGE_PIXELS``
   to the same limit, a backstop for every other Pillow call in the process.
4. Decode (in a worker thread), turn upright from the EXIF orientation, convert to sRGB
   (colour-managed through the embedded ICC profile when there is one), flatten alpha on
   white, and re-encode as a baseline JPEG (quality 85) with *no* metadata at all: no EXIF
   (so no GPS position, camera serial or capture time), no XMP, no ICC profile (the pixels
   are sRGB now), no comments. HEIC/HEIF from iPhones becomes JPEG the same way.
5. A thumbnail (at most 320 px, JPEG) and a 64-bit difference hash (dHash) of it for
   near-duplicate detection; SHA-256 of the stored file as well as of the original, so an
   exact re-upload is found by either.
6. Store the file, then the thumbnail; if the thumbnail fails the file is deleted again.
   Nothing is stored before every check has passed, and temp files are always removed.

Memory: the decoded image lives in Pillow's C buffers (width x height x 4 bytes, plus a
transient copy when it must be rotated or converted to RGB; the original frame is closed
as soon as a converted copy exists, and an embedded RGB profile converts in place); the
encoded bytes go to a temp file, never to a Python ``bytes`` object. How many images
decode at once is bounded by count and by their estimated bytes (``storage.decoding``),
the estimate read from the header before the decode waits its turn. PDFs are stored as
uploaded (they are checked, not rewritten) and always served as downloads.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import tempfile
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Protocol, cast

from anyio import CancelScope, to_thread
from PIL import ExifTags, Image, ImageCms, ImageOps

from storage.base import ObjectStorage, validate_key
from storage.decoding import DecodeGate
from storage.files import CHUNK_SIZE, FileChunks, SizeLimitExceeded, remove_quietly, sha256_of
from storage.files import spool as spool_to_file

JPEG_QUALITY = 85
THUMBNAIL_SIZE = 320
THUMBNAIL_QUALITY = 80
PDF_TRAILER_WINDOW = 1024  # readers look for %%EOF within the last 1024 bytes

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
HEIC = "image/heic"
PDF = "application/pdf"
_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", HEIC: "HEIF"}
_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
}
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")


class Purpose(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


class UploadErrorCode(StrEnum):
    EMPTY_FILE = "EMPTY_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    NOT_A_PDF = "NOT_A_PDF"
    TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
    CORRUPT_IMAGE = "CORRUPT_IMAGE"


MESSAGES = {
    UploadErrorCode.EMPTY_FILE: "文件是空的，请重新选择",
    UploadErrorCode.FILE_TOO_LARGE: "文件太大，请压缩后再上传",
    UploadErrorCode.UNSUPPORTED_TYPE: (
        "不支持的文件类型：照片请用 JPEG、PNG、WebP 或 HEIC，单证还可用 PDF"
    ),
    UploadErrorCode.NOT_A_PDF: "文件不是有效的 PDF，请重新导出后上传",
    UploadErrorCode.TOO_MANY_PIXELS: "图片尺寸过大，请缩小后再上传",
    UploadErrorCode.CORRUPT_IMAGE: "图片已损坏或不完整，请重新拍摄或选择",
}


class UploadRejected(Exception):
    """The upload itself is unacceptable; nothing was stored. Show ``message``."""

    def __init__(self, code: UploadErrorCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.message = MESSAGES[code]


@dataclass(frozen=True)
class StoredFile:
    key: str
    thumbnail_key: str | None  # None for PDFs
    content_type: str  # of the stored file: image/jpeg or application/pdf
    size: int  # of the stored file
    sha256: str  # hex, of the stored file
    original_sha256: str  # hex, of the bytes as uploaded (exact-duplicate detection)
    original_size: int
    original_type: str  # what the magic bytes said: image/heic, image/png, ...
    phash: str | None  # dHash, 16 hex digits; None for PDFs
    width: int | None  # of the stored (upright) image
    height: int | None


class AsyncReadable(Protocol):
    async def read(self, size: int = -1, /) -> bytes: ...


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


Source = AsyncIterable[bytes] | AsyncReadable | Readable


# -- hashing ----------------------------------------------------------------------------


def dhash(image: Image.Image) -> str:
    """64-bit difference hash as 16 hex digits: grayscale, shrink to 9x8, one bit per
    horizontally adjacent pair (left brighter than right). Survives resizing, recompression
    and small colour changes; ``hamming`` <= ~10 means "probably the same picture"."""
    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()
    value = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            value = (value << 1) | (left > right)
    return f"{value:016x}"


def hamming(a: str | int, b: str | int) -> int:
    """Number of differing bits between two dHashes (hex strings or ints)."""
    x = int(a, 16) if isinstance(a, str) else a
    y = int(b, 16) if isinstance(b, str) else b
    return (x ^ y).bit_count()


HASH_BANDS = 4  # the 64 bits as four 16-bit bands, each kept in an indexed column
BAND_BITS = 64 // HASH_BANDS


def hash_bands(phash: str) -> tuple[int, ...]:
    """The dHash cut into ``HASH_BANDS`` integers, most significant band first."""
    value = int(phash, 16)
    mask = (1 << BAND_BITS) - 1
    return tuple((value >> (BAND_BITS * (HASH_BANDS - 1 - n))) & mask for n in range(HASH_BANDS))


def near_band_values(band: int) -> list[int]:
    """The band itself and every value one bit away. Two hashes at most
    ``2 * HASH_BANDS - 1`` bits apart share at least one band within one bit (if every
    band differed in two bits or more they would differ in ``2 * HASH_BANDS``), so looking
    these up in the band columns finds every near-duplicate without a scan."""
    return [band, *(band ^ (1 << bit) for bit in range(BAND_BITS))]


# -- sniffing and checks ----------------------------------------------------------------


def sniff(head: bytes) -> str | None:
    """The MIME type the magic bytes say, or None for anything we do not take."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIC
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def _check_pdf(path: Path, head: bytes, size: int) -> None:
    if not _PDF_HEADER.match(head):
        raise UploadRejected(UploadErrorCode.NOT_A_PDF, "no %PDF-x.y header")
    with path.open("rb") as handle:
        handle.seek(max(0, size - PDF_TRAILER_WINDOW))
        tail = handle.read()
    if b"%%EOF" not in tail:
        raise UploadRejected(UploadErrorCode.NOT_A_PDF, "no %%EOF trailer (truncated?)")


@cache
def _register_heif() -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False)


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def configure_pillow(max_pixels: int) -> None:
    """Set Pillow's process-wide decompression-bomb guard: every ``Image.open`` in the
    process, ours or a library's, then warns above ``max_pixels`` and refuses above twice
    that. Call once at start-up with the largest pixel limit in use."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def _let_pillow_allow(max_pixels: int) -> None:
    # Our own check (header, before decoding) is exact and per call. Pillow's global guard
    # stays as the backstop, but must never refuse what this call's limit allows.
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


# -- the image work (runs in a worker thread) -------------------------------------------


@dataclass(frozen=True)
class _Processed:
    width: int
    height: int
    thumbnail: bytes
    phash: str


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    description = ImageCms.getProfileDescription(profile) or ""
    return "srgb" in description.lower().replace(" ", "")


def _to_srgb(image: Image.Image) -> Image.Image:
    """An RGB image in sRGB with no alpha; may return ``image`` itself."""
    icc = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # No copy of an RGBA frame, and its alpha band is the mask (no channel copy).
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba)
        image = flat
    elif image.mode.startswith("I"):  # 16/32-bit grayscale: scale down to 8 bits
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if icc and image.mode in ("RGB", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode == "RGB" and _is_srgb(source):
                return image  # converting sRGB to itself costs half the pipeline's time
            if image.mode == "RGB":  # in place: no second full frame in memory
                ImageCms.profileToProfile(image, source, _srgb(), inPlace=True)
                return image
            converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # a broken or unusable profile: take the pixels as sRGB
        if converted is not None:
            return converted
    return image if image.mode == "RGB" else image.convert("RGB")


def _thumbnail_size(width: int, height: int, bound: int) -> tuple[int, int]:
    scale = min(1.0, bound / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


BYTES_PER_PIXEL = 4  # Pillow keeps RGB, RGBA, CMYK, LA... as 4 bytes a pixel


@contextlib.contextmanager
def _opened(path: Path, content_type: str, max_pixels: int) -> Iterator[Image.Image]:
    """The image with only its header read and its pixel count checked (nothing decoded
    yet); Pillow's errors, there or in the caller's decoding, become typed refusals."""
    if content_type == HEIC:
        _register_heif()
    _let_pillow_allow(max_pixels)
    try:
        with Image.open(path, formats=[_PILLOW_FORMATS[content_type]]) as image:
            width, height = image.size  # from the header
            if width * height > max_pixels:
                raise UploadRejected(
                    UploadErrorCode.TOO_MANY_PIXELS, f"{width}x{height} > {max_pixels} pixels"
                )
            yield image
    except Image.DecompressionBombError as exc:
        raise UploadRejected(UploadErrorCode.TOO_MANY_PIXELS, str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # UnidentifiedImageError too
        raise UploadRejected(UploadErrorCode.CORRUPT_IMAGE, str(exc)) from exc


def _decode_cost(path: Path, content_type: str, max_pixels: int) -> int:
    """The bytes decoding this image holds at its peak, estimated from the header: the
    frame, and one more while it is turned upright, converted to RGB, or while a HEIF
    decoder's buffer or a progressive JPEG's coefficients are alive beside it."""
    with _opened(path, content_type, max_pixels) as image:
        frames = 1
        frames += image.getexif().get(ExifTags.Base.Orientation, 1) not in (0, 1)
        frames += image.mode != "RGB"
        frames += content_type == HEIC or bool(image.info.get("progressive"))
        return image.width * image.height * BYTES_PER_PIXEL * frames


def _process_image(
    path: Path, content_type: str, max_pixels: int, output: Path, thumbnail_bound: int
) -> _Processed:
    with _opened(path, content_type, max_pixels) as opened:
        opened.load()  # decode now: a truncated or corrupt file fails here
        ImageOps.exif_transpose(opened, in_place=True)
        clean = _to_srgb(opened)
        if clean is not opened:
            opened.close()  # its frame goes now, not after the save: one full copy held
        clean.info = {}  # EXIF, GPS, XMP, ICC, comments: none of it is written
        clean.save(output, "JPEG", quality=JPEG_QUALITY)
        thumbnail = clean.resize(
            _thumbnail_size(*clean.size, thumbnail_bound),
            Image.Resampling.LANCZOS,
            reducing_gap=3.0,
        )
        width, height = clean.size
        clean.close()
    buffer = io.BytesIO()
    thumbnail.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return _Processed(width, height, buffer.getvalue(), dhash(thumbnail))


# -- the pipeline -----------------------------------------------------------------------


async def _chunks_of(source: Source) -> AsyncIterator[bytes]:
    """Chunks from an async iterator, an async file (Starlette's ``UploadFile``, which
    strawberry hands to resolvers) or a plain binary file (read in a worker thread)."""
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
        return
    if inspect.iscoroutinefunction(source.read):
        read_async = cast(AsyncReadable, source).read
        while chunk := await read_async(CHUNK_SIZE):
            yield chunk
    else:
        read_sync = cast(Readable, source).read
        while chunk := await to_thread.run_sync(read_sync, CHUNK_SIZE):
            yield chunk


async def _single(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def ingest(
    source: Source,
    *,
    purpose: Purpose | str,
    max_bytes: int,
    max_pixels: int,
    storage: ObjectStorage,
    key_prefix: str,
    thumbnail_size: int = THUMBNAIL_SIZE,
    temp_dir: Path | None = None,
    gate: DecodeGate | None = None,
) -> StoredFile:
    """Check, clean and store one upload under ``{key_prefix}/{random}.jpg|pdf``.

    ``temp_dir`` must be on disk (not tmpfs, or the spooled upload is in RAM after all).
    ``gate`` bounds the images decoding at once, by count and by estimated bytes: each
    decode holds width x height x 4 bytes of pixels in C memory, so 20 concurrent 48 MP
    uploads would need ~4 GB without one. Pass one ``DecodeGate`` shared by the whole
    process.

    Raises ``UploadRejected`` for a file that is not acceptable (nothing stored) and
    ``storage.base.StorageError`` when the backend fails (nothing left stored either).
    """
    purpose = Purpose(purpose)
    name = uuid.uuid4().hex
    validate_key(f"{key_prefix}/{name}.jpg")
    work = temp_dir or Path(tempfile.gettempdir())
    original = work / f"anxin-upload-{name}"
    encoded = work / f"anxin-upload-{name}.jpg"
    try:
        try:
            spooled = await spool_to_file(_chunks_of(source), original, max_bytes=max_bytes)
        except SizeLimitExceeded as exc:
            raise UploadRejected(UploadErrorCode.FILE_TOO_LARGE, str(exc)) from exc
        if spooled.size == 0:
            raise UploadRejected(UploadErrorCode.EMPTY_FILE)
        kind = sniff(spooled.head)
        if kind is None or (kind == PDF and purpose is not Purpose.DOCUMENT):
            raise UploadRejected(UploadErrorCode.UNSUPPORTED_TYPE, repr(spooled.head[:8]))
        if kind == PDF:
            await to_thread.run_sync(_check_pdf, original, spooled.head, spooled.size)
            key = f"{key_prefix}/{name}.pdf"
            await storage.put(key, await FileChunks.open(original), PDF)
            return StoredFile(
                key=key,
                thumbnail_key=None,
                content_type=PDF,
                size=spooled.size,
                sha256=spooled.sha256,
                original_sha256=spooled.sha256,
                original_size=spooled.size,
                original_type=PDF,
                phash=None,
                width=None,
                height=None,
            )
        cost = await to_thread.run_sync(_decode_cost, original, kind, max_pixels)
        async with gate.admit(cost) if gate is not None else contextlib.nullcontext():
            processed = await to_thread.run_sync(
                _process_image, original, kind, max_pixels, encoded, thumbnail_size
            )
        size, sha256 = await sha256_of(encoded)
        key, thumbnail_key = f"{key_prefix}/{name}.jpg", f"{key_prefix}/{name}-thumb.jpg"
        await storage.put(key, await FileChunks.open(encoded), JPEG)
        try:
            await storage.put(thumbnail_key, _single(processed.thumbnail), JPEG)
        except BaseException:
            # Shielded: when the request is cancelled, the delete must still run.
            with CancelScope(shield=True), contextlib.suppress(Exception):
                await storage.delete(key)
            raise
        return StoredFile(
            key=key,
            thumbnail_key=thumbnail_key,
            content_type=JPEG,
            size=size,
            sha256=sha256,
            original_sha256=spooled.sha256,
            original_size=spooled.size,
            original_type=kind,
            phash=processed.phash,
            width=processed.width,
            height=processed.height,
        )
    finally:
        remove_quietly(original)
        remove_quietly(encoded)
