"""One execution of a compiled plan: where values go, which errors are kept, and the
resolvers still to be awaited.

Why breadth-first: graphql-core wraps every awaitable field, list item and object in a
coroutine of its own and gathers them level by level, nesting a task per position.
Here the synchronous part of the whole tree is built at once (plain attributes, leaves,
the calls of the real resolvers); each awaitable a resolver returns is parked with the
*slot* its value belongs in, and all that are parked are awaited together in one wave
(so a page's DataLoader ``load`` calls all happen in the same loop tick and batch as
before). Their values are then completed, which may park the next wave.

Errors keep graphql-core's rules: a field error is located at the field's path; a
nullable position takes ``None`` and the error, a non-null one hands the error to its
parent, up to the nearest nullable position (or ``data: null``). Within one
synchronous subtree that is Python's own ``raise``; across waves a parked slot walks
its chain of parent slots. The executor's own ``CollectedErrors`` drops errors below a
position that was already nulled, exactly as graphql-core does.
"""

from __future__ import annotations

from asyncio import gather
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, located_error
from graphql.language import FieldNode
from graphql.pyutils import Path

if TYPE_CHECKING:
    from graphql.execution import ExecutionResult

    from schema.compiled.executor import CompiledExecutor


class Pending:
    """Marks a position whose value a parked awaitable will fill (``complete`` returns
    it instead of a value, so that no ``None`` placeholder is mistaken for a null)."""

    __slots__ = ()


PENDING = Pending()


class Slot:
    """A position of the response: ``container[key]``, its path, whether it may be null
    (else an error goes to ``parent``) and the message graphql-core gives when it is."""

    __slots__ = ("container", "key", "message", "nullable", "parent", "path")

    def __init__(
        self,
        container: Any,
        key: str | int,
        path: Path | None,
        nullable: bool,
        parent: Slot | None,
        message: str,
    ) -> None:
        self.container = container
        self.key = key
        self.path = path
        self.nullable = nullable
        self.parent = parent
        self.message = message


# complete(run, value, path, slot, field_path) -> completed value or PENDING
Complete = Callable[["Run", Any, Path, "Slot | None", Path], Any]


class Parked:
    __slots__ = ("awaitable", "complete", "field_path", "nodes", "slot")

    def __init__(
        self,
        awaitable: Awaitable[Any],
        slot: Slot,
        nodes: list[FieldNode],
        complete: Callable[[Run, Any], Any],
        field_path: Path,
    ) -> None:
        self.awaitable = awaitable
        self.slot = slot
        self.nodes = nodes
        self.complete = complete
        self.field_path = field_path


class Run:
    """The state of one execution; ``executor`` is graphql-core's (strawberry's) executor
    for this request, whose ``collected_errors``, ``build_resolve_info`` and
    ``is_awaitable`` are used as they are."""

    __slots__ = ("errors", "executor", "is_awaitable", "parked")

    def __init__(self, executor: CompiledExecutor) -> None:
        self.executor = executor
        self.errors = executor.collected_errors
        self.is_awaitable = executor.is_awaitable
        self.parked: list[Parked] = []

    def park(
        self,
        awaitable: Awaitable[Any],
        slot: Slot,
        nodes: list[FieldNode],
        complete: Callable[[Run, Any], Any],
        field_path: Path,
    ) -> Pending:
        self.parked.append(Parked(awaitable, slot, nodes, complete, field_path))
        return PENDING

    def field_failed(
        self,
        raw: Exception,
        nodes: list[FieldNode],
        path: Path,
        nullable: bool,
        result: dict[str, Any],
        key: str,
    ) -> None:
        """A field's reading or completing raised while its position was still open: a
        located error at ``path``, the field null if it may be, else raised to the
        parent's field (graphql-core's ``handle_field_error``)."""
        error = located_error(raw, nodes, path.as_list())
        if not nullable:
            raise error from raw
        self.errors.add(error, path)
        result[key] = None

    def fail(self, error: Exception, nodes: list[FieldNode], slot: Slot) -> None:
        """A position's value failed after its subtree was handed back (a parked value):
        null the nearest nullable position from here up."""
        located = located_error(error, nodes, slot.path.as_list() if slot.path else None)
        target: Slot | None = slot
        while target is not None and not target.nullable:
            target = target.parent
        if target is None:  # the root: the whole response is null
            raise located
        target.container[target.key] = None
        self.errors.add(located, target.path)

    def resume(self, parked: Parked, value: Any) -> None:
        slot = parked.slot
        if self.errors.has_nulled_position(slot.path):
            return  # an ancestor was nulled meanwhile: nothing of this subtree shows
        try:
            if isinstance(value, BaseException):
                raise value
            completed = parked.complete(self, value)
            if completed is PENDING:
                return
            if completed is None and not slot.nullable:
                raise TypeError(slot.message)
            slot.container[slot.key] = completed
        except Exception as error:
            self.fail(error, parked.nodes, slot)

    async def drive(self, holder: dict[str, Any]) -> ExecutionResult:
        """Await the parked resolvers wave by wave; each wave's are awaited together."""
        try:
            while self.parked:
                wave, self.parked = self.parked, []
                values = await gather(*(p.awaitable for p in wave), return_exceptions=True)
                for parked, value in zip(wave, values, strict=True):
                    if isinstance(value, BaseException) and not isinstance(value, Exception):
                        raise value  # cancellation, as graphql-core lets it through
                    self.resume(parked, value)
        except GraphQLError as error:  # a non-null root field failed late
            self.settle()
            self.errors.add(error, None)
            return self.executor.build_response(None)  # type: ignore[return-value]
        return self.executor.build_response(holder["data"])  # type: ignore[return-value]

    def settle(self) -> None:
        """Parked work of a response that is already null still runs to its end (as
        graphql-core settles it in the background), but nothing of it is shown."""
        if self.parked:
            self.executor.settle_in_background([p.awaitable for p in self.parked])
            self.parked = []
