"""The 批单 of an endorsement that took effect: its before and after values (as stored,
personal numbers masked) turned into the certificate's lines, item by item."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models.clock import local_today
from models.endorsements import Endorsement, EndorsementType
from models.policies import PaymentFrequency
from workflows.policy_service.endorsement_rules import TYPE_NAMES
from workflows.policy_service.names import FREQUENCIES, RELATIONS


@dataclass(frozen=True)
class EndorsementCertificate:
    """A 批单 as the endorsement workflow hands it over: plain values, no model."""

    number: str  # the endorsement's number, e.g. PD20261202000001
    policy_number: str
    change_type: str  # in Chinese, e.g. 受益人变更
    effective_date: date
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # item, before, after
    note: str = ""


T = EndorsementType
POLICY_STATUS_NAMES = {"ACTIVE": "有效", "LAPSED": "中止", "CANCELLED": "终止（已退保）"}
CONTACT_ITEMS = {"phone": "手机号码", "email": "电子邮箱", "address": "通讯地址"}


def _person(row: dict[str, Any]) -> str:
    relation = RELATIONS.get(row["relation"], row["relation"])
    return f"{row['name']}（{row['idNumber']}，{relation}，{row['share']}%）"


def _people(rows: list[dict[str, Any]]) -> str:
    return "；".join(_person(r) for r in rows) or "法定受益人"


def _frequency(value: str) -> str:
    return FREQUENCIES.get(PaymentFrequency(value), value)


def _status(value: str) -> str:
    return POLICY_STATUS_NAMES.get(value, value)


def _lines(endorsement: Endorsement) -> list[tuple[str, str, str]]:
    before, after = endorsement.before, endorsement.after
    match endorsement.type:
        case T.BENEFICIARIES:
            return [("受益人", _people(before["beneficiaries"]), _people(after["beneficiaries"]))]
        case T.CONTACT:
            return [
                (item, before.get(key) or "—", after[key])
                for key, item in CONTACT_ITEMS.items()
                if key in after
            ]
        case T.PAYMENT_FREQUENCY:
            return [("缴费方式", _frequency(before["frequency"]), _frequency(after["frequency"]))]
        case T.REINSTATEMENT:
            return [
                ("保单状态", _status(before["status"]), "有效"),
                ("补缴保费及利息", "—", f"{after['premiums']}元 + {after['interest']}元"),
            ]
        case T.INSURED_MEMBER:
            return [
                ("被保险人人数", str(before["insured"]), str(before["insured"] + 1)),
                ("新增被保险人", "—", f"{after['name']}（{after['idNumber']}）"),
                ("补缴保费", "—", f"{after['premium']}元"),
            ]
        case T.SURRENDER:
            return [
                (
                    "保单状态",
                    POLICY_STATUS_NAMES.get(before["status"], before["status"]),
                    "终止（已退保）",
                ),
                ("退保金", "—", f"{after['amount']}元，支付至{after['account']}"),
            ]
        case T.SUM_INSURED:
            difference = after["difference"]
            money = (
                ("退还保费", "—", f"{difference.lstrip('-')}元")
                if difference.startswith("-")
                else ("补缴保费", "—", f"{difference}元")
            )
            was = {c["code"]: c["sumInsured"] for c in before.get("coverages", [])}
            return [
                ("保险金额", f"{before['sumInsured']}元", f"{after['sumInsured']}元"),
                *(
                    (c["name"], f"{was.get(c['code'], '—')}元", f"{c['sumInsured']}元")
                    for c in after.get("coverages", [])
                ),
                money,
            ]
        case T.MEMBER_REMOVAL:
            return [
                ("被保险人人数", str(before["insured"]), str(after["insured"])),
                ("减少被保险人", f"{after['name']}（{after['idNumber']}）", "—"),
                ("退还保费", "—", f"{after['refund']}元"),
            ]
    return []


def certificate(endorsement: Endorsement, policy_number: str) -> EndorsementCertificate:
    effective = endorsement.effective_date or local_today()
    return EndorsementCertificate(
        number=endorsement.number,
        policy_number=policy_number,
        change_type=TYPE_NAMES[endorsement.type],
        effective_date=effective,
        lines=_lines(endorsement),
    )
