"""Object-level authorization: someone else's object answers exactly like a missing one,
through its own field and through ``node(id:)``, for every node type."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from strawberry import relay
from tortoise.transactions import in_transaction

from api.services import Services
from api.settings import Settings
from models import policies as m
from models.auth import AuthSession, SubjectKind
from models.benefits import BookingState, Entitlement, ServiceBooking
from models.claims import Claim, ClaimDocument, ClaimStatus, PayoutShare
from models.commitments import CommitmentCase, CommitmentRule, ServiceCommitment
from models.complaint_remedies import (
    ComplaintAttachment,
    ComplaintRemedy,
    ComplaintResolution,
    ComplaintRootCause,
    RemedyKind,
    ResolutionStatus,
    RootCauseCategory,
)
from models.complaints import ComplaintChannel
from models.conversations import (
    AgentPresence,
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    MessageAuthor,
    PresenceStatus,
)
from models.crisis import CrisisRule, CrisisSeverity
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
from models.knowledge import EntryStatus, KnowledgeEntry, SourceKind
from models.notifications import Device, DevicePlatform, Notification
from models.payments import OrderStatus, PaymentOrder, Refund, RefundReason
from models.policy_applications import ApplicationKind, ApplicationStatus, PolicyApplication
from models.policy_documents import InvoiceRequest, InvoiceTitleKind
from models.privacy import (
    DataDeletionRequest,
    DataExport,
    DataExportStatus,
    MarketingConsent,
    PiiAccess,
    PiiField,
    PiiKeyRotation,
    PiiRevealAlert,
    PiiSubjectKind,
    RetentionRun,
)
from models.risk import RiskRule, RiskSignal, RiskSignalStatus, RiskSubjectKind
from models.service_plans import ServicePlan, ServicePlanInterest
from models.staff import StaffRole
from models.surveys import RecoveryTask, ServiceRating
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from schema import build_schema
from schema.node import NODE_RESOLVERS
from schema.notifications import preference_id
from tests.benefits_helpers import catalogue
from tests.database_snapshot import DatabaseSnapshot
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows import surveys
from workflows.access import Actor
from workflows.complaints.intake import Subjects, file_complaint
from workflows.crisis.detect import ensure_default_rules, open_incident
from workflows.policy_service.documents import issue_policy_document
from workflows.policy_service.service_plans import Answers, IncomeBand, RiskAttitude
from workflows.risk import evaluate as risk_evaluate
from workflows.visits import current_rules

NODE = "query($id: ID!) { node(id: $id) { id __typename } }"
POLICY = "query($id: ID!) { policy(id: $id) { number myRoles } }"
BY_NUMBER = "query($n: String!) { policyByNumber(number: $n) { number } }"


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


@dataclass(frozen=True)
class World:
    policy: m.Policy  # Alice's
    objects: dict[str, uuid.UUID]  # one object of each Node type, by type name
    tokens: dict[str, str]  # by who: alice, bob, carol, mallory, agent, supervisor, admin


@pytest.fixture(scope="module")
def database_snapshot(tmp_path_factory: pytest.TempPathFactory) -> DatabaseSnapshot:
    """The world, built by the module's first test and copied into each later test's
    database (tests/database_snapshot.py): each test still has its own."""
    return DatabaseSnapshot("world", tmp_path_factory.mktemp("world"))


@pytest.fixture
async def world(
    services: Services, settings: Settings, database_snapshot: DatabaseSnapshot
) -> World:
    """Alice holds a policy naming Bob as insured and Carol as beneficiary; Mallory has
    a policy of her own and nothing to do with Alice's."""
    if database_snapshot.saved:  # this test's database is a copy of the world
        return cast(World, database_snapshot.value)
    built = await _build_world(services)
    await database_snapshot.save(settings.database_url, settings.storage_root, built)
    return built


