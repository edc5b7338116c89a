"""Membership queries and mutations: `myMembership`, `redeemPoints`, health programmes
and `completeHealthTask` for customers; `membershipRules` and `updateMembershipRules`
for staff with MEMBERSHIP_MANAGE."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import membership as m
from models.customers import Customer as CustomerModel
from schema.common import node_uuid
from schema.errors import payload_errors
from schema.membership.types import (
    HealthProgramme,
    HealthTask,
    HealthTaskCompletion,
    Membership,
    MembershipPayloadError,
    Redemption,
    TierAllowance,
    TierPrivilege,
    to_membership,
)
from schema.permissions import CUSTOMER_ONLY, staff_only
from schema.scalars import Amount
from workflows.access import Actor, Permission
from workflows.membership import health, ledger, store
from workflows.membership.rules import (
    RANKED,
    TIER_NAMES,
    Allowance,
    Criterion,
    MembershipError,
    MembershipErrorCode,
    PointsRules,
    Privilege,
    Rules,
    TierRule,
    from_document,
)
from workflows.membership.standing import membership_of

security = logging.getLogger("anxin.security")
MAX_LIST = 12  # privileges or allowances per tier (checked again by the rules)

# ---------------------------------------------------------------- staff: the rules


@strawberry.type(description="A tier's thresholds: every one must be met to reach the tier.")
class TierThresholds:
    active_policies: int = strawberry.field(description="Policies in force held, at least.")
    yearly_premium: Decimal = strawberry.field(
        description="Premiums paid in the last 365 days (yuan), at least."
    )
    years_as_customer: int = strawberry.field(description="Full years as a customer, at least.")
    claims_free_years: int = strawberry.field(description="Full years without a paid claim.")
    family_members: int = strawberry.field(
        description="Other people insured on policies in force held, at least."
    )


@strawberry.type(description="One tier above STANDARD: thresholds, privileges, allowances.")
class MembershipTierRule:
    """Part of the rules document, not an entity (its tier is its key)."""

    tier: m.MemberTier = strawberry.field(description="The tier.")
    tier_name: str = strawberry.field(description="Its name, in Chinese.")
    thresholds: TierThresholds = strawberry.field(description="What reaching it asks.")
    privileges: list[TierPrivilege] = strawberry.field(description="What it gives.")
    allowances: list[TierAllowance] = strawberry.field(description="Yearly allowances.")


@strawberry.type(description="How points are earned and how long they last.")
class PointsRulesView:
    yuan_per_point: int = strawberry.field(description="1 point per this many yuan of premium.")
    renewal_bonus: int = strawberry.field(description="Points for a policy renewed.")
    survey_points: int = strawberry.field(description="Points for a survey answered.")
    valid_years: int = strawberry.field(
        description="Points earned in year Y expire at the end of year Y + validYears - 1."
    )


@strawberry.type(description="The membership rules staff change (MEMBERSHIP_MANAGE).")
class MembershipRules(relay.Node):
    id: relay.NodeID[str]
    version: int = strawberry.field(description="Pass as `expectedVersion` to change them.")
    grace_days: int = strawberry.field(
        description="Days a customer keeps a tier they no longer qualify for."
    )
    points: PointsRulesView = strawberry.field(description="The points rules.")
    standard_privileges: list[TierPrivilege] = strawberry.field(
        description="What STANDARD members get."
    )
    tiers: list[MembershipTierRule] = strawberry.field(
        description="SILVER, GOLD, PLATINUM in order; each threshold at least the tier below's."
    )
    updated_at: datetime = strawberry.field(description="When they last changed.")

    @classmethod
    def from_model(cls, row: m.MembershipRuleSet) -> MembershipRules:
        rules = from_document(row.document)

        def thresholds(rule: TierRule) -> TierThresholds:
            t = rule.thresholds
            return TierThresholds(
                active_policies=int(t[Criterion.ACTIVE_POLICIES]),
                yearly_premium=t[Criterion.YEARLY_PREMIUM],
                years_as_customer=int(t[Criterion.YEARS_AS_CUSTOMER]),
                claims_free_years=int(t[Criterion.CLAIMS_FREE_YEARS]),
                family_members=int(t[Criterion.FAMILY_MEMBERS]),
            )

        return cls(
            id=str(row.id),
            version=row.version,
            grace_days=rules.grace_days,
            points=PointsRulesView(
                yuan_per_point=rules.points.yuan_per_point,
                renewal_bonus=rules.points.renewal_bonus,
                survey_points=rules.points.survey_points,
                valid_years=rules.points.valid_years,
            ),
            standard_privileges=[TierPrivilege.of(p) for p in rules.standard_privileges],
            tiers=[
                MembershipTierRule(
                    tier=t.tier,
                    tier_name=TIER_NAMES[t.tier],
                    thresholds=thresholds(t),
                    privileges=[TierPrivilege.of(p) for p in t.privileges],
                    allowances=[TierAllowance.of(a) for a in t.allowances],
                )
                for t in rules.tiers
            ],
            updated_at=row.updated_at,
        )


async def membership_rules_node(actor: Actor, object_id: uuid.UUID) -> MembershipRules | None:
    if not actor.can(Permission.MEMBERSHIP_MANAGE):
        return None
    row = await m.MembershipRuleSet.get_or_none(id=object_id)
    return MembershipRules.from_model(row) if row else None


@strawberry.input(description="A privilege a tier gives.")
class TierPrivilegeInput:
    code: str = strawberry.field(description="Stable code (1-32 characters), e.g. DEDICATED_AGENT.")
    name: str = strawberry.field(description="Its name in Chinese (1-100 characters).")
    description: str = strawberry.field(default="", description="At most 200 characters.")


@strawberry.input(description="A yearly allowance a tier gives.")
class TierAllowanceInput:
    code: str = strawberry.field(description="Stable code (1-32 characters), e.g. CHECK_UP.")
    name: str = strawberry.field(description="Its name in Chinese (1-100 characters).")
    per_year: int = strawberry.field(description="Times per calendar year (1-365).")


@strawberry.input(description="One tier's rule.")
class TierRuleInput:
    tier: m.MemberTier = strawberry.field(description="SILVER, GOLD or PLATINUM.")
    active_policies: int = strawberry.field(description="Policies in force, at least (0: any).")
    yearly_premium: Amount = strawberry.field(description="Premiums paid in 365 days (yuan).")
    years_as_customer: int = strawberry.field(description="Full years as a customer.")
    claims_free_years: int = strawberry.field(description="Full years without a paid claim.")
    family_members: int = strawberry.field(description="Other people insured, at least.")
    privileges: list[TierPrivilegeInput] = strawberry.field(description="At most 12.")
    allowances: list[TierAllowanceInput] = strawberry.field(description="At most 12.")


@strawberry.input(description="How points are earned and how long they last.")
class PointsRulesInput:
    yuan_per_point: int = strawberry.field(description="1 point per this many yuan (1-10000).")
    renewal_bonus: int = strawberry.field(description="Points for a renewal (0-100000).")
    survey_points: int = strawberry.field(description="Points for a survey (0-10000).")
    valid_years: int = strawberry.field(description="Calendar years points last (1-10).")


@strawberry.input(description="The whole membership rules, replacing the stored ones.")
class UpdateMembershipRulesInput:
    expected_version: int = strawberry.field(description="The `version` you read.")
    grace_days: int = strawberry.field(description="Downgrade grace in days (0-366).")
    points: PointsRulesInput = strawberry.field(description="The points rules.")
    standard_privileges: list[TierPrivilegeInput] = strawberry.field(description="At most 12.")
    tiers: list[TierRuleInput] = strawberry.field(
        description="SILVER, GOLD, PLATINUM in this order; every threshold at least the "
        "tier below's, and each tier asks more than the one below in some threshold."
    )

    def to_rules(self) -> Rules:
        def privileges(items: list[TierPrivilegeInput]) -> tuple[Privilege, ...]:
            return tuple(Privilege(p.code.strip(), p.name, p.description) for p in items)

        too_many = len(self.standard_privileges) > MAX_LIST or any(
            len(t.privileges) > MAX_LIST or len(t.allowances) > MAX_LIST for t in self.tiers
        )
        if len(self.tiers) > len(RANKED) or too_many:
            raise MembershipError(MembershipErrorCode.RULES_INVALID, "等级或权益过多", "tiers")
        return Rules(
            grace_days=self.grace_days,
            points=PointsRules(
                yuan_per_point=self.points.yuan_per_point,
                renewal_bonus=self.points.renewal_bonus,
                survey_points=self.points.survey_points,
                valid_years=self.points.valid_years,
            ),
            standard_privileges=privileges(self.standard_privileges),
            tiers=tuple(
                TierRule(
                    tier=t.tier,
                    thresholds={
                        Criterion.ACTIVE_POLICIES: Decimal(t.active_policies),
                        Criterion.YEARLY_PREMIUM: Decimal(t.yearly_premium),
                        Criterion.YEARS_AS_CUSTOMER: Decimal(t.years_as_customer),
                        Criterion.CLAIMS_FREE_YEARS: Decimal(t.claims_free_years),
                        Criterion.FAMILY_MEMBERS: Decimal(t.family_members),
                    },
                    privileges=privileges(t.privileges),
                    allowances=tuple(
                        Allowance(a.code.strip(), a.name, a.per_year) for a in t.allowances
                    ),
                )
                for t in self.tiers
            ),
        )


@strawberry.type(description="The rules after the change.")
class UpdateMembershipRulesPayload:
    rules: MembershipRules | None = strawberry.field(description="Null when refused.")
    errors: list[MembershipPayloadError] = strawberry.field(description="Empty on success.")


# ---------------------------------------------------------------- customers


@strawberry.input(description="Spend points on a reward.")
class RedeemPointsInput:
    reward_id: relay.GlobalID = strawberry.field(description="A MembershipReward's `id`.")
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): a retry returns the same redemption."
    )


@strawberry.type(description="The redemption and my membership after it.")
class RedeemPointsPayload:
    redemption: Redemption | None = strawberry.field(description="Null when refused.")
    membership: Membership | None = strawberry.field(
        description="My membership (balance, rewards left) after it; null when refused."
    )
    errors: list[MembershipPayloadError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="I declare a health task done for its current period.")
class CompleteHealthTaskInput:
    task_id: relay.GlobalID = strawberry.field(description="A HealthTask's `id`.")
    value: int | None = strawberry.field(
        default=None,
        description="The number the task asks for (`valueLabel`), within its bounds; "
        "omit for a yes/no task.",
    )


@strawberry.type(description="The completion, the task and my membership after it.")
class CompleteHealthTaskPayload:
    completion: HealthTaskCompletion | None = strawberry.field(description="Null when refused.")
    task: HealthTask | None = strawberry.field(
        description="The task (`doneThisPeriod` now true); null when refused."
    )
    membership: Membership | None = strawberry.field(
        description="My membership (points balance) after it; null when refused."
    )
    errors: list[MembershipPayloadError] = strawberry.field(description="Empty on success.")


@strawberry.type
class MembershipQueries:
    @strawberry.field(
        description="My membership: tier, progress to the next tier, points balance and "
        "history, privileges, rewards this year, dedicated agent. Computed the first time.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_membership(self, info: Info) -> Membership:
        row = await membership_of(info.context.actor.subject_id)
        return await to_membership(row)

    @strawberry.field(
        description="The health-management programmes and their tasks, with what I did "
        "this period.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def health_programmes(self, info: Info) -> list[HealthProgramme]:
        programmes = await health.programmes()
        tasks = [t for p in programmes for t in p.tasks]
        done = await health.done_keys(info.context.actor.subject_id, tasks, datetime.now(UTC))
        return [
            HealthProgramme(
                id=str(p.id),
                code=p.code,
                name=p.name,
                description=p.description,
                tasks=[HealthTask.from_model(t, t.id in done) for t in p.tasks],
            )
            for p in programmes
        ]

    @strawberry.field(
        description="A customer's membership, for staff who read customers (an agent "
        "serving a gold member); computed the first time. Null for an unknown customer.",
        permission_classes=staff_only(Permission.CUSTOMER_READ),
    )
    async def customer_membership(
        self,
        info: Info,
        customer_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The Customer's `id`.")
        ],
    ) -> Membership | None:
        customer = node_uuid(customer_id, "Customer")
        if not await CustomerModel.exists(id=customer):
            return None
        security.info(
            "staff %s read the membership of customer %s", info.context.actor.subject_id, customer
        )
        return await to_membership(await membership_of(customer))

    @strawberry.field(
        description="The membership rules: thresholds, privileges, grace, points.",
        permission_classes=staff_only(Permission.MEMBERSHIP_MANAGE),
    )
    async def membership_rules(self) -> MembershipRules:
        return MembershipRules.from_model(await store.rule_set())


@strawberry.type
class MembershipMutations:
    @strawberry.mutation(
        description="Spend points on a reward. The balance never goes negative: two "
        "redemptions of the last points at once, one wins (INSUFFICIENT_POINTS for the other).",
        permission_classes=CUSTOMER_ONLY,
    )
    async def redeem_points(
        self,
        info: Info,
        input: Annotated[
            RedeemPointsInput,
            strawberry.argument(
                description="The reward to redeem and an idempotency key for retries."
            ),
        ],
    ) -> RedeemPointsPayload:
        customer_id = info.context.actor.subject_id
        try:
            await ledger.ensure_rewards()
            row, _ = await ledger.redeem(
                customer_id, node_uuid(input.reward_id, "MembershipReward"), input.idempotency_key
            )
        except MembershipError as error:
            return RedeemPointsPayload(
                redemption=None,
                membership=None,
                errors=payload_errors(error, MembershipPayloadError),
            )
        reward = await m.Reward.get(id=row.reward_id)
        membership = await to_membership(await membership_of(customer_id))
        return RedeemPointsPayload(
            redemption=Redemption.from_model(row, reward), membership=membership, errors=[]
        )

    @strawberry.mutation(
        description="Declare a health task done for its current period (my own "
        "declaration; once per period); it earns the task's points.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def complete_health_task(
        self,
        info: Info,
        input: Annotated[
            CompleteHealthTaskInput,
            strawberry.argument(description="The health task done and the value I declare for it."),
        ],
    ) -> CompleteHealthTaskPayload:
        customer_id = info.context.actor.subject_id
        try:
            row, task = await health.complete_task(
                customer_id, node_uuid(input.task_id, "HealthTask"), input.value
            )
        except MembershipError as error:
            return CompleteHealthTaskPayload(
                completion=None,
                task=None,
                membership=None,
                errors=payload_errors(error, MembershipPayloadError),
            )
        return CompleteHealthTaskPayload(
            completion=HealthTaskCompletion.from_model(row, task),
            task=HealthTask.from_model(task, True),
            membership=await to_membership(await membership_of(customer_id)),
            errors=[],
        )

    @strawberry.mutation(
        description="Replace the membership rules at the version read (checked whole: "
        "tiers in order and monotone; bad input changes nothing). Customers move on "
        "their next event or the nightly recomputation.",
        permission_classes=staff_only(Permission.MEMBERSHIP_MANAGE),
    )
    async def update_membership_rules(
        self,
        info: Info,
        input: Annotated[
            UpdateMembershipRulesInput,
            strawberry.argument(description="The whole membership rules, at the version read."),
        ],
    ) -> UpdateMembershipRulesPayload:
        try:
            row = await store.update_rules(
                info.context.actor, input.expected_version, input.to_rules()
            )
        except MembershipError as error:
            return UpdateMembershipRulesPayload(
                rules=None, errors=payload_errors(error, MembershipPayloadError)
            )
        return UpdateMembershipRulesPayload(rules=MembershipRules.from_model(row), errors=[])
