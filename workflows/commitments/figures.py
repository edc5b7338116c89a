"""The staff figures: per promise, kept / broken / pending / waived per period (by the
Beijing date of each case's deadline), per handler (the staff member who handled the
case, the claim's adjuster or the agent, with their role) and per the handler's team
(the team they are in now: ``StaffUser.team`` is written with the membership)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from models.clock import SHANGHAI, local_midnight
from models.commitments import CaseStatus, CommitmentCase, ServiceCommitment
from models.staff import StaffUser
from workflows.commitments.cases import ensure_defaults
from workflows.commitments.rules import RANGE_DAYS


class Period(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"  # Monday to Sunday
    MONTH = "MONTH"


class FiguresError(ValueError):
    """A request the figures cannot answer (the schema shows the message)."""


def period_start(day: date, period: Period) -> date:
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


@dataclass
class Tally:
    counts: Counter[CaseStatus] = field(default_factory=Counter)

    @property
    def kept_rate(self) -> float | None:
        """Kept among the settled (kept or broken); None while none is."""
        settled = self.counts[CaseStatus.KEPT] + self.counts[CaseStatus.BROKEN]
        return round(self.counts[CaseStatus.KEPT] / settled, 4) if settled else None


@dataclass
class CommitmentFigures:
    commitment: ServiceCommitment
    total: Tally = field(default_factory=Tally)
    periods: dict[date, Tally] = field(default_factory=dict)
    handlers: dict[uuid.UUID | None, Tally] = field(default_factory=dict)
    staff: dict[uuid.UUID, StaffUser] = field(default_factory=dict)
    teams: dict[str | None, Tally] = field(default_factory=dict)


async def figures(first: date, last: date, period: Period) -> list[CommitmentFigures]:
    """Every promise (enabled or not, if it has cases) over the deadlines from ``first``
    to ``last`` (at most about a year)."""
    if last < first or (last - first).days > RANGE_DAYS:
        raise FiguresError("日期范围应在一年左右之内")
    await ensure_defaults()
    rows = await CommitmentCase.filter(
        deadline__gte=local_midnight(first), deadline__lt=local_midnight(last + timedelta(days=1))
    ).values_list("commitment_id", "status", "deadline", "handler_id")
    out = {
        c.id: CommitmentFigures(c)
        for c in await ServiceCommitment.all().order_by("position", "code")
    }
    for commitment_id, status, deadline, handler_id in rows:
        figures = out[commitment_id]
        status = CaseStatus(status)
        start = period_start(deadline.astimezone(SHANGHAI).date(), period)
        figures.total.counts[status] += 1
        figures.periods.setdefault(start, Tally()).counts[status] += 1
        figures.handlers.setdefault(handler_id, Tally()).counts[status] += 1
    handler_ids = {h for f in out.values() for h in f.handlers if h is not None}
    staff = {s.id: s for s in await StaffUser.filter(id__in=handler_ids)}
    for f in out.values():
        f.staff = {h: staff[h] for h in f.handlers if h in staff}
        for handler, tally in f.handlers.items():
            team = staff[handler].team if handler in staff else None
            f.teams.setdefault(team or None, Tally()).counts.update(tally.counts)
    return [f for f in out.values() if f.commitment.enabled or f.total.counts]
