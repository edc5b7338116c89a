"""Demo data: realistic customers, products of every kind, policies with coverages,
insured persons, beneficiaries and premium schedules, and staff of every role.

Dates are relative to today so that expiry counters and overdue premiums look real
whenever the data is loaded. Every ID number is synthetic (valid checksum, fictional).
"""

from __future__ import annotations

import asyncio
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from PIL import Image, ImageDraw
from tortoise.transactions import in_transaction

from api.demo_accounts import seed_accounts
from api.demo_benefits import seed_benefits
from api.demo_commitments import seed_commitments
from api.demo_complaints import seed_complaints
from api.demo_cover_changes import seed_cover_changes
from api.demo_crisis import seed_crisis
from api.demo_docs import seed_documents
from api.demo_endorsements import seed_endorsements
from api.demo_knowledge import seed_knowledge
from api.demo_membership import seed_membership
from api.demo_policy_buy import seed_policy_buy
from api.demo_quality import seed_service_quality
from api.demo_risk import seed_risk
from api.demo_service_plans import seed_service_plans
from api.demo_team import seed_team
from api.services import Services, build_services
from api.settings import Settings
from models.auth import SubjectKind
from models.claims import Claim, RejectionReason, ReportChannel
from models.clock import local_midnight, local_today
from models.customers import Customer
from models.database import open_database
from models.pii import PiiCipher
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
from workflows.access import Actor
from workflows.auth import hash_password

DEMO_STAFF_PASSWORD = "anxin-demo-2026"  # noqa: S105 - printed for developers on purpose


def id_number(region: str, birth: str, sequence: str) -> str:
    """An 18-digit ID number with a correct ISO 7064 MOD 11-2 check digit."""
    body = f"{region}{birth}{sequence}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def docs(*items: str) -> list[dict[str, object]]:
    """Checklist items; a trailing ``?`` marks an optional document."""
    return [
        {"code": f"D{i + 1:02d}", "name": item.rstrip("?"), "required": not item.endswith("?")}
        for i, item in enumerate(items)
    ]


