"""Demo service commitments, made by the real workflows: 张伟's two small accident
claims are fast-tracked at submission (amount declared, documents complete). One is
decided and paid at once (both promises kept); the other is shown as submitted ten days
ago and never decided, so the sweep finds its promise broken and gives the goodwill
points and a call back. The other demo claims, complaints and conversations are
evaluated from their outbox events like any others."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ReportChannel
from models.customers import Customer
from models.policies import Coverage, InsuredPerson, Policy, PolicyStatus
from models.staff import StaffUser
from workflows import claim_documents, claims, commitments
from workflows.access import Actor
from workflows.claims.demo import PastSteps, backdate_claim

PHONE = "13800000001"  # 张伟
PRODUCT = "ACCIDENT-PLUS-2026"


async def _small_claim(services: Services, actor: Actor, policy: Policy, text: str) -> Claim:
    from api.demo import demo_photo  # the demo's own photo maker

    insured = await InsuredPerson.filter(policy_id=policy.id).order_by("position").first()
    outcome = await claims.report_loss(
        services.pii,
        actor,
        claims.LossReport(
            policy_id=policy.id,
            loss_type="ACCIDENTAL_INJURY",
            loss_at=datetime.now(UTC) - timedelta(hours=30),
            location="北京市朝阳区望京街",
            description=text,
            channel=ReportChannel.APP,
            contact_name="张伟",
            contact_phone=PHONE,
            insured_person_id=insured.id if insured else None,
        ),
    )
    assert outcome.claim is not None
    claim = outcome.claim
    codes = [d["code"] for d in await claims.claim_checklist(claim) if d["required"]]
    uploads = [
        claim_documents.Upload(code, f"{code}.jpg", io.BytesIO(demo_photo(700 + n)))
        for n, code in enumerate(codes)
    ]
    await claim_documents.add_documents(services.document_intake, actor, claim.id, uploads)
    return await claims.submit_claim(actor, claim.id, None, claimed_amount=Decimal("860.00"))


async def seed_commitments(services: Services) -> None:
    customer = await Customer.get(phone_hash=services.pii.phone_hash(PHONE))
    me = Actor(SubjectKind.CUSTOMER, customer.id)
    policy = await Policy.filter(
        holder_id=customer.id, product__code=PRODUCT, status=PolicyStatus.ACTIVE
    ).first()
    assert policy is not None
    staff = {u.username: u for u in await StaffUser.all()}
    adjuster, boss = staff["adjuster.wang"], staff["supervisor.zhao"]
    adjusting = Actor(SubjectKind.STAFF, adjuster.id, None, adjuster.role)
    supervising = Actor(SubjectKind.STAFF, boss.id, None, boss.role)

    # Kept: decided and paid the same day.
    kept = await _small_claim(services, me, policy, "跑步时摔倒擦伤膝盖，门诊清创包扎")
    kept = await claims.assign_claim(supervising, kept.id, adjuster.id, kept.version)
    coverage = await Coverage.filter(policy_id=policy.id, code="ACCIDENT_MEDICAL").first()
    assert coverage is not None
    kept = await claims.decide_claim(
        adjusting,
        kept.id,
        [claims.DecisionLine(coverage.id, Decimal("860.00"), Decimal("760.00"), "扣除免赔额100元")],
        kept.version,
        authority_limit=services.settings.adjuster_authority_limit,
    )
    await claims.record_payment(supervising, kept.id, "ICBC-20261201-0031", kept.version)

    # Broken: shown as reported and submitted ten days ago and never decided.
    late = await _small_claim(services, me, policy, "骑共享单车摔倒手腕扭伤，门诊拍片")
    late = await claims.assign_claim(supervising, late.id, adjuster.id, late.version)
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    await backdate_claim(
        late.id,
        PastSteps(reported_at=ten_days_ago - timedelta(hours=1), submitted_at=ten_days_ago),
        loss_before=timedelta(hours=30),
    )

    while await commitments.evaluate_events():
        pass
    await commitments.sweep()
