"""Spending and losing points: expiry (FIFO against earned lots) and redemption for
rewards, both under the customer's Membership row lock so the balance never goes
negative and a lot never expires twice.

Expiry: earned lots are ordered by expiry date; every debit (redeemed or expired) is
taken from the earliest lots first. What remains of a lot past its date is written off
by one EXPIRED entry whose source is ``expire:<lot id>``: unique, so running the job
again, or two workers at once, write it once.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.transactions import in_transaction

from models.clock import local_date
from models.membership import (
    Membership,
    MemberTier,
    PointsEntry,
    PointsKind,
    Redemption,
    Reward,
)
from workflows.membership.points import points_balance
from workflows.membership.rules import TIER_NAMES, E, MembershipError, rank
from workflows.membership.standing import membership_of

KEY_MIN, KEY_MAX = 8, 128
EXPIRY_LOOKBACK = timedelta(days=31)  # the daily job catches up a month of downtime
VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class DefaultReward:
    code: str
    name: str
    description: str
    points_cost: int
    per_year: int
    min_tier: MemberTier = MemberTier.STANDARD


DEFAULT_REWARDS = (
    DefaultReward("CAR_WASH", "洗车券", "合作洗车门店标准洗车一次", 300, 6),
    DefaultReward("CHECK_UP", "体检券", "合作体检机构基础体检套餐一次", 3000, 1, MemberTier.SILVER),
    DefaultReward("DENTAL", "洁牙券", "合作口腔机构洁牙一次", 1200, 2, MemberTier.SILVER),
    DefaultReward("CONSULT", "在线问诊券", "三甲医院医生在线问诊一次", 200, 12),
)


async def ensure_rewards() -> None:
    """The default catalogue, written once (by code); staff may switch rewards off."""
    if await Reward.exists():
        return
    await Reward.bulk_create(
        [
            Reward(
                id=uuid.uuid4(),
                code=r.code,
                name=r.name,
                description=r.description,
                points_cost=r.points_cost,
                per_year=r.per_year,
                min_tier=r.min_tier,
                position=i,
            )
            for i, r in enumerate(DEFAULT_REWARDS)
        ],
        ignore_conflicts=True,
    )


async def _lock(customer_id: uuid.UUID) -> Membership:
    await membership_of(customer_id)
    return await Membership.filter(customer_id=customer_id).select_for_update().get()


async def _expire_locked(customer_id: uuid.UUID, today: date) -> int:
    """Write off what remains of lots past their date (the caller holds the lock)."""
    entries = await PointsEntry.filter(customer_id=customer_id).values(
        "id", "points", "expires_on", "created_at"
    )
    lots = sorted(
        (e for e in entries if e["points"] > 0),
        key=lambda e: (e["expires_on"] or date.max, e["created_at"], str(e["id"])),
    )
    debits = -sum(e["points"] for e in entries if e["points"] < 0)
    write_offs = []
    for lot in lots:
        taken = min(lot["points"], debits)
        debits -= taken
        left = lot["points"] - taken
        if left > 0 and lot["expires_on"] is not None and lot["expires_on"] < today:
            write_offs.append(
                PointsEntry(
                    id=uuid.uuid4(),
                    customer_id=customer_id,
                    points=-left,
                    kind=PointsKind.EXPIRED,
                    source=f"expire:{lot['id']}",
                    reason=f"积分过期（{lot['expires_on']:%Y年%m月%d日}到期）",
                )
            )
    if write_offs:
        await PointsEntry.bulk_create(write_offs, ignore_conflicts=True)
    return -sum(w.points for w in write_offs)


async def expire_points(customer_id: uuid.UUID, now: datetime | None = None) -> int:
    """Expire one customer's lots that are past their date; returns the points written off."""
    today = local_date(now or datetime.now(UTC))
    async with in_transaction():
        await _lock(customer_id)
        return await _expire_locked(customer_id, today)


async def expire_due(now: datetime | None = None) -> int:
    """Every customer with a lot that reached its date in the last month (the job)."""
    now = now or datetime.now(UTC)
    today = local_date(now)
    customers = await (
        PointsEntry.filter(points__gt=0, expires_on__lt=today)
        .filter(expires_on__gte=today - EXPIRY_LOOKBACK)
        .order_by("customer_id")
        .distinct()
        .values_list("customer_id", flat=True)
    )
    total = 0
    for customer_id in customers:
        total += await expire_points(customer_id, now)  # type: ignore[arg-type]
    return total


