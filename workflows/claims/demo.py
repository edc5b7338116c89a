"""Demo data only: a claim shown as submitted earlier than it was, so the demo can show
clocks and promises that ran out. Kept here because the claims workflow is the only
writer of claims (tests/test_architecture.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from models.claims import Claim


async def backdate_submission(claim_id: uuid.UUID, submitted_at: datetime) -> None:
    """Move a submitted claim's submission time back (no event: nothing happened)."""
    await Claim.filter(id=claim_id, submitted_at__isnull=False).update(submitted_at=submitted_at)
