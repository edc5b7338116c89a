"""The privacy rules as data: error codes and bounds, what a customer's deletion request
deletes and what the law makes us keep (shown to the customer with the reason), and
what the retention job deletes after how long."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from workflows.errors import DomainError

PURPOSE_MIN = 4  # characters: "回访客户" — a reason, not "x"
PURPOSE_MAX = 200
ALERT_WINDOW = timedelta(hours=1)


class PrivacyErrorCode(StrEnum):
    PURPOSE_REQUIRED = "PURPOSE_REQUIRED"  # no (or a too short) stated purpose for a reveal
    PURPOSE_TOO_LONG = "PURPOSE_TOO_LONG"
    EXPORT_LIMIT = "EXPORT_LIMIT"  # one data download per day
    EXPORT_TOO_LARGE = "EXPORT_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_ENDED = "ALREADY_ENDED"  # a staff session already revoked or expired
    OWN_SESSION = "OWN_SESSION"  # an admin revokes their own session by logging out
    CONFIRMATION_REQUIRED = "CONFIRMATION_REQUIRED"


class PrivacyError(DomainError):
    codes = PrivacyErrorCode


@dataclass(frozen=True)
class KeptRecord:
    """Data a deletion request does not delete, and why (shown to the customer)."""

    kind: str  # stable code
    name: str  # in Chinese
    reason: str  # the law or contract that requires keeping it, in Chinese
    retention: str  # for how long, in Chinese


@dataclass(frozen=True)
class DeletedRecord:
    kind: str
    name: str
    how: str  # deleted or anonymised, in Chinese


# What a deletion request removes at once (个人信息保护法 第四十七条).
DELETED: tuple[DeletedRecord, ...] = (
    DeletedRecord("MARKETING_CONSENT", "营销同意记录", "撤回并删除"),
    DeletedRecord("DEVICES", "推送设备登记", "删除"),
    DeletedRecord("NOTIFICATIONS", "站内通知", "删除"),
    DeletedRecord("CONVERSATIONS", "在线客服会话内容", "消息正文匿名化"),
    DeletedRecord("SURVEY_TEXT", "问卷与评价中的文字意见", "文字清除，保留评分"),
    DeletedRecord("DATA_EXPORTS", "个人数据下载文件", "删除"),
)

# What the law or the contract requires to be kept, for how long and why.
KEPT: tuple[KeptRecord, ...] = (
    KeptRecord(
        "POLICIES",
        "保单、批单及投保资料",
        "保险合同及业务档案依《保险法》及监管规定须妥善保管",
        "保险合同终止后不少于5年",
    ),
    KeptRecord(
        "CLAIMS",
        "理赔案件、材料及赔款记录",
        "理赔档案依《保险法》及监管规定须保存，以备审计与争议处理",
        "结案后不少于5年",
    ),
    KeptRecord(
        "PAYMENTS",
        "保费缴纳、退款与发票记录",
        "会计凭证依《会计档案管理办法》须保存",
        "不少于30年（会计凭证）",
    ),
    KeptRecord(
        "COMPLAINTS",
        "投诉记录",
        "投诉处理档案依金融消费者权益保护规定须保存",
        "办结后不少于3年",
    ),
    KeptRecord(
        "IDENTITY",
        "账户手机号与身份信息",
        "履行保险合同与反洗钱客户身份识别义务所需",
        "业务关系结束后不少于5年",
    ),
)


@dataclass(frozen=True)
class RetentionRule:
    kind: str
    name: str
    after: timedelta


# What the retention job deletes, after how long.
RETENTION: dict[str, RetentionRule] = {
    rule.kind: rule
    for rule in (
        RetentionRule("WITHDRAWN_CLAIM_UPLOADS", "已撤案案件的上传材料", timedelta(days=90)),
        RetentionRule("DATA_EXPORTS", "链接已过期的个人数据下载文件", timedelta(0)),
        RetentionRule("OLD_NOTIFICATIONS", "站内通知", timedelta(days=365)),
        RetentionRule("PII_ACCESS_LOG", "个人信息查阅记录", timedelta(days=3 * 365)),
    )
}
