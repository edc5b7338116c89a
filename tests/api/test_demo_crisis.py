"""The demo's crisis incident is made by the real workflows: closed, with its review,
linking the complaints the rules caught, its customer statement sent once each."""

from __future__ import annotations

from api.demo import seed
from api.demo_crisis import TEXTS, seed_crisis
from api.services import Services
from api.settings import Settings
from models.complaints import Complaint
from models.crisis import CrisisStatus, StatementStatus
from models.notifications import OutboxEvent


async def test_the_demo_has_one_closed_incident_with_its_review(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    incident = await seed_crisis()
    assert incident is not None and incident.status is CrisisStatus.CLOSED
    assert incident.review_causes and incident.review_timeline
    assert await Complaint.filter(incident_id=incident.id).count() == len(TEXTS)
    statements = await incident.statements.all()
    assert {s.status for s in statements} == {StatementStatus.RELEASED}
    assert await OutboxEvent.filter(event_type="crisis.notice").count() == len(TEXTS)
