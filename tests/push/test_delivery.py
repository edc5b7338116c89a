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
from push.delivery import MAX_ATTEMPTS, BatchResult, Deliverer, DeliveryWorker, backoff
from push.queue import InProcessQueue
from push.sms import ConsoleSmsSender, SmsChannel
from push.survey_links import SmsWithSurveyToken
from tests.conftest import ON_POSTGRES, TEST_REDIS_URL, postgres_only
from tests.factories import make_customer
from tests.push.visibility import SeeingQueue
from tests.sql_counter import counting_statements


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


async def pending_deliveries(customer: Customer, count: int) -> list[Delivery]:
    note = await inbox_entry(customer)
    return [
        await Delivery.create(notification=note, channel=Channel.FCM, target=f"t{i:03d}")
        for i in range(count)
    ]


async def test_a_batch_costs_the_same_statements_whatever_its_size(
    services: Services, customer: Customer
) -> None:
    """Each push cost its own transaction, lock and update (1,000 customers' SMS: ~6,000
    round trips beside the relay, in the same process); a batch is claimed in one
    statement and its outcomes written in one."""

    async def statements_to_deliver(count: int) -> int:
        queue = InProcessQueue()
        channel = RecordingChannel()
        worker = DeliveryWorker(Deliverer({Channel.FCM: channel}, queue), "w1", batch=count)
        await queue.enqueue([d.id for d in await pending_deliveries(customer, count)])
        with counting_statements() as counter:
            assert await worker.work_once(block_ms=100) == count
        assert len(channel.sent) == count
        return len(counter.statements)

    few, many = await statements_to_deliver(2), await statements_to_deliver(20)
    assert many == few, f"2 deliveries: {few} statements, 20 deliveries: {many}"
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 22


async def test_outcomes_of_one_batch_are_each_recorded(
    services: Services, customer: Customer
) -> None:
    """Sent, retried later, dead, skipped, not due and no row, all in one batch."""

    class ByTarget:
        async def send(self, target: str, message: PushMessage) -> str | None:
            if target == "flaky":
                raise TransientDeliveryError("503")
            if target == "gone":
                raise DeadTargetError("410")
            return f"id-{target}"

    note = await inbox_entry(customer)
    later = datetime.now(UTC) + timedelta(hours=1)
    rows = {
        target: await Delivery.create(
            notification=note,
            channel=Channel.EMAIL if target == "mail" else Channel.FCM,
            target=target,
            next_attempt_at=later if target == "tomorrow" else None,
        )
        for target in ("ok", "flaky", "gone", "mail", "tomorrow")
    }
    nowhere = uuid.uuid4()
    deliverer = Deliverer({Channel.FCM: ByTarget()}, InProcessQueue())
    result = await deliverer.deliver_batch([*(d.id for d in rows.values()), nowhere])
    assert {t: result.statuses[d.id] for t, d in rows.items()} == {
        "ok": DeliveryStatus.SENT,
        "flaky": DeliveryStatus.FAILED,
        "gone": DeliveryStatus.DEAD,
        "mail": DeliveryStatus.SKIPPED,
        "tomorrow": None,
    }
    assert result.unseen == {nowhere} and result.failed == {}
    stored = {d.target: d for d in await Delivery.filter(notification_id=note.id)}
    assert stored["ok"].sent_at is not None and stored["ok"].provider_message_id == "id-ok"
    assert stored["ok"].attempts == 1 and stored["ok"].last_error is None
    assert stored["flaky"].attempts == 1 and stored["flaky"].last_error == "503"
    assert stored["flaky"].next_attempt_at is not None and stored["flaky"].sent_at is None
    assert stored["gone"].last_error == "target gone: 410"
    assert stored["mail"].last_error == "channel not configured"
    assert stored["tomorrow"].status is DeliveryStatus.PENDING
    assert stored["tomorrow"].next_attempt_at == later


async def test_an_unexpected_error_leaves_only_that_delivery_to_try_again(
    services: Services, customer: Customer
) -> None:
    class Buggy(RecordingChannel):
        async def send(self, target: str, message: PushMessage) -> str | None:
            if target == "t001":
                raise ValueError("a bug")
            return await super().send(target, message)

    channel = Buggy()
    queue = InProcessQueue()
    worker = DeliveryWorker(Deliverer({Channel.FCM: channel}, queue), "w1")
    deliveries = await pending_deliveries(customer, 3)
    await queue.enqueue([d.id for d in deliveries])
    assert await worker.work_once(block_ms=100) == 3
    assert sorted(t for t, _ in channel.sent) == ["t000", "t002"]
    statuses = {d.target: d.status for d in await Delivery.all()}
    assert statuses == {
        "t000": DeliveryStatus.SENT,
        "t001": DeliveryStatus.PENDING,
        "t002": DeliveryStatus.SENT,
    }


