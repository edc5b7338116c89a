"""The rules of a crisis incident's life, as data: the stages of the plan (identify →
assess → respond → communicate → summarise → closed), who may do what, the error
codes, the bounds of every text, and the rules that open an incident by themselves
(written to the database on first use, then edited by staff)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.crisis import CrisisRuleKind, CrisisSeverity, CrisisStatus
from workflows.access import Permission
from workflows.errors import DomainError

S = CrisisStatus
MANAGERS = "staff:crisis-managers"  # the bus channel every incident change goes to
TITLE_LIMIT = 128
TEXT_LIMIT = 4000
NOTE_LIMIT = 1000
ACTION_TITLE_LIMIT = 200
PARTY_LIMIT = 64
KEYWORD_LIMIT = 50  # words per keyword rule
KEYWORD_LENGTH = 20
MAX_THRESHOLD = 1000
MAX_WINDOW_HOURS = 24 * 30

# Which stage may follow which; reassessing, adding to the team or the checklist and
# drafting statements are allowed in later stages too, without a change of stage.
TRANSITIONS: dict[CrisisStatus, frozenset[CrisisStatus]] = {
    S.IDENTIFIED: frozenset({S.ASSESSED}),
    S.ASSESSED: frozenset({S.RESPONDING}),
    S.RESPONDING: frozenset({S.COMMUNICATING, S.REVIEWING}),
    S.COMMUNICATING: frozenset({S.REVIEWING}),
    S.REVIEWING: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
OPEN = frozenset(set(S) - {S.CLOSED})
RESPONSE_STAGES = frozenset({S.ASSESSED, S.RESPONDING, S.COMMUNICATING})
STATEMENT_STAGES = frozenset({S.RESPONDING, S.COMMUNICATING})

STATUS_NAMES = {
    S.IDENTIFIED: "已识别",
    S.ASSESSED: "已评估",
    S.RESPONDING: "应对中",
    S.COMMUNICATING: "沟通中",
    S.REVIEWING: "复盘中",
    S.CLOSED: "已结束",
}


class CrisisActionKind(StrEnum):
    """What one may do to an incident (each names the permission it needs)."""

    VIEW = "VIEW"
    OPEN = "OPEN"
    ASSESS = "ASSESS"
    ADD_TEAM_MEMBER = "ADD_TEAM_MEMBER"
    ADD_ACTION = "ADD_ACTION"
    COMPLETE_ACTION = "COMPLETE_ACTION"  # also the action's owner
    DRAFT_STATEMENT = "DRAFT_STATEMENT"
    APPROVE_STATEMENT = "APPROVE_STATEMENT"  # never the one who drafted it
    RELEASE_STATEMENT = "RELEASE_STATEMENT"
    REVIEW = "REVIEW"
    CLOSE = "CLOSE"
    EDIT_RULE = "EDIT_RULE"


K = CrisisActionKind
STAFF_MAY: dict[CrisisActionKind, Permission] = {
    K.OPEN: Permission.CRISIS_MANAGE,
    K.ASSESS: Permission.CRISIS_MANAGE,
    K.ADD_TEAM_MEMBER: Permission.CRISIS_MANAGE,
    K.ADD_ACTION: Permission.CRISIS_MANAGE,
    K.COMPLETE_ACTION: Permission.CRISIS_MANAGE,
    K.DRAFT_STATEMENT: Permission.CRISIS_MANAGE,
    K.APPROVE_STATEMENT: Permission.CRISIS_MANAGE,
    K.RELEASE_STATEMENT: Permission.CRISIS_MANAGE,
    K.REVIEW: Permission.CRISIS_MANAGE,
    K.CLOSE: Permission.CRISIS_MANAGE,
    K.EDIT_RULE: Permission.CRISIS_MANAGE,
}
# Reading incidents: crisis managers and complaint supervisors (and the team's members).
READERS = (Permission.CRISIS_MANAGE, Permission.COMPLAINT_SUPERVISE)


class CrisisErrorCode(StrEnum):
    INCIDENT_NOT_FOUND = "INCIDENT_NOT_FOUND"
    COMPLAINT_NOT_FOUND = "COMPLAINT_NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    TEXT_REQUIRED = "TEXT_REQUIRED"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    STAFF_NOT_FOUND = "STAFF_NOT_FOUND"
    ALREADY_ON_TEAM = "ALREADY_ON_TEAM"
    OWNER_NOT_ON_TEAM = "OWNER_NOT_ON_TEAM"
    ACTION_NOT_FOUND = "ACTION_NOT_FOUND"
    ACTION_DONE_ALREADY = "ACTION_DONE_ALREADY"
    DUE_IN_PAST = "DUE_IN_PAST"
    STATEMENT_NOT_FOUND = "STATEMENT_NOT_FOUND"
    STATEMENT_NOT_DRAFT = "STATEMENT_NOT_DRAFT"
    STATEMENT_NOT_APPROVED = "STATEMENT_NOT_APPROVED"
    SECOND_PERSON_REQUIRED = "SECOND_PERSON_REQUIRED"
    REVIEW_REQUIRED = "REVIEW_REQUIRED"
    ACTIONS_OPEN = "ACTIONS_OPEN"
    RULE_NOT_FOUND = "RULE_NOT_FOUND"
    RULE_INVALID = "RULE_INVALID"


class CrisisError(DomainError):
    codes = CrisisErrorCode


@dataclass(frozen=True)
class DefaultRule:
    code: str
    name: str
    kind: CrisisRuleKind
    severity: CrisisSeverity
    threshold: int = 1
    window_hours: int = 24
    keywords: tuple[str, ...] = ()


# Media and regulator words: a complaint naming them opens (or joins) an incident.
MEDIA_REGULATOR_WORDS = (
    "媒体",
    "记者",
    "曝光",
    "微博",
    "报道",
    "抖音",
    "银保监",
    "银保监会",
    "金融监管",
    "监管局",
    "12378",
)
DEFAULT_RULES = (
    DefaultRule("MAJOR", "重大投诉", CrisisRuleKind.MAJOR_COMPLAINT, CrisisSeverity.HIGH),
    DefaultRule(
        "CLASS_SPIKE", "同类投诉激增", CrisisRuleKind.CLASS_SPIKE, CrisisSeverity.MEDIUM, 5, 24
    ),
    DefaultRule(
        "PRODUCT_SPIKE",
        "同一产品投诉激增",
        CrisisRuleKind.PRODUCT_SPIKE,
        CrisisSeverity.HIGH,
        5,
        24,
    ),
    DefaultRule(
        "MEDIA_REGULATOR",
        "媒体或监管介入",
        CrisisRuleKind.KEYWORDS,
        CrisisSeverity.CRITICAL,
        keywords=MEDIA_REGULATOR_WORDS,
    ),
)
