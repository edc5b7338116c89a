"""Personal-information rights (个人信息保护法): marketing consent, the download of one's
own data, and deletion of what the law does not require us to keep.

The download is built inline: one customer's rows are a few hundred at most and the
files are their own claim photos and policy documents, capped at ``max_bytes`` (past
it: EXPORT_TOO_LARGE, nothing stored). One per customer and local day (the database
keeps it so: unique customer + day); the ZIP is read through the existing signed file
links and deleted by the retention job once its link has expired.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimDocument
from models.clock import SHANGHAI, local_today
from models.complaints import Complaint
from models.conversations import Conversation, ConversationMessage, MessageAuthor
from models.customers import Customer
from models.notifications import Device, Notification
from models.payments import PaymentOrder
from models.pii import PiiCipher
from models.policies import Policy
from models.policy_documents import PolicyDocument
from models.privacy import (
    DataDeletionRequest,
    DataExport,
    DataExportStatus,
    MarketingConsent,
)
from models.surveys import ServiceRating, SurveyInvitation, SurveyResponse, SurveyTemplate
from storage.base import ObjectNotFoundError, ObjectStorage
from workflows.access import customer_policy_filter
from workflows.privacy.rules import KEPT, PrivacyError, PrivacyErrorCode

ERASED = "（已应客户要求删除）"
SKIPPED_SUFFIXES = ("_encrypted", "_hash")  # sealed copies and look-up hashes: not data


@dataclass(frozen=True)
class ExportDeps:
    storage: ObjectStorage
    pii: PiiCipher
    link_seconds: int  # how long the signed link lives
    max_bytes: int = 100 * 1024 * 1024


# ---------------------------------------------------------------- marketing consent


async def set_marketing_consent(customer_id: uuid.UUID, given: bool) -> MarketingConsent:
    """Give or withdraw marketing consent (one row per customer, kept by the database)."""
    now = datetime.now(UTC)
    async with in_transaction():
        row, created = await MarketingConsent.get_or_create(
            customer_id=customer_id, defaults={"given": given, "changed_at": now}
        )
        if not created and row.given != given:
            await MarketingConsent.filter(id=row.id).update(given=given, changed_at=now)
    return await MarketingConsent.get(customer_id=customer_id)


async def consenting(customer_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``customer_ids`` who gave marketing consent (none by default)."""
    rows = await MarketingConsent.filter(customer_id__in=list(customer_ids), given=True)
    return {row.customer_id for row in rows}


# ---------------------------------------------------------------- my data


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.endswith(SKIPPED_SUFFIXES)} for row in rows]


async def _rows(query: Any) -> list[dict[str, Any]]:
    return _plain(await query.values())


async def collect(pii: PiiCipher, customer_id: uuid.UUID) -> dict[str, Any]:
    """Everything we hold about the customer, as JSON-able rows (sealed values opened:
    it is their own data)."""
    customer = await Customer.get(id=customer_id)
    claims = Claim.filter(customer_id=customer_id)
    conversations = Conversation.filter(customer_id=customer_id)
    invitations = SurveyInvitation.filter(customer_id=customer_id)
    return {
        "profile": {
            "name": customer.name,
            "phone": pii.decrypt(customer.phone_encrypted, "phone"),
            "idNumber": (
                pii.decrypt(customer.id_number_encrypted, "id_number")
                if customer.id_number_encrypted
                else None
            ),
            "email": (
                pii.decrypt(customer.email_encrypted, "email") if customer.email_encrypted else None
            ),
            "registeredAt": customer.created_at,
        },
        "policies": await _rows(Policy.filter(customer_policy_filter(customer_id))),
        "claims": await _rows(claims),
        "claimDocuments": await _rows(
            ClaimDocument.filter(claim_id__in=Subquery(claims.values("id")))
        ),
        "policyDocuments": await _rows(PolicyDocument.filter(customer_id=customer_id)),
        "paymentOrders": await _rows(PaymentOrder.filter(customer_id=customer_id)),
        "notifications": await _rows(Notification.filter(customer_id=customer_id)),
        "devices": await Device.filter(customer_id=customer_id).values(
            "id", "platform", "created_at"
        ),
        "conversations": await _rows(conversations),
        "conversationMessages": await _rows(
            ConversationMessage.filter(conversation_id__in=Subquery(conversations.values("id")))
        ),
        "surveyResponses": await _rows(
            SurveyResponse.filter(invitation_id__in=Subquery(invitations.values("id")))
        ),
        "serviceRatings": await _rows(ServiceRating.filter(customer_id=customer_id)),
        "complaints": await _rows(Complaint.filter(customer_id=customer_id)),
        "marketingConsent": await _rows(MarketingConsent.filter(customer_id=customer_id)),
    }


async def _files(customer_id: uuid.UUID) -> list[tuple[str, str]]:
    """(path in the ZIP, storage key) of the customer's claim uploads and documents."""
    out = []
    for doc in await ClaimDocument.filter(claim__customer_id=customer_id).select_related("claim"):
        out.append(
            (
                f"documents/claims/{doc.claim.report_number}/{doc.id}-{doc.file_name}",
                doc.storage_key,
            )
        )
    for pdoc in await PolicyDocument.filter(customer_id=customer_id):
        out.append((f"documents/policies/{pdoc.number}-{pdoc.file_name}", pdoc.storage_key))
    return out