async def _build_world(services: Services) -> World:
    alice = await make_customer(services, "爱丽丝")
    bob = await make_customer(services, "鲍勃")
    carol = await make_customer(services, "卡罗尔")
    mallory = await make_customer(services, "马洛里")
    policy = await make_policy(services, alice, insured=[alice, bob], beneficiaries=[carol])
    await make_policy(services, mallory)
    agent = await make_staff(StaffRole.AGENT)
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    objects = {
        "Policy": policy.id,
        "Product": policy.product_id,
        "Coverage": (await m.Coverage.get(policy_id=policy.id)).id,
        "InsuredPerson": (await m.InsuredPerson.filter(policy_id=policy.id).first()).id,  # type: ignore[union-attr]
        "Beneficiary": (await m.Beneficiary.get(policy_id=policy.id)).id,
        "PremiumInstallment": (await m.PremiumInstallment.filter(policy_id=policy.id).first()).id,  # type: ignore[union-attr]
        "Customer": alice.id,
        "StaffMember": supervisor.id,
        "Notification": (
            await Notification.create(
                customer=alice,
                event_id=uuid.uuid4(),
                kind="premium.due",
                title="保费即将到期",
                body="…",
                deep_link="anxin://policies/x",
                mini_program_page="pages/policy/premium",
            )
        ).id,
        "Claim": (
            await make_claim(
                alice,
                policy,
                ClaimStatus.SUBMITTED,
                report_number="BA20261129999999",
                contact_name="爱丽丝",
            )
        ).id,
        "ClaimPayoutShare": (
            await PayoutShare.create(
                claim_id=(await Claim.get(report_number="BA20261129999999")).id,
                customer=carol,
                name=carol.name,
                share_percent=Decimal(100),
                position=0,
            )
        ).id,
        "PaymentOrder": (
            order := await PaymentOrder.create(
                order_number="PO20261130999999",
                customer=alice,
                policy=policy,
                installment=await m.PremiumInstallment.filter(policy_id=policy.id).first(),
                provider="sandbox",
                method="SANDBOX",
                amount=Decimal("600.00"),
                expires_at=policy.ends_at,
            )
        ).id,
        **await _service_objects(alice, policy, order),
    }
    objects.update(await _crisis_objects(supervisor, objects["Complaint"]))
    objects.update(await _document_objects(services, alice, policy, order))
    objects["PolicyApplication"] = await _application(alice, policy)
    objects.update(await _benefit_objects(alice, policy))
    objects.update(await _membership_objects(alice))
    objects.update(await _risk_and_commitment_objects(alice, objects["Claim"]))
    objects.update(await _privacy_objects(alice, agent))
    admin = await make_staff(StaffRole.ADMIN)
    objects.update(await _team_objects(agent, supervisor, objects["Claim"]))
    tokens = {
        "alice": await customer_token(services, alice),
        "bob": await customer_token(services, bob),
        "carol": await customer_token(services, carol),
        "mallory": await customer_token(services, mallory),
        "agent": await staff_token(services, agent),
        "supervisor": await staff_token(services, supervisor),
        "admin": await staff_token(services, admin),
    }
    return World(policy, objects, tokens)


