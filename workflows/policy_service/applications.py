"""``applyForPolicy``: an application (投保单) for an online product, checked under the
real-name rule, priced from the rating tables and underwritten by rules; accepted ones
become payable at once through the existing premium payment.

At acceptance (by rule or by an underwriter) the application gets its policy row, in
status AWAITING_PAYMENT with coverages, insured, beneficiaries and one installment: the
customer pays that installment with ``createPremiumPayment`` and the payment callback
issues the policy (``issuance.py``). Nothing a customer sees as a policy exists before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models.clock import SHANGHAI, local_midnight, local_today
from models.customers import Customer
from models.ids import global_id
from models.pii import PiiCipher
from models.policies import (
    Beneficiary,
    Coverage,
    InsuredPerson,
    PaymentFrequency,
    Policy,
    PolicyStatus,
    PremiumInstallment,
)
from models.policy_applications import (
    ApplicationKind,
    ApplicationStatus,
    PolicyApplication,
    RatingForm,
    RatingPlan,
)
from push.outbox import emit
from workflows.access import Actor, Permission
from workflows.idempotency import once
from workflows.numbering import Prefix, next_number
from workflows.policy_service.identity import (
    IdentityFacts,
    RealNameVerifier,
    age_on,
    parse_id_number,
)
from workflows.policy_service.quotes import check_start
from workflows.policy_service.rating import (
    ApplicationError,
    QuoteAnswers,
    check_answers,
    online_form,
    plan_sum_insured,
    price,
)
from workflows.policy_service.rating import ApplicationErrorCode as E
from workflows.policy_service.underwriting import Outcome, underwrite

RELATIONS = ("SELF", "SPOUSE", "CHILD", "PARENT")
BENEFICIARY_RELATIONS = ("SPOUSE", "CHILD", "PARENT", "SIBLING", "OTHER")
MAX_BENEFICIARIES = 5
MAX_NAME = 32
MAX_HEALTH_ANSWERS = 20
UNDERWRITING_CHANNEL = "staff:underwriting"


@dataclass(frozen=True)
class PersonInput:
    name: str
    id_number: str
    birth_date: date | None = None  # as stated: must match the ID number
    sex: str | None = None  # MALE or FEMALE, as stated


@dataclass(frozen=True)
class BeneficiaryInput:
    person: PersonInput
    relation: str
    share: Decimal  # percent


@dataclass(frozen=True)
class ApplyRequest:
    product_id: uuid.UUID
    plan_code: str
    start_date: date
    occupation_class: int
    relation: str  # the insured's to the holder: SELF, SPOUSE, CHILD, PARENT
    insured: PersonInput | None = None  # None for SELF: the holder
    destination: str | None = None
    travel_days: int | None = None
    health_answers: dict[str, bool] = field(default_factory=dict)
    beneficiaries: list[BeneficiaryInput] = field(default_factory=list)  # empty: by law
    insured_consent: bool = False  # the insured agrees to the beneficiaries named


def visible_applications(actor: Actor) -> QuerySet[PolicyApplication]:
    """A customer's own applications; underwriters see all; nobody else any."""
    if actor.is_customer and actor.subject_id is not None:
        return PolicyApplication.filter(customer_id=actor.subject_id)
    if actor.can(Permission.UNDERWRITE):
        return PolicyApplication.all()
    return PolicyApplication.filter(id=None)


def _bad(code: E, message: str, where: str | None) -> ApplicationError:
    return ApplicationError(code, message, where)


async def _checked_person(
    verifier: RealNameVerifier, person: PersonInput, where: str, today: date
) -> IdentityFacts:
    """The real-name rule: a valid number, matching stated birth date and sex, and the
    provider's confirmation that the name belongs to it."""
    name = person.name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise _bad(E.INVALID_INPUT, "请填写真实姓名（不超过32字）", f"{where}.name")
    facts = parse_id_number(person.id_number, today)
    if facts is None:
        raise _bad(E.INVALID_ID_NUMBER, "身份证号码无效，请核对", f"{where}.idNumber")
    if person.birth_date is not None and person.birth_date != facts.birth_date:
        raise _bad(E.IDENTITY_MISMATCH, "出生日期与身份证号码不一致", f"{where}.birthDate")
    if person.sex is not None and person.sex != facts.sex:
        raise _bad(E.IDENTITY_MISMATCH, "性别与身份证号码不一致", f"{where}.sex")
    if not await verifier.verify(name, facts.id_number):
        raise _bad(E.REAL_NAME_FAILED, "姓名与身份证号码未通过实名核验", f"{where}.name")
    return facts


