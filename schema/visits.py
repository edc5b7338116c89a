"""Follow-up visits in GraphQL: the staff work list and its actions, the rules, and the
customer's own upcoming visits with "another time, please" and "no, thank you"."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models import visits as m
from models.clock import local_midnight, local_time
from schema.common import Connection, CursorArg, Money, PageArg, cny, node_uuid, paginate
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, staff_only
from schema.scalars import Amount
from workflows import visits as flows
from workflows.access import Actor, Permission
from workflows.privacy.rules import PrivacyError

if TYPE_CHECKING:
    from schema.policy_service.service_plans import ServicePlan

strawberry.enum(m.VisitTrigger, description="Why a visit is planned.")
strawberry.enum(m.VisitChannel, description="How the customer is visited.")
strawberry.enum(m.VisitStatus, description="Where a visit stands.")
VISIT_CODES = ErrorCodes(
    "VisitErrorCode", "Why a visit action failed.", flows.VisitError, PrivacyError
)


@answers_with(VISIT_CODES)
@strawberry.type(description="A failed visit action.")
class VisitError(Error):
    code: str = strawberry.field(graphql_type=VISIT_CODES.enum, description=CODE)


@strawberry.type(description="One contact attempt of a visit.")
class VisitAttempt:
    """A line of its visit's log, written once and never changed: shown inside its
    FollowUpVisit, it needs no identity of its own."""

    at: datetime = strawberry.field(description="When it was recorded.")
    reached: bool = strawberry.field(description="Whether the customer was reached.")
    note: str = strawberry.field(description="What happened.")


@strawberry.type(description="Staff view of a follow-up visit (定期回访).")
class FollowUpVisit(relay.Node):
    """A visit as staff work it; the customer's view of the same row is a MyVisit, with
    its own ID (a cache keeps the two apart, and a customer never holds a staff ID)."""

    id: relay.NodeID[str]
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")
    trigger: m.VisitTrigger = strawberry.field(description="Why it was planned.")
    purpose: str = strawberry.field(description="What it is, in Chinese.")
    channel: m.VisitChannel = strawberry.field(description="Phone, e-mail or face to face.")
    status: m.VisitStatus = strawberry.field(description="Where it stands.")
    due_at: datetime = strawberry.field(description="When to visit (Asia/Shanghai).")
    overdue: bool = strawberry.field(description="Scheduled and past due.")
    customer_name: str = strawberry.field(description="Whom to visit.")
    customer_phone: str = strawberry.field(description="Their phone, masked.")
    policy_number: str | None = strawberry.field(description="The policy it is about.")
    claim_report_number: str | None = strawberry.field(description="The claim it is about.")
    assignee_name: str | None = strawberry.field(description="Who does it; null: nobody yet.")
    attempts: int = strawberry.field(description="Contact attempts so far.")
    max_attempts: int = strawberry.field(description="Attempts before it is UNREACHABLE.")
    change_requested: bool = strawberry.field(description="The customer asked for another time.")
    preferred_time: datetime | None = strawberry.field(
        description="The time the customer asked for."
    )
    customer_note: str = strawberry.field(description="The customer's note (change or decline).")
    needs: str = strawberry.field(description="The customer's needs or changes, once reached.")
    next_action: str = strawberry.field(description="What happens next.")
    new_policy_interest: bool = strawberry.field(description="Interested in a new policy.")
    complaint_raised: bool = strawberry.field(description="Raised a complaint (opens recovery).")
    completed_at: datetime | None = strawberry.field(description="When it ended.")
    survey_answered: bool | None = strawberry.field(
        description="E-mail visits: whether the customer answered the linked survey."
    )
    attempt_log: list[VisitAttempt] = strawberry.field(description="Every attempt, oldest first.")

    @strawberry.field(
        description="NEW_POLICY_INTEREST visits: the customer's service plan the interest "
        "came from (its gaps, suggestions and answers; each look is logged); null otherwise."
    )
    async def service_plan(
        self, info: Info
    ) -> Annotated[ServicePlan, strawberry.lazy("schema.policy_service.service_plans")] | None:
        from schema.policy_service.service_plans import service_plan_of_visit  # imports this

        if self.trigger is not m.VisitTrigger.NEW_POLICY_INTEREST:
            return None
        return await service_plan_of_visit(info.context.actor, uuid.UUID(self.id))

    @classmethod
    def from_model(cls, visit: m.FollowUpVisit) -> FollowUpVisit:
        """Needs the related rows and attempt_log fetched along (``_staff_visits``)."""
        return cls(
            id=str(visit.id),
            version=visit.version,
            trigger=visit.trigger,
            purpose=visit.purpose,
            channel=visit.channel,
            status=visit.status,
            due_at=local_time(visit.due_at),
            overdue=flows.is_overdue(visit, datetime.now(UTC)),
            customer_name=visit.customer.name,
            customer_phone=visit.customer.phone_masked,
            policy_number=visit.policy.number if visit.policy else None,
            claim_report_number=visit.claim.report_number if visit.claim else None,
            assignee_name=visit.assignee.display_name if visit.assignee else None,
            attempts=visit.attempts,
            max_attempts=visit.max_attempts,
            change_requested=visit.change_requested_at is not None,
            preferred_time=local_time(visit.preferred_time) if visit.preferred_time else None,
            customer_note=visit.customer_note,
            needs=visit.needs,
            next_action=visit.next_action,
            new_policy_interest=visit.new_policy_interest,
            complaint_raised=visit.complaint_raised,
            completed_at=local_time(visit.completed_at) if visit.completed_at else None,
            survey_answered=(
                visit.survey_invitation.answered_at is not None if visit.survey_invitation else None
            ),
            attempt_log=[
                VisitAttempt(at=local_time(a.created_at), reached=a.reached, note=a.note)
                for a in sorted(visit.attempt_log, key=lambda a: a.created_at)
            ],
        )


def _staff_visits() -> QuerySet[m.FollowUpVisit]:
    return m.FollowUpVisit.all().select_related(
        "customer", "policy", "claim", "assignee", "survey_invitation"
    )


async def _reloaded(visit: m.FollowUpVisit) -> FollowUpVisit:
    full = await _staff_visits().prefetch_related("attempt_log").get(id=visit.id)
    return FollowUpVisit.from_model(full)


async def follow_up_visit_node(actor: Actor, object_id: uuid.UUID) -> FollowUpVisit | None:
    """As `followUpVisits`: staff with VISIT_HANDLE."""
    if not actor.can(Permission.VISIT_HANDLE):
        return None
    row = await _staff_visits().prefetch_related("attempt_log").filter(id=object_id).first()
    return FollowUpVisit.from_model(row) if row else None


@strawberry.type(description="A visit planned for me (customers).")
class MyVisit(relay.Node):
    """The customer's view of a follow-up visit (an entity: a row); its `id` is passed to
    `requestVisitChange` and `declineVisit`."""

    id: relay.NodeID[str]
    purpose: str = strawberry.field(description="What it is, in Chinese.")
    channel: m.VisitChannel = strawberry.field(description="Phone, e-mail or face to face.")
    due_at: datetime = strawberry.field(description="When we plan to get in touch.")
    policy_number: str | None = strawberry.field(description="The policy it is about.")
    change_requested: bool = strawberry.field(description="You asked for another time.")
    preferred_time: datetime | None = strawberry.field(description="The time you asked for.")
    status: m.VisitStatus = strawberry.field(
        description="SCHEDULED while planned; DECLINED once you said no, thank you (then it "
        "leaves `myVisits`)."
    )
    customer_note: str = strawberry.field(
        description="Your note with a request for another time or a decline."
    )

    @classmethod
    def from_model(cls, visit: m.FollowUpVisit) -> MyVisit:
        """``visit`` with its policy fetched."""
        return cls(
            id=str(visit.id),
            purpose=visit.purpose,
            channel=visit.channel,
            due_at=local_time(visit.due_at),
            policy_number=visit.policy.number if visit.policy else None,
            change_requested=visit.change_requested_at is not None,
            preferred_time=local_time(visit.preferred_time) if visit.preferred_time else None,
            status=visit.status,
            customer_note=visit.customer_note,
        )


async def my_visit_node(actor: Actor, object_id: uuid.UUID) -> MyVisit | None:
    """As `myVisits`: the customer's own visits (past ones too, so a client can refresh
    one it holds); nobody else's, staff included (they read FollowUpVisit)."""
    if not actor.is_customer:
        return None
    row = (
        await m.FollowUpVisit.filter(id=object_id, customer_id=actor.subject_id)
        .select_related("policy")
        .first()
    )
    return MyVisit.from_model(row) if row else None


