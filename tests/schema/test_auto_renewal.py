"""Automatic renewal (自动续保) and automatic premium collection (自动扣款) against the
fake Alipay gateway: the reminder, the charge with the withholding agreement issuing the
renewal with no gap (through ``record_payment``, so Alipay's own callback for the trade
changes nothing more), a refused charge leaving no policy and retried at most once a
day, a charge "in process" settled by Alipay's callback, two job runs at once charging
once (PostgreSQL), and installments collected when due."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from api.jobs import job_deps
from api.services import Services
from models.clock import local_today
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, OrderStatus, PaymentOrder
from models.policies import Policy, PolicyStatus, PremiumInstallment
from models.policy_accounts import (
    ChargeOutcome,
    ChargePurpose,
    CollectionAgreement,
    PolicyAccount,
    WithholdingAttempt,
)
from models.policy_applications import ApplicationStatus, PolicyApplication
from tests.conftest import postgres_only
from tests.factories import customer_token, make_customer, make_policy, make_product
from tests.fakes.alipay import FakeAlipay, business
from tests.graphql import gql
from tests.payment_account_helpers import (
    AUTO,
    agreement_on_file,
    alipay_settings,
    gid,
    running_fake_alipay,
)
from workflows.policy_service.auto_renewal import run_auto_renewals
from workflows.policy_service.collection import collect_due_premiums
from workflows.policy_service.issuance import expire_applications
from workflows.reminders import premium_reminders


@pytest.fixture
async def fake_alipay() -> AsyncIterator[FakeAlipay]:
    async with running_fake_alipay() as fake:
        yield fake


@pytest.fixture
def settings_overrides(fake_alipay: FakeAlipay) -> dict[str, Any]:
    return alipay_settings(fake_alipay)


async def opted_in(
    client: httpx.AsyncClient, services: Services, fake: FakeAlipay, ends_in: timedelta
) -> Policy:
    """张伟's renewable policy with an Alipay agreement on file and auto-renewal on."""
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder, product=await make_product(renewable=True))
    await agreement_on_file(client, fake, token, policy, "auto-0001-abcdef")
    turn_on = {"input": {"policyId": gid("Policy", policy.id), "enabled": True}}
    answer = (await gql(client, AUTO, turn_on, token=token))["data"]["setAutoRenewal"]
    assert answer["errors"] == []
    now = datetime.now(UTC)
    await Policy.filter(id=policy.id).update(
        starts_at=now - (timedelta(days=365) - ends_in), ends_at=now + ends_in
    )
    await PremiumInstallment.filter(policy_id=policy.id).update(paid_at=now)  # owes nothing
    return await Policy.get(id=policy.id)


def charges(fake: FakeAlipay) -> list[Any]:
    return [call for call in fake.calls if call.method == "alipay.trade.pay"]


async def test_reminded_then_charged_with_the_agreement_and_renewed_with_no_gap(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=9))
    assert await run_auto_renewals(deps) == {"reminded": 1, "charged": 0, "failed": 0}
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 0}
    [reminder] = await OutboxEvent.filter(event_type="policy.auto_renewal_reminder")
    assert reminder.payload["amount"] == "1200.00" and charges(fake_alipay) == []

    await Policy.filter(id=policy.id).update(ends_at=datetime.now(UTC) + timedelta(days=6))
    policy = await Policy.get(id=policy.id)
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 1, "failed": 0}
    [call] = charges(fake_alipay)
    assert call.biz["product_code"] == "GENERAL_WITHHOLDING"
    assert call.biz["agreement_params"]["agreement_no"]
    application = await PolicyApplication.get(renewal_of_id=policy.id)
    assert application.status is ApplicationStatus.ISSUED
    renewed = await Policy.get(id=application.policy_id)
    assert renewed.starts_at == policy.ends_at  # no gap, no overlap
    assert renewed.status is PolicyStatus.PENDING and renewed.premium == 1200
    [order] = await PaymentOrder.filter(policy_id=renewed.id)
    assert order.status is OrderStatus.PAID and order.method == "WITHHOLDING"
    assert await OutboxEvent.exists(event_type="policy.auto_renewed", entity_id=renewed.id)

    # Alipay's own callback for the same trade: answered, nothing more recorded.
    trade = fake_alipay.notification(order.order_number)
    answer = await fake_alipay.post_notification("/payments/alipay/notify", trade, client)
    assert answer.text == "success"
    assert await LedgerEntry.filter(order_id=order.id).count() == 1
    # The contract goes on: the agreement and auto-renewal now belong to the new policy.
    carried = await PolicyAccount.get(policy_id=renewed.id)
    assert carried.auto_renewal
    assert await CollectionAgreement.exists(live_key=str(renewed.id))
    assert not await CollectionAgreement.exists(live_key=str(policy.id))
    # Renewed: later runs charge nothing.
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 0}
    assert len(charges(fake_alipay)) == 1


