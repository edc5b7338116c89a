"""Demo complaints: a dozen, in every state of the workflow (received, assigned, in
progress, information asked, extended, answered, review requested, closed with its
survey, by staff or, once accepted, by the clock sweep, withdrawn; one recorded by
phone, one letter from an unknown sender, one past its answer clock), so the staff
queue, `complaintFigures` and the customers' `myComplaints` show something real in
GraphiQL.

Every complaint goes through the workflow functions (intake, classification, handling,
the clock sweep); only the times of its steps are moved into the past afterwards, as
the service-quality demo does with its surveys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from api.services import Services
from models.auth import SubjectKind
from models.claims import Claim
from models.complaint_remedies import RootCauseCategory
from models.complaints import Complaint, ComplaintChannel, ComplaintClass
from models.customers import Customer
from models.staff import StaffUser
from workflows.access import Actor
from workflows.complaints import handling, intake, root_causes
from workflows.complaints.intake import Subjects

HANDLER = "agent.li"
SUPERVISOR = "supervisor.zhao"


@dataclass
class DemoComplaint:
    phone: str | None  # the customer; None: recorded by staff for an unknown sender
    text: str
    days_ago: float
    steps: list[str] = field(default_factory=list)  # see ``_walk``
    channel: ComplaintChannel = ComplaintChannel.APP
    about_claim: bool = False
    correct_to: ComplaintClass | None = None  # staff correct the proposed class


COMPLAINTS = [
    DemoComplaint("13800000001", "理赔报案两周了一直没人联系我，审核太慢", 0.1, about_claim=True),
    DemoComplaint(
        "13800000002", "客服电话一直打不通，等了半小时也没人接", 1, ["classify", "assign"]
    ),
    DemoComplaint(
        "13800000003",
        "续期保费被重复扣款了，请尽快退款",
        2,
        ["classify", "assign", "respond"],
        ComplaintChannel.MINI_PROGRAM,
    ),
    DemoComplaint(
        "13800000004",
        "业务员当初承诺的收益和实际不符，存在误导销售",
        17,  # past its 15-day clock: breached
        ["classify", "assign", "respond", "request_info"],
    ),
    DemoComplaint(
        "13800000005",
        "最近总接到陌生推销电话，怀疑我的个人信息被泄露",
        9,
        ["classify", "assign", "respond", "extend"],
    ),
    DemoComplaint(
        "13800000001",
        "理赔款到账金额比核定的少了两百元",
        6,
        ["classify", "assign", "respond", "answer"],
        about_claim=True,
    ),
    DemoComplaint(
        "13800000002",
        "保单条款看不懂，客服解释也不清楚",
        12,
        ["classify", "assign", "respond", "answer", "accept"],
        correct_to=ComplaintClass.SERVICE,
    ),
    DemoComplaint(
        "13800000003",
        "理赔被拒，理由不合理，请重新审核",
        10,
        ["classify", "assign", "respond", "answer", "request_review"],
        about_claim=True,
    ),
    DemoComplaint(
        "13800000004",
        "柜面办理退保排队两个小时",
        20,
        ["classify", "assign", "respond", "answer", "accept", "close"],
    ),
    DemoComplaint(
        "13800000005",
        "电话投诉：查勘员态度恶劣，不接电话",
        3,
        ["assign"],
        ComplaintChannel.PHONE,
    ),
    DemoComplaint(None, "来信反映营业厅排队时间过长，服务窗口太少", 4, [], ComplaintChannel.LETTER),
    DemoComplaint("13800000005", "App登录总是失败", 5, ["withdraw"]),
]


async def seed_complaints(services: Services) -> None:
    staff = {u.username: u for u in await StaffUser.filter(username__in=[HANDLER, SUPERVISOR])}
    handler, boss = (
        Actor(SubjectKind.STAFF, staff[name].id, None, staff[name].role)
        for name in (HANDLER, SUPERVISOR)
    )
    now = datetime.now(UTC)
    for demo in COMPLAINTS:
        received = now - timedelta(days=demo.days_ago)
        customer = (
            await Customer.get(phone_hash=services.pii.phone_hash(demo.phone))
            if demo.phone
            else None
        )
        claim = (
            await Claim.filter(customer_id=customer.id).order_by("created_at").first()
            if demo.about_claim and customer
            else None
        )
        subjects = Subjects(claim_id=claim.id if claim else None)
        if demo.channel in (ComplaintChannel.APP, ComplaintChannel.MINI_PROGRAM):
            assert customer is not None
            me = Actor(SubjectKind.CUSTOMER, customer.id)
            complaint = await intake.file_complaint(
                me,
                demo.channel,
                demo.text,
                subjects,
                now=received,
                clocks=services.complaint_clocks,
            )
        else:
            me = Actor(SubjectKind.CUSTOMER, customer.id) if customer else handler
            complaint = await intake.record_complaint(
                handler,
                services.pii,
                demo.channel,
                demo.text,
                subjects,
                phone=demo.phone,
                now=received,
                clocks=services.complaint_clocks,
            )
        await _walk(complaint, demo, me, handler, boss, staff[HANDLER].id, services)
    await _age_timelines(now)
    await handling.sweep_clocks()  # the escalation and the breach of the late one


async def _walk(
    complaint: Complaint,
    demo: DemoComplaint,
    me: Actor,
    handler: Actor,
    boss: Actor,
    handler_id: uuid.UUID,
    services: Services,
) -> None:
    """Take the complaint through ``demo.steps``, each step's time set after it."""
    received = complaint.received_at
    c = complaint
    for step in demo.steps:
        if step == "classify":
            c = await handling.classify(
                boss,
                c.id,
                c.version,
                demo.correct_to or c.content_class,
                c.urgency,
                services.complaint_clocks,
            )
        elif step == "assign":
            c = await handling.assign(boss, c.id, c.version, handler_id)
        elif step == "respond":
            c = await handling.respond(handler, c.id, c.version, "已电话联系客户，了解诉求")
            await Complaint.filter(id=c.id).update(first_responded_at=received + timedelta(hours=3))
        elif step == "request_info":
            c = await handling.request_info(
                handler, c.id, c.version, "请提供当时的销售宣传材料照片"
            )
        elif step == "extend":
            c = await handling.extend(handler, c.id, c.version, "需向第三方调取通话记录核实")
        elif step == "answer":
            c = await handling.answer(handler, c.id, c.version, "经核实，已按您的诉求处理完毕")
            await Complaint.filter(id=c.id).update(answered_at=received + timedelta(days=4))
        elif step == "accept":
            c = await handling.accept(me, c.id, c.version)
        elif step == "request_review":
            c = await handling.request_review(me, c.id, c.version, "对处理结果不认可")
        elif step == "close":
            c, _ = await root_causes.record(
                handler,
                c.id,
                c.version,
                RootCauseCategory.COMMUNICATION,
                "客户服务部",
                "回访话术补充办理时限说明",
                root_causes.today() + timedelta(days=14),
            )
            c = await handling.close(handler, c.id, c.version)
        elif step == "withdraw":
            c = await handling.withdraw(me, c.id, c.version, "问题已自行解决")
        else:
            raise ValueError(step)
        c = await Complaint.get(id=c.id)


async def _age_timelines(now: datetime) -> None:
    """Each timeline line moved back with its complaint: receipt at the complaint's
    receipt, the later lines spread over the hours after it, in order."""
    from models.complaints import ComplaintEvent

    for complaint in await Complaint.all():
        events = await ComplaintEvent.filter(complaint_id=complaint.id).order_by("created_at")
        span = min(now - complaint.received_at, timedelta(days=5))
        for n, event in enumerate(events):
            at = complaint.received_at + span * n / max(len(events), 1)
            await ComplaintEvent.filter(id=event.id).update(created_at=at)
