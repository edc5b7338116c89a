"""Photos and documents of a claim: each upload goes through the image pipeline (type by
magic bytes, size and pixel limits, EXIF stripped, thumbnail, hashes) and is tied to a
checklist item. All files of one request are stored, or none.

A photo already used on another claim — the same bytes, the same re-encoded image, or a
near-identical one by perceptual hash — flags both claims for review. The signal is for
staff only: the customer's timeline never mentions it.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimDocument, ClaimStatus
from storage.base import ObjectStorage, download_name
from storage.decoding import DecodeGate
from storage.images import (
    HASH_BANDS,
    Purpose,
    Source,
    StoredFile,
    UploadRejected,
    hamming,
    hash_bands,
    ingest,
    near_band_values,
)
from workflows.access import Actor
from workflows.claims import (
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    claim_checklist,
    flag_for_review,
    load_claim,
)

S = ClaimStatus
UPLOAD_STATES = frozenset(
    {S.REPORTED, S.DOCUMENTS_PENDING, S.SUBMITTED, S.UNDER_REVIEW, S.MORE_INFO_REQUESTED}
)
NEAR_DUPLICATE_BITS = 6  # of 64: resized or recompressed copies of one photo stay below
assert NEAR_DUPLICATE_BITS < 2 * HASH_BANDS  # what the band lookup can find (near_band_values)


@dataclass(frozen=True)
class DocumentIntake:
    """What taking in a claim's files needs: where they are kept and the limits they
    must meet (built by the composition root from the settings)."""

    storage: ObjectStorage
    decoding: DecodeGate  # how many photos decode at once, process-wide
    max_files: int  # per request
    max_bytes: int  # per file
    max_pixels: int  # per image
    temp_dir: Path | None  # where uploads spool, on disk

    async def ingest(self, source: Source, key_prefix: str) -> StoredFile:
        """One file checked against these limits and stored under ``key_prefix`` (a
        claim's documents, a complaint's attachments): ``UploadRejected`` if it fails."""
        return await ingest(
            source,
            purpose=Purpose.DOCUMENT,
            max_bytes=self.max_bytes,
            max_pixels=self.max_pixels,
            storage=self.storage,
            key_prefix=key_prefix,
            temp_dir=self.temp_dir,
            gate=self.decoding,
        )


@dataclass
class Upload:
    checklist_code: str
    file_name: str
    source: Source


def stored_file_name(name: str, content_type: str) -> str:
    """The name an uploaded file is kept under: no path, no control characters, bounded,
    and the extension of the stored type (a HEIC photo is stored as JPEG)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip() or "file"
    return download_name(cleaned[-100:], content_type)


@dataclass(frozen=True)
class Added:
    claim: Claim  # as it is after the upload
    documents: list[ClaimDocument]  # in the order of the uploads


async def add_documents(
    intake: DocumentIntake, actor: Actor, claim_id: uuid.UUID, uploads: list[Upload]
) -> Claim:
    return (await attach_documents(intake, actor, claim_id, uploads)).claim