PRODUCTS: list[dict[str, Any]] = [
    {
        "code": "AUTO-COMM-2026",
        "filing_number": "C00000732612025092600101",  # demo value, not a real filing
        "name": "安心驾乘·机动车商业保险",
        "kind": ProductKind.AUTO,
        "description": "车辆损失、第三者责任、车上人员责任，一站式保障爱车出行。",
        "report_time_limit_hours": 48,
        "cooling_off_days": 0,
        "renewable": True,
        "loss_types": [
            {
                "code": "COLLISION",
                "name": "碰撞事故",
                "documents": docs("事故现场照片", "驾驶证", "行驶证", "交警事故认定书", "维修发票"),
            },
            {
                "code": "THEFT",
                "name": "全车盗抢",
                "documents": docs("公安报案回执", "行驶证", "车辆钥匙照片", "购车发票?"),
            },
            {"code": "GLASS", "name": "玻璃单独破碎", "documents": docs("破损照片", "维修发票")},
        ],
        "coverages": [
            ("VEHICLE_DAMAGE", "车辆损失险", "0"),
            ("THIRD_PARTY", "第三者责任险", "0"),
            ("DRIVER_SEAT", "车上人员责任险（司机）", "0"),
        ],
    },
    {
        "code": "HEALTH-MILLION-2026",
        "filing_number": "C00000732612025092600102",  # demo value, not a real filing
        "name": "安心e生·百万医疗险",
        "kind": ProductKind.HEALTH,
        "description": "一般医疗与重大疾病医疗，最高300万元，住院费用实报实销。",
        "report_time_limit_hours": 240,
        "cooling_off_days": 15,
        "renewable": True,
        "loss_types": [
            {
                "code": "HOSPITALISATION",
                "name": "住院医疗",
                "documents": docs(
                    "病历首页", "出院小结", "医疗费用发票", "费用明细清单", "检查报告?"
                ),
            },
            {
                "code": "OUTPATIENT",
                "name": "特殊门诊",
                "documents": docs("门诊病历", "医疗费用发票", "处方单?"),
            },
        ],
        "coverages": [
            ("GENERAL_MEDICAL", "一般医疗保险金", "10000"),
            ("CRITICAL_MEDICAL", "重大疾病医疗保险金", "0"),
        ],
    },
    {
        "code": "ACCIDENT-PLUS-2026",
        "filing_number": "C00000732612025092600103",  # demo value, not a real filing
        "name": "安心意外·综合意外险",
        "kind": ProductKind.ACCIDENT,
        "description": "意外身故伤残与意外医疗，含猝死保障。",
        "report_time_limit_hours": 240,
        "cooling_off_days": 15,
        "renewable": True,
        "loss_types": [
            {
                "code": "ACCIDENTAL_INJURY",
                "name": "意外伤害医疗",
                "documents": docs("门急诊病历", "医疗费用发票", "意外经过说明"),
            },
            {
                "code": "ACCIDENTAL_DEATH",
                "name": "意外身故",
                "documents": docs("死亡证明", "户籍注销证明", "受益人身份证明", "意外事故证明"),
                "payee": "BENEFICIARIES",  # paid to the beneficiaries, not the insured
            },
        ],
        "coverages": [
            ("ACCIDENT_DEATH", "意外身故/伤残保险金", "0"),
            ("ACCIDENT_MEDICAL", "意外医疗保险金", "100"),
        ],
    },
    {
        "code": "HOME-2026",
        "filing_number": "C00000732612025092600104",  # demo value, not a real filing
        "name": "安心家园·家庭财产险",
        "kind": ProductKind.PROPERTY,
        "description": "房屋主体、室内财产、水暖管爆裂及盗抢损失。",
        "report_time_limit_hours": 72,
        "cooling_off_days": 0,
        "renewable": True,
        "loss_types": [
            {
                "code": "FIRE",
                "name": "火灾爆炸",
                "documents": docs("损失现场照片", "消防部门证明", "损失清单"),
            },
            {
                "code": "WATER_DAMAGE",
                "name": "水管爆裂",
                "documents": docs("损失现场照片", "物业证明?", "维修报价单"),
            },
            {
                "code": "BURGLARY",
                "name": "入室盗窃",
                "documents": docs("公安报案回执", "损失清单", "购物凭证?"),
            },
        ],
        "coverages": [("BUILDING", "房屋主体", "500"), ("CONTENTS", "室内财产", "500")],
    },
    {
        "code": "TRAVEL-ABROAD-2026",
        "filing_number": "C00000732612025092600105",  # demo value, not a real filing
        "name": "安心行·境外旅行险",
        "kind": ProductKind.TRAVEL,
        "description": "境外医疗、航班延误与行李损失，签证材料可用。",
        "report_time_limit_hours": 72,
        "cooling_off_days": 0,
        "renewable": False,
        "loss_types": [
            {
                "code": "FLIGHT_DELAY",
                "name": "航班延误",
                "documents": docs("登机牌或电子客票行程单", "航空公司延误证明"),
            },
            {
                "code": "BAGGAGE_LOSS",
                "name": "行李损失",
                "documents": docs("行李丢失证明（PIR）", "登机牌", "损失清单"),
            },
            {
                "code": "MEDICAL_ABROAD",
                "name": "境外医疗",
                "documents": docs("就诊病历", "医疗费用单据", "护照出入境记录页"),
            },
        ],
        "coverages": [
            ("MEDICAL_ABROAD", "境外医疗保险金", "0"),
            ("FLIGHT_DELAY", "航班延误", "0"),
            ("BAGGAGE", "行李损失", "0"),
        ],
    },
]


@dataclass
class DemoPerson:
    name: str
    phone: str | None
    id_number: str


