"""Tiers from the rules: boundaries (a threshold met exactly counts, one short does
not), monotone rules enforced, the downgrade grace, recomputation from outbox events,
and the nightly pass."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.membership import Membership, MembershipEventSeen, MemberTier, PointsEntry
from models.notifications import OutboxEvent
from models.staff import StaffRole
from push.outbox import emit
from push.templates import render
from tests.conftest import postgres_only
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows.access import Actor
from workflows.membership import events, store
from workflows.membership.facts import facts_for, full_years
from workflows.membership.points import points_balance
from workflows.membership.rules import (
    DEFAULT_RULES,
    Criterion,
    Facts,
    MembershipError,
    MembershipErrorCode,
    evaluate,
    validate,
)
from workflows.membership.standing import Change, decide, recompute

GOLD_EXACTLY = Facts(
    active_policies=3,
    yearly_premium=Decimal("5000.00"),
    years_as_customer=1,
    claims_free_years=0,
    family_members=1,
)


def test_a_threshold_met_exactly_reaches_the_tier() -> None:
    result = evaluate(DEFAULT_RULES, GOLD_EXACTLY)
    assert result.tier is MemberTier.GOLD
    assert result.next_tier is MemberTier.PLATINUM
    missing = {m.criterion: (m.required, m.actual) for m in result.missing}
    assert missing[Criterion.ACTIVE_POLICIES] == (Decimal(5), Decimal(3))
    assert missing[Criterion.YEARLY_PREMIUM] == (Decimal(20000), Decimal("5000.00"))


@pytest.mark.parametrize(
    "short",
    [
        {"active_policies": 2},
        {"yearly_premium": Decimal("4999.99")},
        {"years_as_customer": 0},
        {"family_members": 0},
    ],
)
def test_one_short_on_any_criterion_stays_below(short: dict[str, object]) -> None:
    result = evaluate(DEFAULT_RULES, replace(GOLD_EXACTLY, **short))  # type: ignore[arg-type]
    assert result.tier is MemberTier.SILVER
    assert result.next_tier is MemberTier.GOLD
    assert len(result.missing) == 1


def test_nothing_is_standard_and_the_top_misses_nothing() -> None:
    assert evaluate(DEFAULT_RULES, Facts()).tier is MemberTier.STANDARD
    top = Facts(9, Decimal("99999"), 9, 9, 9)
    assert evaluate(DEFAULT_RULES, top) == evaluate(DEFAULT_RULES, top)
    assert evaluate(DEFAULT_RULES, top).next_tier is None
    assert evaluate(DEFAULT_RULES, top).missing == ()


def test_rules_must_be_monotone_and_complete() -> None:
    validate(DEFAULT_RULES)
    silver, gold, platinum = DEFAULT_RULES.tiers
    lower = replace(gold, thresholds=gold.thresholds | {Criterion.ACTIVE_POLICIES: Decimal(0)})
    with pytest.raises(MembershipError) as error:
        validate(replace(DEFAULT_RULES, tiers=(silver, lower, platinum)))
    assert error.value.code is MembershipErrorCode.RULES_INVALID
    same = replace(gold, thresholds=dict(silver.thresholds))
    with pytest.raises(MembershipError):
        validate(replace(DEFAULT_RULES, tiers=(silver, same, platinum)))
    with pytest.raises(MembershipError):
        validate(replace(DEFAULT_RULES, tiers=(gold, silver, platinum)))
    partial = replace(gold, thresholds={Criterion.ACTIVE_POLICIES: Decimal(3)})
    with pytest.raises(MembershipError):
        validate(replace(DEFAULT_RULES, tiers=(silver, partial, platinum)))
    with pytest.raises(MembershipError):
        validate(replace(DEFAULT_RULES, grace_days=-1))


def test_the_downgrade_waits_for_the_grace_to_end() -> None:
    today = date(2026, 12, 2)
    first = decide(MemberTier.GOLD, None, None, MemberTier.SILVER, today, 90)
    assert first.change is Change.DOWNGRADE_PENDING
    assert (first.tier, first.pending_tier) == (MemberTier.GOLD, MemberTier.SILVER)
    assert first.grace_until == date(2027, 3, 2)
    last_day = decide(
        MemberTier.GOLD,
        MemberTier.SILVER,
        first.grace_until,
        MemberTier.SILVER,
        date(2027, 3, 2),
        90,
    )
    assert last_day.tier is MemberTier.GOLD and last_day.change is None
    after = decide(
        MemberTier.GOLD,
        MemberTier.SILVER,
        first.grace_until,
        MemberTier.STANDARD,
        date(2027, 3, 3),
        90,
    )
    assert (after.tier, after.change) == (MemberTier.STANDARD, Change.DOWNGRADED)
    back = decide(MemberTier.GOLD, MemberTier.SILVER, first.grace_until, MemberTier.GOLD, today, 90)
    assert (back.tier, back.pending_tier, back.grace_until) == (MemberTier.GOLD, None, None)
    up = decide(MemberTier.SILVER, None, None, MemberTier.PLATINUM, today, 90)
    assert (up.tier, up.change) == (MemberTier.PLATINUM, Change.UPGRADED)
    assert decide(MemberTier.GOLD, None, None, MemberTier.SILVER, today, 0).change is (
        Change.DOWNGRADED
    )


def test_full_years_count_on_the_anniversary() -> None:
    assert full_years(date(2025, 12, 2), date(2026, 12, 1)) == 0
    assert full_years(date(2025, 12, 2), date(2026, 12, 2)) == 1
    assert full_years(date(2027, 1, 1), date(2026, 12, 2)) == 0


async def _gold_customer(services: Services) -> uuid.UUID:
    """Three policies in force, one with a child insured, 1 200 yuan paid on each..."""
    customer = await make_customer(services)
    child = await make_customer(services, name="孩子")
    for _ in range(3):
        policy = await make_policy(services, customer)
    from models.policies import InsuredPerson, Policy, PremiumInstallment

    first = await InsuredPerson.filter(policy_id=policy.id).first()
    assert first is not None
    await InsuredPerson.create(
        policy_id=policy.id,
        customer=child,
        name="孩子",
        position=1,
        id_number_encrypted="x",
        id_number_hash="child-hash",
        id_number_masked="x",
        relation_to_holder="CHILD",
    )
    # ... and 5 000 yuan paid within the year; the first policy issued 2 years ago.
    await PremiumInstallment.filter(policy_id=policy.id, sequence=2).update(
        amount=Decimal("3200.00"), paid_at=datetime.now(UTC) - timedelta(days=3)
    )
    await (
        Policy.filter(holder_id=customer.id)
        .limit(1)
        .update(issued_at=datetime.now(UTC) - timedelta(days=800))
    )
    return customer.id


async def test_facts_are_read_in_a_fixed_number_of_queries(services: Services) -> None:
    gold = await _gold_customer(services)
    other = await make_customer(services)
    facts = await facts_for([gold, other.id], datetime.now(UTC))
    assert facts[gold] == Facts(3, Decimal("5000.00"), 2, 2, 1)
    assert facts[other.id] == Facts()


async def test_a_paid_claim_resets_the_claims_free_years(services: Services) -> None:
    gold = await _gold_customer(services)
    from models.customers import Customer
    from models.policies import Policy

    policy = await Policy.filter(holder_id=gold).first()
    assert policy is not None
    customer = await Customer.get(id=gold)
    await make_claim(
        customer, policy, ClaimStatus.PAID, paid_at=datetime.now(UTC) - timedelta(days=100)
    )
    facts = await facts_for([gold], datetime.now(UTC))
    assert facts[gold].claims_free_years == 0


async def _event(
    kind: str, entity_type: str, entity_id: object, customer: uuid.UUID, **payload: str
) -> None:
    async with in_transaction():
        await emit(
            kind,
            entity_type=entity_type,
            entity_id=entity_id,
            customer_id=customer,
            payload=payload,
        )


async def test_recomputed_from_events_with_the_change_announced(services: Services) -> None:
    gold = await _gold_customer(services)
    order = uuid.uuid4()
    await _event("payment.received", "payment", order, gold, amount="3200.00", policy_number="P1")
    assert await events.handle_events() == 1
    membership = await Membership.get(customer_id=gold)
    assert membership.tier is MemberTier.GOLD
    assert await points_balance(gold) == 320  # 1 point per 10 yuan
    announced = await OutboxEvent.filter(event_type="membership.upgraded", customer_id=gold)
    assert len(announced) == 1 and announced[0].payload["tier_name"] == "金卡会员"
    # handled once: the same event is not read again, and a duplicate credits nothing
    assert await events.handle_events() == 0
    await MembershipEventSeen.all().delete()
    assert await events.handle_events() == 1
    assert await points_balance(gold) == 320
    assert await OutboxEvent.filter(event_type="membership.upgraded").count() == 1


async def test_gold_has_a_dedicated_agent_and_a_lapse_starts_the_grace(
    services: Services,
) -> None:
    agent = await make_staff(StaffRole.AGENT)
    gold = await _gold_customer(services)
    (membership,) = (await recompute([gold])).values()
    assert membership.tier is MemberTier.GOLD
    assert membership.dedicated_agent_id == agent.id
    from models.policies import Policy, PolicyStatus

    policy = await Policy.filter(holder_id=gold).first()
    assert policy is not None
    await Policy.filter(id=policy.id).update(status=PolicyStatus.LAPSED)
    await _event("policy.lapsed", "policy", policy.id, gold, policy_number=policy.number)
    await events.handle_events()
    membership = await Membership.get(customer_id=gold)
    assert membership.tier is MemberTier.GOLD  # kept through the grace
    assert membership.pending_tier is MemberTier.SILVER
    assert membership.grace_until is not None
    (pending,) = await OutboxEvent.filter(event_type="membership.downgrade_pending")
    text = render(pending.event_type, pending.payload).body
    assert "金卡会员" in text and "银卡会员" in text
    assert f"{membership.grace_until:%Y年%m月%d日}" in text
    later = datetime.now(UTC) + timedelta(days=91)
    await events.nightly(later)
    membership = await Membership.get(customer_id=gold)
    assert (membership.tier, membership.pending_tier) == (MemberTier.SILVER, None)
    assert membership.dedicated_agent_id is None  # silver lists no dedicated agent
    (downgraded,) = await OutboxEvent.filter(event_type="membership.downgraded")
    assert "调整为银卡会员" in render(downgraded.event_type, downgraded.payload).body


async def test_claim_events_recompute_the_policy_holder(services: Services) -> None:
    gold = await _gold_customer(services)
    from models.customers import Customer
    from models.policies import Policy

    policy = await Policy.filter(holder_id=gold).first()
    assert policy is not None
    claimant = await make_customer(services)
    claim = await make_claim(await Customer.get(id=claimant.id), policy, ClaimStatus.PAID)
    await _event("claim.paid", "claim", claim.id, claimant.id)
    await events.handle_events()
    assert (await Membership.get(customer_id=gold)).tier is MemberTier.GOLD


async def test_rules_are_changed_by_managers_only_at_the_version_seen(
    services: Services,
) -> None:
    manager = Actor(SubjectKind.STAFF, uuid.uuid4(), role=StaffRole.SUPERVISOR)
    agent = Actor(SubjectKind.STAFF, uuid.uuid4(), role=StaffRole.AGENT)
    row = await store.rule_set()
    easier = replace(DEFAULT_RULES, grace_days=30)
    with pytest.raises(MembershipError) as error:
        await store.update_rules(agent, row.version, easier)
    assert error.value.code is MembershipErrorCode.NOT_ALLOWED
    updated = await store.update_rules(manager, row.version, easier)
    assert updated.version == row.version + 1
    assert (await store.current_rules()).grace_days == 30
    with pytest.raises(MembershipError) as error:
        await store.update_rules(manager, row.version, easier)
    assert error.value.code is MembershipErrorCode.CONFLICT


@postgres_only
async def test_concurrent_recomputations_announce_one_upgrade(services: Services) -> None:
    gold = await _gold_customer(services)
    now = datetime.now(UTC)
    await Membership.create(customer_id=gold, tier_since=now, recomputed_at=now)  # STANDARD
    await asyncio.gather(*(recompute([gold]) for _ in range(6)))
    assert await Membership.filter(customer_id=gold).count() == 1
    assert await OutboxEvent.filter(event_type="membership.upgraded").count() == 1


@postgres_only
async def test_duplicate_payment_events_handled_concurrently_credit_once(
    services: Services,
) -> None:
    gold = await _gold_customer(services)
    order = uuid.uuid4()
    for _ in range(3):  # the same payment announced three times (a replayed callback)
        await _event("payment.received", "payment", order, gold, amount="999.00")
    await asyncio.gather(*(events.handle_events() for _ in range(4)))
    assert await PointsEntry.filter(customer_id=gold, source=f"payment:{order}").count() == 1
    assert await points_balance(gold) == 99


async def test_surveys_answered_and_renewals_earn_points_once(services: Services) -> None:
    from models.surveys import SurveyInvitation, SurveyTemplate
    from workflows.surveys import period_keys

    customer = await make_customer(services)
    template = await SurveyTemplate.create(code="T", version=1, title="满意度", questions=[])
    now = datetime.now(UTC)
    answered = await SurveyInvitation.create(
        template=template,
        customer=customer,
        trigger="relationship",
        subject_type="customer",
        subject_id=str(customer.id),
        expires_at=now + timedelta(days=7),
        answered_at=now,
        **period_keys(now),
    )
    await SurveyInvitation.create(  # not answered: nothing
        template=template,
        customer=customer,
        trigger="claim.closed",
        subject_type="claim",
        subject_id="x",
        expires_at=now + timedelta(days=7),
        **period_keys(now),
    )
    assert await events.credit_surveys() == 1
    assert await events.credit_surveys() == 0
    entry = await PointsEntry.get(customer_id=customer.id)
    assert (entry.source, entry.points) == (f"survey:{answered.id}", 50)
    assert entry.expires_on is not None and entry.expires_on.month == 12
    policy = uuid.uuid4()
    await _event("policy.issued", "policy", policy, customer.id, renewal="1", policy_number="R1")
    await _event("policy.issued", "policy", uuid.uuid4(), customer.id, renewal="")  # new: no bonus
    await events.handle_events()
    assert await points_balance(customer.id) == 50 + 200
    assert await PointsEntry.filter(source=f"renewal:{policy}").count() == 1


async def test_a_gold_member_has_the_fast_track_privilege(services: Services) -> None:
    from workflows.membership import FAST_TRACK_CLAIMS, has_privilege

    gold = await _gold_customer(services)
    assert not await has_privilege(gold, FAST_TRACK_CLAIMS)  # not computed yet: STANDARD
    await recompute([gold])
    assert await has_privilege(gold, FAST_TRACK_CLAIMS)


async def test_a_backlog_is_handled_in_batches_each_event_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await make_customer(services)
    for n in range(5):
        await _event("payment.received", "payment", uuid.uuid4(), customer.id, amount=f"{n}0.00")
    monkeypatch.setattr(events, "BATCH", 2)
    assert await events.handle_events() == 2
    assert await events.handle_events() == 2
    await MembershipEventSeen.all().delete()
    assert await events.JOBS[0].run(None) == 5  # type: ignore[arg-type]  # batches until short
    assert await events.JOBS[0].run(None) == 0  # type: ignore[arg-type]
    assert await points_balance(customer.id) == 0 + 1 + 2 + 3 + 4


async def test_a_refunded_premium_takes_back_its_unspent_points_once(services: Services) -> None:
    from workflows.membership.ledger import ensure_rewards, redeem

    customer = await make_customer(services)
    order = uuid.uuid4()
    await _event("payment.received", "payment", order, customer.id, amount="5000.00")
    await events.handle_events()
    assert await points_balance(customer.id) == 500
    await _event("payment.refunded", "payment", order, customer.id, amount="2000.00")
    await events.handle_events()
    assert await points_balance(customer.id) == 300  # a partial refund: its share
    await MembershipEventSeen.all().delete()
    await events.handle_events()  # handled again: the same refund takes back once
    assert await points_balance(customer.id) == 300
    await ensure_rewards()
    from models.membership import Reward

    car_wash = await Reward.get(code="CAR_WASH")
    await redeem(customer.id, car_wash.id, "spent-0001")  # 300 spent: balance 0
    await _event("payment.refunded", "payment", order, customer.id, amount="3000.00")
    await events.handle_events()
    assert await points_balance(customer.id) == 0  # spent points stay spent: never negative
    kinds = await PointsEntry.filter(customer_id=customer.id, kind="REVERSED").count()
    assert kinds == 1
