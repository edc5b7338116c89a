"""How each kind of promise is measured: one evaluator per rule, reading the subject's
own table (the claim, the complaint, the conversation) as it is now.

An evaluator answers ``None`` when the promise does not apply (yet) to the subject, or
a ``Verdict``: when the clock started, the deadline (working days counted in Beijing on
China's calendar), when the thing was done (if it was), or that it no longer applies.
Evaluating again is harmless: the case's record only ever moves forward.

Pluggable: another domain registers its rule with ``register(rule, subject_type, fn)``,
``subject_type`` being the ``entity_type`` of its outbox events (e.g. ``booking``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from models.benefits import BookingState, PartnerEvent, ServiceBooking
from models.claims import Claim
from models.claims import ClaimStatus as S
from models.commitments import CommitmentRule, ServiceCommitment
from models.complaints import Complaint, ComplaintStatus
from models.conversations import Conversation
from workflows.conversations.hours import WorkingHours
from workflows.working_days import working_days_after

R = CommitmentRule
CLOSED_UNDECIDED = frozenset({S.WITHDRAWN, S.CLOSED})
PAID_OR_PAYABLE = frozenset({S.APPROVED, S.PARTIALLY_APPROVED, S.PAYING, S.PAID, S.CLOSED})


@dataclass(frozen=True)
class Context:
    """What evaluators may need beyond the database."""

    agent_hours: WorkingHours = field(default_factory=WorkingHours)


@dataclass(frozen=True)
class Verdict:
    customer_id: uuid.UUID
    started_at: datetime
    deadline: datetime
    met_at: datetime | None = None  # when it was done
    waived: bool = False  # no longer applies
    handler_id: uuid.UUID | None = None


Evaluator = Callable[[ServiceCommitment, uuid.UUID, Context], Awaitable[Verdict | None]]


@dataclass(frozen=True)
class Registered:
    subject_type: str
    evaluate: Evaluator


EVALUATORS: dict[CommitmentRule, Registered] = {}


def register(rule: CommitmentRule, subject_type: str, evaluate: Evaluator) -> None:
    """Measure ``rule`` with ``evaluate`` on events of ``subject_type``."""
    EVALUATORS[rule] = Registered(subject_type, evaluate)


def subject_types() -> frozenset[str]:
    return frozenset(r.subject_type for r in EVALUATORS.values())


async def _days(commitment: ServiceCommitment, start: datetime) -> datetime:
    return await working_days_after(start, commitment.working_days or 1)


async def claim_decision(
    commitment: ServiceCommitment, claim_id: uuid.UUID, _ctx: Context
) -> Verdict | None:
    """A fast-tracked claim (small, documents complete) decided in n working days from
    submission. Asking for more documents shows they were not complete: waived."""
    claim = await Claim.get_or_none(id=claim_id)
    if claim is None or not claim.fast_track or claim.submitted_at is None:
        return None
    undecided = claim.decided_at is None
    return Verdict(
        customer_id=claim.customer_id,
        started_at=claim.submitted_at,
        deadline=await _days(commitment, claim.submitted_at),
        met_at=claim.decided_at,
        waived=undecided
        and (claim.status in CLOSED_UNDECIDED or claim.more_info_requested_at is not None),
        handler_id=claim.assignee_id,
    )


async def claim_payment(
    commitment: ServiceCommitment, claim_id: uuid.UUID, _ctx: Context
) -> Verdict | None:
    """A fast-tracked claim approved with money to pay, paid n working days after the
    decision (a rejected claim has nothing to pay: no case)."""
    claim = await Claim.get_or_none(id=claim_id)
    if claim is None or not claim.fast_track or claim.decided_at is None:
        return None
    if claim.status not in PAID_OR_PAYABLE or claim.approved_amount <= 0:
        return None
    return Verdict(
        customer_id=claim.customer_id,
        started_at=claim.decided_at,
        deadline=await _days(commitment, claim.decided_at),
        met_at=claim.paid_at,
        waived=claim.paid_at is None and claim.status is S.CLOSED,
        handler_id=claim.assignee_id,
    )


async def complaint_first_response(
    _commitment: ServiceCommitment, complaint_id: uuid.UUID, _ctx: Context
) -> Verdict | None:
    """The first response by the due time the complaint rules set (urgency, calendar)."""
    complaint = await Complaint.get_or_none(id=complaint_id)
    if complaint is None or complaint.customer_id is None:
        return None
    return Verdict(
        customer_id=complaint.customer_id,
        started_at=complaint.received_at,
        deadline=complaint.first_response_due_at,
        met_at=complaint.first_responded_at,
        waived=complaint.first_responded_at is None
        and complaint.status is ComplaintStatus.WITHDRAWN,
        handler_id=complaint.handler_id,
    )


async def agent_answer(
    commitment: ServiceCommitment, conversation_id: uuid.UUID, ctx: Context
) -> Verdict | None:
    """A customer handed to the agents is taken within n minutes of agents' hours: the
    clock starts when queued, or when agents are back if queued outside their hours. A
    customer who leaves before the deadline leaves nothing to measure (waived)."""
    conversation = await Conversation.get_or_none(id=conversation_id)
    if conversation is None or conversation.queued_at is None:
        return None
    started = ctx.agent_hours.next_open(conversation.queued_at)
    deadline = started + timedelta(minutes=commitment.minutes or 10)
    accepted = conversation.accepted_at
    left = conversation.closed_at
    return Verdict(
        customer_id=conversation.customer_id,
        started_at=started,
        deadline=deadline,
        met_at=accepted,
        waived=accepted is None and left is not None and left <= deadline,
        handler_id=conversation.agent_id,
    )


async def roadside_arrival(
    commitment: ServiceCommitment, booking_id: uuid.UUID, _ctx: Context
) -> Verdict | None:
    """Roadside help on site n minutes (60) after the request, as the partner reports
    its arrival. A booking ended before the deadline without arrival by the customer
    (cancelled, not there) or never taken by the partner (told at once) ends without a
    verdict (waived); the partner cancelling (its signed CANCELLED event) does not: the
    promise runs on and breaks at the deadline. Other bookings are not measured."""
    booking = await ServiceBooking.get_or_none(id=booking_id)
    if booking is None or booking.need is None:
        return None
    started = booking.requested_at
    deadline = started + timedelta(minutes=commitment.minutes or 60)
    finished = booking.finished_at
    ended_early = (
        booking.arrived_at is None
        and booking.state in (BookingState.CANCELLED, BookingState.NO_SHOW)
        and finished is not None
        and finished <= deadline
    )
    if ended_early and booking.state is BookingState.CANCELLED:
        ended_early = not await PartnerEvent.filter(
            booking_id=booking.id, state=BookingState.CANCELLED.value, applied=True
        ).exists()
    return Verdict(
        customer_id=booking.customer_id,
        started_at=started,
        deadline=deadline,
        met_at=booking.arrived_at,
        waived=ended_early,
        handler_id=None,  # the partner's crew, not our staff
    )


register(R.CLAIM_DECISION, "claim", claim_decision)
register(R.CLAIM_PAYMENT, "claim", claim_payment)
register(R.COMPLAINT_FIRST_RESPONSE, "complaint", complaint_first_response)
register(R.AGENT_ANSWER, "conversation", agent_answer)
register(R.ROADSIDE_ARRIVAL, "booking", roadside_arrival)