@strawberry.type(description="How the worker plans one kind of visit (staff can change it).")
class VisitRule(relay.Node):
    """An entity: one row per trigger, changed by `updateVisitRule` at its version."""

    id: relay.NodeID[str]
    trigger: m.VisitTrigger = strawberry.field(description="Which visits it plans.")
    version: int = strawberry.field(description="Pass as `expectedVersion` to change it.")
    enabled: bool = strawberry.field(description="Whether the worker plans these visits.")
    channel: m.VisitChannel = strawberry.field(
        description="How (e-mail falls back to phone without an address)."
    )
    days: int = strawberry.field(
        description="CLAIM_CLOSED: days after closure. POLICY_ANNIVERSARY, HIGH_VALUE: days "
        "ahead to plan. BEFORE_RENEWAL: days before the policy ends."
    )
    every_months: int | None = strawberry.field(description="HIGH_VALUE: months between visits.")
    min_annual_premium: Money | None = strawberry.field(
        description="HIGH_VALUE: active premiums a customer holds to count as high-value."
    )
    max_attempts: int = strawberry.field(description="Attempts before UNREACHABLE.")
    retry_after_days: int = strawberry.field(description="Days between attempts.")


def _rule(rule: m.VisitRule) -> VisitRule:
    return VisitRule(
        id=str(rule.id),
        trigger=rule.trigger,
        version=rule.version,
        enabled=rule.enabled,
        channel=rule.channel,
        days=rule.days,
        every_months=rule.every_months,
        min_annual_premium=cny(rule.min_annual_premium) if rule.min_annual_premium else None,
        max_attempts=rule.max_attempts,
        retry_after_days=rule.retry_after_days,
    )


