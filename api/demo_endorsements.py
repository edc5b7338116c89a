"""Demo changes of policies (保全): the products' service terms (surrender values,
reinstatement), and endorsements in several states for the demo customers, each made
through the workflow functions:

- 张伟's accident policy: beneficiaries changed to 李娜 (EFFECTIVE, he is the insured);
- 张伟's monthly health policy: payment frequency changed to quarterly (EFFECTIVE);
- 张伟's lapsed health policy (insured: his father 张建国, no account): a beneficiary
  change he withdrew (CANCELLED), and a reinstatement waiting for review (NEEDS_REVIEW);
- 李娜's health policy (insured also 张伟): a beneficiary change 张伟 refused (REJECTED),
  and another waiting for his consent (REQUESTED: log in as 13800000001 to consent);
- 李娜's accident policy (insured 张建国, no account): in the staff review queue;
- 陈静: contact details changed (EFFECTIVE).

No surrender is made here: the demo's policies carry the claims demo. `surrenderQuote`
answers for 张伟's home policy (HOME-2026 has a surrender-value table).
"""

from __future__ import annotations

from decimal import Decimal

from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from models.endorsements import Endorsement, ProductServiceTerms
from models.pii import PiiCipher
from models.policies import PaymentFrequency, Policy, PolicyStatus, Product, ProductKind
from workflows.access import Actor
from workflows.policy_service import endorsements as flow
from workflows.policy_service.beneficiaries import NewBeneficiary
from workflows.policy_service.contact import NewContact
from workflows.policy_service.reinstatement import HealthDeclaration

TERMS = {
    "HOME-2026": [{"year": 1, "percent": "60"}],  # 短期退保: the unearned premium, less costs
    "HEALTH-MILLION-2026": [],
    "ACCIDENT-PLUS-2026": [{"year": 1, "percent": "50"}],
}


def _person(pii: PiiCipher, customer: Customer, relation: str, share: str) -> NewBeneficiary:
    assert customer.id_number_encrypted is not None
    number = pii.decrypt(customer.id_number_encrypted, "id_number")
    return NewBeneficiary(customer.name, number, relation, Decimal(share))


async def seed_endorsements(services: Services) -> None:
    pii = services.pii
    for code, table in TERMS.items():
        product = await Product.get_or_none(code=code)
        if product is not None:
            await ProductServiceTerms.create(product=product, surrender_values=table)

    async def customer(phone: str) -> tuple[Actor, Customer]:
        row = await Customer.get(phone_hash=pii.phone_hash(phone))
        return Actor(kind=SubjectKind.CUSTOMER, subject_id=row.id), row

    async def policy(holder: Customer, kind: ProductKind, status: PolicyStatus) -> Policy:
        row = (
            await Policy.filter(holder_id=holder.id, product__kind=kind, status=status)
            .order_by("starts_at")
            .first()
        )
        assert row is not None, (holder.name, kind, status)
        return row

    zhangwei_actor, zhangwei = await customer("13800000001")
    lina_actor, lina = await customer("13800000002")
    chenjing_actor, _ = await customer("13800000005")
    keys = iter(range(1, 100))

    async def ask(actor: Actor, change: flow.ChangeRequest) -> Endorsement:
        return await flow.request_policy_change(
            services, services.transfer_providers, actor, change, f"demo-change-{next(keys):04d}"
        )

    accident = await policy(zhangwei, ProductKind.ACCIDENT, PolicyStatus.ACTIVE)
    await ask(
        zhangwei_actor,
        flow.ChangeRequest(accident.id, beneficiaries=[_person(pii, lina, "SPOUSE", "100.00")]),
    )
    monthly = await policy(zhangwei, ProductKind.HEALTH, PolicyStatus.ACTIVE)
    await ask(
        zhangwei_actor,
        flow.ChangeRequest(monthly.id, payment_frequency=PaymentFrequency.QUARTERLY),
    )
    lapsed = await policy(zhangwei, ProductKind.HEALTH, PolicyStatus.LAPSED)
    withdrawn = await ask(
        zhangwei_actor,
        flow.ChangeRequest(lapsed.id, beneficiaries=[_person(pii, lina, "OTHER", "100.00")]),
    )
    await flow.cancel(zhangwei_actor, withdrawn.id)
    await ask(
        zhangwei_actor,
        flow.ChangeRequest(
            lapsed.id, reinstatement=HealthDeclaration(True, "父亲近一年体检无异常")
        ),
    )
    lina_health = await policy(lina, ProductKind.HEALTH, PolicyStatus.ACTIVE)
    refused = await ask(
        lina_actor,
        flow.ChangeRequest(
            lina_health.id, beneficiaries=[_person(pii, zhangwei, "SPOUSE", "100.00")]
        ),
    )
    await flow.consent(pii, zhangwei_actor, refused.id, agree=False)
    await ask(
        lina_actor,
        flow.ChangeRequest(
            lina_health.id,
            beneficiaries=[
                _person(pii, zhangwei, "SPOUSE", "70.00"),
                _person(pii, lina, "OTHER", "30.00"),
            ],
        ),
    )
    lina_accident = await policy(lina, ProductKind.ACCIDENT, PolicyStatus.ACTIVE)
    await ask(
        lina_actor,
        flow.ChangeRequest(
            lina_accident.id, beneficiaries=[_person(pii, zhangwei, "OTHER", "100.00")]
        ),
    )
    chenjing_policy = (
        await Policy.filter(holder_id=chenjing_actor.subject_id).order_by("starts_at").first()
    )
    assert chenjing_policy is not None
    await ask(
        chenjing_actor,
        flow.ChangeRequest(
            chenjing_policy.id,
            contact=NewContact(
                email="chenjing@example.com", address="浙江省杭州市西湖区文三路90号"
            ),
        ),
    )
