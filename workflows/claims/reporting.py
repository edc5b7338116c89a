"""Reporting a loss (报案): the checks a report must pass, the claim it opens and the
checklist of documents the customer is asked for."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from models.auth import SubjectKind
from models.claims import Claim, ClaimDocument, PayoutShare, ReportChannel
from models.clock import local_date, local_today
from models.id_numbers import age_on, parse_id_number
from models.pii import PHONE_PATTERN, PiiCipher, normalize_phone
from models.policies import Beneficiary, InsuredPerson, Policy, PolicyStatus, Product
from workflows.access import Actor, Permission, visible_policies
from workflows.claims.rules import (
    CUSTOMER_CHANNELS,
    ClaimError,
    ClaimErrorCode,
    ClaimWarning,
    S,
    required_text,
    utc_now,
)
from workflows.claims.state import add_to_timeline, announce, transition
from workflows.numbering import Prefix, next_number

log = logging.getLogger("anxin.claims")


@dataclass(frozen=True)
class LossReport:
    policy_id: uuid.UUID
    loss_type: str
    loss_at: datetime
    location: str
    description: str
    channel: ReportChannel
    contact_name: str
    contact_phone: str
    late_reason: str | None = None
    insured_person_id: uuid.UUID | None = None  # required when the policy has several


@dataclass
class ReportOutcome:
    claim: Claim | None  # None for a dry run
    warnings: list[ClaimWarning]
    checklist: list[dict[str, Any]]
    confirmation: str
    next_steps: list[str]


async def _reportable_policy(actor: Actor, policy_id: uuid.UUID) -> Policy:
    policy = await visible_policies(actor).filter(id=policy_id).select_related("product").first()
    if policy is None:
        raise ClaimError(ClaimErrorCode.POLICY_NOT_FOUND, "未找到该保单", "policyId")
    return policy


def _loss_type(policy: Policy, code: str) -> dict[str, Any]:
    for loss_type in policy.product.loss_types:
        if loss_type["code"] == code:
            return loss_type
    raise ClaimError(ClaimErrorCode.LOSS_TYPE_NOT_COVERED, "该保单不承保此类事故", "lossType")


# Every checklist ends with a catch-all, so an adjuster can ask for anything (e.g. 维修厂
# 定损单) and the customer has somewhere to upload it.
PAID_TO_BENEFICIARIES = "BENEFICIARIES"  # a loss type's "payee": a death benefit
OTHER_DOCUMENTS = {"code": "OTHER", "name": "其他材料", "required": False}


def checklist_of(
    loss_type: dict[str, Any], person_documents: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The product's documents for the loss type, those asked because of the insured
    person, and the catch-all last."""
    documents = [dict(document) for document in loss_type.get("documents", [])]
    documents += [dict(document) for document in person_documents or []]
    if not any(document["code"] == OTHER_DOCUMENTS["code"] for document in documents):
        documents.append(dict(OTHER_DOCUMENTS))
    return documents


async def _insured_person(
    policy: Policy, chosen: uuid.UUID | None, loss_at: datetime
) -> InsuredPerson | None:
    """Whom the loss befell: named on a policy with several insured persons (a family
    health policy), the only one otherwise; a member removed from the policy only for a
    loss up to their last covered day."""
    day = local_date(loss_at)
    people = [
        person
        for person in await InsuredPerson.filter(policy_id=policy.id).order_by("position")
        if person.covered_until is None or person.covered_until >= day
    ]
    if chosen is not None:
        for person in people:
            if person.id == chosen:
                return person
        raise ClaimError(
            ClaimErrorCode.INSURED_PERSON_NOT_FOUND, "该被保险人不在此保单上", "insuredPersonId"
        )
    if len(people) > 1:
        raise ClaimError(ClaimErrorCode.REQUIRED, "请选择出险的被保险人", "insuredPersonId")
    return people[0] if people else None


