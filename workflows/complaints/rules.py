"""The rules of a complaint's life, as data: which status may follow which, who may do
what, the error codes and the clocks of the 2020 complaint rules (银行业保险业消费投诉
处理管理办法): an answer within 15 days of receipt, extendable to 30 days with a reason
(the customer told), and to 60 days with a supervisor's approval; a first response by
urgency. The standard closing text tells the customer how to ask for a review and the
outside routes, so no answer can leave it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from models.clock import SHANGHAI
from models.complaints import ComplaintChannel, ComplaintClass, ComplaintStatus, Urgency
from workflows.access import Permission
from workflows.errors import DomainError

S = ComplaintStatus
STAFF_QUEUE = "staff:complaint-queue"
TEXT_LIMIT = 2000
REASON_LIMIT = 500
ANSWER_DAYS = (15, 30, 60)  # by number of extensions
ESCALATE_AT = 0.8  # share of the answer clock after which a supervisor is warned
SILENT_CLOSE = timedelta(days=7)  # an answer the customer neither accepts nor contests
REPEAT_WINDOW = timedelta(days=30)

TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    S.RECEIVED: frozenset({S.ASSIGNED, S.WITHDRAWN}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.WITHDRAWN}),
    S.IN_PROGRESS: frozenset({S.INFO_REQUESTED, S.ANSWERED, S.WITHDRAWN}),
    S.INFO_REQUESTED: frozenset({S.IN_PROGRESS, S.WITHDRAWN}),
    S.ANSWERED: frozenset({S.ACCEPTED, S.REVIEW_REQUESTED, S.CLOSED}),
    S.REVIEW_REQUESTED: frozenset({S.ANSWERED}),  # the second-level answer
    S.ACCEPTED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
# The answer clock runs in these (it stops at the answer, and for a review restarts on
# the supervisor's queue without a new clock).
OPEN = frozenset({S.RECEIVED, S.ASSIGNED, S.IN_PROGRESS, S.INFO_REQUESTED})
CUSTOMER_CHANNELS = frozenset({ComplaintChannel.APP, ComplaintChannel.MINI_PROGRAM})
STAFF_CHANNELS = frozenset(ComplaintChannel) - CUSTOMER_CHANNELS

STATUS_NAMES = {
    S.RECEIVED: "已受理",
    S.ASSIGNED: "已分派",
    S.IN_PROGRESS: "处理中",
    S.INFO_REQUESTED: "待补充信息",
    S.ANSWERED: "已答复",
    S.ACCEPTED: "已接受答复",
    S.REVIEW_REQUESTED: "申请复核",
    S.CLOSED: "已办结",
    S.WITHDRAWN: "已撤回",
}
CLASS_NAMES = {
    ComplaintClass.SERVICE: "服务",
    ComplaintClass.PRODUCT: "产品",
    ComplaintClass.CLAIM: "理赔",
    ComplaintClass.SALES: "销售与咨询",
    ComplaintClass.PAYMENT: "支付",
    ComplaintClass.PRIVACY: "个人信息保护",
}
# Which team works which class (StaffUser.team); a class without a team of its own, or
# whose team has no free handler, goes to any complaint handler.
CLASS_TEAMS = {
    ComplaintClass.CLAIM: "理赔投诉组",
    ComplaintClass.PAYMENT: "支付投诉组",
    ComplaintClass.PRIVACY: "个人信息保护组",
}
# Appended to every answer: how to ask for a review, and the outside routes.
OUTSIDE_ROUTES = (
    "如您对本答复不满意，可在收到答复之日起30日内通过安心保险App、小程序或客服热线"
    "申请复核；您也可以向保险行业纠纷调解组织申请调解，依约定申请仲裁，"
    "或依法向人民法院提起诉讼。"
)
# After the second-level answer: no further review, the outside routes remain.
ROUTES_AFTER_REVIEW = (
    "本答复为复核答复。如您仍不满意，可以向保险行业纠纷调解组织申请调解，"
    "依约定申请仲裁，或依法向人民法院提起诉讼。"
)


@dataclass(frozen=True)
class ClockSettings:
    """When the first response is due, by urgency: hours on the clock for major and
    urgent, working days for general (the settings ``ANXIN_COMPLAINT_FIRST_RESPONSE_*``)."""

    major: timedelta = timedelta(hours=1)
    urgent: timedelta = timedelta(hours=2)
    general_working_days: int = 1


CLOCKS = ClockSettings()


def _weekday(day: date) -> bool:
    return day.weekday() < 5


def first_response_due(
    received: datetime,
    urgency: Urgency,
    clocks: ClockSettings = CLOCKS,
    is_working_day: Callable[[date], bool] = _weekday,
) -> datetime:
    """Major and urgent: hours after receipt. General: the same Beijing time on the n-th
    working day after the day of receipt (``is_working_day``: the work calendar, with
    holidays and 调休; see ``calendar.first_response_deadline``)."""
    if urgency is Urgency.MAJOR:
        return received + clocks.major
    if urgency is Urgency.URGENT:
        return received + clocks.urgent
    local = received.astimezone(SHANGHAI)
    day, left = local.date(), clocks.general_working_days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return datetime.combine(day, local.timetz()).astimezone(received.tzinfo)


def answer_due(received: datetime, extensions: int) -> datetime:
    return received + timedelta(days=ANSWER_DAYS[extensions])


def escalate_at(received: datetime, due: datetime) -> datetime:
    return received + (due - received) * ESCALATE_AT


class ComplaintAction(StrEnum):
    VIEW = "VIEW"
    ASSIGN = "ASSIGN"
    CLASSIFY = "CLASSIFY"
    RESPOND = "RESPOND"
    REQUEST_INFO = "REQUEST_INFO"
    PROVIDE_INFO = "PROVIDE_INFO"
    EXTEND = "EXTEND"
    EXTEND_AGAIN = "EXTEND_AGAIN"
    ANSWER = "ANSWER"
    ANSWER_REVIEW = "ANSWER_REVIEW"
    ACCEPT = "ACCEPT"
    REQUEST_REVIEW = "REQUEST_REVIEW"
    WITHDRAW = "WITHDRAW"
    CLOSE = "CLOSE"
    PROPOSE_REMEDY = "PROPOSE_REMEDY"
    APPROVE_REMEDY = "APPROVE_REMEDY"
    RECORD_ROOT_CAUSE = "RECORD_ROOT_CAUSE"
    ATTACH = "ATTACH"


A = ComplaintAction
# The complaining customer's own actions.
CUSTOMER_MAY = frozenset({A.VIEW, A.PROVIDE_INFO, A.ACCEPT, A.REQUEST_REVIEW, A.WITHDRAW})
STAFF_MAY: dict[ComplaintAction, Permission] = {
    A.VIEW: Permission.COMPLAINT_HANDLE,
    A.ASSIGN: Permission.COMPLAINT_HANDLE,  # reassigning a handled one: SUPERVISE
    A.CLASSIFY: Permission.COMPLAINT_HANDLE,
    A.RESPOND: Permission.COMPLAINT_HANDLE,
    A.REQUEST_INFO: Permission.COMPLAINT_HANDLE,
    A.EXTEND: Permission.COMPLAINT_HANDLE,
    A.EXTEND_AGAIN: Permission.COMPLAINT_SUPERVISE,
    A.ANSWER: Permission.COMPLAINT_HANDLE,
    A.ANSWER_REVIEW: Permission.COMPLAINT_SUPERVISE,
    A.CLOSE: Permission.COMPLAINT_HANDLE,
    A.WITHDRAW: Permission.COMPLAINT_HANDLE,  # recorded for a customer who phoned
    A.PROPOSE_REMEDY: Permission.COMPLAINT_HANDLE,
    A.APPROVE_REMEDY: Permission.COMPLAINT_SUPERVISE,  # never the proposer (remedies)
    A.RECORD_ROOT_CAUSE: Permission.COMPLAINT_HANDLE,
}


class ComplaintErrorCode(StrEnum):
    COMPLAINT_NOT_FOUND = "COMPLAINT_NOT_FOUND"
    NOT_ALLOWED = "NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    TEXT_REQUIRED = "TEXT_REQUIRED"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    SUBJECT_NOT_FOUND = "SUBJECT_NOT_FOUND"
    CHANNEL_NOT_ALLOWED = "CHANNEL_NOT_ALLOWED"
    RECUSED = "RECUSED"
    NO_HANDLER = "NO_HANDLER"
    HANDLER_NOT_FOUND = "HANDLER_NOT_FOUND"
    REASON_REQUIRED = "REASON_REQUIRED"
    NO_MORE_EXTENSIONS = "NO_MORE_EXTENSIONS"
    REVIEWED_ALREADY = "REVIEWED_ALREADY"
    MATERIAL_HELD = "MATERIAL_HELD"  # asked for what the insurer already holds
    DAY_NOT_FOUND = "DAY_NOT_FOUND"  # work calendar: no such day, or a range too long
    # Remedies, root causes and attachments (workflows/complaints/remedies.py, ...).
    INVALID_REMEDY = "INVALID_REMEDY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    REMEDY_NOT_POSSIBLE = "REMEDY_NOT_POSSIBLE"
    NO_KNOWN_ACCOUNT = "NO_KNOWN_ACCOUNT"
    REMEDY_PENDING = "REMEDY_PENDING"
    RESOLUTION_NOT_FOUND = "RESOLUTION_NOT_FOUND"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    SECOND_PERSON_REQUIRED = "SECOND_PERSON_REQUIRED"
    ROOT_CAUSE_REQUIRED = "ROOT_CAUSE_REQUIRED"
    ROOT_CAUSE_NOT_FOUND = "ROOT_CAUSE_NOT_FOUND"
    INVALID_DATE = "INVALID_DATE"
    TOO_MANY_FILES = "TOO_MANY_FILES"
    FILE_REJECTED = "FILE_REJECTED"


class ComplaintError(DomainError):
    codes = ComplaintErrorCode
