"""Demo operations history: three months of activity for the operations dashboard
(``/console/``, ``serviceDashboard``). Twelve more customers (not in the README's
account table: they exist to be counted) with a policy each report about seventy
claims spread over the last 91 days, by app, mini-program and phone; the claims go
through the claims workflow (reported, submitted, assigned, decided or rejected,
paid, closed) and are then moved back to when their steps are meant to have happened
by ``workflows.claims.demo.backdate_claim`` (only the claims workflow writes claims).
A few decisions and payments are late (clock breaches), a few old claims are still
waiting (overdue now). Notifications with their deliveries per channel, online
conversations (some handed to an agent) and complaints with root causes fill the
other charts. Deterministic (a fixed random seed), and quick: a few seconds."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from api.demo import PRODUCTS, id_number
from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim, RejectionReason, ReportChannel
from models.clock import local_midnight, local_today
from models.complaint_remedies import RootCauseCategory
from models.complaints import Complaint, ComplaintChannel
from models.conversations import Conversation, ConversationChannel, ConversationStatus
from models.customers import Customer
from models.notifications import Channel, Delivery, DeliveryStatus, Notification
from models.policies import (
    Coverage,
    InsuredPerson,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
    Product,
)
from models.staff import StaffUser
from workflows.access import Actor

DAYS = 91
CLAIMS = 72
SEED = 18

# name, phone, birth day, product code, the loss types its claims are about
PEOPLE = [
    ("赵磊", "13900001001", "19850312", "AUTO-COMM-2026", ["COLLISION", "GLASS", "THEFT"]),
    ("钱芳", "13900001002", "19900721", "HEALTH-MILLION-2026", ["OUTPATIENT", "HOSPITALISATION"]),
    ("孙浩", "13900001003", "19780105", "AUTO-COMM-2026", ["COLLISION", "GLASS"]),
    ("李娜", "13900001004", "19920228", "ACCIDENT-PLUS-2026", ["ACCIDENTAL_INJURY"]),
    ("周杰", "13900001005", "19830909", "HOME-2026", ["WATER_DAMAGE", "BURGLARY", "FIRE"]),
    ("吴敏", "13900001006", "19880417", "HEALTH-MILLION-2026", ["OUTPATIENT"]),
    ("郑凯", "13900001007", "19751130", "AUTO-COMM-2026", ["COLLISION", "THEFT"]),
    ("王静", "13900001008", "19950603", "TRAVEL-ABROAD-2026", ["FLIGHT_DELAY", "BAGGAGE_LOSS"]),
    ("冯涛", "13900001009", "19800822", "AUTO-COMM-2026", ["GLASS", "COLLISION"]),
    ("陈红", "13900001010", "19870114", "HEALTH-MILLION-2026", ["HOSPITALISATION", "OUTPATIENT"]),
    ("褚明", "13900001011", "19930506", "ACCIDENT-PLUS-2026", ["ACCIDENTAL_INJURY"]),
    ("卫东", "13900001012", "19790318", "HOME-2026", ["WATER_DAMAGE"]),
]
CHANNELS = [ReportChannel.APP, ReportChannel.MINI_PROGRAM, ReportChannel.APP, ReportChannel.PHONE]
PUSH = [Channel.APNS, Channel.FCM, Channel.WECHAT, Channel.SMS]
CAUSES = [
    RootCauseCategory.CLAIM_HANDLING,
    RootCauseCategory.COMMUNICATION,
    RootCauseCategory.CLAIM_HANDLING,
    RootCauseCategory.SERVICE_ATTITUDE,
    RootCauseCategory.PROCESS_RULE,
    RootCauseCategory.COMMUNICATION,
    RootCauseCategory.SYSTEM_FAULT,
    RootCauseCategory.CLAIM_HANDLING,
    RootCauseCategory.CUSTOMER_MISUNDERSTANDING,
    RootCauseCategory.PRODUCT_DESIGN,
    RootCauseCategory.COMMUNICATION,
    RootCauseCategory.CLAIM_HANDLING,
]
COMPLAINTS = [
    "理赔进度太慢，一直没人联系我",
    "客服电话打了好几次都没人接",
    "定损金额太低，不认可",
    "工作人员态度不好",
    "补材料的要求前后不一致",
    "解释条款时说得不清楚",
    "App 上传照片总是失败",
    "赔款迟迟不到账",
    "以为门诊也能全额报销",
    "产品说明里的免赔额看不懂",
    "没告诉我还要交交警证明",
    "审核时间超过了承诺的时间",
]


@dataclass(frozen=True)
class Plan:
    """When each step of one claim happens (None: not yet, as of now)."""

    reported: datetime
    submitted: datetime | None
    decided: datetime | None
    rejected: bool
    paid: datetime | None
    closed: datetime | None


def plan(rng: random.Random, index: int, now: datetime) -> Plan:
    """Spread over the last ``DAYS`` days; about one decision in eight and one payment
    in ten late, three old claims still under review (overdue now)."""
    age = timedelta(days=DAYS * (index + 0.5) / CLAIMS, hours=rng.uniform(-6, 6))
    reported = now - max(age, timedelta(hours=3))

    def step(after: datetime | None, low: float, high: float) -> datetime | None:
        if after is None:
            return None
        moment = after + timedelta(days=rng.uniform(low, high))
        return moment if moment < now - timedelta(minutes=30) else None

    submitted = step(reported, 0.1, 3 if index % 9 else 8)
    stuck = index in (58, 63, 67)  # old claims nobody decided: overdue now
    late = index % 8 == 5
    decided = None if stuck else step(submitted, 31, 38) if late else step(submitted, 1, 18)
    rejected = decided is not None and index % 7 == 2
    paid = None if rejected else step(decided, 11, 15) if index % 10 == 4 else step(decided, 0.5, 6)
    closed = step(paid, 0.5, 3) if index % 3 else None
    return Plan(reported, submitted, decided, rejected, paid, closed)


async def _customers(services: Services, today: date) -> list[tuple[Customer, Policy]]:
    products = {p.code: p for p in await Product.all()}
    specs = {p["code"]: p for p in PRODUCTS}
    out = []
    for n, (name, phone, birth, code, _) in enumerate(PEOPLE):
        sealed = services.pii.seal_phone(phone)
        ident = services.pii.seal_id_number(id_number("310104", birth, f"{n + 501:03d}"))
        customer = await Customer.create(
            name=name,
            phone_encrypted=sealed.encrypted,
            phone_hash=sealed.lookup_hash,
            phone_masked=sealed.masked,
            id_number_encrypted=ident.encrypted,
            id_number_hash=ident.lookup_hash,
            id_number_masked=ident.masked,
        )
        start = today - timedelta(days=200 + 7 * n)
        spec = specs[code]
        sums = [
            Decimal(100000) if i == 0 else Decimal(20000) for i in range(len(spec["coverages"]))
        ]
        policy = await Policy.create(
            number=f"AX{code[:4]}{today:%y}{9000 + n:05d}",
            product=products[code],
            holder=customer,
            status=PolicyStatus.ACTIVE,
            starts_at=local_midnight(start),
            ends_at=local_midnight(start + timedelta(days=365)) - timedelta(seconds=1),
            issued_at=local_midnight(start - timedelta(days=2)) + timedelta(hours=10),
            sum_insured=sum(sums, Decimal(0)),
            premium=Decimal("3600.00"),
            payment_frequency=PaymentFrequency.ANNUAL,
        )
        for position, ((cover, title, deductible), amount) in enumerate(
            zip(spec["coverages"], sums, strict=True)
        ):
            await Coverage.create(
                policy=policy,
                code=cover,
                name=title,
                sum_insured=amount,
                deductible=Decimal(deductible),
                position=position,
            )
        await InsuredPerson.create(
            policy=policy,
            customer=customer,
            name=name,
            id_number_encrypted=ident.encrypted,
            id_number_hash=ident.lookup_hash,
            id_number_masked=ident.masked,
            relation_to_holder="SELF",
        )
        await PremiumInstallment.create(
            policy=policy,
            sequence=1,
            due_date=start,
            amount=Decimal("3600.00"),
            paid_at=local_midnight(start) + timedelta(hours=9),
        )
        out.append((customer, policy))
    return out


async def _notify(
    rng: random.Random, customer: Customer, kind: str, title: str, moment: datetime
) -> None:
    """A notification as the relay makes one, and its deliveries on two channels."""
    note = await Notification.create(
        customer=customer,
        event_id=uuid.uuid4(),
        kind=kind,
        title=title,
        body=title,
        deep_link="anxin://claims",
        mini_program_page="pages/claims/index",
        read_at=moment + timedelta(hours=2),
    )
    await Notification.filter(id=note.id).update(created_at=moment)
    for channel in rng.sample(PUSH, 2):
        roll = rng.random()
        status = (
            DeliveryStatus.SENT
            if roll < 0.86
            else DeliveryStatus.DEAD
            if roll < 0.92
            else DeliveryStatus.FAILED
            if roll < 0.96
            else DeliveryStatus.SKIPPED
        )
        delivery = await Delivery.create(
            notification=note,
            channel=channel,
            target=f"demo-{uuid.uuid4().hex[:12]}",
            status=status,
            attempts=1 if status is DeliveryStatus.SENT else 3,
            sent_at=moment + timedelta(seconds=5) if status is DeliveryStatus.SENT else None,
            last_error=None if status is DeliveryStatus.SENT else "demo: provider refused",
        )
        await Delivery.filter(id=delivery.id).update(created_at=moment)


async def _claims(
    services: Services, rng: random.Random, people: list[tuple[Customer, Policy]]
) -> None:
    from workflows import claims
    from workflows.claims.demo import PastSteps, backdate_claim

    staff = {u.username: u for u in await StaffUser.all()}

    def as_staff(username: str) -> Actor:
        user = staff[username]
        return Actor(SubjectKind.STAFF, user.id, None, user.role)

    boss, agent = as_staff("supervisor.zhao"), as_staff("agent.li")
    now = datetime.now(UTC)
    coverages = {
        policy.id: await Coverage.filter(policy_id=policy.id).order_by("position").first()
        for _, policy in people
    }
    for index in range(CLAIMS):
        customer, policy = people[index % len(people)]
        me = Actor(SubjectKind.CUSTOMER, customer.id)
        losses = PEOPLE[index % len(people)][4]
        steps = plan(rng, index, now)
        channel = CHANNELS[index % len(CHANNELS)]
        report = claims.LossReport(
            policy_id=policy.id,
            loss_type=losses[index % len(losses)],
            loss_at=now - timedelta(hours=2),
            location="上海市浦东新区",
            description="演示数据：近三个月的理赔",
            channel=channel,
            contact_name=customer.name,
            contact_phone=PEOPLE[index % len(people)][1],
        )
        reporter = agent if channel is ReportChannel.PHONE else me
        outcome = await claims.report_loss(
            services.pii, reporter, report, on_behalf_of=None if reporter is me else customer.id
        )
        claim: Claim | None = outcome.claim
        assert claim is not None
        if steps.submitted:
            claim = await claims.submit_claim(me, claim.id, "演示：部分材料后补")
            adjuster = as_staff("adjuster.wang" if index % 2 else "adjuster.sun")
            claim = await claims.assign_claim(boss, claim.id, adjuster.subject_id, claim.version)  # type: ignore[arg-type]
            if steps.decided and steps.rejected:
                claim = await claims.reject_claim(
                    adjuster,
                    claim.id,
                    RejectionReason.NOT_COVERED,
                    "演示：不在保障范围",
                    claim.version,
                )
            elif steps.decided:
                coverage = coverages[policy.id]
                assert coverage is not None
                amount = Decimal(rng.randrange(800, 18000, 100))
                claim = await claims.decide_claim(
                    adjuster,
                    claim.id,
                    [
                        claims.DecisionLine(
                            coverage.id,
                            amount + coverage.deductible,
                            amount + coverage.deductible,
                            "演示：按单据核定",
                        )
                    ],
                    claim.version,
                    authority_limit=services.settings.adjuster_authority_limit,
                )
                if steps.paid:
                    claim = await claims.record_payment(
                        boss, claim.id, f"DEMO-{index:04d}", claim.version
                    )
                    if steps.closed:
                        claim = await claims.close_claim(adjuster, claim.id, claim.version)
        await backdate_claim(
            claim.id,
            PastSteps(
                reported_at=steps.reported,
                submitted_at=steps.submitted,
                decided_at=steps.decided,
                paid_at=steps.paid if steps.decided and not steps.rejected else None,
                closed_at=steps.closed if steps.paid and not steps.rejected else None,
            ),
            loss_before=timedelta(hours=rng.uniform(2, 30)),
        )
        await _notify(rng, customer, "claim.reported", "报案已受理", steps.reported)
        if steps.decided:
            await _notify(rng, customer, "claim.decided", "理赔审核有结果了", steps.decided)
        if steps.paid and not steps.rejected:
            await _notify(rng, customer, "claim.paid", "赔款已支付", steps.paid)


async def _conversations(rng: random.Random, people: list[tuple[Customer, Policy]]) -> None:
    agent = await StaffUser.get(username="agent.li")
    now = datetime.now(UTC)
    for n in range(60):
        started = now - timedelta(days=DAYS * (n + 0.5) / 60, hours=rng.uniform(-5, 5))
        handed = n % 5 in (0, 2)
        queued = started + timedelta(minutes=2) if handed else None
        accepted = queued + timedelta(minutes=rng.uniform(0.5, 25)) if queued else None
        talk = await Conversation.create(
            customer=people[n % len(people)][0],
            channel=ConversationChannel.APP if n % 3 else ConversationChannel.MINI_PROGRAM,
            status=ConversationStatus.CLOSED,
            queued_at=queued,
            agent=agent if accepted else None,
            accepted_at=accepted,
            closed_at=started + timedelta(minutes=40),
            handoff_reason="ASKED_FOR_HUMAN" if handed else None,
        )
        await Conversation.filter(id=talk.id).update(created_at=started)


async def _complaints(rng: random.Random, people: list[tuple[Customer, Policy]]) -> None:
    from workflows.complaints import handling, intake, root_causes
    from workflows.complaints.intake import Subjects

    staff = await StaffUser.get(username="supervisor.zhao")
    boss = Actor(SubjectKind.STAFF, staff.id, None, staff.role)
    agent = await StaffUser.get(username="agent.li")
    now = datetime.now(UTC)
    for n, (text, cause) in enumerate(zip(COMPLAINTS, CAUSES, strict=True)):
        customer = people[n % len(people)][0]
        received = now - timedelta(days=DAYS * (n + 0.5) / len(COMPLAINTS))
        me = Actor(SubjectKind.CUSTOMER, customer.id)
        channel = ComplaintChannel.APP if n % 2 else ComplaintChannel.MINI_PROGRAM
        c = await intake.file_complaint(me, channel, text, Subjects(), now=received)
        c = await handling.assign(boss, c.id, c.version, agent.id)
        if n == 0:
            continue  # the newest stays open with the agent
        c = await handling.respond(boss, c.id, c.version, "已致电客户了解情况")
        c = await handling.answer(boss, c.id, c.version, "已核实并答复客户")
        c, _ = await root_causes.record(
            boss,
            c.id,
            c.version,
            cause,
            "客户服务部",
            "演示：整改措施",
            local_today() + timedelta(days=30),
        )
        await handling.close(boss, c.id, c.version)
        await Complaint.filter(id=c.id).update(
            first_responded_at=received + timedelta(hours=rng.uniform(2, 30)),
            answered_at=received + timedelta(days=rng.uniform(2, 18)),
        )


async def seed_activity(services: Services) -> None:
    """Three months of operations for the dashboard (see the module's docstring)."""
    rng = random.Random(SEED)
    people = await _customers(services, local_today())
    await _claims(services, rng, people)
    await _conversations(rng, people)
    await _complaints(rng, people)
