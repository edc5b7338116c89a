"""One definition of "overdue": the staff queue's filter (``overdue_claims``) finds
exactly the claims whose shown clocks (``clocks(claim).overdue``) say so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from models.claims import Claim, ClaimStatus
from tests.factories import make_claim, make_customer, make_policy
from workflows.claims import DECISION_DUE, PAYMENT_DUE, clocks, overdue_claims

S = ClaimStatus


async def test_the_queue_filter_and_the_clocks_agree(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    now = datetime.now(UTC)
    late_submission = now - DECISION_DUE - timedelta(hours=1)
    recent = now - timedelta(days=1)
    late_decision = now - PAYMENT_DUE - timedelta(hours=1)
    paid = {"paid_at": recent, "paid_amount": Decimal(100)}
    cases = {
        "waiting for a decision too long": (S.UNDER_REVIEW, {"submitted_at": late_submission}),
        "more information asked, too long": (
            S.MORE_INFO_REQUESTED,
            {"submitted_at": late_submission},
        ),
        "submitted recently": (S.SUBMITTED, {"submitted_at": recent}),
        "withdrawn after a long wait": (S.WITHDRAWN, {"submitted_at": late_submission}),
        "paying too long": (
            S.PAYING,
            {"submitted_at": late_submission, "decided_at": late_decision},
        ),
        "paid in time": (
            S.PAID,
            {"submitted_at": late_submission, "decided_at": late_decision, **paid},
        ),
        "rejected long ago": (
            S.REJECTED,
            {"submitted_at": late_submission, "decided_at": late_decision},
        ),
        "approved recently": (
            S.APPROVED,
            {"submitted_at": late_submission, "decided_at": recent},
        ),
    }
    made: dict[str, Claim] = {}
    for name, (status, times) in cases.items():
        approved = Decimal(0) if status in (S.REJECTED, S.UNDER_REVIEW) else Decimal(100)
        made[name] = await make_claim(customer, policy, status, approved_amount=approved, **times)
    by_clocks = {name for name, claim in made.items() if clocks(claim, now).overdue}
    found = set(await Claim.filter(overdue_claims(now)).values_list("id", flat=True))
    by_filter = {name for name, claim in made.items() if claim.id in found}
    assert by_clocks == {
        "waiting for a decision too long",
        "more information asked, too long",
        "paying too long",
    }
    assert by_filter == by_clocks
