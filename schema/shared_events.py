"""One subscription event executed and serialized once per process for the subscribers
that provably get the same answer, instead of once per socket.

One event to 1,000 sockets of one customer ran the same execution (and its JSON
encoding) 1,000 times: about 70 % of the API process's work per socket. Sharing is
allowed only where the answer cannot differ:

- the subscription's resolver hands those subscribers the *same* object for the event
  (``per_event``: built once per bus message, e.g. the inbox entry it carries; each
  subscriber's resolver still decides on its own whether it gets the event at all);
- every field the operation selects below the root field is a plain attribute (no
  resolver, permission class, field extension or custom directive) and no schema
  extension wraps resolvers, so the answer is a function of that object, the document and
  the variables alone;
- the same document object, the same variables and, besides, the same viewer (kind,
  subject, role, withheld permissions): what a customer's other devices share.

An answer with errors is never shared. Anything else executes per subscriber, as before.
The memory is a short one (the last few hundred events), enough for one delivery.

Delivered directly: with the shared answer found, the rest of the per-socket way through
graphql-core's response stream, strawberry's result handling and its protocol handler
(about 85 µs a socket, most of what was left per socket) only copied it into each socket's
``next`` message. Where the transport hands an operation a ``DirectSink``
(``api.ws_delivery``, per graphql-transport-ws operation), a shared answer goes straight to
it, encoded once: the subscriber's own resolver still decides whether it gets the event,
its socket gets events in its own order, and an answer that is not shared (errors, a
resolver below the root) takes graphql-core's and strawberry's way, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Hashable, Mapping
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    visit,
)
from graphql.execution import Executor
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

RECENT_EVENTS = 512  # events remembered per process (a delivery uses one)
PLAIN_DIRECTIVES = frozenset({"skip", "include"})

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class _Recent(Generic[K, V]):
    """A small LRU: entries hold what their key names by ``id``, so no id is reused
    while its entry lives."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class _Built:
    event: object  # kept alive: its id is part of the key
    value: Any


_BUILT: _Recent[tuple[int, Hashable], _Built] = _Recent(RECENT_EVENTS)


def per_event(event: Mapping[str, Any], key: Hashable, build: Callable[[], T]) -> T:
    """What ``build`` makes of a bus ``event``, made once per process for every
    subscriber given the same message object (the bus decodes a message once and hands
    the same dict to all local subscribers of its channel). ``key`` names what is built
    and whatever it depends on besides the event (e.g. the customer)."""
    found = _BUILT.get((id(event), key))
    if found is not None and found.event is event:
        return cast(T, found.value)
    value = build()
    _BUILT.put((id(event), key), _Built(event, value))
    return value


@dataclass
class _Shared:
    root: object  # kept alive, with the operation: their ids are part of the key
    operation: OperationDefinitionNode
    data: dict[str, Any]
    text: str | None = None  # the ``next`` payload as JSON, once asked for


_RESULTS: _Recent[Hashable, _Shared] = _Recent(RECENT_EVENTS)


def forget() -> None:
    """Drop what is remembered (tests)."""
    for recent in (_BUILT, _RESULTS):
        recent.clear()


