"""Times in another offset than UTC are stored and compared as the instants they are
(SQLite compares text; see models/sqlite_times.py). Runs on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.services import Services
from models.clock import SHANGHAI
from models.policies import Policy
from tests.factories import make_customer, make_policy


async def test_an_updated_beijing_time_compares_as_its_instant(services: Services) -> None:
    policy = await make_policy(services, await make_customer(services))
    beijing_midnight = datetime(2026, 11, 30, tzinfo=SHANGHAI)  # 2026-11-29 16:00 UTC
    await Policy.filter(id=policy.id).update(ends_at=beijing_midnight)
    later_in_utc = datetime(2026, 11, 29, 20, tzinfo=UTC)
    assert await Policy.filter(id=policy.id, ends_at__gt=later_in_utc).count() == 0
    assert await Policy.filter(id=policy.id, ends_at__lt=later_in_utc).count() == 1
    earlier_in_beijing = (beijing_midnight - timedelta(hours=1)).astimezone(SHANGHAI)
    assert await Policy.filter(id=policy.id, ends_at__gt=earlier_in_beijing).count() == 1
    assert (await Policy.get(id=policy.id)).ends_at == beijing_midnight
