"""Claim data the privacy rules act on, written here because only the claims workflow
writes claims: a sealed value rewrapped to the current PII key (``anxin
rotate-pii-key``) and the uploads of claims withdrawn long ago (the retention job)."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.claims import Claim, ClaimDocument, ClaimEvent, ClaimStatus
from storage.base import ObjectStorage

SEALED_COLUMNS = frozenset({"contact_phone_encrypted", "payout_account_encrypted"})


async def rewrap_sealed(claim_id: uuid.UUID, column: str, old: str, new: str) -> int:
    """Replace a sealed value with the same value under the current key, only if it is
    still ``old`` (compare-and-set: a claim changed meanwhile keeps its new value)."""
    if column not in SEALED_COLUMNS:
        raise ValueError(f"{column} is not a sealed column of claims")
    return await Claim.filter(id=claim_id, **{column: old}).update(**{column: new})


async def purge_withdrawn_uploads(storage: ObjectStorage, withdrawn_before: datetime) -> int:
    """Delete the uploaded files (and their rows) of claims withdrawn before the given
    time: nothing was decided on them, so nothing requires keeping the photos. The
    claim and its timeline stay. Returns how many documents were deleted."""
    withdrawn = await ClaimEvent.filter(
        to_status=ClaimStatus.WITHDRAWN, created_at__lt=withdrawn_before
    ).values_list("claim_id", flat=True)
    still = await Claim.filter(id__in=list(withdrawn), status=ClaimStatus.WITHDRAWN).values_list(
        "id", flat=True
    )
    deleted = 0
    for document in await ClaimDocument.filter(claim_id__in=list(still)):
        await storage.delete(document.storage_key)
        if document.thumbnail_key:
            await storage.delete(document.thumbnail_key)
        deleted += await ClaimDocument.filter(id=document.id).delete()
    return deleted
