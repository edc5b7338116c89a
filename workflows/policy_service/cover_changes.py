"""The requests of the two changes of cover (保额变更, 减少被保险人) as endorsements: the
rules live in ``sum_insured`` and ``member_removal``; this module makes each change an
endorsement with its before/after values, its first steps and its timeline, through the
same creation (passed in by ``endorsements``, which owns it: one open change of a type
per policy) and ``transition`` as every other change."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tortoise.transactions import in_transaction

from models.clock import local_today
from models.endorsements import Endorsement, EndorsementStatus, EndorsementType
from models.policies import InsuredPerson, Policy
from workflows.access import Actor
from workflows.policy_service import member_removal, sum_insured
from workflows.policy_service.endorsement_state import transition

S = EndorsementStatus
T = EndorsementType
# endorsements._create: the endorsement REQUESTED, on its timeline, announced.
Create = Callable[..., Awaitable[Endorsement]]


async def request_sum_insured(
    create: Create, actor: Actor, policy: Policy, new_sum: Decimal
) -> Endorsement:
    """An increase waits for underwriting; a decrease is approved at once and takes
    effect on its effective date (the ``sum-insured-changes`` job)."""
    effective = local_today() + timedelta(days=1)
    quoted = await sum_insured.quote(policy, new_sum, effective)
    async with in_transaction():
        await Policy.filter(id=policy.id).select_for_update().get()
        endorsement = await create(
            policy,
            actor,
            T.SUM_INSURED,
            before=sum_insured.before_values(quoted),
            after=sum_insured.after_values(quoted),
            sealed=None,
            amount=abs(quoted.difference),
            note="投保人申请" + sum_insured.describe(quoted),
        )
        if quoted.increase:
            return await transition(
                endorsement,
                None,
                to=S.NEEDS_REVIEW,
                action="refer",
                note="提高保额需核保，已转人工审核",
            )
        return await transition(
            endorsement,
            actor,
            to=S.APPROVED,
            action="approve",
            note=f"降低保额无需审核，自{effective}起生效，届时退还保费{-quoted.difference}元",
            effective_date=effective,
        )


async def request_member_removal(
    create: Create, actor: Actor, policy: Policy, person_id: uuid.UUID
) -> Endorsement:
    """Approved and in effect at once: cover ends tonight, the refund is queued."""
    effective = local_today() + timedelta(days=1)
    await member_removal.quote(policy, person_id, effective)  # refused before any lock
    async with in_transaction():
        locked = await Policy.filter(id=policy.id).select_for_update().get()
        removal = await member_removal.quote(locked, person_id, effective)
        covered = await InsuredPerson.filter(policy_id=policy.id, covered_until=None).count()
        endorsement = await create(
            policy,
            actor,
            T.MEMBER_REMOVAL,
            before=member_removal.before_values(covered),
            after=member_removal.after_values(removal, covered),
            sealed=None,
            amount=removal.refund,
            note=f"投保人申请减少被保险人{removal.person.name}，应退保费{removal.refund}元",
        )
        endorsement = await transition(
            endorsement, actor, to=S.APPROVED, action="approve", note="减少被保险人无需审核"
        )
        numbers = await member_removal.apply(endorsement, removal)
        note = (
            f"{removal.person.name}承保至{effective - timedelta(days=1)}，自{effective}起不再承保"
        )
        if numbers:
            note += f"；退还保费{removal.refund}元（{'、'.join(numbers)}）"
        return await transition(
            endorsement,
            None,
            to=S.EFFECTIVE,
            action="effect",
            note=note,
            effective_date=effective,
            effective_at=datetime.now(UTC),
            after=endorsement.after | {"refunds": numbers},
        )
