"""The membership rules as data, and the pure function from a customer's facts to a tier.

The rules are one JSON document (``MembershipRuleSet``) staff change with
MEMBERSHIP_MANAGE; ``DEFAULT_RULES`` is written once when none is stored. A tier is
reached when every threshold it sets is met (a threshold of 0 asks nothing); tiers are
monotone: each threshold of a higher tier is at least the lower tier's, so reaching a
tier means reaching every tier below it. ``evaluate`` answers the highest tier reached
and, for the next one, each criterion still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from models.membership import TIER_ORDER, MemberTier
from workflows.errors import DomainError

TIER_NAMES = {
    MemberTier.STANDARD: "普通会员",
    MemberTier.SILVER: "银卡会员",
    MemberTier.GOLD: "金卡会员",
    MemberTier.PLATINUM: "铂金会员",
}
RANKED = (MemberTier.SILVER, MemberTier.GOLD, MemberTier.PLATINUM)  # above STANDARD
MAX_PRIVILEGES = 12
MAX_ALLOWANCES = 12
MAX_TEXT = 100
MAX_GRACE_DAYS = 366
MAX_THRESHOLD = 10_000_000


class MembershipErrorCode(StrEnum):
    NOT_ALLOWED = "NOT_ALLOWED"  # no permission for this action
    RULES_INVALID = "RULES_INVALID"  # a threshold, a text or the tiers' order
    CONFLICT = "CONFLICT"  # the rules changed since they were read
    REWARD_NOT_FOUND = "REWARD_NOT_FOUND"
    REWARD_NOT_AVAILABLE = "REWARD_NOT_AVAILABLE"  # inactive or above my tier
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    YEARLY_LIMIT_REACHED = "YEARLY_LIMIT_REACHED"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"  # the key was used for another reward
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    ALREADY_DONE = "ALREADY_DONE"  # this task is done for this period
    VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"  # a declared value below the task or implausible


class MembershipError(DomainError):
    codes = MembershipErrorCode


E = MembershipErrorCode


class Criterion(StrEnum):
    """What a tier threshold measures."""

    ACTIVE_POLICIES = "ACTIVE_POLICIES"  # policies in force held
    YEARLY_PREMIUM = "YEARLY_PREMIUM"  # premiums paid in the last 365 days (yuan)
    YEARS_AS_CUSTOMER = "YEARS_AS_CUSTOMER"  # full years since the first policy was issued
    CLAIMS_FREE_YEARS = "CLAIMS_FREE_YEARS"  # full years without a paid claim
    FAMILY_MEMBERS = "FAMILY_MEMBERS"  # other people insured on policies in force I hold


CRITERION_LABELS = {
    Criterion.ACTIVE_POLICIES: "有效保单数",
    Criterion.YEARLY_PREMIUM: "近一年已缴保费（元）",
    Criterion.YEARS_AS_CUSTOMER: "成为客户年数",
    Criterion.CLAIMS_FREE_YEARS: "连续无赔款年数",
    Criterion.FAMILY_MEMBERS: "保障的家庭成员数",
}


@dataclass(frozen=True)
class Facts:
    """What the tiers read about one customer."""

    active_policies: int = 0
    yearly_premium: Decimal = Decimal("0")
    years_as_customer: int = 0
    claims_free_years: int = 0
    family_members: int = 0

    def value(self, criterion: Criterion) -> Decimal:
        return Decimal(getattr(self, criterion.value.lower()))


@dataclass(frozen=True)
class Privilege:
    """A privilege a tier lists (``DEDICATED_AGENT`` and ``FAST_TRACK_CLAIMS`` are read by
    code; others are shown as they are)."""

    code: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Allowance:
    """A yearly benefit allowance a tier lists, e.g. 2 体检 a year (counted by the
    service that delivers it)."""

    code: str
    name: str
    per_year: int


@dataclass(frozen=True)
class TierRule:
    tier: MemberTier
    thresholds: dict[Criterion, Decimal]
    privileges: tuple[Privilege, ...] = ()
    allowances: tuple[Allowance, ...] = ()


@dataclass(frozen=True)
class PointsRules:
    yuan_per_point: int = 10  # 1 point per ¥10 of premium paid
    renewal_bonus: int = 200  # a policy renewed
    survey_points: int = 50  # a survey answered
    valid_years: int = 2  # earned in year Y: expire at the end of year Y + valid_years - 1


@dataclass(frozen=True)
class Rules:
    tiers: tuple[TierRule, ...]  # SILVER, GOLD, PLATINUM in order
    grace_days: int = 90
    points: PointsRules = field(default_factory=PointsRules)
    standard_privileges: tuple[Privilege, ...] = ()

    def tier_rule(self, tier: MemberTier) -> TierRule | None:
        return next((t for t in self.tiers if t.tier is tier), None)

    def privileges(self, tier: MemberTier) -> tuple[Privilege, ...]:
        rule = self.tier_rule(tier)
        return rule.privileges if rule else self.standard_privileges

    def allowances(self, tier: MemberTier) -> tuple[Allowance, ...]:
        rule = self.tier_rule(tier)
        return rule.allowances if rule else ()

    def lists(self, tier: MemberTier, privilege: str) -> bool:
        return any(p.code == privilege for p in self.privileges(tier))

    def points_expire_on(self, earned_on: date) -> date:
        return date(earned_on.year + self.points.valid_years - 1, 12, 31)


DEDICATED_AGENT = "DEDICATED_AGENT"
FAST_TRACK_CLAIMS = "FAST_TRACK_CLAIMS"


@dataclass(frozen=True)
class Missing:
    criterion: Criterion
    required: Decimal
    actual: Decimal


@dataclass(frozen=True)
class Evaluation:
    tier: MemberTier
    next_tier: MemberTier | None
    missing: tuple[Missing, ...]  # for the next tier; empty at the top


def unmet(rule: TierRule, facts: Facts) -> tuple[Missing, ...]:
    return tuple(
        Missing(criterion, required, facts.value(criterion))
        for criterion, required in rule.thresholds.items()
        if facts.value(criterion) < required
    )


def evaluate(rules: Rules, facts: Facts) -> Evaluation:
    """The highest tier whose every threshold is met, and what the next one misses."""
    tier = MemberTier.STANDARD
    for rule in rules.tiers:
        if unmet(rule, facts):
            return Evaluation(tier, rule.tier, unmet(rule, facts))
        tier = rule.tier
    return Evaluation(tier, None, ())


# ---------------------------------------------------------------- the document


def _privileges(items: list[Privilege]) -> list[dict[str, Any]]:
    return [{"code": p.code, "name": p.name, "description": p.description} for p in items]


def to_document(rules: Rules) -> dict[str, Any]:
    return {
        "grace_days": rules.grace_days,
        "points": {
            "yuan_per_point": rules.points.yuan_per_point,
            "renewal_bonus": rules.points.renewal_bonus,
            "survey_points": rules.points.survey_points,
            "valid_years": rules.points.valid_years,
        },
        "standard_privileges": _privileges(list(rules.standard_privileges)),
        "tiers": [
            {
                "tier": t.tier.value,
                "thresholds": {c.value: str(v) for c, v in t.thresholds.items()},
                "privileges": _privileges(list(t.privileges)),
                "allowances": [
                    {"code": a.code, "name": a.name, "per_year": a.per_year} for a in t.allowances
                ],
            }
            for t in rules.tiers
        ],
    }


def from_document(document: dict[str, Any]) -> Rules:
    """The stored document as rules (it was validated when written)."""
    points = document.get("points", {})
    return Rules(
        grace_days=int(document["grace_days"]),
        points=PointsRules(**{k: int(v) for k, v in points.items()}),
        standard_privileges=tuple(Privilege(**p) for p in document.get("standard_privileges", [])),
        tiers=tuple(
            TierRule(
                tier=MemberTier(t["tier"]),
                thresholds={Criterion(c): Decimal(v) for c, v in t["thresholds"].items()},
                privileges=tuple(Privilege(**p) for p in t.get("privileges", [])),
                allowances=tuple(Allowance(**a) for a in t.get("allowances", [])),
            )
            for t in document["tiers"]
        ),
    )


def _text(value: str, what: str, field_name: str, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise MembershipError(E.RULES_INVALID, f"{what}应为1到{limit}个字", field_name)
    return value


def validate(rules: Rules) -> Rules:
    """Checked before it is stored: every tier above STANDARD once and in order, every
    threshold a number in bounds and never lower than the tier below's, texts bounded."""
    if [t.tier for t in rules.tiers] != list(RANKED):
        raise MembershipError(E.RULES_INVALID, "须依次设置银卡、金卡、铂金三个等级", "tiers")
    if not 0 <= rules.grace_days <= MAX_GRACE_DAYS:
        raise MembershipError(
            E.RULES_INVALID, f"降级宽限期应在0到{MAX_GRACE_DAYS}天之间", "graceDays"
        )
    p = rules.points
    if not (1 <= p.yuan_per_point <= 10_000 and 1 <= p.valid_years <= 10):
        raise MembershipError(E.RULES_INVALID, "积分规则超出范围", "points")
    if not (0 <= p.renewal_bonus <= 100_000 and 0 <= p.survey_points <= 10_000):
        raise MembershipError(E.RULES_INVALID, "积分规则超出范围", "points")
    previous: dict[Criterion, Decimal] = {}
    privileges = [rules.standard_privileges, *(t.privileges for t in rules.tiers)]
    for rule in rules.tiers:
        if set(rule.thresholds) != set(Criterion):
            raise MembershipError(E.RULES_INVALID, "每个等级须设置全部五项门槛", "tiers")
        for criterion, value in rule.thresholds.items():
            if not 0 <= value <= MAX_THRESHOLD or value != value.quantize(Decimal("0.01")):
                raise MembershipError(E.RULES_INVALID, "门槛应为非负数（最多两位小数）", "tiers")
            if value < previous.get(criterion, Decimal(0)):
                name = TIER_NAMES[rule.tier]
                raise MembershipError(
                    E.RULES_INVALID,
                    f"{name}的“{CRITERION_LABELS[criterion]}”不能低于下一级",
                    "tiers",
                )
        if all(v == previous.get(c, Decimal(0)) for c, v in rule.thresholds.items()):
            raise MembershipError(
                E.RULES_INVALID, f"{TIER_NAMES[rule.tier]}的门槛须高于下一级", "tiers"
            )
        previous = dict(rule.thresholds)
        if len(rule.allowances) > MAX_ALLOWANCES:
            raise MembershipError(E.RULES_INVALID, f"每级最多{MAX_ALLOWANCES}项权益额度", "tiers")
        for allowance in rule.allowances:
            _text(allowance.code, "权益代码", "tiers", 32)
            _text(allowance.name, "权益名称", "tiers")
            if not 1 <= allowance.per_year <= 365:
                raise MembershipError(E.RULES_INVALID, "每年次数应在1到365之间", "tiers")
    for items in privileges:
        if len(items) > MAX_PRIVILEGES:
            raise MembershipError(E.RULES_INVALID, f"每级最多{MAX_PRIVILEGES}项特权", "tiers")
        for privilege in items:
            _text(privilege.code, "特权代码", "tiers", 32)
            _text(privilege.name, "特权名称", "tiers")
            if len(privilege.description) > 200:
                raise MembershipError(E.RULES_INVALID, "特权说明不能超过200字", "tiers")
    return rules


