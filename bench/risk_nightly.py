"""How long the nightly run of the risk rules takes over a large book of business, and an
incremental run on a batch of events.

Generates N claims over three years (default 1,000,000) on N policies of N customers
(one claim per customer in three years on average), one insured person per policy, N
premium installments (due over the last year: most paid
on time, some late, some unpaid), a photo for every fifth claim and a payout account on
every third (a few photos, and 0.5 % of the accounts, shared on purpose), and N/200 recovery tasks;
straight into a fresh database. Then times the nightly run (every rule over everything)
and an incremental run for the customers of 500 events; and, over the same photos, the
upload's near-duplicate check by the indexed hash bands beside the scan of every photo
it replaced.

    python bench/risk_nightly.py [--claims 1000000] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import _harness
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.models import Model

from models.claims import Claim, ClaimDocument, ClaimStatus, ReportChannel
from models.customers import Customer
from models.database import migrate_database, open_database
from models.policies import (
    InsuredPerson,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
    Product,
    ProductKind,
)
from models.risk import RiskSignal
from models.surveys import RecoveryTask
from storage.images import hamming
from workflows.claim_documents import NEAR_DUPLICATE_BITS, band_columns, near_photos
from workflows.risk import evaluate
from workflows.risk.detectors import Scope

PG_DATABASE = "anxin_bench_risk" + _harness.bench_suffix()
BATCH = 5_000
LOSS_TYPES = ["COLLISION", "THEFT", "GLASS", "FLOOD", "FIRE", "ILLNESS", "ACCIDENT", "TRAVEL"]
STATUSES = [ClaimStatus.CLOSED] * 8 + [ClaimStatus.UNDER_REVIEW, ClaimStatus.SUBMITTED]


class _Batches:
    """Rows inserted BATCH at a time, so a million rows never sit in memory at once."""

    def __init__(self) -> None:
        self.pending: dict[type[Model], list[Any]] = {}

    async def add(self, row: Model) -> None:
        rows = self.pending.setdefault(type(row), [])
        rows.append(row)
        if len(rows) >= BATCH:
            await self.flush()  # every kind, in the order first seen: parents first

    async def flush(self) -> None:
        for model, rows in self.pending.items():
            if rows:
                await model.bulk_create(rows)
                rows.clear()


async def generate(claims: int) -> float:
    rng = random.Random(18)
    started = time.perf_counter()
    now = datetime.now(UTC)
    today = date.today()
    product = await Product.create(
        code="BENCH", name="基准产品", kind=ProductKind.AUTO, report_time_limit_hours=72
    )
    out = _Batches()
    # (policy id, holder id, start, insured person id): tuples, not models, for a million.
    policies: list[tuple[uuid.UUID, uuid.UUID, datetime, uuid.UUID]] = []
    for n in range(max(1, claims)):
        customer_id, policy_id, person_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        starts_at = now - timedelta(days=rng.randint(0, 3 * 365))
        await out.add(
            Customer(
                id=customer_id, phone_encrypted="x", phone_hash=customer_id.hex, phone_masked="-"
            )
        )
        await out.add(
            Policy(
                id=policy_id,
                number=f"BENCH{n:09d}",
                product_id=product.id,
                holder_id=customer_id,
                status=PolicyStatus.ACTIVE,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(days=4 * 365),
                issued_at=starts_at,
                sum_insured=Decimal("100000.00"),
                premium=Decimal("1200.00"),
                payment_frequency=PaymentFrequency.SEMI_ANNUAL,
            )
        )
        await out.add(
            InsuredPerson(
                id=person_id,
                policy_id=policy_id,
                customer_id=customer_id,
                name="-",
                id_number_encrypted="x",
                id_number_hash=person_id.hex,
                id_number_masked="-",
                relation_to_holder="SELF",
            )
        )
        due = today - timedelta(days=rng.randint(1, 365))
        roll = rng.random()
        paid_on = None if roll < 0.03 else due
        if 0.03 <= roll < 0.10:
            paid_on = due + timedelta(days=rng.randint(3, 40))
        await out.add(
            PremiumInstallment(
                id=uuid.uuid4(),
                policy_id=policy_id,
                sequence=1,
                due_date=due,
                amount=Decimal("600.00"),
                paid_at=datetime.combine(paid_on, datetime.min.time(), UTC) if paid_on else None,
            )
        )
        policies.append((policy_id, customer_id, starts_at, person_id))
    await out.flush()  # claims refer to them
    shared_accounts = [f"shared-{n}" for n in range(50)]
    first_photo = f"{rng.getrandbits(64):016x}"
    for n in range(claims):
        policy_id, holder_id, starts_at, person_id = policies[rng.randrange(len(policies))]
        reported = now - timedelta(days=rng.randint(0, 3 * 365), minutes=rng.randint(0, 1440))
        claim = Claim(
            id=uuid.uuid4(),
            report_number=f"BA{n:014d}",
            policy_id=policy_id,
            customer_id=holder_id,
            insured_person_id=person_id,
            loss_type=rng.choice(LOSS_TYPES),
            loss_at=max(starts_at, reported - timedelta(days=rng.randint(0, 10))),
            loss_location="上海",
            description="-",
            channel=ReportChannel.APP,
            contact_name="-",
            contact_phone_encrypted="x",
            contact_phone_masked="-",
            status=rng.choice(STATUSES),
            payout_account_hash=(
                (rng.choice(shared_accounts) if rng.random() < 0.005 else uuid.uuid4().hex)
                if n % 3 == 0
                else None
            ),
        )
        claim.created_at = reported  # auto_now_add keeps a value that is set
        await out.add(claim)
        if n % 5 == 0:
            photo = first_photo if rng.random() < 0.001 else f"{rng.getrandbits(64):016x}"
            await out.add(
                ClaimDocument(
                    id=uuid.uuid4(),
                    claim_id=claim.id,
                    checklist_code="PHOTO",
                    storage_key=f"bench/{claim.id}.jpg",
                    content_type="image/jpeg",
                    size=1000,
                    sha256=uuid.uuid4().hex * 2,
                    original_sha256=uuid.uuid4().hex * 2,
                    phash=photo,
                    **band_columns(photo),
                    file_name="p.jpg",
                    uploaded_by_kind="customer",
                )
            )
        if n % 200 == 0:
            await out.add(
                RecoveryTask(
                    id=uuid.uuid4(),
                    customer_id=policies[rng.randrange(len(policies))][1],
                    source="rating",
                    source_id=uuid.uuid4(),
                    reason="评分1星",
                    due_at=now,
                )
            )
    await out.flush()
    return time.perf_counter() - started


async def photo_check(probes: int = 50) -> None:
    """One upload's near-duplicate lookup: the band index against reading every photo."""
    rng = random.Random(3)
    stored = await ClaimDocument.all().limit(probes).values_list("phash", flat=True)
    # Each probe a copy of a stored photo with 1-6 bits changed: it must be found.
    wanted = [
        f"{int(p, 16) ^ sum(1 << b for b in rng.sample(range(64), rng.randint(1, 6))):016x}"
        for p in stored
    ]
    started = time.perf_counter()
    for probe in wanted:
        found = await ClaimDocument.filter(near_photos(probe)).values_list("phash", flat=True)
        assert any(hamming(probe, p) <= NEAR_DUPLICATE_BITS for p in found)
    banded = (time.perf_counter() - started) / len(wanted)
    started = time.perf_counter()
    for probe in wanted[:5]:
        every = await ClaimDocument.exclude(phash=None).values_list("phash", flat=True)
        assert any(hamming(probe, p) <= NEAR_DUPLICATE_BITS for p in every)
    scan = (time.perf_counter() - started) / 5
    print(
        f"  upload photo check: {banded * 1000:.2f} ms by hash bands, {scan * 1000:.0f} ms "
        f"reading every photo ({scan / banded:.0f}x)"
    )


async def measure(url: str, claims: int) -> None:
    EXECUTOR_CACHE.clear()
    await migrate_database(url)
    async with open_database(url):
        seconds = await generate(claims)
        print(f"  generated {claims:,} claims and installments in {seconds:.1f} s")
        started = time.perf_counter()
        sweep = await evaluate.nightly()
        elapsed = time.perf_counter() - started
        assert sweep is not None
        print(f"  nightly run: {sweep.signals_opened:,} signals opened in {elapsed:.1f} s")
        kinds = Counter(str(k) for k in await RiskSignal.all().values_list("kind", flat=True))
        print(f"  signals: {dict(sorted(kinds.items()))}")
        customers = frozenset(
            await Customer.all().order_by("id").limit(500).values_list("id", flat=True)
        )
        started = time.perf_counter()
        opened = await evaluate.run_rules(Scope(customers))
        print(
            f"  incremental run for {len(customers)} customers: {opened} opened "
            f"in {time.perf_counter() - started:.2f} s"
        )
        await photo_check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    _harness.run_on_backends(lambda url: measure(url, args.claims), args.backend, PG_DATABASE)


if __name__ == "__main__":
    main()
