"""Follow-up visits (定期回访): planning from the rules, the staff work list, outcomes, and
the customer's wishes.

The worker plans visits from the enabled rules; planning is repeatable (a visit is
unique per rule and subject: the claim, the policy and year, the customer and month).
Staff record every attempt; a customer not reached is tried again ``retry_after_days``
later until the rule's limit, then the visit is UNREACHABLE. Changes carry the version
the caller saw, so a double click or two people at once have one effect. E-mail visits
are sent by the worker when due: an e-mail with a link to a short survey.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimStatus
from models.clock import SHANGHAI, local_date
from models.customers import Customer
from models.ids import global_id
from models.pii import PiiCipher
from models.policies import Policy, PolicyStatus
from models.privacy import PiiSubjectKind
from models.staff import StaffUser
from models.visits import (
    DEFAULT_RULES,
    FollowUpVisit,
    VisitAttempt,
    VisitChannel,
    VisitRule,
    VisitStatus,
    VisitTrigger,
)
from push.outbox import emit
from workflows.access import ROLE_PERMISSIONS, Actor, Permission
from workflows.batches import in_batches
from workflows.errors import DomainError
from workflows.jobs import HOUR, MINUTE, Job
from workflows.privacy import reveal as privacy
from workflows.surveys import invite, open_recovery

PURPOSES = {
    VisitTrigger.CLAIM_CLOSED: "理赔结案回访",
    VisitTrigger.POLICY_ANNIVERSARY: "保单周年回访",
    VisitTrigger.BEFORE_RENEWAL: "续保前回访",
    VisitTrigger.HIGH_VALUE: "客户定期回访",
    VisitTrigger.CALLBACK: "预约回电",
    VisitTrigger.NEW_POLICY_INTEREST: "新保单意向回访",
    VisitTrigger.RETENTION_RISK: "续期缴费关怀回访",
}
CLAIMS_LOOKBACK = timedelta(days=60)  # switching a rule on does not visit old claims
VISIT_HOUR = time(10, 0)  # planned visits fall at 10:00 Asia/Shanghai
MAX_AHEAD = timedelta(days=365)
MAX_TERM_YEARS = 30  # anniversaries are looked for up to this many years after the start
NOTE_LIMIT = 1000
CUSTOMER_NOTE_LIMIT = 200  # the column's size
REVEAL_AHEAD = timedelta(days=1)


class VisitErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"  # changed meanwhile: reload and try again
    NOT_SCHEDULED = "NOT_SCHEDULED"  # done, unreachable or declined already
    NOT_YOURS = "NOT_YOURS"  # assigned to another staff member
    NOT_DUE = "NOT_DUE"  # more than a day ahead
    INVALID_TIME = "INVALID_TIME"
    INVALID_RULE = "INVALID_RULE"
    INVALID_STAFF = "INVALID_STAFF"
    TOO_LONG = "TOO_LONG"


class VisitError(DomainError):
    codes = VisitErrorCode


def overdue(now: datetime) -> Q:
    """Visits still scheduled past their due time."""
    return Q(status=VisitStatus.SCHEDULED, due_at__lt=now)


def is_overdue(visit: FollowUpVisit, now: datetime) -> bool:
    return visit.status is VisitStatus.SCHEDULED and visit.due_at < now


def at_visit_hour(day: date) -> datetime:
    return datetime.combine(day, VISIT_HOUR, SHANGHAI).astimezone(UTC)


# ---------------------------------------------------------------- rules


async def current_rules() -> list[VisitRule]:
    """Every rule, the defaults created on first use."""
    existing = {r.trigger: r for r in await VisitRule.all()}
    for trigger, defaults in DEFAULT_RULES.items():
        if trigger not in existing:
            try:
                existing[trigger] = await VisitRule.create(trigger=trigger, **defaults)
            except IntegrityError:  # created by another process at the same moment
                existing[trigger] = await VisitRule.get(trigger=trigger)
    return [existing[t] for t in VisitTrigger]


@dataclass(frozen=True)
class RuleChange:
    enabled: bool
    channel: VisitChannel
    days: int
    max_attempts: int
    retry_after_days: int
    every_months: int | None = None
    min_annual_premium: Decimal | None = None


async def change_rule(
    trigger: VisitTrigger, change: RuleChange, expected_version: int, staff_id: uuid.UUID
) -> VisitRule:
    """Staff change how visits are planned from now on; planned visits stay as they are."""
    checks = [
        (0 <= change.days <= 365, "days", "天数须在0到365之间"),
        (1 <= change.max_attempts <= 10, "maxAttempts", "尝试次数须在1到10之间"),
        (1 <= change.retry_after_days <= 30, "retryAfterDays", "重试间隔须在1到30天之间"),
    ]
    if trigger is VisitTrigger.HIGH_VALUE:
        checks += [
            (1 <= (change.every_months or 0) <= 24, "everyMonths", "间隔月数须在1到24之间"),
            (
                (change.min_annual_premium or 0) > 0,
                "minAnnualPremium",
                "请填写高价值客户的年保费门槛",
            ),
        ]
    for ok, field, message in checks:
        if not ok:
            raise VisitError(VisitErrorCode.INVALID_RULE, message, field)
    await current_rules()
    high_value = trigger is VisitTrigger.HIGH_VALUE
    changed = await VisitRule.filter(trigger=trigger, version=expected_version).update(
        enabled=change.enabled,
        channel=change.channel,
        days=change.days,
        max_attempts=change.max_attempts,
        retry_after_days=change.retry_after_days,
        every_months=change.every_months if high_value else None,
        min_annual_premium=change.min_annual_premium if high_value else None,
        updated_by=staff_id,
        updated_at=datetime.now(UTC),
        version=expected_version + 1,
    )
    if not changed:
        raise VisitError(VisitErrorCode.CONFLICT, "规则已被他人修改，请刷新后重试", "version")
    return await VisitRule.get(trigger=trigger)


# ---------------------------------------------------------------- planning


async def plan_visits(now: datetime | None = None) -> int:
    """The worker's job: visits for every enabled rule; returns how many were planned."""
    now = now or datetime.now(UTC)
    planners = {
        VisitTrigger.CLAIM_CLOSED: _after_claims,
        VisitTrigger.POLICY_ANNIVERSARY: _anniversaries,
        VisitTrigger.BEFORE_RENEWAL: _renewals,
        VisitTrigger.HIGH_VALUE: _high_value,
        VisitTrigger.CALLBACK: _asked_for,
        VisitTrigger.NEW_POLICY_INTEREST: _asked_for,
        VisitTrigger.RETENTION_RISK: _asked_for,
    }
    planned = 0
    for rule in await current_rules():
        if rule.enabled:
            wanted = await planners[rule.trigger](rule, now)
            planned += await _create(rule, wanted)
    return planned