async def attach_documents(
    intake: DocumentIntake, actor: Actor, claim_id: uuid.UUID, uploads: list[Upload]
) -> Added:
    """Store ``uploads`` on the claim, all or none, for whoever may upload to it (the
    claimant, staff with CLAIM_REPORT); the documents made, for callers that name them
    (the mini-program's plain upload endpoint)."""
    claim = await load_claim(actor, claim_id, ClaimAction.UPLOAD_DOCUMENTS)
    if claim.status not in UPLOAD_STATES:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "案件已核定或结案，不能再上传材料")
    if not uploads:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请选择要上传的文件", "files")
    if len(uploads) > intake.max_files:
        raise ClaimError(
            ClaimErrorCode.TOO_MANY_FILES,
            f"一次最多上传{intake.max_files}个文件",
            "files",
        )
    codes = {item["code"] for item in await claim_checklist(claim)}
    for index, upload in enumerate(uploads):
        if upload.checklist_code not in codes:
            raise ClaimError(
                ClaimErrorCode.INVALID_CHECKLIST_ITEM,
                "材料类型不在本案的材料清单中",
                f"files.{index}.checklistCode",
            )
    stored: list[StoredFile] = []
    try:
        for index, upload in enumerate(uploads):
            try:
                stored.append(await intake.ingest(upload.source, f"claims/{claim.id}"))
            except UploadRejected as rejected:
                raise ClaimError(
                    ClaimErrorCode(str(rejected.code)), rejected.message, f"files.{index}.file"
                ) from None
        async with in_transaction():
            documents = [
                await ClaimDocument.create(
                    claim_id=claim.id,
                    checklist_code=upload.checklist_code,
                    storage_key=file.key,
                    thumbnail_key=file.thumbnail_key,
                    content_type=file.content_type,
                    size=file.size,
                    sha256=file.sha256,
                    original_sha256=file.original_sha256,
                    phash=file.phash,
                    **band_columns(file.phash),
                    width=file.width,
                    height=file.height,
                    # Named as what is stored: an iPhone's IMG_4032.HEIC is kept as JPEG.
                    file_name=stored_file_name(upload.file_name, file.content_type),
                    uploaded_by_kind=str(actor.kind),
                    uploaded_by_id=actor.subject_id,
                )
                for upload, file in zip(uploads, stored, strict=True)
            ]
            await _flag_reused_photos(claim, documents)
    except BaseException:
        await _discard(intake.storage, stored)
        raise
    await claim.refresh_from_db()
    return Added(claim, documents)


async def _discard(storage: ObjectStorage, files: list[StoredFile]) -> None:
    for file in files:
        for key in (file.key, file.thumbnail_key):
            if key:
                with contextlib.suppress(Exception):
                    await storage.delete(key)


def band_columns(phash: str | None) -> dict[str, Any]:
    """The indexed band columns of a photo's dHash (none for a file without one)."""
    values = hash_bands(phash) if phash else (None,) * HASH_BANDS
    return {f"phash_band_{n}": value for n, value in enumerate(values)}


def near_photos(phash: str) -> Q:
    """Documents whose dHash may be within ``NEAR_DUPLICATE_BITS`` of this one."""
    lookups: list[dict[str, Any]] = [
        {f"phash_band_{n}__in": near_band_values(band)} for n, band in enumerate(hash_bands(phash))
    ]
    return Q(*(Q(**lookup) for lookup in lookups), join_type="OR")


async def _flag_reused_photos(claim: Claim, documents: list[ClaimDocument]) -> None:
    """Mark this claim and every other claim that already holds the same photo."""
    others: dict[uuid.UUID, list[str]] = {}
    for document in documents:
        exact: list[uuid.UUID] = (
            await ClaimDocument.filter(  # type: ignore[assignment]
                Q(sha256=document.sha256) | Q(original_sha256=document.original_sha256)
            )
            .exclude(claim_id=claim.id)
            .values_list("claim_id", flat=True)
        )
        for other in exact:
            others.setdefault(other, []).append("相同照片")
        if document.phash is None:
            continue
        candidates = (
            await ClaimDocument.filter(near_photos(document.phash))
            .exclude(claim_id=claim.id)
            .values_list("claim_id", "phash")
        )
        for other_claim, phash in candidates:
            if hamming(phash, document.phash) <= NEAR_DUPLICATE_BITS:
                others.setdefault(other_claim, []).append("高度相似的照片")
    if not others:
        return
    numbers = dict(await Claim.filter(id__in=list(others)).values_list("id", "report_number"))
    signals = [
        f"与案件{numbers[other]}的材料存在{'、'.join(sorted(set(kinds)))}"
        for other, kinds in others.items()
    ]
    flags = {claim.id: signals}
    for other in others:
        flags[other] = [f"案件{claim.report_number}上传了与本案相同或相似的照片"]
    for claim_id in sorted(flags):  # rows locked in one order: two uploads cannot deadlock
        await flag_for_review(claim_id, flags[claim_id])
