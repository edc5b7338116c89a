"""The facts the tiers read, for many customers in a fixed number of queries (four,
whatever the batch size): their policies, the premiums paid on them in the last 365
days, the last paid claim on each, and the other people insured on those in force."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from tortoise.functions import Max, Sum

from models.claims import Claim
from models.clock import local_date
from models.policies import InsuredPerson, Policy, PolicyStatus, PremiumInstallment
from workflows.access import UNISSUED
from workflows.membership.rules import Facts

YEAR = timedelta(days=365)


def full_years(start: date, today: date) -> int:
    """Whole years from ``start`` to ``today`` (an anniversary counts on its day)."""
    if start > today:
        return 0
    years = today.year - start.year
    if (today.month, today.day) < (start.month, start.day):
        years -= 1
    return years


async def facts_for(customer_ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, Facts]:
    """Every customer's facts (one without policies: all zero)."""
    today = local_date(now)
    policies = await (
        Policy.filter(holder_id__in=customer_ids)
        .exclude(status__in=list(UNISSUED))
        .values("id", "holder_id", "status", "issued_at")
    )
    holder = {p["id"]: p["holder_id"] for p in policies}
    active = [p["id"] for p in policies if p["status"] == PolicyStatus.ACTIVE]
    premium: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    last_claim: dict[uuid.UUID, datetime] = {}
    family: dict[uuid.UUID, set[str]] = defaultdict(set)
    if policies:
        for row in await (
            PremiumInstallment.filter(policy_id__in=list(holder), paid_at__gte=now - YEAR)
            .filter(paid_at__lte=now)
            .annotate(total=Sum("amount"))
            .group_by("policy_id")
            .values("policy_id", "total")
        ):
            premium[holder[row["policy_id"]]] += Decimal(row["total"] or 0)
        for row in await (
            Claim.filter(policy_id__in=list(holder), paid_at__not_isnull=True)
            .annotate(last=Max("paid_at"))
            .group_by("policy_id")
            .values("policy_id", "last")
        ):
            who = holder[row["policy_id"]]
            if row["last"] is not None and (who not in last_claim or row["last"] > last_claim[who]):
                last_claim[who] = row["last"]
    if active:
        for row in await (
            InsuredPerson.filter(policy_id__in=active)
            .exclude(relation_to_holder="SELF")
            .values("policy_id", "id_number_hash")
        ):
            family[holder[row["policy_id"]]].add(row["id_number_hash"])
    first: dict[uuid.UUID, datetime] = {}
    counts: dict[uuid.UUID, int] = defaultdict(int)
    for p in policies:
        who = p["holder_id"]
        if who not in first or p["issued_at"] < first[who]:
            first[who] = p["issued_at"]
        if p["status"] == PolicyStatus.ACTIVE:
            counts[who] += 1
    facts: dict[uuid.UUID, Facts] = {}
    for who in customer_ids:
        years = full_years(local_date(first[who]), today) if who in first else 0
        claims_free = years
        if who in last_claim:
            claims_free = min(years, full_years(local_date(last_claim[who]), today))
        facts[who] = Facts(
            active_policies=counts[who],
            yearly_premium=premium[who].quantize(Decimal("0.01")),
            years_as_customer=years,
            claims_free_years=claims_free,
            family_members=len(family[who]),
        )
    return facts