async def _asked_for(rule: VisitRule, now: datetime) -> list[_Wanted]:
    """Call backs and new-policy interest are made when asked for (``plan_callback``,
    ``plan_interest_visit``), never planned."""
    return []


@dataclass(frozen=True)
class _Wanted:
    customer_id: uuid.UUID
    subject: str
    due_at: datetime
    policy_id: uuid.UUID | None = None
    claim_id: uuid.UUID | None = None


async def _after_claims(rule: VisitRule, now: datetime) -> list[_Wanted]:
    rows = await Claim.filter(
        status=ClaimStatus.CLOSED, closed_at__gte=now - CLAIMS_LOOKBACK
    ).values_list("id", "customer_id", "policy_id", "closed_at")
    return [
        _Wanted(
            customer_id,
            f"claim:{claim_id}",
            at_visit_hour(local_date(closed_at) + timedelta(days=rule.days)),
            policy_id=policy_id,
            claim_id=claim_id,
        )
        for claim_id, customer_id, policy_id, closed_at in rows
    ]


def next_anniversary(start: date, today: date) -> date:
    """The first anniversary of ``start`` on or after ``today`` (29 Feb → 28 Feb)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = start.replace(year=year)
        except ValueError:
            candidate = date(year, 2, 28)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable")


def _years_back(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return date(day.year - years, 2, 28)


async def _anniversaries(rule: VisitRule, now: datetime) -> list[_Wanted]:
    """Policies running for more than a year whose anniversary (not their end: that is
    renewal) falls within ``days``. The database only returns policies that started in
    the same window one, two, … years ago (a day's margin each side); the exact check is
    below."""
    today = local_date(now)
    windows = Q()
    for years in range(1, MAX_TERM_YEARS + 1):
        first = at_visit_hour(_years_back(today, years) - timedelta(days=1))
        last = at_visit_hour(_years_back(today + timedelta(days=rule.days), years))
        windows |= Q(starts_at__gte=first, starts_at__lte=last + timedelta(days=1))
    rows = await Policy.filter(windows, status=PolicyStatus.ACTIVE).values_list(
        "id", "holder_id", "starts_at", "ends_at"
    )
    wanted = []
    for policy_id, holder_id, starts_at, ends_at in rows:
        start = local_date(starts_at)
        anniversary = next_anniversary(start, today)
        if (
            anniversary.year > start.year
            and anniversary < local_date(ends_at)
            and (anniversary - today).days <= rule.days
        ):
            wanted.append(
                _Wanted(
                    holder_id,
                    f"policy:{policy_id}:{anniversary.year}",
                    at_visit_hour(anniversary),
                    policy_id=policy_id,
                )
            )
    return wanted


async def _renewals(rule: VisitRule, now: datetime) -> list[_Wanted]:
    rows = await Policy.filter(
        status=PolicyStatus.ACTIVE,
        product__renewable=True,
        ends_at__gt=now,
        ends_at__lte=now + timedelta(days=rule.days),
    ).values_list("id", "holder_id", "ends_at")
    today = local_date(now)
    return [
        _Wanted(
            holder_id,
            f"renewal:{policy_id}:{local_date(ends_at)}",
            at_visit_hour(max(local_date(ends_at) - timedelta(days=rule.days), today)),
            policy_id=policy_id,
        )
        for policy_id, holder_id, ends_at in rows
    ]


async def _high_value(rule: VisitRule, now: datetime) -> list[_Wanted]:
    """Holders whose active policies' premiums add up to the rule's threshold, unless
    visited for this reason within ``every_months``."""
    totals = (
        await Policy.filter(status=PolicyStatus.ACTIVE)
        .annotate(total=Sum("premium"))
        .group_by("holder_id")
        .values_list("holder_id", "total")
    )
    threshold = rule.min_annual_premium or Decimal(0)
    recent = set(
        await FollowUpVisit.filter(
            trigger=VisitTrigger.HIGH_VALUE,
            created_at__gte=now - timedelta(days=30 * (rule.every_months or 1)),
        ).values_list("customer_id", flat=True)
    )
    due_at = at_visit_hour(local_date(now) + timedelta(days=rule.days))
    return [
        _Wanted(uuid.UUID(str(holder)), f"customer:{holder}:{local_date(now):%Y-%m}", due_at)
        for holder, total in totals
        if Decimal(str(total)) >= threshold and uuid.UUID(str(holder)) not in recent
    ]


async def _create(rule: VisitRule, wanted: list[_Wanted]) -> int:
    """Insert the visits not planned yet, in batches; a visit another worker plans at the
    same moment is skipped by the database (unique rule and subject)."""
    planned: set[str] = set()
    for batch in in_batches(wanted):
        subjects = await FollowUpVisit.filter(
            trigger=rule.trigger, subject__in=[w.subject for w in batch]
        ).values_list("subject", flat=True)
        planned.update(str(subject) for subject in subjects)
    fresh = [w for w in wanted if w.subject not in planned]
    for batch in in_batches(fresh):
        with_email = set(
            await Customer.filter(
                id__in={w.customer_id for w in batch}, email_encrypted__isnull=False
            ).values_list("id", flat=True)
        )
        await FollowUpVisit.bulk_create(
            [
                FollowUpVisit(
                    id=uuid.uuid4(),
                    customer_id=item.customer_id,
                    trigger=rule.trigger,
                    subject=item.subject,
                    purpose=PURPOSES[rule.trigger],
                    policy_id=item.policy_id,
                    claim_id=item.claim_id,
                    # No address on file: call instead.
                    channel=VisitChannel.PHONE
                    if rule.channel is VisitChannel.EMAIL and item.customer_id not in with_email
                    else rule.channel,
                    due_at=item.due_at,
                    max_attempts=rule.max_attempts,
                    retry_after_days=rule.retry_after_days,
                )
                for item in batch
            ],
            ignore_conflicts=True,
        )
    return len(fresh)


async def plan_callback(
    customer_id: uuid.UUID, subject: str, purpose: str, due_at: datetime
) -> tuple[FollowUpVisit, bool]:
    """A call back the customer asked for (online service outside agents' hours), on the
    work list under the CALLBACK rule; one per ``subject`` (the visit list's unique rule
    and subject: asking again, or twice at once, answers the same task). The visit and
    whether it is new; raises VisitError(INVALID_RULE) while the rule is switched off."""
    rule = next(r for r in await current_rules() if r.trigger is VisitTrigger.CALLBACK)
    if not rule.enabled:
        raise VisitError(VisitErrorCode.INVALID_RULE, "暂不提供预约回电服务")
    try:
        async with in_transaction():
            visit = await FollowUpVisit.create(
                customer_id=customer_id,
                trigger=VisitTrigger.CALLBACK,
                subject=subject,
                purpose=purpose,
                channel=rule.channel,
                due_at=due_at,
                agreed_due_at=due_at,
                max_attempts=rule.max_attempts,
                retry_after_days=rule.retry_after_days,
            )
    except IntegrityError:
        return await FollowUpVisit.get(trigger=VisitTrigger.CALLBACK, subject=subject), False
    return visit, True


async def plan_interest_visit(customer_id: uuid.UUID, subject: str, purpose: str) -> FollowUpVisit:
    """A customer marked interest in a product their service plan suggests: a visit under
    the NEW_POLICY_INTEREST rule (flagged ``new_policy_interest`` so the list's filter
    finds it), due the rule's ``days`` later at the visit hour, one per ``subject``.
    Runs in the caller's transaction, which records the interest with it; a second one
    for the subject raises IntegrityError there. Raises VisitError(INVALID_RULE) while
    the rule is switched off."""
    rule = next(r for r in await current_rules() if r.trigger is VisitTrigger.NEW_POLICY_INTEREST)
    if not rule.enabled:
        raise VisitError(VisitErrorCode.INVALID_RULE, "暂不提供新保单意向回访")
    due_at = at_visit_hour(local_date(datetime.now(UTC)) + timedelta(days=rule.days))
    return await FollowUpVisit.create(
        customer_id=customer_id,
        trigger=VisitTrigger.NEW_POLICY_INTEREST,
        subject=subject,
        purpose=purpose,
        channel=rule.channel,
        due_at=due_at,
        agreed_due_at=due_at,
        max_attempts=rule.max_attempts,
        retry_after_days=rule.retry_after_days,
        new_policy_interest=True,
    )


@dataclass(frozen=True)
class RetentionCall:
    customer_id: uuid.UUID
    policy_id: uuid.UUID
    subject: str  # one call per subject (the visit list's unique rule and subject)


async def plan_retention_calls(calls: list[RetentionCall]) -> int:
    """Calls to customers whose premiums show a risk of lapse (the risk rules' signals),
    under the RETENTION_RISK rule, due the rule's ``days`` later at the visit hour; one
    per subject (ON CONFLICT DO NOTHING: the caller's transaction is never aborted).
    Nothing while the rule is switched off; the number asked for otherwise."""
    rule = next(r for r in await current_rules() if r.trigger is VisitTrigger.RETENTION_RISK)
    if not rule.enabled or not calls:
        return 0
    due_at = at_visit_hour(local_date(datetime.now(UTC)) + timedelta(days=rule.days))
    await FollowUpVisit.bulk_create(
        [
            FollowUpVisit(
                id=uuid.uuid4(),
                customer_id=call.customer_id,
                policy_id=call.policy_id,
                trigger=VisitTrigger.RETENTION_RISK,
                subject=call.subject[:96],
                purpose=PURPOSES[VisitTrigger.RETENTION_RISK],
                channel=rule.channel,
                due_at=due_at,
                agreed_due_at=due_at,
                max_attempts=rule.max_attempts,
                retry_after_days=rule.retry_after_days,
            )
            for call in calls
        ],
        ignore_conflicts=True,
    )
    return len(calls)


# ---------------------------------------------------------------- e-mail visits


async def send_email_visits(*, email_on: bool = True, now: datetime | None = None) -> int:
    """Due e-mail visits: an e-mail through the notification channels with a link to the
    follow-up survey (the e-mail channel adds the link with its token when it sends: the
    event carries only the invitation); the visit is then done (its survey shows whether
    it was answered). Without an e-mail channel or address, the visit becomes a phone
    visit instead."""
    now = now or datetime.now(UTC)
    due = await FollowUpVisit.filter(
        status=VisitStatus.SCHEDULED, channel=VisitChannel.EMAIL, due_at__lte=now
    ).limit(200)
    sent = 0
    for visit in due:
        if not email_on or not await Customer.exists(
            id=visit.customer_id, email_encrypted__isnull=False
        ):
            await FollowUpVisit.filter(id=visit.id, version=visit.version).update(
                channel=VisitChannel.PHONE, version=visit.version + 1
            )
            continue
        async with in_transaction():
            claimed = await FollowUpVisit.filter(id=visit.id, version=visit.version).update(
                status=VisitStatus.DONE,
                attempts=visit.attempts + 1,
                completed_at=now,
                version=visit.version + 1,
            )
            if not claimed:  # another worker, or staff, got there first
                continue
            invitation = await invite(
                visit.customer_id,
                "visit",
                "visit",
                str(visit.id),
                "FOLLOW_UP_VISIT",
                announce=False,
            )
            assert invitation is not None, "one visit, one invitation: claimed above"
            await FollowUpVisit.filter(id=visit.id).update(survey_invitation_id=invitation.id)
            # Sent is not reached: the survey answer shows whether the customer read it.
            await VisitAttempt.create(visit_id=visit.id, reached=False, note="已发送回访邮件")
            await emit(
                "visit.email",
                entity_type="visit",
                entity_id=visit.id,
                customer_id=visit.customer_id,
                payload={
                    "purpose": visit.purpose,
                    "invitation_id": global_id("Survey", invitation.id),
                },
            )
            sent += 1
    return sent


# ---------------------------------------------------------------- staff


def may_work_on(actor: Actor, visit: FollowUpVisit) -> bool:
    return (
        visit.assignee_id is None
        or visit.assignee_id == actor.subject_id
        or actor.can(Permission.VISIT_MANAGE)
    )


async def _open(visit_id: uuid.UUID, expected_version: int) -> FollowUpVisit:
    visit = await FollowUpVisit.get_or_none(id=visit_id)
    if visit is None:
        raise VisitError(VisitErrorCode.NOT_FOUND, "未找到该回访任务", "visitId")
    if visit.status is not VisitStatus.SCHEDULED:
        raise VisitError(VisitErrorCode.NOT_SCHEDULED, "该回访已结束")
    if visit.version != expected_version:
        raise VisitError(VisitErrorCode.CONFLICT, "回访任务已被更新，请刷新后重试", "version")
    return visit


async def _save(visit: FollowUpVisit, **changes: Any) -> FollowUpVisit:
    changed = await FollowUpVisit.filter(
        id=visit.id, version=visit.version, status=VisitStatus.SCHEDULED
    ).update(version=visit.version + 1, **changes)
    if not changed:
        raise VisitError(VisitErrorCode.CONFLICT, "回访任务已被更新，请刷新后重试", "version")
    return await FollowUpVisit.get(id=visit.id)


async def assign(visit_id: uuid.UUID, expected_version: int, staff_id: uuid.UUID) -> FollowUpVisit:
    visit = await _open(visit_id, expected_version)
    staff = await StaffUser.get_or_none(id=staff_id, is_active=True)
    if staff is None or Permission.VISIT_HANDLE not in ROLE_PERMISSIONS[staff.role]:
        raise VisitError(VisitErrorCode.INVALID_STAFF, "该员工不能处理回访", "staffId")
    return await _save(visit, assignee_id=staff.id)


def _check_time(moment: datetime, now: datetime, field: str) -> None:
    if moment.tzinfo is None:
        raise VisitError(VisitErrorCode.INVALID_TIME, "时间须带时区，例如 +08:00", field)
    if not now < moment <= now + MAX_AHEAD:
        raise VisitError(VisitErrorCode.INVALID_TIME, "请选择今后一年内的时间", field)


async def reschedule(
    actor: Actor, visit_id: uuid.UUID, expected_version: int, due_at: datetime
) -> FollowUpVisit:
    """A new time on the work list (e.g. the one the customer asked for); the customer's
    request is then answered. Only the customer's own request moves the agreed time
    that the phone reveal goes by: staff alone cannot make a visit due (see
    ``reveal_phone``)."""
    visit = await _open(visit_id, expected_version)
    if not may_work_on(actor, visit):
        raise VisitError(VisitErrorCode.NOT_YOURS, "该回访已分配给其他同事")
    _check_time(due_at, datetime.now(UTC), "dueAt")
    asked = visit.preferred_time if visit.change_requested_at is not None else None
    agreed = asked or visit.agreed_due_at or visit.due_at
    return await _save(visit, due_at=due_at, agreed_due_at=agreed, change_requested_at=None)


@dataclass(frozen=True)
class Outcome:
    reached: bool
    note: str = ""
    needs: str = ""  # the customer's needs or changes (address, family, income)
    next_action: str = ""
    new_policy_interest: bool = False
    complaint_raised: bool = False


async def record_outcome(
    actor: Actor, visit_id: uuid.UUID, expected_version: int, outcome: Outcome
) -> FollowUpVisit:
    """One attempt. Reached: the visit is done (a complaint opens a recovery task for a
    supervisor). Not reached: tried again later, until the rule's limit."""
    visit = await _open(visit_id, expected_version)
    if not may_work_on(actor, visit):
        raise VisitError(VisitErrorCode.NOT_YOURS, "该回访已分配给其他同事")
    for name in ("note", "needs", "next_action"):
        if len(getattr(outcome, name)) > NOTE_LIMIT:
            raise VisitError(VisitErrorCode.TOO_LONG, f"不能超过{NOTE_LIMIT}个字", name)
    now = datetime.now(UTC)
    attempts = visit.attempts + 1
    changes: dict[str, Any] = {
        "attempts": attempts,
        "assignee_id": visit.assignee_id or actor.subject_id,
    }
    if outcome.reached:
        changes |= {
            "status": VisitStatus.DONE,
            "needs": outcome.needs.strip(),
            "next_action": outcome.next_action.strip(),
            "new_policy_interest": outcome.new_policy_interest,
            "complaint_raised": outcome.complaint_raised,
            "completed_at": now,
            "completed_by": actor.subject_id,
        }
    elif attempts >= visit.max_attempts:
        changes |= {
            "status": VisitStatus.UNREACHABLE,
            "completed_at": now,
            "completed_by": actor.subject_id,
        }
    else:
        retry_at = at_visit_hour(local_date(now) + timedelta(days=visit.retry_after_days))
        # The rule's time, but never before the call was due: an attempt logged early
        # (real or made up) does not bring the call, or its phone reveal, forward.
        retry_at = max(retry_at, call_due_at(visit))
        changes |= {"due_at": retry_at, "agreed_due_at": retry_at}
    async with in_transaction():
        saved = await _save(visit, **changes)
        await VisitAttempt.create(
            visit_id=visit.id,
            staff_id=actor.subject_id,
            reached=outcome.reached,
            note=outcome.note.strip(),
        )
        if outcome.reached and outcome.complaint_raised:
            await open_recovery(
                visit.customer_id, "visit", visit.id, f"visit:{visit.id}", "回访中客户提出投诉"
            )
    return saved


def call_due_at(visit: FollowUpVisit) -> datetime:
    """When the call is due for the phone reveal: the later of the work-list time and
    the agreed time. Staff moving a visit later delays the reveal; moving it earlier
    does not bring it forward."""
    return max(visit.due_at, visit.agreed_due_at or visit.due_at)


async def reveal_phone(
    actor: Actor,
    pii: PiiCipher,
    visit_id: uuid.UUID,
    purpose: str,
    limits: privacy.RevealLimits,
) -> str:
    """The full number, for whoever may work a scheduled phone visit (unassigned, theirs,
    or a visit manager), once the call is due within a day — so nobody reads the numbers
    of weeks of visits. "Due" is ``call_due_at``: the time planned by the rules, moved
    by the retry rule or by the customer's own request, and not earlier than the work
    list says. Rescheduling or assigning (even to oneself) never makes a visit
    revealable on its own. Every look is logged with its stated purpose
    (``workflows.privacy``); lists only show the masked number."""
    visit = await FollowUpVisit.get_or_none(id=visit_id).select_related("customer")
    if visit is None:
        raise VisitError(VisitErrorCode.NOT_FOUND, "未找到该回访任务", "visitId")
    if visit.status is not VisitStatus.SCHEDULED or visit.channel is not VisitChannel.PHONE:
        raise VisitError(VisitErrorCode.NOT_SCHEDULED, "只有待进行的电话回访可以查看号码")
    if not may_work_on(actor, visit):
        raise VisitError(VisitErrorCode.NOT_YOURS, "该回访已分配给其他同事")
    if call_due_at(visit) > datetime.now(UTC) + REVEAL_AHEAD:
        raise VisitError(VisitErrorCode.NOT_DUE, "回访时间未到，请在回访当天查看号码")
    subject = privacy.Subject(PiiSubjectKind.FOLLOW_UP_VISIT, visit.id, visit.customer_id)
    return await privacy.reveal_phone(actor, pii, visit.customer, subject, purpose, limits)


# ---------------------------------------------------------------- customers


async def _customers(customer_id: uuid.UUID, visit_id: uuid.UUID) -> FollowUpVisit:
    visit = await FollowUpVisit.get_or_none(id=visit_id, customer_id=customer_id)
    if visit is None:
        raise VisitError(VisitErrorCode.NOT_FOUND, "未找到该回访安排", "visitId")
    if visit.status is not VisitStatus.SCHEDULED:
        raise VisitError(VisitErrorCode.NOT_SCHEDULED, "该回访已结束")
    return visit


def _customer_note(note: str) -> str:
    if len(note.strip()) > CUSTOMER_NOTE_LIMIT:
        raise VisitError(VisitErrorCode.TOO_LONG, f"不能超过{CUSTOMER_NOTE_LIMIT}个字", "note")
    return note.strip()


async def request_change(
    customer_id: uuid.UUID, visit_id: uuid.UUID, preferred_time: datetime, note: str
) -> FollowUpVisit:
    """The customer asks for another time; staff see the request and reschedule."""
    visit = await _customers(customer_id, visit_id)
    _check_time(preferred_time, datetime.now(UTC), "preferredTime")
    return await _save(
        visit,
        preferred_time=preferred_time,
        customer_note=_customer_note(note),
        change_requested_at=datetime.now(UTC),
    )


async def decline(customer_id: uuid.UUID, visit_id: uuid.UUID, note: str) -> FollowUpVisit:
    visit = await _customers(customer_id, visit_id)
    return await _save(
        visit,
        status=VisitStatus.DECLINED,
        customer_note=_customer_note(note),
        completed_at=datetime.now(UTC),
    )


JOBS = (
    Job("visit-planning", HOUR, lambda deps: plan_visits(), first_after=MINUTE),
    Job("email-visits", 5 * MINUTE, lambda deps: send_email_visits(email_on=deps.email_on)),
)
