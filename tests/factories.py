"""Builders of test data through the real models (never mocks of our database)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, ClaimStatus, ReportChannel
from models.customers import Customer
from models.notifications import OutboxEvent
from models.payout_accounts import PayoutAccount
from models.policies import (
    Beneficiary,
    Coverage,
    InsuredPerson,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
    Product,
    ProductKind,
)
from models.staff import StaffRole, StaffUser
from push.outbox import emit
from workflows.auth import Channel, hash_password, start_session

_counter = itertools.count(1)


def unique_phone() -> str:
    return f"139{next(_counter):08d}"


def id_number(region: str, birth: str, sequence: str) -> str:
    """An 18-digit ID number with a correct ISO 7064 MOD 11-2 check digit (the tests' own,
    so they do not lean on the demo data)."""
    body = f"{region}{birth}{sequence}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def unique_id_number() -> str:
    return id_number("110101", "19900101", f"{next(_counter) % 1000:03d}")


async def make_customer(
    services: Services,
    name: str = "测试客户",
    phone: str | None = None,
    id_number_value: str | None = None,
) -> Customer:
    sealed_phone = services.pii.seal_phone(phone or unique_phone())
    ident = services.pii.seal_id_number(id_number_value or unique_id_number())
    return await Customer.create(
        name=name,
        phone_encrypted=sealed_phone.encrypted,
        phone_hash=sealed_phone.lookup_hash,
        phone_masked=sealed_phone.masked,
        id_number_encrypted=ident.encrypted,
        id_number_hash=ident.lookup_hash,
        id_number_masked=ident.masked,
    )


async def make_product(kind: ProductKind = ProductKind.AUTO, **fields: Any) -> Product:
    values: dict[str, Any] = {
        "code": f"P{next(_counter)}",
        "name": "测试产品",
        "kind": kind,
        "report_time_limit_hours": 48,
        "loss_types": [{"code": "COLLISION", "name": "碰撞", "documents": []}],
    }
    return await Product.create(**values | fields)


async def make_policy(
    services: Services,
    holder: Customer,
    *,
    product: Product | None = None,
    status: PolicyStatus = PolicyStatus.ACTIVE,
    insured: list[Customer] | None = None,
    beneficiaries: list[Customer] | None = None,
    installments: int = 2,
) -> Policy:
    product = product or await make_product()
    now = datetime.now(UTC)
    policy = await Policy.create(
        number=f"AXT{next(_counter):010d}",
        product=product,
        holder=holder,
        status=status,
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=335),
        issued_at=now - timedelta(days=31),
        sum_insured=Decimal("100000.00"),
        premium=Decimal("1200.00"),
        payment_frequency=PaymentFrequency.SEMI_ANNUAL,
    )
    await Coverage.create(
        policy=policy,
        code="MAIN",
        name="主险",
        sum_insured=Decimal("100000"),
        deductible=Decimal("500"),
        used_amount=Decimal("1000"),
    )
    for position, person in enumerate(insured or [holder]):
        sealed = services.pii.seal_id_number(unique_id_number())
        await InsuredPerson.create(
            policy=policy,
            customer=person,
            name=person.name,
            position=position,
            id_number_encrypted=sealed.encrypted,
            id_number_hash=sealed.lookup_hash,
            id_number_masked=sealed.masked,
            relation_to_holder="SELF",
        )
    for position, person in enumerate(beneficiaries or []):
        sealed = services.pii.seal_id_number(unique_id_number())
        await Beneficiary.create(
            policy=policy,
            customer=person,
            name=person.name,
            position=position,
            id_number_encrypted=sealed.encrypted,
            id_number_hash=sealed.lookup_hash,
            id_number_masked=sealed.masked,
            relation_to_insured="CHILD",
            share_percent=Decimal("100"),
        )
    today = date.today()
    for sequence in range(1, installments + 1):
        await PremiumInstallment.create(
            policy=policy,
            sequence=sequence,
            amount=Decimal("600.00"),
            due_date=today + timedelta(days=180 * (sequence - 1) - 30),
            paid_at=now if sequence == 1 else None,
        )
    return policy


async def make_claim(
    customer: Customer, policy: Policy, status: ClaimStatus, **fields: Any
) -> Claim:
    """A claim row as it stands in ``status``, without going through the workflow."""
    values: dict[str, Any] = {
        "report_number": f"BA20990101{next(_counter):06d}",
        "loss_type": "COLLISION",
        "loss_at": policy.starts_at,
        "loss_location": "上海",
        "description": "碰撞",
        "channel": ReportChannel.APP,
        "contact_name": customer.name,
        "contact_phone_encrypted": "x",
        "contact_phone_masked": "138****0000",
    }
    return await Claim.create(policy=policy, customer=customer, status=status, **values | fields)


async def make_staff(
    role: StaffRole = StaffRole.AGENT, username: str | None = None, password: str = "s3cret-pass"
) -> StaffUser:
    return await StaffUser.create(
        username=username or f"staff{next(_counter)}",
        display_name="测试员工",
        role=role,
        password_hash=hash_password(password),
    )


async def customer_token(services: Services, customer: Customer) -> str:
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.APP)
    return tokens.access_token


async def staff_token(services: Services, staff: StaffUser) -> str:
    tokens = await start_session(
        services, SubjectKind.STAFF, staff.id, Channel.STAFF_CONSOLE, role=staff.role
    )
    return tokens.access_token


async def emit_premium_event(
    customer: Customer, policy: Policy, event_type: str = "premium.due", **extra: Any
) -> OutboxEvent:
    """A premium event of ``customer``'s policy in the outbox, as the reminders write it."""
    async with in_transaction():
        return await emit(
            event_type,
            entity_type="policy",
            entity_id=policy.id,
            customer_id=customer.id,
            payload={
                "policy_id": "UG9saWN5OjE=",
                "policy_number": policy.number,
                "sequence": "2",
                "amount": "600.00",
                "due_date": "2026年12月01日",
                **extra,
            },
        )


def chosen_account(services: Services, provider: str, account: str) -> dict[str, Any]:
    """The claim fields of a payout account its payee chose (sealed, as stored)."""
    chosen = PayoutAccount(provider, account)
    return {
        "payout_provider": provider,
        "payout_account_encrypted": chosen.seal(services.pii),
        "payout_account_masked": chosen.masked,
    }
