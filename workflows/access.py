"""Who is calling and what they may do: the actor, staff permissions per role, and the
object-level rule that a customer sees only policies they hold, are insured by or
benefit from.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models.auth import SubjectKind
from models.claims import Claim, PayoutShare
from models.payments import PaymentOrder
from models.policies import Beneficiary, InsuredPerson, Policy, PolicyStatus
from models.staff import StaffRole

security = logging.getLogger("anxin.security")


class Permission(StrEnum):
    """What a staff operation requires; each staff field names one."""

    POLICY_READ = "policy:read"
    POLICY_SEARCH = "policy:search"
    CUSTOMER_READ = "customer:read"
    STAFF_READ = "staff:read"
    NOTIFICATION_READ = "notification:read"
    CLAIM_READ = "claim:read"
    CLAIM_REPORT = "claim:report"  # record a loss on a customer's behalf (phone, counter)
    CLAIM_ASSIGN = "claim:assign"
    CLAIM_REVIEW = "claim:review"  # review, ask for more, notes, decide within authority
    CLAIM_APPROVE_ABOVE_LIMIT = "claim:approve-above-limit"
    CLAIM_PAY = "claim:pay"  # pay out approved claims
    PAYMENT_REFUND = "payment:refund"
    SURVEY_READ = "survey:read"  # service-quality figures
    SURVEY_MANAGE = "survey:manage"  # survey templates
    SURVEY_EXPORT = "survey:export"  # files for the third-party survey company, and back
    VISIT_HANDLE = "visit:handle"  # work the follow-up visit list, record outcomes
    VISIT_MANAGE = "visit:manage"  # assign visits, change the visit rules
    COMPLAINT_HANDLE = "complaint:handle"  # record, classify, handle and answer complaints
    COMPLAINT_SUPERVISE = "complaint:supervise"  # reassign, second extension, second-level review
    CRISIS_MANAGE = "crisis:manage"  # crisis incidents: open, assess, respond, statements, rules
    KB_PROPOSE = "kb:propose"  # propose an answer as a knowledge-base draft, submit it for review
    KB_MANAGE = "kb:manage"  # edit, publish and retire knowledge-base entries; their figures
    CONVERSATION_HANDLE = "conversation:handle"  # online service: take and answer customers
    CONVERSATION_SUPERVISE = "conversation:supervise"  # agents' limits, others' conversations
    POLICY_SERVICE = "policy:service"  # review changes of policies (保全): approve or reject
    UNDERWRITE = "policy:underwrite"  # decide applications referred to an underwriter (核保)
    RISK_REVIEW = "risk:review"  # risk signals: review, dismiss or confirm; edit the rules
    BENEFIT_MANAGE = "benefit:manage"  # value-added services: catalogue, partners, bookings
    MEMBERSHIP_MANAGE = "membership:manage"  # the tier rules: thresholds, privileges, grace
    ANALYTICS_READ = "analytics:read"  # the operations dashboard and its exports
    AUDIT_READ = "audit:read"  # the PII access log and reveal alerts (admins only)
    SESSION_MANAGE = "session:manage"  # list and revoke staff sessions (admins only)
    TEAM_MANAGE = "team:manage"  # teams, members, leave, certificates and their requirements


ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.AGENT: frozenset(
        {
            Permission.POLICY_READ,
            Permission.POLICY_SEARCH,
            Permission.CUSTOMER_READ,
            Permission.NOTIFICATION_READ,
            Permission.CLAIM_READ,
            Permission.CLAIM_REPORT,
            Permission.VISIT_HANDLE,
            Permission.COMPLAINT_HANDLE,
            Permission.KB_PROPOSE,
            Permission.CONVERSATION_HANDLE,
        }
    ),
    StaffRole.ADJUSTER: frozenset(
        {
            Permission.POLICY_READ,
            Permission.POLICY_SEARCH,
            Permission.CUSTOMER_READ,
            Permission.CLAIM_READ,
            Permission.CLAIM_REVIEW,
        }
    ),
    StaffRole.SUPERVISOR: frozenset(
        {
            Permission.POLICY_READ,
            Permission.POLICY_SEARCH,
            Permission.CUSTOMER_READ,
            Permission.STAFF_READ,
            Permission.NOTIFICATION_READ,
            Permission.CLAIM_READ,
            Permission.CLAIM_REPORT,
            Permission.CLAIM_ASSIGN,
            Permission.CLAIM_REVIEW,
            Permission.CLAIM_APPROVE_ABOVE_LIMIT,
            Permission.CLAIM_PAY,
            Permission.PAYMENT_REFUND,
            Permission.SURVEY_READ,
            Permission.SURVEY_MANAGE,
            Permission.SURVEY_EXPORT,
            Permission.VISIT_HANDLE,
            Permission.VISIT_MANAGE,
            Permission.COMPLAINT_HANDLE,
            Permission.COMPLAINT_SUPERVISE,
            Permission.CRISIS_MANAGE,
            Permission.KB_PROPOSE,
            Permission.KB_MANAGE,
            Permission.CONVERSATION_HANDLE,
            Permission.CONVERSATION_SUPERVISE,
            Permission.POLICY_SERVICE,
            Permission.UNDERWRITE,
            Permission.RISK_REVIEW,
            Permission.BENEFIT_MANAGE,
            Permission.MEMBERSHIP_MANAGE,
            Permission.ANALYTICS_READ,
        }
    ),
    StaffRole.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Actor:
    kind: SubjectKind | None = None
    subject_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    role: StaffRole | None = None
    expires_at: datetime | None = None  # when the access token behind it expires
    # Anonymous because a valid token was refused by a session rule (e.g.
    # ``STAFF_SESSION_IDLE``): said to the caller instead of a plain "log in".
    refusal: str | None = None
    # Permissions the role grants but a missing or expired certificate withholds
    # (workflows/team/certificates: read from the database whenever the actor is built).
    withheld: frozenset[Permission] = frozenset()

    @property
    def is_customer(self) -> bool:
        return self.kind is SubjectKind.CUSTOMER

    @property
    def is_staff(self) -> bool:
        return self.kind is SubjectKind.STAFF

    def can(self, permission: Permission) -> bool:
        return (
            self.role is not None
            and permission in ROLE_PERMISSIONS[self.role]
            and permission not in self.withheld
        )


ANONYMOUS = Actor()


def customer_policy_filter(customer_id: uuid.UUID) -> Q:
    """Policies a customer may see: as holder, insured person or beneficiary."""
    insured = InsuredPerson.filter(customer_id=customer_id).values("policy_id")
    benefits = Beneficiary.filter(customer_id=customer_id).values("policy_id")
    return Q(holder_id=customer_id) | Q(id__in=Subquery(insured)) | Q(id__in=Subquery(benefits))


# The policy row of an application bought online before it is paid (or never paid):
# not a policy to anyone yet; its application shows it (workflows/policy_service).
UNISSUED = (PolicyStatus.AWAITING_PAYMENT, PolicyStatus.NOT_TAKEN_UP)

# ``visible_policies`` of a customer as a condition on ``policy p`` for a hand-written
# read (``models.raw`` placeholders: ``:me`` the customer's ID, ``:unissued`` the values
# of ``UNISSUED``; ``customer_visible_params`` gives both). A test holds the two equal.
CUSTOMER_VISIBLE_SQL = """(p.holder_id = :me
   OR p.id IN (SELECT policy_id FROM insured_person WHERE customer_id = :me)
   OR p.id IN (SELECT policy_id FROM beneficiary WHERE customer_id = :me))
  AND NOT (p.status = ANY(:unissued))"""


def customer_visible_params(customer_id: uuid.UUID) -> dict[str, object]:
    """The parameters of ``CUSTOMER_VISIBLE_SQL`` for one customer."""
    return {"me": customer_id, "unissued": [status.value for status in UNISSUED]}


def visible_policies(actor: Actor) -> QuerySet[Policy]:
    """The policies ``actor`` may read; an empty set for anyone else."""
    if actor.is_customer and actor.subject_id is not None:
        return Policy.filter(customer_policy_filter(actor.subject_id)).exclude(status__in=UNISSUED)
    if actor.can(Permission.POLICY_READ):
        return Policy.exclude(status__in=UNISSUED)
    return Policy.filter(id=None)


def payable_policies(actor: Actor) -> QuerySet[Policy]:
    """The policies whose premium ``actor`` pays: those they hold, including one bought
    online and waiting for its first premium."""
    if actor.is_customer and actor.subject_id is not None:
        return Policy.filter(holder_id=actor.subject_id)
    return Policy.filter(id=None)


def visible_claims(actor: Actor) -> QuerySet[Claim]:
    """Claims ``actor`` may read: a customer's own (as claimant, payee or a beneficiary
    paid a share, or on a policy they hold); all for staff with CLAIM_READ; none otherwise."""
    if actor.is_customer and actor.subject_id is not None:
        held = Policy.filter(holder_id=actor.subject_id).values("id")
        shares = PayoutShare.filter(customer_id=actor.subject_id).values("claim_id")
        return Claim.filter(
            Q(customer_id=actor.subject_id)
            | Q(payee_id=actor.subject_id)
            | Q(policy_id__in=Subquery(held))
            | Q(id__in=Subquery(shares))
        )
    if actor.can(Permission.CLAIM_READ):
        return Claim.all()
    return Claim.filter(id=None)


def visible_orders(actor: Actor) -> QuerySet[PaymentOrder]:
    """A customer's own payment orders; staff who may read policies see all."""
    if actor.is_customer:
        return PaymentOrder.filter(customer_id=actor.subject_id)
    if actor.can(Permission.POLICY_READ):
        return PaymentOrder.all()
    return PaymentOrder.filter(id=None)
