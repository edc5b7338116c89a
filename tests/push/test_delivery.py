"""Delivery workers: each message once, retries with backoff, dead letters, dead tokens
removed, WeChat consent with SMS fallback, work shared by several workers, and messages
of a crashed worker recovered.

The channels here are recording stand-ins for our own ``PushChannel`` interface; the
provider protocols themselves are tested against fake provider servers elsewhere.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.services import Services
from models.customers import Customer, WechatIdentity
from models.notifications import (
    Channel,
    Delivery,
    DeliveryStatus,
    Device,
    DevicePlatform,
    Notification,
    WechatConsent,
)
from push import delivery as delivery_module
from push.base import DeadTargetError, PushMessage, TransientDeliveryError
from push.delivery import MAX_ATTEMPTS, Deliverer, DeliveryWorker, backoff
from push.queue import InProcessQueue
from tests.conftest import ON_POSTGRES, TEST_REDIS_URL, postgres_only
from tests.factories import make_customer
from tests.push.visibility import SeeingQueue


class RecordingChannel:
    def __init__(self, fail_with: Exception | None = None, delay: float = 0) -> None:
        self.sent: list[tuple[str, PushMessage]] = []
        self.fail_with = fail_with
        self.delay = delay

    async def send(self, target: str, message: PushMessage) -> str | None:
        await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((target, message))
        return f"msg-{len(self.sent)}"


async def inbox_entry(customer: Customer, kind: str = "claim.decided") -> Notification:
    return await Notification.create(
        customer=customer,
        event_id=uuid.uuid4(),
        kind=kind,
        title="理赔审核结果",
        body="理赔LP001已审核：通过。",
        deep_link="anxin://claims/x",
        mini_program_page="pages/claim/detail?id=x",
        data={"claim_number": "LP001"},
    )


@pytest.fixture
async def customer(services: Services) -> Customer:
    return await make_customer(services)


async def test_a_delivery_is_sent_once(services: Services, customer: Customer) -> None:
    channel = RecordingChannel()
    deliverer = Deliverer({Channel.FCM: channel}, InProcessQueue())
    note = await inbox_entry(customer)
    delivery = await Delivery.create(notification=note, channel=Channel.FCM, target="tok")
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.SENT
    assert await deliverer.deliver(delivery.id) is None  # seen again: nothing happens
    assert len(channel.sent) == 1
    target, message = channel.sent[0]
    assert target == "tok" and message.collapse_id == str(note.event_id)
    assert message.data == {"claim_number": "LP001"}
    stored = await Delivery.get(id=delivery.id)
    assert stored.status is DeliveryStatus.SENT and stored.provider_message_id == "msg-1"


async def test_provider_trouble_is_retried_with_backoff_then_dead(
    services: Services, customer: Customer
) -> None:
    deliverer = Deliverer(
        {Channel.FCM: RecordingChannel(TransientDeliveryError("503"))}, InProcessQueue()
    )
    delivery = await Delivery.create(
        notification=await inbox_entry(customer), channel=Channel.FCM, target="tok"
    )
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.FAILED
    stored = await Delivery.get(id=delivery.id)
    assert stored.attempts == 1 and stored.last_error == "503"
    assert stored.next_attempt_at is not None
    assert await deliverer.deliver(delivery.id) is None  # not due yet
    for attempt in range(2, MAX_ATTEMPTS + 1):
        await Delivery.filter(id=delivery.id).update(next_attempt_at=datetime.now(UTC))
        expected = DeliveryStatus.DEAD if attempt == MAX_ATTEMPTS else DeliveryStatus.FAILED
        assert await deliverer.deliver(delivery.id) is expected
    assert (await Delivery.get(id=delivery.id)).attempts == MAX_ATTEMPTS
    assert backoff(1) == timedelta(seconds=30) and backoff(5) == timedelta(minutes=8)


async def test_dead_tokens_are_removed(services: Services, customer: Customer) -> None:
    device = await Device.create(customer=customer, platform=DevicePlatform.IOS, token="t" * 64)
    deliverer = Deliverer(
        {Channel.APNS: RecordingChannel(DeadTargetError("410 Unregistered"))}, InProcessQueue()
    )
    delivery = await Delivery.create(
        notification=await inbox_entry(customer), channel=Channel.APNS, target=device.token
    )
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.DEAD
    assert not await Device.exists(id=device.id)


async def test_wechat_needs_consent_and_falls_back_to_sms(
    services: Services, customer: Customer
) -> None:
    await WechatIdentity.create(customer=customer, app_id="wx-test-app", openid="o-1")
    wechat, sms = RecordingChannel(), RecordingChannel()
    queue = InProcessQueue()
    deliverer = Deliverer(
        {Channel.WECHAT: wechat, Channel.SMS: sms}, queue, {"claim.decided": "TPL-1"}
    )
    await WechatConsent.create(customer=customer, template_id="TPL-1", remaining=1)
    first = await Delivery.create(
        notification=await inbox_entry(customer), channel=Channel.WECHAT, target="o-1"
    )
    assert await deliverer.deliver(first.id) is DeliveryStatus.SENT
    assert (await WechatConsent.get(customer_id=customer.id)).remaining == 0

    second_note = await inbox_entry(customer)
    second = await Delivery.create(notification=second_note, channel=Channel.WECHAT, target="o-1")
    assert await deliverer.deliver(second.id) is DeliveryStatus.SKIPPED
    fallback = await Delivery.get(notification_id=second_note.id, channel=Channel.SMS)
    [(_, queued)] = await queue.receive("w", 10, 100)
    assert queued == fallback.id
    assert await deliverer.deliver(fallback.id) is DeliveryStatus.SENT
    assert len(wechat.sent) == 1 and len(sms.sent) == 1


async def test_the_sms_fallback_is_announced_once_committed(
    services: Services, customer: Customer, database_url: str
) -> None:
    """The fallback's delivery row is written in the sending transaction; a worker that
    got its id before the commit found no row (and dropped it)."""
    await WechatIdentity.create(customer=customer, app_id="wx-test-app", openid="o-1")
    queue = SeeingQueue(database_url)
    deliverer = Deliverer(
        {Channel.WECHAT: RecordingChannel(), Channel.SMS: RecordingChannel()},
        queue,
        {"claim.decided": "TPL-1"},
    )
    note = await inbox_entry(customer)
    wechat = await Delivery.create(notification=note, channel=Channel.WECHAT, target="o-1")
    assert await deliverer.deliver(wechat.id) is DeliveryStatus.SKIPPED  # no consent
    fallback = await Delivery.get(notification_id=note.id, channel=Channel.SMS)
    assert queue.seen == {fallback.id: True}


async def test_a_message_ahead_of_its_row_is_tried_again(
    services: Services, customer: Customer
) -> None:
    """A message may name a row this worker cannot read yet (an uncommitted transaction, a
    replica behind): it is held and tried again within seconds, not acknowledged and
    dropped (which left the push to the sweep, 15-30 s later)."""
    if services.redis is not None:
        await services.redis.delete("anxin:deliveries")
    channel = RecordingChannel()
    worker = DeliveryWorker(Deliverer({Channel.FCM: channel}, services.queue), "w1")
    note = await inbox_entry(customer)
    delivery_id = uuid.uuid4()
    await services.queue.enqueue([delivery_id])
    assert await worker.work_once(block_ms=100) == 1
    assert channel.sent == []
    await Delivery.create(id=delivery_id, notification=note, channel=Channel.FCM, target="t")
    async with asyncio.timeout(5):
        while not channel.sent:
            await worker.work_once(block_ms=100)
    assert [target for target, _ in channel.sent] == ["t"]
    if services.redis is not None:  # acknowledged once sent
        assert await services.queue.claim_stale("other", idle_ms=0, count=10) == []


async def test_a_row_that_never_appears_is_left_to_the_sweep(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.redis is not None:
        await services.redis.delete("anxin:deliveries")
    monkeypatch.setattr(delivery_module, "UNSEEN_TRIES", 3)
    worker = DeliveryWorker(Deliverer({}, services.queue), "w1")
    await services.queue.enqueue([uuid.uuid4()])
    handled = 0
    async with asyncio.timeout(5):
        while handled < 4:  # the first try and three more
            handled += await worker.work_once(block_ms=50)
    assert await worker.work_once(block_ms=50) == 0  # given up
    if services.redis is not None:  # and acknowledged
        assert await services.queue.claim_stale("other", idle_ms=0, count=10) == []


async def test_unconfigured_channels_are_skipped(services: Services, customer: Customer) -> None:
    deliverer = Deliverer({}, InProcessQueue())
    delivery = await Delivery.create(
        notification=await inbox_entry(customer), channel=Channel.EMAIL, target="x"
    )
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.SKIPPED


async def test_sweep_requeues_what_is_due(services: Services, customer: Customer) -> None:
    queue = InProcessQueue()
    deliverer = Deliverer({}, queue)
    note = await inbox_entry(customer)
    now = datetime.now(UTC)
    due = await Delivery.create(
        notification=note,
        channel=Channel.FCM,
        target="a",
        next_attempt_at=now - timedelta(seconds=1),
    )
    await Delivery.create(
        notification=note,
        channel=Channel.APNS,
        target="b",
        next_attempt_at=now + timedelta(hours=1),
    )
    await Delivery.create(
        notification=note, channel=Channel.SMS, target="c", status=DeliveryStatus.SENT
    )
    assert await deliverer.sweep(now) == 1
    assert [d for _, d in await queue.receive("w", 10, 100)] == [due.id]


@postgres_only
@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis streams")
async def test_two_workers_deliver_each_message_once(
    services: Services, customer: Customer
) -> None:
    assert ON_POSTGRES
    channel = RecordingChannel(delay=0.01)
    deliverer = Deliverer({Channel.FCM: channel}, services.queue)
    await services.redis.delete("anxin:deliveries")  # type: ignore[union-attr]
    note = await inbox_entry(customer)
    deliveries = [
        await Delivery.create(notification=note, channel=Channel.FCM, target=f"t{i}")
        for i in range(40)
    ]
    ids = [d.id for d in deliveries]
    await services.queue.enqueue(ids + ids[:10])  # some twice, as a sweep might
    workers = [DeliveryWorker(deliverer, f"worker-{n}") for n in (1, 2)]

    async def drain(worker: DeliveryWorker) -> int:
        handled = 0
        while count := await worker.work_once(block_ms=200):
            handled += count
        return handled

    handled = await asyncio.gather(*(drain(w) for w in workers))
    assert all(h > 0 for h in handled), handled  # both took a share
    assert sorted(target for target, _ in channel.sent) == sorted(f"t{i}" for i in range(40))
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 40


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis streams")
async def test_messages_of_a_crashed_worker_are_claimed_by_another(
    services: Services, customer: Customer
) -> None:
    await services.redis.delete("anxin:deliveries")  # type: ignore[union-attr]
    note = await inbox_entry(customer)
    delivery = await Delivery.create(notification=note, channel=Channel.FCM, target="t")
    await services.queue.enqueue([delivery.id])
    taken = await services.queue.receive("crashed-worker", 10, 200)
    assert [d for _, d in taken] == [delivery.id]  # ... and it dies without acknowledging
    assert await services.queue.receive("survivor", 10, 100) == []
    claimed = await services.queue.claim_stale("survivor", idle_ms=0, count=10)
    assert [d for _, d in claimed] == [delivery.id]
    channel = RecordingChannel()
    deliverer = Deliverer({Channel.FCM: channel}, services.queue)
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.SENT
    assert [target for target, _ in channel.sent] == ["t"]
    await services.queue.ack([m for m, _ in claimed])
    assert await services.queue.claim_stale("another", idle_ms=0, count=10) == []
