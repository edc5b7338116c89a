"""Service commitments (优质服务承诺): the promises as data, and one case per promise
and thing it covers (a claim, a complaint, a conversation), kept or broken.

A promise (``ServiceCommitment``) names the rule that measures it (``CommitmentRule``)
and the rule's numbers (working days, minutes, an amount ceiling); staff may change
the numbers and texts, the rule's code is what the evaluator of that kind reads. A case
(``CommitmentCase``) is unique per promise and subject: evaluating an event twice, or
two workers at once, cannot make a second one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tortoise import fields

from models.base import Entity


class CommitmentRule(StrEnum):
    """What a promise measures: the evaluator of that kind (workflows.commitments)."""

    CLAIM_DECISION = "CLAIM_DECISION"  # a small claim decided n working days after submission
    CLAIM_PAYMENT = "CLAIM_PAYMENT"  # then paid n working days after the decision
    AGENT_ANSWER = "AGENT_ANSWER"  # a customer asking for an agent gets one in n minutes
    COMPLAINT_FIRST_RESPONSE = "COMPLAINT_FIRST_RESPONSE"  # by the complaint rules' due time
    ROADSIDE_ARRIVAL = "ROADSIDE_ARRIVAL"  # roadside help on site in n minutes (bookings)


class CaseStatus(StrEnum):
    PENDING = "PENDING"  # the clock runs
    KEPT = "KEPT"  # done by the deadline
    BROKEN = "BROKEN"  # the deadline passed first (final, even if done later)
    WAIVED = "WAIVED"  # no longer applies (withdrawn; more documents were needed)


class ServiceCommitment(Entity):
    code = fields.CharField(max_length=32, unique=True)
    rule = fields.CharEnumField(CommitmentRule, max_length=32)
    title = fields.CharField(max_length=64)  # shown to the customer: 承诺1个工作日内审核
    description = fields.TextField(default="")  # the promise in full, with its conditions
    working_days: int | None = fields.IntField(null=True)
    minutes: int | None = fields.IntField(null=True)
    max_amount: Decimal | None = fields.DecimalField(max_digits=14, decimal_places=2, null=True)
    goodwill_points = fields.IntField(default=0)  # credited when broken (0: none)
    recovery = fields.BooleanField(default=True)  # a call back when broken
    enabled = fields.BooleanField(default=True)
    position = fields.IntField(default=0)  # display order
    # Staff edits (``editServiceCommitment``) at the version they saw; who edited last.
    version = fields.IntField(default=1, db_default=1)
    updated_by_id: uuid.UUID | None = fields.UUIDField(null=True)

    class Meta:
        table = "service_commitment"


class CommitmentCase(Entity):
    commitment: fields.ForeignKeyRelation[ServiceCommitment] = fields.ForeignKeyField(
        "models.ServiceCommitment", related_name="cases", on_delete=fields.CASCADE
    )
    commitment_id: uuid.UUID
    subject_type = fields.CharField(max_length=16)  # claim, complaint, conversation, booking
    subject_id = fields.UUIDField(db_index=True)
    customer_id = fields.UUIDField(db_index=True)
    # Who handled it (the claim's adjuster, the agent): the staff figures group by them.
    handler_id: uuid.UUID | None = fields.UUIDField(null=True)
    status = fields.CharEnumField(CaseStatus, max_length=16, default=CaseStatus.PENDING)
    started_at = fields.DatetimeField()
    deadline = fields.DatetimeField(db_index=True)
    met_at: datetime | None = fields.DatetimeField(null=True)  # when it was done
    settled_at: datetime | None = fields.DatetimeField(null=True)  # KEPT/BROKEN/WAIVED since
    # Goodwill points and the recovery task given for a broken promise (once).
    remedied_at: datetime | None = fields.DatetimeField(null=True)
    # The promise's terms when the case was opened: a later staff edit changes new cases
    # only, so a customer is held to (and compensated by) what they were promised.
    title = fields.CharField(max_length=64, default="", db_default="")
    working_days: int | None = fields.IntField(null=True)
    minutes: int | None = fields.IntField(null=True)
    goodwill_points = fields.IntField(default=0, db_default=0)
    version = fields.IntField(default=1)

    class Meta:
        table = "commitment_case"
        unique_together = (("commitment_id", "subject_id"),)


class CommitmentEventSeen(Entity):
    """An outbox event the evaluator has read (marked after the evaluation, which is
    safe to repeat)."""

    outbox_event_id = fields.BigIntField(unique=True)

    class Meta:
        table = "commitment_event_seen"
