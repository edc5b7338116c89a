"""Demo data only: a claim moved back to when its steps are meant to have happened, so the
demo can show months of activity and clocks and promises that ran out. Kept here because
the claims workflow is the only writer of claims (tests/test_architecture.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimEvent, ClaimStatus


@dataclass(frozen=True)
class PastSteps:
    """When each step of a demo claim happened (None: it has not)."""

    reported_at: datetime
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None


# Which step's time a timeline event takes, by the status it moved the claim to.
_STEP_OF = {
    ClaimStatus.REPORTED: "reported_at",
    ClaimStatus.DOCUMENTS_PENDING: "reported_at",
    ClaimStatus.SUBMITTED: "submitted_at",
    ClaimStatus.UNDER_REVIEW: "submitted_at",
    ClaimStatus.MORE_INFO_REQUESTED: "submitted_at",
    ClaimStatus.APPROVED: "decided_at",
    ClaimStatus.PARTIALLY_APPROVED: "decided_at",
    ClaimStatus.REJECTED: "decided_at",
    ClaimStatus.PAYING: "paid_at",
    ClaimStatus.PAID: "paid_at",
    ClaimStatus.CLOSED: "closed_at",
}


async def backdate_claim(claim_id: uuid.UUID, steps: PastSteps, loss_before: timedelta) -> None:
    """Move a demo claim, made through the workflow just now, back to when its steps are
    meant to have happened (the analytics demo shows three months of activity): the
    claim's times, and its timeline events' times, so both tell the same story. The
    claim must already have taken each step given."""
    times = {
        "created_at": steps.reported_at,
        "loss_at": steps.reported_at - loss_before,
        "submitted_at": steps.submitted_at,
        "decided_at": steps.decided_at,
        "paid_at": steps.paid_at,
        "closed_at": steps.closed_at,
    }
    claim = await Claim.get(id=claim_id)
    for name in ("submitted_at", "decided_at", "paid_at", "closed_at"):
        if times[name] is not None and getattr(claim, name) is None:
            raise ValueError(f"{claim.report_number} has no {name} to move back")
        if times[name] is None:
            times.pop(name)
    async with in_transaction():
        await Claim.filter(id=claim_id).update(**times)
        for event in await ClaimEvent.filter(claim_id=claim_id):
            step = getattr(steps, _STEP_OF.get(event.to_status, "reported_at"))
            moment = step or steps.reported_at
            await ClaimEvent.filter(id=event.id).update(created_at=moment)