def _voucher() -> str:
    return "JF" + "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(12))


async def redeem(
    customer_id: uuid.UUID, reward_id: uuid.UUID, idempotency_key: str, now: datetime | None = None
) -> tuple[Redemption, bool]:
    """Spend points on a reward; (the redemption, True if new). A retry with the same
    key answers the first redemption. Under the Membership row lock: the tier, the
    yearly limit and the balance are read and the debit written by one customer's
    redemptions one at a time, so the last points are spent once."""
    now = now or datetime.now(UTC)
    if not KEY_MIN <= len(idempotency_key) <= KEY_MAX:
        raise MembershipError(
            E.IDEMPOTENCY_MISMATCH, f"幂等键应为{KEY_MIN}到{KEY_MAX}个字符", "idempotencyKey"
        )
    reward = await Reward.get_or_none(id=reward_id)
    if reward is None:
        raise MembershipError(E.REWARD_NOT_FOUND, "未找到该兑换项目", "rewardId")
    async with in_transaction():
        membership = await _lock(customer_id)
        earlier = await Redemption.get_or_none(
            customer_id=customer_id, idempotency_key=idempotency_key
        )
        if earlier is not None:
            if earlier.reward_id != reward.id:
                raise MembershipError(
                    E.IDEMPOTENCY_MISMATCH, "该幂等键已用于其他兑换", "idempotencyKey"
                )
            return earlier, False
        if not reward.active:
            raise MembershipError(E.REWARD_NOT_AVAILABLE, "该兑换项目已下架", "rewardId")
        if rank(MemberTier(membership.tier)) < rank(MemberTier(reward.min_tier)):
            raise MembershipError(
                E.REWARD_NOT_AVAILABLE,
                f"{TIER_NAMES[MemberTier(reward.min_tier)]}及以上可兑换",
                "rewardId",
            )
        year = local_date(now).year
        used = await Redemption.filter(customer_id=customer_id, reward_id=reward.id, year=year)
        if len(used) >= reward.per_year:
            raise MembershipError(
                E.YEARLY_LIMIT_REACHED, f"{reward.name}每年最多兑换{reward.per_year}次", "rewardId"
            )
        await _expire_locked(customer_id, local_date(now))
        balance = await points_balance(customer_id)
        if balance < reward.points_cost:
            raise MembershipError(
                E.INSUFFICIENT_POINTS,
                f"积分不足：需要{reward.points_cost}分，当前{balance}分",
                "rewardId",
            )
        redemption = await Redemption.create(
            customer_id=customer_id,
            reward_id=reward.id,
            points=reward.points_cost,
            year=year,
            voucher_code=_voucher(),
            idempotency_key=idempotency_key,
        )
        await PointsEntry.create(
            customer_id=customer_id,
            points=-reward.points_cost,
            kind=PointsKind.REDEEMED,
            source=f"redeem:{redemption.id}",
            reason=f"兑换{reward.name}",
        )
        await Membership.filter(id=membership.id).update(version=membership.version + 1)
    return redemption, True


async def reverse_payment_points(
    customer_id: uuid.UUID, order_id: str, refund_key: str, points: int
) -> int:
    """A refunded premium takes back its points: at most what the payment credited less
    what earlier refunds of it took back, and never more than the balance (points already
    spent stay spent). One entry per refund (``reverse:<order>:<refund event>``, unique).
    Returns the points taken back."""
    async with in_transaction():
        await _lock(customer_id)
        credited = await PointsEntry.filter(
            customer_id=customer_id, source=f"payment:{order_id}"
        ).values_list("points", flat=True)
        reversed_ = await PointsEntry.filter(
            customer_id=customer_id, source__startswith=f"reverse:{order_id}:"
        ).values_list("points", flat=True)
        left = sum(credited) + sum(reversed_)  # type: ignore[arg-type]
        take = min(points, left, max(0, await points_balance(customer_id)))
        if take <= 0:
            return 0
        await PointsEntry.bulk_create(
            [
                PointsEntry(
                    id=uuid.uuid4(),
                    customer_id=customer_id,
                    points=-take,
                    kind=PointsKind.REVERSED,
                    source=f"reverse:{order_id}:{refund_key}"[:160],
                    reason="保费退还，扣回相应积分",
                )
            ],
            ignore_conflicts=True,
        )
        return take
