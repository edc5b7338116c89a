"""The promises the insurer makes (优质服务承诺), as data written once by code and
edited by staff afterwards, and the words the customer sees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from models.commitments import CaseStatus, CommitmentRule

R = CommitmentRule
STATUS_TEXT = {
    CaseStatus.PENDING: "进行中",
    CaseStatus.KEPT: "已兑现",
    CaseStatus.BROKEN: "未兑现",
    CaseStatus.WAIVED: "不适用",
}
RANGE_DAYS = 400  # the staff figures: at most a year and a bit at once
GOODWILL_REASON = "服务承诺未兑现的补偿"


@dataclass(frozen=True)
class DefaultCommitment:
    code: str
    rule: CommitmentRule
    title: str
    description: str
    working_days: int | None = None
    minutes: int | None = None
    max_amount: Decimal | None = None
    goodwill_points: int = 0
    enabled: bool = True


DEFAULT_COMMITMENTS = (
    DefaultCommitment(
        "SMALL_CLAIM_DECISION",
        R.CLAIM_DECISION,
        "承诺1个工作日内审核",
        "申请金额不超过5,000元、材料齐全的小额理赔，提交后1个工作日内作出审核结论"
        "（法定节假日不计，调休上班日计入）。",
        working_days=1,
        max_amount=Decimal("5000.00"),
        goodwill_points=200,
    ),
    DefaultCommitment(
        "SMALL_CLAIM_PAYMENT",
        R.CLAIM_PAYMENT,
        "承诺审核后1个工作日内赔付",
        "小额理赔审核通过后1个工作日内将赔款支付到账户。",
        working_days=1,
        goodwill_points=200,
    ),
    DefaultCommitment(
        "AGENT_ANSWER",
        R.AGENT_ANSWER,
        "承诺10分钟内人工接待",
        "在线咨询全天24小时由智能助手即时答复；转人工后，在人工服务时间内10分钟内"
        "由客服接待（非服务时间内转人工的，从客服上班时起计）。",
        minutes=10,
        goodwill_points=50,
    ),
    DefaultCommitment(
        "COMPLAINT_FIRST_RESPONSE",
        R.COMPLAINT_FIRST_RESPONSE,
        "承诺按时首次联系",
        "投诉受理后，在投诉处理规则规定的时限内首次联系客户（一般投诉1个工作日，"
        "紧急和重大投诉按小时计）。",
        goodwill_points=100,
    ),
    DefaultCommitment(
        "ROADSIDE_ARRIVAL",
        R.ROADSIDE_ARRIVAL,
        "承诺60分钟内到达救援现场",
        "城区道路救援自受理起60分钟内到达现场。",
        minutes=60,
        goodwill_points=200,
    ),
)
