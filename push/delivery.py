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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    Notification,
    WechatConsent,
)
from push.base import (
    DeadTargetError,
    PermanentDeliveryError,
    PushChannel,
    PushMessage,
    TransientDeliveryError,
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


def message_of(notification: Notification) -> PushMessage:
    return PushMessage(
        kind=notification.kind,
        title=notification.title,
        body=notification.body,
        deep_link=notification.deep_link,
        mini_program_page=notification.mini_program_page,
        urgent=notification.urgent,
        collapse_id=str(notification.event_id),
        data=dict(notification.data),
    )


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
        """Send one delivery if it is due; return its new status (None: not ours now:
        sent, not due, or in another worker's hands). Raises ``NotYetVisible`` when there
        is no such row (yet)."""
        now = datetime.now(UTC)
        follow_ups: list[uuid.UUID] = []
        async with in_transaction():
            delivery = (
                await Delivery.filter(
                    Q(next_attempt_at=None) | Q(next_attempt_at__lte=now),
                    id=delivery_id,
                    status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
                )
                .select_for_update(skip_locked=True, of=("delivery",))
                .select_related("notification")
                .first()
            )
            if delivery is None:
                if not await Delivery.exists(id=delivery_id):
                    raise NotYetVisible(delivery_id)
                return None
            status = await self._send(delivery, now, follow_ups)
        if follow_ups:  # committed: a worker reading these finds their rows
            await self.queue.enqueue(follow_ups)
        return status

    async def _send(
        self, delivery: Delivery, now: datetime, follow_ups: list[uuid.UUID]
    ) -> DeliveryStatus:
        notification = delivery.notification
        channel = self.channels.get(delivery.channel)
        attempts = delivery.attempts + 1
        if channel is None:
            return await self._finish(delivery, DeliveryStatus.SKIPPED, "channel not configured")
        if delivery.channel is Channel.WECHAT and not await self._use_wechat_consent(notification):
            follow_ups.extend(await self._fall_back_to_sms(notification))
            return await self._finish(delivery, DeliveryStatus.SKIPPED, "no consent left")
        try:
            provider_id = await channel.send(delivery.target, message_of(notification))
        except DeadTargetError as exc:
            await Device.filter(token=delivery.target).delete()
            return await self._finish(delivery, DeliveryStatus.DEAD, f"target gone: {exc}")
        except PermanentDeliveryError as exc:
            return await self._finish(delivery, DeliveryStatus.DEAD, str(exc), attempts)
        except (TransientDeliveryError, TimeoutError, OSError) as exc:
            if attempts >= MAX_ATTEMPTS:
                return await self._finish(delivery, DeliveryStatus.DEAD, str(exc), attempts)
            await Delivery.filter(id=delivery.id).update(
                status=DeliveryStatus.FAILED,
                attempts=attempts,
                last_error=str(exc)[:255],
                next_attempt_at=now + backoff(attempts),
            )
            return DeliveryStatus.FAILED
        await Delivery.filter(id=delivery.id).update(
            status=DeliveryStatus.SENT,
            attempts=attempts,
            sent_at=now,
            provider_message_id=provider_id,
            last_error=None,
        )
        return DeliveryStatus.SENT

    async def _finish(
        self, delivery: Delivery, status: DeliveryStatus, reason: str, attempts: int | None = None
    ) -> DeliveryStatus:
        log.info("delivery %s %s: %s", delivery.id, status, reason)
        await Delivery.filter(id=delivery.id).update(
            status=status,
            attempts=attempts if attempts is not None else delivery.attempts,
            last_error=reason[:255],
        )
        return status

    async def _use_wechat_consent(self, notification: Notification) -> bool:
        template_id = self.wechat_templates.get(notification.kind)
        if template_id is None:
            return False
        used = await WechatConsent.filter(
            customer_id=notification.customer_id, template_id=template_id, remaining__gt=0
        ).update(remaining=F("remaining") - 1)
        return bool(used)

    async def _fall_back_to_sms(self, notification: Notification) -> list[uuid.UUID]:
        """The SMS delivery to enqueue once the transaction has committed (if new)."""
        target = f"customer:{notification.customer_id}"
        delivery, created = await Delivery.get_or_create(
            notification_id=notification.id, channel=Channel.SMS, target=target
        )
        return [delivery.id] if created else []

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
        """Handle what the queue holds; raise when every message of a non-empty batch
        failed (the database is down, say), so that the loop backs off and reports it."""
        queue = self.deliverer.queue
        messages = await queue.claim_stale(self.consumer, STALE_CLAIM_MS, self.batch)
        messages += self._due_again()
        messages += await queue.receive(self.consumer, self.batch, self._wait_ms(block_ms))
        failures: list[Exception] = []
        for message_id, delivery_id in messages:
            try:
                await self.deliverer.deliver(delivery_id)
            except NotYetVisible:
                if self._again_later(message_id, delivery_id):
                    continue  # unacknowledged, and in our hands: tried again shortly
                log.info(
                    "delivery %s: no such row after %d tries, left to the sweep",
                    delivery_id,
                    UNSEEN_TRIES,
                )
            except Exception as exc:
                log.exception("delivery %s failed unexpectedly", delivery_id)
                failures.append(exc)
                self._unseen.pop(delivery_id, None)
                continue  # left unacknowledged: claimed again later
            self._unseen.pop(delivery_id, None)
            if message_id:
                await queue.ack([message_id])
        if messages and len(failures) == len(messages):
            raise failures[-1]
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