async def test_a_refused_charge_leaves_no_policy_and_is_retried_once_a_day(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=5))
    fake_alipay.fail_next(business("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 1}
    application = await PolicyApplication.get(renewal_of_id=policy.id)
    assert application.status is ApplicationStatus.ACCEPTED  # not paid: no policy
    unseen = await Policy.get(id=application.policy_id)
    assert unseen.status is PolicyStatus.AWAITING_PAYMENT
    [order] = await PaymentOrder.filter(policy_id=unseen.id)
    assert order.status is OrderStatus.CLOSED and order.open_key is None
    [failed] = await OutboxEvent.filter(event_type="policy.auto_renewal_failed")
    assert failed.customer_id == policy.holder_id and "明日" in failed.payload["retry"]
    # The same day: not charged again, however often the job runs.
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 0}
    assert len(charges(fake_alipay)) == 1
    # The next day (today's attempt moved back a day): charged again, and it works.
    yesterday = local_today() - timedelta(days=1)
    await WithholdingAttempt.filter(policy_id=policy.id).update(
        day=yesterday, attempt_key=f"renewal:{policy.id}:{yesterday.isoformat()}"
    )
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 1, "failed": 0}
    application = await PolicyApplication.get(id=application.id)
    assert application.status is ApplicationStatus.ISSUED
    assert (await Policy.get(id=application.policy_id)).starts_at == policy.ends_at


async def test_a_charge_in_process_is_settled_by_alipays_callback(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=5))
    fake_alipay.withhold_in_process_next()
    await run_auto_renewals(deps)
    [attempt] = await WithholdingAttempt.filter(policy_id=policy.id)
    assert attempt.purpose is ChargePurpose.RENEWAL
    assert attempt.outcome is ChargeOutcome.IN_PROCESS
    application = await PolicyApplication.get(renewal_of_id=policy.id)
    assert application.status is ApplicationStatus.ACCEPTED
    order = await PaymentOrder.get(id=attempt.order_id)
    fake_alipay.pay(order.order_number)
    trade = fake_alipay.notification(order.order_number)
    answer = await fake_alipay.post_notification("/payments/alipay/notify", trade, client)
    assert answer.text == "success"
    assert (await PolicyApplication.get(id=application.id)).status is ApplicationStatus.ISSUED


@postgres_only
async def test_two_job_runs_at_once_charge_once(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=5))
    results = await asyncio.gather(*(run_auto_renewals(deps) for _ in range(4)))
    assert sum(r["charged"] for r in results) == 1
    assert len(charges(fake_alipay)) == 1
    assert await PolicyApplication.filter(renewal_of_id=policy.id).count() == 1
    assert await LedgerEntry.all().count() == 1
    assert not await OutboxEvent.exists(event_type="policy.auto_renewal_failed")