async def visit_rule_node(actor: Actor, object_id: uuid.UUID) -> VisitRule | None:
    """As `visitRules`: staff with VISIT_MANAGE."""
    if not actor.can(Permission.VISIT_MANAGE):
        return None
    row = await m.VisitRule.get_or_none(id=object_id)
    return _rule(row) if row else None


@strawberry.input(description="Narrow the visit list; empty lists mean no restriction.")
class VisitFilter:
    status: list[m.VisitStatus] | None = strawberry.field(
        default_factory=lambda: [m.VisitStatus.SCHEDULED],
        description="Only visits in one of these statuses; default SCHEDULED, null or empty "
        "for all.",
    )
    trigger: list[m.VisitTrigger] | None = strawberry.field(
        default=None, description="Only visits planned for one of these reasons."
    )
    channel: list[m.VisitChannel] | None = strawberry.field(
        default=None, description="Only visits made in one of these ways."
    )
    mine: bool = strawberry.field(default=False, description="Only visits assigned to me.")
    unassigned: bool = strawberry.field(default=False, description="Only visits nobody has.")
    due_by: date | None = strawberry.field(default=None, description="Due on or before this day.")
    overdue: bool = strawberry.field(default=False, description="Only scheduled, past due.")
    change_requested: bool = strawberry.field(
        default=False, description="Only visits whose customer asked for another time."
    )
    new_policy_interest: bool = strawberry.field(
        default=False, description="Only customers interested in a new policy."
    )


