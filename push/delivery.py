"""Delivery workers: take delivery ids off the queue and send each through its channel.

Each delivery is sent under its row lock, and only while it is due and not yet sent, so
a message seen twice (a re-claimed stream entry, a sweep) never reaches a device twice.
A message naming a row this worker cannot read yet (a transaction not yet committed, a
replica behind) is tried again a few times within seconds, not acknowledged and dropped
(which left the push to the 15 s sweep).
Provider trouble is retried with exponential backoff; after the last try, or when the
target is gone (dead tokens are removed), the delivery is DEAD. A WeChat message needs
a one-time consent of the customer per template; with none left, the customer gets the
message by SMS instead.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import delivery_rows
from models.delivery_rows import ClaimedDelivery, DeliveryChange
from models.notifications import Channel, Delivery, DeliveryStatus, Device, WechatConsent
from push.base import (
    DeadTargetError,
    PermanentDeliveryError,
    PushChannel,
    PushMessage,
    TransientDeliveryError,
    prepare,
)
from push.loops import LoopHealth, supervise
from push.queue import DeliveryQueue, Message

log = logging.getLogger("anxin.delivery")
MAX_ATTEMPTS = 6
BASE_BACKOFF_SECONDS = 30
SWEEP_SECONDS = 15
STALE_CLAIM_MS = 60_000
DELIVERY_LOOP = "delivery-worker"
# A message whose row is not visible yet: tried again after 0.05 s, 0.1 s, … (capped),
# this many times (≈ 7 s in all), then acknowledged and left to the sweep.
UNSEEN_FIRST_RETRY_SECONDS = 0.05
UNSEEN_MAX_RETRY_SECONDS = 2.0
UNSEEN_TRIES = 8


class NotYetVisible(Exception):
    """The delivery a message names is not in the database as this worker sees it."""


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min, 8 min between tries."""
    return timedelta(seconds=BASE_BACKOFF_SECONDS * 2 ** (attempts - 1))


def _unchanged(delivery: ClaimedDelivery) -> DeliveryChange:
    return DeliveryChange(
        id=delivery.id,
        status=DeliveryStatus.PENDING,
        attempts=delivery.attempts,
        last_error=None,
        next_attempt_at=delivery.next_attempt_at,
        sent_at=None,
        provider_message_id=delivery.provider_message_id,
    )


def message_of(delivery: ClaimedDelivery) -> PushMessage:
    return PushMessage(
        kind=delivery.kind,
        title=delivery.title,
        body=delivery.body,
        deep_link=delivery.deep_link,
        mini_program_page=delivery.mini_program_page,
        urgent=delivery.urgent,
        collapse_id=str(delivery.event_id),
        data=dict(delivery.data),
    )


@dataclass
class BatchResult:
    """What became of each delivery of a batch: its new status (None: not ours now:
    sent, not due, or in another worker's hands), no row (yet), or an unexpected error
    (left as it was, to be tried again)."""

    statuses: dict[uuid.UUID, DeliveryStatus | None] = field(default_factory=dict)
    unseen: set[uuid.UUID] = field(default_factory=set)
    failed: dict[uuid.UUID, Exception] = field(default_factory=dict)


