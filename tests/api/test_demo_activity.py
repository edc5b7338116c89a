"""The dashboard's demo: three months of claims made by the claims workflow and moved
back in time by it (``backdate_claim``), so every month has reports, decisions and
payouts, some clocks ran out, three old claims are overdue now, and each claim's
timeline tells the same story as its times."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from api.demo import seed
from api.demo_activity import CLAIMS, DAYS, seed_activity
from api.services import Services
from api.settings import Settings
from models.auth import SubjectKind
from models.claims import Claim, ClaimEvent, ClaimStatus
from models.clock import local_today
from models.conversations import Conversation
from models.notifications import Delivery
from models.staff import StaffRole
from workflows.access import Actor
from workflows.analytics import Period, service_dashboard
from workflows.claims.demo import PastSteps, backdate_claim
from workflows.claims.rules import overdue_claims


async def test_three_months_of_activity(settings: Settings, services: Services) -> None:
    await seed(settings, services.pii)
    await seed_activity(services)
    now = datetime.now(UTC)
    claims = await Claim.all()
    assert len(claims) == CLAIMS
    oldest = min(c.created_at for c in claims)
    assert now - oldest > timedelta(days=DAYS - 2)
    assert all(c.loss_at < c.created_at for c in claims)
    statuses = Counter(c.status for c in claims)
    assert statuses[ClaimStatus.PAID] + statuses[ClaimStatus.CLOSED] > CLAIMS // 2
    assert statuses[ClaimStatus.REJECTED] >= 5
    assert await Claim.filter(overdue_claims(now)).count() >= 3

    paid = next(c for c in claims if c.paid_at and c.decided_at and c.submitted_at)
    assert paid.submitted_at and paid.decided_at and paid.paid_at
    assert paid.created_at < paid.submitted_at < paid.decided_at < paid.paid_at
    events = {e.to_status: e.created_at for e in await ClaimEvent.filter(claim_id=paid.id)}
    assert events[ClaimStatus.PAID] == paid.paid_at
    assert (
        events[
            ClaimStatus.REPORTED
            if ClaimStatus.REPORTED in events
            else ClaimStatus.DOCUMENTS_PENDING
        ]
        == paid.created_at
    )

    admin = Actor(SubjectKind.STAFF, None, None, StaffRole.ADMIN)
    today = local_today()
    board = await service_dashboard(admin, Period.MONTH, today - timedelta(days=DAYS), today)
    monthly = [f for f in board.funnel if f.segment == "ALL"]
    assert all(f.reported > 0 for f in monthly)
    assert sum(b.decision.count for b in board.breaches) > 0
    assert sum(b.payment.count for b in board.breaches) > 0
    assert {p.loss_type for p in board.payouts} >= {"COLLISION", "OUTPATIENT"}
    assert {d.channel for d in board.deliveries} == {"APNS", "FCM", "WECHAT", "SMS"}
    assert sum(d.failed for d in board.deliveries) > 0
    assert len(board.root_causes) >= 5
    assert sum(c.handed_off.count for c in board.conversations) > 0
    assert await Delivery.all().count() > CLAIMS and await Conversation.all().count() == 60

    # Backdating moves steps taken; it refuses to invent one.
    waiting = await Claim.filter(decided_at=None, submitted_at__not_isnull=True).first()
    assert waiting is not None
    with pytest.raises(ValueError, match="decided_at"):
        await backdate_claim(
            waiting.id,
            PastSteps(reported_at=waiting.created_at, decided_at=datetime.now(UTC)),
            timedelta(hours=1),
        )
