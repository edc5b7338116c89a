"""``applyForPolicy`` and ``myApplications``: the customer's applications for policies
bought online. An accepted application is paid with ``createPremiumPayment`` on its
``installmentToPay``; the payment issues the policy."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from schema.common import Connection, CursorArg, PageArg, node_uuid, paginate
from schema.errors import payload_errors
from schema.permissions import CUSTOMER_ONLY
from schema.policy_service.application_types import ApplicationError_, PolicyApplication
from schema.scalars import Amount
from workflows.access import Actor
from workflows.idempotency import IdempotencyError
from workflows.limits import Rate
from workflows.policy_service import applications as flows
from workflows.policy_service.rating import ApplicationError
from workflows.policy_service.rating import ApplicationErrorCode as E

APPLY_RATE = Rate.parse("10/1h")  # applications per customer: each may become staff work
MAX_TEXT = 64


@strawberry.input(description="A person named on an application.")
class ApplicantInput:
    name: str = strawberry.field(description="Full legal name (≤ 32 字).")
    id_number: str = strawberry.field(description="18-digit resident ID number (居民身份证).")
    birth_date: str | None = strawberry.field(
        default=None,
        description="Birth date as stated, `YYYY-MM-DD`: must match the ID number when given.",
    )
    sex: str | None = strawberry.field(
        default=None, description="MALE or FEMALE as stated: must match the ID number when given."
    )


@strawberry.input(description="A named beneficiary and their share.")
class BeneficiaryInput:
    person: ApplicantInput = strawberry.field(description="Who.")
    relation_to_insured: str = strawberry.field(
        description="SPOUSE, CHILD, PARENT, SIBLING or OTHER."
    )
    share_percent: Amount = strawberry.field(
        description="Share in percent (two places at most); all shares sum to 100."
    )


@strawberry.input(description="A health declaration answer.")
class HealthAnswerInput:
    key: str = strawberry.field(description="The question's key.")
    answer: bool = strawberry.field(description="Yes (true) or no (false).")


@strawberry.input(description="An application for a policy of an online product.")
class ApplyForPolicyInput:
    product_id: relay.GlobalID = strawberry.field(description="An online product.")
    plan_code: str = strawberry.field(description="The plan chosen (`OnlinePlan.code`).")
    start_date: date = strawberry.field(description="First day of cover (Asia/Shanghai).")
    occupation_class: int = strawberry.field(default=1, description="Occupation class 1-6.")
    relation: str = strawberry.field(
        default="SELF",
        description="The insured's relation to you: SELF, SPOUSE, CHILD or PARENT.",
    )
    insured: ApplicantInput | None = strawberry.field(
        default=None, description="The insured, unless SELF (then you, as verified)."
    )
    destination: str | None = strawberry.field(default=None, description="Travel: destination key.")
    travel_days: int | None = strawberry.field(
        default=None, description="Travel: days of the trip."
    )
    health_answers: list[HealthAnswerInput] = strawberry.field(
        default_factory=list, description="Every health question answered (≤ 20)."
    )
    beneficiaries: list[BeneficiaryInput] = strawberry.field(
        default_factory=list,
        description="Named beneficiaries (≤ 5, shares summing to 100); empty: by law.",
    )
    insured_consent: bool = strawberry.field(
        default=False,
        description="The insured (when not you) agrees to the beneficiaries named: recorded.",
    )
    idempotency_key: str = strawberry.field(
        description="A client-made unique key (8-128 characters): a retry returns the same "
        "application."
    )


@strawberry.type(description="An application after `applyForPolicy` or `renewPolicy`.")
class ApplicationPayload:
    application: PolicyApplication | None = strawberry.field(
        default=None,
        description="The application: ACCEPTED (pay `installmentToPay`), REFERRED or "
        "DECLINED; null when refused.",
    )
    errors: list[ApplicationError_] = strawberry.field(description="Empty on success.")


def _person(value: ApplicantInput, where: str) -> flows.PersonInput:
    birth = None
    if value.birth_date is not None:
        try:
            birth = date.fromisoformat(value.birth_date)
        except ValueError:
            raise ApplicationError(
                E.IDENTITY_MISMATCH, "出生日期格式应为YYYY-MM-DD", f"{where}.birthDate"
            ) from None
    if len(value.name) > MAX_TEXT or len(value.id_number) > MAX_TEXT:
        raise ApplicationError(E.INVALID_INPUT, "姓名或证件号码过长", where)
    return flows.PersonInput(value.name, value.id_number, birth, value.sex)


def _request(input: ApplyForPolicyInput) -> flows.ApplyRequest:
    if len(input.health_answers) > flows.MAX_HEALTH_ANSWERS:
        raise ApplicationError(E.INVALID_ANSWERS, "健康告知答案过多", "healthAnswers")
    if len(input.beneficiaries) > flows.MAX_BENEFICIARIES:
        raise ApplicationError(E.INVALID_BENEFICIARIES, "受益人最多5位", "beneficiaries")
    if len(input.plan_code) > MAX_TEXT or len(input.destination or "") > MAX_TEXT:
        raise ApplicationError(E.INVALID_INPUT, "输入过长", None)
    return flows.ApplyRequest(
        product_id=node_uuid(input.product_id, "Product"),
        plan_code=input.plan_code,
        start_date=input.start_date,
        occupation_class=input.occupation_class,
        relation=input.relation,
        insured=_person(input.insured, "insured") if input.insured else None,
        destination=input.destination,
        travel_days=input.travel_days,
        health_answers={a.key[:MAX_TEXT]: a.answer for a in input.health_answers},
        beneficiaries=[
            flows.BeneficiaryInput(
                _person(b.person, f"beneficiaries.{i}"), b.relation_to_insured, b.share_percent
            )
            for i, b in enumerate(input.beneficiaries)
        ],
        insured_consent=input.insured_consent,
    )


async def application_payload(actor: Actor, application_id: object) -> ApplicationPayload:
    row = await flows.visible_applications(actor).filter(id=application_id).first()
    return ApplicationPayload(
        application=PolicyApplication.from_model(row) if row else None, errors=[]
    )


@strawberry.type
class ApplicationQueries:
    @strawberry.field(
        description="Your applications for policies (new and renewal), the newest first.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def my_applications(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[PolicyApplication]:
        rows = flows.visible_applications(info.context.actor).order_by("-created_at", "id")
        return await paginate(
            rows, PolicyApplication.from_model, first=first, after=after, last=None, before=None
        )


@strawberry.type
class ApplicationMutations:
    @strawberry.mutation(
        description="Apply for a policy of an online product as its holder. Identities are "
        "checked (ID number checksum, birth date and sex, real-name verification), the plan "
        "priced from the rating tables and the application underwritten by the product's "
        "rules: ACCEPTED (pay `installmentToPay` with `createPremiumPayment` before `payBy`), "
        "DECLINED with the reason, or REFERRED to an underwriter. Nothing is stored when "
        "the input is refused.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def apply_for_policy(
        self,
        info: Info,
        input: Annotated[
            ApplyForPolicyInput,
            strawberry.argument(description="Product, plan, insured, answers, beneficiaries."),
        ],
    ) -> ApplicationPayload:
        services = info.context.services
        actor = info.context.actor
        try:
            request = _request(input)
            decision = await services.limiter.hit(
                "apply_for_policy", str(actor.subject_id), APPLY_RATE
            )
            if not decision.allowed:
                raise ApplicationError(
                    E.THROTTLED,
                    "投保操作过于频繁，请稍后再试",
                    None,
                    retry_after=decision.retry_after,
                )
            application_id = await flows.apply_for_policy(
                services.real_name, services.pii, actor, request, input.idempotency_key
            )
        except (ApplicationError, IdempotencyError) as error:
            return ApplicationPayload(errors=payload_errors(error, ApplicationError_))
        return await application_payload(actor, application_id)
