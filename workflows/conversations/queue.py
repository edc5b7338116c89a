"""The agents' queue as the customer and the assistant see it: a waiting customer's
position, the queue's length and the expected wait; and, for the agent who takes a
conversation, the customer's open claims and policies summarised at handoff."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.functions import Count

from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.conversations import (
    AgentPresence,
    Conversation,
    ConversationStatus,
    PresenceStatus,
)
from models.policies import PolicyStatus
from workflows.access import Actor, visible_claims, visible_policies
from workflows.conversations.hours import WorkingHours
from workflows.conversations.rules import DEFAULT_HANDLE_MINUTES

CLOSED_CLAIMS = (ClaimStatus.CLOSED, ClaimStatus.WITHDRAWN, ClaimStatus.PAID, ClaimStatus.REJECTED)
FIGURES_WINDOW = timedelta(days=7)  # handling times the expected wait is based on
SUMMARY_LIMIT = 10  # claims and policies each in a handoff summary


@dataclass(frozen=True)
class QueueState:
    """What a waiting customer (and the assistant) is told."""

    agents_open: bool  # within agents' hours
    next_open_at: datetime  # now, when open
    waiting: int  # conversations waiting now
    position: int | None  # this conversation's place (1 = next), when waiting
    expected_wait_minutes: int | None  # None outside hours


async def position(conversation: Conversation) -> int | None:
    if conversation.status is not ConversationStatus.WAITING or conversation.queued_at is None:
        return None
    ahead = await Conversation.filter(
        status=ConversationStatus.WAITING, queued_at__lt=conversation.queued_at
    ).count()
    return ahead + 1


async def handle_minutes(now: datetime) -> float:
    """How long agents took per conversation over the last week (the mean from accept to
    close), or the default before there are any."""
    rows = await Conversation.filter(
        status=ConversationStatus.CLOSED,
        accepted_at__isnull=False,
        closed_at__gte=now - FIGURES_WINDOW,
    ).values_list("accepted_at", "closed_at")
    spans = [(closed - accepted).total_seconds() / 60 for accepted, closed in rows]
    return sum(spans) / len(spans) if spans else float(DEFAULT_HANDLE_MINUTES)


async def free_seats() -> int:
    """Conversations the available agents can still take now (their limits less what
    they hold)."""
    available = await AgentPresence.filter(status=PresenceStatus.AVAILABLE).values_list(
        "staff_id", "max_concurrent"
    )
    if not available:
        return 0
    held = dict(
        await Conversation.filter(
            status=ConversationStatus.WITH_AGENT, agent_id__in=[s for s, _ in available]
        )
        .annotate(n=Count("id"))
        .group_by("agent_id")
        .values_list("agent_id", "n")
    )
    return sum(max(0, limit - held.get(staff, 0)) for staff, limit in available)


async def queue_state(
    hours: WorkingHours, conversation: Conversation | None = None, now: datetime | None = None
) -> QueueState:
    """The queue now. The expected wait: the customers ahead (and this one) served a
    round of the available agents' seats at a time, each round the mean handling time."""
    now = now or datetime.now(UTC)
    is_open = hours.is_open(now)
    waiting = await Conversation.filter(status=ConversationStatus.WAITING).count()
    place = await position(conversation) if conversation is not None else None
    expected = None
    if is_open:
        ahead = (place or waiting + 1) - 1
        seats = await free_seats()
        agents = await AgentPresence.filter(status=PresenceStatus.AVAILABLE).count()
        if seats > ahead:
            expected = 0
        else:
            rounds = math.ceil((ahead - seats + 1) / max(1, agents))
            expected = math.ceil(rounds * await handle_minutes(now))
    return QueueState(is_open, hours.next_open(now), waiting, place, expected)


async def customer_summary(customer_id: uuid.UUID) -> dict[str, Any]:
    """The customer's open claims and in-force policies, as the agent first sees them:
    numbers and states (read as the customer could read them), no personal numbers."""
    actor = Actor(kind=SubjectKind.CUSTOMER, subject_id=customer_id)
    claims = (
        await visible_claims(actor)
        .exclude(status__in=CLOSED_CLAIMS)
        .order_by("-created_at")
        .limit(SUMMARY_LIMIT)
        .values("id", "report_number", "status")
    )
    policies = (
        await visible_policies(actor)
        .exclude(status__in=(PolicyStatus.EXPIRED, PolicyStatus.CANCELLED))
        .order_by("-created_at")
        .limit(SUMMARY_LIMIT)
        .values("id", "number", "status", "product__name")
    )
    return {
        "claims": [
            {"id": str(c["id"]), "number": c["report_number"], "status": str(c["status"])}
            for c in claims
        ],
        "policies": [
            {
                "id": str(p["id"]),
                "number": p["number"],
                "status": str(p["status"]),
                "product": p["product__name"],
            }
            for p in policies
        ],
    }
