"""Each risk rule fires on data that shows its risk and stays quiet on data that does not;
a signal is opened once, however often or concurrently the rules run; a dismissed finding
comes back only with new evidence; the incremental run follows outbox events and the
nightly run happens once per day."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimDocument, ClaimStatus
from models.customers import Customer
from models.payout_accounts import PayoutAccount
from models.policies import Policy, PremiumInstallment
from models.risk import RiskRule, RiskSignal, RiskSignalEvent, RiskSignalStatus, RiskSweep
from models.staff import StaffRole
from models.surveys import RecoveryTask
from models.visits import FollowUpVisit, VisitTrigger
from push.outbox import emit
from tests.conftest import postgres_only
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows.access import Actor
from workflows.risk import evaluate, signals
from workflows.risk.detectors import Scope
from workflows.risk.rules import RiskError, RiskErrorCode

S = RiskSignalStatus
NOW = datetime.now(UTC)


async def only(*codes: str) -> None:
    """Switch every rule off but ``codes`` (each test looks at one rule)."""
    await evaluate.ensure_default_rules()
    await RiskRule.exclude(code__in=codes).update(enabled=False)


async def signals_of(code: str) -> list[RiskSignal]:
    rule = await RiskRule.get(code=code)
    return list(await RiskSignal.filter(rule_id=rule.id).order_by("first_seen_at"))


async def customer_with_policy(services: Services, **policy: object) -> tuple[Customer, Policy]:
    customer = await make_customer(services)
    return customer, await make_policy(services, customer, **policy)  # type: ignore[arg-type]


async def test_a_claim_soon_after_the_start(services: Services) -> None:
    await only("EARLY_CLAIM")
    customer, policy = await customer_with_policy(services)
    await make_claim(
        customer, policy, ClaimStatus.SUBMITTED, loss_at=policy.starts_at + timedelta(days=40)
    )
    assert await evaluate.run_rules(Scope()) == 0  # day 40: later than 30
    early = await make_claim(
        customer, policy, ClaimStatus.SUBMITTED, loss_at=policy.starts_at + timedelta(days=3)
    )
    assert await evaluate.run_rules(Scope()) == 1
    [signal] = await signals_of("EARLY_CLAIM")
    assert signal.subject_key == str(early.id) and signal.customer_id == customer.id
    assert "第3天" in signal.summary and signal.status is S.NEW
    assert {e["type"] for e in signal.evidence} == {"Claim", "Policy"}
    assert await evaluate.run_rules(Scope()) == 0  # the same finding: nothing new
    assert await RiskSignalEvent.filter(signal_id=signal.id).count() == 1


async def test_many_claims_by_one_customer(services: Services) -> None:
    await only("FREQUENT_CLAIMS")
    customer, policy = await customer_with_policy(services)
    other, other_policy = await customer_with_policy(services)
    for _ in range(2):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED)
        await make_claim(other, other_policy, ClaimStatus.SUBMITTED)
    await make_claim(other, other_policy, ClaimStatus.WITHDRAWN)  # withdrawn claims do not count
    assert await evaluate.run_rules(Scope()) == 0
    third = await make_claim(customer, policy, ClaimStatus.REPORTED)
    assert await evaluate.run_rules(Scope()) == 1
    [signal] = await signals_of("FREQUENT_CLAIMS")
    assert signal.customer_id == customer.id and len(signal.evidence) == 3
    assert signal.evidence[0]["id"] == str(third.id)  # the newest first


async def test_many_claims_on_one_insured_person_across_policies(services: Services) -> None:
    await only("FREQUENT_INSURED")
    customer, first = await customer_with_policy(services)
    second = await make_policy(services, customer)
    [person_a] = await first.insured_persons.all()
    [person_b] = await second.insured_persons.all()
    # The same person (ID number) insured on both policies.
    await type(person_b).filter(id=person_b.id).update(id_number_hash=person_a.id_number_hash)
    await make_claim(customer, first, ClaimStatus.SUBMITTED, insured_person_id=person_a.id)
    await make_claim(customer, second, ClaimStatus.SUBMITTED, insured_person_id=person_b.id)
    assert await evaluate.run_rules(Scope()) == 0
    await make_claim(customer, second, ClaimStatus.SUBMITTED, insured_person_id=person_b.id)
    assert await evaluate.run_rules(Scope()) == 1
    [signal] = await signals_of("FREQUENT_INSURED")
    assert signal.subject_key == f"insured:{person_a.id_number_hash[:32]}"
    assert len(signal.evidence) == 3


def document(claim: Claim, name: str, *, phash: str, sha: str) -> ClaimDocument:
    return ClaimDocument(
        claim=claim,
        checklist_code="PHOTO",
        storage_key=f"claims/{claim.id}/{name}.jpg",
        content_type="image/jpeg",
        size=1000,
        sha256=sha,
        original_sha256=sha,
        phash=phash,
        file_name=f"{name}.jpg",
        uploaded_by_kind="customer",
    )


async def test_a_photo_reused_on_another_customers_claim(services: Services) -> None:
    await only("REUSED_PHOTO")
    customer, policy = await customer_with_policy(services)
    stranger, stranger_policy = await customer_with_policy(services)
    first = await make_claim(stranger, stranger_policy, ClaimStatus.CLOSED)
    second = await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    await document(first, "a", phash="00ff00ff00ff00ff", sha="a" * 64).save()
    await document(second, "b", phash="1111111111111111", sha="b" * 64).save()
    assert await evaluate.run_rules(Scope()) == 0
    # Recompressed: a different file, the same difference hash.
    await document(second, "c", phash="00ff00ff00ff00ff", sha="c" * 64).save()
    assert await evaluate.run_rules(Scope(frozenset({customer.id}))) == 1
    [signal] = await signals_of("REUSED_PHOTO")
    assert signal.subject_key == "photo:00ff00ff00ff00ff"
    assert {e["id"] for e in signal.evidence} == {str(first.id), str(second.id)}
    assert signal.customer_id == customer.id  # the newest claim's
    assert await evaluate.run_rules(Scope()) == 0


async def test_one_payout_account_on_different_customers_claims(services: Services) -> None:
    await only("SHARED_ACCOUNT")
    account = PayoutAccount("alipay", "shared@example.com")
    same = PayoutAccount("alipay", " Shared@Example.com ")  # as typed by someone else
    customer, policy = await customer_with_policy(services)
    other, other_policy = await customer_with_policy(services)
    mine = account.lookup_hash(services.pii)
    await make_claim(customer, policy, ClaimStatus.PAID, payout_account_hash=mine)
    await make_claim(customer, policy, ClaimStatus.PAID, payout_account_hash=mine)
    assert await evaluate.run_rules(Scope()) == 0  # one customer's own account, twice
    await make_claim(
        other,
        other_policy,
        ClaimStatus.APPROVED,
        payout_account_hash=same.lookup_hash(services.pii),
    )
    assert await evaluate.run_rules(Scope(frozenset({other.id}))) == 1
    [signal] = await signals_of("SHARED_ACCOUNT")
    assert signal.subject_key == f"account:{mine[:32]}" and len(signal.evidence) == 3
    assert "2名不同客户" in signal.summary


async def test_a_spike_in_one_loss_type(services: Services) -> None:
    await only("LOSS_SPIKE")
    customer, policy = await customer_with_policy(services)
    for weeks_ago in range(1, 9):  # one theft a week for eight weeks
        claim = await make_claim(customer, policy, ClaimStatus.CLOSED, loss_type="THEFT")
        await Claim.filter(id=claim.id).update(created_at=NOW - timedelta(days=7 * weeks_ago + 1))
    for _ in range(2):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED, loss_type="THEFT")
    assert await evaluate.run_rules(Scope()) == 0  # 2 this week: below the minimum of 5
    for _ in range(3):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED, loss_type="THEFT")
    assert await evaluate.run_rules(Scope(frozenset({customer.id}))) == 0  # never per customer
    assert await evaluate.run_rules(Scope()) == 1  # 5 against an average of 1: 500 % ≥ 300 %
    [signal] = await signals_of("LOSS_SPIKE")
    assert signal.subject_key == "loss:THEFT" and signal.customer_id is None
    assert "近7天5件" in signal.summary


async def test_premiums_late_before_a_lapse_plan_a_call(services: Services) -> None:
    await only("RETENTION")
    customer, policy = await customer_with_policy(services, installments=0)
    today = date.today()
    await PremiumInstallment.create(
        policy=policy, sequence=1, amount=Decimal(600), due_date=today - timedelta(days=10)
    )
    assert await evaluate.run_rules(Scope()) == 0  # 10 days overdue: within 15
    await PremiumInstallment.filter(policy_id=policy.id).update(due_date=today - timedelta(days=20))
    assert await evaluate.run_rules(Scope()) == 1
    [signal] = await signals_of("RETENTION")
    assert signal.subject_key == str(policy.id) and "逾期超过15天未缴" in signal.summary
    [visit] = await FollowUpVisit.filter(trigger=VisitTrigger.RETENTION_RISK)
    assert visit.customer_id == customer.id and visit.policy_id == policy.id
    # Paid late twice (another policy): the pattern, not one late payment.
    other, late = await customer_with_policy(services, installments=0)
    for sequence, days in ((1, 200), (2, 20)):
        due = today - timedelta(days=days)
        await PremiumInstallment.create(
            policy=late,
            sequence=sequence,
            amount=Decimal(600),
            due_date=due,
            paid_at=datetime.combine(due + timedelta(days=5), datetime.min.time(), UTC),
        )
    assert await evaluate.run_rules(Scope(frozenset({other.id}))) == 1
    assert "2期保费逾期后才缴纳" in (await signals_of("RETENTION"))[1].summary
    assert await FollowUpVisit.filter(trigger=VisitTrigger.RETENTION_RISK).count() == 2


async def test_an_unhappy_customer_with_an_open_claim(services: Services) -> None:
    await only("UNHAPPY_OPEN")
    customer, policy = await customer_with_policy(services)
    await make_claim(customer, policy, ClaimStatus.CLOSED)
    task = await RecoveryTask.create(
        customer=customer,
        source="rating",
        source_id=customer.id,
        reason="评分1星",
        due_at=NOW + timedelta(days=1),
    )
    assert await evaluate.run_rules(Scope()) == 0  # nothing open
    claim = await make_claim(customer, policy, ClaimStatus.UNDER_REVIEW)
    assert await evaluate.run_rules(Scope()) == 1
    [signal] = await signals_of("UNHAPPY_OPEN")
    assert {e["id"] for e in signal.evidence} == {str(claim.id), str(task.id)}


async def test_a_dismissed_finding_comes_back_only_with_new_evidence(services: Services) -> None:
    await only("FREQUENT_CLAIMS")
    reviewer = await make_staff(StaffRole.SUPERVISOR)
    actor = Actor(SubjectKind.STAFF, reviewer.id, role=reviewer.role)
    customer, policy = await customer_with_policy(services)
    for _ in range(3):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    await evaluate.run_rules(Scope())
    [signal] = await signals_of("FREQUENT_CLAIMS")
    with pytest.raises(RiskError) as refused:
        await signals.move(actor, signal.id, signal.version, S.DISMISSED, "  ")
    assert refused.value.code is RiskErrorCode.REASON_REQUIRED
    reviewing = await signals.move(actor, signal.id, signal.version, S.REVIEWING)
    with pytest.raises(RiskError) as stale:
        await signals.move(actor, signal.id, signal.version, S.DISMISSED, "家庭多车")
    assert stale.value.code is RiskErrorCode.CONFLICT
    dismissed = await signals.move(actor, signal.id, reviewing.version, S.DISMISSED, "家庭多车")
    assert dismissed.open_key is None and dismissed.decision_note == "家庭多车"
    assert await evaluate.run_rules(Scope()) == 0  # the same three claims
    await make_claim(customer, policy, ClaimStatus.REPORTED)
    assert await evaluate.run_rules(Scope()) == 1  # a fourth: new evidence
    assert [s.status for s in await signals_of("FREQUENT_CLAIMS")] == [S.DISMISSED, S.NEW]
    actions = await RiskSignalEvent.filter(signal_id=signal.id).values_list("action", flat=True)
    assert list(actions) == ["opened", "review_started", "dismissed"]


async def test_new_evidence_updates_an_undecided_signal(services: Services) -> None:
    await only("FREQUENT_CLAIMS")
    customer, policy = await customer_with_policy(services)
    for _ in range(3):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    await evaluate.run_rules(Scope())
    await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    assert await evaluate.run_rules(Scope()) == 0
    [signal] = await signals_of("FREQUENT_CLAIMS")
    assert len(signal.evidence) == 4 and "4次" in signal.summary
    actions = await RiskSignalEvent.filter(signal_id=signal.id).values_list("action", flat=True)
    assert list(actions) == ["opened", "evidence_added"]


async def test_outbox_events_drive_the_incremental_run(services: Services) -> None:
    await only("FREQUENT_CLAIMS")
    customer, policy = await customer_with_policy(services)
    claims = [await make_claim(customer, policy, ClaimStatus.SUBMITTED) for _ in range(3)]
    await emit(
        "claim.reported",
        entity_type="claim",
        entity_id=claims[-1].id,
        customer_id=customer.id,
        payload={},
    )
    await emit(
        "notification.read", entity_type="x", entity_id="1", customer_id=customer.id, payload={}
    )
    assert await evaluate.evaluate_events() == 1  # the claim event only
    assert len(await signals_of("FREQUENT_CLAIMS")) == 1
    assert await evaluate.evaluate_events() == 0  # evaluated once


async def test_the_nightly_run_happens_once_a_day(services: Services) -> None:
    await only("EARLY_CLAIM")
    customer, policy = await customer_with_policy(services)
    await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    night = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai
    sweeps = await asyncio.gather(evaluate.nightly(night), evaluate.nightly(night))
    done = [s for s in sweeps if s is not None]
    assert len(done) == 1 and done[0].signals_opened == 1 and done[0].seconds is not None
    assert await evaluate.nightly(night + timedelta(hours=3)) is None  # the same local day
    assert await RiskSweep.all().count() == 1


async def test_rule_edits_are_bounded_and_versioned(services: Services) -> None:
    await evaluate.ensure_default_rules()
    staff = await make_staff(StaffRole.SUPERVISOR)
    actor = Actor(SubjectKind.STAFF, staff.id, role=staff.role)
    rule = await RiskRule.get(code="EARLY_CLAIM")
    settings = {"enabled": True, "severity": rule.severity, "minimum": 1, "window_days": 90}
    with pytest.raises(RiskError) as refused:
        await evaluate.edit_rule(actor, rule.id, rule.version, threshold=-1, **settings)
    assert refused.value.code is RiskErrorCode.OUT_OF_RANGE
    edited = await evaluate.edit_rule(actor, rule.id, rule.version, threshold=10, **settings)
    assert edited.threshold == 10 and edited.version == rule.version + 1
    with pytest.raises(RiskError) as stale:
        await evaluate.edit_rule(actor, rule.id, rule.version, threshold=20, **settings)
    assert stale.value.code is RiskErrorCode.CONFLICT


@postgres_only
async def test_concurrent_evaluations_open_one_signal(services: Services) -> None:
    await only("FREQUENT_CLAIMS", "EARLY_CLAIM")
    customer, policy = await customer_with_policy(services)
    for _ in range(3):
        await make_claim(customer, policy, ClaimStatus.SUBMITTED)
    opened = await asyncio.gather(*(evaluate.run_rules(Scope()) for _ in range(4)))
    assert sum(opened) == 4  # 3 early claims + 1 frequent customer, once each
    assert await RiskSignal.all().count() == 4
    assert await RiskSignalEvent.filter(action="opened").count() == 4