def _payee(
    insured: InsuredPerson | None,
    age: Age,
    policy: Policy,
    claimant: uuid.UUID,
    loss_type: dict[str, Any],
) -> uuid.UUID | None:
    """Whom the money is for: the insured person, the policyholder for a minor. None
    when staff must find out: an insured without an account of their own, an age that
    cannot be read; and for a benefit paid to beneficiaries (a death), paid in shares.
    The claimant on policies with no insured on record."""
    if loss_type.get("payee") == PAID_TO_BENEFICIARIES:
        return None
    if insured is None:
        return claimant
    if age is Age.MINOR:
        return policy.holder_id
    if age is Age.UNKNOWN:
        return None
    return insured.customer_id


async def _beneficiary_shares(policy: Policy) -> list[dict[str, Any]]:
    """The shares of a benefit paid to beneficiaries: one per beneficiary named on the
    policy, in the policy's order (a person named twice, once, with both shares). None
    named (beneficiaries by law, 法定受益人): staff establish the heirs and pay them."""
    shares: dict[uuid.UUID, dict[str, Any]] = {}
    for person in await Beneficiary.filter(policy_id=policy.id).order_by("position"):
        key = person.customer_id or person.id
        if key in shares:
            shares[key]["share_percent"] += person.share_percent
            continue
        shares[key] = {
            "beneficiary_id": person.id,
            "customer_id": person.customer_id,
            "name": person.name,
            "share_percent": person.share_percent,
        }
    return list(shares.values())


def _person_documents(
    insured: InsuredPerson | None, claimant: uuid.UUID, age: Age
) -> list[dict[str, Any]]:
    """Documents asked because of who the loss befell: their ID and the relation when
    someone else claims for them, guardianship for a minor."""
    if insured is None:
        return []
    documents = []
    if insured.customer_id != claimant:
        documents += [
            {"code": "INSURED_ID", "name": f"被保险人{insured.name}的身份证明", "required": True},
            {"code": "RELATION", "name": "申请人与被保险人关系证明", "required": True},
        ]
    if age is Age.MINOR:
        documents.append(
            {"code": "GUARDIAN", "name": "监护关系证明（户口簿或出生医学证明）", "required": True}
        )
    return documents


class Age(StrEnum):
    ADULT = "ADULT"
    MINOR = "MINOR"
    UNKNOWN = "UNKNOWN"  # not a mainland ID number, or unreadable: staff check


def _age_on(pii: PiiCipher, insured: InsuredPerson, loss_at: datetime) -> Age:
    """Under 18 on the day of the loss or not, by the birth date in the ID number (18
    characters, or an old 15-digit one; read here by the system, never shown)."""
    try:
        id_number = pii.decrypt(insured.id_number_encrypted, "id_number")
    except Exception:  # a key retired or a record damaged
        log.warning("insured person %s: ID number unreadable, age not checked", insured.id)
        return Age.UNKNOWN
    facts = parse_id_number(id_number, local_today(), legacy=True)
    if facts is None:
        return Age.UNKNOWN
    return Age.MINOR if age_on(facts.birth_date, local_date(loss_at)) < 18 else Age.ADULT


