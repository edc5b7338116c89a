"""The risk rules as data: what each kind measures, the defaults written on first use
(staff edit thresholds, windows, severity, or switch a rule off), error codes and bounds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.risk import RiskRuleKind, RiskSeverity, RiskSignalStatus
from workflows.errors import DomainError

K = RiskRuleKind
S = RiskSignalStatus
NOTE_LIMIT = 1000
MAX_THRESHOLD = 10_000
MAX_WINDOW_DAYS = 3 * 365
EVIDENCE_LIMIT = 20  # links kept per signal (the newest)
DECIDED = frozenset({S.DISMISSED, S.CONFIRMED})
MOVES: dict[RiskSignalStatus, frozenset[RiskSignalStatus]] = {
    S.NEW: frozenset({S.REVIEWING, S.DISMISSED, S.CONFIRMED}),
    S.REVIEWING: frozenset({S.DISMISSED, S.CONFIRMED}),
    S.DISMISSED: frozenset(),
    S.CONFIRMED: frozenset(),
}

# What ``threshold`` means for each kind (shown to staff beside the number).
THRESHOLD_MEANS: dict[RiskRuleKind, str] = {
    K.EARLY_CLAIM: "出险距保单生效不超过的天数",
    K.FREQUENT_CLAIMS: "同一客户窗口期内报案次数达到",
    K.FREQUENT_INSURED_CLAIMS: "同一被保险人窗口期内报案次数达到",
    K.REUSED_PHOTO: "同一照片出现在不同案件的数量达到",
    K.SHARED_PAYOUT_ACCOUNT: "同一收款账户涉及的不同客户数达到",
    K.LOSS_TYPE_SPIKE: "近7天报案数达到此前每周平均的百分比",
    K.RETENTION_RISK: "保费逾期未缴超过的天数",
    K.UNHAPPY_OPEN_CLAIM: "窗口期内不满意且未结案件数达到",
}


@dataclass(frozen=True)
class DefaultRule:
    code: str
    name: str
    kind: RiskRuleKind
    severity: RiskSeverity
    threshold: int
    window_days: int
    minimum: int = 1


DEFAULT_RULES = (
    DefaultRule("EARLY_CLAIM", "生效后短期出险", K.EARLY_CLAIM, RiskSeverity.MEDIUM, 30, 90),
    DefaultRule("FREQUENT_CLAIMS", "客户频繁报案", K.FREQUENT_CLAIMS, RiskSeverity.MEDIUM, 3, 365),
    DefaultRule(
        "FREQUENT_INSURED",
        "同一被保险人频繁出险",
        K.FREQUENT_INSURED_CLAIMS,
        RiskSeverity.MEDIUM,
        3,
        365,
    ),
    DefaultRule("REUSED_PHOTO", "照片重复使用", K.REUSED_PHOTO, RiskSeverity.HIGH, 2, 365),
    DefaultRule(
        "SHARED_ACCOUNT",
        "多名客户使用同一收款账户",
        K.SHARED_PAYOUT_ACCOUNT,
        RiskSeverity.HIGH,
        2,
        365,
    ),
    # 7 days against the 8 weeks before them; at least 5 claims in the 7 days.
    DefaultRule(
        "LOSS_SPIKE", "出险类型激增", K.LOSS_TYPE_SPIKE, RiskSeverity.MEDIUM, 300, 56, minimum=5
    ),
    # Unpaid 15 days past due, or ``minimum`` installments paid late within the window.
    DefaultRule(
        "RETENTION", "续期缴费风险", K.RETENTION_RISK, RiskSeverity.LOW, 15, 365, minimum=2
    ),
    DefaultRule(
        "UNHAPPY_OPEN", "不满意客户仍有未结案件", K.UNHAPPY_OPEN_CLAIM, RiskSeverity.MEDIUM, 1, 30
    ),
)
KIND_NAMES = {rule.kind: rule.name for rule in DEFAULT_RULES}


class RiskErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"  # changed meanwhile: reload and try again
    ALREADY_DECIDED = "ALREADY_DECIDED"
    REASON_REQUIRED = "REASON_REQUIRED"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"


class RiskError(DomainError):
    codes = RiskErrorCode
