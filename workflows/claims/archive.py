"""The archive of a closed claim, for records and audits; times in Beijing time, as the
people reading it count them."""

from __future__ import annotations

import uuid
from typing import Any

from models.claims import ClaimDocument, ClaimEvent, ClaimLine
from models.clock import local_time
from models.policies import Policy
from storage.base import download_name
from workflows.access import Actor
from workflows.claims.rules import A, ClaimError, ClaimErrorCode, S
from workflows.claims.state import load_claim


async def archive(actor: Actor, claim_id: uuid.UUID) -> dict[str, Any]:
    """The archive of a closed claim: the claim, its timeline, the decision and a manifest
    of its files with their hashes (so the file set can be verified later)."""
    claim = await load_claim(actor, claim_id, A.ARCHIVE)
    if claim.status is not S.CLOSED:
        raise ClaimError(ClaimErrorCode.ILLEGAL_TRANSITION, "只有已结案的案件可以导出归档")
    policy = await Policy.get(id=claim.policy_id)
    events = await ClaimEvent.filter(claim_id=claim.id).order_by("created_at")
    lines = await ClaimLine.filter(claim_id=claim.id).select_related("coverage")
    documents = await ClaimDocument.filter(claim_id=claim.id).order_by("created_at")
    return {
        "claim": {
            "reportNumber": claim.report_number,
            "policyNumber": policy.number,
            "status": str(claim.status),
            "lossType": claim.loss_type,
            "lossAt": local_time(claim.loss_at).isoformat(),
            "lossLocation": claim.loss_location,
            "description": claim.description,
            "channel": str(claim.channel),
            "lateReport": claim.late_report,
            "approvedAmount": f"{claim.approved_amount:.2f}",
            "paidAmount": f"{claim.paid_amount:.2f}",
            "payoutReference": claim.payout_reference,
            "rejectionReason": str(claim.rejection_reason) if claim.rejection_reason else None,
            "closedAt": local_time(claim.closed_at).isoformat() if claim.closed_at else None,
        },
        "timeline": [
            {
                "at": local_time(e.created_at).isoformat(),
                "actor": e.actor_kind,
                "action": e.action,
                "from": str(e.from_status) if e.from_status else None,
                "to": str(e.to_status),
                "note": e.note,
            }
            for e in events
        ],
        "decision": [
            {
                "coverage": line.coverage.name,
                "claimed": f"{line.claimed_amount:.2f}",
                "deductible": f"{line.deductible_applied:.2f}",
                "approved": f"{line.approved_amount:.2f}",
                "reason": line.reason,
            }
            for line in lines
        ],
        "files": [
            {
                "checklistCode": d.checklist_code,
                "fileName": download_name(d.file_name, d.content_type),
                "contentType": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
                "originalSha256": d.original_sha256,
                "storageKey": d.storage_key,
            }
            for d in documents
        ],
    }
