"""Shared schema pieces: money, Shanghai time, Relay connections with capped pages."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry import relay
from tortoise.queryset import QuerySet

from schema.errors import UserInputError

MAX_PAGE = 100
DEFAULT_PAGE = 20

T = TypeVar("T")

PageArg = Annotated[int | None, strawberry.argument(description="Page size, at most 100.")]
CursorArg = Annotated[str | None, strawberry.argument(description="A cursor from this list.")]


@strawberry.type(description="An amount of money: a decimal with two places, never a float.")
class Money:
    amount: Decimal = strawberry.field(description="The amount, e.g. `1280.00`.")
    currency: str = strawberry.field(description="ISO 4217 currency code; always `CNY` today.")


NOTHING = uuid.UUID(int=0)  # matches no row: foreign or malformed IDs find nothing


def node_uuid(global_id: relay.GlobalID, type_name: str) -> uuid.UUID:
    """The UUID behind a global ID of ``type_name``; ``NOTHING`` for another type or a
    malformed ID, so the lookup answers exactly as for a missing object."""
    if global_id.type_name != type_name:
        return NOTHING
    try:
        return uuid.UUID(global_id.node_id)
    except ValueError:
        return NOTHING


def cny(amount: Decimal) -> Money:
    return Money(amount=amount.quantize(Decimal("0.01")), currency="CNY")


@strawberry.type(description="An edge of a connection: one node and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after`/`before` to page from here.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="One page of a list (Relay cursor connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page sits.")
    total_count: int = strawberry.field(description="How many items the whole list has.")


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str, argument: str) -> int:
    try:
        kind, _, value = base64.b64decode(cursor).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except ValueError:
        pass
    raise UserInputError(f"`{argument}` is not a cursor of this list.")


async def paginate(
    queryset: QuerySet[Any],
    convert: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[T]:
    """Slice an ordered queryset by Relay arguments: one COUNT and one page query."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise UserInputError(f"`{name}` must be between 0 and {MAX_PAGE}.")
    if first is None and last is None:
        first = DEFAULT_PAGE
    total = await queryset.count()
    start = _offset(after, "after") + 1 if after else 0
    end = min(_offset(before, "before"), total) if before else total
    start = min(start, end)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    rows = await queryset.offset(start).limit(end - start) if end > start else []
    edges = [Edge(cursor=_cursor(start + i), node=convert(row)) for i, row in enumerate(rows)]
    page_info = relay.PageInfo(
        has_previous_page=start > 0,
        has_next_page=end < total,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=page_info, total_count=total)


@strawberry.type(description="One parameter for the provider's client SDK.")
class CheckoutParam:
    key: str = strawberry.field(description="Parameter name, e.g. `package` or `orderString`.")
    value: str = strawberry.field(description="Its value, exactly as given.")
