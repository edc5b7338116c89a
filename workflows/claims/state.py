"""Every write to a claim's row. The one way its state changes is ``transition`` (a
status change, or a change of fields that keeps the status), made by a conditional
update on the status and version the caller saw (two adjusters acting at once: one
wins, the other gets ``CONFLICT``), with its timeline entry and outbox event in the
same transaction. Who may act on a
claim is decided here too (``load_claim``), per action.

Nothing outside ``workflows/claims/`` writes a ``Claim`` (tests/test_architecture.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.claims import Claim, ClaimEvent, ClaimStatus, PayoutShare
from models.ids import global_id
from models.policies import Policy
from push.outbox import emit
from workflows.access import Actor, visible_claims
from workflows.claims.rules import (
    CUSTOMER_MAY,
    STAFF_MAY,
    STAFF_QUEUE,
    STATUS_NAMES,
    TRANSITIONS,
    ClaimAction,
    ClaimError,
    ClaimErrorCode,
    ClaimRole,
    roles_of,
)


def event_payload(claim: Claim, **extra: Any) -> dict[str, Any]:
    """Display values for notifications: numbers and amounts, never personal data."""
    return {
        "claim_id": global_id("Claim", claim.id),
        "claim_number": claim.report_number,
        "report_number": claim.report_number,
        "status": str(claim.status),
        "_staff_channels": [STAFF_QUEUE],
        **extra,
    }


async def add_to_timeline(
    claim: Claim,
    actor: Actor | None,
    action: str,
    from_status: ClaimStatus | None,
    to_status: ClaimStatus,
    note: str,
) -> None:
    await ClaimEvent.create(
        claim_id=claim.id,
        actor_kind=str(actor.kind) if actor and actor.kind else "system",
        actor_id=actor.subject_id if actor else None,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


async def announce(
    claim: Claim,
    event_type: str,
    event_extra: dict[str, Any] | None = None,
    to: uuid.UUID | None = None,
) -> None:
    """Tell the claimant (or ``to``) and the staff queue."""
    await emit(
        event_type,
        entity_type="claim",
        entity_id=claim.id,
        customer_id=to or claim.customer_id,
        payload=event_payload(claim, **(event_extra or {})),
    )


async def claim_roles(actor: Actor, claim: Claim) -> frozenset[ClaimRole]:
    """What the calling customer is to ``claim`` (nothing for staff)."""
    if not actor.is_customer or actor.subject_id is None:
        return frozenset()
    policy = await Policy.get_or_none(id=claim.policy_id).only("id", "holder_id")
    shares = await PayoutShare.filter(claim_id=claim.id) if claim.pays_shares else []
    payees = [share.customer_id for share in shares]
    return roles_of(actor, claim, policy.holder_id if policy else None, payees)


async def may(actor: Actor, claim: Claim, action: ClaimAction) -> bool:
    """The rule tables, for one caller, claim and action."""
    if actor.is_customer:
        return bool(CUSTOMER_MAY.get(action, frozenset()) & await claim_roles(actor, claim))
    permission = STAFF_MAY.get(action)
    return actor.is_staff and permission is not None and actor.can(permission)


async def load_claim(actor: Actor, claim_id: uuid.UUID, action: ClaimAction) -> Claim:
    """The claim, if ``actor`` may see it (else NOT_FOUND, as if it did not exist) and
    may take ``action`` on it (else NOT_ALLOWED)."""
    claim = await visible_claims(actor).filter(id=claim_id).first()
    if claim is None:
        raise ClaimError(ClaimErrorCode.CLAIM_NOT_FOUND, "未找到该理赔案件", "claimId")
    if not await may(actor, claim, action):
        raise ClaimError(ClaimErrorCode.NOT_ALLOWED, _refusal(actor, action), "claimId")
    return claim


def _refusal(actor: Actor, action: ClaimAction) -> str:
    if actor.is_staff:
        return "没有进行此操作的权限"
    if action is ClaimAction.CHOOSE_PAYOUT_ACCOUNT:
        return "只有收款人本人可以设置收款账户"
    return "只有理赔申请人本人可以进行此操作"


def conflict() -> ClaimError:
    return ClaimError(
        ClaimErrorCode.CONFLICT, "该案件已被他人更新，请刷新后重试", "expectedVersion"
    )


async def lock_claim(claim_id: uuid.UUID, expected_version: int | None = None) -> Claim:
    """The claim's row, locked until the caller's transaction ends (decisions, payouts
    and payments recorded by hand all take it first); with ``expected_version``, only
    if it is still at the version the caller saw (else CONFLICT, before any write)."""
    claim = await Claim.filter(id=claim_id).select_for_update().get()
    if expected_version is not None and claim.version != expected_version:
        raise conflict()
    return claim


async def transition(
    claim: Claim,
    actor: Actor | None,
    *,
    to: ClaimStatus | None = None,
    action: str,
    note: str,
    expected_version: int | None = None,
    event_type: str | None = "claim.updated",
    event_extra: dict[str, Any] | None = None,
    tell: uuid.UUID | None = None,
    **updates: Any,
) -> Claim:
    """One change of a claim: legal (``to`` follows the status; None keeps it), not
    stale, the version bumped, on the timeline and in the outbox as ``event_type``
    (None: part of a change already announced, or for staff only), told to the claimant
    or to ``tell``."""
    # A stale version first: someone else acted since this caller looked (a conflict),
    # even if that action also made this one illegal.
    if expected_version is not None and expected_version != claim.version:
        raise conflict()
    from_status = claim.status
    to_status = from_status if to is None else to
    if to is not None and to not in TRANSITIONS[from_status]:
        raise ClaimError(
            ClaimErrorCode.ILLEGAL_TRANSITION,
            f"当前状态（{STATUS_NAMES[from_status]}）不能进行此操作",
        )
    async with in_transaction():
        changed = await Claim.filter(id=claim.id, status=from_status, version=claim.version).update(
            status=to_status, version=F("version") + 1, **updates
        )
        if not changed:
            raise conflict()
        await claim.refresh_from_db()
        await add_to_timeline(claim, actor, action, from_status, to_status, note)
        if event_type is not None:
            await announce(claim, event_type, event_extra, to=tell)
    return claim


async def record_change(
    claim: Claim,
    actor: Actor | None,
    action: str,
    note: str,
    *,
    event_type: str | None = None,
    event_extra: dict[str, Any] | None = None,
    tell: uuid.UUID | None = None,
) -> None:
    """Something done about a claim that leaves its row as it is (a payout proposed,
    sent or cancelled) on the timeline, and announced when ``event_type`` is given: in
    the caller's transaction, or in one of its own."""
    async with in_transaction():
        await add_to_timeline(claim, actor, action, claim.status, claim.status, note)
        if event_type is not None:
            await announce(claim, event_type, event_extra, to=tell)


async def flag_for_review(claim_id: uuid.UUID, signals: list[str]) -> None:
    """Add fraud signals for staff. Staff only: never on the customer's timeline, and
    the version stays (the customer's own next action must not fail because of it)."""
    async with in_transaction():
        claim = await lock_claim(claim_id)
        merged = list(dict.fromkeys([*claim.fraud_signals, *signals]))
        await Claim.filter(id=claim_id).update(fraud_flag=True, fraud_signals=merged)
