"""The demo's tiers are computed by the real rules from the base demo's policies: 张伟 is
gold with a points history, a redemption and a dedicated agent; 刘洋 keeps gold through
a downgrade grace; the notifications of the changes are in the outbox."""

from __future__ import annotations

from api.demo import seed
from api.demo_membership import seed_membership
from api.services import Services
from api.settings import Settings
from models.membership import MemberTier, PointsEntry, PointsKind, Redemption
from models.notifications import OutboxEvent
from models.staff import StaffUser
from workflows.membership import points_balance


async def test_zhang_wei_is_gold_with_points_and_liu_yang_is_in_grace(
    settings: Settings, services: Services
) -> None:
    await seed(settings, services.pii)
    rows = await seed_membership(services)
    zhang = rows["张伟"]
    assert zhang.tier is MemberTier.GOLD and zhang.pending_tier is None
    assert zhang.dedicated_agent_id is not None
    agent = await StaffUser.get(id=zhang.dedicated_agent_id)
    assert agent.username == "agent.li"
    kinds = {e.kind for e in await PointsEntry.filter(customer_id=zhang.customer_id)}
    assert kinds == {PointsKind.EARNED, PointsKind.REDEEMED}
    assert await Redemption.filter(customer_id=zhang.customer_id).count() == 1
    assert await points_balance(zhang.customer_id) > 0
    liu = rows["刘洋"]
    assert (liu.tier, liu.pending_tier) == (MemberTier.GOLD, MemberTier.SILVER)
    assert liu.grace_until is not None
    assert rows["李娜"].tier is MemberTier.STANDARD
    assert rows["王芳"].tier is MemberTier.SILVER
    announced = await OutboxEvent.filter(event_type__startswith="membership.").values_list(
        "event_type", flat=True
    )
    assert "membership.upgraded" in announced and "membership.downgrade_pending" in announced
