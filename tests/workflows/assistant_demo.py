"""The demo data the assistant's tests ask about: the demo seed itself (customers,
policies of every kind, claims in several states made through the claims workflow)
and the demo knowledge base, loaded into the test's own database."""

from __future__ import annotations

from api import demo
from api.demo_knowledge import seed_knowledge
from api.services import Services
from api.settings import Settings
from models.auth import SubjectKind
from models.customers import Customer
from workflows.access import Actor


async def load(settings: Settings, services: Services) -> None:
    await demo.seed(settings, services.pii)
    await demo.seed_claims(services)
    await seed_knowledge()


async def customer(services: Services, phone: str) -> Actor:
    row = await Customer.get(phone_hash=services.pii.phone_hash(phone))
    return Actor(SubjectKind.CUSTOMER, row.id)