def _t(**values: int | str) -> dict[Criterion, Decimal]:
    return {Criterion(k.upper()): Decimal(str(v)) for k, v in values.items()}


AGENT = Privilege(DEDICATED_AGENT, "专属客户经理", "一位固定的客户经理为您服务")
FAST = Privilege(FAST_TRACK_CLAIMS, "理赔快速通道", "小额理赔优先审核")
DEFAULT_RULES = Rules(
    grace_days=90,
    standard_privileges=(Privilege("ONLINE_SERVICE", "7×24小时在线客服"),),
    tiers=(
        TierRule(
            MemberTier.SILVER,
            _t(
                active_policies=1,
                yearly_premium="1000",
                years_as_customer=0,
                claims_free_years=0,
                family_members=0,
            ),
            (Privilege("ONLINE_SERVICE", "7×24小时在线客服"), Privilege("BIRTHDAY", "生日礼遇")),
            (Allowance("CAR_WASH", "洗车", 2),),
        ),
        TierRule(
            MemberTier.GOLD,
            _t(
                active_policies=3,
                yearly_premium="5000",
                years_as_customer=1,
                claims_free_years=0,
                family_members=1,
            ),
            (Privilege("ONLINE_SERVICE", "7×24小时在线客服"), FAST, AGENT),
            (Allowance("CHECK_UP", "年度体检", 1), Allowance("CAR_WASH", "洗车", 6)),
        ),
        TierRule(
            MemberTier.PLATINUM,
            _t(
                active_policies=5,
                yearly_premium="20000",
                years_as_customer=3,
                claims_free_years=2,
                family_members=2,
            ),
            (
                Privilege("ONLINE_SERVICE", "7×24小时在线客服"),
                FAST,
                AGENT,
                Privilege("GREEN_CHANNEL", "就医绿色通道"),
            ),
            (
                Allowance("CHECK_UP", "年度体检", 2),
                Allowance("CAR_WASH", "洗车", 12),
                Allowance("ROADSIDE", "道路救援", 4),
            ),
        ),
    ),
)


def decimal_of(value: str, field_name: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise MembershipError(E.RULES_INVALID, "门槛应为数字", field_name) from None


def rank(tier: MemberTier) -> int:
    return TIER_ORDER[tier]
