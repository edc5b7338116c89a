"""One event to many live subscribers: executed and encoded once for the sockets that
provably get the same answer, never another customer's answer on a socket
(``schema.shared_events``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from graphql import parse
from graphql.execution import Executor
from starlette.applications import Starlette
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from tortoise.transactions import in_transaction

from api.context import Context
from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from push.outbox import OutboxRelay, emit
from schema import build_schema, shared_events
from schema.notifications import Notification, _live
from schema.shared_events import sharing_events
from tests.api.asgi_calls import WebSocketCall
from tests.bus import subscribed
from tests.factories import customer_token, make_customer
from workflows.access import Actor

LIVE = "subscription { myNotifications { kind title body } }"


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    shared_events.forget()
    yield
    shared_events.forget()


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The root values graphql-core executed an operation over (each per-event
    execution of a subscription, each query)."""
    seen: list[Any] = []
    original = Executor.execute_operation

    def counted(self: Executor, serially: bool | None = None) -> Any:
        seen.append(self.root_value)
        return original(self, serially)

    monkeypatch.setattr(Executor, "execute_operation", counted)
    return seen


@pytest.fixture
def handled_results(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operation ids of each result that went strawberry's per-result way (graphql-core's
    response stream, strawberry's result handling, its ``next`` message)."""
    seen: list[str] = []
    original = Operation.send_next

    async def counted(self: Operation[Any, Any], result: Any) -> None:
        seen.append(self.id)
        await original(self, result)

    monkeypatch.setattr(Operation, "send_next", counted)
    return seen


class Socket:
    """A graphql-transport-ws connection driven at the ASGI level (no client library
    in the measurement of what the server sends)."""

    def __init__(self, app: Starlette, index: int) -> None:
        self.call = WebSocketCall(app, client=f"10.9.0.{index + 1}").open()

    async def subscribe(self, token: str, query: str = LIVE, operation_id: str = "1") -> None:
        assert (await self.call.initialise(token))["type"] == "connection_ack"
        subscribe = {"id": operation_id, "type": "subscribe", "payload": {"query": query}}
        self.call.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(subscribe)})

    def texts(self) -> list[str]:
        return [m["text"] for m in self.call.sent if m["type"] == "websocket.send"][1:]

    async def nexts(self, count: int, seconds: float = 5) -> list[dict[str, Any]]:
        """The first ``count`` messages after the acknowledgement (waiting for them)."""
        texts = await self.call.texts(count + 1, seconds)
        return [json.loads(t) for t in texts[1 : count + 1]]


@pytest.fixture
async def sockets(app: Starlette) -> AsyncIterator[list[Socket]]:
    opened: list[Socket] = []

    class Opener(list[Socket]):
        def open(self) -> Socket:
            socket = Socket(app, len(opened))
            opened.append(socket)
            return socket

    yield Opener()
    for socket in opened:
        await socket.call.hang_up()


async def decide(*customers: Customer, number: int = 0) -> None:
    """One ``claim.decided`` per customer, committed together (one relay batch)."""
    async with in_transaction():
        for customer in customers:
            await emit(
                "claim.decided",
                entity_type="claim",
                entity_id=f"claim-of-{customer.id}",
                customer_id=customer.id,
                payload={
                    "claim_id": "c",
                    "claim_number": f"LP-{customer.id}-{number}",
                    "decision": "通过",
                },
            )


async def test_one_event_to_many_sockets_of_a_customer_executes_once(
    app: Starlette, services: Services, sockets: Any, executions: list[Any]
) -> None:
    customer = await make_customer(services)
    mine = [sockets.open() for _ in range(4)]
    for socket in mine:  # each device its own session
        await socket.subscribe(await customer_token(services, customer))
    await subscribed(services.bus, f"customer:{customer.id}", 4)
    executions.clear()
    await decide(customer)
    await OutboxRelay(services.bus, services.queue).relay_once()
    answers = [(await socket.nexts(1))[0] for socket in mine]
    body = answers[0]["payload"]["data"]["myNotifications"]["body"]
    assert f"LP-{customer.id}" in body
    assert all(a == answers[0] for a in answers)
    assert len(executions) == 1  # not once per socket
    # Encoded as strawberry encodes it, byte for byte.
    assert mine[1].texts()[0] == json.dumps(answers[0], separators=(",", ":"))


async def test_a_shared_answer_goes_to_each_socket_directly_in_order(
    app: Starlette, services: Services, sockets: Any, handled_results: list[str]
) -> None:
    """Only the first socket of an event takes strawberry's per-result way (its execution
    is then remembered); the others get the same ``next`` message straight from it, each
    with its own operation id, events in the order they were committed."""
    customer = await make_customer(services)
    mine = [sockets.open() for _ in range(5)]
    for index, socket in enumerate(mine):
        await socket.subscribe(await customer_token(services, customer), operation_id=f"op{index}")
    await subscribed(services.bus, f"customer:{customer.id}", len(mine))
    for number in range(3):
        await decide(customer, number=number)
        await OutboxRelay(services.bus, services.queue).relay_once()
    answers = [await socket.nexts(3) for socket in mine]
    assert len(handled_results) == 3  # once per event, not once per socket
    for index, received in enumerate(answers):
        assert [a["id"] for a in received] == [f"op{index}"] * 3
        assert [a["type"] for a in received] == ["next"] * 3
        assert [a["payload"] for a in received] == [a["payload"] for a in answers[0]]
    bodies = [a["payload"]["data"]["myNotifications"]["body"] for a in answers[0]]
    for number, body in enumerate(bodies):
        assert f"LP-{customer.id}-{number}" in body


