"""Service commitments (优质服务承诺) in the schema: the promise cases shown on a claim,
a complaint, a conversation or a roadside booking ("承诺1个工作日内审核 — 已兑现"), the
staff figures ``serviceCommitments`` per period and per handler, and the staff's edit of
a promise (``editServiceCommitment``, SURVEY_MANAGE)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import commitments as m
from models.clock import local_time
from models.staff import StaffRole
from schema.common import Money, cny, node_uuid
from schema.errors import CODE, Error, ErrorCodes, UserInputError, answers_with, payload_errors
from schema.people import StaffMember
from schema.permissions import staff_only
from workflows.access import Actor, Permission
from workflows.commitments import CommitmentChange, CommitmentError, edit_commitment
from workflows.commitments import figures as flows
from workflows.commitments.rules import STATUS_TEXT

strawberry.enum(
    m.CaseStatus,
    name="CommitmentStatus",
    description="PENDING: the clock runs; KEPT: done in time (已兑现); BROKEN: the deadline "
    "passed first (未兑现, even if done later); WAIVED: no longer applies (不适用).",
)
strawberry.enum(
    m.CommitmentRule, description="What a promise measures (the evaluator of that kind)."
)
strawberry.enum(
    flows.Period, name="CommitmentPeriod", description="How the staff figures are grouped."
)
COMMITMENT_CODES = ErrorCodes(
    "CommitmentErrorCode", "Why a change of a service promise failed.", CommitmentError
)


@answers_with(COMMITMENT_CODES)
@strawberry.type(name="CommitmentError", description="A refused change of a service promise.")
class CommitmentError_(Error):
    code: str = strawberry.field(graphql_type=COMMITMENT_CODES.enum, description=CODE)


@strawberry.type(description="A service promise (服务承诺) as the insurer states it.")
class ServiceCommitment(relay.Node):
    id: relay.NodeID[str]
    code: str = strawberry.field(description="Stable code, e.g. `SMALL_CLAIM_DECISION`.")
    rule: m.CommitmentRule = strawberry.field(description="What it measures.")
    title: str = strawberry.field(description="Shown to customers, e.g. 承诺1个工作日内审核.")
    description: str = strawberry.field(description="The promise in full, with conditions.")
    working_days: int | None = strawberry.field(
        description="Working days allowed (China's calendar, Asia/Shanghai), if counted so."
    )
    minutes: int | None = strawberry.field(description="Minutes allowed, if counted so.")
    max_amount: Money | None = strawberry.field(
        description="Applies up to this claimed amount (the small-claims promise)."
    )
    goodwill_points: int = strawberry.field(description="Points credited when it is broken.")
    enabled: bool = strawberry.field(description="Promised and measured now.")
    version: int = strawberry.field(
        description="Changes with each staff edit; pass it as `expectedVersion`."
    )

    @classmethod
    def from_model(cls, row: m.ServiceCommitment) -> ServiceCommitment:
        return cls(
            id=str(row.id),
            code=row.code,
            rule=row.rule,
            title=row.title,
            description=row.description,
            working_days=row.working_days,
            minutes=row.minutes,
            max_amount=cny(row.max_amount) if row.max_amount is not None else None,
            goodwill_points=row.goodwill_points,
            enabled=row.enabled,
            version=row.version,
        )


@strawberry.type(
    description="One promise applied to one claim, complaint or conversation, and whether "
    "it was kept."
)
class CommitmentCase(relay.Node):
    id: relay.NodeID[str]
    commitment: ServiceCommitment = strawberry.field(description="The promise.")
    title: str = strawberry.field(description="The promise's title, e.g. 承诺1个工作日内审核.")
    status: m.CaseStatus = strawberry.field(description="Where it stands.")
    status_text: str = strawberry.field(description="The status in Chinese, e.g. 已兑现.")
    started_at: datetime = strawberry.field(description="When the clock started.")
    deadline: datetime = strawberry.field(
        description="When it is due (working days counted on China's calendar)."
    )
    met_at: datetime | None = strawberry.field(description="When it was done, if it was.")
    working_days: int | None = strawberry.field(
        description="The working days promised when the case was opened (a later edit of "
        "the promise does not change them)."
    )
    minutes: int | None = strawberry.field(
        description="The minutes promised when the case was opened."
    )

    @classmethod
    def from_model(cls, row: m.CommitmentCase) -> CommitmentCase:
        return cls(
            id=str(row.id),
            commitment=ServiceCommitment.from_model(row.commitment),
            title=row.title or row.commitment.title,
            working_days=row.working_days,
            minutes=row.minutes,
            status=row.status,
            status_text=STATUS_TEXT[row.status],
            started_at=local_time(row.started_at),
            deadline=local_time(row.deadline),
            met_at=local_time(row.met_at) if row.met_at else None,
        )


async def cases_on(info: Info, subject_id: str) -> list[CommitmentCase]:
    """The cases of a claim, complaint or conversation the caller already sees."""
    rows = await info.context.loaders.commitment_cases.load(uuid.UUID(subject_id))
    return [CommitmentCase.from_model(row) for row in rows]


async def commitment_case_node(actor: Actor, object_id: uuid.UUID) -> CommitmentCase | None:
    """The customer it was promised to, or staff with SURVEY_READ."""
    row = await m.CommitmentCase.filter(id=object_id).select_related("commitment").first()
    if row is None:
        return None
    mine = actor.is_customer and actor.subject_id == row.customer_id
    if mine or (actor.is_staff and actor.can(Permission.SURVEY_READ)):
        return CommitmentCase.from_model(row)
    return None


async def service_commitment_node(_actor: Actor, object_id: uuid.UUID) -> ServiceCommitment | None:
    """The promises are public."""
    row = await m.ServiceCommitment.get_or_none(id=object_id)
    return ServiceCommitment.from_model(row) if row else None


@strawberry.type(description="Cases of one promise, counted by status.")
class CommitmentTally:
    kept: int = strawberry.field(description="Kept (已兑现).")
    broken: int = strawberry.field(description="Broken (未兑现).")
    pending: int = strawberry.field(description="Still running.")
    waived: int = strawberry.field(description="No longer applicable.")
    kept_rate: float | None = strawberry.field(
        description="Kept among kept and broken (0..1); null while none is settled."
    )

    @classmethod
    def of(cls, tally: flows.Tally) -> CommitmentTally:
        c, S = tally.counts, m.CaseStatus
        return cls(
            kept=c[S.KEPT],
            broken=c[S.BROKEN],
            pending=c[S.PENDING],
            waived=c[S.WAIVED],
            kept_rate=tally.kept_rate,
        )


@strawberry.type(description="A promise's cases due in one period.")
class CommitmentPeriodFigures:
    start: date = strawberry.field(description="The period's first day (Asia/Shanghai).")
    tally: CommitmentTally = strawberry.field(description="The cases due in it.")


@strawberry.type(
    description="A promise's cases by who handled them: the staff member (the claim's "
    "adjuster, the complaint's handler, the agent), with their role."
)
class CommitmentHandlerFigures:
    handler: StaffMember | None = strawberry.field(
        description="Null: nobody was assigned (e.g. a claim never picked up)."
    )
    role: StaffRole | None = strawberry.field(description="The handler's role.")
    tally: CommitmentTally = strawberry.field(description="Their cases.")


@strawberry.type(description="A promise's cases by the team of the staff member who handled them.")
class CommitmentTeamFigures:
    team_name: str | None = strawberry.field(
        description="The handler's team now (`Team.name`); null: no team, or nobody assigned."
    )
    tally: CommitmentTally = strawberry.field(description="The team's cases.")


@strawberry.type(description="One promise's figures over the chosen days.")
class ServiceCommitmentFigures:
    commitment: ServiceCommitment = strawberry.field(description="The promise.")
    total: CommitmentTally = strawberry.field(description="All its cases in the range.")
    periods: list[CommitmentPeriodFigures] = strawberry.field(
        description="Per period, oldest first (periods without cases are left out)."
    )
    handlers: list[CommitmentHandlerFigures] = strawberry.field(
        description="Per handler, most broken first."
    )
    teams: list[CommitmentTeamFigures] = strawberry.field(
        description="Per team of the handlers, most broken first."
    )

    @classmethod
    def of(cls, f: flows.CommitmentFigures) -> ServiceCommitmentFigures:
        handlers = [
            CommitmentHandlerFigures(
                handler=StaffMember.from_model(f.staff[h]) if h in f.staff else None,
                role=f.staff[h].role if h in f.staff else None,
                tally=CommitmentTally.of(t),
            )
            for h, t in sorted(
                f.handlers.items(), key=lambda i: (-i[1].counts[m.CaseStatus.BROKEN], str(i[0]))
            )
        ]
        return cls(
            commitment=ServiceCommitment.from_model(f.commitment),
            total=CommitmentTally.of(f.total),
            periods=[
                CommitmentPeriodFigures(start=d, tally=CommitmentTally.of(t))
                for d, t in sorted(f.periods.items())
            ],
            handlers=handlers,
            teams=[
                CommitmentTeamFigures(team_name=name, tally=CommitmentTally.of(t))
                for name, t in sorted(
                    f.teams.items(),
                    key=lambda i: (-i[1].counts[m.CaseStatus.BROKEN], i[0] or ""),
                )
            ],
        )


@strawberry.type
class CommitmentQueries:
    @strawberry.field(
        description="Staff (SURVEY_READ): how the service promises were kept, per promise, "
        "per period (by the Beijing date each case was due) and per handler; at most about "
        "a year at once.",
        permission_classes=staff_only(Permission.SURVEY_READ),
    )
    async def service_commitments(
        self,
        from_: Annotated[date, strawberry.argument(name="from", description="First day.")],
        to: Annotated[date, strawberry.argument(description="Last day (included).")],
        period: Annotated[
            flows.Period, strawberry.argument(description="Group by day, week or month.")
        ] = flows.Period.MONTH,
    ) -> list[ServiceCommitmentFigures]:
        try:
            found = await flows.figures(from_, to, period)
        except flows.FiguresError as error:
            raise UserInputError(str(error)) from None
        return [ServiceCommitmentFigures.of(f) for f in found]


@strawberry.input(
    description="A promise's new terms (null: unchanged). A case already opened keeps the "
    "terms it was opened with."
)
class EditServiceCommitmentInput:
    commitment_id: relay.GlobalID = strawberry.field(description="The promise.")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")
    working_days: int | None = strawberry.field(
        default=None, description="1–30; only for a promise counted in working days."
    )
    minutes: int | None = strawberry.field(
        default=None, description="1–1,440; only for a promise counted in minutes."
    )
    goodwill_points: int | None = strawberry.field(
        default=None, description="0–10,000 points credited when it is broken."
    )
    enabled: bool | None = strawberry.field(
        default=None, description="Off: no new cases (open ones run to their end)."
    )
    title: str | None = strawberry.field(
        default=None,
        description="Up to 64 characters; required when the number it states changes.",
    )
    description: str | None = strawberry.field(
        default=None, description="The promise in full, up to 1,000 characters."
    )


@strawberry.type(description="A service promise after a staff edit.")
class ServiceCommitmentPayload:
    changed: bool = strawberry.field(description="True when the edit was saved.")
    commitment: ServiceCommitment | None = strawberry.field(
        default=None, description="The promise as saved; null when refused."
    )
    errors: list[CommitmentError_] = strawberry.field(description="Empty on success.")


@strawberry.type
class CommitmentMutations:
    @strawberry.mutation(
        description="Staff (SURVEY_MANAGE): change a service promise's terms (working days "
        "or minutes, goodwill points), its words, or switch it off, at the version seen. "
        "New cases use the new terms; opened ones keep theirs.",
        permission_classes=staff_only(Permission.SURVEY_MANAGE),
    )
    async def edit_service_commitment(
        self,
        info: Info,
        input: Annotated[
            EditServiceCommitmentInput,
            strawberry.argument(description="The promise, its version and the terms to change."),
        ],
    ) -> ServiceCommitmentPayload:
        change = CommitmentChange(
            working_days=input.working_days,
            minutes=input.minutes,
            goodwill_points=input.goodwill_points,
            enabled=input.enabled,
            title=input.title,
            description=input.description,
        )
        try:
            row = await edit_commitment(
                info.context.actor,
                node_uuid(input.commitment_id, "ServiceCommitment"),
                input.expected_version,
                change,
            )
        except CommitmentError as error:
            return ServiceCommitmentPayload(
                changed=False, errors=payload_errors(error, CommitmentError_)
            )
        return ServiceCommitmentPayload(
            changed=True, commitment=ServiceCommitment.from_model(row), errors=[]
        )