PEOPLE = {
    "zhangwei": DemoPerson("张伟", "13800000001", id_number("110105", "19850312", "217")),
    "lina": DemoPerson("李娜", "13800000002", id_number("110105", "19870621", "048")),
    "wangfang": DemoPerson("王芳", "13800000003", id_number("310115", "19900917", "326")),
    "liuyang": DemoPerson("刘洋", "13800000004", id_number("440305", "19781104", "151")),
    "chenjing": DemoPerson("陈静", "13800000005", id_number("330106", "19950228", "362")),
    # Family members who are named on policies but have no account of their own.
    "zhanghao": DemoPerson("张浩然", None, id_number("110105", "20150809", "017")),
    "zhangjianguo": DemoPerson("张建国", None, id_number("110105", "19580402", "331")),
}

STAFF = [  # username, name, role, team
    ("agent.li", "李明", StaffRole.AGENT, "客户服务部"),
    ("adjuster.wang", "王强", StaffRole.ADJUSTER, "理赔一组"),
    ("adjuster.sun", "孙丽", StaffRole.ADJUSTER, "理赔二组"),
    ("supervisor.zhao", "赵敏", StaffRole.SUPERVISOR, "理赔一组"),
    ("admin", "系统管理员", StaffRole.ADMIN, None),
]


@dataclass
class DemoPolicy:
    product: str
    holder: str
    status: PolicyStatus
    start_offset_days: int  # relative to today; the period is one year unless ``days``
    sums: list[str]  # sum insured per coverage, in product order
    premium: str
    frequency: PaymentFrequency = PaymentFrequency.ANNUAL
    insured: list[tuple[str, str]] = field(default_factory=lambda: [("holder", "SELF")])
    beneficiaries: list[tuple[str, str, str]] = field(default_factory=list)
    days: int = 365
    paid_installments: int | None = None  # None: all that are due are paid


