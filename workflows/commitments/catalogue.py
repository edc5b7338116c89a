"""Staff edit the promises (SURVEY_MANAGE: who manages service quality; SURVEY_READ only
reads the figures): the measurable terms (working days or minutes, as the promise's rule
counts), the goodwill points, on/off, and the words the customer reads — at the version
they saw, under the row lock. A case keeps the terms it was opened with (``cases``), so
an edit applies to new cases only; switching a promise off opens no new case and lets
the open ones run to their end."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from models.commitments import CommitmentRule, ServiceCommitment
from workflows.access import Actor
from workflows.commitments.errors import CommitmentError
from workflows.commitments.errors import CommitmentErrorCode as E

log = logging.getLogger("anxin.commitments")
R = CommitmentRule
# Which number each rule counts its deadline in (None: the deadline is another
# domain's, e.g. the complaint rules' due time).
MEASURE: dict[CommitmentRule, str | None] = {
    R.CLAIM_DECISION: "working_days",
    R.CLAIM_PAYMENT: "working_days",
    R.AGENT_ANSWER: "minutes",
    R.ROADSIDE_ARRIVAL: "minutes",
    R.COMPLAINT_FIRST_RESPONSE: None,
}
LIMITS = {"working_days": (1, 30), "minutes": (1, 24 * 60), "goodwill_points": (0, 10_000)}
FIELD = {"working_days": "workingDays", "minutes": "minutes", "goodwill_points": "goodwillPoints"}
MAX_TITLE, MAX_DESCRIPTION = 64, 1000


@dataclass(frozen=True)
class CommitmentChange:
    """What to change; None leaves a value as it is."""

    working_days: int | None = None
    minutes: int | None = None
    goodwill_points: int | None = None
    enabled: bool | None = None
    title: str | None = None
    description: str | None = None


def _values(row: ServiceCommitment, change: CommitmentChange) -> dict[str, Any]:
    measure = MEASURE.get(row.rule)
    values: dict[str, Any] = {}
    for name in ("working_days", "minutes", "goodwill_points"):
        value = getattr(change, name)
        if value is None:
            continue
        if name != "goodwill_points" and name != measure:
            counted = "工作日" if measure == "working_days" else "分钟"
            text = f"该承诺按{counted}计" if measure else "该承诺的时限由投诉处理规则决定"
            raise CommitmentError(E.NOT_MEASURED_SO, text, FIELD[name])
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise CommitmentError(E.OUT_OF_RANGE, f"取值应在{low}到{high}之间", FIELD[name])
        values[name] = value
    if change.enabled is not None:
        values["enabled"] = change.enabled
    for name, limit in (("title", MAX_TITLE), ("description", MAX_DESCRIPTION)):
        text = getattr(change, name)
        if text is None:
            continue
        text = text.strip()
        if not text or len(text) > limit:
            raise CommitmentError(E.TOO_LONG, f"请填写不超过{limit}个字符", name)
        values[name] = text
    return values


def _title_check(row: ServiceCommitment, values: dict[str, Any]) -> None:
    """The title states the number (承诺60分钟内到达): a new number needs a new title."""
    measure = MEASURE.get(row.rule)
    if measure is None or measure not in values or "title" in values:
        return
    old, new = getattr(row, measure), values[measure]
    if old is not None and old != new and str(old) in row.title:
        raise CommitmentError(
            E.TITLE_STATES_OLD_TERMS, f"标题“{row.title}”仍写着原来的时限，请一并修改", "title"
        )


async def edit_commitment(
    actor: Actor, commitment_id: uuid.UUID, expected_version: int, change: CommitmentChange
) -> ServiceCommitment:
    """Change a promise at the version the caller saw; new cases use the new terms."""
    async with in_transaction():
        row = await ServiceCommitment.select_for_update().get_or_none(id=commitment_id)
        if row is None:
            raise CommitmentError(E.NOT_FOUND, "未找到该服务承诺", "commitmentId")
        if row.version != expected_version:
            raise CommitmentError(
                E.CONFLICT, "该服务承诺已被他人修改，请刷新后重试", "expectedVersion"
            )
        values = _values(row, change)
        _title_check(row, values)
        await ServiceCommitment.filter(id=row.id).update(
            **values, version=row.version + 1, updated_by_id=actor.subject_id
        )
    log.info("commitment %s edited by staff %s: %s", row.code, actor.subject_id, values)
    return await ServiceCommitment.get(id=commitment_id)