class Deliverer:
    def __init__(
        self,
        channels: Mapping[Channel, PushChannel],
        queue: DeliveryQueue,
        wechat_templates: Mapping[str, str] | None = None,
    ) -> None:
        self.channels = channels
        self.queue = queue
        self.wechat_templates = wechat_templates or {}

    async def deliver(self, delivery_id: uuid.UUID) -> DeliveryStatus | None:
        """Send one delivery if it is due; return its new status (None: not ours now).
        Raises ``NotYetVisible`` when there is no such row (yet)."""
        result = await self.deliver_batch([delivery_id])
        if delivery_id in result.failed:
            raise result.failed[delivery_id]
        if delivery_id in result.unseen:
            raise NotYetVisible(delivery_id)
        return result.statuses[delivery_id]

    async def deliver_batch(self, delivery_ids: Sequence[uuid.UUID]) -> BatchResult:
        """Send the due ones of ``delivery_ids`` in one transaction: one statement locks
        them all (skipping those in another worker's hands), each is sent under its lock,
        one statement records every outcome. A worker that dies half-way rolls back, so
        each of the batch is tried again (the ones it had sent, again too: the provider
        sees a push at least once, as before with one push per transaction); nothing is
        recorded as sent that was not."""
        ids = list(dict.fromkeys(delivery_ids))
        now = datetime.now(UTC)
        result = BatchResult()
        follow_ups: list[uuid.UUID] = []
        async with in_transaction():
            claimed = await delivery_rows.claim_due(ids, now)
            mine = {c.id for c in claimed}
            others = [i for i in ids if i not in mine]
            seen = await delivery_rows.existing(others)
            for delivery_id in others:
                if delivery_id in seen:
                    result.statuses[delivery_id] = None
                else:
                    result.unseen.add(delivery_id)
            await self._prepare(claimed)
            changes: list[DeliveryChange] = []
            for delivery in claimed:
                try:
                    change = await self._send(delivery, now, follow_ups)
                except Exception as exc:
                    log.exception("delivery %s failed unexpectedly", delivery.id)
                    result.failed[delivery.id] = exc
                    continue
                changes.append(change)
                result.statuses[delivery.id] = change.status
            await delivery_rows.record(changes)
        if follow_ups:  # committed: a worker reading these finds their rows
            await self.queue.enqueue(follow_ups)
        return result

    async def _prepare(self, claimed: list[ClaimedDelivery]) -> None:
        """Let each channel read ahead what its part of the batch needs, in one query."""
        targets: dict[Channel, list[str]] = {}
        for delivery in claimed:
            targets.setdefault(delivery.channel, []).append(delivery.target)
        for channel, of_channel in targets.items():
            if (sender := self.channels.get(channel)) is not None:
                await prepare(sender, of_channel)

    async def _send(
        self, delivery: ClaimedDelivery, now: datetime, follow_ups: list[uuid.UUID]
    ) -> DeliveryChange:
        channel = self.channels.get(delivery.channel)
        attempts = delivery.attempts + 1
        if channel is None:
            return self._finish(delivery, DeliveryStatus.SKIPPED, "channel not configured")
        if delivery.channel is Channel.WECHAT and not await self._use_wechat_consent(delivery):
            follow_ups.extend(await self._fall_back_to_sms(delivery))
            return self._finish(delivery, DeliveryStatus.SKIPPED, "no consent left")
        try:
            provider_id = await channel.send(delivery.target, message_of(delivery))
        except DeadTargetError as exc:
            await Device.filter(token=delivery.target).delete()
            return self._finish(delivery, DeliveryStatus.DEAD, f"target gone: {exc}")
        except PermanentDeliveryError as exc:
            return self._finish(delivery, DeliveryStatus.DEAD, str(exc), attempts)
        except (TransientDeliveryError, TimeoutError, OSError) as exc:
            if attempts >= MAX_ATTEMPTS:
                return self._finish(delivery, DeliveryStatus.DEAD, str(exc), attempts)
            return replace(
                _unchanged(delivery),
                status=DeliveryStatus.FAILED,
                attempts=attempts,
                last_error=str(exc)[:255],
                next_attempt_at=now + backoff(attempts),
            )
        return replace(
            _unchanged(delivery),
            status=DeliveryStatus.SENT,
            attempts=attempts,
            sent_at=now,
            provider_message_id=provider_id,
            last_error=None,
        )

    def _finish(
        self,
        delivery: ClaimedDelivery,
        status: DeliveryStatus,
        reason: str,
        attempts: int | None = None,
    ) -> DeliveryChange:
        log.info("delivery %s %s: %s", delivery.id, status, reason)
        return replace(
            _unchanged(delivery),
            status=status,
            attempts=attempts if attempts is not None else delivery.attempts,
            last_error=reason[:255],
        )

    async def _use_wechat_consent(self, delivery: ClaimedDelivery) -> bool:
        template_id = self.wechat_templates.get(delivery.kind)
        if template_id is None:
            return False
        used = await WechatConsent.filter(
            customer_id=delivery.customer_id, template_id=template_id, remaining__gt=0
        ).update(remaining=F("remaining") - 1)
        return bool(used)

    async def _fall_back_to_sms(self, delivery: ClaimedDelivery) -> list[uuid.UUID]:
        """The SMS delivery to enqueue once the transaction has committed (if new)."""
        target = f"customer:{delivery.customer_id}"
        fallback, created = await Delivery.get_or_create(
            notification_id=delivery.notification_id, channel=Channel.SMS, target=target
        )
        return [fallback.id] if created else []

    async def sweep(self, now: datetime | None = None) -> int:
        """Re-enqueue deliveries that are due and not in anyone's hands: retries whose
        time has come, messages held back by quiet hours, wake-ups a process lost."""
        now = now or datetime.now(UTC)
        due: list[uuid.UUID] = await Delivery.filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at=None, created_at__lte=now - timedelta(seconds=SWEEP_SECONDS)),
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
        ).values_list("id", flat=True)  # type: ignore[assignment]
        if due:
            await self.queue.enqueue(due)
        return len(due)