async def report_loss(
    pii: PiiCipher,
    actor: Actor,
    report: LossReport,
    *,
    on_behalf_of: uuid.UUID | None = None,
    dry_run: bool = False,
    hotline: str = "",
) -> ReportOutcome:
    """Check a report and, unless ``dry_run``, record it. Customers report through the
    app, mini-program or web; staff with CLAIM_REPORT record phone and counter reports
    for the customer named in ``on_behalf_of`` (who is then told by SMS what to upload).
    ``hotline``: the service number the texts name (none: they point to the app)."""
    now = utc_now()
    if actor.is_customer:
        if report.channel not in CUSTOMER_CHANNELS:
            raise ClaimError(
                ClaimErrorCode.CHANNEL_NOT_ALLOWED, "电话和柜面报案需由工作人员受理", "channel"
            )
        claimant = actor.subject_id
        policy = await _reportable_policy(actor, report.policy_id)
    else:
        if report.channel in CUSTOMER_CHANNELS:
            raise ClaimError(
                ClaimErrorCode.CHANNEL_NOT_ALLOWED, "工作人员只能受理电话或柜面报案", "channel"
            )
        if on_behalf_of is None:
            raise ClaimError(ClaimErrorCode.REQUIRED, "请选择报案客户", "customerId")
        if not actor.can(Permission.CLAIM_REPORT):
            raise ClaimError(ClaimErrorCode.CHANNEL_NOT_ALLOWED, "没有代客报案的权限", "channel")
        claimant = on_behalf_of
        # The policy must be one the customer may claim on.
        policy = await _reportable_policy(
            Actor(kind=SubjectKind.CUSTOMER, subject_id=on_behalf_of), report.policy_id
        )
    assert claimant is not None
    loss_type = _loss_type(policy, report.loss_type)
    insured = await _insured_person(policy, report.insured_person_id, report.loss_at)
    loss_at = report.loss_at.astimezone(UTC)
    if loss_at > now + timedelta(minutes=5):
        raise ClaimError(ClaimErrorCode.LOSS_IN_FUTURE, "出险时间不能晚于当前时间", "lossAt")
    in_force = policy.status in (PolicyStatus.ACTIVE, PolicyStatus.EXPIRED)
    if not (in_force and policy.starts_at <= loss_at <= policy.ends_at):
        raise ClaimError(ClaimErrorCode.NOT_IN_FORCE, "出险时保单不在有效保障期内", "lossAt")
    location = required_text(report.location, "location", 255)
    description = required_text(report.description, "description", 2000)
    contact_name = required_text(report.contact_name, "contactName", 64)
    phone = normalize_phone(report.contact_phone)
    if not PHONE_PATTERN.match(phone):
        raise ClaimError(ClaimErrorCode.INVALID_PHONE, "请输入正确的联系电话", "contactPhone")
    warnings: list[ClaimWarning] = []
    late = now - loss_at > timedelta(hours=policy.product.report_time_limit_hours)
    late_reason = (report.late_reason or "").strip() or None
    if late:
        if late_reason is None:
            limit = policy.product.report_time_limit_hours
            raise ClaimError(
                ClaimErrorCode.LATE_REPORT_REASON_REQUIRED,
                f"已超过报案时限（{limit}小时），请说明延迟报案的原因",
                "lateReason",
            )
        warnings.append(ClaimWarning.LATE_REPORT)
    duplicate = (
        await Claim.filter(
            policy_id=policy.id,
            loss_type=report.loss_type,
            **({"insured_person_id": insured.id} if insured else {}),
            loss_at__gte=loss_at - timedelta(hours=12),
            loss_at__lte=loss_at + timedelta(hours=12),
        )
        .exclude(status=S.WITHDRAWN)
        .exists()
    )
    if duplicate:
        warnings.append(ClaimWarning.POSSIBLE_DUPLICATE)
    age = _age_on(pii, insured, loss_at) if insured else Age.UNKNOWN
    person_documents = _person_documents(insured, claimant, age)
    payee = _payee(insured, age, policy, claimant, loss_type)
    shares = (
        await _beneficiary_shares(policy) if loss_type.get("payee") == PAID_TO_BENEFICIARIES else []
    )
    checklist = checklist_of(loss_type, person_documents)
    next_steps = _next_steps(actor, hotline)
    if dry_run:
        return ReportOutcome(None, warnings, checklist, "", next_steps)
    sealed = pii.seal_phone(phone)
    number = await next_number(Prefix.REPORT, now)
    async with in_transaction():
        claim = await Claim.create(
            report_number=number,
            policy_id=policy.id,
            customer_id=claimant,
            loss_type=report.loss_type,
            loss_at=loss_at,
            loss_location=location,
            description=description,
            channel=report.channel,
            contact_name=contact_name,
            contact_phone_encrypted=sealed.encrypted,
            contact_phone_masked=sealed.masked,
            status=S.REPORTED,
            late_report=late,
            late_reason=late_reason if late else None,
            possible_duplicate=duplicate,
            insured_person_id=insured.id if insured else None,
            payee_id=payee,
            pays_shares=bool(shares),
            person_documents=person_documents,
        )
        for position, share in enumerate(shares):
            await PayoutShare.create(claim_id=claim.id, position=position, **share)
        await add_to_timeline(claim, actor, "report", None, S.REPORTED, "报案已受理")
        required = "、".join(d["name"] for d in checklist if d["required"])
        if required:
            claim = await transition(
                claim,
                None,
                to=S.DOCUMENTS_PENDING,
                action="await_documents",
                note=f"请上传：{required}",
                event_type=None,  # part of the report, announced below
            )
        if actor.is_customer:
            await announce(claim, "claim.reported")
        else:  # the customer may not use the app: told by SMS what to upload, and where
            upload = (
                f"请在安心App或小程序“我的理赔”中上传：{required}；也可到柜面提交。"
                if required
                else "如需补充材料，我们会另行通知。"
            )
            await announce(claim, "claim.reported_by_staff", {"upload": upload})
    confirmation = f"您的报案已受理，报案号{number}。" + (
        "因超过报案时限，我们会结合您说明的原因处理。" if late else ""
    )
    return ReportOutcome(claim, warnings, checklist, confirmation, next_steps)


