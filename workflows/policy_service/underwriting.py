"""Underwriting rules, as data of the product's rating form: a health question answered
yes declines or refers (as the question says); a plan insuring more than the form's
threshold is referred; otherwise the application is accepted. Referred applications
wait in the underwriters' queue (UNDERWRITE permission) for one decision with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from models.policy_applications import RatingForm, RatingPlan
from workflows.policy_service.rating import plan_sum_insured

Decision = Literal["ACCEPT", "DECLINE", "REFER"]


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    reason: str = ""  # the customer is told it when declined
    reasons: list[str] = field(default_factory=list)  # every rule that fired


def underwrite(form: RatingForm, plan: RatingPlan, health: dict[str, bool]) -> Outcome:
    declines: list[str] = []
    referrals: list[str] = []
    for question in form.health_questions:
        if not health.get(question["code"]):
            continue
        reason = question.get("reason") or f"健康告知“{question['text']}”回答为是"
        (declines if question.get("if_yes") == "DECLINE" else referrals).append(reason)
    limit = form.refer_above_sum_insured
    if limit is not None and plan_sum_insured(plan) > limit:
        referrals.append(f"保额超过{limit:.0f}元，需人工核保")
    if declines:
        return Outcome("DECLINE", declines[0], declines + referrals)
    if referrals:
        return Outcome("REFER", "", referrals)
    return Outcome("ACCEPT", "符合自动核保规则", [])
