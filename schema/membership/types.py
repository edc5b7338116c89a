"""Membership (会员制度) in GraphQL: the types of `myMembership`, the points ledger, the
rewards catalogue and health management, and who may see each by global ID."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import strawberry
from strawberry import relay

from models import membership as m
from models.clock import local_date, local_time
from models.staff import StaffUser
from schema.common import Connection, CursorArg, PageArg, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with
from workflows.access import Actor, Permission
from workflows.membership.facts import facts_for
from workflows.membership.ledger import ensure_rewards
from workflows.membership.points import points_balance
from workflows.membership.rules import (
    CRITERION_LABELS,
    TIER_NAMES,
    Allowance,
    Criterion,
    MembershipError,
    Privilege,
    rank,
)
from workflows.membership.store import current_rules

strawberry.enum(
    m.MemberTier,
    description="Membership tiers, lowest first: STANDARD 普通, SILVER 银卡, GOLD 金卡, "
    "PLATINUM 铂金.",
)
strawberry.enum(
    Criterion,
    name="MembershipCriterion",
    description="What a tier threshold measures: ACTIVE_POLICIES (policies in force I "
    "hold), YEARLY_PREMIUM (premiums paid in the last 365 days, yuan), YEARS_AS_CUSTOMER "
    "(full years since my first policy), CLAIMS_FREE_YEARS (full years without a paid "
    "claim), FAMILY_MEMBERS (other people insured on my policies in force).",
)
strawberry.enum(
    m.PointsKind,
    description="EARNED (premiums, renewals, surveys, health tasks), GOODWILL (a broken "
    "service promise), REDEEMED (spent, negative), EXPIRED (lapsed unspent, negative), "
    "REVERSED (a refunded premium's points taken back, as far as unspent; negative).",
)
strawberry.enum(
    m.HealthPeriod,
    description="How often a health task can be done: DAILY, WEEKLY (ISO week), ONCE.",
)

MEMBERSHIP_CODES = ErrorCodes(
    "MembershipErrorCode", "Why a membership action failed.", MembershipError
)


@answers_with(MEMBERSHIP_CODES)
@strawberry.type(name="MembershipError", description="A failed membership action.")
class MembershipPayloadError(Error):
    code: str = strawberry.field(graphql_type=MEMBERSHIP_CODES.enum, description=CODE)


@strawberry.type(description="A privilege a tier gives (dedicated agent, fast-track claims …).")
class TierPrivilege:
    """Part of the rules, not an entity: its code is unique only within its tier."""

    code: str = strawberry.field(
        description="Stable code, e.g. DEDICATED_AGENT, FAST_TRACK_CLAIMS, ONLINE_SERVICE."
    )
    name: str = strawberry.field(description="Its name, in Chinese.")
    description: str = strawberry.field(description="What it offers, in Chinese; may be empty.")

    @classmethod
    def of(cls, p: Privilege) -> TierPrivilege:
        return cls(code=p.code, name=p.name, description=p.description)


@strawberry.type(description="A yearly benefit allowance a tier gives, e.g. 1 check-up a year.")
class TierAllowance:
    """Part of the rules, not an entity. Used counts are kept by the service delivering it."""

    code: str = strawberry.field(description="Stable code, e.g. CHECK_UP, CAR_WASH.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    per_year: int = strawberry.field(description="How many times per calendar year.")

    @classmethod
    def of(cls, a: Allowance) -> TierAllowance:
        return cls(code=a.code, name=a.name, per_year=a.per_year)


@strawberry.type(description="One criterion of the next tier: what it asks and where I am.")
class CriterionProgress:
    criterion: Criterion = strawberry.field(description="What is measured.")
    label: str = strawberry.field(description="What it means, in Chinese.")
    required: Decimal = strawberry.field(description="The next tier's threshold.")
    actual: Decimal = strawberry.field(description="My value now.")
    met: bool = strawberry.field(description="Whether I meet it already.")


@strawberry.type(description="How far I am from the next tier.")
class TierProgress:
    next_tier: m.MemberTier | None = strawberry.field(
        description="The tier above mine; null at the top."
    )
    next_tier_name: str | None = strawberry.field(description="Its name, in Chinese.")
    criteria: list[CriterionProgress] = strawberry.field(
        description="Every criterion of the next tier, met or not."
    )
    missing: list[CriterionProgress] = strawberry.field(
        description="Only those not met yet: what is missing."
    )
    to_keep: list[CriterionProgress] = strawberry.field(
        description="Every criterion of my present tier (empty for STANDARD): what keeps it "
        "when a downgrade is pending."
    )


@strawberry.type(description="One entry of my points ledger (积分明细); never changed.")
class PointsEntry(relay.Node):
    id: relay.NodeID[str]
    points: int = strawberry.field(description="Positive earned, negative spent or expired.")
    kind: m.PointsKind = strawberry.field(description="Why the balance moved.")
    reason: str = strawberry.field(description="What it was for, in Chinese.")
    created_at: datetime = strawberry.field(description="When (Asia/Shanghai).")
    expires_on: date | None = strawberry.field(
        description="Earned points: the last day they can be used; null otherwise."
    )

    @classmethod
    def from_model(cls, row: m.PointsEntry) -> PointsEntry:
        return cls(
            id=str(row.id),
            points=row.points,
            kind=m.PointsKind(row.kind),
            reason=row.reason,
            created_at=local_time(row.created_at),
            expires_on=row.expires_on,
        )


@strawberry.type(name="MembershipReward", description="Something points buy (体检券, 洗车券 …).")
class Reward(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. CHECK_UP.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    description: str = strawberry.field(description="What it is, in Chinese.")
    points_cost: int = strawberry.field(description="Points one redemption costs.")
    min_tier: m.MemberTier = strawberry.field(description="The lowest tier that may redeem it.")
    per_year: int = strawberry.field(description="Redemptions per customer and calendar year.")

    @classmethod
    def from_model(cls, row: m.Reward) -> Reward:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            description=row.description,
            points_cost=row.points_cost,
            min_tier=m.MemberTier(row.min_tier),
            per_year=row.per_year,
        )


@strawberry.type(description="A reward as it stands for me this year.")
class RewardStanding:
    reward: Reward = strawberry.field(description="The reward.")
    used_this_year: int = strawberry.field(description="My redemptions this calendar year.")
    remaining_this_year: int = strawberry.field(description="How many more I may redeem.")
    tier_allows: bool = strawberry.field(description="My tier may redeem it.")
    affordable: bool = strawberry.field(description="My balance covers one redemption.")
    available: bool = strawberry.field(
        description="All of the above: `redeemPoints` would succeed now."
    )


@strawberry.type(name="PointsRedemption", description="Points I spent on a reward.")
class Redemption(relay.Node):
    id: relay.NodeID[str]
    reward: Reward = strawberry.field(description="What I got.")
    points: int = strawberry.field(description="Points spent.")
    voucher_code: str = strawberry.field(description="The voucher code to show the partner.")
    created_at: datetime = strawberry.field(description="When (Asia/Shanghai).")

    @classmethod
    def from_model(cls, row: m.Redemption, reward: m.Reward) -> Redemption:
        return cls(
            id=str(row.id),
            reward=Reward.from_model(reward),
            points=row.points,
            voucher_code=row.voucher_code,
            created_at=local_time(row.created_at),
        )


@strawberry.type(description="The agent who looks after me (tiers listing DEDICATED_AGENT).")
class DedicatedAgent:
    """A view of a staff member for their customer: name and team only."""

    name: str = strawberry.field(description="The agent's name.")
    team: str | None = strawberry.field(description="Their team, e.g. 客户服务部.")


@strawberry.type(description="My membership (会员): tier, progress, points, privileges, rewards.")
class Membership(relay.Node):
    """Recomputed when my policies, payments or claims change, and nightly. A downgrade
    waits for a grace period: `pendingTier` and `graceUntil` say which and until when."""

    id: relay.NodeID[str]
    customer_id: strawberry.Private[uuid.UUID]
    tier: m.MemberTier = strawberry.field(description="My tier now.")
    tier_name: str = strawberry.field(description="Its name, in Chinese.")
    since: datetime = strawberry.field(description="Since when I hold it (Asia/Shanghai).")
    pending_tier: m.MemberTier | None = strawberry.field(
        description="The lower tier I will move to if I still do not qualify after "
        "`graceUntil`; null when no downgrade is pending."
    )
    grace_until: date | None = strawberry.field(
        description="The last day my tier is kept while a downgrade is pending."
    )
    recomputed_at: datetime = strawberry.field(description="When it was last computed.")
    progress: TierProgress = strawberry.field(description="What the next tier asks.")
    points_balance: int = strawberry.field(description="Points I can spend now.")
    privileges: list[TierPrivilege] = strawberry.field(description="What my tier gives.")
    allowances: list[TierAllowance] = strawberry.field(
        description="Yearly benefit allowances of my tier."
    )
    rewards: list[RewardStanding] = strawberry.field(
        description="The rewards catalogue: used this year, left, and whether I may redeem."
    )
    redemptions_this_year: list[Redemption] = strawberry.field(
        description="What I redeemed this calendar year, newest first."
    )
    dedicated_agent: DedicatedAgent | None = strawberry.field(
        description="My dedicated agent when my tier lists one (null otherwise)."
    )
    version: int = strawberry.field(description="Grows with every change of the membership.")

    @strawberry.field(description="My points ledger, newest first (Relay connection).")
    async def points_history(
        self,
        first: PageArg = None,
        after: CursorArg = None,
        last: PageArg = None,
        before: CursorArg = None,
    ) -> Connection[PointsEntry]:
        return await paginate(
            m.PointsEntry.filter(customer_id=self.customer_id).order_by("-created_at", "-id"),
            PointsEntry.from_model,
            first=first,
            after=after,
            last=last,
            before=before,
        )


async def to_membership(row: m.Membership, now: datetime | None = None) -> Membership:
    """A fixed number of reads: rules, facts (four), balance, rewards, redemptions, agent."""
    now = now or datetime.now(UTC)
    rules = await current_rules()
    facts = (await facts_for([row.customer_id], now))[row.customer_id]
    tier = m.MemberTier(row.tier)
    next_rule = next((t for t in rules.tiers if rank(t.tier) > rank(tier)), None)
    held_rule = rules.tier_rule(tier)

    def criteria_of(thresholds: dict[Criterion, Decimal]) -> list[CriterionProgress]:
        return [
            CriterionProgress(
                criterion=criterion,
                label=CRITERION_LABELS[criterion],
                required=required,
                actual=facts.value(criterion),
                met=facts.value(criterion) >= required,
            )
            for criterion, required in thresholds.items()
        ]

    criteria = criteria_of(next_rule.thresholds) if next_rule else []
    balance = await points_balance(row.customer_id)
    await ensure_rewards()
    rewards = await m.Reward.filter(active=True)
    year = local_date(now).year
    redemptions = await m.Redemption.filter(customer_id=row.customer_id, year=year)
    by_id = {r.id: r for r in rewards}
    missing_rewards = {r.reward_id for r in redemptions} - set(by_id)
    if missing_rewards:
        by_id |= {r.id: r for r in await m.Reward.filter(id__in=list(missing_rewards))}
    used: dict[uuid.UUID, int] = {}
    for redemption in redemptions:
        used[redemption.reward_id] = used.get(redemption.reward_id, 0) + 1
    standings = []
    for reward in rewards:
        left = max(0, reward.per_year - used.get(reward.id, 0))
        allows = rank(tier) >= rank(m.MemberTier(reward.min_tier))
        affordable = balance >= reward.points_cost
        standings.append(
            RewardStanding(
                reward=Reward.from_model(reward),
                used_this_year=used.get(reward.id, 0),
                remaining_this_year=left,
                tier_allows=allows,
                affordable=affordable,
                available=allows and affordable and left > 0,
            )
        )
    agent = None
    if row.dedicated_agent_id is not None:
        staff = await StaffUser.get_or_none(id=row.dedicated_agent_id)
        if staff is not None:
            agent = DedicatedAgent(name=staff.display_name, team=staff.team)
    return Membership(
        id=str(row.id),
        customer_id=row.customer_id,
        tier=tier,
        tier_name=TIER_NAMES[tier],
        since=local_time(row.tier_since),
        pending_tier=m.MemberTier(row.pending_tier) if row.pending_tier else None,
        grace_until=row.grace_until,
        recomputed_at=local_time(row.recomputed_at),
        progress=TierProgress(
            next_tier=next_rule.tier if next_rule else None,
            next_tier_name=TIER_NAMES[next_rule.tier] if next_rule else None,
            criteria=criteria,
            missing=[c for c in criteria if not c.met],
            to_keep=criteria_of(held_rule.thresholds) if held_rule else [],
        ),
        points_balance=balance,
        privileges=[TierPrivilege.of(p) for p in rules.privileges(tier)],
        allowances=[TierAllowance.of(a) for a in rules.allowances(tier)],
        rewards=standings,
        redemptions_this_year=[Redemption.from_model(r, by_id[r.reward_id]) for r in redemptions],
        dedicated_agent=agent,
        version=row.version,
    )


# ---------------------------------------------------------------- health management


@strawberry.type(description="One task of a health programme; done once per period.")
class HealthTask(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code within its programme.")
    name: str = strawberry.field(description="The task, in Chinese.")
    description: str = strawberry.field(description="How to do it, in Chinese.")
    period: m.HealthPeriod = strawberry.field(description="How often it can be done.")
    points: int = strawberry.field(description="Points it earns each time.")
    value_label: str | None = strawberry.field(
        description="What number to declare (e.g. 步数); null: a yes/no task, send no value."
    )
    min_value: int | None = strawberry.field(description="The least that counts as done.")
    max_value: int | None = strawberry.field(description="The most that is believable.")
    done_this_period: bool = strawberry.field(
        description="I declared it done for the current period (always false for staff)."
    )

    @classmethod
    def from_model(cls, row: m.HealthTask, done: bool) -> HealthTask:
        return cls(
            id=str(row.id),
            code=row.code,
            name=row.name,
            description=row.description,
            period=m.HealthPeriod(row.period),
            points=row.points,
            value_label=row.value_label,
            min_value=row.min_value,
            max_value=row.max_value,
            done_this_period=done,
        )


@strawberry.type(
    description="A health-management programme (健康管理) with tasks that earn points."
)
class HealthProgramme(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. DAILY_STEPS.")
    name: str = strawberry.field(description="Its name, in Chinese.")
    description: str = strawberry.field(description="What it is for, in Chinese.")
    tasks: list[HealthTask] = strawberry.field(description="Its tasks, in order.")


@strawberry.type(description="My declaration that a health task is done for a period.")
class HealthTaskCompletion(relay.Node):
    id: relay.NodeID[str]
    task: HealthTask = strawberry.field(description="The task.")
    period_key: str = strawberry.field(
        description="The period: a day `2026-12-02`, an ISO week `2026-W49`, or `once`."
    )
    value: int | None = strawberry.field(description="The value I declared, if the task asks.")
    points: int = strawberry.field(description="Points it earned.")
    created_at: datetime = strawberry.field(description="When (Asia/Shanghai).")

    @classmethod
    def from_model(cls, row: m.HealthTaskCompletion, task: m.HealthTask) -> HealthTaskCompletion:
        return cls(
            id=str(row.id),
            task=HealthTask.from_model(task, True),
            period_key=row.period_key,
            value=row.value,
            points=row.points,
            created_at=local_time(row.created_at),
        )


# ---------------------------------------------------------------- by global ID


def _owner_or_reader(actor: Actor, customer_id: uuid.UUID) -> bool:
    return actor.subject_id == customer_id or actor.can(Permission.CUSTOMER_READ)


async def membership_node(actor: Actor, object_id: uuid.UUID) -> Membership | None:
    row = await m.Membership.get_or_none(id=object_id)
    if row is None or not _owner_or_reader(actor, row.customer_id):
        return None
    return await to_membership(row)


async def points_entry_node(actor: Actor, object_id: uuid.UUID) -> PointsEntry | None:
    row = await m.PointsEntry.get_or_none(id=object_id)
    if row is None or not _owner_or_reader(actor, row.customer_id):
        return None
    return PointsEntry.from_model(row)


async def reward_node(actor: Actor, object_id: uuid.UUID) -> Reward | None:
    row = await m.Reward.get_or_none(id=object_id)
    return Reward.from_model(row) if row else None


async def redemption_node(actor: Actor, object_id: uuid.UUID) -> Redemption | None:
    row = await m.Redemption.get_or_none(id=object_id).select_related("reward")
    if row is None or not _owner_or_reader(actor, row.customer_id):
        return None
    return Redemption.from_model(row, row.reward)


async def health_programme_node(actor: Actor, object_id: uuid.UUID) -> HealthProgramme | None:
    row = await m.HealthProgramme.get_or_none(id=object_id).prefetch_related("tasks")
    if row is None:
        return None
    return HealthProgramme(
        id=str(row.id),
        code=row.code,
        name=row.name,
        description=row.description,
        tasks=[HealthTask.from_model(t, False) for t in row.tasks],
    )


async def health_task_node(actor: Actor, object_id: uuid.UUID) -> HealthTask | None:
    row = await m.HealthTask.get_or_none(id=object_id)
    if row is None:
        return None
    done = False
    if actor.is_customer and actor.subject_id is not None:
        from workflows.membership.health import done_keys

        done = row.id in await done_keys(actor.subject_id, [row], datetime.now(UTC))
    return HealthTask.from_model(row, done)


async def health_completion_node(actor: Actor, object_id: uuid.UUID) -> HealthTaskCompletion | None:
    row = await m.HealthTaskCompletion.get_or_none(id=object_id).select_related("task")
    if row is None or not _owner_or_reader(actor, row.customer_id):
        return None
    return HealthTaskCompletion.from_model(row, row.task)