def _next_steps(actor: Actor, hotline: str) -> list[str]:
    """What happens next, told to whoever made the report."""
    help_line = "如需帮助可在“我的理赔”中联系客服"
    if hotline:
        help_line = f"如需帮助请致电客服热线{hotline}"
    if actor.is_customer:
        return [
            "请在“我的理赔”中按清单上传理赔材料",
            "材料齐全后提交理赔申请，我们将在30日内作出核定",
            help_line,
        ]
    return [
        "报案号和材料清单已通过短信发送给客户",
        "客户可在App或小程序“我的理赔”中上传材料，也可到柜面提交",
        "材料齐全后由客户提交；客户口头同意时，可由您代为提交并记录同意",
    ]


async def missing_documents(claim: Claim, checklist: list[dict[str, Any]]) -> list[str]:
    """What the customer still has to provide (see ``still_missing``)."""
    documents = await ClaimDocument.filter(claim_id=claim.id).only("id", "checklist_code")
    return still_missing(claim, checklist, (d.checklist_code for d in documents))


def still_missing(
    claim: Claim, checklist: list[dict[str, Any]], provided: Iterable[str]
) -> list[str]:
    """What the customer still has to provide: before submission, required checklist
    items none of the ``provided`` codes is for; while more information is asked, what
    the adjuster asked for, until the customer answers. Pure, so the schema's loaders
    apply it to documents read for a whole page."""
    if claim.status is S.MORE_INFO_REQUESTED:
        return list(claim.more_info_items)
    if claim.status not in (S.REPORTED, S.DOCUMENTS_PENDING):
        return []
    codes = set(provided)
    return [d["name"] for d in checklist if d["required"] and d["code"] not in codes]


async def claim_checklist(claim: Claim) -> list[dict[str, Any]]:
    policy = await Policy.get(id=claim.policy_id).select_related("product")
    return checklist_for(claim, policy.product)


def checklist_for(claim: Claim, product: Product) -> list[dict[str, Any]]:
    """The claim's documents: what ``product`` asks for its loss type, and what its
    insured person adds (see ``checklist_of``)."""
    for entry in product.loss_types:
        if entry["code"] == claim.loss_type:
            return checklist_of(entry, claim.person_documents or [])
    return []