def _check_beneficiaries(request: ApplyRequest) -> None:
    rows = request.beneficiaries
    if len(rows) > MAX_BENEFICIARIES:
        raise _bad(E.INVALID_BENEFICIARIES, "受益人最多5位", "beneficiaries")
    if not rows:
        return
    if any(row.relation not in BENEFICIARY_RELATIONS for row in rows):
        raise _bad(E.INVALID_RELATION, "受益人与被保险人关系无效", "beneficiaries")
    if any(row.share <= 0 or row.share != row.share.quantize(Decimal("0.01")) for row in rows):
        raise _bad(E.INVALID_BENEFICIARIES, "受益份额应为大于0的百分比", "beneficiaries")
    if sum((row.share for row in rows), Decimal(0)) != 100:
        raise _bad(E.INVALID_BENEFICIARIES, "受益人份额合计应为100%", "beneficiaries")
    if request.relation != "SELF" and not request.insured_consent:
        # Insurance Law art. 39: the holder names beneficiaries with the insured's consent.
        raise _bad(E.CONSENT_REQUIRED, "指定受益人须经被保险人同意", "insuredConsent")


async def apply_for_policy(
    verifier: RealNameVerifier,
    pii: PiiCipher,
    actor: Actor,
    request: ApplyRequest,
    idempotency_key: str,
) -> uuid.UUID:
    """Check, price, underwrite and store an application; the same key returns it again."""
    fingerprint = {
        "product": str(request.product_id),
        "plan": request.plan_code,
        "start": request.start_date.isoformat(),
        "occupation": request.occupation_class,
        "relation": request.relation,
        "insured": request.insured and pii.id_number_hash(request.insured.id_number.upper()),
        "destination": request.destination,
        "days": request.travel_days,
        "health": request.health_answers,
        "beneficiaries": [
            [pii.id_number_hash(b.person.id_number.upper()), b.relation, str(b.share)]
            for b in request.beneficiaries
        ],
    }

    async def run() -> dict[str, Any]:
        application = await _apply(verifier, pii, actor, request)
        return {"application_id": str(application.id)}

    answer = await once(f"{actor.subject_id}:applyForPolicy", idempotency_key, fingerprint, run)
    return uuid.UUID(answer["application_id"])


