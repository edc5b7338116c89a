"""Demo data for buying online and renewal: the accident, travel and million-yuan medical
products become online products with quote forms and rating tables (so every product a
service plan suggests can be quoted); 张伟 has an application for his
wife 李娜 waiting for an underwriter (a hospital stay declared), and an accident policy
bought online a year ago that ends in 20 days, so its renewal offer is open.

Everything goes through the workflow functions (apply, pay through the sandbox
callback); only the bought policy's dates are moved a year back afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.services import Services
from models.auth import SubjectKind
from models.clock import local_today
from models.customers import Customer
from models.payments import PaymentOrder
from models.policies import Policy, PolicyStatus, PremiumInstallment, Product
from models.policy_applications import PolicyApplication, RatingForm, RatingPlan
from payments.base import PaymentMethod
from payments.sandbox import SandboxProvider
from workflows.access import Actor
from workflows.payments.orders import create_premium_payment, handle_callback
from workflows.policy_service import applications

ACCIDENT = "ACCIDENT-PLUS-2026"
TRAVEL = "TRAVEL-ABROAD-2026"
MEDICAL = "HEALTH-MILLION-2026"

HEALTH = [
    {
        "code": "HOSPITAL",
        "text": "过去两年内是否因疾病住院或被建议住院？",
        "if_yes": "REFER",
        "reason": "两年内住院史，需人工核保",
    },
    {
        "code": "CANCER",
        "text": "是否曾患恶性肿瘤、白血病或淋巴瘤？",
        "if_yes": "DECLINE",
        "reason": "恶性肿瘤病史，不符合本产品投保条件",
    },
    {
        "code": "DISABILITY",
        "text": "是否有身体残疾或正在申请残疾鉴定？",
        "if_yes": "REFER",
        "reason": "身体残疾，需人工核保",
    },
]


async def _online_products() -> None:
    accident = await Product.get(code=ACCIDENT)
    travel = await Product.get(code=TRAVEL)
    await Product.filter(code__in=[ACCIDENT, TRAVEL, MEDICAL]).update(sold_online=True)
    await RatingForm.create(
        product=accident,
        occupation_factors={"1": "1.00", "2": "1.20", "3": "1.50", "4": "2.00"},
        health_questions=HEALTH,
        refer_above_sum_insured=Decimal("1000000"),
    )
    bands = [(18, 40), (41, 50), (51, 65)]
    for position, (code, name, death, medical, premiums, max_age, max_class) in enumerate(
        [
            ("BASIC", "基础版", "500000", "50000", ["128.00", "168.00", "238.00"], 65, 4),
            ("PLUS", "尊享版", "1000000", "100000", ["258.00", "338.00", "458.00"], 65, 3),
            ("TOP", "至尊版", "2000000", "200000", ["498.00", "668.00"], 50, 2),
        ]
    ):
        await RatingPlan.create(
            product=accident,
            code=code,
            name=name,
            position=position,
            coverages=[
                {
                    "code": "ACCIDENT_DEATH",
                    "name": "意外身故/伤残保险金",
                    "sum_insured": death,
                    "deductible": "0",
                },
                {
                    "code": "ACCIDENT_MEDICAL",
                    "name": "意外医疗保险金",
                    "sum_insured": medical,
                    "deductible": "100",
                },
            ],
            min_age=18,
            max_age=max_age,
            max_occupation_class=max_class,
            term_days=365,
            rates=[
                {"min_age": low, "max_age": high, "premium": premium}
                for (low, high), premium in zip(bands, premiums, strict=False)
            ],
        )
    await RatingForm.create(
        product=travel,
        occupation_factors={"1": "1.00", "2": "1.00", "3": "1.00", "4": "1.30"},
        destination_factors={
            "ASIA": {"name": "亚洲（不含日本）", "factor": "1.00"},
            "JAPAN": {"name": "日本", "factor": "1.20"},
            "SCHENGEN": {"name": "申根国家", "factor": "1.60"},
            "WORLDWIDE": {"name": "全球（含美加）", "factor": "2.20"},
        },
        health_questions=[],
        max_start_days=180,
    )
    for position, (code, name, medical, premiums) in enumerate(
        [
            ("ECONOMY", "经济型", "300000", ["35.00", "68.00", "128.00", "298.00"]),
            ("COMFORT", "舒适型", "600000", ["58.00", "108.00", "198.00", "458.00"]),
        ]
    ):
        await RatingPlan.create(
            product=travel,
            code=code,
            name=name,
            position=position,
            coverages=[
                {"code": "MEDICAL_ABROAD", "name": "境外医疗保险金", "sum_insured": medical},
                {"code": "FLIGHT_DELAY", "name": "航班延误", "sum_insured": "1000"},
                {"code": "BAGGAGE", "name": "行李损失", "sum_insured": "3000"},
            ],
            min_age=0,
            max_age=80,
            max_occupation_class=4,
            term_days=None,
            rates=[
                {"min_age": 0, "max_age": 80, "max_days": days, "premium": premium}
                for days, premium in zip([7, 15, 30, 90], premiums, strict=True)
            ],
        )


async def _medical_product() -> None:
    """百万医疗 for ages 0–70 (simple health: the same health declaration), priced by age
    band; occupation classes 5–6 are not offered."""
    medical = await Product.get(code=MEDICAL)
    await RatingForm.create(
        product=medical,
        occupation_factors={"1": "1.00", "2": "1.00", "3": "1.00", "4": "1.10"},
        health_questions=HEALTH,
    )
    bands = [(0, 17), (18, 40), (41, 50), (51, 60), (61, 70)]
    for position, (code, name, general, critical, premiums) in enumerate(
        [
            ("STANDARD", "标准版", "2000000", "3000000", ["168", "268", "498", "798", "1598"]),
            ("PREMIUM", "升级版", "3000000", "6000000", ["258", "398", "698", "1098", "2198"]),
        ]
    ):
        await RatingPlan.create(
            product=medical,
            code=code,
            name=name,
            position=position,
            coverages=[
                {
                    "code": "GENERAL_MEDICAL",
                    "name": "一般医疗保险金",
                    "sum_insured": general,
                    "deductible": "10000",
                },
                {
                    "code": "CRITICAL_MEDICAL",
                    "name": "重大疾病医疗保险金",
                    "sum_insured": critical,
                    "deductible": "0",
                },
            ],
            min_age=0,
            max_age=70,
            max_occupation_class=4,
            term_days=365,
            rates=[
                {"min_age": low, "max_age": high, "premium": f"{premium}.00"}
                for (low, high), premium in zip(bands, premiums, strict=True)
            ],
        )


async def _customer(services: Services, phone: str) -> Customer:
    return await Customer.get(phone_hash=services.pii.phone_hash(phone))


async def seed_policy_buy(services: Services) -> None:
    await _online_products()
    await _medical_product()
    accident = await Product.get(code=ACCIDENT)
    zhangwei = await _customer(services, "13800000001")
    lina = await _customer(services, "13800000002")
    me = Actor(SubjectKind.CUSTOMER, zhangwei.id)
    health = {"HOSPITAL": False, "CANCER": False, "DISABILITY": False}
    # 张伟 insures his wife 李娜, who declares a hospital stay: waiting for an underwriter.
    assert lina.id_number_encrypted is not None
    await applications.apply_for_policy(
        services.real_name,
        services.pii,
        me,
        applications.ApplyRequest(
            product_id=accident.id,
            plan_code="PLUS",
            start_date=local_today() + timedelta(days=7),
            occupation_class=1,
            relation="SPOUSE",
            insured=applications.PersonInput(
                lina.name, services.pii.decrypt(lina.id_number_encrypted, "id_number")
            ),
            health_answers=health | {"HOSPITAL": True},
        ),
        "demo-apply-referred",
    )
    # An accident policy 张伟 bought online, paid through the sandbox, a year ago.
    sandbox = services.payment_providers.get("sandbox")
    if not isinstance(sandbox, SandboxProvider):
        return  # no sandbox payments outside development: no bought policy to renew
    bought = await applications.apply_for_policy(
        services.real_name,
        services.pii,
        me,
        applications.ApplyRequest(
            product_id=accident.id,
            plan_code="BASIC",
            start_date=local_today() + timedelta(days=1),
            occupation_class=2,
            relation="SELF",
            health_answers=health,
        ),
        "demo-apply-bought",
    )
    application = await PolicyApplication.get(id=bought)
    installment = await PremiumInstallment.get(policy_id=application.policy_id, sequence=1)
    answer = await create_premium_payment(
        services.payment_providers,
        me,
        installment.id,
        PaymentMethod.SANDBOX,
        "demo-pay-bought",
        notify_base_url=services.settings.public_base_url,
    )
    order = await PaymentOrder.get(id=answer["order_id"])
    headers, body = sandbox.paid_notification(order.order_number, order.amount)
    await handle_callback(sandbox, headers, body)
    now = datetime.now(UTC)
    starts_at = now - timedelta(days=345)
    await Policy.filter(id=application.policy_id).update(
        status=PolicyStatus.ACTIVE,
        starts_at=starts_at,
        ends_at=now + timedelta(days=20),
        issued_at=starts_at - timedelta(days=1),
    )
    await PolicyApplication.filter(id=application.id).update(
        created_at=starts_at - timedelta(days=1),
        starts_at=starts_at,
        ends_at=now + timedelta(days=20),
        issued_at=starts_at - timedelta(days=1),
    )
