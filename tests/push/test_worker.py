"""The worker's housekeeping removes spent SMS codes and long-ended sessions only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from models.auth import AuthSession, OtpChallenge, SubjectKind
from push.worker import purge_login_records


async def test_purge_keeps_what_is_still_useful(database_url: str, app: object) -> None:
    now = datetime.now(UTC)
    old = await OtpChallenge.create(phone_hash="a", send_slot=1, code_hash="x", expires_at=now)
    fresh = await OtpChallenge.create(phone_hash="a", send_slot=2, code_hash="x", expires_at=now)
    await OtpChallenge.filter(id=old.id).update(created_at=now - timedelta(hours=3))

    def session(**kwargs: object) -> dict[str, object]:
        return {
            "subject_kind": SubjectKind.CUSTOMER,
            "subject_id": uuid.uuid4(),
            "channel": "app",
            **kwargs,
        }

    ended = await AuthSession.create(**session(expires_at=now - timedelta(days=31)))
    revoked = await AuthSession.create(
        **session(expires_at=now + timedelta(days=1), revoked_at=now - timedelta(days=40))
    )
    live = await AuthSession.create(**session(expires_at=now + timedelta(days=1)))
    recently_revoked = await AuthSession.create(
        **session(expires_at=now + timedelta(days=1), revoked_at=now - timedelta(days=1))
    )
    assert await purge_login_records(now) == (1, 2)
    assert {c.id for c in await OtpChallenge.all()} == {fresh.id}
    assert {s.id for s in await AuthSession.all()} == {live.id, recently_revoked.id}
    assert ended and revoked