POLICIES = [
    DemoPolicy(
        "AUTO-COMM-2026",
        "zhangwei",
        PolicyStatus.ACTIVE,
        -300,
        ["180000", "2000000", "50000"],
        "4860.00",
    ),
    DemoPolicy(
        "AUTO-COMM-2026",
        "zhangwei",
        PolicyStatus.EXPIRED,
        -665,
        ["200000", "1500000", "50000"],
        "5230.00",
    ),
    DemoPolicy(
        "HEALTH-MILLION-2026",
        "zhangwei",
        PolicyStatus.ACTIVE,
        -100,
        ["3000000", "3000000"],
        "1068.00",
        PaymentFrequency.MONTHLY,
        insured=[("holder", "SELF"), ("zhanghao", "CHILD")],
    ),
    DemoPolicy(
        "ACCIDENT-PLUS-2026",
        "zhangwei",
        PolicyStatus.ACTIVE,
        -30,
        ["500000", "50000"],
        "298.00",
        beneficiaries=[("lina", "SPOUSE", "60"), ("zhanghao", "CHILD", "40")],
    ),
    DemoPolicy("HOME-2026", "zhangwei", PolicyStatus.ACTIVE, -200, ["1200000", "200000"], "580.00"),
    DemoPolicy(
        "TRAVEL-ABROAD-2026",
        "zhangwei",
        PolicyStatus.ACTIVE,
        -3,
        ["500000", "2000", "5000"],
        "168.00",
        PaymentFrequency.SINGLE,
        days=14,
    ),
    DemoPolicy(
        "HEALTH-MILLION-2026",
        "zhangwei",
        PolicyStatus.LAPSED,
        -400,
        ["3000000", "3000000"],
        "780.00",
        PaymentFrequency.QUARTERLY,
        insured=[("zhangjianguo", "PARENT")],
        paid_installments=2,
    ),
    DemoPolicy(
        "ACCIDENT-PLUS-2026",
        "zhangwei",
        PolicyStatus.PENDING,
        5,
        ["300000", "30000"],
        "198.00",
        paid_installments=0,
        insured=[("zhangjianguo", "PARENT")],
    ),
    DemoPolicy(
        "HEALTH-MILLION-2026",
        "lina",
        PolicyStatus.ACTIVE,
        -45,
        ["3000000", "3000000"],
        "1320.00",
        PaymentFrequency.MONTHLY,
        insured=[("holder", "SELF"), ("zhangwei", "SPOUSE")],
    ),
    DemoPolicy(
        "ACCIDENT-PLUS-2026",
        "lina",
        PolicyStatus.ACTIVE,
        -120,
        ["200000", "20000"],
        "158.00",
        insured=[("zhangjianguo", "OTHER")],
        beneficiaries=[("zhangwei", "CHILD", "100")],
    ),
    DemoPolicy(
        "AUTO-COMM-2026",
        "wangfang",
        PolicyStatus.ACTIVE,
        -350,
        ["120000", "1000000", "20000"],
        "3980.00",
    ),
    DemoPolicy(
        "HOME-2026", "wangfang", PolicyStatus.CANCELLED, -90, ["800000", "100000"], "420.00"
    ),
    DemoPolicy(
        "HEALTH-MILLION-2026",
        "liuyang",
        PolicyStatus.ACTIVE,
        -200,
        ["3000000", "3000000"],
        "2860.00",
    ),
    DemoPolicy(
        "TRAVEL-ABROAD-2026",
        "liuyang",
        PolicyStatus.EXPIRED,
        -90,
        ["300000", "1500", "3000"],
        "98.00",
        PaymentFrequency.SINGLE,
        days=10,
    ),
    DemoPolicy(
        "ACCIDENT-PLUS-2026",
        "chenjing",
        PolicyStatus.ACTIVE,
        -10,
        ["1000000", "100000"],
        "399.00",
        PaymentFrequency.MONTHLY,
        beneficiaries=[("liuyang", "OTHER", "100")],
    ),
]

INSTALLMENTS_PER_YEAR = {
    PaymentFrequency.SINGLE: 1,
    PaymentFrequency.ANNUAL: 1,
    PaymentFrequency.SEMI_ANNUAL: 2,
    PaymentFrequency.QUARTERLY: 4,
    PaymentFrequency.MONTHLY: 12,
}


async def _customer(pii: PiiCipher, person: DemoPerson) -> Customer:
    assert person.phone is not None
    phone, ident = pii.seal_phone(person.phone), pii.seal_id_number(person.id_number)
    return await Customer.create(
        name=person.name,
        phone_encrypted=phone.encrypted,
        phone_hash=phone.lookup_hash,
        phone_masked=phone.masked,
        id_number_encrypted=ident.encrypted,
        id_number_hash=ident.lookup_hash,
        id_number_masked=ident.masked,
    )


