"""Removing an insured family member (减少被保险人) from a family health policy.

Rules (stated in the README):
- Only a family health policy (a HEALTH product with a per-member premium in its
  service terms), ACTIVE; never its main insured (the first named, usually the holder's
  own cover), so the policy keeps at least one insured.
- Refused while the member has a claim not yet settled: reported, in review, approved,
  paying, or rejected (a rejection can still be appealed back to review) — only PAID,
  WITHDRAWN and CLOSED claims are settled. A claim for a loss up to the last covered day
  may still be reported after the removal.
- Effective from the next day: the member stays covered through today
  (``InsuredPerson.covered_until``); claims for later losses cannot name them.
- The member's unearned premium — the product's yearly per-member premium, pro rata by
  day from the effective date to the end of the term — is refunded through the refund
  path against the policy's paid orders (queued in the same transaction), and the
  policy's premium lowered by it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from models.claims import Claim, ClaimStatus
from models.clock import local_date
from models.endorsements import Endorsement, ProductServiceTerms
from models.policies import InsuredPerson, Policy, PolicyStatus, ProductKind
from workflows.policy_service import endorsement_refunds
from workflows.policy_service.endorsement_rules import EndorsementError, EndorsementErrorCode

CENT = Decimal("0.01")
E = EndorsementErrorCode
SETTLED = (ClaimStatus.PAID, ClaimStatus.WITHDRAWN, ClaimStatus.CLOSED)
FIELD = "memberRemoval.insuredPersonId"


@dataclass(frozen=True)
class Removal:
    person: InsuredPerson
    refund: Decimal
    effective_date: date
    days_left: int
    term_days: int


async def _open_claim(policy: Policy, person: InsuredPerson) -> bool:
    return (
        await Claim.filter(policy_id=policy.id, insured_person_id=person.id)
        .exclude(status__in=SETTLED)
        .exists()
    )


async def quote(policy: Policy, person_id: uuid.UUID, effective: date) -> Removal:
    """Who is removed and what is refunded, or why not (checks under the caller's lock
    of the policy when it holds one)."""
    product = await policy.product
    terms = await ProductServiceTerms.get_or_none(product_id=product.id)
    if product.kind is not ProductKind.HEALTH or terms is None or terms.member_premium is None:
        raise EndorsementError(
            E.NOT_FAMILY_POLICY, "该保单不是家庭健康险，不能减少被保险人", "policyId"
        )
    if policy.status is not PolicyStatus.ACTIVE:
        raise EndorsementError(E.POLICY_NOT_IN_FORCE, "只有有效保单可以减少被保险人", "policyId")
    people = await InsuredPerson.filter(policy_id=policy.id).order_by("position", "created_at")
    person = next((p for p in people if p.id == person_id), None)
    if person is None:
        raise EndorsementError(E.INSURED_PERSON_NOT_FOUND, "该被保险人不在此保单上", FIELD)
    if person.covered_until is not None:
        raise EndorsementError(E.NOTHING_TO_CHANGE, "该被保险人已减少", FIELD)
    if person.id == people[0].id:
        raise EndorsementError(E.MAIN_INSURED, "主被保险人不能减少，如需终止请办理退保", FIELD)
    if await _open_claim(policy, person):
        raise EndorsementError(
            E.OPEN_CLAIM, f"{person.name}有尚未结案的理赔，结案后再办理减少被保险人", FIELD
        )
    start, end = local_date(policy.starts_at), local_date(policy.ends_at)
    days_left, term_days = max((end - effective).days, 0), max((end - start).days, 1)
    refund = (terms.member_premium * days_left / term_days).quantize(CENT, ROUND_HALF_UP)
    await endorsement_refunds.check_refundable(policy.id, refund)
    return Removal(person, refund, effective, days_left, term_days)


def before_values(covered: int) -> dict[str, Any]:
    """How many are insured before (the certificate shows the count, before and after)."""
    return {"insured": covered}


def after_values(removal: Removal, covered: int) -> dict[str, Any]:
    person = removal.person
    return {
        "insured": covered - 1,
        "personId": str(person.id),
        "name": person.name,
        "idNumber": person.id_number_masked,
        "relation": person.relation_to_holder,
        "refund": f"{removal.refund:.2f}",
        "effectiveDate": removal.effective_date.isoformat(),
        "daysLeft": removal.days_left,
        "termDays": removal.term_days,
    }


async def apply(endorsement: Endorsement, removal: Removal) -> list[str]:
    """Cover ends tonight and the unearned premium is queued back (the caller's
    transaction, under the policy's lock); the refunds' numbers."""
    last_day = date.fromordinal(removal.effective_date.toordinal() - 1)
    await InsuredPerson.filter(id=removal.person.id).update(covered_until=last_day)
    policy = await Policy.get(id=endorsement.policy_id)
    await Policy.filter(id=policy.id).update(
        premium=max(policy.premium - removal.refund, Decimal(0))
    )
    if removal.refund <= 0:
        return []
    queued = await endorsement_refunds.queue_refunds(
        policy.id, removal.refund, f"减少被保险人{removal.person.name}退还保费", None
    )
    return [r.refund_number for r in queued]
