"""Adding an insured family member (增加被保险人) to a family health policy: the premium
difference for the rest of the period (the product's yearly premium per member, pro
rata by day) is quoted, asked as one installment of the policy and paid through the
existing premium payment; the payment makes the member insured
(``premium_installment_paid``). Removing one: ``member_removal``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.clock import local_date, local_today
from models.customers import Customer
from models.endorsements import Endorsement, ProductServiceTerms
from models.pii import PiiCipher, mask_id_number
from models.policies import InsuredPerson, Policy, PolicyStatus, PremiumInstallment, ProductKind
from workflows.policy_service.beneficiaries import id_number_valid
from workflows.policy_service.endorsement_rules import (
    NAME_LIMIT,
    EndorsementError,
    EndorsementErrorCode,
)

CENT = Decimal("0.01")
RELATIONS = frozenset({"SPOUSE", "CHILD", "PARENT"})
MAX_MEMBERS = 8


@dataclass(frozen=True)
class NewMember:
    name: str
    id_number: str
    relation_to_holder: str


async def quote(policy: Policy, member: NewMember) -> tuple[NewMember, Decimal]:
    """The member as stored and the premium difference, or why not."""
    product = await policy.product
    terms = await ProductServiceTerms.get_or_none(product_id=product.id)
    if product.kind is not ProductKind.HEALTH or terms is None or terms.member_premium is None:
        raise EndorsementError(
            EndorsementErrorCode.NOT_FAMILY_POLICY,
            "该保单不是家庭健康险，不能增加被保险人",
            "policyId",
        )
    if policy.status is not PolicyStatus.ACTIVE:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "只有有效保单可以增加被保险人", "policyId"
        )
    name, number = member.name.strip(), member.id_number.strip().upper()
    field = "insuredMember"
    if not name or len(name) > NAME_LIMIT:
        raise EndorsementError(EndorsementErrorCode.REQUIRED, "请填写被保险人姓名", f"{field}.name")
    if not id_number_valid(number):
        raise EndorsementError(
            EndorsementErrorCode.INVALID_ID_NUMBER, "身份证号码有误，请核对", f"{field}.idNumber"
        )
    if member.relation_to_holder not in RELATIONS:
        raise EndorsementError(
            EndorsementErrorCode.INVALID_RELATION,
            "家庭成员应为配偶、子女或父母",
            f"{field}.relationToHolder",
        )
    present = await InsuredPerson.filter(policy_id=policy.id, covered_until=None).values_list(
        "id_number_masked", "name"
    )
    if (mask_id_number(number), name) in {(m, n) for m, n in present}:
        raise EndorsementError(
            EndorsementErrorCode.NOTHING_TO_CHANGE,
            "该成员已是本保单的被保险人",
            f"{field}.idNumber",
        )
    if len(present) >= MAX_MEMBERS:
        raise EndorsementError(
            EndorsementErrorCode.TOO_MANY, f"被保险人不能超过{MAX_MEMBERS}位", field
        )
    start, end, today = local_date(policy.starts_at), local_date(policy.ends_at), local_today()
    left = max((end - today).days, 0)
    total = max((end - start).days, 1)
    amount = (terms.member_premium * left / total).quantize(CENT, rounding=ROUND_HALF_UP)
    if amount <= 0:
        raise EndorsementError(
            EndorsementErrorCode.POLICY_NOT_IN_FORCE, "保险期间即将届满，请在续保时增加", "policyId"
        )
    return NewMember(name, number, member.relation_to_holder), amount


def values(member: NewMember, amount: Decimal) -> dict[str, Any]:
    return {
        "name": member.name,
        "idNumber": mask_id_number(member.id_number),
        "relation": member.relation_to_holder,
        "premium": f"{amount:.2f}",
    }


def seal(pii: PiiCipher, member: NewMember) -> str:
    """The member's row as it will be stored, its ID number sealed now: the payment that
    makes it effective runs in a provider's callback, which holds no cipher."""
    sealed = pii.seal_id_number(member.id_number)
    row = {
        "name": member.name,
        "relation": member.relation_to_holder,
        "encrypted": sealed.encrypted,
        "hash": sealed.lookup_hash,
        "masked": sealed.masked,
    }
    return json.dumps(row, ensure_ascii=False)


async def add_installment(endorsement: Endorsement) -> PremiumInstallment:
    last = (
        await PremiumInstallment.filter(policy_id=endorsement.policy_id)
        .order_by("-sequence")
        .first()
    )
    assert endorsement.amount is not None
    return await PremiumInstallment.create(
        policy_id=endorsement.policy_id,
        sequence=(last.sequence if last else 0) + 1,
        due_date=local_today(),
        amount=endorsement.amount,
        endorsement_id=endorsement.id,
    )


async def apply(endorsement: Endorsement) -> bool:
    """The member insured from today (in the payment's transaction); False if the policy
    is no longer active (the money is kept and staff decide)."""
    policy = await Policy.filter(id=endorsement.policy_id).select_for_update().get()
    if policy.status is not PolicyStatus.ACTIVE:
        return False
    assert endorsement.sealed_after is not None
    row = json.loads(endorsement.sealed_after)
    customer = await Customer.filter(id_number_hash=row["hash"]).only("id").first()
    last = await InsuredPerson.filter(policy_id=policy.id).order_by("-position").first()
    await InsuredPerson.create(
        policy_id=policy.id,
        customer_id=customer.id if customer else None,
        name=row["name"],
        position=(last.position if last else -1) + 1,
        id_number_encrypted=row["encrypted"],
        id_number_hash=row["hash"],
        id_number_masked=row["masked"],
        relation_to_holder=row["relation"],
    )
    return True
