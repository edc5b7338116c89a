"""The outbox: events written with their change, relayed once, in order, to the inbox,
the deliveries and the bus, announced only once committed; nothing lost while Redis is
down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from models.notifications import (
    Channel,
    Delivery,
    Device,
    DevicePlatform,
    Notification,
    NotificationPreference,
    OutboxEvent,
    QuietHours,
)
from models.policies import Policy
from push.bus import InProcessBus, RedisBus
from push.fanout import quiet_until
from push.outbox import OutboxRelay, emit
from tests.bus import subscribed
from tests.conftest import TEST_REDIS_URL, visible_elsewhere
from tests.factories import emit_premium_event, make_customer, make_policy
from tests.push.visibility import RecordingQueue, SeeingQueue
from tests.sql_counter import counting_statements


async def emit_premium_due(customer: Customer, policy: Policy, **extra: Any) -> OutboxEvent:
    return await emit_premium_event(customer, policy, "premium.due", **extra)


async def next_message(subscription: Any) -> dict[str, Any]:
    return await asyncio.wait_for(anext(subscription), 5)


@pytest.fixture
async def customer(services: Services) -> Customer:
    customer = await make_customer(services, "推送用户")
    await Device.create(customer=customer, platform=DevicePlatform.IOS, token="a" * 64)
    await Device.create(customer=customer, platform=DevicePlatform.ANDROID, token="b" * 64)
    await QuietHours.create(customer=customer, start_minute=0, end_minute=0)  # off
    return customer


async def test_an_event_reaches_inbox_deliveries_and_subscribers_once(
    services: Services, customer: Customer
) -> None:
    policy = await make_policy(services, customer)
    relay = OutboxRelay(services.bus, services.queue)
    subscription = services.bus.subscribe(f"customer:{customer.id}")
    listening = asyncio.ensure_future(next_message(subscription))
    await subscribed(services.bus, f"customer:{customer.id}")

    event = await emit_premium_due(customer, policy)
    assert await relay.relay_once() == 1
    message = await listening
    assert message["eventId"] == str(event.event_id)
    assert message["notification"]["title"] == "保费即将到期"
    assert policy.number in message["notification"]["body"]

    inbox = await Notification.get(customer_id=customer.id)
    assert inbox.deep_link == "anxin://policies/UG9saWN5OjE=/premiums"
    assert inbox.data["amount"] == "600.00"
    deliveries = {(d.channel, d.target) for d in await Delivery.all()}
    assert deliveries == {
        (Channel.APNS, "a" * 64),
        (Channel.FCM, "b" * 64),
    }
    assert (await OutboxEvent.get(id=event.id)).published_at is not None
    assert await relay.relay_once() == 0
    assert await Notification.all().count() == 1
    await subscription.aclose()


async def test_events_of_a_rolled_back_change_never_exist(
    services: Services, customer: Customer
) -> None:
    policy = await make_policy(services, customer)
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await emit(
                "premium.due",
                entity_type="policy",
                entity_id=policy.id,
                customer_id=customer.id,
                payload={},
            )
            raise RuntimeError("the change failed")
    assert await OutboxEvent.all().count() == 0


async def test_events_go_out_in_order(services: Services, customer: Customer) -> None:
    policy = await make_policy(services, customer)
    bus = InProcessBus()
    subscription = bus.subscribe(f"policy:{policy.id}")
    first = asyncio.ensure_future(next_message(subscription))
    await subscribed(bus, f"policy:{policy.id}")
    sent = [await emit_premium_due(customer, policy, sequence=str(n)) for n in range(5)]
    await OutboxRelay(bus, services.queue).relay_once()
    received = [await first] + [await next_message(subscription) for _ in range(4)]
    assert [m["eventId"] for m in received] == [str(e.event_id) for e in sent]
    await subscription.aclose()


async def test_nothing_is_lost_while_redis_is_down(services: Services, customer: Customer) -> None:
    policy = await make_policy(services, customer)
    # Refused at once: redis-py's default retries (ten, backing off) would only add seconds.
    stopped = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    down = OutboxRelay(RedisBus(stopped), services.queue)
    events = [await emit_premium_due(customer, policy, sequence=str(n)) for n in range(3)]
    for _ in range(2):
        with pytest.raises((ConnectionError, OSError, redis.RedisError)):
            await down.relay_once()
    # The fan-out was committed (before anything is announced), once; nothing is marked.
    assert await Notification.all().count() == 3
    assert await Delivery.all().count() == 6
    assert await OutboxEvent.filter(published_at=None).count() == 3
    await stopped.aclose()

    queue = RecordingQueue()
    back = OutboxRelay(services.bus, queue)
    assert await back.relay_once() == 3
    assert await Notification.all().count() == 3
    assert await Delivery.all().count() == 6
    assert {n.event_id for n in await Notification.all()} == {e.event_id for e in events}
    assert sorted(queue.enqueued) == sorted(d.id for d in await Delivery.all())  # all handed over
    assert await OutboxEvent.filter(published_at=None).count() == 0


class SeeingBus(InProcessBus):
    """The same for the inbox entry a bus message carries."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.database_url = database_url
        self.seen: list[bool] = []

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        if "notification" in event:
            notification_id = uuid.UUID(event["notification"]["id"])
            self.seen.append(
                await visible_elsewhere(self.database_url, "notification", notification_id)
            )
        await super().publish(channel, event)


