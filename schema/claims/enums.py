"""The claim enums of the domain, exposed as they are. Registered here, before any claim
type or input names them, so each has one GraphQL definition."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from models.claims import ClaimStatus, RejectionReason, ReportChannel
from models.payments import PayoutStatus
from workflows.claims import ClaimRole, ClaimWarning, PayTo

__all__ = [
    "ClaimRole",
    "ClaimStatus",
    "ClaimWarning",
    "PayTo",
    "PayoutStatus",
    "RejectionReason",
    "ReportChannel",
    "TransferProvider",
]

strawberry.enum(ClaimStatus, description="Where a claim is in its life.")
strawberry.enum(ReportChannel, description="How a loss was reported.")
strawberry.enum(RejectionReason, description="Why a claim was rejected.")
strawberry.enum(ClaimWarning, description="Accepted, but flagged.")
strawberry.enum(PayoutStatus, description="Where a claim payout stands.")
strawberry.enum(
    ClaimRole,
    description="What the caller is to a claim: CLAIMANT (reported it: submits, uploads), "
    "PAYEE (the money is theirs: chooses the account), HOLDER (holds the policy: sees it).",
)
strawberry.enum(
    PayTo,
    name="ClaimPayTo",
    description="Whom staff make a claim's payee: INSURED (the claim's insured person, "
    "through their linked customer account) or POLICYHOLDER (the policy's holder).",
)


@strawberry.enum(
    description="Where claim money is transferred: ALIPAY, WECHAT (the mini-program login's "
    "WeChat balance), BANK (a bank card) or SANDBOX (development only)."
)
class TransferProvider(StrEnum):
    """The payout providers by their internal names (``payments``, ``models.payout_accounts``):
    GraphQL shows the upper-case member names, the workflows get the lower-case values."""

    ALIPAY = "alipay"
    WECHAT = "wechat"
    BANK = "bank"
    SANDBOX = "sandbox"