def _filtered(where: VisitFilter, info: Info) -> QuerySet[m.FollowUpVisit]:
    queryset = _staff_visits()
    conditions: list[Q] = []
    if where.status:
        conditions.append(Q(status__in=list(where.status)))
    if where.trigger:
        conditions.append(Q(trigger__in=list(where.trigger)))
    if where.channel:
        conditions.append(Q(channel__in=list(where.channel)))
    if where.mine:
        conditions.append(Q(assignee_id=info.context.actor.subject_id))
    if where.unassigned:
        conditions.append(Q(assignee_id=None))
    if where.due_by is not None:
        conditions.append(Q(due_at__lt=local_midnight(where.due_by + timedelta(days=1))))
    if where.overdue:
        conditions.append(flows.overdue(datetime.now(UTC)))
    if where.change_requested:
        conditions.append(Q(change_requested_at__isnull=False))
    if where.new_policy_interest:
        conditions.append(Q(new_policy_interest=True))
    return queryset.filter(*conditions) if conditions else queryset


@strawberry.type
class VisitQueries:
    @strawberry.field(
        description="Staff (VISIT_HANDLE): the follow-up visit list, the earliest due first.",
        permission_classes=staff_only(Permission.VISIT_HANDLE),
    )
    async def follow_up_visits(
        self,
        info: Info,
        filter: Annotated[
            VisitFilter | None, strawberry.argument(description="Narrow the list.")
        ] = None,
        first: PageArg = None,
        after: CursorArg = None,
    ) -> Connection[FollowUpVisit]:
        queryset = _filtered(filter or VisitFilter(), info).prefetch_related("attempt_log")
        return await paginate(
            queryset.order_by("due_at", "id"),
            FollowUpVisit.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="Staff (VISIT_MANAGE): the rules the worker plans visits by.",
        permission_classes=staff_only(Permission.VISIT_MANAGE),
    )
    async def visit_rules(self) -> list[VisitRule]:
        return [_rule(rule) for rule in await flows.current_rules()]

    @strawberry.field(
        description="My upcoming visits, the next first.", permission_classes=CUSTOMER_ONLY
    )
    async def my_visits(self, info: Info) -> list[MyVisit]:
        visits = (
            await m.FollowUpVisit.filter(
                customer_id=info.context.actor.subject_id, status=m.VisitStatus.SCHEDULED
            )
            .select_related("policy")
            .order_by("due_at")
            .limit(50)
        )
        return [MyVisit.from_model(v) for v in visits]


# ---------------------------------------------------------------- mutations


@strawberry.type(description="The visit after a staff action.")
class VisitPayload:
    visit: FollowUpVisit | None = strawberry.field(description="As saved.")
    errors: list[VisitError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="The visit after the customer's request.")
