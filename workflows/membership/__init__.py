"""Membership (会员制度): tiers from rules and the points ledger. ``tier_of`` is what
other domains ask (benefits by tier, the claim queue's order), ``has_privilege`` whether a
tier lists a privilege (``FAST_TRACK_CLAIMS``, ``DEDICATED_AGENT``); ``points.award_points``
is how they give points (premiums, surveys, goodwill for a broken promise).

Modules: ``rules`` (the rules as data, the pure tier function), ``store`` (stored rules,
staff edits), ``facts`` (what the tiers read), ``standing`` (applying a tier: upgrade,
downgrade grace, dedicated agent, announcements), ``events`` (outbox consumer and jobs),
``ledger`` (expiry, redemption), ``health`` (health-management tasks)."""

from workflows.membership.points import award_points, points_balance
from workflows.membership.rules import DEDICATED_AGENT, FAST_TRACK_CLAIMS
from workflows.membership.tiers import has_privilege, tier_of

__all__ = [
    "DEDICATED_AGENT",
    "FAST_TRACK_CLAIMS",
    "award_points",
    "has_privilege",
    "points_balance",
    "tier_of",
]
