"""Scheduled reminders: premium due (7 and 1 days before), overdue, policy expiring (30
and 7 days before); each once, however often and wherever the worker runs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from api.services import Services
from models.clock import SHANGHAI
from models.notifications import OutboxEvent
from models.policies import Policy, PolicyStatus, PremiumInstallment
from tests.factories import make_customer, make_policy
from workflows.reminders import run_reminders

TODAY = date(2026, 11, 30)


def shanghai(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


async def events() -> list[tuple[str, str]]:
    return [(e.event_type, e.dedupe_key or "") for e in await OutboxEvent.all().order_by("id")]


async def test_premium_reminders_by_stage(services: Services) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder, installments=1)
    installment = await PremiumInstallment.get(policy_id=policy.id)
    await Policy.filter(id=policy.id).update(ends_at=shanghai(TODAY + timedelta(days=300)))

    async def on_day(due_in: int) -> list[str]:
        await PremiumInstallment.filter(id=installment.id).update(
            paid_at=None, due_date=TODAY + timedelta(days=due_in)
        )
        await run_reminders(TODAY)
        return [e.event_type for e in await OutboxEvent.all()]

    assert await on_day(10) == []
    assert await on_day(7) == ["premium.due"]
    assert await on_day(5) == ["premium.due"]  # the 7-day reminder is not repeated
    assert await on_day(1) == ["premium.due", "premium.due"]
    assert await on_day(-1) == ["premium.due", "premium.due", "premium.overdue"]
    await run_reminders(TODAY)
    assert len(await OutboxEvent.all()) == 3
    payload = (await OutboxEvent.filter(event_type="premium.overdue").first()).payload  # type: ignore[union-attr]
    assert payload["policy_number"] == policy.number and payload["amount"] == "600.00"
    assert (await OutboxEvent.first()).customer_id == holder.id  # type: ignore[union-attr]


async def test_paid_and_closed_policies_get_no_premium_reminders(services: Services) -> None:
    holder = await make_customer(services)
    paid = await make_policy(services, holder, installments=1)
    cancelled = await make_policy(services, holder, installments=1, status=PolicyStatus.CANCELLED)
    await PremiumInstallment.filter(policy_id=paid.id).update(due_date=TODAY)
    await PremiumInstallment.filter(policy_id=cancelled.id).update(paid_at=None, due_date=TODAY)
    await Policy.all().update(ends_at=shanghai(TODAY + timedelta(days=300)))
    await run_reminders(TODAY)
    assert await events() == []


async def test_expiry_reminders(services: Services) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder, installments=0)

    async def ends_in(days: int) -> list[tuple[str, str]]:
        """Cover ends at 24:00 of the day ``days`` days from today."""
        end = shanghai(TODAY + timedelta(days=days + 1)) - timedelta(seconds=1)
        await Policy.filter(id=policy.id).update(ends_at=end)
        await run_reminders(TODAY)
        return await events()

    assert await ends_in(45) == []
    assert await ends_in(30) == [("policy.expiring", f"policy.expiring:{policy.id}:30d")]
    assert len(await ends_in(8)) == 1
    assert len(await ends_in(7)) == 2
    assert len(await ends_in(3)) == 2
    event = await OutboxEvent.filter(dedupe_key__endswith=":7d").first()
    assert event is not None and event.payload["days"] == "7"


async def test_a_policy_whose_term_has_ended_gets_no_overdue_reminder(
    services: Services,
) -> None:
    """Its status may still say LAPSED (or ACTIVE) until the status job runs: the term
    decides, not the order in which the jobs ran at start."""
    holder = await make_customer(services)
    lapsed = await make_policy(services, holder, installments=1, status=PolicyStatus.LAPSED)
    running = await make_policy(services, holder, installments=1, status=PolicyStatus.LAPSED)
    await PremiumInstallment.all().update(paid_at=None, due_date=TODAY - timedelta(days=40))
    await Policy.filter(id=lapsed.id).update(ends_at=shanghai(TODAY) - timedelta(seconds=1))
    await Policy.filter(id=running.id).update(ends_at=shanghai(TODAY + timedelta(days=30)))
    await run_reminders(TODAY)
    assert [(e.event_type, e.payload["policy_number"]) for e in await OutboxEvent.all()] == [
        ("premium.overdue", running.number)
    ]
