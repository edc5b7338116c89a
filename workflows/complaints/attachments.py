"""Photos and documents filed with a complaint (up to ``max_files``, 9 by default):
through the same pipeline as a claim's (type by magic bytes, size and pixel limits,
re-encoded without EXIF/GPS, random keys, signed links only). The complaint and its
files are kept together or not at all: a rejected file files nothing and leaves
nothing stored."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from models.complaint_remedies import ComplaintAttachment
from models.complaints import Complaint, ComplaintChannel
from storage.images import Source, StoredFile, UploadRejected
from workflows.access import Actor
from workflows.claim_documents import DocumentIntake, stored_file_name
from workflows.complaints import intake
from workflows.complaints.rules import CLOCKS, ClockSettings, ComplaintError, ComplaintErrorCode

E = ComplaintErrorCode


@dataclass
class Attachment:
    file_name: str
    source: Source


async def file_with_attachments(
    documents: DocumentIntake,
    max_files: int,
    actor: Actor,
    channel: ComplaintChannel,
    text: str,
    subjects: intake.Subjects,
    files: list[Attachment],
    clocks: ClockSettings = CLOCKS,
) -> Complaint:
    """``intake.file_complaint`` with the customer's files."""
    limit = min(max_files, documents.max_files)
    if len(files) > limit:
        raise ComplaintError(E.TOO_MANY_FILES, f"最多上传{limit}个附件", "files")
    if not actor.is_customer:
        raise ComplaintError(E.NOT_ALLOWED, "请先登录")
    folder = f"complaints/{uuid.uuid4()}"
    stored: list[StoredFile] = []
    try:
        for index, file in enumerate(files):
            try:
                stored.append(await documents.ingest(file.source, folder))
            except UploadRejected as rejected:
                raise ComplaintError(E.FILE_REJECTED, rejected.message, f"files.{index}") from None
        async with in_transaction():
            complaint = await intake.file_complaint(actor, channel, text, subjects, clocks=clocks)
            for file, kept in zip(files, stored, strict=True):
                await ComplaintAttachment.create(
                    complaint_id=complaint.id,
                    storage_key=kept.key,
                    thumbnail_key=kept.thumbnail_key,
                    content_type=kept.content_type,
                    size=kept.size,
                    sha256=kept.sha256,
                    width=kept.width,
                    height=kept.height,
                    file_name=stored_file_name(file.file_name, kept.content_type),
                    uploaded_by_kind=str(actor.kind),
                    uploaded_by_id=actor.subject_id,
                )
    except BaseException:
        for kept in stored:
            for key in (kept.key, kept.thumbnail_key):
                if key:
                    with contextlib.suppress(Exception):
                        await documents.storage.delete(key)
        raise
    return complaint
