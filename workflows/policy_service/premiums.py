"""What a paid premium puts into effect beyond the installment itself.

``record_payment`` calls :func:`premium_installment_paid` inside its own transaction,
right after it marks an installment paid for the first time (never for a duplicate or
a retried callback), so the money and what it buys are committed together or not at
all: an application's first premium issues its policy; an endorsement's premium
difference makes the change effective; a renewal's premium starts the next term and
carries the old policy's accounts on file over to it (``carry_over``).
"""

from __future__ import annotations

from models.payments import PaymentOrder
from workflows.policy_service.issuance import issue_paid_application


async def premium_installment_paid(order: PaymentOrder) -> None:
    """Apply what ``order``'s installment pays for; runs in the payment's transaction."""
    # Imported here: the endorsements import the payment workflows that import this.
    from workflows.policy_service import endorsements
    from workflows.policy_service.carry_over import carry_accounts_over

    await endorsements.installment_paid(order)
    await issue_paid_application(order)
    await carry_accounts_over(order)
