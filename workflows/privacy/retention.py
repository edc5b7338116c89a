"""The retention job: deletes what is kept no longer (``rules.RETENTION``) once a local
day, however many workers run it (the day's ``RetentionRun`` row is unique), with a
report: the counts stored on the run row and one log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.clock import local_today
from models.notifications import Notification
from models.privacy import DataExport, DataExportStatus, PiiAccess, RetentionRun
from storage.base import ObjectStorage
from workflows.claims.retention import purge_withdrawn_uploads
from workflows.jobs import HOUR, Job, JobDeps
from workflows.privacy.rules import RETENTION

log = logging.getLogger("anxin.privacy")


async def _expired_exports(storage: ObjectStorage, now: datetime) -> int:
    rows = await DataExport.filter(status=DataExportStatus.READY, expires_at__lt=now)
    done = 0
    for row in rows:
        await storage.delete(row.storage_key)
        done += await DataExport.filter(id=row.id, status=DataExportStatus.READY).update(
            status=DataExportStatus.EXPIRED
        )
    return done


async def purge(storage: ObjectStorage, now: datetime | None = None) -> dict[str, int]:
    """Delete everything past its retention now; the count of each kind."""
    now = now or datetime.now(UTC)
    after = {kind: now - rule.after for kind, rule in RETENTION.items()}
    return {
        "WITHDRAWN_CLAIM_UPLOADS": await purge_withdrawn_uploads(
            storage, after["WITHDRAWN_CLAIM_UPLOADS"]
        ),
        "DATA_EXPORTS": await _expired_exports(storage, after["DATA_EXPORTS"]),
        "OLD_NOTIFICATIONS": await Notification.filter(
            created_at__lt=after["OLD_NOTIFICATIONS"]
        ).delete(),
        "PII_ACCESS_LOG": await PiiAccess.filter(created_at__lt=after["PII_ACCESS_LOG"]).delete(),
    }


async def daily_run(storage: ObjectStorage) -> RetentionRun | None:
    """Today's run, by the first worker to claim the day; None for the others."""
    try:
        async with in_transaction():
            run = await RetentionRun.create(day=local_today())
    except IntegrityError:
        return None
    counts = await purge(storage)
    await RetentionRun.filter(id=run.id).update(counts=counts, finished_at=datetime.now(UTC))
    log.info("retention run %s: %s", run.day, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return await RetentionRun.get(id=run.id)


async def _job(deps: JobDeps) -> object:
    return await daily_run(deps.storage)


JOBS = (Job("privacy-retention", HOUR, _job, first_after=120.0),)
