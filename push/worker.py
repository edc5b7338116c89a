"""``anxin worker``: the background process. Today it keeps the login tables small
(expired SMS codes, ended sessions); the notification issue adds outbox relay and
delivery here."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from api.settings import Settings
from models.auth import AuthSession, OtpChallenge
from models.database import open_database

log = logging.getLogger("anxin.worker")
HOUSEKEEPING_INTERVAL_SECONDS = 300
KEEP_ENDED_SESSIONS_DAYS = 30  # kept a while for security investigations


async def purge_login_records(now: datetime | None = None) -> tuple[int, int]:
    """Delete SMS codes past use and sessions that ended over 30 days ago."""
    now = now or datetime.now(UTC)
    codes = await OtpChallenge.filter(created_at__lt=now - timedelta(hours=2)).delete()
    cutoff = now - timedelta(days=KEEP_ENDED_SESSIONS_DAYS)
    sessions = await AuthSession.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return codes, sessions


async def run_worker(settings: Settings, *, once: bool = False) -> None:
    async with open_database(settings.database_url):
        while True:
            codes, sessions = await purge_login_records()
            log.info("housekeeping: removed %d codes, %d ended sessions", codes, sessions)
            if once:
                return
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)