async def _policy(
    pii: PiiCipher,
    spec: DemoPolicy,
    number: str,
    products: dict[str, Product],
    customers: dict[str, Customer],
    today: date,
) -> None:
    product = products[spec.product]
    start = today + timedelta(days=spec.start_offset_days)
    end = start + timedelta(days=spec.days)
    policy = await Policy.create(
        number=number,
        product=product,
        holder=customers[spec.holder],
        status=spec.status,
        starts_at=local_midnight(start),
        ends_at=local_midnight(end) - timedelta(seconds=1),
        issued_at=local_midnight(start - timedelta(days=2)) + timedelta(hours=10),
        sum_insured=sum(Decimal(s) for s in spec.sums),
        premium=Decimal(spec.premium),
        payment_frequency=spec.frequency,
    )
    coverage_specs = next(p["coverages"] for p in PRODUCTS if p["code"] == spec.product)
    for position, ((code, name, deductible), amount) in enumerate(
        zip(coverage_specs, spec.sums, strict=True)
    ):
        used = Decimal(amount) * Decimal("0.02") if spec.status is PolicyStatus.ACTIVE else 0
        await Coverage.create(
            policy=policy,
            code=code,
            name=name,
            sum_insured=Decimal(amount),
            deductible=Decimal(deductible),
            used_amount=used if position == 0 else 0,
            position=position,
        )
    for position, (key, relation) in enumerate(spec.insured):
        person_key = spec.holder if key == "holder" else key
        person = PEOPLE[person_key]
        sealed = pii.seal_id_number(person.id_number)
        await InsuredPerson.create(
            policy=policy,
            customer=customers.get(person_key),
            name=person.name,
            id_number_encrypted=sealed.encrypted,
            id_number_hash=sealed.lookup_hash,
            id_number_masked=sealed.masked,
            relation_to_holder=relation,
            position=position,
        )
    for position, (key, relation, share) in enumerate(spec.beneficiaries):
        person = PEOPLE[key]
        sealed = pii.seal_id_number(person.id_number)
        await Beneficiary.create(
            policy=policy,
            customer=customers.get(key),
            name=person.name,
            id_number_encrypted=sealed.encrypted,
            id_number_hash=sealed.lookup_hash,
            id_number_masked=sealed.masked,
            relation_to_insured=relation,
            share_percent=Decimal(share),
            position=position,
        )
    count = INSTALLMENTS_PER_YEAR[spec.frequency]
    installment = (Decimal(spec.premium) / count).quantize(Decimal("0.01"))
    step = spec.days // count
    for sequence in range(1, count + 1):
        due = start + timedelta(days=step * (sequence - 1))
        paid = (
            due <= today if spec.paid_installments is None else sequence <= spec.paid_installments
        )
        await PremiumInstallment.create(
            policy=policy,
            sequence=sequence,
            due_date=due,
            amount=installment,
            paid_at=local_midnight(due) + timedelta(hours=9) if paid else None,
        )


async def seed(settings: Settings, pii: PiiCipher) -> None:
    today = local_today()
    async with in_transaction():
        products: dict[str, Product] = {}
        for product_spec in PRODUCTS:
            values = {k: v for k, v in product_spec.items() if k != "coverages"}
            products[product_spec["code"]] = await Product.create(**values)
        customers = {
            key: await _customer(pii, person)
            for key, person in PEOPLE.items()
            if person.phone is not None
        }
        for index, spec in enumerate(POLICIES, start=1):
            kind = products[spec.product].kind.value[0]
            number = f"AX{kind}{today:%Y}{index:06d}"
            await _policy(pii, spec, number, products, customers, today)
        password_hash = await asyncio.to_thread(hash_password, DEMO_STAFF_PASSWORD)
        for username, display_name, role, team in STAFF:
            await StaffUser.create(
                username=username,
                display_name=display_name,
                role=role,
                team=team,
                password_hash=password_hash,
            )


def demo_accounts() -> str:
    lines = ["Demo customers (log in with an SMS code; in development it prints on the console):"]
    for person in PEOPLE.values():
        if person.phone:
            lines.append(f"  {person.phone}  {person.name}")
    lines.append(f"Demo staff (password {DEMO_STAFF_PASSWORD}):")
    lines.extend(f"  {username:<16} {name}  {role.value}" for username, name, role, _team in STAFF)
    return "\n".join(lines)


