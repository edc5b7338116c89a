"""The service team's rules as data: error codes, bounds, the quality checklist, the
clocks performance is measured against, and how early a certificate warning goes out."""

from __future__ import annotations

from enum import StrEnum

from models.team import CertificateKind, ReviewSubject, SkillKind
from workflows.errors import DomainError

NAME_LIMIT = 64
DESCRIPTION_LIMIT = 300
SKILLS_LIMIT = 40  # skills per team
SKILL_VALUE_LIMIT = 32
REASON_LIMIT = 200
NOTE_LIMIT = 1000
MAX_LEAVE_DAYS = 366
MAX_PERIOD_DAYS = 366  # performance is asked for at most a year at a time
WARN_DAYS = 30  # a certificate's holder and supervisor are warned this long before expiry
BULK_LIMIT = 500  # open items moved by one reassignInBulk
SAMPLE_SIZE = 10  # cases offered by one qualityReviewQueue page

# What a supervisor checks on a closed case, and the points each item is worth.
CHECKLIST: dict[ReviewSubject, dict[str, int]] = {
    ReviewSubject.CLAIM: {
        "documents_checked": 30,  # 材料审核完整
        "decision_explained": 30,  # 结论说明清楚
        "within_clock": 20,  # 时限内办结
        "courtesy": 20,  # 沟通礼貌
    },
    ReviewSubject.COMPLAINT: {
        "facts_verified": 30,  # 核实事实
        "answer_complete": 30,  # 答复完整并告知救济途径
        "within_clock": 20,
        "courtesy": 20,
    },
    ReviewSubject.VISIT: {
        "identity_checked": 30,  # 核实身份
        "script_followed": 30,  # 按话术回访
        "outcome_recorded": 20,  # 如实记录结果
        "courtesy": 20,
    },
}

CERTIFICATE_NAMES = {
    CertificateKind.CLAIMS_ADJUSTER: "理赔员资格",
    CertificateKind.UNDERWRITER: "核保资格",
    CertificateKind.COMPLAINT_HANDLER: "投诉处理资格",
    CertificateKind.SERVICE_BASICS: "客户服务基础",
}
SKILL_NAMES = {
    SkillKind.LOSS_TYPE: "出险类型",
    SkillKind.COMPLAINT_CLASS: "投诉类别",
    SkillKind.LANGUAGE: "语言/方言",
    SkillKind.CHANNEL: "渠道",
}


class TeamErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"  # not your team (a supervisor manages only their own)
    CONFLICT = "CONFLICT"  # changed meanwhile: reload and try again
    NAME_TAKEN = "NAME_TAKEN"
    TOO_LONG = "TOO_LONG"
    TOO_MANY = "TOO_MANY"
    INVALID = "INVALID"  # a value outside what the field allows
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NO_ONE_ELIGIBLE = "NO_ONE_ELIGIBLE"  # nobody with the skill, on duty and certified
    NOT_ABSENT = "NOT_ABSENT"  # bulk reassignment is for someone on leave or disabled
    OVERLAPS = "OVERLAPS"  # a leave overlapping one already recorded
    ALREADY_REVIEWED = "ALREADY_REVIEWED"
    NOT_REVIEWABLE = "NOT_REVIEWABLE"  # not closed, or not handled by anyone


class TeamError(DomainError):
    codes = TeamErrorCode


def bounded(value: str, field: str, limit: int, *, required: bool = True) -> str:
    """A trimmed text within ``limit`` characters (and not empty when required)."""
    text = value.strip()
    if required and not text:
        raise TeamError(TeamErrorCode.INVALID, "请填写内容", field)
    if len(text) > limit:
        raise TeamError(TeamErrorCode.TOO_LONG, f"不能超过{limit}个字", field)
    return text
