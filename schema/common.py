"""Shared schema pieces: money, Shanghai time, Relay connections with capped pages."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry import relay
from tortoise.expressions import RawSQL
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


CENT = Decimal("0.01")


def cny(amount: Decimal) -> Money:
    """``amount`` in yuan, to the cent. Amounts repeat (a product's premium, a coverage's
    limit: ~150 a policy page), so one ``Money`` per distinct amount is shared; nothing
    changes a ``Money`` once made. Zero is never shared: ``-0`` equals ``0`` as a key but
    is written ``-0.00``."""
    return _shared_cny(amount) if amount else _cny(amount)


def _cny(amount: Decimal) -> Money:
    return Money(amount=amount.quantize(CENT), currency="CNY")


_shared_cny = lru_cache(maxsize=4096)(_cny)


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


# The whole list's size, read with the page (a window over the filtered rows) instead
# of by a COUNT of its own (issue 19).
PAGE_TOTAL = "anxin_page_total"


@dataclass
class Page:
    """The rows of one page, where it starts and the whole list's size."""

    rows: list[Any]
    start: int
    end: int
    total: int


def _total_of(row: Any) -> int:
    return int(row[PAGE_TOTAL] if isinstance(row, dict) else getattr(row, PAGE_TOTAL))


def forward_window(
    *, first: int | None, after: str | None, last: int | None, before: str | None
) -> tuple[int, int] | None:
    """Check Relay arguments; ``(start, size)`` when they page forwards (``first`` /
    ``after`` only, a page of at least one), which one statement reads with its total
    (``COUNT(*) OVER ()`` as ``PAGE_TOTAL``; see ``windowed_page``); else None."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise UserInputError(f"`{name}` must be between 0 and {MAX_PAGE}.")
    if first is None and last is None:
        first = DEFAULT_PAGE
    start = _offset(after, "after") + 1 if after else 0
    if last is None and before is None and first:
        return start, first
    return None


def windowed_page(rows: list[Any], start: int, counted: int) -> Page:
    """The page of ``forward_window`` rows; ``counted`` is the list's size, needed (and
    counted by the caller) only when the page is empty past the start."""
    total = _total_of(rows[0]) if rows else counted
    end = min(start + len(rows), total)
    return Page(rows, min(start, end), end, total)


async def page_of(
    queryset: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    fetch: Callable[[QuerySet[Any], tuple[str, ...]], Awaitable[list[Any]]] | None = None,
) -> Page:
    """Slice an ordered queryset by Relay arguments. Paging forwards (``first`` /
    ``after``): one statement, the total counted by a window over the page query (a
    second COUNT only when the page is empty past the start). Backwards (``last`` /
    ``before``, which need the total to place the page): a COUNT, then the page.
    ``fetch`` reads the page (default: model objects; e.g. ``.values(...)`` for rows,
    which must include the extra columns it is given: the total's)."""
    read = fetch or _models
    window = forward_window(first=first, after=after, last=last, before=before)
    if window is not None and not queryset._distinct:
        # DISTINCT would apply after the window: such a list keeps its COUNT.
        start, size = window
        counted = queryset.annotate(**{PAGE_TOTAL: RawSQL("COUNT(*) OVER ()")})
        rows = await read(counted.offset(start).limit(size), (PAGE_TOTAL,))
        return windowed_page(rows, start, await queryset.count() if start and not rows else 0)
    if first is None and last is None:
        first = DEFAULT_PAGE
    start = _offset(after, "after") + 1 if after else 0
    total = await queryset.count()
    end = min(_offset(before, "before"), total) if before else total
    start = min(start, end)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    rows = await read(queryset.offset(start).limit(end - start), ()) if end > start else []
    return Page(rows, start, end, total)


async def _models(queryset: QuerySet[Any], extra: tuple[str, ...]) -> list[Any]:
    return await queryset


def connection(page: Page, nodes: list[T]) -> Connection[T]:
    """The connection of ``page`` with its rows made into ``nodes``."""
    edges = [Edge(cursor=_cursor(page.start + i), node=node) for i, node in enumerate(nodes)]
    page_info = relay.PageInfo(
        has_previous_page=page.start > 0,
        has_next_page=page.end < page.total,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=page_info, total_count=page.total)


async def paginate(
    queryset: QuerySet[Any],
    convert: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[T]:
    """One page of an ordered queryset as a connection (see ``page_of``)."""
    page = await page_of(queryset, first=first, after=after, last=last, before=before)
    return connection(page, [convert(row) for row in page.rows])


@strawberry.type(description="One parameter for the provider's client SDK.")
class CheckoutParam:
    key: str = strawberry.field(description="Parameter name, e.g. `package` or `orderString`.")
    value: str = strawberry.field(description="Its value, exactly as given.")
