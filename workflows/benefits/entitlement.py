"""Who may use a service: a member of a tier that includes it, or the holder or insured
person of a policy in force of a product that includes it; and how much of this year's
quota is left. The reason is shown to the customer (Chinese)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import Q, Subquery

from models.benefits import BenefitService, BenefitUsage, Entitlement
from models.clock import local_date
from models.membership import MemberTier
from models.policies import InsuredPerson, Policy, PolicyStatus
from workflows.membership import tier_of

TIER_NAMES = {
    MemberTier.STANDARD: "普通会员",
    MemberTier.SILVER: "银卡会员",
    MemberTier.GOLD: "金卡会员",
    MemberTier.PLATINUM: "铂金会员",
}


@dataclass(frozen=True)
class Entitled:
    service: BenefitService
    entitlement: Entitlement | None  # None: not entitled
    policy: Policy | None  # the policy it comes from (POLICY)
    reason: str
    used: int
    left: int

    @property
    def entitled(self) -> bool:
        return self.entitlement is not None


def quota_year(now: datetime) -> int:
    """Quotas run per calendar year in Asia/Shanghai."""
    return local_date(now).year


def in_force(now: datetime) -> Q:
    return Q(status=PolicyStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)


def held_or_insured(customer_id: uuid.UUID) -> Q:
    """Policies whose services the customer may use: as holder or insured person (a
    beneficiary is not served by the policy's services)."""
    insured = InsuredPerson.filter(customer_id=customer_id).values("policy_id")
    return Q(holder_id=customer_id) | Q(id__in=Subquery(insured))


async def policies_in_force(customer_id: uuid.UUID, now: datetime) -> list[Policy]:
    """Policies in force the customer holds or is insured by, with their product."""
    return (
        await Policy.filter(held_or_insured(customer_id))
        .filter(in_force(now))
        .select_related("product")
        .order_by("starts_at", "id")
    )


def includes(service: BenefitService, policy: Policy) -> bool:
    return (
        policy.product.kind.value in service.product_kinds
        or policy.product.code in service.product_codes
    )


def decide(
    service: BenefitService, tier: MemberTier, policies: list[Policy]
) -> tuple[Entitlement | None, Policy | None, str]:
    """The first ground found: the tier, else the oldest policy in force that includes it."""
    if tier.value in service.tiers:
        return Entitlement.TIER, None, f"{TIER_NAMES[tier]}权益"
    for policy in policies:
        if includes(service, policy):
            return Entitlement.POLICY, policy, f"保单{policy.number}（{policy.product.name}）附带"
    wanted = [TIER_NAMES[MemberTier(t)] for t in service.tiers]
    if wanted:
        return None, None, f"{'、'.join(wanted)}或持有含此服务的有效保单可享"
    return None, None, "持有含此服务的有效保单可享"


async def used_counts(customer_id: uuid.UUID, year: int) -> dict[uuid.UUID, int]:
    rows = await BenefitUsage.filter(customer_id=customer_id, year=year).values_list(
        "service_id", flat=True
    )
    counts: dict[uuid.UUID, int] = {}
    for service_id in rows:
        key = uuid.UUID(str(service_id))
        counts[key] = counts.get(key, 0) + 1
    return counts


async def entitlements(customer_id: uuid.UUID, now: datetime | None = None) -> list[Entitled]:
    """Every active service with whether the customer may use it, why, and what is left."""
    now = now or datetime.now(UTC)
    services = (
        await BenefitService.filter(active=True, partner__active=True)
        .select_related("partner")
        .order_by("code")
    )
    tier = await tier_of(customer_id)
    policies = await policies_in_force(customer_id, now)
    used = await used_counts(customer_id, quota_year(now))
    answer = []
    for service in services:
        entitlement, policy, reason = decide(service, tier, policies)
        taken = used.get(service.id, 0)
        answer.append(
            Entitled(
                service, entitlement, policy, reason, taken, max(0, service.yearly_quota - taken)
            )
        )
    return answer
