"""Money workflows: premium orders and their callbacks, refunds, claim payouts and the
daily reconciliation. The provider adapters they drive live in ``payments/``."""