async def _privacy_objects(alice: Any, agent: Any) -> dict[str, uuid.UUID]:
    """An agent's read of Alice's phone and an alert about that agent (auditors only)."""
    access = await PiiAccess.create(
        staff_id=agent.id,
        customer_id=alice.id,
        subject_kind=PiiSubjectKind.CUSTOMER,
        subject_id=alice.id,
        field=PiiField.PHONE,
        purpose="电话回访客户",
    )
    alert = await PiiRevealAlert.create(
        staff_id=agent.id,
        window_start=datetime.now(UTC).replace(minute=0, second=0, microsecond=0),
        reveal_count=51,
        threshold=50,
    )
    consent = await MarketingConsent.create(
        customer_id=alice.id, given=True, changed_at=datetime.now(UTC)
    )
    export = await DataExport.create(
        customer_id=alice.id,
        day=datetime.now(UTC).date(),
        status=DataExportStatus.READY,
        storage_key=f"exports/{alice.id}/x.zip",
        size_bytes=1,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    deletion = await DataDeletionRequest.create(customer_id=alice.id, deleted={}, kept=[])
    session = await AuthSession.create(
        subject_kind=SubjectKind.STAFF,
        subject_id=agent.id,
        channel="staff_console",
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    run = await RetentionRun.create(day=datetime.now(UTC).date(), counts={"DATA_EXPORTS": 1})
    rotation = await PiiKeyRotation.create(key_id="k9")
    return {
        "RetentionRun": run.id,
        "PiiKeyRotation": rotation.id,
        "PiiAccessRecord": access.id,
        "PiiRevealAlert": alert.id,
        "MarketingConsent": consent.id,
        "DataExport": export.id,
        "DataDeletionRequest": deletion.id,
        "StaffSession": session.id,
    }


async def _benefit_objects(alice: Any, policy: m.Policy) -> dict[str, uuid.UUID]:
    """Alice's roadside booking, its service (the catalogue) and its partner (staff's)."""
    road = (await catalogue())["roadside"]
    now = datetime.now(UTC)
    booking = await ServiceBooking.create(
        number="FW20261202999999",
        customer=alice,
        service=road,
        partner_id=road.partner_id,
        entitlement=Entitlement.POLICY,
        policy=policy,
        quota_year=now.year,
        state=BookingState.REQUESTED,
        requested_at=now,
    )
    return {"ServiceBooking": booking.id, "BenefitService": road.id, "Partner": road.partner_id}


async def _service_objects(
    alice: Any, policy: m.Policy, order: PaymentOrder
) -> dict[str, uuid.UUID]:
    """Alice's documents, refund, device, preference, survey, rating, recovery task and
    visit, and a visit rule (everyone's)."""
    claim = await Claim.get(report_number="BA20261129999999")
    async with in_transaction():
        invitation = await surveys.invite(
            alice.id, "claim.closed", "claim", str(claim.id), "CLAIM_SERVICE", announce=False
        )
    assert invitation is not None
    visit = await FollowUpVisit.create(
        customer=alice,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{policy.id}:2027",
        purpose="保单周年回访",
        policy=policy,
        channel=VisitChannel.PHONE,
        due_at=datetime.now(UTC) + timedelta(days=3),
        max_attempts=3,
        retry_after_days=2,
    )
    document = await ClaimDocument.create(
        claim=claim,
        checklist_code="INVOICE",
        storage_key=f"claims/{uuid.uuid4()}.jpg",
        content_type="image/jpeg",
        size=1024,
        sha256="a" * 64,
        original_sha256="b" * 64,
        file_name="发票.jpg",
        uploaded_by_kind="customer",
        uploaded_by_id=alice.id,
    )
    refund = await Refund.create(
        order=order,
        refund_number="RF20261130999999",
        amount=Decimal("600.00"),
        reason=RefundReason.COOLING_OFF_CANCELLATION,
    )
    device = await Device.create(customer=alice, platform=DevicePlatform.IOS, token="t" * 64)
    rating = await ServiceRating.create(
        customer=alice, subject_type="CLAIM", subject_id=str(claim.id), stars=5
    )
    task = await RecoveryTask.create(
        customer=alice,
        source="rating",
        source_id=rating.id,
        reason="评价1星",
        due_at=datetime.now(UTC) + timedelta(hours=24),
    )
    return {
        "ClaimDocument": document.id,
        "PaymentRefund": refund.id,
        "Device": device.id,
        "NotificationPreference": preference_id(alice.id, "claim.decided"),
        "Survey": invitation.id,
        "ServiceRating": rating.id,
        "RecoveryTask": task.id,
        "FollowUpVisit": visit.id,
        "MyVisit": visit.id,
        "VisitRule": (await current_rules())[0].id,
        "KnowledgeEntry": (
            await KnowledgeEntry.create(
                code="KB-DRAFT-1",
                category="服务",
                question="草稿问题",
                answer="草稿回答",
                source_kind=SourceKind.RULE,
                status=EntryStatus.DRAFT,
            )
        ).id,
        **await _conversation_objects(alice),
        **await _complaint_objects(alice, claim),
        "ServicePlan": await _service_plan(alice, policy, visit),
        "Endorsement": (
            await Endorsement.create(
                number="PD20261202999999",
                policy=policy,
                type=EndorsementType.BENEFICIARIES,
                status=EndorsementStatus.REQUESTED,
                requested_by=alice,
                consent_required=True,
            )
        ).id,
    }


async def _service_plan(alice: Any, policy: m.Policy, visit: FollowUpVisit) -> uuid.UUID:
    """Alice's service plan, with an interest that a visit carries (staff who work the
    visit list may read it then)."""
    plan = await ServicePlan.create(
        customer=alice,
        questionnaire_version="1",
        rule_version="test",
        answers=Answers(
            False, (), 0, IncomeBand.UNDER_100K, True, True, False, RiskAttitude.BALANCED
        ).as_dict(),
        gaps=[
            {
                "code": "CAR_NO_AUTO",
                "kind": "AUTO",
                "priority": "HIGH",
                "reason": "您家里有车，但您名下没有有效的机动车商业保险。",
                "facts": {"owns_car": True, "self_auto_cover": False},
                "product_ids": [str(policy.product_id)],
            }
        ],
    )
    await ServicePlanInterest.create(plan=plan, product_id=policy.product_id, visit=visit)
    return plan.id


async def _complaint_objects(alice: Any, claim: Claim) -> dict[str, uuid.UUID]:
    """Alice's complaint with a resolution carried out, its remedy, its root cause and
    an attachment."""
    complaint = await file_complaint(
        Actor(kind=SubjectKind.CUSTOMER, subject_id=alice.id),
        ComplaintChannel.APP,
        "理赔太慢，客服态度差",
        Subjects(claim_id=claim.id),
    )
    resolution = await ComplaintResolution.create(
        complaint_id=complaint.id,
        explanation="处理不及时",
        status=ResolutionStatus.CARRIED_OUT,
        proposed_by=uuid.uuid4(),
    )
    remedy = await ComplaintRemedy.create(
        resolution=resolution, complaint_id=complaint.id, kind=RemedyKind.APOLOGY, position=0
    )
    cause = await ComplaintRootCause.create(
        complaint_id=complaint.id,
        category=RootCauseCategory.CLAIM_HANDLING,
        responsible_unit="理赔部",
        corrective_action="时效提醒",
        due_on=datetime.now(UTC).date(),
        recorded_by=uuid.uuid4(),
    )
    attachment = await ComplaintAttachment.create(
        complaint_id=complaint.id,
        storage_key=f"complaints/{uuid.uuid4()}.jpg",
        content_type="image/jpeg",
        size=1024,
        sha256="c" * 64,
        file_name="现场.jpg",
        uploaded_by_kind="customer",
        uploaded_by_id=alice.id,
    )
    return {
        "Complaint": complaint.id,
        "ComplaintResolution": resolution.id,
        "ComplaintRemedy": remedy.id,
        "ComplaintRootCause": cause.id,
        "ComplaintAttachment": attachment.id,
    }


async def _crisis_objects(supervisor: Any, complaint_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """An incident opened by hand about Alice's complaint, and a rule."""
    manager = Actor(kind=SubjectKind.STAFF, subject_id=supervisor.id, role=supervisor.role)
    incident = await open_incident(manager, "理赔集中投诉", CrisisSeverity.HIGH, [complaint_id])
    await ensure_default_rules()
    return {
        "CrisisIncident": incident.id,
        "CrisisRule": (await CrisisRule.get(code="CLASS_SPIKE")).id,
    }


async def _document_objects(
    services: Services, alice: Any, policy: m.Policy, order: PaymentOrder
) -> dict[str, uuid.UUID]:
    """Alice's e-policy, and her e-invoice request for her order (marked paid)."""
    await PaymentOrder.filter(id=order.id).update(status=OrderStatus.PAID)
    document = await issue_policy_document(services.documents, policy.id)
    invoice = await InvoiceRequest.create(
        number="FP20261202999999",
        order=order,
        customer=alice,
        title_kind=InvoiceTitleKind.PERSONAL,
        title="爱丽丝",
        amount=order.amount,
        provider="sandbox",
        live_key=str(order.id),
    )
    return {"PolicyDocument": document.id, "InvoiceRequest": invoice.id}


async def _conversation_objects(alice: Any) -> dict[str, uuid.UUID]:
    """Alice's online-service conversation, a message in it, and an agent's presence."""
    conversation = await Conversation.create(
        customer=alice, channel=ConversationChannel.APP, status=ConversationStatus.BOT
    )
    message = await ConversationMessage.create(
        conversation=conversation, seq=1, author=MessageAuthor.CUSTOMER, text="理赔进度"
    )
    staff = await make_staff(StaffRole.AGENT)
    presence = await AgentPresence.create(staff=staff, status=PresenceStatus.AVAILABLE)
    return {
        "Conversation": conversation.id,
        "ConversationMessage": message.id,
        "AgentPresence": presence.id,
    }


async def _application(alice: Any, policy: m.Policy) -> uuid.UUID:
    """Alice's application for a policy, waiting for an underwriter."""
    application = await PolicyApplication.create(
        number="TB20261202999999",
        kind=ApplicationKind.NEW,
        customer=alice,
        product_id=policy.product_id,
        plan_name="基础版",
        status=ApplicationStatus.REFERRED,
        insured_relation="SELF",
        insured_name=alice.name,
        insured_id_encrypted="x",
        insured_id_hash="x",
        insured_id_masked="110***********0011",
        insured_birth_date=date(1990, 1, 1),
        insured_sex="FEMALE",
        sum_insured=Decimal("500000.00"),
        premium=Decimal("100.00"),
        starts_at=policy.starts_at,
        ends_at=policy.ends_at,
        reasons=["两年内住院史"],
    )
    return application.id


def test_every_node_type_has_a_guarded_resolver_and_a_test() -> None:
    """Adding a Node type without deciding who may see it fails here."""
    schema = build_schema()
    node_types = {
        t.name
        for t in schema._schema.type_map.values()
        if getattr(t, "interfaces", None) and any(i.name == "Node" for i in t.interfaces)
    }
    assert node_types == set(NODE_RESOLVERS)
    assert node_types == set(NOT_VISIBLE_TO_MALLORY)


async def _risk_and_commitment_objects(alice: Any, claim_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """A risk signal about Alice's claim and its rule (RISK_REVIEW staff only); a promise
    made on her claim (hers) and the promise itself (public)."""
    await risk_evaluate.ensure_default_rules()
    rule = await RiskRule.get(code="EARLY_CLAIM")
    now = datetime.now(UTC)
    signal = await RiskSignal.create(
        number="FX20261202999999",
        rule=rule,
        kind=rule.kind,
        severity=rule.severity,
        status=RiskSignalStatus.NEW,
        subject_kind=RiskSubjectKind.CLAIM,
        subject_key=str(claim_id),
        customer_id=alice.id,
        evidence_key="x",
        summary="生效后短期出险",
        first_seen_at=now,
        last_seen_at=now,
    )
    commitment = await ServiceCommitment.create(
        code="TEST_PROMISE",
        rule=CommitmentRule.CLAIM_DECISION,
        title="承诺1个工作日内审核",
        working_days=1,
    )
    case = await CommitmentCase.create(
        commitment=commitment,
        subject_type="claim",
        subject_id=claim_id,
        customer_id=alice.id,
        started_at=now,
        deadline=now,
    )
    return {
        "RiskRule": rule.id,
        "RiskSignal": signal.id,
        "ServiceCommitment": commitment.id,
        "CommitmentCase": case.id,
    }


async def _team_objects(agent: Any, supervisor: Any, claim_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """The supervisor's team with the agent in it; the agent's leave, certificate and a
    quality review of their work (theirs and their supervisor's to see); a course and a
    certificate requirement (any staff)."""
    from models import team as t

    team = await t.Team.create(name="测试组", supervisor_id=supervisor.id)
    skill = await t.TeamSkill.create(team=team, kind=t.SkillKind.LANGUAGE, value="粤语")
    await t.TeamMember.create(team=team, staff_id=agent.id)
    now = datetime.now(UTC)
    leave = await t.StaffLeave.create(staff_id=agent.id, starts_at=now, ends_at=now)
    course = await t.Course.create(
        code="T",
        name="测试课程",
        certificate_kind=t.CertificateKind.SERVICE_BASICS,
        valid_months=12,
    )
    certificate = await t.Certificate.create(
        staff_id=agent.id,
        kind=t.CertificateKind.SERVICE_BASICS,
        number="ZS-TEST-1",
        issued_on=now.date(),
        expires_on=now.date(),
    )
    requirement = await t.CertificateRequirement.create(
        permission="survey:export", kind=t.CertificateKind.SERVICE_BASICS
    )
    review = await t.QualityReview.create(
        subject_kind=t.ReviewSubject.CLAIM,
        subject_id=claim_id,
        staff_id=agent.id,
        reviewer_id=supervisor.id,
        scores={"courtesy": 20},
        score=20,
    )
    return {
        "Team": team.id,
        "TeamSkill": skill.id,
        "StaffLeave": leave.id,
        "Course": course.id,
        "Certificate": certificate.id,
        "CertificateRequirement": requirement.id,
        "QualityReview": review.id,
    }


async def _membership_objects(alice: Any) -> dict[str, uuid.UUID]:
    """Alice's membership, a ledger entry, a redemption and a health task she did."""
    from models.membership import HealthTask, MembershipRuleSet, PointsEntry, Redemption
    from workflows.membership import award_points
    from workflows.membership.health import complete_task, ensure_programmes
    from workflows.membership.ledger import ensure_rewards, redeem
    from workflows.membership.standing import membership_of
    from workflows.membership.store import rule_set

    membership = await membership_of(alice.id)
    await award_points(alice.id, 500, "test:alice", "测试")
    await ensure_rewards()
    await ensure_programmes()
    reward = await m_reward("CAR_WASH")
    redemption, _ = await redeem(alice.id, reward, "alice-key-1")
    task = await HealthTask.get(code="READ_REPORT")
    completion, _ = await complete_task(alice.id, task.id, None)
    await rule_set()
    return {
        "Membership": membership.id,
        "PointsEntry": (await PointsEntry.get(source="test:alice")).id,
        "MembershipReward": reward,
        "PointsRedemption": (await Redemption.get(id=redemption.id)).id,
        "HealthProgramme": task.programme_id,
        "HealthTask": task.id,
        "HealthTaskCompletion": completion.id,
        "MembershipRules": (await MembershipRuleSet.get(code="default")).id,
    }


async def m_reward(code: str) -> uuid.UUID:
    from models.membership import Reward

    return (await Reward.get(code=code)).id


NOT_VISIBLE_TO_MALLORY = {
    "Policy": True,
    "Product": False,  # the product catalogue is public to every logged-in user
    "Coverage": True,
    "InsuredPerson": True,
    "Beneficiary": True,
    "PremiumInstallment": True,
    "Customer": True,
    "StaffMember": True,
    "Notification": True,
    "Claim": True,
    "ClaimPayoutShare": True,
    "ClaimDocument": True,
    "PaymentOrder": True,
    "PaymentRefund": True,
    "Device": True,
    "NotificationPreference": True,
    "Survey": True,
    "ServiceRating": True,
    "RecoveryTask": True,
    "FollowUpVisit": True,
    "MyVisit": True,
    "VisitRule": True,
    "Complaint": True,
    "CrisisIncident": True,
    "CrisisRule": True,
    "ComplaintResolution": True,
    "ComplaintRemedy": True,
    "ComplaintRootCause": True,
    "ComplaintAttachment": True,
    "KnowledgeEntry": True,  # a draft: editors only (published ones: any logged-in reader)
    "Conversation": True,
    "ConversationMessage": True,
    "AgentPresence": True,
    "ServicePlan": True,
    "PolicyDocument": True,  # the holder's and the insured's (e-policy), staff's
    "InvoiceRequest": True,
    "Endorsement": True,
    "PolicyApplication": True,
    "ServiceBooking": True,
    "BenefitService": False,  # the active catalogue is public to every logged-in user
    "Partner": True,  # staff (BENEFIT_MANAGE) only
    "Membership": True,  # the customer's own; staff who read customers
    "PointsEntry": True,
    "MembershipReward": False,  # the rewards catalogue: any logged-in user
    "PointsRedemption": True,
    "HealthProgramme": False,  # programmes and tasks: any logged-in user
    "HealthTask": False,
    "HealthTaskCompletion": True,
    "MembershipRules": True,  # MEMBERSHIP_MANAGE only
    "RiskSignal": True,  # RISK_REVIEW staff only
    "RiskRule": True,
    "CommitmentCase": True,  # the customer it was promised to; staff with SURVEY_READ
    "ServiceCommitment": False,  # the promises are public
    "PiiAccessRecord": True,  # auditors (AUDIT_READ: admins) only
    "PiiRevealAlert": True,
    "MarketingConsent": True,  # the customer's own
    "DataExport": True,
    "DataDeletionRequest": True,  # the customer's own; auditors
    "StaffSession": True,  # admins (SESSION_MANAGE) only
    "RetentionRun": True,  # auditors (AUDIT_READ) only
    "PiiKeyRotation": True,
    "Team": True,  # staff who read the directory (STAFF_READ)
    "TeamSkill": True,
    "StaffLeave": True,  # the person, their supervisor, TEAM_MANAGE
    "Certificate": True,
    "QualityReview": True,
    "Course": True,  # any staff member
    "CertificateRequirement": True,
}


@pytest.mark.parametrize("type_name", sorted(NOT_VISIBLE_TO_MALLORY))
async def test_node_of_someone_else_answers_like_a_missing_object(
    client: httpx.AsyncClient, world: World, type_name: str
) -> None:
    real = gid(type_name, world.objects[type_name])
    missing = gid(type_name, uuid.uuid4())
    theirs = await client.post(
        "/graphql",
        json={"query": NODE, "variables": {"id": real}},
        headers={"authorization": f"Bearer {world.tokens['mallory']}"},
    )
    absent = await client.post(
        "/graphql",
        json={"query": NODE, "variables": {"id": missing}},
        headers={"authorization": f"Bearer {world.tokens['mallory']}"},
    )
    assert absent.json() == {"data": {"node": None}}
    if NOT_VISIBLE_TO_MALLORY[type_name]:
        assert theirs.status_code == absent.status_code
        assert theirs.json() == absent.json()
    else:
        assert theirs.json()["data"]["node"]["__typename"] == type_name


@pytest.mark.parametrize(
    "type_name",
    ["Policy", "Product", "Coverage", "InsuredPerson", "Beneficiary", "PremiumInstallment"],
)
async def test_people_on_the_policy_see_its_nodes(
    client: httpx.AsyncClient, world: World, type_name: str
) -> None:
    real = gid(type_name, world.objects[type_name])
    for who in ("alice", "bob", "carol", "agent"):
        body = await gql(client, NODE, {"id": real}, token=world.tokens[who])
        assert body["data"]["node"]["__typename"] == type_name, who


async def test_customer_nodes_are_visible_to_themselves_and_to_staff(
    client: httpx.AsyncClient, world: World
) -> None:
    alice_id = gid("Customer", world.objects["Customer"])
    for who, visible in (("alice", True), ("bob", False), ("agent", True)):
        body = await gql(client, NODE, {"id": alice_id}, token=world.tokens[who])
        assert (body["data"]["node"] is not None) is visible, who


async def test_notifications_are_visible_to_their_customer_and_to_staff(
    client: httpx.AsyncClient, world: World
) -> None:
    notification = gid("Notification", world.objects["Notification"])
    for who, visible in (("alice", True), ("bob", False), ("agent", True)):
        body = await gql(client, NODE, {"id": notification}, token=world.tokens[who])
        assert (body["data"]["node"] is not None) is visible, who


async def test_a_payout_share_is_its_beneficiarys_and_staffs_to_see(
    client: httpx.AsyncClient, world: World
) -> None:
    """Whose money a share is and where it goes: not the claimant's (nor the holder's)."""
    share = gid("ClaimPayoutShare", world.objects["ClaimPayoutShare"])
    for who, visible in (("carol", True), ("supervisor", True), ("alice", False), ("bob", False)):
        body = await gql(client, NODE, {"id": share}, token=world.tokens[who])
        assert (body["data"]["node"] is not None) is visible, who


# Who sees each node (the rules of the field that lists it), and who of the others
# asks and gets null like for a missing object. A field of each is read as well.
SEEN_BY: dict[str, tuple[set[str], set[str], str]] = {
    "ClaimDocument": ({"alice", "agent"}, {"bob", "mallory"}, "url thumbnailUrl fileName"),
    "PaymentRefund": ({"alice", "agent"}, {"bob", "mallory"}, "refundNumber status"),
    "Device": ({"alice"}, {"bob", "agent", "supervisor"}, "platform registeredAt"),
    "NotificationPreference": (
        {"alice"},
        {"bob", "agent", "supervisor"},
        "kind channels availableChannels",
    ),
    "Survey": ({"alice"}, {"bob", "agent", "supervisor"}, "title questions { key }"),
    "ServiceRating": ({"alice"}, {"bob", "agent", "supervisor"}, "stars"),
    "RecoveryTask": ({"supervisor"}, {"alice", "agent"}, "reason customerPhone"),
    "FollowUpVisit": ({"agent", "supervisor"}, {"alice", "bob"}, "purpose attemptLog { note }"),
    "MyVisit": ({"alice"}, {"bob", "agent", "supervisor"}, "purpose policyNumber"),
    "VisitRule": ({"supervisor"}, {"agent", "alice"}, "trigger version"),
    "ServiceBooking": (
        {"alice", "supervisor"},
        {"bob", "carol", "agent", "mallory"},
        "number state service { code }",
    ),
    "Partner": ({"supervisor"}, {"alice", "agent"}, "code baseUrl"),
    "Complaint": (
        {"alice", "agent", "supervisor"},
        {"bob", "carol", "mallory"},
        "number status timeline { action }",
    ),
    "CrisisIncident": (
        {"supervisor"},
        {"alice", "agent", "mallory"},
        "number status complaintCount complaints { number } timeline { action }",
    ),
    "CrisisRule": ({"supervisor"}, {"alice", "agent"}, "code threshold"),
    "ComplaintResolution": (
        {"alice", "agent", "supervisor"},
        {"bob", "carol", "mallory"},
        "status explanation remedies { kind }",
    ),
    "ComplaintRemedy": ({"alice", "agent", "supervisor"}, {"bob", "mallory"}, "kind note"),
    # An internal finding: staff only, never the complaining customer.
    "ComplaintRootCause": ({"agent", "supervisor"}, {"alice", "bob", "mallory"}, "category dueOn"),
    "ComplaintAttachment": ({"alice", "agent", "supervisor"}, {"bob", "mallory"}, "fileName url"),
    "KnowledgeEntry": (
        {"agent", "supervisor"},
        {"alice", "bob", "mallory"},
        "code status variants",
    ),
    "Conversation": (
        {"alice", "agent", "supervisor"},
        {"bob", "carol", "mallory"},
        "status messages { text }",
    ),
    "ConversationMessage": (
        {"alice", "agent", "supervisor"},
        {"bob", "carol", "mallory"},
        "seq author text",
    ),
    "AgentPresence": ({"agent", "supervisor"}, {"alice", "bob"}, "status maxConcurrent"),
    # The customer's own; staff who work visits once a visit carries it (logged).
    "ServicePlan": (
        {"alice", "agent", "supervisor"},
        {"bob", "carol", "mallory"},
        "ruleVersion gaps { code facts { value } } suggestedProducts { interested }",
    ),
    # A change of Alice's policy: its holder, its insured (who may have to consent) and
    # staff who read policies; not its beneficiary.
    "Endorsement": (
        {"alice", "bob", "agent", "supervisor"},
        {"carol", "mallory"},
        "number status consentRequired timeline { action }",
    ),
    # The holder's; underwriters (UNDERWRITE) see every one; an agent does not.
    "PolicyApplication": (
        {"alice", "supervisor"},
        {"bob", "carol", "mallory", "agent"},
        "number status insuredIdNumber underwritingNotes",
    ),
    # The customer's own; staff who read customers (CUSTOMER_READ).
    "Membership": ({"alice", "agent", "supervisor"}, {"bob", "carol", "mallory"}, "tier"),
    "PointsEntry": ({"alice", "agent", "supervisor"}, {"bob", "mallory"}, "points reason"),
    "PointsRedemption": ({"alice", "agent", "supervisor"}, {"bob", "mallory"}, "voucherCode"),
    "HealthTaskCompletion": ({"alice", "agent", "supervisor"}, {"bob", "mallory"}, "value"),
    "MembershipRules": ({"supervisor"}, {"alice", "agent"}, "version graceDays"),
    # Auditors only: not the staff member read about, nor their supervisor.
    "PiiAccessRecord": ({"admin"}, {"alice", "agent", "supervisor"}, "purpose field"),
    "PiiRevealAlert": ({"admin"}, {"alice", "agent", "supervisor"}, "revealCount"),
    "MarketingConsent": ({"alice"}, {"bob", "agent", "supervisor", "admin"}, "given"),
    "DataExport": ({"alice"}, {"bob", "agent", "supervisor", "admin"}, "status url"),
    "DataDeletionRequest": ({"alice", "admin"}, {"bob", "agent", "supervisor"}, "kept { kind }"),
    "StaffSession": ({"admin"}, {"alice", "agent", "supervisor"}, "username channel"),
    "RetentionRun": ({"admin"}, {"alice", "agent", "supervisor"}, "day counts { kind deleted }"),
    "PiiKeyRotation": ({"admin"}, {"alice", "agent", "supervisor"}, "key columnsTotal"),
    # Teams: STAFF_READ (the supervisor), not an agent, never a customer.
    "Team": ({"supervisor"}, {"alice", "agent"}, "name members { username } skills { value }"),
    "TeamSkill": ({"supervisor"}, {"alice", "agent"}, "kind value"),
    # The agent's own, and their team's supervisor's; nobody else's.
    "StaffLeave": ({"agent", "supervisor"}, {"alice", "mallory"}, "startsAt reason"),
    "Certificate": ({"agent", "supervisor"}, {"alice", "mallory"}, "number valid daysLeft"),
    "QualityReview": ({"agent", "supervisor"}, {"alice", "mallory"}, "score items { key }"),
    "Course": ({"agent", "supervisor"}, {"alice", "mallory"}, "code validMonths"),
    "CertificateRequirement": ({"agent", "supervisor"}, {"alice"}, "permission kind"),
}


@pytest.mark.parametrize("type_name", sorted(SEEN_BY))
async def test_owners_and_permitted_staff_see_a_node_and_nobody_else(
    client: httpx.AsyncClient, world: World, type_name: str
) -> None:
    seen_by, hidden_from, fields = SEEN_BY[type_name]
    real = gid(type_name, world.objects[type_name])
    query = (
        f"query($id: ID!) {{ node(id: $id) {{ id __typename ... on {type_name} {{ {fields} }} }} }}"
    )
    for who in sorted(seen_by | hidden_from):
        node = (await gql(client, query, {"id": real}, token=world.tokens[who]))["data"]["node"]
        if who in seen_by:
            assert node is not None, who
            assert (node["id"], node["__typename"]) == (real, type_name), who
        else:
            assert node is None, who


async def test_a_customers_visit_and_the_staff_view_of_it_are_two_nodes(
    client: httpx.AsyncClient, world: World
) -> None:
    """The same row: a cache must not merge the customer's view into the staff's."""
    mine = (await gql(client, "{ myVisits { id } }", token=world.tokens["alice"]))["data"]
    staff = await gql(
        client, "{ followUpVisits { edges { node { id } } } }", token=world.tokens["agent"]
    )
    assert mine["myVisits"] == [{"id": gid("MyVisit", world.objects["MyVisit"])}]
    assert staff["data"]["followUpVisits"]["edges"] == [
        {"node": {"id": gid("FollowUpVisit", world.objects["FollowUpVisit"])}}
    ]


async def test_staff_member_nodes_need_the_staff_read_permission(
    client: httpx.AsyncClient, world: World
) -> None:
    supervisor_id = gid("StaffMember", world.objects["StaffMember"])
    assert (await gql(client, NODE, {"id": supervisor_id}, token=world.tokens["agent"]))["data"][
        "node"
    ] is None
    assert (await gql(client, NODE, {"id": supervisor_id}, token=world.tokens["supervisor"]))[
        "data"
    ]["node"] == {"id": supervisor_id, "__typename": "StaffMember"}


async def test_policy_field_and_number_lookup_hide_other_peoples_policies(
    client: httpx.AsyncClient, world: World
) -> None:
    policy = world.policy
    real = gid("Policy", policy.id)
    missing = gid("Policy", uuid.uuid4())
    for query, variables in (
        (POLICY, ({"id": real}, {"id": missing})),
        (BY_NUMBER, ({"n": policy.number}, {"n": "AXT9999999999"})),
    ):
        theirs = await gql(client, query, variables[0], token=world.tokens["mallory"])
        absent = await gql(client, query, variables[1], token=world.tokens["mallory"])
        assert theirs == absent
        assert list(theirs["data"].values()) == [None]
    # A global ID of another type is not a policy.
    coverage = gid("Coverage", world.objects["Coverage"])
    assert (await gql(client, POLICY, {"id": coverage}, token=world.tokens["alice"]))["data"] == {
        "policy": None
    }


async def test_roles_on_a_policy(client: httpx.AsyncClient, world: World) -> None:
    real = gid("Policy", world.policy.id)
    roles = {}
    for who in ("alice", "bob", "carol", "agent"):
        roles[who] = (await gql(client, POLICY, {"id": real}, token=world.tokens[who]))["data"][
            "policy"
        ]["myRoles"]
    assert roles == {
        "alice": ["HOLDER", "INSURED"],
        "bob": ["INSURED"],
        "carol": ["BENEFICIARY"],
        "agent": [],
    }


async def test_my_policies_lists_only_mine(client: httpx.AsyncClient, world: World) -> None:
    query = "{ myPolicies { totalCount edges { node { number myRoles } } } }"
    for who in ("alice", "bob", "carol"):
        body = await gql(client, query, token=world.tokens[who])
        edges = body["data"]["myPolicies"]["edges"]
        assert [e["node"]["number"] for e in edges] == [world.policy.number], who
    mallory = await gql(client, query, token=world.tokens["mallory"])
    assert mallory["data"]["myPolicies"]["totalCount"] == 1
    assert mallory["data"]["myPolicies"]["edges"][0]["node"]["number"] != world.policy.number


async def test_staff_cannot_use_customer_only_fields(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await gql(
        client, "{ myPolicies { totalCount } }", token=world.tokens["agent"], allow_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_customers_cannot_search_policies(client: httpx.AsyncClient, world: World) -> None:
    query = '{ searchPolicies(input: {number: "X"}) { totalCount } }'
    body = await gql(client, query, token=world.tokens["alice"], allow_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["data"] is None


async def test_a_published_knowledge_entry_is_readable_by_customers_without_editor_fields(
    client: httpx.AsyncClient, world: World
) -> None:
    """An assistant reply cites it: the customer follows the link and reads the published
    question and answer, never the working copy, variants or counts."""
    from models.knowledge import KnowledgeVersion

    entry = await KnowledgeEntry.get(id=world.objects["KnowledgeEntry"])
    await KnowledgeVersion.create(
        entry=entry,
        version=1,
        status=EntryStatus.PUBLISHED,
        category="服务",
        question="已发布的问题",
        variants=["另一种问法"],
        answer="已发布的回答",
    )
    entry.published_version, entry.question, entry.answer = 1, "编辑中的问题", "编辑中的回答"
    await entry.save()
    query = (
        "query($id: ID!) { node(id: $id) { ... on KnowledgeEntry "
        "{ question answer status variants helpful } } }"
    )
    node = (
        await gql(
            client, query, {"id": gid("KnowledgeEntry", entry.id)}, token=world.tokens["mallory"]
        )
    )["data"]["node"]
    assert node == {
        "question": "已发布的问题",
        "answer": "已发布的回答",
        "status": None,
        "variants": None,
        "helpful": None,
    }


async def test_the_e_policy_is_for_the_holder_the_insured_and_staff(
    client: httpx.AsyncClient, world: World
) -> None:
    """A beneficiary sees the policy but not its documents (premiums, other people)."""
    document = gid("PolicyDocument", world.objects["PolicyDocument"])
    for who, visible in (("alice", True), ("bob", True), ("carol", False), ("agent", True)):
        body = await gql(client, NODE, {"id": document}, token=world.tokens[who])
        assert (body["data"]["node"] is not None) is visible, who
