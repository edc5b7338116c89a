"""What a paid premium puts into effect beyond the installment itself.

``record_payment`` calls :func:`premium_installment_paid` inside its own transaction,
right after it marks an installment paid for the first time (never for a duplicate or
a retried callback), so the money and what it buys are committed together or not at
all: an application's first premium issues its policy; an endorsement's premium
difference makes the change effective; a renewal's first premium starts the next term and
carries the old policy's accounts on file over to it (``carry_over``), once.
"""

from __future__ import annotations

from models.payments import PaymentOrder
from models.policies import Policy, PremiumInstallment
from workflows.access import UNISSUED
from workflows.policy_service.issuance import issue_paid_application


async def premium_installment_paid(order: PaymentOrder) -> str:
    """Apply what ``order``'s installment pays for; runs in the payment's transaction.
    Returns the policy's number (the one given now if this payment issued it).

    One read says which steps can apply, and the others are skipped without a query:
    only an endorsement's installment (fixed when the installment is made) changes a
    policy, and only a policy not issued yet (``UNISSUED``: an application's, made at
    its acceptance; once issued, never again) can have an application to issue."""
    # Imported here: the endorsements import the payment workflows that import this.
    from workflows.policy_service import endorsements
    from workflows.policy_service.carry_over import carry_accounts_over

    endorsement_id, policy_status, number = await PremiumInstallment.get(
        id=order.installment_id
    ).values_list("endorsement_id", "policy__status", "policy__number")
    if endorsement_id is not None:
        await endorsements.installment_paid(order)
    if policy_status in UNISSUED:
        await issue_paid_application(order)
        number = (await Policy.get(id=order.policy_id)).number  # issued: its real number
        # Only the payment that issues a renewal carries the accounts over: a later
        # premium of the new term must not bring back the old policy's payout account
        # or turn automatic renewal off (the agreement has moved on by then).
        await carry_accounts_over(order)
    return str(number)