async def _apply(
    verifier: RealNameVerifier, pii: PiiCipher, actor: Actor, request: ApplyRequest
) -> PolicyApplication:
    today = local_today()
    product, form, plans = await online_form(request.product_id)
    plan = next((p for p in plans if p.code == request.plan_code), None)
    if plan is None:
        raise _bad(E.PLAN_NOT_FOUND, "未找到该保障计划", "planCode")
    if request.relation not in RELATIONS:
        raise _bad(E.INVALID_RELATION, "被保险人须为本人、配偶、子女或父母", "relation")
    if len(request.health_answers) > MAX_HEALTH_ANSWERS:
        raise _bad(E.INVALID_ANSWERS, "健康告知答案过多", "healthAnswers")
    check_start(form, request.start_date, today)
    _check_beneficiaries(request)
    holder = await Customer.get(id=actor.subject_id)
    if not holder.id_number_encrypted:
        raise _bad(E.HOLDER_ID_MISSING, "请先完成实名认证（补充身份证号码）后再投保", None)
    holder_person = PersonInput(holder.name, pii.decrypt(holder.id_number_encrypted, "id_number"))
    holder_facts = await _checked_person(verifier, holder_person, "holder", today)
    if request.relation == "SELF":
        insured, insured_facts = holder_person, holder_facts
    else:
        if request.insured is None:
            raise _bad(E.INVALID_INPUT, "请填写被保险人信息", "insured")
        insured = request.insured
        insured_facts = await _checked_person(verifier, insured, "insured", today)
        if insured_facts.id_number == holder_facts.id_number:
            raise _bad(E.INVALID_RELATION, "被保险人为本人时请选择“本人”", "relation")
    named = []
    for index, row in enumerate(request.beneficiaries):
        facts = await _checked_person(verifier, row.person, f"beneficiaries.{index}", today)
        named.append((row, facts))
    answers = QuoteAnswers(
        _age(insured_facts, request.start_date),
        request.occupation_class,
        request.destination,
        request.travel_days,
    )
    check_answers(form, answers)
    priced = price(form, plan, answers)
    if priced.premium is None:
        raise _bad(E.PLAN_UNAVAILABLE, "；".join(priced.reasons), "planCode")
    health = _health_answers(form, request.health_answers)
    outcome = underwrite(form, plan, health)
    sealed = pii.seal_id_number(insured_facts.id_number)
    starts_at = local_midnight(request.start_date)
    term = plan.term_days if plan.term_days is not None else request.travel_days or 1
    now = datetime.now(UTC)
    async with in_transaction():
        application = await PolicyApplication.create(
            number=await next_number(Prefix.APPLICATION, now),
            kind=ApplicationKind.NEW,
            customer_id=holder.id,
            product_id=product.id,
            plan_id=plan.id,
            plan_name=plan.name,
            status=ApplicationStatus.REFERRED,
            answers={
                "occupation_class": request.occupation_class,
                "destination": request.destination,
                "travel_days": request.travel_days,
                "health": health,
                "age": answers.age,
                "pricing": priced.reasons,
            },
            insured_relation=request.relation,
            insured_name=insured.name.strip(),
            insured_id_encrypted=sealed.encrypted,
            insured_id_hash=sealed.lookup_hash,
            insured_id_masked=sealed.masked,
            insured_birth_date=insured_facts.birth_date,
            insured_sex=str(insured_facts.sex),
            beneficiaries=[_beneficiary_row(pii, row, facts, now) for row, facts in named],
            sum_insured=plan_sum_insured(plan),
            premium=priced.premium,
            starts_at=starts_at,
            ends_at=local_midnight(request.start_date + timedelta(days=term)),
            reasons=outcome.reasons,
        )
        await settle_outcome(application, outcome, form, decided_by=None, now=now)
    return application


def _age(facts: IdentityFacts, start: date) -> int:
    return age_on(facts.birth_date, start)


def _health_answers(form: RatingForm, given: dict[str, bool]) -> dict[str, bool]:
    """Every question of the form answered (yes or no), and nothing else."""
    codes = [q["code"] for q in form.health_questions]
    if set(given) != set(codes):
        raise _bad(E.INVALID_ANSWERS, "请回答全部健康告知问题", "healthAnswers")
    return {code: bool(given[code]) for code in codes}


def _beneficiary_row(
    pii: PiiCipher, row: BeneficiaryInput, facts: IdentityFacts, now: datetime
) -> dict[str, str]:
    sealed = pii.seal_id_number(facts.id_number)
    return {
        "name": row.person.name.strip(),
        "relation": row.relation,
        "share": f"{row.share:.2f}",
        "id_encrypted": sealed.encrypted,
        "id_hash": sealed.lookup_hash,
        "id_masked": sealed.masked,
        "consent_at": now.isoformat(),  # the holder's, or the insured's when not the holder
    }