def demo_photo(seed: int) -> bytes:
    """A generated stand-in for a customer's photo (no real person or plate in the demo)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1280, 960), (rng.randint(90, 160),) * 3)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randint(0, 1200), rng.randint(0, 900)
        colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        draw.rectangle((x, y, x + rng.randint(20, 300), y + rng.randint(20, 200)), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


async def seed_claims(services: Services) -> None:
    """Claims in several states, made through the claims workflow itself, so the staff
    queue, timelines and inboxes look real."""
    from workflows import claim_documents, claims

    staff = {u.username: u for u in await StaffUser.all()}

    def as_staff(username: str) -> Actor:
        user = staff[username]
        return Actor(SubjectKind.STAFF, user.id, None, user.role)

    async def customer_of(phone: str) -> tuple[Actor, Customer]:
        customer = await Customer.get(phone_hash=services.pii.phone_hash(phone))
        return Actor(SubjectKind.CUSTOMER, customer.id), customer

    async def policy_of(customer: Customer, kind: ProductKind) -> Policy:
        policy = await Policy.filter(
            holder_id=customer.id, product__kind=kind, status=PolicyStatus.ACTIVE
        ).first()
        assert policy is not None, (customer.name, kind)
        return policy

    async def reported(
        phone: str, kind: ProductKind, loss_type: str, text: str, hours: int, where: str
    ) -> tuple[Actor, Claim]:
        actor, customer = await customer_of(phone)
        policy = await policy_of(customer, kind)
        insured = (
            await InsuredPerson.filter(policy_id=policy.id, customer_id=customer.id).first()
            or await InsuredPerson.filter(policy_id=policy.id).order_by("position").first()
        )
        report = claims.LossReport(
            policy_id=policy.id,
            loss_type=loss_type,
            loss_at=datetime.now(UTC) - timedelta(hours=hours),
            location=where,
            description=text,
            channel=ReportChannel.APP,
            contact_name=customer.name,
            contact_phone=phone,
            insured_person_id=insured.id if insured else None,
        )
        outcome = await claims.report_loss(services.pii, actor, report)
        assert outcome.claim is not None
        return actor, outcome.claim

    async def under_review(actor: Actor, claim: Claim) -> Claim:
        claim = await claims.submit_claim(actor, claim.id, "部分发票原件邮寄中，收到后补交")
        return await claims.assign_claim(
            as_staff("supervisor.zhao"), claim.id, staff["adjuster.wang"].id, claim.version
        )

    async def first_coverage(claim: Claim) -> Coverage:
        coverage = await Coverage.filter(policy_id=claim.policy_id).order_by("position").first()
        assert coverage is not None
        return coverage

    async def with_photos(actor: Actor, claim: Claim, codes: list[str], seed: int) -> None:
        uploads = [
            claim_documents.Upload(code, f"{code}.jpg", io.BytesIO(demo_photo(seed + n)))
            for n, code in enumerate(codes)
        ]
        await claim_documents.add_documents(services.document_intake, actor, claim.id, uploads)

    # 张伟: a fresh collision, documents pending.
    await reported(
        "13800000001",
        ProductKind.AUTO,
        "COLLISION",
        "倒车入库时与立柱发生刮擦，右后门及保险杠受损",
        5,
        "北京市朝阳区望京SOHO地下车库",
    )
    # 张伟: a hospital stay, submitted and waiting for review.
    actor, claim = await reported(
        "13800000001",
        ProductKind.HEALTH,
        "HOSPITALISATION",
        "急性阑尾炎住院手术治疗5天",
        100,
        "北京大学第三医院",
    )
    await with_photos(actor, claim, ["D01", "D03", "D04"], seed=200)
    await claims.submit_claim(actor, claim.id, "出院小结原件待医院盖章后补交")

    # 王芳: under review, the adjuster asked for more.
    actor, claim = await reported(
        "13800000003",
        ProductKind.AUTO,
        "COLLISION",
        "路口等红灯时被后车追尾",
        20,
        "上海市徐汇区漕溪北路与南丹路路口",
    )
    await with_photos(actor, claim, ["D01", "D02", "D03"], seed=300)
    claim = await under_review(actor, claim)
    await claims.add_note(as_staff("adjuster.wang"), claim.id, "已电话联系对方车主，对方承认全责")
    await claims.request_more_info(
        as_staff("adjuster.wang"),
        claim.id,
        ["交警事故认定书", "维修厂定损单"],
        "需确认事故责任与定损金额",
        claim.version,
    )
    # 刘洋: approved, paid and closed.
    actor, claim = await reported(
        "13800000004",
        ProductKind.HEALTH,
        "OUTPATIENT",
        "特殊门诊化疗治疗",
        60,
        "复旦大学附属肿瘤医院",
    )
    claim = await under_review(actor, claim)
    coverage = await first_coverage(claim)
    claim = await claims.decide_claim(
        as_staff("adjuster.wang"),
        claim.id,
        [
            claims.DecisionLine(
                coverage.id, Decimal("18600.00"), Decimal("18600.00"), "按门诊费用发票核定"
            )
        ],
        claim.version,
        authority_limit=services.settings.adjuster_authority_limit,
    )
    claim = await claims.record_payment(
        as_staff("supervisor.zhao"), claim.id, "ICBC-20261128-0098", claim.version
    )
    await claims.close_claim(as_staff("adjuster.wang"), claim.id, claim.version)
    # 陈静: rejected.
    actor, claim = await reported(
        "13800000005",
        ProductKind.ACCIDENT,
        "ACCIDENTAL_INJURY",
        "下楼梯时扭伤脚踝",
        30,
        "杭州市西湖区文三路",
    )
    claim = await under_review(actor, claim)
    await claims.reject_claim(
        as_staff("adjuster.wang"),
        claim.id,
        RejectionReason.BELOW_DEDUCTIBLE,
        "本次门诊费用86元，未超过意外医疗免赔额100元",
        claim.version,
    )
    # 张伟: a water leak above the adjuster's authority, waiting for the supervisor.
    actor, claim = await reported(
        "13800000001",
        ProductKind.PROPERTY,
        "WATER_DAMAGE",
        "楼上住户水管爆裂，客厅吊顶和木地板被泡",
        40,
        "北京市朝阳区望京西园",
    )
    claim = await under_review(actor, claim)
    coverage = await first_coverage(claim)
    await claims.decide_claim(
        as_staff("adjuster.wang"),
        claim.id,
        [
            claims.DecisionLine(
                coverage.id, Decimal("68000.00"), Decimal("68000.00"), "按第三方定损报告核定"
            )
        ],
        claim.version,
        authority_limit=services.settings.adjuster_authority_limit,
    )


async def seed_everything(settings: Settings, services: Services, *, activity: bool = True) -> None:
    """Every demo, in the order they build on each other (``anxin demo``; tests that run
    the documented operations on the demo data). ``activity``: the dashboard's three
    months of operations, the slowest part."""
    await seed(settings, services.pii)
    await seed_claims(services)
    await seed_service_quality()
    await seed_complaints(services)
    await seed_crisis()
    await seed_knowledge()
    await seed_documents(services)
    await seed_endorsements(services)
    await seed_cover_changes(services)
    await seed_policy_buy(services)
    await seed_service_plans(services)  # suggests what the online-sales demo sells
    await seed_commitments(services)
    await seed_membership(services)
    await seed_benefits(services)
    await seed_accounts(services)
    await seed_team()
    await seed_risk()  # the rules look at everything above
    # Three months of operations for the dashboard, after the risk rules ran: its
    # customers exist to be counted and are left out of the other demos' figures.
    if activity:
        from api.demo_activity import seed_activity  # it reads this module's products

        await seed_activity(services)


async def load_demo(settings: Settings, *, only_if_empty: bool) -> None:
    async with httpx.AsyncClient() as http, open_database(settings.database_url):
        services = build_services(settings, http, None)
        if await Customer.exists() or await Product.exists():
            if only_if_empty:
                print("demo data already loaded")
                print(demo_accounts())
                return
            raise SystemExit("the database has data already; demo loads into an empty one")
        await seed_everything(settings, services)
    print("demo data loaded")
    print(demo_accounts())
