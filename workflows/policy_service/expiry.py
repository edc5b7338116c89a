"""Changes the customer never finished expire (保全申请失效), so none stays open for
ever holding the policy's one open change of its type (``open_key``):

- a PAYMENT_ACCOUNT change whose withholding agreement was asked for but not signed
  within ``SIGN_WINDOW`` (24 h): the change EXPIRED, the agreement ABANDONED (its sign
  page is no longer offered; a signing that still arrives is ended and unsigned at once,
  as for a withdrawn change — ``agreements._signed``);
- an APPROVED change whose premium (a sum-insured increase, a member added, a
  reinstatement) is still unpaid ``PAYMENT_WINDOW_DAYS`` (15) days after it was asked
  for: the change EXPIRED, its installment cancelled (shown CANCELLED, not reminded,
  not payable), its open orders closed (here and at the provider).

Each takes the locks in the order the racing writer takes them — the change's row
before the agreement's, as the agreement notification does; the installment's before
the change's, as the payment does (order, installment, then ``installment_paid``'s
change lock) — so a late signing or payment racing the expiry has one outcome and no
deadlock: whoever locks first wins; a payment that finds the
change expired is refunded through the refund path, never kept without its change.
The customer is told (``endorsement.expired``, with the reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from models.clock import local_date
from models.endorsements import EndorsementStatus
from models.policies import PremiumInstallment
from models.policy_accounts import AgreementStatus, CollectionAgreement
from payments.base import PaymentProvider
from workflows.jobs import MINUTE, Job, JobDeps
from workflows.payments.closing import close_open_orders
from workflows.policy_service.endorsement_state import lock, transition

S = EndorsementStatus
SIGN_WINDOW = timedelta(hours=24)
PAYMENT_WINDOW_DAYS = 15
BATCH = 200
UNSIGNED = "超过24小时未完成支付宝代扣签约"
UNPAID = f"超过{PAYMENT_WINDOW_DAYS}天未缴纳保费"


async def _expire(endorsement_id: uuid.UUID, expected: EndorsementStatus, reason: str) -> bool:
    """Under the change's row lock: EXPIRED if still ``expected`` (and, when approved,
    its premium still unpaid); False if it moved on."""
    endorsement = await lock(endorsement_id)
    if endorsement.status is not expected:
        return False
    if expected is S.APPROVED and not await PremiumInstallment.exists(
        endorsement_id=endorsement_id, paid_at=None
    ):
        return False  # paid: a sum insured waits for its effective date, still APPROVED
    await transition(
        endorsement,
        None,
        to=S.EXPIRED,
        action="expire",
        note=f"{reason}，申请已失效",
        reason=reason,
    )
    return True


async def expire_unsigned_agreements(now: datetime | None = None) -> int:
    """PAYMENT_ACCOUNT changes still waiting for a signing asked for over 24 h ago."""
    now = now or datetime.now(UTC)
    waiting = (
        await CollectionAgreement.filter(
            status=AgreementStatus.PENDING,
            created_at__lte=now - SIGN_WINDOW,
            endorsement_id__not_isnull=True,
        )
        .order_by("created_at")
        .limit(BATCH)
    )
    expired = 0
    for agreement in waiting:
        assert agreement.endorsement_id is not None
        async with in_transaction():
            if not await _expire(agreement.endorsement_id, S.REQUESTED, UNSIGNED):
                continue  # signed or withdrawn meanwhile
            await CollectionAgreement.filter(
                endorsement_id=agreement.endorsement_id, status=AgreementStatus.PENDING
            ).update(status=AgreementStatus.ABANDONED)
        expired += 1
    return expired


async def expire_unpaid_changes(
    providers: Mapping[str, PaymentProvider], now: datetime | None = None
) -> int:
    """Approved changes whose premium is unpaid 15 days after it fell due."""
    now = now or datetime.now(UTC)
    last_due = local_date(now) - timedelta(days=PAYMENT_WINDOW_DAYS)
    due = (
        await PremiumInstallment.filter(
            paid_at=None,
            endorsement_id__not_isnull=True,
            endorsement__status=S.APPROVED,
            due_date__lt=last_due,
        )
        .limit(BATCH)
        .values_list("endorsement_id", flat=True)
    )
    expired = 0
    for value in dict.fromkeys(due):
        endorsement_id = uuid.UUID(str(value))
        async with in_transaction():
            # The installment's lock before the change's: the order a payment takes them
            # (order, installment, change), so the two never wait for each other.
            unpaid = [
                row.id
                for row in await PremiumInstallment.filter(
                    endorsement_id=endorsement_id, paid_at=None
                ).select_for_update()
            ]
            if not unpaid or not await _expire(endorsement_id, S.APPROVED, UNPAID):
                continue  # paid meanwhile: effective (or waiting for its date)
            await PremiumInstallment.filter(id__in=unpaid).update(cancelled_at=now)
        expired += 1
        # After the expiry committed; a payment recorded meanwhile is refunded
        # (``installment_paid``).
        await close_open_orders(providers, now, installment__endorsement_id=endorsement_id)
    return expired


async def _run(deps: JobDeps) -> dict[str, int]:
    return {
        "unsigned": await expire_unsigned_agreements(),
        "unpaid": await expire_unpaid_changes(deps.payment_providers),
    }


JOBS = (Job("policy-change-expiry", 5 * MINUTE, _run),)