async def test_a_socket_only_ever_gets_its_own_customers_entries(
    app: Starlette, services: Services, sockets: Any, executions: list[Any]
) -> None:
    alice, bob = await make_customer(services), await make_customer(services)
    alices = [sockets.open() for _ in range(3)]
    bobs = [sockets.open() for _ in range(3)]
    for socket in alices:
        await socket.subscribe(await customer_token(services, alice))
    for socket in bobs:
        await socket.subscribe(await customer_token(services, bob))
    await subscribed(services.bus, f"customer:{alice.id}", 3)
    await subscribed(services.bus, f"customer:{bob.id}", 3)
    executions.clear()
    for _ in range(2):  # the same delivery, then another one
        await decide(alice, bob)
        await OutboxRelay(services.bus, services.queue).relay_once()
    for socket, owner, other in [
        *((s, alice, bob) for s in alices),
        *((s, bob, alice) for s in bobs),
    ]:
        answers = await socket.nexts(2)
        await asyncio.sleep(0.05)  # nothing more arrives
        assert len(socket.texts()) == 2
        for answer in answers:
            body = answer["payload"]["data"]["myNotifications"]["body"]
            assert f"LP-{owner.id}" in body and f"LP-{other.id}" not in body
    assert len(executions) == 4  # per customer and event, not per socket


async def test_different_selections_are_answered_each_as_asked(
    app: Starlette, services: Services, sockets: Any, executions: list[Any]
) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    asked = {
        "titles": "subscription { myNotifications { title } }",
        "kinds": "subscription { myNotifications { kind urgent } }",
        "typed": "subscription Live { myNotifications { __typename kind } }",
        # `id` has a resolver (the global ID): run per socket, as before.
        "ids": "subscription { myNotifications { id kind } }",
    }
    opened = {name: sockets.open() for name in asked}
    for name, query in asked.items():
        await opened[name].subscribe(token, query)
    await subscribed(services.bus, f"customer:{customer.id}", len(asked))
    executions.clear()
    await decide(customer)
    await OutboxRelay(services.bus, services.queue).relay_once()
    answers = {
        name: (await s.nexts(1))[0]["payload"]["data"]["myNotifications"]
        for name, s in opened.items()
    }
    assert set(answers["titles"]) == {"title"}
    assert answers["kinds"] == {"kind": "claim.decided", "urgent": False}
    assert answers["typed"] == {"__typename": "Notification", "kind": "claim.decided"}
    assert set(answers["ids"]) == {"id", "kind"} and answers["ids"]["id"]
    assert len(executions) == 4


def test_only_plain_attribute_selections_may_share() -> None:
    schema = build_schema()._schema

    def plain(query: str) -> bool:
        document = parse(query)
        executor = Executor.build(schema, document, raw_variable_values={"t": True})
        assert isinstance(executor, Executor)
        return shared_events.plain_selection(executor)

    assert plain(LIVE)
    assert plain(
        "subscription { myNotifications { ...N __typename } } fragment N on Notification { kind }"
    )
    assert plain("subscription($t: Boolean!) { myNotifications { kind title @include(if: $t) } }")
    assert not plain(
        "subscription { myNotifications { kind deliveries { channel } } }"
    )  # staff only
    assert not plain("subscription { myNotifications { id } }")  # a resolver
    assert not plain("subscription { myNotifications { ...N } } fragment N on Notification { id }")


async def test_another_viewer_never_gets_a_remembered_answer(services: Services) -> None:
    """Even given the very same event object, a different viewer's execution is its own."""
    alice, bob = await make_customer(services), await make_customer(services)
    schema = build_schema()._schema
    document = parse(LIVE)
    entry = {
        "id": "6b1d2c0e-3e39-4c8f-9a53-2f5e3f2e8a11",
        "eventId": "7b1d2c0e-3e39-4c8f-9a53-2f5e3f2e8a11",
        "kind": "claim.decided",
        "title": "理赔审核结果",
        "body": "已审核",
        "deepLink": "anxin://claims/1",
        "miniProgramPage": "pages/claims/detail?id=1",
        "urgent": False,
        "createdAt": "2026-12-03T10:00:00+00:00",
    }
    event: Notification = _live(entry, alice.id)
    answers = []
    for customer in (alice, alice, bob):
        context = Context(services=services, actor=Actor(SubjectKind.CUSTOMER, customer.id))
        executor = sharing_events(Executor).build(schema, document, context_value=context)
        assert isinstance(executor, Executor)
        answers.append(executor.build_per_event_executor(event).execute_operation(False))
    assert answers[0].data == answers[2].data  # a pure function of the event...
    assert answers[1].data is answers[0].data  # ...shared by the same viewer
    assert answers[2].data is not answers[0].data  # ...but computed again for another
