"""``serviceDashboard``: the operations figures for managers and programs (see
``workflows/analytics`` for what each counts). Every rate comes with the counts
behind it; every period is a Beijing day, ISO week or month, keyed by its first day."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from schema.common import Money, cny
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.permissions import staff_only
from workflows import analytics
from workflows.access import Permission
from workflows.analytics import claims as c
from workflows.analytics import collection as p
from workflows.analytics import deliveries as d
from workflows.analytics import rules as r
from workflows.analytics import service as s

ANALYTICS_CODES = ErrorCodes(
    "AnalyticsErrorCode", "Why the dashboard was not counted.", analytics.AnalyticsError
)


@answers_with(ANALYTICS_CODES)
@strawberry.type(name="AnalyticsError", description="Why the dashboard was not counted.")
class AnalyticsError_(Error):
    code: str = strawberry.field(graphql_type=ANALYTICS_CODES.enum, description=CODE)


strawberry.enum(
    analytics.Period,
    name="DashboardPeriod",
    description="How the dashboard's figures are grouped: Beijing days, ISO weeks, months.",
)


@strawberry.type(description="A count out of a total, with its rate.")
class DashboardRatio:
    count: int = strawberry.field(description="How many.")
    total: int = strawberry.field(description="Out of how many.")
    rate_percent: Decimal | None = strawberry.field(description="count / total in %; null: 0/0.")

    @classmethod
    def of(cls, ratio: r.Ratio) -> DashboardRatio:
        return cls(count=ratio.count, total=ratio.total, rate_percent=ratio.rate)


@strawberry.type(description="How long a step took, in hours (nearest-rank percentiles).")
class DashboardDurations:
    count: int = strawberry.field(description="Items it was measured on.")
    median_hours: Decimal | None = strawberry.field(description="Median.")
    p90_hours: Decimal | None = strawberry.field(description="90th percentile.")

    @classmethod
    def of(cls, x: r.Durations) -> DashboardDurations:
        return cls(count=x.count, median_hours=x.median_hours, p90_hours=x.p90_hours)


@strawberry.type(
    description="The claims reported in one period (a cohort) and how far they have come: "
    "reported → complete (documents in, submitted) → decided → paid."
)
class ClaimFunnel:
    period: date = strawberry.field(description="The period's first day.")
    segment: str = strawberry.field(
        description="`ALL`, `KIND:<product kind>` (e.g. `KIND:AUTO`) or `CHANNEL:<report "
        "channel>` (e.g. `CHANNEL:PHONE`)."
    )
    reported: int = strawberry.field(description="Claims reported in the period.")
    complete: int = strawberry.field(description="Of those, complete (submitted).")
    decided: int = strawberry.field(description="Of those, decided.")
    paid: int = strawberry.field(description="Of those, paid.")
    complete_ratio: DashboardRatio = strawberry.field(description="Complete of reported.")
    decided_ratio: DashboardRatio = strawberry.field(description="Decided of complete.")
    paid_ratio: DashboardRatio = strawberry.field(description="Paid of decided.")
    to_complete: DashboardDurations = strawberry.field(description="Reported → complete.")
    to_decision: DashboardDurations = strawberry.field(description="Complete → decided.")
    to_payment: DashboardDurations = strawberry.field(description="Decided → paid.")

    @classmethod
    def of(cls, f: c.Funnel) -> ClaimFunnel:
        return cls(
            period=date.fromisoformat(f.key),
            segment=f.segment,
            reported=f.reported,
            complete=f.complete,
            decided=f.decided,
            paid=f.paid,
            complete_ratio=DashboardRatio.of(f.complete_ratio),
            decided_ratio=DashboardRatio.of(f.decided_ratio),
            paid_ratio=DashboardRatio.of(f.paid_ratio),
            to_complete=DashboardDurations.of(f.to_complete),
            to_decision=DashboardDurations.of(f.to_decision),
            to_payment=DashboardDurations.of(f.to_payment),
        )


@strawberry.type(
    description="The regulatory claim clocks that fell due in a period (decision within 30 "
    "days of a complete claim, payment within 10 days of the decision) and how many ran out."
)
class ClockBreaches:
    period: date = strawberry.field(description="The period's first day.")
    decision: DashboardRatio = strawberry.field(
        description="Decisions late (or still missing), of the decision clocks due."
    )
    payment: DashboardRatio = strawberry.field(
        description="Payments late (or still missing), of the payment clocks due."
    )


@strawberry.type(description="Claims paid in a period for one loss type.")
class PayoutFigures:
    period: date = strawberry.field(description="The period's first day.")
    loss_type: str = strawberry.field(description="The loss type's code, e.g. `COLLISION`.")
    count: int = strawberry.field(description="Claims paid.")
    total: Money = strawberry.field(description="Their approved amounts together.")
    average: Money | None = strawberry.field(description="total / count.")


@strawberry.type(
    description="Premium instalments due in a period (policy changes' premiums left out)."
)
class PremiumCollection:
    period: date = strawberry.field(description="The period's first day.")
    due: int = strawberry.field(description="Instalments due in it.")
    due_amount: Money = strawberry.field(description="Their amounts together.")
    paid_on_time: DashboardRatio = strawberry.field(
        description="Paid by the due day (Beijing), of those due."
    )
    paid_late: int = strawberry.field(description="Paid after the due day.")
    overdue: int = strawberry.field(description="Unpaid and past the due day now.")
    overdue_amount: Money = strawberry.field(description="Their amounts together.")
    lapse: DashboardRatio = strawberry.field(
        description="Unpaid when the 60-day grace period ended (the policy lapses), of those "
        "whose grace period has ended by now."
    )


@strawberry.type(description="Notification deliveries on one channel made in a period.")
class DeliveryFigures:
    period: date = strawberry.field(description="The period's first day.")
    channel: str = strawberry.field(description="APNS, FCM, WECHAT, SMS or EMAIL.")
    total: int = strawberry.field(description="Deliveries made.")
    sent: int = strawberry.field(description="Accepted by the provider.")
    failed: int = strawberry.field(description="Failed (being retried) or given up.")
    skipped: int = strawberry.field(description="Nothing to send to (e.g. no consent left).")
    pending: int = strawberry.field(description="Not tried yet.")
    delivered: DashboardRatio = strawberry.field(description="Sent, of those not skipped.")


@strawberry.type(description="Survey figures of a period (the survey workflow's figures).")
class SurveyPeriodFigures:
    period: date = strawberry.field(description="The period's first day.")
    invitations: int = strawberry.field(description="Surveys sent.")
    responses: int = strawberry.field(description="Surveys answered.")
    csat: DashboardRatio = strawberry.field(description="Ratings of 4-5, of all ratings.")
    nps_answers: int = strawberry.field(description="0-10 recommendation answers.")
    promoters: int = strawberry.field(description="Answers of 9-10.")
    detractors: int = strawberry.field(description="Answers of 0-6.")
    nps: int | None = strawberry.field(description="% promoters - % detractors (-100..100).")


@strawberry.type(description="Complaint figures of a period (the complaint workflow's figures).")
class ComplaintPeriodSummary:
    period: date = strawberry.field(description="The period's first day.")
    received: int = strawberry.field(description="Complaints received.")
    answer: DashboardDurations = strawberry.field(description="Receipt → answer.")
    answer_late: DashboardRatio = strawberry.field(
        description="Answers past their clock (or missing), of those due by now."
    )
    reopened: DashboardRatio = strawberry.field(description="Reopened, of those answered.")
    satisfied: DashboardRatio = strawberry.field(
        description="Complaint-survey ratings of 4-5, of those ratings."
    )


@strawberry.type(description="One root-cause category (溯源整改) of the range's complaints.")
class RootCauseShare:
    category: str = strawberry.field(description="The category code, e.g. `COMMUNICATION`.")
    name: str = strawberry.field(description="Its name in Chinese.")
    count: int = strawberry.field(description="Complaints with this root cause.")
    total: int = strawberry.field(description="Complaints with a root cause recorded.")


@strawberry.type(description="Online-service conversations started in a period.")
class ConversationFigures:
    period: date = strawberry.field(description="The period's first day.")
    started: int = strawberry.field(description="Conversations started.")
    handed_off: DashboardRatio = strawberry.field(
        description="Handed to a human agent, of those started."
    )
    answered_by_agent: int = strawberry.field(description="Handed off and taken by an agent.")
    wait: DashboardDurations = strawberry.field(description="Handed off → taken by an agent.")


@strawberry.type(description="One staff member's open work now.")
class DashboardWorkload:
    staff_id: relay.GlobalID = strawberry.field(description="The staff member (StaffMember).")
    display_name: str = strawberry.field(description="Their name.")
    team: str | None = strawberry.field(description="Their team, if any.")
    claims: int = strawberry.field(description="Open claims assigned to them.")
    claims_overdue: int = strawberry.field(description="Of those, with a clock run out.")
    complaints: int = strawberry.field(description="Open complaints they handle.")
    visits: int = strawberry.field(description="Scheduled follow-up visits assigned to them.")
    conversations: int = strawberry.field(description="Conversations they are in now.")
    total: int = strawberry.field(description="All their open items.")


@strawberry.type(
    description="The operations figures of one date range, per period (Asia/Shanghai)."
)
class ServiceDashboard:
    period: analytics.Period = strawberry.field(description="How the figures are grouped.")
    from_: date = strawberry.field(name="from", description="The first day.")
    to: date = strawberry.field(description="The last day (included).")
    generated_at: datetime = strawberry.field(description="When the figures were counted.")
    periods: list[date] = strawberry.field(description="The first day of each period.")
    claim_funnel: list[ClaimFunnel] = strawberry.field(
        description="Per period: all claims, then per product kind and per report channel."
    )
    clock_breaches: list[ClockBreaches] = strawberry.field(description="Per period.")
    overdue_claims_now: int = strawberry.field(
        description="Claims with a regulatory clock run out right now."
    )
    payouts: list[PayoutFigures] = strawberry.field(description="Per period and loss type.")
    premium_collection: list[PremiumCollection] = strawberry.field(description="Per period.")
    deliveries: list[DeliveryFigures] = strawberry.field(description="Per period and channel.")
    surveys: list[SurveyPeriodFigures] = strawberry.field(description="Per period.")
    complaints: list[ComplaintPeriodSummary] = strawberry.field(
        description="Per period (empty for a role that may not supervise complaints)."
    )
    top_root_causes: list[RootCauseShare] = strawberry.field(
        description="The range's complaint root causes, most first."
    )
    conversations: list[ConversationFigures] = strawberry.field(description="Per period.")
    workload: list[DashboardWorkload] = strawberry.field(
        description="Open items per staff member now, the busiest first (at most 50)."
    )

    @classmethod
    def of(cls, b: analytics.Dashboard) -> ServiceDashboard:
        def day(key: str) -> date:
            return date.fromisoformat(key)

        return cls(
            period=b.period,
            from_=b.first,
            to=b.last,
            generated_at=b.generated_at,
            periods=[day(k) for k in b.periods],
            claim_funnel=[ClaimFunnel.of(f) for f in b.funnel],
            clock_breaches=[
                ClockBreaches(
                    period=day(x.key),
                    decision=DashboardRatio.of(x.decision),
                    payment=DashboardRatio.of(x.payment),
                )
                for x in b.breaches
            ],
            overdue_claims_now=b.overdue_now,
            payouts=[_payout(x) for x in b.payouts],
            premium_collection=[_collection(x) for x in b.collection],
            deliveries=[_delivery(x) for x in b.deliveries],
            surveys=[_survey(x) for x in b.surveys],
            complaints=[
                ComplaintPeriodSummary(
                    period=day(x.key),
                    received=x.received,
                    answer=DashboardDurations.of(x.answer),
                    answer_late=DashboardRatio.of(x.answer_late),
                    reopened=DashboardRatio.of(x.reopened),
                    satisfied=DashboardRatio.of(x.satisfied),
                )
                for x in b.complaints
            ],
            top_root_causes=[
                RootCauseShare(category=x.category, name=x.name, count=x.count, total=x.total)
                for x in b.root_causes
            ],
            conversations=[
                ConversationFigures(
                    period=day(x.key),
                    started=x.started,
                    handed_off=DashboardRatio.of(x.handed_off),
                    answered_by_agent=x.answered_by_agent,
                    wait=DashboardDurations.of(x.wait),
                )
                for x in b.conversations
            ],
            workload=[_workload(x) for x in b.workload],
        )


def _payout(x: c.Payouts) -> PayoutFigures:
    return PayoutFigures(
        period=date.fromisoformat(x.key),
        loss_type=x.loss_type,
        count=x.count,
        total=cny(x.total),
        average=cny(x.average) if x.average is not None else None,
    )


def _collection(x: p.Collection) -> PremiumCollection:
    return PremiumCollection(
        period=date.fromisoformat(x.key),
        due=x.due,
        due_amount=cny(x.due_amount),
        paid_on_time=DashboardRatio.of(x.paid_on_time),
        paid_late=x.paid_late,
        overdue=x.overdue,
        overdue_amount=cny(x.overdue_amount),
        lapse=DashboardRatio.of(x.lapsed),
    )


def _delivery(x: d.Deliveries) -> DeliveryFigures:
    return DeliveryFigures(
        period=date.fromisoformat(x.key),
        channel=x.channel,
        total=x.total,
        sent=x.sent,
        failed=x.failed,
        skipped=x.skipped,
        pending=x.pending,
        delivered=DashboardRatio.of(x.delivered),
    )


def _survey(x: s.SurveyFigures) -> SurveyPeriodFigures:
    return SurveyPeriodFigures(
        period=date.fromisoformat(x.key),
        invitations=x.invitations,
        responses=x.responses,
        csat=DashboardRatio.of(x.csat),
        nps_answers=x.nps_answers,
        promoters=x.promoters,
        detractors=x.detractors,
        nps=x.nps,
    )


def _workload(x: s.Workload) -> DashboardWorkload:
    return DashboardWorkload(
        staff_id=relay.GlobalID("StaffMember", x.staff_id),
        display_name=x.display_name,
        team=x.team,
        claims=x.claims,
        claims_overdue=x.claims_overdue,
        complaints=x.complaints,
        visits=x.visits,
        conversations=x.conversations,
        total=x.total,
    )


@strawberry.type(description="The dashboard, or why it was not counted (e.g. a range too long).")
class ServiceDashboardResult:
    dashboard: ServiceDashboard | None = strawberry.field(description="Null when refused.")
    errors: list[AnalyticsError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="Staff (ANALYTICS_READ): the operations dashboard from `from` to `to` "
        f"(Asia/Shanghai days, at most {r.MAX_PERIODS} periods and {r.MAX_DAYS} days): "
        "claims funnel, clock breaches, payouts, premium collection, deliveries, surveys, "
        "complaints, conversations and the team's workload, each with its counts.",
        permission_classes=staff_only(Permission.ANALYTICS_READ),
    )
    async def service_dashboard(
        self,
        info: Info,
        period: Annotated[analytics.Period, strawberry.argument(description="DAY, WEEK or MONTH.")],
        from_: Annotated[
            date, strawberry.argument(name="from", description="The first day counted.")
        ],
        to: Annotated[date, strawberry.argument(description="The last day counted (included).")],
    ) -> ServiceDashboardResult:
        try:
            board = await analytics.service_dashboard(info.context.actor, period, from_, to)
        except analytics.AnalyticsError as error:
            return ServiceDashboardResult(
                dashboard=None, errors=payload_errors(error, AnalyticsError_)
            )
        return ServiceDashboardResult(dashboard=ServiceDashboard.of(board), errors=[])
