"""A page costs as many SQL statements with 12 rows as with 2: every list and object that
hangs off a claim, a payment order or a notification is read through the request's
DataLoaders, one query per field for the whole page, not one per row."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from api.services import Services
from models.claims import (
    Claim,
    ClaimDocument,
    ClaimEvent,
    ClaimLine,
    ClaimStatus,
    InvestigationNote,
)
from models.customers import Customer
from models.notifications import Channel, Delivery, DeliveryStatus, Notification
from models.payments import (
    OrderStatus,
    PaymentOrder,
    Payout,
    PayoutStatus,
    Refund,
    RefundReason,
    RefundStatus,
)
from models.policies import Coverage, Policy, PremiumInstallment
from models.staff import StaffRole, StaffUser
from tests.claims_helpers import auto_product, gid
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.sql_counter import QueryCounter

_serial = itertools.count(1)

CLAIM_FIELDS = """
  id reportNumber status statusName version lossType lossAt approvedAmount { amount }
  rejection { reason reasonName } moreInfoRequest { items reason }
  policy { id number product { name } }
  timeline { action fromStatus toStatus note at }
  checklist { code name required }
  missingDocuments
  documents { checklistCode fileName contentType size url thumbnailUrl uploadedAt }
  payouts { transferNumber provider amount { amount } status payee reason }
  decisionLines { coverageName claimedAmount { amount } approvedAmount { amount } reason }
