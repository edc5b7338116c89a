"""Crisis response: the rules (major complaint, media/regulator words, a spike of one
class, a spike about one product) open one incident per rule and key from the
complaints' own outbox events, and later complaints join it; the whole life (assess with
scope, team, checklist, statements approved by a second manager, one notice per affected
customer, review, close); closing refused without a review; who may do what; on
PostgreSQL many complaints at once give one incident."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from api.services import Services
from models.auth import SubjectKind
from models.complaints import Complaint, ComplaintChannel, ComplaintEvent, Urgency
from models.crisis import (
    CrisisIncident,
    CrisisRule,
    CrisisScope,
    CrisisSeverity,
    CrisisStatus,
    CrisisTeamRole,
    SpreadRisk,
    StatementAudience,
    StatementStatus,
)
from models.customers import Customer
from models.notifications import Notification, OutboxEvent
from models.policies import Policy, PolicyStatus, Product
from models.staff import StaffRole, StaffUser
from push.outbox import OutboxRelay
from tests.conftest import postgres_only
from tests.factories import make_customer, make_policy, make_product, make_staff
from workflows.access import Actor
from workflows.complaints import handling, intake
from workflows.complaints.intake import Subjects
from workflows.crisis import detect, response
from workflows.crisis.rules import CrisisError, CrisisErrorCode

E = CrisisErrorCode
S = CrisisStatus
MAJOR_TEXT = "理赔被拒，我已经请了律师，准备起诉你们"  # 律师/起诉: 重大, no media words
MEDIA_TEXT = "理赔拖了很久，我要找记者曝光你们"
PLAIN_TEXT = "理赔审核太慢了"


def as_customer(customer: Customer) -> Actor:
    return Actor(kind=SubjectKind.CUSTOMER, subject_id=customer.id)


def as_staff(staff: StaffUser) -> Actor:
    return Actor(kind=SubjectKind.STAFF, subject_id=staff.id, role=staff.role)


async def refused(code: CrisisErrorCode, call: object) -> None:
    with pytest.raises(CrisisError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code is code


async def complain(
    services: Services, text: str, *, product: Product | None = None, **policy: object
) -> Complaint:
    """A new customer complains from the app, about a policy of the product if given."""
    customer = await make_customer(services)
    subjects = Subjects()
    if product is not None:
        held = await make_policy(services, customer, product=product, **policy)  # type: ignore[arg-type]
        subjects = Subjects(policy_id=held.id)
    return await intake.file_complaint(as_customer(customer), ComplaintChannel.APP, text, subjects)


async def rule(code: str) -> CrisisRule:
    await detect.ensure_default_rules()
    return await CrisisRule.get(code=code)


async def test_a_major_complaint_opens_an_incident_and_the_next_one_joins_it(
    services: Services,
) -> None:
    product = await make_product()
    first = await complain(services, MAJOR_TEXT, product=product)
    assert first.urgency is Urgency.MAJOR
    assert await detect.evaluate_events() >= 1
    [incident] = await CrisisIncident.all()
    assert incident.rule_id == (await rule("MAJOR")).id
    assert incident.rule_key == f"product:{product.id}"
    assert incident.status is S.IDENTIFIED and incident.number.startswith("WJ")
    assert (await Complaint.get(id=first.id)).incident_id == incident.id
    # The complaint's handlers see why on its own timeline.
    assert await ComplaintEvent.exists(complaint_id=first.id, action="crisis_link")
    assert await OutboxEvent.exists(event_type="crisis.opened", entity_id=str(incident.id))

    second = await complain(services, MAJOR_TEXT, product=product)
    await detect.evaluate_events()
    assert await CrisisIncident.all().count() == 1
    assert (await Complaint.get(id=second.id)).incident_id == incident.id
    # Each event is evaluated once: a second round does nothing.
    assert await detect.evaluate_events() == 0


async def test_a_complaint_classified_major_later_is_caught_through_its_update(
    services: Services,
) -> None:
    """No call in intake or handling: the `complaint.updated` event of the
    classification carries it to the rules."""
    complaint = await complain(services, PLAIN_TEXT)
    await detect.evaluate_events()
    assert not await CrisisIncident.exists()
    boss = as_staff(await make_staff(StaffRole.SUPERVISOR))
    await handling.classify(
        boss, complaint.id, complaint.version, complaint.content_class, Urgency.MAJOR
    )
    await detect.evaluate_events()
    incident = await CrisisIncident.get()
    assert (await Complaint.get(id=complaint.id)).incident_id == incident.id


async def test_media_and_regulator_words_or_channels_open_the_keyword_incident(
    services: Services,
) -> None:
    media = await complain(services, MEDIA_TEXT)
    staff = as_staff(await make_staff(StaffRole.AGENT))
    referred = await intake.record_complaint(
        staff,
        services.pii,
        ComplaintChannel.REGULATOR,
        "监管转办：客户反映理赔时效问题",
        Subjects(),
    )
    await detect.evaluate_events()
    keyword = await rule("MEDIA_REGULATOR")
    [incident] = await CrisisIncident.all()  # both about claims, no product: one key
    assert incident.rule_id == keyword.id and incident.severity is CrisisSeverity.CRITICAL
    for complaint in (media, referred):
        assert (await Complaint.get(id=complaint.id)).incident_id == incident.id
    # Inside a longer word (jieba keeps 发微博 whole, the classifier misses it).
    assert detect.keyword_hits("我已经发微博了，准备联系媒体报道", keyword.keywords) == [
        "媒体",
        "微博",
        "报道",
    ]
    posted = await complain(services, "理赔太慢，我已经发微博了")
    assert posted.urgency is not Urgency.MAJOR
    await detect.evaluate_events()
    assert (await Complaint.get(id=posted.id)).incident_id == incident.id


async def test_a_spike_of_one_class_opens_at_the_threshold_and_rules_are_editable(
    services: Services,
) -> None:
    for _ in range(4):
        await complain(services, PLAIN_TEXT)
    await detect.evaluate_events()
    assert not await CrisisIncident.exists()  # 4 of 5
    fifth = await complain(services, PLAIN_TEXT)
    await detect.evaluate_events()
    [incident] = await CrisisIncident.all()
    assert incident.rule_id == (await rule("CLASS_SPIKE")).id
    assert incident.rule_key == f"class:{fifth.content_class}"
    assert await Complaint.filter(incident_id=incident.id).count() == 5

    # A manager lowers the product spike to 2 complaints in 48 hours.
    manager = as_staff(await make_staff(StaffRole.SUPERVISOR))
    spike = await rule("PRODUCT_SPIKE")
    change = detect.RuleChange("产品投诉激增", CrisisSeverity.HIGH, True, 2, 48, ())
    edited = await detect.edit_rule(manager, spike.id, spike.version, change)
    assert (edited.threshold, edited.window_hours, edited.version) == (2, 48, spike.version + 1)
    await refused(E.CONFLICT, detect.edit_rule(manager, spike.id, spike.version, change))
    bad = detect.RuleChange("x", CrisisSeverity.HIGH, True, 0, 48, ())
    await refused(E.RULE_INVALID, detect.edit_rule(manager, spike.id, edited.version, bad))
    product = await make_product()
    payment = await complain(services, "自动扣款扣了两次保费", product=product)
    await detect.evaluate_events()
    assert (await Complaint.get(id=payment.id)).incident_id is None
    other = await complain(services, "保费扣款金额不对", product=product)
    await detect.evaluate_events()
    by_product = await CrisisIncident.get(rule_key=f"product:{product.id}")
    assert by_product.rule_id == spike.id
    linked = {c.id for c in await Complaint.filter(incident_id=by_product.id)}
    assert linked == {payment.id, other.id}


async def test_the_whole_life_of_an_incident(services: Services) -> None:
    product = await make_product()
    complaint = await complain(services, MAJOR_TEXT, product=product)
    await detect.evaluate_events()
    incident = await CrisisIncident.get()
    # Two more in-force policies of the product (one holder has two), one lapsed.
    carol, dave = await make_customer(services), await make_customer(services)
    for holder in (carol, carol, dave):
        await make_policy(services, holder, product=product)
    await make_policy(
        services, await make_customer(services), product=product, status=PolicyStatus.LAPSED
    )
    lead = await make_staff(StaffRole.SUPERVISOR)
    second = await make_staff(StaffRole.ADMIN)
    agent = await make_staff(StaffRole.AGENT)
    a, b, handler = as_staff(lead), as_staff(second), as_staff(agent)

    # Assess: the scope is counted from the complaint and its product.
    await refused(
        E.ILLEGAL_TRANSITION,
        response.add_team_member(
            a, incident.id, incident.version, agent.id, CrisisTeamRole.CUSTOMER_CARE
        ),
    )
    incident = await response.assess(
        a,
        incident.id,
        incident.version,
        CrisisSeverity.HIGH,
        SpreadRisk.MEDIUM,
        CrisisScope.PRODUCT_HOLDERS,
        "同一产品拒赔引发诉讼威胁",
    )
    assert incident.status is S.ASSESSED
    assert (incident.customers_affected, incident.policies_affected) == (3, 4)
    await refused(
        E.CONFLICT,
        response.assess(
            b,
            incident.id,
            incident.version - 1,
            CrisisSeverity.LOW,
            SpreadRisk.LOW,
            CrisisScope.COMPLAINANTS,
            "旧版本",
        ),
    )

    # Respond: a team, a checklist; the owner completes their action.
    incident, member = await response.add_team_member(
        a, incident.id, incident.version, agent.id, CrisisTeamRole.CUSTOMER_CARE
    )
    assert incident.status is S.RESPONDING and member.role is CrisisTeamRole.CUSTOMER_CARE
    await refused(
        E.ALREADY_ON_TEAM,
        response.add_team_member(a, incident.id, incident.version, agent.id, CrisisTeamRole.LEAD),
    )
    due = datetime.now(UTC) + timedelta(hours=4)
    await refused(
        E.OWNER_NOT_ON_TEAM,
        response.add_action(a, incident.id, incident.version, "致电客户", lead.id, due),
    )
    await refused(
        E.DUE_IN_PAST,
        response.add_action(
            a,
            incident.id,
            incident.version,
            "致电客户",
            agent.id,
            datetime.now(UTC) - timedelta(minutes=1),
        ),
    )
    incident, action = await response.add_action(
        a, incident.id, incident.version, "逐一致电受影响客户", agent.id, due
    )
    # A team member sees the incident but may not steer it.
    await refused(
        E.NOT_ALLOWED,
        response.add_action(handler, incident.id, incident.version, "x", agent.id, due),
    )
    incident, action = await response.complete_action(
        handler, action.id, incident.version, "已全部致电"
    )
    assert action.done_at is not None and action.done_by == agent.id
    await refused(
        E.ACTION_DONE_ALREADY, response.complete_action(a, action.id, incident.version, "再次")
    )

    # Communicate: drafted by one manager, approved by another, released once.
    incident, statement = await response.draft_statement(
        a,
        incident.id,
        incident.version,
        StatementAudience.CUSTOMERS,
        None,
        "尊敬的客户：我们已成立专项小组复核相关理赔，将在5个工作日内逐一联系您。",
    )
    await refused(
        E.STATEMENT_NOT_APPROVED, response.release_statement(a, statement.id, incident.version)
    )
    await refused(
        E.SECOND_PERSON_REQUIRED, response.approve_statement(a, statement.id, incident.version)
    )
    incident, statement = await response.approve_statement(b, statement.id, incident.version)
    assert statement.status is StatementStatus.APPROVED and statement.approved_by == second.id
    incident, statement = await response.release_statement(a, statement.id, incident.version)
    assert incident.status is S.COMMUNICATING and statement.status is StatementStatus.RELEASED
    expected = {complaint.customer_id, carol.id, dave.id}
    notices = await OutboxEvent.filter(event_type="crisis.notice")
    assert sorted(str(e.customer_id) for e in notices) == sorted(str(c) for c in expected)
    assert statement.notified == 3
    await refused(
        E.STATEMENT_NOT_APPROVED, response.release_statement(a, statement.id, incident.version)
    )
    assert await OutboxEvent.filter(event_type="crisis.notice").count() == 3
    await OutboxRelay(services.bus, services.queue).relay_once()
    for customer_id in expected:
        [inbox] = await Notification.filter(customer_id=customer_id, kind="crisis.notice")
        assert inbox.body == statement.text

    # A media statement: logged, approved, released; no customer notice.
    incident, press = await response.draft_statement(
        b,
        incident.id,
        incident.version,
        StatementAudience.MEDIA,
        "都市报",
        "公司高度重视，已成立专项小组。",
    )
    incident, press = await response.approve_statement(a, press.id, incident.version)
    incident, press = await response.release_statement(b, press.id, incident.version)
    assert press.notified == 0
    assert await OutboxEvent.filter(event_type="crisis.notice").count() == 3

    # Summarise and close: not without the review.
    await refused(E.REVIEW_REQUIRED, response.close(a, incident.id, incident.version))
    incident = await response.write_review(
        a, incident.id, incident.version, "拒赔标准解释不一致", "统一拒赔说明模板并培训核赔人员"
    )
    assert incident.status is S.REVIEWING
    actions = [line["action"] for line in incident.review_timeline or []]
    assert actions[:2] == ["open", "link"] and "release_statement" in actions
    incident = await response.close(a, incident.id, incident.version)
    assert incident.status is S.CLOSED and incident.open_key is None
    # Every change told the managers.
    assert (
        await OutboxEvent.filter(
            entity_id=str(incident.id), event_type__startswith="crisis."
        ).count()
        >= 12
    )
    # The rule and key are free again: the next major complaint opens a new incident.
    await complain(services, MAJOR_TEXT, product=product)
    await detect.evaluate_events()
    assert await CrisisIncident.filter(status=S.IDENTIFIED).count() == 1


async def test_review_waits_for_open_actions(services: Services) -> None:
    manager = as_staff(await make_staff(StaffRole.SUPERVISOR))
    owner = await make_staff(StaffRole.AGENT)
    incident = await detect.open_incident(manager, "官网出现错误费率", CrisisSeverity.MEDIUM, [])
    assert incident.opened_by == manager.subject_id and incident.rule_id is None
    incident = await response.assess(
        manager,
        incident.id,
        incident.version,
        CrisisSeverity.MEDIUM,
        SpreadRisk.LOW,
        CrisisScope.COMPLAINANTS,
        "尚无客户受影响",
    )
    assert incident.customers_affected == 0
    incident, _ = await response.add_team_member(
        manager, incident.id, incident.version, owner.id, CrisisTeamRole.OPERATIONS
    )
    incident, _ = await response.add_action(
        manager,
        incident.id,
        incident.version,
        "下线错误费率",
        owner.id,
        datetime.now(UTC) + timedelta(hours=1),
    )
    await refused(
        E.ACTIONS_OPEN,
        response.write_review(manager, incident.id, incident.version, "配置错误", "增加复核"),
    )


async def test_customers_and_handlers_are_refused(services: Services) -> None:
    customer = await make_customer(services)
    complaint = await complain(services, MAJOR_TEXT)
    await detect.evaluate_events()
    incident = await CrisisIncident.get()
    agent = as_staff(await make_staff(StaffRole.AGENT))
    adjuster = as_staff(await make_staff(StaffRole.ADJUSTER))
    me = as_customer(customer)
    for who in (me, agent, adjuster):
        await refused(E.NOT_ALLOWED, detect.open_incident(who, "x", CrisisSeverity.LOW, []))
        await refused(
            E.INCIDENT_NOT_FOUND,
            response.assess(
                who,
                incident.id,
                incident.version,
                CrisisSeverity.LOW,
                SpreadRisk.LOW,
                CrisisScope.COMPLAINANTS,
                "x",
            ),
        )
        await refused(E.INCIDENT_NOT_FOUND, response.close(who, incident.id, incident.version))
        change = detect.RuleChange("x", CrisisSeverity.LOW, False, 1, 1, ())
        await refused(E.NOT_ALLOWED, detect.edit_rule(who, incident.rule_id, 1, change))  # type: ignore[arg-type]
    # An agent put on the team reads it, and still may not steer it.
    manager = as_staff(await make_staff(StaffRole.SUPERVISOR))
    incident = await response.assess(
        manager,
        incident.id,
        incident.version,
        CrisisSeverity.HIGH,
        SpreadRisk.LOW,
        CrisisScope.COMPLAINANTS,
        "评估",
    )
    incident, _ = await response.add_team_member(
        manager,
        incident.id,
        incident.version,
        agent.subject_id,
        CrisisTeamRole.LEGAL,  # type: ignore[arg-type]
    )
    await refused(E.NOT_ALLOWED, response.close(agent, incident.id, incident.version))
    assert complaint.incident_id is None  # the row read before the rules ran


@postgres_only
async def test_many_major_complaints_at_once_give_one_incident(services: Services) -> None:
    product = await make_product()
    complaints = await asyncio.gather(
        *(complain(services, MAJOR_TEXT, product=product) for _ in range(8))
    )
    # Every complaint evaluated at once (as by several workers), and the events too.
    await asyncio.gather(
        *(detect.evaluate(c.id) for c in complaints),
        *(detect.evaluate_events() for _ in range(3)),
    )
    [incident] = await CrisisIncident.all()
    linked = await Complaint.filter(incident_id=incident.id).count()
    assert linked == 8
    assert await OutboxEvent.filter(event_type="crisis.opened").count() == 1


@postgres_only
async def test_a_spike_arriving_at_once_gives_one_incident(services: Services) -> None:
    complaints = await asyncio.gather(*(complain(services, PLAIN_TEXT) for _ in range(7)))
    await asyncio.gather(*(detect.evaluate(c.id) for c in complaints))
    [incident] = await CrisisIncident.all()
    assert await Complaint.filter(incident_id=incident.id).count() == 7


@postgres_only
async def test_two_managers_approving_at_once_give_one_approval(services: Services) -> None:
    a, b, c = [as_staff(await make_staff(StaffRole.SUPERVISOR)) for _ in range(3)]
    incident = await detect.open_incident(a, "系统故障", CrisisSeverity.LOW, [])
    incident = await response.assess(
        a,
        incident.id,
        incident.version,
        CrisisSeverity.LOW,
        SpreadRisk.LOW,
        CrisisScope.COMPLAINANTS,
        "评估",
    )
    incident, _ = await response.add_team_member(
        a, incident.id, incident.version, a.subject_id, CrisisTeamRole.LEAD
    )  # type: ignore[arg-type]
    incident, statement = await response.draft_statement(
        a, incident.id, incident.version, StatementAudience.REGULATOR, "监管局", "情况说明"
    )
    results = await asyncio.gather(
        response.approve_statement(b, statement.id, incident.version),
        response.approve_statement(c, statement.id, incident.version),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, CrisisError)]
    assert len(errors) == 1 and errors[0].code is E.CONFLICT
    assert (await CrisisIncident.get(id=incident.id)).version == incident.version + 1


async def test_policy_count_ignores_lapsed_policies(services: Services) -> None:
    """Only in-force policies of the product are in the scope."""
    product = await make_product()
    await make_policy(
        services, await make_customer(services), product=product, status=PolicyStatus.LAPSED
    )
    complaint = await complain(services, MAJOR_TEXT, product=product)
    await detect.evaluate_events()
    incident = await CrisisIncident.get()
    scope = await response.affected(incident, CrisisScope.PRODUCT_HOLDERS)
    assert scope.customers == {complaint.customer_id}
    assert scope.policies == {complaint.policy_id}
    assert await Policy.filter(product_id=product.id).count() == 2
