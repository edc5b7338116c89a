"""What a customer may rate: a subject that exists and that they may see (their claim,
a policy they hold, are insured by or benefit from, their payment, their visit, or a
staff member who handled one of those, or an online-service conversation of theirs
that has ended, or a booking of a value-added service that was done). Anything else —
a made-up ID, another customer's claim, an ID of the wrong kind — is answered exactly
like a missing subject, so ratings can neither flood the recovery queue nor confirm what exists."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from enum import StrEnum

from tortoise.expressions import Q

from models.auth import SubjectKind
from models.benefits import BookingState, ServiceBooking
from models.conversations import Conversation, ConversationStatus
from models.ids import parse_global_id
from models.payments import PaymentOrder
from models.visits import FollowUpVisit
from workflows.access import Actor, visible_claims, visible_policies


async def _claim(actor: Actor, object_id: uuid.UUID) -> bool:
    return await visible_claims(actor).filter(id=object_id).exists()


async def _policy(actor: Actor, object_id: uuid.UUID) -> bool:
    return await visible_policies(actor).filter(id=object_id).exists()


async def _payment(actor: Actor, object_id: uuid.UUID) -> bool:
    return await PaymentOrder.exists(id=object_id, customer_id=actor.subject_id)


async def _visit(actor: Actor, object_id: uuid.UUID) -> bool:
    return await FollowUpVisit.exists(id=object_id, customer_id=actor.subject_id)


async def _staff(actor: Actor, object_id: uuid.UUID) -> bool:
    """Only someone who served this customer: a handler of a claim they see, or the
    staff member of one of their visits."""
    if await visible_claims(actor).filter(assignee_id=object_id).exists():
        return True
    return await FollowUpVisit.filter(
        Q(assignee_id=object_id) | Q(completed_by=object_id), customer_id=actor.subject_id
    ).exists()


async def _conversation(actor: Actor, object_id: uuid.UUID) -> bool:
    """Their own online-service conversation, once it has ended."""
    return await Conversation.exists(
        id=object_id, customer_id=actor.subject_id, status=ConversationStatus.CLOSED
    )


async def _booking(actor: Actor, object_id: uuid.UUID) -> bool:
    """Their own booking of a value-added service, once the partner has done it."""
    return await ServiceBooking.exists(
        id=object_id, customer_id=actor.subject_id, state=BookingState.DONE
    )


class RatingSubject(StrEnum):
    """What kind of thing a rating is about (stored as this text)."""

    CLAIM = "CLAIM"
    POLICY = "POLICY"
    PAYMENT = "PAYMENT"
    VISIT = "VISIT"
    STAFF = "STAFF"
    CONVERSATION = "CONVERSATION"
    BOOKING = "BOOKING"


# subject type → (the global ID's type name, whether the customer may rate it)
SUBJECTS: dict[str, tuple[str, Callable[[Actor, uuid.UUID], Awaitable[bool]]]] = {
    RatingSubject.CLAIM: ("Claim", _claim),
    RatingSubject.POLICY: ("Policy", _policy),
    RatingSubject.PAYMENT: ("PaymentOrder", _payment),
    RatingSubject.VISIT: ("MyVisit", _visit),  # the customer's view of a visit
    RatingSubject.STAFF: ("StaffMember", _staff),
    RatingSubject.CONVERSATION: ("Conversation", _conversation),
    RatingSubject.BOOKING: ("ServiceBooking", _booking),
}


async def rateable(customer_id: uuid.UUID, subject_type: str, subject_id: str) -> uuid.UUID | None:
    """The subject's UUID when ``customer_id`` may rate it, else None."""
    type_name, may_rate = SUBJECTS[subject_type]
    object_id = parse_global_id(subject_id, type_name)
    if object_id is None:
        return None
    actor = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer_id)
    return object_id if await may_rate(actor, object_id) else None