class MyVisitPayload:
    changed: bool = strawberry.field(description="True when the request was saved.")
    visit: MyVisit | None = strawberry.field(
        default=None, description="The visit as saved; null when refused."
    )
    errors: list[VisitError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Give a visit to a staff member.")
class AssignVisitInput:
    visit_id: relay.GlobalID = strawberry.field(description="The FollowUpVisit's `id`.")
    expected_version: int = strawberry.field(description="The version you saw.")
    staff_id: relay.GlobalID = strawberry.field(description="Who should do it.")


@strawberry.input(description="Move a visit to another time.")
class RescheduleVisitInput:
    visit_id: relay.GlobalID = strawberry.field(description="The FollowUpVisit's `id`.")
    expected_version: int = strawberry.field(description="The version you saw.")
    due_at: datetime = strawberry.field(description="The new time (with offset).")


@strawberry.input(description="What happened on one contact attempt.")
class RecordVisitOutcomeInput:
    visit_id: relay.GlobalID = strawberry.field(description="The FollowUpVisit's `id`.")
    expected_version: int = strawberry.field(description="The version you saw.")
    reached: bool = strawberry.field(description="Whether the customer was reached.")
    note: str = strawberry.field(default="", description="What happened.")
    needs: str = strawberry.field(default="", description="The customer's needs or changes.")
    next_action: str = strawberry.field(default="", description="What happens next.")
    new_policy_interest: bool = strawberry.field(
        default=False, description="Interested in a new policy."
    )
    complaint_raised: bool = strawberry.field(
        default=False, description="Raised a complaint: a supervisor gets a recovery task."
    )


@strawberry.input(description="Change how one kind of visit is planned.")
class UpdateVisitRuleInput:
    trigger: m.VisitTrigger = strawberry.field(description="Which rule.")
    expected_version: int = strawberry.field(description="The version you saw.")
    enabled: bool = strawberry.field(description="Plan these visits.")
    channel: m.VisitChannel = strawberry.field(description="How.")
    days: int = strawberry.field(description="See `VisitRule.days` (0-365).")
    max_attempts: int = strawberry.field(description="Attempts before UNREACHABLE (1-10).")
    retry_after_days: int = strawberry.field(description="Days between attempts (1-30).")
    every_months: int | None = strawberry.field(
        default=None, description="HIGH_VALUE: months between visits (1-24)."
    )
    min_annual_premium: Amount | None = strawberry.field(
        default=None, description="HIGH_VALUE: the premium threshold, in yuan."
    )


@strawberry.type(description="The rule after a change.")
class VisitRulePayload:
    rule: VisitRule | None = strawberry.field(description="As saved.")
    errors: list[VisitError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="The full phone number for a phone visit.")
class RevealVisitPhoneInput:
    visit_id: relay.GlobalID = strawberry.field(description="The FollowUpVisit's `id`.")
    purpose: str = strawberry.field(
        description="Why you need the full number (4–200 characters), e.g. "
        "`回访客户确认理赔满意度`; "
        "logged with the read and shown to auditors (required since the PII access log)."
    )


@strawberry.type(description="The customer's full phone number (the look is logged).")
class RevealVisitPhonePayload:
    phone: str | None = strawberry.field(description="The number to call.")
    errors: list[VisitError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Ask for another time for a visit.")
class RequestVisitChangeInput:
    visit_id: relay.GlobalID = strawberry.field(description="The MyVisit's `id`.")
    preferred_time: datetime = strawberry.field(description="When would suit you (with offset).")
    note: str = strawberry.field(default="", description="Anything we should know.")


@strawberry.input(description="Decline a visit.")
class DeclineVisitInput:
    visit_id: relay.GlobalID = strawberry.field(description="The MyVisit's `id`.")
    note: str = strawberry.field(default="", description="Why, if you like.")


async def _staff_action(call: Any) -> VisitPayload:
    try:
        visit = await call
    except flows.VisitError as error:
        return VisitPayload(visit=None, errors=payload_errors(error, VisitError))
    return VisitPayload(visit=await _reloaded(visit), errors=[])


async def _customer_action(call: Any) -> MyVisitPayload:
    try:
        visit = await call
    except flows.VisitError as error:
        return MyVisitPayload(changed=False, errors=payload_errors(error, VisitError))
    saved = await m.FollowUpVisit.get(id=visit.id).select_related("policy")
    return MyVisitPayload(changed=True, visit=MyVisit.from_model(saved), errors=[])


@strawberry.type
class VisitMutations:
    @strawberry.mutation(
        description="Staff (VISIT_MANAGE): give a visit to a staff member who handles visits.",
        permission_classes=staff_only(Permission.VISIT_MANAGE),
    )
    async def assign_visit(
        self,
        input: Annotated[
            AssignVisitInput,
            strawberry.argument(
                description="The visit, the version you saw and the colleague to give it to."
            ),
        ],
    ) -> VisitPayload:
        return await _staff_action(
            flows.assign(
                node_uuid(input.visit_id, "FollowUpVisit"),
                input.expected_version,
                node_uuid(input.staff_id, "StaffMember"),
            )
        )

    @strawberry.mutation(
        description="Staff (VISIT_HANDLE): move a visit (answers the customer's request).",
        permission_classes=staff_only(Permission.VISIT_HANDLE),
    )
    async def reschedule_visit(
        self,
        info: Info,
        input: Annotated[
            RescheduleVisitInput,
            strawberry.argument(description="The visit, the version you saw and its new time."),
        ],
    ) -> VisitPayload:
        return await _staff_action(
            flows.reschedule(
                info.context.actor,
                node_uuid(input.visit_id, "FollowUpVisit"),
                input.expected_version,
                input.due_at,
            )
        )

    @strawberry.mutation(
        description="Staff (VISIT_HANDLE): record one attempt. Reached: done. Not reached: "
        "tried again after the rule's interval, UNREACHABLE after its limit.",
        permission_classes=staff_only(Permission.VISIT_HANDLE),
    )
    async def record_visit_outcome(
        self,
        info: Info,
        input: Annotated[
            RecordVisitOutcomeInput,
            strawberry.argument(
                description="The visit, the version you saw and what happened on this attempt."
            ),
        ],
    ) -> VisitPayload:
        outcome = flows.Outcome(
            reached=input.reached,
            note=input.note,
            needs=input.needs,
            next_action=input.next_action,
            new_policy_interest=input.new_policy_interest,
            complaint_raised=input.complaint_raised,
        )
        return await _staff_action(
            flows.record_outcome(
                info.context.actor,
                node_uuid(input.visit_id, "FollowUpVisit"),
                input.expected_version,
                outcome,
            )
        )

    @strawberry.mutation(
        description="Staff (VISIT_HANDLE): the customer's full phone number for a scheduled "
        "phone visit that is yours or nobody's. Lists show it masked; each look is logged.",
        permission_classes=staff_only(Permission.VISIT_HANDLE),
    )
    async def reveal_visit_phone(
        self,
        info: Info,
        input: Annotated[
            RevealVisitPhoneInput,
            strawberry.argument(description="The phone visit whose customer to call."),
        ],
    ) -> RevealVisitPhonePayload:
        try:
            phone = await flows.reveal_phone(
                info.context.actor,
                info.context.services.pii,
                node_uuid(input.visit_id, "FollowUpVisit"),
                input.purpose,
                info.context.services.reveal_limits,
            )
        except (flows.VisitError, PrivacyError) as error:
            return RevealVisitPhonePayload(phone=None, errors=payload_errors(error, VisitError))
        return RevealVisitPhonePayload(phone=phone, errors=[])

    @strawberry.mutation(
        description="Staff (VISIT_MANAGE): change a planning rule; planned visits stay.",
        permission_classes=staff_only(Permission.VISIT_MANAGE),
    )
    async def update_visit_rule(
        self,
        info: Info,
        input: Annotated[
            UpdateVisitRuleInput,
            strawberry.argument(
                description="The rule (by trigger), the version you saw and its new settings."
            ),
        ],
    ) -> VisitRulePayload:
        change = flows.RuleChange(
            enabled=input.enabled,
            channel=input.channel,
            days=input.days,
            max_attempts=input.max_attempts,
            retry_after_days=input.retry_after_days,
            every_months=input.every_months,
            min_annual_premium=input.min_annual_premium,
        )
        try:
            rule = await flows.change_rule(
                input.trigger, change, input.expected_version, info.context.actor.subject_id
            )
        except flows.VisitError as error:
            return VisitRulePayload(rule=None, errors=payload_errors(error, VisitError))
        return VisitRulePayload(rule=_rule(rule), errors=[])

    @strawberry.mutation(
        description="Ask for another time for one of my visits.", permission_classes=CUSTOMER_ONLY
    )
    async def request_visit_change(
        self,
        info: Info,
        input: Annotated[
            RequestVisitChangeInput,
            strawberry.argument(description="My visit and the time that would suit me."),
        ],
    ) -> MyVisitPayload:
        return await _customer_action(
            flows.request_change(
                info.context.actor.subject_id,
                node_uuid(input.visit_id, "MyVisit"),
                input.preferred_time,
                input.note,
            )
        )

    @strawberry.mutation(description="Decline one of my visits.", permission_classes=CUSTOMER_ONLY)
    async def decline_visit(
        self,
        info: Info,
        input: Annotated[
            DeclineVisitInput,
            strawberry.argument(description="My visit to decline, with an optional note."),
        ],
    ) -> MyVisitPayload:
        return await _customer_action(
            flows.decline(
                info.context.actor.subject_id,
                node_uuid(input.visit_id, "MyVisit"),
                input.note,
            )
        )
