"""Changing the service team. Each mutation states its permission; the workflow checks
the rest (a supervisor acts on their own team only; see workflows.team.teams)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, TypeVar

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import team as m
from models.claims import Claim as ClaimRow
from models.ids import global_id
from models.visits import FollowUpVisit as VisitRow
from schema.claims.types import Claim
from schema.common import node_uuid
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.people import StaffMember
from schema.permissions import staff_only
from schema.team.types import (
    Certificate,
    CertificateRequirement,
    QualityReview,
    StaffLeave,
    Team,
    team_views,
)
from schema.visits import FollowUpVisit
from workflows import visits as visit_flows
from workflows.access import Permission
from workflows.claims import ClaimError
from workflows.errors import DomainError
from workflows.team import absence, assignment, certificates, reviews, teams
from workflows.team.rules import TeamError, TeamErrorCode

TEAM_CODES = ErrorCodes("TeamErrorCode", "Why a service-team action failed.", TeamError)
ASSIGN_CODES = ErrorCodes(
    "AutoAssignErrorCode",
    "Why an automatic assignment failed.",
    TeamError,
    ClaimError,
    visit_flows.VisitError,
)
MANAGE = staff_only(Permission.TEAM_MANAGE)
SUPERVISE = staff_only(Permission.STAFF_READ)  # supervisors; the workflow checks the team
T = TypeVar("T")


@answers_with(TEAM_CODES)
@strawberry.type(name="TeamError", description="A failed service-team action.")
class TeamError_(Error):
    code: str = strawberry.field(graphql_type=TEAM_CODES.enum, description=CODE)


@answers_with(ASSIGN_CODES)
@strawberry.type(name="AutoAssignError", description="A failed automatic assignment.")
class AutoAssignError(Error):
    code: str = strawberry.field(graphql_type=ASSIGN_CODES.enum, description=CODE)


@strawberry.input(description="One skill: what kind, and the value.")
class TeamSkillInput:
    kind: m.SkillKind = strawberry.field(description="What the skill is about.")
    value: str = strawberry.field(
        description="The loss type, complaint class, language or channel."
    )


@strawberry.input(description="A new team.")
class CreateTeamInput:
    name: str = strawberry.field(description="Its name (≤ 64 字, unique).")
    description: str = strawberry.field(default="", description="What it does (≤ 300 字).")
    supervisor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Its supervisor (a SUPERVISOR or ADMIN `StaffMember`)."
    )
    skills: list[TeamSkillInput] = strawberry.field(
        default_factory=list, description="Its skills (≤ 40)."
    )


@strawberry.input(description="A team's new settings, at the version you saw.")
class EditTeamInput:
    team_id: relay.GlobalID = strawberry.field(description="The team.")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")
    name: str = strawberry.field(description="Its name (≤ 64 字, unique).")
    description: str = strawberry.field(default="", description="What it does (≤ 300 字).")
    supervisor_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Its supervisor; null: none."
    )
    skills: list[TeamSkillInput] = strawberry.field(description="All its skills (replaced).")


@strawberry.input(description="Whom to move, and where.")
class MoveTeamMemberInput:
    staff_id: relay.GlobalID = strawberry.field(description="The staff member.")
    team_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The team to join; null: leave their team."
    )


@strawberry.input(description="A leave period.")
class RecordLeaveInput:
    staff_id: relay.GlobalID = strawberry.field(description="Who is absent.")
    starts_at: datetime = strawberry.field(description="From (with time zone).")
    ends_at: datetime = strawberry.field(description="Until, exclusive (≤ 366 days later).")
    reason: str = strawberry.field(default="", description="Why (≤ 200 字).")


@strawberry.input(description="Whose open work to move.")
class ReassignInBulkInput:
    staff_id: relay.GlobalID = strawberry.field(
        description="The absent staff member (on leave now, or disabled)."
    )


@strawberry.input(description="A claim to assign automatically.")
class AutoAssignClaimInput:
    claim_id: relay.GlobalID = strawberry.field(description="The claim.")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")


@strawberry.input(description="A follow-up visit to assign automatically.")
class AutoAssignVisitInput:
    visit_id: relay.GlobalID = strawberry.field(description="The visit (`FollowUpVisit`).")
    expected_version: int = strawberry.field(description="Its `version` as you saw it.")


@strawberry.input(description="A certificate to record.")
class GrantCertificateInput:
    staff_id: relay.GlobalID = strawberry.field(description="Its holder.")
    kind: m.CertificateKind | None = strawberry.field(
        default=None, description="What it certifies (taken from the course when given)."
    )
    course_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The course passed; its validity sets the expiry."
    )
    issued_on: date | None = strawberry.field(default=None, description="Issued (default today).")
    expires_on: date | None = strawberry.field(
        default=None, description="The last valid day (required without a course)."
    )


@strawberry.input(description="A certificate to withdraw.")
class RevokeCertificateInput:
    certificate_id: relay.GlobalID = strawberry.field(description="The certificate.")


@strawberry.input(description="A permission and the certificate it needs.")
class SetCertificateRequirementInput:
    permission: Permission = strawberry.field(description="The permission (not TEAM_MANAGE).")
    kind: m.CertificateKind | None = strawberry.field(
        default=None, description="The certificate it needs; null: none."
    )


@strawberry.input(description="Points for one checklist item.")
class ChecklistScoreInput:
    key: str = strawberry.field(description="The item (see `ReviewCase.checklist`).")
    points: int = strawberry.field(description="0 to the item's `maxPoints`.")


@strawberry.input(description="A quality review of a closed case.")
class SubmitQualityReviewInput:
    subject_id: relay.GlobalID = strawberry.field(
        description="The case: a `Claim`, `Complaint` or `FollowUpVisit` global ID."
    )
    scores: list[ChecklistScoreInput] = strawberry.field(
        description="Every checklist item, once (≤ 20)."
    )
    note: str = strawberry.field(default="", description="The reviewer's note (≤ 1000 字).")


@strawberry.type(description="A team after a change.")
class TeamPayload:
    team: Team | None = strawberry.field(default=None, description="The team as saved.")
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A staff member after a move, and the teams whose lists changed.")
class MoveTeamMemberPayload:
    staff_member: StaffMember | None = strawberry.field(default=None, description="Who moved.")
    teams: list[Team] = strawberry.field(default_factory=list, description="Teams left and joined.")
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A recorded leave period.")
class RecordLeavePayload:
    leave: StaffLeave | None = strawberry.field(default=None, description="The leave as saved.")
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="One item moved by a bulk reassignment.")
class ReassignedItem:
    kind: m.ReviewSubject = strawberry.field(description="Claim, complaint or visit.")
    object_id: strawberry.ID = strawberry.field(description="The item's global ID.")
    to_staff_id: strawberry.ID = strawberry.field(description="Its new handler (`StaffMember`).")


@strawberry.type(description="One item a bulk reassignment could not move, and why.")
class UnmovedItem:
    kind: m.ReviewSubject = strawberry.field(description="Claim, complaint or visit.")
    object_id: strawberry.ID = strawberry.field(description="The item's global ID.")
    reason: str = strawberry.field(description="Why, in Chinese.")


@strawberry.type(description="What a bulk reassignment moved and what it left.")
class ReassignInBulkPayload:
    moved: list[ReassignedItem] = strawberry.field(default_factory=list, description="Moved.")
    left: list[UnmovedItem] = strawberry.field(default_factory=list, description="Not moved.")
    claims: list[Claim] = strawberry.field(default_factory=list, description="Claims moved.")
    follow_up_visits: list[FollowUpVisit] = strawberry.field(
        default_factory=list, description="Visits moved."
    )
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A claim after automatic assignment.")
class AutoAssignClaimPayload:
    claim: Claim | None = strawberry.field(default=None, description="The claim as assigned.")
    errors: list[AutoAssignError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A visit after automatic assignment.")
class AutoAssignVisitPayload:
    visit: FollowUpVisit | None = strawberry.field(default=None, description="The visit.")
    errors: list[AutoAssignError] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A certificate after a change.")
class CertificatePayload:
    certificate: Certificate | None = strawberry.field(default=None, description="As saved.")
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A permission's certificate requirement after a change.")
class CertificateRequirementPayload:
    permission: Permission | None = strawberry.field(default=None, description="The permission.")
    requirement: CertificateRequirement | None = strawberry.field(
        default=None, description="What it now needs; null: no certificate."
    )
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


@strawberry.type(description="A quality review as saved.")
class QualityReviewPayload:
    review: QualityReview | None = strawberry.field(default=None, description="The review.")
    errors: list[TeamError_] = strawberry.field(description="Empty on success.")


SUBJECT_KINDS = {
    "Claim": m.ReviewSubject.CLAIM,
    "Complaint": m.ReviewSubject.COMPLAINT,
    "FollowUpVisit": m.ReviewSubject.VISIT,
}


async def _try(call: Callable[[], Awaitable[T]]) -> T | TeamError:
    try:
        return await call()
    except TeamError as error:
        return error


def _skills(items: list[TeamSkillInput]) -> list[tuple[m.SkillKind, str]]:
    return [(s.kind, s.value) for s in items]


def _optional(gid: relay.GlobalID | None, type_name: str) -> object:
    return node_uuid(gid, type_name) if gid is not None else None


async def _team(team: m.Team) -> Team:
    return (await team_views([team]))[0]


@strawberry.type
class TeamMutations:
    @strawberry.mutation(
        description="Staff (TEAM_MANAGE): create a team with its supervisor and skills.",
        permission_classes=MANAGE,
    )
    async def create_team(
        self,
        info: Info,
        input: Annotated[
            CreateTeamInput,
            strawberry.argument(description="The new team's name, supervisor and skills."),
        ],
    ) -> TeamPayload:
        if len(input.skills) > 40:
            return TeamPayload(errors=payload_errors(_too_many(), TeamError_))
        result = await _try(
            lambda: teams.create_team(
                info.context.actor,
                input.name,
                input.description,
                _optional(input.supervisor_id, "StaffMember"),  # type: ignore[arg-type]
                _skills(input.skills),
            )
        )
        if isinstance(result, TeamError):
            return TeamPayload(errors=payload_errors(result, TeamError_))
        return TeamPayload(team=await _team(result), errors=[])

    @strawberry.mutation(
        description="Staff (TEAM_MANAGE): rename a team, change its supervisor or skills.",
        permission_classes=MANAGE,
    )
    async def edit_team(
        self,
        info: Info,
        input: Annotated[
            EditTeamInput,
            strawberry.argument(description="The team, its version and all its new settings."),
        ],
    ) -> TeamPayload:
        if len(input.skills) > 40:
            return TeamPayload(errors=payload_errors(_too_many(), TeamError_))
        result = await _try(
            lambda: teams.edit_team(
                info.context.actor,
                node_uuid(input.team_id, "Team"),
                input.expected_version,
                name=input.name,
                description=input.description,
                supervisor_id=_optional(input.supervisor_id, "StaffMember"),  # type: ignore[arg-type]
                skills=_skills(input.skills),
            )
        )
        if isinstance(result, TeamError):
            return TeamPayload(errors=payload_errors(result, TeamError_))
        return TeamPayload(team=await _team(result), errors=[])

    @strawberry.mutation(
        description="Staff (TEAM_MANAGE: anyone anywhere; a supervisor: take someone without "
        "a team into their team, or release a member): move a staff member.",
        permission_classes=SUPERVISE,
    )
    async def move_team_member(
        self,
        info: Info,
        input: Annotated[
            MoveTeamMemberInput,
            strawberry.argument(description="The staff member and the team to join (or none)."),
        ],
    ) -> MoveTeamMemberPayload:
        result = await _try(
            lambda: teams.move_member(
                info.context.actor,
                node_uuid(input.staff_id, "StaffMember"),
                _optional(input.team_id, "Team"),  # type: ignore[arg-type]
            )
        )
        if isinstance(result, TeamError):
            return MoveTeamMemberPayload(errors=payload_errors(result, TeamError_))
        staff, changed = result
        rows = await m.Team.filter(id__in=changed).order_by("name")
        return MoveTeamMemberPayload(
            staff_member=StaffMember.from_model(staff), teams=await team_views(rows), errors=[]
        )

    @strawberry.mutation(
        description="Staff (a team's supervisor for its members, or TEAM_MANAGE): record a "
        "leave period; no work is assigned to the person during it.",
        permission_classes=SUPERVISE,
    )
    async def record_leave(
        self,
        info: Info,
        input: Annotated[
            RecordLeaveInput,
            strawberry.argument(description="Who is absent, from when until when, and why."),
        ],
    ) -> RecordLeavePayload:
        result = await _try(
            lambda: absence.record_leave(
                info.context.actor,
                node_uuid(input.staff_id, "StaffMember"),
                input.starts_at,
                input.ends_at,
                input.reason,
            )
        )
        if isinstance(result, TeamError):
            return RecordLeavePayload(errors=payload_errors(result, TeamError_))
        return RecordLeavePayload(leave=StaffLeave.from_model(result), errors=[])

    @strawberry.mutation(
        description="Staff (a team's supervisor for its members, or TEAM_MANAGE): move an "
        "absent person's open claims, complaints and visits (up to 500) to eligible "
        "colleagues, the least loaded first. Pressed twice at once, each item moves once.",
        permission_classes=SUPERVISE,
    )
    async def reassign_in_bulk(
        self,
        info: Info,
        input: Annotated[
            ReassignInBulkInput,
            strawberry.argument(description="The absent staff member whose open work to move."),
        ],
    ) -> ReassignInBulkPayload:
        result = await _try(
            lambda: absence.reassign_in_bulk(
                info.context.actor, node_uuid(input.staff_id, "StaffMember")
            )
        )
        if isinstance(result, TeamError):
            return ReassignInBulkPayload(errors=payload_errors(result, TeamError_))
        types = {k: t for t, k in SUBJECT_KINDS.items()}
        claim_ids = [i for k, i, _ in result.moved if k is m.ReviewSubject.CLAIM]
        visit_ids = [i for k, i, _ in result.moved if k is m.ReviewSubject.VISIT]
        return ReassignInBulkPayload(
            moved=[
                ReassignedItem(
                    kind=k,
                    object_id=strawberry.ID(global_id(types[k], i)),
                    to_staff_id=strawberry.ID(global_id("StaffMember", to)),
                )
                for k, i, to in result.moved
            ],
            left=[
                UnmovedItem(kind=k, object_id=strawberry.ID(global_id(types[k], i)), reason=why)
                for k, i, why in result.left
            ],
            claims=[Claim.from_model(c) for c in await ClaimRow.filter(id__in=claim_ids)],
            follow_up_visits=[
                FollowUpVisit.from_model(v) for v in await VisitRow.filter(id__in=visit_ids)
            ],
            errors=[],
        )

    @strawberry.mutation(
        description="Staff (CLAIM_ASSIGN): give a claim to the least-loaded adjuster on duty "
        "with a valid certificate and the claim's loss-type skill.",
        permission_classes=staff_only(Permission.CLAIM_ASSIGN),
    )
    async def auto_assign_claim(
        self,
        info: Info,
        input: Annotated[
            AutoAssignClaimInput,
            strawberry.argument(description="The claim to route, at the version you saw."),
        ],
    ) -> AutoAssignClaimPayload:
        try:
            claim = await assignment.auto_assign_claim(
                info.context.actor, node_uuid(input.claim_id, "Claim"), input.expected_version
            )
        except (TeamError, ClaimError) as error:
            return AutoAssignClaimPayload(errors=payload_errors(error, AutoAssignError))
        return AutoAssignClaimPayload(claim=Claim.from_model(claim), errors=[])

    @strawberry.mutation(
        description="Staff (VISIT_MANAGE): give a follow-up visit to the least-loaded "
        "colleague on duty who works its channel.",
        permission_classes=staff_only(Permission.VISIT_MANAGE),
    )
    async def auto_assign_visit(
        self,
        info: Info,
        input: Annotated[
            AutoAssignVisitInput,
            strawberry.argument(description="The follow-up visit to route, at your version."),
        ],
    ) -> AutoAssignVisitPayload:
        try:
            visit = await assignment.auto_assign_visit(
                info.context.actor,
                node_uuid(input.visit_id, "FollowUpVisit"),
                input.expected_version,
            )
        except (TeamError, visit_flows.VisitError) as error:
            return AutoAssignVisitPayload(errors=payload_errors(error, AutoAssignError))
        return AutoAssignVisitPayload(visit=FollowUpVisit.from_model(visit), errors=[])

    @strawberry.mutation(
        description="Staff (TEAM_MANAGE): record a certificate — a course passed, or a "
        "qualification with its own expiry.",
        permission_classes=MANAGE,
    )
    async def grant_certificate(
        self,
        info: Info,
        input: Annotated[
            GrantCertificateInput,
            strawberry.argument(description="The holder, the course or kind, and the dates."),
        ],
    ) -> CertificatePayload:
        result = await _try(
            lambda: certificates.grant_certificate(
                info.context.actor,
                node_uuid(input.staff_id, "StaffMember"),
                input.kind,
                course_id=_optional(input.course_id, "Course"),  # type: ignore[arg-type]
                issued_on=input.issued_on,
                expires_on=input.expires_on,
            )
        )
        if isinstance(result, TeamError):
            return CertificatePayload(errors=payload_errors(result, TeamError_))
        return CertificatePayload(certificate=Certificate.from_model(result), errors=[])

    @strawberry.mutation(
        description="Staff (TEAM_MANAGE): withdraw a certificate; the permissions that need "
        "it go with the holder's next request.",
        permission_classes=MANAGE,
    )
    async def revoke_certificate(
        self,
        info: Info,
        input: Annotated[
            RevokeCertificateInput,
            strawberry.argument(description="The certificate to withdraw now."),
        ],
    ) -> CertificatePayload:
        result = await _try(
            lambda: certificates.revoke_certificate(
                info.context.actor, node_uuid(input.certificate_id, "Certificate")
            )
        )
        if isinstance(result, TeamError):
            return CertificatePayload(errors=payload_errors(result, TeamError_))
        return CertificatePayload(certificate=Certificate.from_model(result), errors=[])

    @strawberry.mutation(
        description="Staff (TEAM_MANAGE): make a permission need a valid certificate of a "
        "kind, or none; staff without one lose the permission at once.",
        permission_classes=MANAGE,
    )
    async def set_certificate_requirement(
        self,
        info: Info,
        input: Annotated[
            SetCertificateRequirementInput,
            strawberry.argument(description="The permission and the certificate it needs."),
        ],
    ) -> CertificateRequirementPayload:
        result = await _try(
            lambda: certificates.set_requirement(info.context.actor, input.permission, input.kind)
        )
        if isinstance(result, TeamError):
            return CertificateRequirementPayload(errors=payload_errors(result, TeamError_))
        return CertificateRequirementPayload(
            permission=input.permission,
            requirement=CertificateRequirement.from_model(result) if result else None,
            errors=[],
        )

    @strawberry.mutation(
        description="Supervisors (their team members' cases; TEAM_MANAGE: anyone's): score "
        "a closed case against the checklist, once per case, never one's own.",
        permission_classes=SUPERVISE,
    )
    async def submit_quality_review(
        self,
        info: Info,
        input: Annotated[
            SubmitQualityReviewInput,
            strawberry.argument(description="The closed case, every checklist score, a note."),
        ],
    ) -> QualityReviewPayload:
        kind = SUBJECT_KINDS.get(input.subject_id.type_name)
        if kind is None or len(input.scores) > 20:
            error = TeamError(TeamErrorCode.INVALID, "请选择理赔、投诉或回访案件", "subjectId")
            return QualityReviewPayload(errors=payload_errors(error, TeamError_))
        points = {s.key: s.points for s in input.scores}
        result = await _try(
            lambda: reviews.submit(
                info.context.actor,
                kind,
                node_uuid(input.subject_id, input.subject_id.type_name),
                points,
                input.note,
            )
        )
        if isinstance(result, TeamError):
            return QualityReviewPayload(errors=payload_errors(result, TeamError_))
        return QualityReviewPayload(review=QualityReview.from_model(result), errors=[])


def _too_many() -> DomainError:
    return TeamError(TeamErrorCode.TOO_MANY, "技能不能超过40项", "skills")