async def test_the_relay_announces_only_what_others_can_read(
    services: Services, customer: Customer, database_url: str
) -> None:
    """Before, the relay published and enqueued inside its transaction: a worker that read
    the message first found no row, dropped the message, and the push waited for the
    sweep (p50 22 s at soak load)."""
    policy = await make_policy(services, customer)
    await emit_premium_due(customer, policy)
    queue, bus = SeeingQueue(database_url), SeeingBus(database_url)
    assert await OutboxRelay(bus, queue).relay_once() == 1
    assert len(queue.seen) == 2 and all(queue.seen.values())
    assert bus.seen and all(bus.seen)  # one message per channel (the policy, the customer)


async def test_preferences_choose_the_channels(services: Services, customer: Customer) -> None:
    policy = await make_policy(services, customer)
    await NotificationPreference.create(customer=customer, kind="premium.due", channels=["FCM"])
    await emit_premium_due(customer, policy)
    await OutboxRelay(services.bus, services.queue).relay_once()
    assert [d.channel for d in await Delivery.all()] == [Channel.FCM]


async def test_quiet_hours_hold_non_urgent_push_until_morning(
    services: Services, customer: Customer
) -> None:
    await QuietHours.filter(customer_id=customer.id).update(start_minute=0, end_minute=24 * 60 - 1)
    policy = await make_policy(services, customer)
    await emit_premium_due(customer, policy)
    async with in_transaction():
        await emit(
            "premium.overdue",
            entity_type="policy",
            entity_id=policy.id,
            customer_id=customer.id,
            payload={
                "policy_id": "x",
                "policy_number": policy.number,
                "sequence": "1",
                "amount": "600.00",
                "due_date": "2026年11月01日",
            },
        )
    await OutboxRelay(services.bus, services.queue).relay_once()
    held = await Delivery.filter(notification__kind="premium.due")
    urgent = await Delivery.filter(notification__kind="premium.overdue")
    assert {d.channel for d in held} == {Channel.APNS, Channel.FCM}  # both devices
    assert all(d.next_attempt_at is not None for d in held)
    # Overdue is urgent: pushed at once, by SMS too.
    assert {d.channel for d in urgent} == {Channel.APNS, Channel.FCM, Channel.SMS}
    assert all(d.next_attempt_at is None for d in urgent)
    # Both are in the inbox at once.
    assert await Notification.all().count() == 2


def test_quiet_until() -> None:
    shanghai_23h = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert quiet_until(shanghai_23h, 22 * 60, 8 * 60) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    shanghai_7h = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # 07:00 next day in Shanghai
    assert quiet_until(shanghai_7h, 22 * 60, 8 * 60) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    shanghai_noon = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)
    assert quiet_until(shanghai_noon, 22 * 60, 8 * 60) is None
    assert quiet_until(shanghai_noon, 12 * 60, 13 * 60) == datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