async def test_two_workers_racing_for_one_batch_send_each_delivery_once(
    services: Services, customer: Customer
) -> None:
    """The same 30 deliveries handed to two workers at once (a sweep and the original
    message, say): on PostgreSQL the rows are locked by one and skipped, not waited for,
    by the other (``SKIP LOCKED``); on SQLite one transaction waits for the other."""
    channel = RecordingChannel(delay=0.005)
    ids = [d.id for d in await pending_deliveries(customer, 30)]
    finished: list[int] = []

    async def work(n: int, batch: list[uuid.UUID]) -> BatchResult:
        result = await Deliverer({Channel.FCM: channel}, InProcessQueue()).deliver_batch(batch)
        finished.append(n)
        return result

    first, second = await asyncio.gather(work(0, ids), work(1, list(reversed(ids))))
    assert sorted(t for t, _ in channel.sent) == [f"t{i:03d}" for i in range(30)]
    for delivery_id in ids:  # each sent by exactly one of them
        outcomes = [first.statuses[delivery_id], second.statuses[delivery_id]]
        assert set(outcomes) == {DeliveryStatus.SENT, None}, outcomes
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 30
    if ON_POSTGRES:  # the one that skipped everything did not wait for the other's sends
        results = (first, second)
        idle = [n for n in (0, 1) if not any(results[n].statuses.values())]
        assert not idle or finished[0] == idle[0], finished


class Crash(BaseException):
    """The process dies (killed, out of memory) in the middle of a batch."""


async def test_a_worker_that_dies_mid_batch_loses_nothing(
    services: Services, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of the batch is recorded or acknowledged: every delivery of it is tried
    again, by another worker (Redis: it claims the dead one's messages) or after the sweep
    (in-process queue: the messages died with the process). The pushes sent before the
    crash go out again (at least once, as with one push per transaction); none is lost."""
    if services.redis is not None:
        await services.redis.delete("anxin:deliveries")
    sent_before_crash = 3

    class DiesAfterThree(RecordingChannel):
        async def send(self, target: str, message: PushMessage) -> str | None:
            if len(self.sent) == sent_before_crash:
                raise Crash
            return await super().send(target, message)

    deliveries = await pending_deliveries(customer, 8)
    await services.queue.enqueue([d.id for d in deliveries])
    dying = DeliveryWorker(Deliverer({Channel.FCM: DiesAfterThree()}, services.queue), "dying")
    with pytest.raises(Crash):
        await dying.work_once(block_ms=200)
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 0  # rolled back

    channel = RecordingChannel()
    survivor = DeliveryWorker(Deliverer({Channel.FCM: channel}, services.queue), "survivor")
    if services.redis is not None:
        monkeypatch.setattr(delivery_module, "STALE_CLAIM_MS", 0)
    else:
        await survivor.deliverer.sweep(datetime.now(UTC) + timedelta(seconds=60))
    async with asyncio.timeout(10):
        while await Delivery.filter(status=DeliveryStatus.SENT).count() < 8:
            await survivor.work_once(block_ms=100)
    assert sorted(t for t, _ in channel.sent) == [f"t{i:03d}" for i in range(8)]
    if services.redis is not None:  # every message acknowledged
        assert await services.queue.claim_stale("another", idle_ms=0, count=20) == []


async def test_a_batch_of_text_messages_reads_the_phones_in_one_query(
    services: Services,
) -> None:
    """Each SMS read its customer (a round trip and a ``Customer`` object) while the
    batch's row locks were held; the channel reads the batch's phones at once now, and a
    customer gone meanwhile still makes the delivery dead."""
    sender = ConsoleSmsSender()
    sms = SmsWithSurveyToken(
        SmsChannel(sender, services.pii, {"claim.decided": "SMS_1"}), services.survey_links
    )

    async def statements_to_text(count: int) -> int:
        phones = [f"139{count:02d}{n:06d}" for n in range(count)]
        ids = []
        for phone in phones:
            someone = await make_customer(services, phone=phone)
            note = await inbox_entry(someone)
            target = f"customer:{someone.id}"
            ids.append(
                (await Delivery.create(notification=note, channel=Channel.SMS, target=target)).id
            )
        deliverer = Deliverer({Channel.SMS: sms}, InProcessQueue())
        sender.notifications.clear()
        with counting_statements() as counter:
            result = await deliverer.deliver_batch(ids)
        assert set(result.statuses.values()) == {DeliveryStatus.SENT}
        assert [phone for phone, _, _ in sender.notifications] == phones
        return len(counter.statements)

    few, many = await statements_to_text(2), await statements_to_text(12)
    assert many == few, f"2 messages: {few} statements, 12 messages: {many}"

    note = await inbox_entry(await make_customer(services))
    delivery = await Delivery.create(
        notification=note, channel=Channel.SMS, target=f"customer:{uuid.uuid4()}"
    )
    deliverer = Deliverer({Channel.SMS: sms}, InProcessQueue())
    assert await deliverer.deliver(delivery.id) is DeliveryStatus.DEAD