async def test_installments_are_collected_with_the_agreement_when_due(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    policy = await make_policy(services, holder, installments=3)
    rows = await PremiumInstallment.filter(policy_id=policy.id).order_by("sequence")
    # Before an agreement: nothing is charged.
    assert await collect_due_premiums(deps) == {"charged": 0, "failed": 0}
    await agreement_on_file(client, fake_alipay, token, policy, "coll-0001-abcdef")
    unpaid = [row for row in rows if row.paid_at is None]
    assert unpaid, "the factory leaves installments to pay"
    due, later = unpaid[0], unpaid[1:]
    # An arrear from before the signing stays the customer's to pay by hand.
    three_days_ago = local_today() - timedelta(days=3)
    await PremiumInstallment.filter(id=due.id).update(due_date=three_days_ago)
    assert await collect_due_premiums(deps) == {"charged": 0, "failed": 0}
    await PremiumInstallment.filter(id=due.id).update(due_date=local_today())
    fake_alipay.fail_next(business("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
    assert await collect_due_premiums(deps) == {"charged": 0, "failed": 1}
    assert await OutboxEvent.exists(event_type="premium.withholding_failed")
    assert await collect_due_premiums(deps) == {"charged": 0, "failed": 0}  # once a day
    yesterday = local_today() - timedelta(days=1)
    await WithholdingAttempt.filter(policy_id=policy.id).update(
        day=yesterday, attempt_key=f"installment:{due.id}:{yesterday.isoformat()}"
    )
    assert await collect_due_premiums(deps) == {"charged": 1, "failed": 0}
    assert (await PremiumInstallment.get(id=due.id)).paid_at is not None
    assert len(charges(fake_alipay)) == 2
    still = await PremiumInstallment.filter(id__in=[r.id for r in later], paid_at=None).count()
    assert still == len(later)  # not due yet


async def test_a_renewal_past_its_payment_window_waits_for_the_expiry_then_renews(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=5))
    fake_alipay.fail_next(business("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"))
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 1}
    first = await PolicyApplication.get(renewal_of_id=policy.id)
    yesterday = local_today() - timedelta(days=1)
    await WithholdingAttempt.filter(policy_id=policy.id).update(
        day=yesterday, attempt_key=f"renewal:{policy.id}:{yesterday.isoformat()}"
    )
    await PolicyApplication.filter(id=first.id).update(
        pay_by=datetime.now(UTC) - timedelta(minutes=1)
    )
    # Not today's attempt yet, and no false failure told: the expiry job frees it first.
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 0, "failed": 0}
    assert await OutboxEvent.filter(event_type="policy.auto_renewal_failed").count() == 1
    assert await expire_applications(services.payment_providers) == 1
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 1, "failed": 0}
    assert (await PolicyApplication.get(id=first.id)).status is ApplicationStatus.EXPIRED
    renewed = await PolicyApplication.get(renewal_of_id=policy.id, status=ApplicationStatus.ISSUED)
    assert (await Policy.get(id=renewed.policy_id)).starts_at == policy.ends_at


async def test_an_installment_collected_automatically_is_announced_not_asked_for(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    holder = await make_customer(services, name="张伟")
    token = await customer_token(services, holder)
    mine = await make_policy(services, holder)
    other = await make_policy(services, holder)
    await agreement_on_file(client, fake_alipay, token, mine, "remind-0001-abcdef")
    soon = local_today() + timedelta(days=3)
    for policy in (mine, other):
        await PremiumInstallment.filter(policy_id=policy.id, paid_at=None).update(due_date=soon)
    assert await premium_reminders(local_today()) == 2
    events = await OutboxEvent.filter(event_type__startswith="premium.")
    kinds = {str(e.entity_id): e.event_type for e in events}
    assert kinds == {str(mine.id): "premium.due_withholding", str(other.id): "premium.due"}


async def test_a_later_premium_of_the_renewed_policy_leaves_its_accounts_alone(
    client: httpx.AsyncClient, services: Services, fake_alipay: FakeAlipay
) -> None:
    """The accounts are carried over by the payment that issues the renewal, never by a
    later one: an installment collected later in the new term neither turns automatic
    renewal off (the agreement is no longer on the old policy) nor brings back the old
    policy's payout account over one the customer changed since."""
    deps = job_deps(services)
    policy = await opted_in(client, services, fake_alipay, timedelta(days=5))
    assert await run_auto_renewals(deps) == {"reminded": 0, "charged": 1, "failed": 0}
    application = await PolicyApplication.get(renewal_of_id=policy.id)
    renewed_id = application.policy_id
    assert renewed_id is not None
    assert (await PolicyAccount.get(policy_id=renewed_id)).auto_renewal
    await PolicyAccount.filter(policy_id=renewed_id).update(payout_masked="招商银行 **** 0042")
    await PolicyAccount.filter(policy_id=policy.id).update(payout_masked="旧账户 **** 9999")
    # Some months into the new term, an installment falls due.
    await Policy.filter(id=renewed_id).update(status=PolicyStatus.ACTIVE)
    later = await PremiumInstallment.create(
        policy_id=renewed_id, sequence=99, due_date=local_today(), amount=100
    )

    assert await collect_due_premiums(deps) == {"charged": 1, "failed": 0}

    assert (await PremiumInstallment.get(id=later.id)).paid_at is not None
    account = await PolicyAccount.get(policy_id=renewed_id)
    assert account.auto_renewal
    assert account.payout_masked == "招商银行 **** 0042"
    assert await CollectionAgreement.exists(live_key=str(renewed_id))
