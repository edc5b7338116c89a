"""Surveys as the customer meets them after a claim (issue 12)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.claims import ClaimStatus
from models.ids import global_id
from models.payments import OrderStatus, PaymentOrder
from models.policies import PremiumInstallment
from models.staff import StaffRole
from models.surveys import SurveyInvitation
from tests.factories import make_claim, make_customer, make_policy, make_staff
from workflows import claims, surveys
from workflows.access import Actor


async def test_a_paid_and_closed_claim_gets_one_survey_that_names_it(
    services: Services,
) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.PAYING, approved_amount=Decimal(800))
    adjuster = await make_staff(StaffRole.SUPERVISOR)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.SUPERVISOR)
    claim = await claims.record_payment(staff, claim.id, "BANK-1", claim.version)
    await claims.close_claim(staff, claim.id, claim.version)
    invitations = await SurveyInvitation.filter(subject_type="claim", subject_id=str(claim.id))
    assert [i.trigger for i in invitations] == ["payout.received"]
    assert invitations[0].product_kind == "AUTO"
    assert await surveys.subject_title(invitations[0]) == f"理赔案件{claim.report_number}"


async def test_a_rejected_claim_is_surveyed_at_closure(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    claim = await make_claim(customer, policy, ClaimStatus.REJECTED)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    staff = Actor(kind=SubjectKind.STAFF, subject_id=adjuster.id, role=StaffRole.ADJUSTER)
    await claims.close_claim(staff, claim.id, claim.version)
    assert await SurveyInvitation.filter(subject_id=str(claim.id)).values_list(
        "trigger", flat=True
    ) == ["claim.closed"]


async def test_partial_answers_to_an_answered_survey_are_already_answered(
    services: Services,
) -> None:
    customer = await make_customer(services)
    invitation = await surveys.invite(customer.id, "test", "claim", "c-1", "CLAIM_SERVICE")
    assert invitation is not None
    full = [surveys.Answer("q1", 5), surveys.Answer("q2", 9), surveys.Answer("q3", None, ("ok",))]
    await surveys.submit(invitation, full, "APP")
    assert (await surveys.submit(invitation, full, "APP")).invitation_id == invitation.id
    with pytest.raises(surveys.SurveyError) as refused:
        await surveys.submit(invitation, [surveys.Answer("q1", 5)], "APP")
    assert refused.value.code is surveys.SurveyErrorCode.ALREADY_ANSWERED


async def test_a_customer_rates_their_payment(services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    installment = await PremiumInstallment.filter(policy_id=policy.id).first()
    assert installment is not None
    order = await PaymentOrder.create(
        order_number="PO20261201000001",
        customer=customer,
        policy=policy,
        installment=installment,
        amount=installment.amount,
        provider="sandbox",
        method="SANDBOX",
        status=OrderStatus.PAID,
        expires_at=policy.ends_at,
    )
    rating = await surveys.rate(
        customer.id, "PAYMENT", global_id("PaymentOrder", order.id), 5, ["快"], ""
    )
    assert (rating.subject_type, rating.subject_id, rating.stars) == (
        "PAYMENT",
        str(order.id),
        5,
    )


async def test_a_survey_about_something_that_is_not_a_claim_id_names_nothing(
    services: Services,
) -> None:
    customer = await make_customer(services)
    invitation = await surveys.invite(customer.id, "test", "claim", "c-1", "CLAIM_SERVICE")
    assert invitation is not None
    assert await surveys.subject_title(invitation) is None
