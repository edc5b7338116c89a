"""Idempotency keys for requests that create or move money: the same key with the same
input returns the first answer; with other input it is a typed error; concurrent
requests with one key run once (the others wait for the first answer)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from models.payments import IdempotencyRecord
from workflows.errors import DomainError

KEEP_FOR = timedelta(hours=48)  # at least the 24 h clients may retry in
WAIT_FOR_FIRST = 10.0  # seconds a duplicate waits for the first request's answer


class IdempotencyErrorCode(StrEnum):
    KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IN_PROGRESS = "IDEMPOTENCY_KEY_IN_PROGRESS"
    INVALID_KEY = "INVALID_IDEMPOTENCY_KEY"


class IdempotencyError(DomainError):
    codes = IdempotencyErrorCode


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


async def once(
    scope: str,
    key: str,
    request: dict[str, Any],
    run: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run ``run`` once per (scope, key); its JSON-able answer is kept and replayed."""
    key = key.strip()
    if not 8 <= len(key) <= 128:
        raise IdempotencyError(
            IdempotencyErrorCode.INVALID_KEY, "幂等键长度应为8到128个字符", "idempotencyKey"
        )
    digest = fingerprint(request)
    await IdempotencyRecord.filter(created_at__lt=datetime.now(UTC) - KEEP_FOR).delete()
    while True:
        try:
            record = await IdempotencyRecord.create(scope=scope, key=key, request_hash=digest)
            break
        except IntegrityError:
            replayed = await _replay(scope, key, digest)
            if replayed is not None:
                return replayed
            # The first request failed and let go of the key: try again ourselves.
    try:
        answer = await run()
    except BaseException:
        await IdempotencyRecord.filter(id=record.id).delete()  # a failure may be retried
        raise
    await IdempotencyRecord.filter(id=record.id).update(response=answer)
    return answer


async def _replay(scope: str, key: str, digest: str) -> dict[str, Any] | None:
    """The first request's answer; None if it failed and released the key."""
    deadline = asyncio.get_running_loop().time() + WAIT_FOR_FIRST
    while True:
        record = await IdempotencyRecord.get_or_none(scope=scope, key=key)
        if record is None:
            return None
        if record is not None and record.request_hash != digest:
            raise IdempotencyError(
                IdempotencyErrorCode.KEY_REUSED,
                "该幂等键已用于另一笔不同的请求",
                "idempotencyKey",
            )
        if record is not None and record.response is not None:
            return record.response
        if asyncio.get_running_loop().time() > deadline:
            raise IdempotencyError(
                IdempotencyErrorCode.IN_PROGRESS,
                "相同的请求正在处理中，请稍后重试",
                "idempotencyKey",
            )
        await asyncio.sleep(0.05)