"""
CLAIM_QUEUE = f"""query($first: Int) {{ claimQueue(first: $first) {{ totalCount edges {{ node {{
  {CLAIM_FIELDS}
  possibleDuplicate fraudFlag fraudSignals pendingApproval overdue assigneeId
  investigationNotes {{ text authorId at }}
}} }} }} }}"""
MY_CLAIMS = f"""query($first: Int) {{ myClaims(first: $first) {{ totalCount edges {{ node {{
  {CLAIM_FIELDS}
}} }} }} }}"""
MY_PAYMENTS = """query($first: Int) { myPayments(first: $first) { totalCount edges { node {
  id orderNumber status method amount { amount currency } createdAt expiresAt paidAt
  checkout { key value } policyNumber
  refunds { refundNumber amount { amount } reason status createdAt }
} } } }"""
NOTIFICATIONS = """query($first: Int) { notifications(first: $first) { totalCount edges { node {
  id kind title body deepLink miniProgramPage urgent read createdAt
} } } }"""
CUSTOMER_NOTIFICATIONS = """query($customer: ID!, $first: Int) {
  customerNotifications(customerId: $customer, first: $first) { edges { node {
    id kind title read createdAt
    deliveries { channel status attempts lastError nextAttemptAt sentAt }
} } } }"""

STATUSES = [ClaimStatus.DOCUMENTS_PENDING, ClaimStatus.UNDER_REVIEW, ClaimStatus.APPROVED]


async def claim_with_history(
    customer: Customer, policy: Policy, staff: StaffUser, status: ClaimStatus
) -> Claim:
    """A claim as it looks some way into its life: steps, files, a decision, a note and
    a payout (rows written directly: only their reading is measured here)."""
    now = datetime.now(UTC)
    claim = await make_claim(
        customer,
        policy,
        status,
        submitted_at=now - timedelta(days=2),
        decided_at=now if status is ClaimStatus.APPROVED else None,
        approved_amount=Decimal("800.00"),
    )
    for action, before, after in (
        ("report", None, ClaimStatus.REPORTED),
        ("submit", ClaimStatus.REPORTED, status),
    ):
        await ClaimEvent.create(
            claim=claim, actor_kind="customer", action=action, from_status=before, to_status=after
        )
    for code in ("D01", "D02"):
        n = next(_serial)
        await ClaimDocument.create(
            claim=claim,
            checklist_code=code,
            storage_key=f"claims/{n}.jpg",
            thumbnail_key=f"claims/{n}-thumb.jpg",
            content_type="image/jpeg",
            size=1024,
            sha256=f"{n:064x}",
            original_sha256=f"{n:064x}",
            width=800,
            height=600,
            file_name=f"photo{n}.jpg",
            uploaded_by_kind="customer",
        )
    coverage = await Coverage.get(policy_id=policy.id)
    await ClaimLine.create(
        claim=claim,
        coverage=coverage,
        claimed_amount=Decimal("1300.00"),
        deductible_applied=Decimal("500.00"),
        approved_amount=Decimal("800.00"),
        reason="按条款赔付",
    )
    await InvestigationNote.create(claim=claim, author=staff, text="已电话核实")
    await Payout.create(
        claim=claim,
        transfer_number=f"TR{next(_serial):012d}",
        provider="sandbox",
        payee_encrypted="k1:sealed",
        payee_masked="测试账户 208****0001",
        amount=Decimal("800.00"),
        status=PayoutStatus.FAILED,
        failure_reason="账户异常",
    )
    return claim


async def paid_order(customer: Customer, policy: Policy) -> PaymentOrder:
    installment = await PremiumInstallment.filter(policy_id=policy.id).first()
    assert installment is not None
    now = datetime.now(UTC)
    order = await PaymentOrder.create(
        order_number=f"PO{next(_serial):012d}",
        customer=customer,
        policy=policy,
        installment=installment,
        provider="sandbox",
        method="SANDBOX",
        amount=Decimal("600.00"),
        status=OrderStatus.PAID,
        checkout={"orderNumber": "x"},
        expires_at=now + timedelta(minutes=30),
        paid_at=now,
    )
    for _ in range(2):
        await Refund.create(
            order=order,
            refund_number=f"RF{next(_serial):012d}",
            amount=Decimal("100.00"),
            reason=RefundReason.PAID_IN_ERROR,
            status=RefundStatus.SUCCESS,
        )
    return order


async def inbox_entry(customer: Customer) -> Notification:
    entry = await Notification.create(
        customer=customer,
        event_id=uuid.uuid4(),
        kind="claim.decided",
        title="理赔结果",
        body="您的理赔已有结果",
        deep_link="anxin://claims",
        mini_program_page="pages/claims/index",
    )
    for channel in (Channel.APNS, Channel.SMS):
        await Delivery.create(
            notification=entry,
            channel=channel,
            target=f"t{next(_serial)}",
            status=DeliveryStatus.SENT,
            attempts=1,
        )
    return entry


async def statements(
    client: httpx.AsyncClient,
    counter: QueryCounter,
    query: str,
    token: str,
    **variables: object,
) -> int:
    counter.statements.clear()
    body = await gql(client, query, {"first": 100, **variables}, token=token)
    (connection,) = body["data"].values()
    assert connection["edges"]
    return len(counter.statements)


@pytest.fixture
async def people(services: Services) -> tuple[Customer, StaffUser]:
    return await make_customer(services), await make_staff(StaffRole.SUPERVISOR)


async def test_the_claim_queue_and_my_claims_cost_the_same_for_2_or_12_claims(
    client: httpx.AsyncClient,
    services: Services,
    sql_counter: QueryCounter,
    people: tuple[Customer, StaffUser],
) -> None:
    customer, staff = people
    customer_jwt = await customer_token(services, customer)
    staff_jwt = await staff_token(services, staff)
    product = await auto_product()
    counts: dict[str, list[int]] = {"claimQueue": [], "myClaims": []}
    made = 0
    for size in (2, 12):
        while made < size:
            # Claims on several policies: the policy and its checklist are batched too.
            policy = await make_policy(services, customer, product=product)
            await claim_with_history(customer, policy, staff, STATUSES[made % len(STATUSES)])
            made += 1
        counts["claimQueue"].append(await statements(client, sql_counter, CLAIM_QUEUE, staff_jwt))
        counts["myClaims"].append(await statements(client, sql_counter, MY_CLAIMS, customer_jwt))
    # session (with the staff member and their missing certificates), page (with the
    # total), then one query each: policies with products, timelines, documents, payouts,
    # decision lines (with coverages), (staff:) notes.
    assert counts == {"claimQueue": [8, 8], "myClaims": [7, 7]}, counts


async def test_my_payments_and_notifications_cost_the_same_for_2_or_12_rows(
    client: httpx.AsyncClient,
    services: Services,
    sql_counter: QueryCounter,
    people: tuple[Customer, StaffUser],
) -> None:
    customer, staff = people
    customer_jwt = await customer_token(services, customer)
    staff_jwt = await staff_token(services, staff)
    customer_gid = gid("Customer", customer.id)
    counts: dict[str, list[int]] = {"myPayments": [], "notifications": [], "staff inbox": []}
    made = 0
    for size in (2, 12):
        while made < size:
            await paid_order(customer, await make_policy(services, customer))
            await inbox_entry(customer)
            made += 1
        counts["myPayments"].append(
            await statements(client, sql_counter, MY_PAYMENTS, customer_jwt)
        )
        counts["notifications"].append(
            await statements(client, sql_counter, NOTIFICATIONS, customer_jwt)
        )
        counts["staff inbox"].append(
            await statements(
                client, sql_counter, CUSTOMER_NOTIFICATIONS, staff_jwt, customer=customer_gid
            )
        )
    # session (with the staff member and their missing certificates), page (with the
    # total), then one query each: policies and refunds for orders, deliveries for the staff
    # view of the inbox.
    assert counts == {"myPayments": [4, 4], "notifications": [2, 2], "staff inbox": [3, 3]}, counts
