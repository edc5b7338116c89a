"""A renewal continues the contract: the accounts on file of the policy it renews (the
payout account, automatic renewal) are carried over to the new policy when it is
issued, in the payment's transaction, and so is the withholding agreement once the old
policy owes nothing more (an agreement collects for one policy at a time: while the old
one still has unpaid installments, it stays there and the new policy starts without
one). Automatic renewal therefore goes on year after year without the customer signing
again."""

from __future__ import annotations

from datetime import UTC, datetime

from models.payments import PaymentOrder
from models.policies import PremiumInstallment
from models.policy_accounts import CollectionAgreement, PolicyAccount
from models.policy_applications import ApplicationKind, ApplicationStatus, PolicyApplication
from workflows.policy_service.payment_account import ensure_account_row


async def carry_accounts_over(order: PaymentOrder) -> None:
    """After ``issue_paid_application`` (same transaction): if ``order`` issued a
    renewal, the old policy's accounts on file follow it."""
    application = await PolicyApplication.get_or_none(
        policy_id=order.policy_id, kind=ApplicationKind.RENEWAL, status=ApplicationStatus.ISSUED
    )
    if application is None or application.renewal_of_id is None:
        return
    old_id, new_id = application.renewal_of_id, order.policy_id
    old = await PolicyAccount.get_or_none(policy_id=old_id)
    if old is None:
        return
    agreement = await CollectionAgreement.filter(live_key=str(old_id)).select_for_update().first()
    owes = await PremiumInstallment.exists(policy_id=old_id, paid_at=None, endorsement_id=None)
    moved = agreement is not None and not owes
    if moved and agreement is not None:
        await CollectionAgreement.filter(id=agreement.id).update(
            policy_id=new_id, live_key=str(new_id)
        )
    await ensure_account_row(new_id)
    await PolicyAccount.filter(policy_id=new_id).update(
        payout_provider=old.payout_provider,
        payout_encrypted=old.payout_encrypted,
        payout_masked=old.payout_masked,
        auto_renewal=old.auto_renewal and moved,
        auto_renewal_changed_at=datetime.now(UTC),
    )
