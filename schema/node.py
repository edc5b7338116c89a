"""``node(id:)``: any object by global ID, with the same visibility rules as its own
field. An object the caller may not see answers exactly like a missing one: null."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry import relay
from strawberry.types import Info

from models import policies as m
from models.claims import ClaimDocument as ClaimDocumentModel
from models.claims import PayoutShare
from models.customers import Customer as CustomerModel
from models.notifications import Notification as NotificationModel
from models.staff import StaffUser
from schema.benefits.types import load_booking, partner_node, service_node
from schema.claims.parts import ClaimDocument, ClaimPayoutShare
from schema.claims.types import Claim
from schema.commitments import commitment_case_node, service_commitment_node
from schema.complaint_parts import attachment_node, remedy_node, resolution_node, root_cause_node
from schema.complaints import complaint_node
from schema.conversations import conversation_node, message_node, presence_node
from schema.crisis import crisis_incident_node, crisis_rule_node
from schema.knowledge import knowledge_entry_node
from schema.membership.operations import membership_rules_node
from schema.membership.types import (
    health_completion_node,
    health_programme_node,
    health_task_node,
    membership_node,
    points_entry_node,
    redemption_node,
    reward_node,
)
from schema.notifications import Notification, device_node, preference_node
from schema.payments import PaymentOrder, order_visible_to, refund_node
from schema.people import Customer, StaffMember
from schema.policies.types import (
    Beneficiary,
    Coverage,
    InsuredPerson,
    OwnReads,
    Policy,
    PremiumInstallment,
    Product,
)
from schema.policy_service.application_types import application_node
from schema.policy_service.documents import invoice_request_node, policy_document_node
from schema.policy_service.endorsements import endorsement_node
from schema.policy_service.service_plans import service_plan_node
from schema.privacy.audit import pii_access_node, pii_alert_node
from schema.privacy.records import key_rotation_node, retention_run_node
from schema.privacy.rights import (
    data_export_node,
    deletion_request_node,
    marketing_consent_node,
)
from schema.privacy.sessions import staff_session_node
from schema.risk import risk_rule_node, risk_signal_node
from schema.surveys import LEGACY_SURVEY_TYPE, rating_node, recovery_task_node, survey_node
from schema.team.nodes import TEAM_NODES
from schema.visits import follow_up_visit_node, my_visit_node, visit_rule_node
from workflows.access import Actor, Permission, visible_claims, visible_policies


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _policy(actor: Actor, object_id: uuid.UUID) -> Policy | None:
    row = await visible_policies(actor).filter(id=object_id).select_related("product").first()
    return Policy.from_model(row, OwnReads(actor)) if row else None


def _policy_child(
    model: Any, convert: Callable[[Any, m.PolicyStatus], relay.Node]
) -> Callable[[Actor, uuid.UUID], Awaitable[Any]]:
    """Coverages, persons and installments are visible exactly when their policy is."""

    async def load(actor: Actor, object_id: uuid.UUID) -> Any:
        row = await model.get_or_none(id=object_id)
        if row is None:
            return None
        policy = await visible_policies(actor).filter(id=row.policy_id).only("id", "status").first()
        return None if policy is None else convert(row, policy.status)

    return load


async def _product(actor: Actor, object_id: uuid.UUID) -> Product | None:
    row = await m.Product.get_or_none(id=object_id)
    return Product.from_model(row) if row else None


async def _customer(actor: Actor, object_id: uuid.UUID) -> Customer | None:
    if not (actor.subject_id == object_id or actor.can(Permission.CUSTOMER_READ)):
        return None
    row = await CustomerModel.get_or_none(id=object_id)
    return Customer.from_model(row) if row else None


async def _staff_member(actor: Actor, object_id: uuid.UUID) -> StaffMember | None:
    if not ((actor.is_staff and actor.subject_id == object_id) or actor.can(Permission.STAFF_READ)):
        return None
    row = await StaffUser.get_or_none(id=object_id)
    return StaffMember.from_model(row) if row else None


async def _notification(actor: Actor, object_id: uuid.UUID) -> Notification | None:
    row = await NotificationModel.get_or_none(id=object_id)
    if row is None:
        return None
    if not (actor.subject_id == row.customer_id or actor.can(Permission.NOTIFICATION_READ)):
        return None
    return Notification.from_model(row)


async def _claim(actor: Actor, object_id: uuid.UUID) -> Claim | None:
    row = await visible_claims(actor).filter(id=object_id).first()
    return Claim.from_model(row) if row else None


async def _payout_share(actor: Actor, object_id: uuid.UUID) -> ClaimPayoutShare | None:
    """Staff who may read the claim see every share; a beneficiary their own."""
    row = await PayoutShare.get_or_none(id=object_id)
    if row is None:
        return None
    if actor.is_customer:
        mine = row.customer_id is not None and row.customer_id == actor.subject_id
        return ClaimPayoutShare.from_model(row, mine=True) if mine else None
    if not await visible_claims(actor).filter(id=row.claim_id).exists():
        return None
    return ClaimPayoutShare.from_model(row, mine=False)


async def _claim_document(actor: Actor, object_id: uuid.UUID) -> ClaimDocument | None:
    """As `Claim.documents`: whoever may see the claim sees its documents."""
    row = await ClaimDocumentModel.get_or_none(id=object_id)
    if row is None or not await visible_claims(actor).filter(id=row.claim_id).exists():
        return None
    return ClaimDocument.from_model(row)


async def _payment_order(actor: Actor, object_id: uuid.UUID) -> PaymentOrder | None:
    row = await order_visible_to(actor, object_id)
    return PaymentOrder.from_model(row) if row else None


NODE_RESOLVERS: dict[str, Callable[[Actor, uuid.UUID], Awaitable[relay.Node | None]]] = {
    "Policy": _policy,
    "Product": _product,
    "Coverage": _policy_child(m.Coverage, lambda row, _: Coverage.from_model(row)),
    "InsuredPerson": _policy_child(m.InsuredPerson, lambda row, _: InsuredPerson.from_model(row)),
    "Beneficiary": _policy_child(m.Beneficiary, lambda row, _: Beneficiary.from_model(row)),
    "PremiumInstallment": _policy_child(m.PremiumInstallment, PremiumInstallment.from_model),
    "Customer": _customer,
    "StaffMember": _staff_member,
    "Notification": _notification,
    "Claim": _claim,
    "ClaimPayoutShare": _payout_share,
    "ClaimDocument": _claim_document,
    "PaymentOrder": _payment_order,
    "PaymentRefund": refund_node,
    "Device": device_node,
    "NotificationPreference": preference_node,
    "Survey": survey_node,
    "ServiceRating": rating_node,
    "RecoveryTask": recovery_task_node,
    "CommitmentCase": commitment_case_node,
    "ServiceCommitment": service_commitment_node,
    "FollowUpVisit": follow_up_visit_node,
    "ServiceBooking": load_booking,
    "BenefitService": service_node,
    "Partner": partner_node,
    "MyVisit": my_visit_node,
    "VisitRule": visit_rule_node,
    "Complaint": complaint_node,
    "CrisisIncident": crisis_incident_node,
    "CrisisRule": crisis_rule_node,
    "ComplaintResolution": resolution_node,
    "ComplaintRemedy": remedy_node,
    "ComplaintRootCause": root_cause_node,
    "ComplaintAttachment": attachment_node,
    "KnowledgeEntry": knowledge_entry_node,
    "Conversation": conversation_node,
    "ConversationMessage": message_node,
    "AgentPresence": presence_node,
    "ServicePlan": service_plan_node,
    "PolicyDocument": policy_document_node,
    "InvoiceRequest": invoice_request_node,
    "Endorsement": endorsement_node,
    "PolicyApplication": application_node,
    "RiskSignal": risk_signal_node,
    "RiskRule": risk_rule_node,
    "PiiAccessRecord": pii_access_node,
    "PiiRevealAlert": pii_alert_node,
    "MarketingConsent": marketing_consent_node,
    "DataExport": data_export_node,
    "DataDeletionRequest": deletion_request_node,
    "StaffSession": staff_session_node,
    "RetentionRun": retention_run_node,
    "PiiKeyRotation": key_rotation_node,
    "Membership": membership_node,
    "PointsEntry": points_entry_node,
    "MembershipReward": reward_node,
    "PointsRedemption": redemption_node,
    "HealthProgramme": health_programme_node,
    "HealthTask": health_task_node,
    "HealthTaskCompletion": health_completion_node,
    "MembershipRules": membership_rules_node,
    **TEAM_NODES,
}
# Type names of global IDs issued before their type got its present name.
FORMER_NAMES = {LEGACY_SURVEY_TYPE: "Survey"}


async def resolve_node(info: Info, global_id: relay.GlobalID) -> relay.Node | None:
    resolver = NODE_RESOLVERS.get(FORMER_NAMES.get(global_id.type_name, global_id.type_name))
    object_id = parse_uuid(global_id.node_id)
    if resolver is None or object_id is None:
        return None
    return await resolver(info.context.actor, object_id)
