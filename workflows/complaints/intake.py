"""Complaints come in: from the customer (app, mini-program) about something of theirs,
or recorded by staff from a call, the counter, a letter, an e-mail, a regulator's
referral or the media, with the customer found by phone or ID number hash or left not yet
identified. Each gets its number, its proposed classification, its clocks and, when the
customer is known, an acknowledgement at once (in the same transaction, via the outbox).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus
from models.complaints import Complaint, ComplaintChannel, ComplaintStatus
from models.customers import Customer
from models.payments import PaymentOrder
from models.pii import PiiCipher
from models.policies import Policy
from models.staff import StaffUser
from models.visits import FollowUpVisit
from workflows.access import Actor, Permission, visible_claims, visible_orders, visible_policies
from workflows.complaints.calendar import first_response_deadline
from workflows.complaints.classify import Context, propose
from workflows.complaints.rules import (
    CLOCKS,
    CUSTOMER_CHANNELS,
    REPEAT_WINDOW,
    STAFF_CHANNELS,
    TEXT_LIMIT,
    ClockSettings,
    ComplaintError,
    ComplaintErrorCode,
    answer_due,
)
from workflows.complaints.state import add_to_timeline, announce
from workflows.numbering import Prefix, next_number

E = ComplaintErrorCode
PHONE = re.compile(r"^1\d{10}$")


@dataclass(frozen=True)
class Subjects:
    """What the complaint is about, each optional."""

    policy_id: uuid.UUID | None = None
    claim_id: uuid.UUID | None = None
    payment_order_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None


def clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ComplaintError(E.TEXT_REQUIRED, "请填写投诉内容", "text")
    if len(text) > TEXT_LIMIT:
        raise ComplaintError(E.TEXT_TOO_LONG, f"投诉内容不能超过{TEXT_LIMIT}字", "text")
    return text


def _missing(field: str) -> ComplaintError:
    return ComplaintError(E.SUBJECT_NOT_FOUND, "未找到投诉涉及的业务", field)


async def _check_subjects(owner: uuid.UUID | None, subjects: Subjects) -> Claim | None:
    """Each subject exists and, when the customer is known, is theirs (as they could see
    it themselves); the claim, for context."""
    viewer = Actor(kind=SubjectKind.CUSTOMER, subject_id=owner) if owner else None
    if subjects.policy_id is not None:
        policies = visible_policies(viewer) if viewer else Policy.all()
        if not await policies.filter(id=subjects.policy_id).exists():
            raise _missing("policyId")
    claim = None
    if subjects.claim_id is not None:
        claims = visible_claims(viewer) if viewer else Claim.all()
        claim = await claims.filter(id=subjects.claim_id).first()
        if claim is None:
            raise _missing("claimId")
    if subjects.payment_order_id is not None:
        orders = visible_orders(viewer) if viewer else PaymentOrder.all()
        if not await orders.filter(id=subjects.payment_order_id).exists():
            raise _missing("paymentOrderId")
    if subjects.visit_id is not None:
        visits = FollowUpVisit.filter(id=subjects.visit_id)
        if owner is not None:
            visits = visits.filter(customer_id=owner)
        if not await visits.exists():
            raise _missing("visitId")
    if subjects.staff_id is not None and not await StaffUser.exists(id=subjects.staff_id):
        raise _missing("staffId")
    return claim


async def _create(
    actor: Actor,
    channel: ComplaintChannel,
    text: str,
    customer_id: uuid.UUID | None,
    subjects: Subjects,
    now: datetime | None,
    clocks: ClockSettings,
) -> Complaint:
    text = clean_text(text)
    claim = await _check_subjects(customer_id, subjects)
    received = now or datetime.now(UTC)
    repeats = (
        await Complaint.filter(
            customer_id=customer_id, received_at__gte=received - REPEAT_WINDOW
        ).count()
        if customer_id
        else 0
    )
    proposal = propose(
        text,
        Context(
            open_claim=claim is not None
            and claim.status not in (ClaimStatus.CLOSED, ClaimStatus.WITHDRAWN),
            about_claim=claim is not None,
            about_payment=subjects.payment_order_id is not None,
            about_visit=subjects.visit_id is not None,
            about_staff=subjects.staff_id is not None,
            repeats=repeats,
            channel_is_media_or_regulator=channel
            in (ComplaintChannel.MEDIA, ComplaintChannel.REGULATOR),
        ),
    )
    first_response = await first_response_deadline(received, proposal.urgency, clocks)
    number = await next_number(Prefix.COMPLAINT, received)
    async with in_transaction():
        complaint = await Complaint.create(
            number=number,
            channel=channel,
            content_class=proposal.content_class,
            urgency=proposal.urgency,
            proposed_class=proposal.content_class,
            proposed_urgency=proposal.urgency,
            status=ComplaintStatus.RECEIVED,
            text=text,
            customer_id=customer_id,
            policy_id=subjects.policy_id,
            claim_id=subjects.claim_id,
            payment_order_id=subjects.payment_order_id,
            visit_id=subjects.visit_id,
            staff_subject_id=subjects.staff_id,
            recorded_by_id=actor.subject_id if actor.is_staff else None,
            received_at=received,
            first_response_due_at=first_response,
            answer_due_at=answer_due(received, 0),
        )
        await add_to_timeline(complaint, actor, "receive", None, complaint.status, "投诉已受理")
        if proposal.reasons:
            await add_to_timeline(
                complaint,
                None,
                "propose",
                complaint.status,
                complaint.status,
                "；".join(proposal.reasons),
                internal=True,
            )
        await announce(
            complaint,
            "complaint.received",
            {"answer_due": f"{complaint.answer_due_at:%Y-%m-%d}"},
        )
    return complaint


async def file_complaint(
    actor: Actor,
    channel: ComplaintChannel,
    text: str,
    subjects: Subjects,
    now: datetime | None = None,
    clocks: ClockSettings = CLOCKS,
) -> Complaint:
    """A customer complains from the app or the mini-program about their own matter."""
    if not actor.is_customer or actor.subject_id is None:
        raise ComplaintError(E.NOT_ALLOWED, "请先登录")
    if channel not in CUSTOMER_CHANNELS:
        raise ComplaintError(E.CHANNEL_NOT_ALLOWED, "请选择App或小程序渠道", "channel")
    return await _create(actor, channel, text, actor.subject_id, subjects, now, clocks)


async def find_customer(
    pii: PiiCipher, phone: str | None, id_number: str | None
) -> uuid.UUID | None:
    """The customer with this phone or ID number (by their lookup hashes), if any."""
    if phone:
        phone = phone.strip()
        if not PHONE.match(phone):
            raise ComplaintError(E.SUBJECT_NOT_FOUND, "手机号格式不正确", "phone")
        found = await Customer.get_or_none(phone_hash=pii.phone_hash(phone)).only("id")
        if found:
            return found.id
    if id_number:
        row = await Customer.filter(
            id_number_hash=pii.id_number_hash(id_number.strip().upper())
        ).first()
        if row:
            return row.id
    return None


async def record_complaint(
    actor: Actor,
    pii: PiiCipher,
    channel: ComplaintChannel,
    text: str,
    subjects: Subjects,
    *,
    phone: str | None = None,
    id_number: str | None = None,
    now: datetime | None = None,
    clocks: ClockSettings = CLOCKS,
) -> Complaint:
    """Staff record a complaint received elsewhere; the customer stays unidentified when
    neither the phone nor the ID number matches anyone."""
    if not actor.is_staff or not actor.can(Permission.COMPLAINT_HANDLE):
        raise ComplaintError(E.NOT_ALLOWED, "没有进行此操作的权限")
    if channel not in STAFF_CHANNELS:
        raise ComplaintError(E.CHANNEL_NOT_ALLOWED, "请选择投诉的来源渠道", "channel")
    customer_id = await find_customer(pii, phone, id_number)
    return await _create(actor, channel, text, customer_id, subjects, now, clocks)
