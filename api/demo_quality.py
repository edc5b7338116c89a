"""Demo service-quality data: two months of answered surveys (so `surveyFigures` shows
real CSAT, NPS and response rates in GraphiQL), quick ratings, recovery tasks some of
which are done, and follow-up visits in every state, planned by the real rules.

Answers go through the survey workflow (validation, flat rows, recovery triggers); only
their dates are moved into the past afterwards. Random but seeded: every load is alike.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from models.claims import Claim
from models.clock import local_date
from models.customers import Customer
from models.ids import global_id
from models.policies import Policy, ProductKind
from models.staff import StaffUser
from models.surveys import RecoveryTask, SurveyChannel, SurveyInvitation, SurveyTemplate
from models.visits import FollowUpVisit, VisitAttempt, VisitChannel, VisitStatus, VisitTrigger
from workflows import surveys, visits

DAYS = 60
PER_DAY = (3, 9)  # invitations a day
ANSWER_RATE = 0.62
CHANNELS = [SurveyChannel.APP] * 5 + [SurveyChannel.MINI_PROGRAM] * 3 + [SurveyChannel.LINK] * 2
COMMENTS = {
    5: ["理赔很快，点赞", "客服耐心专业", ""],
    4: ["整体不错，材料能再少点就好了", ""],
    3: ["等了比较久", ""],
    2: ["审核太慢，一直没人联系我"],
    1: ["态度差，要投诉"],
}


def _answers(rng: random.Random, product_kind: ProductKind) -> list[surveys.Answer]:
    weights = [2, 3, 8, 30, 57] if product_kind is not ProductKind.AUTO else [4, 5, 11, 35, 45]
    stars = rng.choices([1, 2, 3, 4, 5], weights)[0]
    nps = max(0, min(10, stars * 2 + rng.choice([-2, -1, 0, 0, 1])))
    speed = "fast" if stars == 5 else "ok" if stars >= 3 else "slow"
    liked = rng.sample(["staff", "clear", "online", "amount"], k=rng.randint(0, 2))
    return [
        surveys.Answer("q1", stars),
        surveys.Answer("q2", nps),
        surveys.Answer("q3", choice_ids=(speed,)),
        surveys.Answer("q4", choice_ids=tuple(liked)),
        surveys.Answer("q5", text=rng.choice(COMMENTS[stars])),
    ]


async def seed_survey_history(now: datetime | None = None) -> int:
    """Claim-service surveys over the last two months; returns how many were answered."""
    now = now or datetime.now(UTC)
    rng = random.Random(2026)
    customers = [c.id for c in await Customer.all().order_by("created_at")]
    handlers = [
        s.id for s in await StaffUser.filter(username__in=["adjuster.wang", "supervisor.zhao"])
    ]
    kinds = [
        ProductKind.AUTO,
        ProductKind.AUTO,
        ProductKind.HEALTH,
        ProductKind.ACCIDENT,
        ProductKind.PROPERTY,
    ]
    answered = 0
    for days_ago in range(DAYS, 0, -1):
        for n in range(rng.randint(*PER_DAY)):
            invited_at = now - timedelta(days=days_ago, hours=rng.randint(0, 10))
            kind = rng.choice(kinds)
            async with in_transaction():
                invitation = await surveys.invite(
                    rng.choice(customers),
                    "claim.closed",
                    "demo-claim",
                    f"{days_ago}-{n}",
                    "CLAIM_SERVICE",
                    product_kind=str(kind),
                    staff_id=rng.choice(handlers),
                    announce=False,
                )
            assert invitation is not None
            await SurveyInvitation.filter(id=invitation.id).update(
                created_at=invited_at,
                expires_at=invited_at + surveys.INVITATION_LIFETIME,
                **surveys.period_keys(invited_at),
            )
            if rng.random() > ANSWER_RATE:
                continue
            invitation = await SurveyInvitation.get(id=invitation.id)
            survey = await SurveyTemplate.get(id=invitation.template_id)
            values = surveys.validate(survey.questions, _answers(rng, kind))
            async with in_transaction():  # expired by now: recorded as if answered then
                await surveys.record(invitation, survey, values, rng.choice(CHANNELS))
            answered_at = invited_at + timedelta(hours=rng.randint(1, 48))
            await SurveyInvitation.filter(id=invitation.id).update(answered_at=answered_at)
            answered += 1
    # Recovery calls older than two days were made; the recent ones are still open.
    for task in await RecoveryTask.all():
        response_time = await SurveyInvitation.filter(response__id=task.source_id).first()
        if response_time is None or response_time.answered_at is None:
            continue
        due = response_time.answered_at + surveys.RECOVERY_DUE
        done = due < now - timedelta(days=2)
        await RecoveryTask.filter(id=task.id).update(
            due_at=due,
            done_at=due - timedelta(hours=3) if done else None,
            outcome="已致电客户致歉，说明处理进度并加快办理" if done else "",
            open_key=None if done else task.open_key,
        )
    return answered


async def seed_ratings() -> None:
    customers = await Customer.all().order_by("created_at").limit(3)
    for customer, stars, comment in zip(
        customers, [5, 4, 2], ["理赔到账很快", "", "报案电话等了很久"], strict=False
    ):
        claim = await Claim.filter(customer_id=customer.id).first()
        if claim is not None:  # a rating is of something the customer has
            subject = global_id("Claim", claim.id)
            await surveys.rate(customer.id, "CLAIM", subject, stars, ["效率"], comment)


async def seed_visits(now: datetime | None = None) -> None:
    """The rules plan what the demo policies and claims call for; a few more show a
    visit's history: attempts, an outcome, a customer's request."""
    now = now or datetime.now(UTC)
    await visits.plan_visits(now)
    agent = await StaffUser.get(username="agent.li")
    zhangwei, wangfang, liuyang = [
        await Customer.get(name=name) for name in ("张伟", "王芳", "刘洋")
    ]
    policy = await Policy.filter(holder_id=zhangwei.id).first()

    def visit(customer: Customer, subject: str, **fields: Any) -> FollowUpVisit:
        defaults: dict[str, Any] = {
            "customer_id": customer.id,
            "trigger": VisitTrigger.HIGH_VALUE,
            "subject": f"demo:{subject}",
            "purpose": visits.PURPOSES[VisitTrigger.HIGH_VALUE],
            "channel": VisitChannel.PHONE,
            "due_at": visits.at_visit_hour(local_date(now) + timedelta(days=3)),
            "max_attempts": 3,
            "retry_after_days": 2,
        }
        return FollowUpVisit(**(defaults | fields))

    asked = visit(
        zhangwei,
        "asked",
        policy_id=policy.id if policy else None,
        preferred_time=visits.at_visit_hour(local_date(now) + timedelta(days=5))
        + timedelta(hours=9),
        customer_note="白天开会，晚上7点后方便",
        change_requested_at=now - timedelta(hours=2),
        assignee_id=agent.id,
    )
    tried = visit(
        wangfang, "tried", attempts=2, assignee_id=agent.id, due_at=now - timedelta(hours=5)
    )
    done = visit(
        liuyang,
        "done",
        status=VisitStatus.DONE,
        attempts=1,
        assignee_id=agent.id,
        due_at=now - timedelta(days=6),
        needs="治疗结束，想了解重疾险续保和家人的医疗险",
        next_action="三日内发送家庭医疗险方案",
        new_policy_interest=True,
        completed_at=now - timedelta(days=6),
        completed_by=agent.id,
    )
    for item in (asked, tried, done):
        await item.save()
    for note in ("无人接听", "关机"):
        await VisitAttempt.create(visit_id=tried.id, staff_id=agent.id, reached=False, note=note)
    await VisitAttempt.create(
        visit_id=done.id, staff_id=agent.id, reached=True, note="客户满意理赔结果"
    )


async def seed_service_quality() -> None:
    await seed_survey_history()
    await seed_ratings()
    await seed_visits()
