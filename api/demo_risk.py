"""Demo risk signals: the rules run over the rest of the demo data as the nightly run
would (its claims open signals of early claims, frequent claims and unhappy customers with
open claims); the supervisor takes one into review and dismisses another with the reason,
so GraphiQL shows signals in three states."""

from __future__ import annotations

from models.auth import SubjectKind
from models.risk import RiskRuleKind, RiskSignal, RiskSignalStatus
from models.staff import StaffRole, StaffUser
from workflows.access import Actor
from workflows.risk import evaluate, signals
from workflows.risk.detectors import Scope


async def seed_risk() -> int:
    """Run every rule over the demo; the number of signals opened."""
    opened = await evaluate.run_rules(Scope())
    supervisor = await StaffUser.filter(role=StaffRole.SUPERVISOR).order_by("username").first()
    if supervisor is None:
        return opened
    actor = Actor(SubjectKind.STAFF, supervisor.id, role=supervisor.role)
    review = await RiskSignal.filter(kind=RiskRuleKind.EARLY_CLAIM).first()
    if review is not None:
        await signals.move(actor, review.id, review.version, RiskSignalStatus.REVIEWING)
    dismiss = await RiskSignal.filter(kind=RiskRuleKind.FREQUENT_INSURED_CLAIMS).first()
    if dismiss is not None:
        await signals.move(
            actor,
            dismiss.id,
            dismiss.version,
            RiskSignalStatus.DISMISSED,
            "同一被保险人的三起案件均为独立事故，材料已核实",
        )
    return opened