async def test_events_without_a_customer_or_template_only_go_to_the_bus(
    services: Services,
) -> None:
    async with in_transaction():
        await emit(
            "claim.queue_changed",
            entity_type="claim",
            entity_id=uuid.uuid4(),
            customer_id=None,
            payload={"_staff_channels": ["staff:claim-queue"]},
        )
    bus = InProcessBus()
    subscription = bus.subscribe("staff:claim-queue")
    listening = asyncio.ensure_future(next_message(subscription))
    await subscribed(bus, "staff:claim-queue")
    await OutboxRelay(bus, services.queue).relay_once()
    assert (await listening)["type"] == "claim.queue_changed"
    assert await Notification.all().count() == 0
    await subscription.aclose()


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs Redis (ANXIN_TEST_REDIS_URL)")
async def test_redis_bus_reaches_a_subscriber_of_another_connection(services: Services) -> None:
    """Two bus objects on two Redis connections stand for two API processes."""
    assert TEST_REDIS_URL
    publisher_client = redis.Redis.from_url(TEST_REDIS_URL)
    subscriber_client = redis.Redis.from_url(TEST_REDIS_URL)
    publisher, subscriber = RedisBus(publisher_client), RedisBus(subscriber_client)
    channel = f"customer:{uuid.uuid4()}"
    subscription = subscriber.subscribe(channel)
    listening = asyncio.ensure_future(next_message(subscription))
    await subscribed(subscriber, channel)
    await publisher.publish(channel, {"eventId": "e1"})
    assert await listening == {"eventId": "e1"}
    await subscription.aclose()
    await subscriber.close()
    await publisher_client.aclose()
    await subscriber_client.aclose()


def test_a_missing_display_value_renders_empty_instead_of_failing() -> None:
    from push.templates import render

    message = render("premium.due", {"policy_number": "AXA1"})
    assert "AXA1" in message.body and "{" not in message.body


async def test_a_batch_costs_the_same_statements_whatever_its_size(services: Services) -> None:
    """The relay used to read preferences, quiet hours, devices, WeChat identities and the
    e-mail of each event's customer one event at a time (1,000 customers' events: ~8,000
    statements); a batch now costs a fixed number of statements."""

    async def statements_to_relay(events: int) -> int:
        for n in range(events):
            someone = await make_customer(services, f"批量用户{events}-{n}")
            await Device.create(
                customer=someone, platform=DevicePlatform.IOS, token=f"{events}{n:063x}"
            )
            await NotificationPreference.create(
                customer=someone, kind="premium.due", channels=[Channel.APNS]
            )
            await emit_premium_due(someone, await make_policy(services, someone))
        relay = OutboxRelay(services.bus, RecordingQueue(), batch_size=100)
        with counting_statements() as counter:
            assert await relay.relay_once() == events
        return len(counter.statements)

    few, many = await statements_to_relay(2), await statements_to_relay(20)
    assert many == few, f"2 events: {few} statements, 20 events: {many}"
    assert await Delivery.filter(channel=Channel.APNS).count() == 22
    assert await Delivery.filter(channel__not=Channel.APNS).count() == 0  # as they chose


async def test_a_commit_of_250_events_goes_out_in_one_batch(services: Services) -> None:
    """Each batch costs ~15 round trips (lock, reads, inserts, commit, publish, marking)
    whatever its size: 1,000 decisions of one commit went out in 10 batches of 100, the
    last ~0.4-1 s after the commit (issue 19's bench); in 4 batches now."""
    async with in_transaction():
        for n in range(250):
            await emit(
                "bench.tick", entity_type="tick", entity_id=str(n), customer_id=None, payload={}
            )
    relay = OutboxRelay(services.bus, RecordingQueue())
    assert await relay.relay_once() == 250
    assert await relay.relay_once() == 0


async def test_a_batch_is_written_as_rows_without_model_objects(
    services: Services, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 events cost ~2,000 ORM objects built only to be inserted (and as many
    statements run one row at a time on PostgreSQL); the rows go in as tuples now, and
    read back through the ORM as they were meant."""
    policy = await make_policy(services, customer)
    events = [await emit_premium_due(customer, policy, sequence=str(n)) for n in range(5)]
    built: list[str] = []
    for model in (Notification, Delivery):
        original = model.__init__

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            built.append(type(self).__name__)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(model, "__init__", counting)
    queue = RecordingQueue()
    assert await OutboxRelay(services.bus, queue).relay_once() == 5
    assert built == []
    monkeypatch.undo()
    entries = {n.event_id: n for n in await Notification.filter(customer_id=customer.id)}
    for event in events:
        entry = entries[event.event_id]
        assert entry.created_at == event.created_at and entry.kind == "premium.due"
        assert entry.urgent is False and entry.read_at is None
        assert entry.data["policy_number"] == policy.number and "保单" in entry.body
    deliveries = await Delivery.all()
    assert sorted(queue.enqueued) == sorted(d.id for d in deliveries)
    assert {(d.channel, d.target) for d in deliveries} == {
        (Channel.APNS, "a" * 64),
        (Channel.FCM, "b" * 64),
    }
    assert all(d.status == "PENDING" and d.attempts == 0 for d in deliveries)
    assert all(d.next_attempt_at is None and d.sent_at is None for d in deliveries)
