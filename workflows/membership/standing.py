"""A customer's standing: the tier the rules give them, applied to the stored
Membership under its row lock.

An upgrade applies at once. A downgrade waits: the first computation that finds the
customer below their tier sets ``pending_tier`` and ``grace_until`` (today + the rules'
grace days); the customer keeps the tier through ``grace_until`` and loses it only at a
computation after that day that still finds them below it. Qualifying again in
between clears the pending downgrade. Every change is announced (outbox → the
customer's notifications).

The dedicated agent (tiers listing ``DEDICATED_AGENT``): the agent already named, while
active; else the agent who last handled a follow-up visit of this customer (they know
them); else the active agent with the fewest dedicated members. Cleared when the tier no
longer lists it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import cast

from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.membership import Membership, MemberTier
from models.staff import StaffRole, StaffUser
from models.visits import FollowUpVisit
from push.outbox import emit
from workflows.membership.facts import facts_for
from workflows.membership.rules import (
    DEDICATED_AGENT,
    TIER_NAMES,
    Evaluation,
    Rules,
    evaluate,
    rank,
)
from workflows.membership.store import current_rules


class Change(StrEnum):
    UPGRADED = "UPGRADED"
    DOWNGRADE_PENDING = "DOWNGRADE_PENDING"
    DOWNGRADED = "DOWNGRADED"


@dataclass(frozen=True)
class Decision:
    tier: MemberTier
    pending_tier: MemberTier | None
    grace_until: date | None
    change: Change | None


def decide(
    tier: MemberTier,
    pending_tier: MemberTier | None,
    grace_until: date | None,
    qualified: MemberTier,
    today: date,
    grace_days: int,
) -> Decision:
    """The pure rule of upgrades (at once) and downgrades (after the grace)."""
    if rank(qualified) > rank(tier):
        return Decision(qualified, None, None, Change.UPGRADED)
    if qualified is tier:
        return Decision(tier, None, None, None)
    if pending_tier is None or grace_until is None:
        if grace_days == 0:
            return Decision(qualified, None, None, Change.DOWNGRADED)
        return Decision(
            tier, qualified, today + timedelta(days=grace_days), Change.DOWNGRADE_PENDING
        )
    if today > grace_until:
        return Decision(qualified, None, None, Change.DOWNGRADED)
    return Decision(tier, qualified, grace_until, None)


async def _pick_agent(customer_id: uuid.UUID) -> uuid.UUID | None:
    agents = StaffUser.filter(role=StaffRole.AGENT, is_active=True)
    known = (
        await FollowUpVisit.filter(customer_id=customer_id, assignee_id__not_isnull=True)
        .filter(assignee_id__in=Subquery(agents.values("id")))
        .order_by("-created_at")
        .limit(1)
        .values_list("assignee_id", flat=True)
    )
    if known:
        return cast(uuid.UUID, known[0])
    least = (
        await agents.annotate(members=Count("dedicated_members"))
        .order_by("members", "username")
        .limit(1)
        .values_list("id", flat=True)
    )
    return cast(uuid.UUID, least[0]) if least else None


async def _agent_for(
    rules: Rules, tier: MemberTier, customer_id: uuid.UUID, current: uuid.UUID | None
) -> uuid.UUID | None:
    if not rules.lists(tier, DEDICATED_AGENT):
        return None
    if current is not None and await StaffUser.exists(
        id=current, role=StaffRole.AGENT, is_active=True
    ):
        return current
    return await _pick_agent(customer_id)


async def _announce(membership: Membership, decision: Decision) -> None:
    if decision.change is None:
        return
    kind = {
        Change.UPGRADED: "membership.upgraded",
        Change.DOWNGRADE_PENDING: "membership.downgrade_pending",
        Change.DOWNGRADED: "membership.downgraded",
    }[decision.change]
    shown = decision.pending_tier or decision.tier
    await emit(
        kind,
        entity_type="membership",
        entity_id=membership.id,
        customer_id=membership.customer_id,
        payload={
            "tier": decision.tier.value,
            "tier_name": TIER_NAMES[shown],
            "kept_tier_name": TIER_NAMES[decision.tier],
            "grace_until": f"{decision.grace_until:%Y年%m月%d日}" if decision.grace_until else "",
        },
    )


async def apply(
    customer_id: uuid.UUID, evaluation: Evaluation, rules: Rules, now: datetime
) -> Membership:
    """Apply one evaluation to the customer's Membership row (created if missing), under
    its row lock: concurrent recomputations of one customer apply one after the other."""
    async with in_transaction():
        await Membership.bulk_create(
            [
                Membership(
                    id=uuid.uuid4(),
                    customer_id=customer_id,
                    tier=MemberTier.STANDARD,
                    tier_since=now,
                    recomputed_at=now,
                )
            ],
            ignore_conflicts=True,
        )
        row = await Membership.filter(customer_id=customer_id).select_for_update().get()
        decision = decide(
            MemberTier(row.tier),
            MemberTier(row.pending_tier) if row.pending_tier else None,
            row.grace_until,
            evaluation.tier,
            local_date(now),
            rules.grace_days,
        )
        agent = await _agent_for(rules, decision.tier, customer_id, row.dedicated_agent_id)
        changes: dict[str, object] = {
            "pending_tier": decision.pending_tier,
            "grace_until": decision.grace_until,
            "recomputed_at": now,
            "dedicated_agent_id": agent,
        }
        if decision.tier != row.tier:
            changes |= {"tier": decision.tier, "tier_since": now}
        if decision.change is not None or agent != row.dedicated_agent_id:
            changes["version"] = row.version + 1
        await Membership.filter(id=row.id).update(**changes)
        await row.refresh_from_db()
        await _announce(row, decision)
    return row


async def recompute(
    customer_ids: list[uuid.UUID], now: datetime | None = None
) -> dict[uuid.UUID, Membership]:
    """Recompute these customers: the rules and the facts read once for all of them."""
    now = now or datetime.now(UTC)
    unique = list(dict.fromkeys(customer_ids))
    if not unique:
        return {}
    rules = await current_rules()
    facts = await facts_for(unique, now)
    return {who: await apply(who, evaluate(rules, facts[who]), rules, now) for who in unique}


async def membership_of(customer_id: uuid.UUID, now: datetime | None = None) -> Membership:
    """The stored Membership; computed the first time it is asked for."""
    row = await Membership.get_or_none(customer_id=customer_id)
    if row is not None:
        return row
    return (await recompute([customer_id], now))[customer_id]
