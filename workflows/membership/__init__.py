"""Membership (会员制度): tiers from rules and the points ledger. ``tier_of`` is what
other domains ask (benefits by tier, the claim queue's order); ``points.award_points`` is
how they give points (premiums, surveys, goodwill for a broken promise)."""

from workflows.membership.points import award_points, points_balance
from workflows.membership.tiers import tier_of

__all__ = ["award_points", "points_balance", "tier_of"]
