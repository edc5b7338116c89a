"""Why a payout failed, in two registers: the provider's own words for staff (a code
such as WeChat's ``NAME_NOT_CORRECT`` or ``PARAM_ERROR: ...``, kept on the payout), and
a short Chinese sentence for the payee that says what to do next. The payee never sees
the provider's text: it is internal, often English, and may name our own mistakes.

The codes are WeChat Pay's merchant-transfer failure reasons (商家转账 订单失败原因),
Alipay's transfer ``sub_code`` values and the refusals our own adapters raise; anything
else reads as the general sentence (the bank platform answers in free text).
"""

from __future__ import annotations

from enum import StrEnum


class PayoutFailure(StrEnum):
    NAME_MISMATCH = "NAME_MISMATCH"
    PAYEE_NOT_VERIFIED = "PAYEE_NOT_VERIFIED"
    ACCOUNT_UNAVAILABLE = "ACCOUNT_UNAVAILABLE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    NOT_CONFIRMED = "NOT_CONFIRMED"
    CANCELLED = "CANCELLED"  # a proposal to pay another account, turned down by staff
    OTHER = "OTHER"


TEXTS = {
    PayoutFailure.NAME_MISMATCH: "收款人姓名校验未通过，请核对收款账户的实名信息，客服将与您联系",
    PayoutFailure.PAYEE_NOT_VERIFIED: "收款账户未实名认证或暂不能收款，请完成实名认证后联系客服",
    PayoutFailure.ACCOUNT_UNAVAILABLE: "收款账户暂时无法收款，请更换收款账户",
    PayoutFailure.LIMIT_EXCEEDED: "超出收款账户的收款限额，请更换收款账户或联系客服",
    PayoutFailure.NOT_CONFIRMED: "您未在规定时间内确认收款，客服将重新为您发起转账",
    PayoutFailure.CANCELLED: "转账申请未获批准",
    PayoutFailure.OTHER: "转账未成功，客服将尽快与您联系",
}

CODES: dict[str, PayoutFailure] = {
    # WeChat Pay merchant transfer (fail_reason)
    "NAME_NOT_CORRECT": PayoutFailure.NAME_MISMATCH,
    "ID_CARD_NOT_CORRECT": PayoutFailure.NAME_MISMATCH,
    "REAL_NAME_CHECK_FAIL": PayoutFailure.PAYEE_NOT_VERIFIED,
    "PAYEE_ACCOUNT_ABNORMAL": PayoutFailure.PAYEE_NOT_VERIFIED,
    "ACCOUNT_FROZEN": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "ACCOUNT_NOT_EXIST": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "OPENID_INVALID": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "BANK_CARD_ACCOUNT_ABNORMAL": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "BANK_CARD_CARD_INFO_WRONG": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "BANK_CARD_STATUS_ABNORMAL": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "DAY_RECEIVED_COUNT_EXCEED": PayoutFailure.LIMIT_EXCEEDED,
    "DAY_RECEIVED_QUOTA_EXCEED": PayoutFailure.LIMIT_EXCEEDED,
    "TRANSFER_QUOTA_EXCEED": PayoutFailure.LIMIT_EXCEEDED,
    "REALNAME_ACCOUNT_RECEIVED_QUOTA_EXCEED": PayoutFailure.LIMIT_EXCEEDED,
    "BLOCK_B2C_USERLIMITAMOUNT_BSRULE_MONTH": PayoutFailure.LIMIT_EXCEEDED,
    "BLOCK_B2C_USERLIMITAMOUNT_MONTH": PayoutFailure.LIMIT_EXCEEDED,
    "BANK_CARD_COLLECTIONS_ABOVE_QUOTA": PayoutFailure.LIMIT_EXCEEDED,
    "OVERDUE_CLOSE": PayoutFailure.NOT_CONFIRMED,
    "TRANSFER_CANCELLED": PayoutFailure.NOT_CONFIRMED,
    # Alipay transfer (sub_code)
    "PAYEE_USER_INFO_ERROR": PayoutFailure.NAME_MISMATCH,
    "PAYEE_NOT_EXIST": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "PAYEE_ACC_OCUPIED": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "PAYEE_ACCOUNT_STATUS_ERROR": PayoutFailure.ACCOUNT_UNAVAILABLE,
    "PERMIT_NON_BANK_LIMIT_PAYEE": PayoutFailure.PAYEE_NOT_VERIFIED,
    "PAYEE_NOT_RELNAME_CERTIFY": PayoutFailure.PAYEE_NOT_VERIFIED,
    "EXCEED_LIMIT_PERSONAL_SM_AMOUNT": PayoutFailure.LIMIT_EXCEEDED,
    "EXCEED_LIMIT_SM_AMOUNT": PayoutFailure.LIMIT_EXCEEDED,
}


def failure_of(detail: str | None) -> PayoutFailure:
    """The kind of failure a provider's detail names (its leading code, as adapters
    write ``CODE`` or ``CODE: message``)."""
    code = (detail or "").split(":", 1)[0].strip().upper()
    return CODES.get(code, PayoutFailure.OTHER)


def payee_text(cancelled: bool, detail: str | None) -> str:
    """What the payee reads about a payout that failed or was turned down."""
    return TEXTS[PayoutFailure.CANCELLED if cancelled else failure_of(detail)]