def _frozen(value: Any) -> Hashable:
    """Variables as a hashable key; TypeError for a value that has no such form."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    hash(value)
    return cast(Hashable, value)


def _viewer(context: Any) -> Hashable | None:
    actor = getattr(context, "actor", None)
    if actor is None:
        return None
    return (actor.kind, actor.subject_id, actor.role, actor.withheld)


class _PlainFields(Visitor):
    """Finds a field whose value may depend on more than its parent object."""

    def __init__(self, type_info: TypeInfo, root_type: GraphQLObjectType | None) -> None:
        super().__init__()
        self.type_info = type_info
        self.root_type = root_type
        self.plain = True

    def enter_directive(self, node: Any, *_: Any) -> None:
        if node.name.value not in PLAIN_DIRECTIVES:
            self.plain = False

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value == "__typename":
            return
        if self.type_info.get_parent_type() is self.root_type:
            return  # the subscription field: per event, strawberry answers the event itself
        definition = self.type_info.get_field_def()
        field = (
            None
            if definition is None
            else definition.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        )
        if not (
            isinstance(field, StrawberryField)
            and field.base_resolver is None
            and not field.extensions
            and not field.permission_classes
            and not field.directives
        ):
            self.plain = False


def plain_selection(executor: Executor) -> bool:
    """Whether every field the operation (and any fragment of its document) selects below
    its root field is a plain attribute, and no middleware wraps resolvers."""
    manager = executor.middleware_manager
    if manager is not None and manager.middlewares:
        return False
    type_info = TypeInfo(executor.schema)
    finder = _PlainFields(type_info, executor.schema.subscription_type)
    visit(executor.operation, TypeInfoVisitor(type_info, finder))
    for fragment in executor.fragment_definitions.values():
        if finder.plain:
            visit(fragment, TypeInfoVisitor(type_info, finder))
    return finder.plain


class DirectSink(Protocol):
    """Where one subscription's ``next`` messages go without strawberry's per-result
    handling: its transport operation (``api.ws_delivery``)."""

    def encode(self, data: Any) -> str:
        """JSON as the transport writes it."""
        ...

    async def send_next(self, payload_text: str) -> None:
        """Send a ``next`` message with this payload (JSON text), unless the operation
        has ended."""
        ...


# Set by the transport in each operation's task, read when its subscription starts.
DIRECT_SINK: ContextVar[DirectSink | None] = ContextVar("anxin_direct_sink", default=None)


class SharedEventResults(Executor):
    """graphql-core's executor, with each subscription event's result shared between the
    subscribers that provably get the same answer (module docstring)."""

    _shares: bool | None = None  # on a subscription's executor: whether it may share
    _per_event: bool = False  # on the copy that executes one event
    _directed: bool = False  # on a subscription's executor: its source is delivered directly

    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = super().build_per_event_executor(payload)
        if self._may_share():
            cast(SharedEventResults, executor)._per_event = True
        return executor

    def _may_share(self) -> bool:
        if self._shares is None:
            self._shares = plain_selection(self)
        return self._shares

    def cancellable_iterable(self, iterable: AsyncIterable[T]) -> AsyncIterable[T]:
        """graphql-core wraps a subscription's source stream here, once, before mapping
        each event to its result: where the transport gave a sink and the selection may
        share, shared answers are sent to it from here on (module docstring)."""
        stream = super().cancellable_iterable(iterable)
        sink = DIRECT_SINK.get()
        if (
            sink is None
            or self._per_event
            or self._directed
            or self.operation.operation is not OperationType.SUBSCRIPTION
            or not self._may_share()
        ):
            return stream
        try:
            variables = _frozen(self.variable_values.coerced)
        except TypeError:
            return stream
        self._directed = True
        return cast(AsyncIterable[T], self._delivered_directly(stream, sink, variables))

    async def _delivered_directly(
        self, stream: AsyncIterable[Any], sink: DirectSink, variables: Hashable
    ) -> AsyncGenerator[Any, None]:
        """The events for graphql-core to execute: those whose answer is not (yet) shared
        (the first subscriber of an event executes it, and remembers a shareable answer);
        the others are sent to ``sink`` from here, in the order they came."""
        async with aclosing(aiter(stream)) as events:  # type: ignore[type-var]
            async for payload in events:
                viewer = _viewer(self.context_value)
                key = (id(payload), id(self.operation), variables, viewer)
                shared = None if viewer is None else self._remembered(key, payload)
                if shared is None:
                    yield payload
                    continue
                if shared.text is None:
                    shared.text = sink.encode({"data": shared.data})
                await sink.send_next(shared.text)

    def _remembered(self, key: Hashable, root: Any) -> _Shared | None:
        shared = _RESULTS.get(key)
        if shared is None or shared.root is not root or shared.operation is not self.operation:
            return None
        return shared

    def execute_operation(self, serially: bool | None = None) -> Any:
        if not self._per_event:
            return super().execute_operation(serially)
        key = self._key()
        if key is None:
            return super().execute_operation(serially)
        shared = self._remembered(key, self.root_value)
        if shared is not None:
            return ExecutionResult(shared.data, None)
        result = super().execute_operation(serially)
        if isinstance(result, ExecutionResult) and not result.errors and result.data:
            _RESULTS.put(key, _Shared(self.root_value, self.operation, result.data))
        return result

    def _key(self) -> Hashable | None:
        viewer = _viewer(self.context_value)
        if viewer is None:
            return None
        try:
            variables = _frozen(self.variable_values.coerced)
        except TypeError:
            return None
        return (id(self.root_value), id(self.operation), variables, viewer)


def sharing_events(base: type[Executor]) -> type[Executor]:
    """``base`` (the schema's executor class, whatever it is) with events shared."""
    return type(f"SharedEvents{base.__name__}", (SharedEventResults, base), {})
