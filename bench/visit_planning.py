"""How long the worker's hourly visit planning takes on a realistic book of business.

Generates N active policies (starts spread over five years, terms of one to five years,
premiums from ¥500 to ¥30,000) held by N/4 customers, and N/20 claims closed over the
last 90 days, straight into a fresh database. Then times ``plan_visits`` twice: the
first run plans what is due (anniversaries, renewals, claim closures, high-value
customers), the second is the steady state of every later hour (nothing new to plan,
everything still to look at).

    python bench/visit_planning.py [--policies 100000] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import _harness
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models.claims import Claim, ClaimStatus, ReportChannel
from models.customers import Customer
from models.database import migrate_database, open_database
from models.policies import PaymentFrequency, Policy, PolicyStatus, Product, ProductKind
from models.visits import FollowUpVisit
from workflows import visits

PG_DATABASE = "anxin_bench_visits" + _harness.bench_suffix()
BATCH = 5_000
PREMIUMS = [500, 1200, 3000, 8000, 30000]


async def generate(policies: int) -> float:
    rng = random.Random(11)
    started = time.perf_counter()
    now = datetime.now(UTC)
    product = await Product.create(
        code="BENCH", name="基准产品", kind=ProductKind.HEALTH, report_time_limit_hours=72
    )
    customers = [
        Customer(
            id=uuid.uuid4(),
            phone_encrypted="x",
            phone_hash=uuid.uuid4().hex,
            phone_masked="138****0000",
        )
        for _ in range(max(1, policies // 4))
    ]
    for offset in range(0, len(customers), BATCH):
        await Customer.bulk_create(customers[offset : offset + BATCH])
    made: list[Policy] = []
    for n in range(policies):
        starts_at = now - timedelta(days=rng.randint(0, 5 * 365), hours=rng.randint(0, 23))
        ends_at = starts_at + timedelta(days=365 * rng.randint(1, 5))
        if ends_at <= now:  # still active: renewed terms move on by whole years
            ends_at += timedelta(days=365 * ((now - ends_at).days // 365 + 1))
        made.append(
            Policy(
                id=uuid.uuid4(),
                number=f"BENCH{n:09d}",
                product_id=product.id,
                holder_id=rng.choice(customers).id,
                status=PolicyStatus.ACTIVE,
                starts_at=starts_at,
                ends_at=ends_at,
                issued_at=starts_at,
                sum_insured=Decimal("100000.00"),
                premium=Decimal(rng.choices(PREMIUMS, [40, 30, 20, 8, 2])[0]),
                payment_frequency=PaymentFrequency.ANNUAL,
            )
        )
        if len(made) == BATCH:
            await Policy.bulk_create(made)
            made = []
    if made:
        await Policy.bulk_create(made)
    holders = await Policy.all().limit(policies // 20).values_list("id", "holder_id")
    claims = [
        Claim(
            id=uuid.uuid4(),
            report_number=f"BA{n:014d}",
            policy_id=policy_id,
            customer_id=holder_id,
            loss_type="X",
            loss_at=now - timedelta(days=100),
            loss_location="上海",
            description="-",
            channel=ReportChannel.APP,
            contact_name="-",
            contact_phone_encrypted="x",
            contact_phone_masked="138****0000",
            status=ClaimStatus.CLOSED,
            closed_at=now - timedelta(days=rng.randint(0, 90)),
        )
        for n, (policy_id, holder_id) in enumerate(holders)
    ]
    for offset in range(0, len(claims), BATCH):
        await Claim.bulk_create(claims[offset : offset + BATCH])
    return time.perf_counter() - started


async def measure(url: str, policies: int) -> None:
    EXECUTOR_CACHE.clear()  # Tortoise caches executors per process: start clean
    await migrate_database(url)
    async with open_database(url):
        seconds = await generate(policies)
        print(f"  generated {policies:,} policies, {policies // 20:,} claims in {seconds:.1f} s")
        for label in ("first run", "steady state"):
            started = time.perf_counter()
            planned = await visits.plan_visits()
            elapsed = time.perf_counter() - started
            print(f"  {label:<13} planned {planned:>6,} visits in {elapsed:6.2f} s")
        by_trigger: dict[str, int] = {}
        for trigger in await FollowUpVisit.all().values_list("trigger", flat=True):
            by_trigger[str(trigger)] = by_trigger.get(str(trigger), 0) + 1
        print(f"  visits: {by_trigger}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    _harness.run_on_backends(lambda url: measure(url, args.policies), args.backend, PG_DATABASE)


if __name__ == "__main__":
    main()