async def settle_outcome(
    application: PolicyApplication,
    outcome: Outcome,
    form: RatingForm | None,
    *,
    decided_by: uuid.UUID | None,
    now: datetime,
) -> None:
    """Apply an underwriting outcome inside the caller's transaction: accept (the policy
    row to pay for), decline (with the reason), or refer to the underwriters' queue."""
    payload = {
        "application_id": global_id("PolicyApplication", application.id),
        "application_number": application.number,
        "plan_name": application.plan_name,
    }
    if outcome.decision == "REFER":
        await emit(
            "application.referred",
            entity_type="policy_application",
            entity_id=application.id,
            customer_id=None,
            payload=payload | {"_staff_channels": [UNDERWRITING_CHANNEL]},
        )
        return
    application.decided_by = decided_by
    application.decided_at = now
    application.decision_reason = outcome.reason
    if outcome.decision == "DECLINE":
        application.status = ApplicationStatus.DECLINED
        application.renewal_key = None
        await application.save()
        await emit(
            "application.declined",
            entity_type="policy_application",
            entity_id=application.id,
            customer_id=application.customer_id,
            payload=payload | {"reason": outcome.reason},
        )
        return
    window = timedelta(minutes=form.payment_window_minutes if form else 24 * 60)
    application.status = ApplicationStatus.ACCEPTED
    application.pay_by = min(now + window, application.starts_at)
    application.policy = await _policy_to_pay(application, now)
    await application.save()
    await emit(
        "application.accepted",
        entity_type="policy_application",
        entity_id=application.id,
        customer_id=application.customer_id,
        payload=payload
        | {
            "premium": f"{application.premium:.2f}",
            "pay_by": f"{application.pay_by.astimezone(SHANGHAI):%m月%d日%H:%M}",
        },
    )


async def _policy_to_pay(application: PolicyApplication, now: datetime) -> Policy:
    """The policy row the first premium pays for: unseen until the payment issues it."""
    policy = await Policy.create(
        number=application.number,  # provisional: the real number comes with issue
        product_id=application.product_id,
        holder_id=application.customer_id,
        status=PolicyStatus.AWAITING_PAYMENT,
        starts_at=application.starts_at,
        ends_at=application.ends_at,
        sum_insured=application.sum_insured,
        premium=application.premium,
        payment_frequency=PaymentFrequency.SINGLE,
        issued_at=now,  # replaced by the time of issue
    )
    for position, cover in enumerate(await _coverages(application)):
        await Coverage.create(
            policy=policy,
            code=cover["code"],
            name=cover["name"],
            sum_insured=Decimal(cover["sum_insured"]),
            deductible=Decimal(cover.get("deductible", "0")),
            position=position,
        )
    insured_customer = await _customer_by_hash(application.insured_id_hash)
    if application.insured_relation == "SELF":
        insured_customer = application.customer_id
    await InsuredPerson.create(
        policy=policy,
        customer_id=insured_customer,
        name=application.insured_name,
        id_number_encrypted=application.insured_id_encrypted,
        id_number_hash=application.insured_id_hash,
        id_number_masked=application.insured_id_masked,
        relation_to_holder=application.insured_relation,
    )
    for position, row in enumerate(application.beneficiaries):
        await Beneficiary.create(
            policy=policy,
            customer_id=await _customer_by_hash(row["id_hash"]),
            name=row["name"],
            id_number_encrypted=row["id_encrypted"],
            id_number_hash=row["id_hash"],
            id_number_masked=row["id_masked"],
            relation_to_insured=row["relation"],
            share_percent=Decimal(row["share"]),
            position=position,
        )
    await PremiumInstallment.create(
        policy=policy,
        sequence=1,
        due_date=local_today(),
        amount=application.premium,
    )
    return policy


async def _coverages(application: PolicyApplication) -> list[dict[str, str]]:
    if application.plan_id is not None:
        plan = await RatingPlan.get_or_none(id=application.plan_id)
        if plan is not None:
            return plan.coverages
    if application.renewal_of_id is not None:  # a product without rating tables
        rows = await Coverage.filter(policy_id=application.renewal_of_id).order_by("position")
        return [
            {
                "code": c.code,
                "name": c.name,
                "sum_insured": str(c.sum_insured),
                "deductible": str(c.deductible),
            }
            for c in rows
        ]
    return []


async def _customer_by_hash(id_hash: str) -> uuid.UUID | None:
    row = await Customer.filter(id_number_hash=id_hash).only("id").first()
    return row.id if row else None