async def _read(storage: ObjectStorage, key: str, budget: int) -> bytes | None:
    try:
        stream = await storage.get(key)
    except ObjectNotFoundError:
        return None  # deleted by retention meanwhile: the JSON still lists it
    data = bytearray()
    try:
        async for chunk in stream:
            data.extend(chunk)
            if len(data) > budget:
                raise PrivacyError(
                    PrivacyErrorCode.EXPORT_TOO_LARGE, "数据量过大，请联系客服协助导出"
                )
    finally:
        await stream.aclose()
    return bytes(data)


async def build_zip(deps: ExportDeps, customer_id: uuid.UUID, *, documents: bool = True) -> bytes:
    data = await collect(deps.pii, customer_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        archive.writestr("my-data.json", text)
        used = len(text.encode())
        for path, key in await _files(customer_id) if documents else []:
            content = await _read(deps.storage, key, deps.max_bytes - used)
            if content is not None:
                archive.writestr(path, content)
                used += len(content)
    return buffer.getvalue()


async def _one(blob: bytes) -> AsyncIterator[bytes]:
    yield blob


def _until_tomorrow(now: datetime) -> int:
    local = now.astimezone(SHANGHAI)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - local).total_seconds()))


async def request_my_data(
    deps: ExportDeps, customer_id: uuid.UUID, *, documents: bool = True
) -> DataExport:
    """Build the customer's ZIP now and store it (with their files unless
    ``documents`` is false); one per local day."""
    now = datetime.now(UTC)
    key = f"exports/{customer_id}/{uuid.uuid4().hex}.zip"
    try:
        async with in_transaction():
            export = await DataExport.create(
                customer_id=customer_id,
                day=local_today(),
                status=DataExportStatus.READY,
                storage_key=key,
                size_bytes=0,
                expires_at=now + timedelta(seconds=deps.link_seconds),
            )
    except IntegrityError:
        raise PrivacyError(
            PrivacyErrorCode.EXPORT_LIMIT,
            "您今天已申请过个人数据下载，请使用已生成的下载链接或明天再试",
            retry_after=_until_tomorrow(now),
        ) from None
    try:
        blob = await build_zip(deps, customer_id, documents=documents)
        await deps.storage.put(key, _one(blob), "application/zip")
    except BaseException:
        await DataExport.filter(id=export.id).delete()  # the day's slot is given back
        raise
    await DataExport.filter(id=export.id).update(size_bytes=len(blob))
    return await DataExport.get(id=export.id)


def export_url(storage: ObjectStorage, export: DataExport) -> str | None:
    """A signed link to the ZIP while it lives; None once expired."""
    left = int((export.expires_at - datetime.now(UTC)).total_seconds())
    if export.status is not DataExportStatus.READY or left < 1 or export.size_bytes == 0:
        return None  # expired, or never finished (a process stopped while building it)
    return storage.signed_url(
        export.storage_key, expires_in=left, filename=f"anxin-my-data-{export.day}.zip"
    )


# ---------------------------------------------------------------- deletion


async def _survey_text(customer_id: uuid.UUID) -> int:
    """Free-text answers and rating comments cleared; scores stay (anonymous figures)."""
    erased = 0
    invitations = SurveyInvitation.filter(customer_id=customer_id).values("id")
    responses = await SurveyResponse.filter(invitation_id__in=Subquery(invitations))
    templates = {
        t.id: t for t in await SurveyTemplate.filter(id__in={r.template_id for r in responses})
    }
    for response in responses:
        texts = {
            str(q["id"])
            for q in templates[response.template_id].questions
            if q.get("kind") == "TEXT"
        }
        answers = dict(response.answers)
        cleared = [k for k in texts if answers.get(k)]
        if cleared:
            for k in cleared:
                answers[k] = ""
            await SurveyResponse.filter(id=response.id).update(answers=answers)
            erased += len(cleared)
    erased += (
        await ServiceRating.filter(customer_id=customer_id).exclude(comment="").update(comment="")
    )
    return erased


async def _exports(storage: ObjectStorage, customer_id: uuid.UUID) -> int:
    rows = await DataExport.filter(customer_id=customer_id)
    for row in rows:
        await storage.delete(row.storage_key)
    return await DataExport.filter(id__in=[r.id for r in rows]).delete()


async def request_data_deletion(
    storage: ObjectStorage, customer_id: uuid.UUID, *, confirm: bool
) -> DataDeletionRequest:
    """Delete or anonymise what the law does not require us to keep (``rules.DELETED``);
    what is kept and why (``rules.KEPT``) is stored with the request and shown."""
    if not confirm:
        raise PrivacyError(
            PrivacyErrorCode.CONFIRMATION_REQUIRED, "请确认删除：删除后无法恢复", "confirm"
        )
    deleted: dict[str, int] = {}
    async with in_transaction():
        deleted["MARKETING_CONSENT"] = await MarketingConsent.filter(
            customer_id=customer_id
        ).delete()
        deleted["DEVICES"] = await Device.filter(customer_id=customer_id).delete()
        deleted["NOTIFICATIONS"] = await Notification.filter(customer_id=customer_id).delete()
        conversations = Conversation.filter(customer_id=customer_id).values("id")
        deleted["CONVERSATIONS"] = await ConversationMessage.filter(
            conversation_id__in=Subquery(conversations), author=MessageAuthor.CUSTOMER
        ).update(text=ERASED, attachments=[])
        await Conversation.filter(customer_id=customer_id).update(summary={})
        deleted["SURVEY_TEXT"] = await _survey_text(customer_id)
    deleted["DATA_EXPORTS"] = await _exports(storage, customer_id)
    kept = [
        {"kind": k.kind, "name": k.name, "reason": k.reason, "retention": k.retention} for k in KEPT
    ]
    return await DataDeletionRequest.create(customer_id=customer_id, deleted=deleted, kept=kept)
