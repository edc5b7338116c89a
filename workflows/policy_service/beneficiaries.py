"""A beneficiary change (变更受益人): the holder names the new beneficiaries with their
shares (summing to 100 %); when the holder is not the insured, the insured's consent is
recorded before it takes effect (保险法第三十九、四十一条). The new ID numbers are
sealed on the endorsement until the change takes effect; only masked values are shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from models.customers import Customer
from models.endorsements import Endorsement
from models.pii import PiiCipher, mask_id_number
from models.policies import Beneficiary, InsuredPerson, Policy
from workflows.policy_service.endorsement_rules import (
    HUNDRED,
    MAX_BENEFICIARIES,
    NAME_LIMIT,
    RELATIONS,
    EndorsementError,
    EndorsementErrorCode,
)
from workflows.policy_service.identity import check_character

PURPOSE = "endorsement"


@dataclass(frozen=True)
class NewBeneficiary:
    """One beneficiary as the holder names them."""

    name: str
    id_number: str
    relation_to_insured: str
    share_percent: Decimal


def id_number_valid(value: str) -> bool:
    """An 18-character resident ID number with its ISO 7064 MOD 11-2 check character."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    return check_character(value[:17]) == value[17].upper()


def checked(people: list[NewBeneficiary]) -> list[NewBeneficiary]:
    """The beneficiaries as they will be stored, or the first thing wrong with them."""
    if not people:
        raise EndorsementError(
            EndorsementErrorCode.REQUIRED, "请至少指定一位受益人", "beneficiaries.beneficiaries"
        )
    if len(people) > MAX_BENEFICIARIES:
        raise EndorsementError(
            EndorsementErrorCode.TOO_MANY,
            f"受益人不能超过{MAX_BENEFICIARIES}位",
            "beneficiaries.beneficiaries",
        )
    result, seen = [], set()
    for index, person in enumerate(people):
        field = f"beneficiaries.beneficiaries.{index}"
        name = person.name.strip()
        number = person.id_number.strip().upper()
        if not name:
            raise EndorsementError(
                EndorsementErrorCode.REQUIRED, "请填写受益人姓名", f"{field}.name"
            )
        if len(name) > NAME_LIMIT:
            raise EndorsementError(EndorsementErrorCode.TOO_LONG, "受益人姓名过长", f"{field}.name")
        if not id_number_valid(number):
            raise EndorsementError(
                EndorsementErrorCode.INVALID_ID_NUMBER,
                "身份证号码有误，请核对",
                f"{field}.idNumber",
            )
        if number in seen:
            raise EndorsementError(
                EndorsementErrorCode.INVALID_ID_NUMBER,
                "同一受益人不能重复填写",
                f"{field}.idNumber",
            )
        seen.add(number)
        if person.relation_to_insured not in RELATIONS:
            raise EndorsementError(
                EndorsementErrorCode.INVALID_RELATION,
                "与被保险人关系应为配偶、子女、父母或其他",
                f"{field}.relationToInsured",
            )
        try:
            share = Decimal(person.share_percent).quantize(Decimal("0.01"))
        except InvalidOperation:
            share = Decimal(-1)
        if not Decimal(0) < share <= HUNDRED or share != person.share_percent:
            raise EndorsementError(
                EndorsementErrorCode.INVALID_SHARE,
                "受益份额应大于0、不超过100，最多两位小数",
                f"{field}.sharePercent",
            )
        result.append(NewBeneficiary(name, number, person.relation_to_insured, share))
    if sum(p.share_percent for p in result) != HUNDRED:
        raise EndorsementError(
            EndorsementErrorCode.SHARES_NOT_100,
            "受益份额合计应为100%",
            "beneficiaries.beneficiaries",
        )
    return result


def shown(name: str, masked_id: str, relation: str, share: Decimal) -> dict[str, Any]:
    return {"name": name, "idNumber": masked_id, "relation": relation, "share": f"{share:.2f}"}


async def before_values(policy: Policy) -> dict[str, Any]:
    rows = await Beneficiary.filter(policy_id=policy.id).order_by("position")
    return {
        "beneficiaries": [
            shown(r.name, r.id_number_masked, r.relation_to_insured, r.share_percent) for r in rows
        ]
    }


def after_values(people: list[NewBeneficiary]) -> dict[str, Any]:
    return {
        "beneficiaries": [
            shown(p.name, mask_id_number(p.id_number), p.relation_to_insured, p.share_percent)
            for p in people
        ]
    }


def seal(pii: PiiCipher, people: list[NewBeneficiary]) -> str:
    rows = [[p.name, p.id_number, p.relation_to_insured, str(p.share_percent)] for p in people]
    return pii.encrypt(json.dumps(rows, ensure_ascii=False), PURPOSE)


async def consenting_insured(policy: Policy) -> tuple[bool, InsuredPerson | None]:
    """Whether the insured's consent is needed (an insured person who is not the holder),
    and the insured who gives it in the app (None: no account; staff check it)."""
    others = [
        person
        for person in await InsuredPerson.filter(policy_id=policy.id).order_by("position")
        if person.customer_id != policy.holder_id
    ]
    if not others:
        return False, None
    with_account = [person for person in others if person.customer_id is not None]
    return True, with_account[0] if with_account else None


async def apply(pii: PiiCipher, endorsement: Endorsement) -> None:
    """Replace the policy's beneficiaries (in the caller's transaction)."""
    assert endorsement.sealed_after is not None
    rows = json.loads(pii.decrypt(endorsement.sealed_after, PURPOSE))
    await Beneficiary.filter(policy_id=endorsement.policy_id).delete()
    for position, (name, number, relation, share) in enumerate(rows):
        sealed = pii.seal_id_number(number)
        customer = await Customer.filter(id_number_hash=sealed.lookup_hash).only("id").first()
        await Beneficiary.create(
            policy_id=endorsement.policy_id,
            customer_id=customer.id if customer else None,
            name=name,
            position=position,
            id_number_encrypted=sealed.encrypted,
            id_number_hash=sealed.lookup_hash,
            id_number_masked=sealed.masked,
            relation_to_insured=relation,
            share_percent=Decimal(share),
        )