@dataclass
class _Unseen:
    message_id: str
    tries: int
    due: float  # loop time


class DeliveryWorker:
    """One consumer of the delivery queue."""

    def __init__(self, deliverer: Deliverer, consumer: str, *, batch: int = 20) -> None:
        self.deliverer = deliverer
        self.consumer = consumer
        self.batch = batch
        self._unseen: dict[uuid.UUID, _Unseen] = {}  # held back, unacknowledged

    async def work_once(self, block_ms: int = 1000) -> int:
        """Handle what the queue holds, as one batch (one transaction, one acknowledgement);
        raise when every message of a non-empty batch failed (the database is down, say),
        so that the loop backs off and reports it. Nothing of a failed batch is
        acknowledged: its messages are claimed again later."""
        queue = self.deliverer.queue
        messages = await queue.claim_stale(self.consumer, STALE_CLAIM_MS, self.batch)
        messages += self._due_again()
        messages += await queue.receive(self.consumer, self.batch, self._wait_ms(block_ms))
        if not messages:
            return 0
        result = await self.deliverer.deliver_batch([d for _, d in messages])
        done: list[str] = []
        for message_id, delivery_id in messages:
            if delivery_id in result.failed:
                self._unseen.pop(delivery_id, None)
                continue  # left unacknowledged: claimed again later
            if delivery_id in result.unseen:
                if self._again_later(message_id, delivery_id):
                    continue  # unacknowledged, and in our hands: tried again shortly
                log.info(
                    "delivery %s: no such row after %d tries, left to the sweep",
                    delivery_id,
                    UNSEEN_TRIES,
                )
            self._unseen.pop(delivery_id, None)
            if message_id:
                done.append(message_id)
        await queue.ack(done)
        if len(result.failed) == len({d for _, d in messages}):
            raise next(iter(result.failed.values()))
        return len(messages)

    def _again_later(self, message_id: str, delivery_id: uuid.UUID) -> bool:
        held = self._unseen.get(delivery_id)
        tries = held.tries + 1 if held is not None else 1
        if tries > UNSEEN_TRIES:
            return False
        delay = min(UNSEEN_FIRST_RETRY_SECONDS * 2 ** (tries - 1), UNSEEN_MAX_RETRY_SECONDS)
        due = asyncio.get_running_loop().time() + delay
        self._unseen[delivery_id] = _Unseen(message_id, tries, due)
        return True

    def _due_again(self) -> list[Message]:
        now = asyncio.get_running_loop().time()
        return [(h.message_id, d) for d, h in self._unseen.items() if h.due <= now]

    def _wait_ms(self, block_ms: int) -> int:
        """Block on the queue no longer than until the next held-back message is due
        (never 0: to Redis that means for ever)."""
        if not self._unseen:
            return block_ms
        now = asyncio.get_running_loop().time()
        soonest = min(h.due for h in self._unseen.values())
        return max(1, min(block_ms, int((soonest - now) * 1000)))

    async def run(self, health: LoopHealth | None = None) -> None:
        """Work until cancelled, sweeping every ``SWEEP_SECONDS``; errors are retried
        with backoff and reported to ``health`` (``delivery-worker``)."""
        last_sweep = -float(SWEEP_SECONDS)
        loop = asyncio.get_running_loop()

        async def step() -> float:
            nonlocal last_sweep
            if loop.time() - last_sweep > SWEEP_SECONDS:
                await self.deliverer.sweep()
                last_sweep = loop.time()
            await self.work_once()
            return 0

        await supervise(DELIVERY_LOOP, step, health or LoopHealth())
