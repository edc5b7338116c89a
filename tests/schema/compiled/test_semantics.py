"""The compiled plan keeps graphql-core's semantics, case by case, on a small schema made
for it: each query runs through graphql-core and through the plan, and the answers
(``data``, and each error's message, path and locations, in order) must be the same;
each test also checks that the plan ran. ``test_a_broken_plan_is_caught`` shows that
these comparisons fail when the plan gets null propagation wrong."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Generator
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from schema.compiled import PlanCache, compiled_executor, plan, straight

CALLS: Counter[str] = Counter()
BATCHES: list[list[int]] = []
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="none")


async def load_scores(keys: list[int]) -> list[int]:
    BATCHES.append(list(keys))
    return [key * 10 for key in keys]


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Item(Named):
    id: int
    tags: list[str]

    @strawberry.field
    def strict(self) -> int:
        CALLS[f"strict:{self.id}"] += 1
        if self.id == 2:
            raise ValueError(f"strict {self.id} failed")
        return self.id

    @strawberry.field
    def loose(self) -> str | None:
        CALLS[f"loose:{self.id}"] += 1
        if self.id % 2:
            raise ValueError(f"loose {self.id} failed")
        return f"loose-{self.id}"

    @strawberry.field
    async def score(self, info: strawberry.Info) -> int:
        CALLS[f"score:{self.id}"] += 1
        loader: DataLoader[int, int] = info.context["scores"]
        return await loader.load(self.id)

    @strawberry.field
    async def late_strict(self) -> int:
        await asyncio.sleep(0)
        if self.id == 3:
            raise ValueError("late strict failed")
        return self.id

    @strawberry.field
    def required(self) -> int:
        result: Any = None if self.id == 4 else self.id  # a bug: null for a non-null field
        return result

    @strawberry.field
    def request(self) -> str:
        return REQUEST_ID.get()

    @strawberry.field
    async def async_request(self) -> str:
        await asyncio.sleep(0)
        return REQUEST_ID.get()


@strawberry.type
class Person(Named):
    age: int


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    label: str


@strawberry.type
class Stored:
    """Plain attributes only (the plan's short way for leaves); some hold what a
    resolver could not have returned: the executor must treat them as graphql-core does."""

    key: int
    text: str
    count: int
    flag: bool
    ratio: float
    maybe: str | None
    day: date
    amount: Decimal
    colour: Colour
    part: Part
    spare: Part | None
    labels: list[str]
    shades: list[Colour | None] | None


@strawberry.type
class Doc(relay.Node):
    """A Node: its ``id`` (strawberry's resolver) is answered inline for exactly this
    class with a text NodeID."""

    key: relay.NodeID[str]
    title: str


class SubDoc(Doc):
    """Not exactly ``Doc``: its id takes the resolver's way."""


@strawberry.type
class Ticket(relay.Node):
    """A Node with its own ``resolve_id``: never inline."""

    key: relay.NodeID[str]

    @classmethod
    def resolve_id(cls, root: Ticket, *, info: strawberry.Info) -> str:
        return f"t-{root.key}"


def _docs() -> list[Doc]:
    number: Any = 7  # not text: the resolver's way
    missing: Any = None  # the resolver asserts an ID
    return [
        Doc(key="a", title="A"),
        SubDoc(key="b", title="B"),
        Doc(key=number, title="C"),
        Doc(key=missing, title="D"),
    ]


@strawberry.type
class Shelf:
    """Plain attributes holding objects and lists of them (the plan runs those inline
    when every value is of exactly the type's class); the shelves hold odd values too."""

    key: int
    items: list[Item]
    maybe: list[Item | None] | None
    featured: Item
    parts: list[Part]


def _ready(value: Any) -> asyncio.Future[Any]:
    """An awaitable that, unlike a coroutine, may go unawaited without a warning (a
    shelf nulled by another error never awaits its items)."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class _ItemLike:
    """Not an Item, but cast to one: strawberry's ``is_type_of`` accepts it."""

    def __init__(self, id: int) -> None:
        self.id = id
        self.name = f"like-{id}"
        self.tags = ["cast"]


def _shelves() -> list[Shelf | None]:
    good: dict[str, Any] = {
        "items": _items(2)[:1],
        "maybe": [*_items(1), None],
        "featured": _items(1)[0],
        "parts": [Part(label="a"), Part(label="b")],
    }
    odd: list[dict[str, Any]] = [
        {"items": [strawberry.cast(Item, _ItemLike(7))]},  # cast: is_type_of decides
        {"maybe": [_items(1)[0], _ready(_items(3)[2])]},  # an awaitable item
        {"items": [_items(1)[0], None]},  # a null item in a non-null list
        {"maybe": None, "featured": strawberry.cast(Person, _items(1)[0])},  # cast elsewhere
        {"items": (_items(1)[0],), "parts": [Part(label=None)]},  # type: ignore[arg-type]
        {"items": _items(3), "maybe": _items(3)},  # item 2's strict raises
        {"maybe": [Person(name="p", age=1)]},  # not an Item: is_type_of refuses
    ]
    return [Shelf(key=i + 1, **good | row) for i, row in enumerate([{}, *odd])]


class _Later:
    """An awaitable that answers after one turn of the loop. Unlike a coroutine, one that
    a deliberately broken plan leaves unawaited goes without a warning: a coroutine's
    "never awaited" warning comes whenever the collector frees it, in whatever frame runs
    then, and in a namedtuple's ``__new__`` (no ``__import__`` in its builtins) it became
    an unraisable-exception error of the test."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[None, None, Any]:
        yield  # one turn of the loop, as asyncio.sleep(0)
        return self.value


def _stored() -> list[Stored | None]:
    good: dict[str, Any] = {
        "text": "one",
        "count": 1,
        "flag": True,
        "ratio": 0.5,
        "maybe": None,
        "day": date(2026, 1, 2),
        "amount": Decimal("1.50"),
        "colour": Colour.RED,
        "part": Part(label="p"),
        "spare": None,
        "labels": ["l", "m"],
        "shades": [Colour.BLUE, None],
    }
    odd: list[dict[str, Any]] = [
        {"text": None, "maybe": "two", "amount": Decimal(2)},
        {"count": 2**40, "maybe": "3"},
        {"flag": "not a bool", "colour": "x"},
        {"text": _Later("late"), "maybe": _Later("later"), "count": True},
        {"flag": 3.5, "day": Colour.BLUE, "amount": Decimal(5)},
        {"ratio": float("nan"), "colour": "red"},
        {"part": None},
        {"part": Part(label=None)},  # type: ignore[arg-type]
        {"spare": Part(label=None), "part": _Later(Part(label="late"))},  # type: ignore[arg-type]
        {"spare": Part(label="s")},
        {"labels": ["a", None]},  # a null in a non-null list of leaves
        {"shades": ["x"]},  # not a member, in a list whose items may be null
        {"labels": ("a",), "shades": None},  # a tuple: graphql-core's way
    ]
    return [Stored(key=i + 1, **good | row) for i, row in enumerate([{}, *odd])]


def _items(n: int = 4) -> list[Item]:
    return [Item(id=i, name=f"item-{i}", tags=[f"t{i}", "x"]) for i in range(1, n + 1)]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        CALLS["items"] += 1
        return _items()

    @strawberry.field
    def maybe_items(self) -> list[Item | None] | None:
        CALLS["maybe_items"] += 1
        return list(_items())

    @strawberry.field
    async def async_items(self) -> list[Item | None]:
        await asyncio.sleep(0)
        return list(_items())

    @strawberry.field
    def stored(self) -> list[Stored | None]:
        return _stored()

    @strawberry.field
    def docs(self) -> list[Doc | None]:
        return list(_docs())

    @strawberry.field
    def tickets(self) -> list[Ticket]:
        return [Ticket(key="x")]

    @strawberry.field
    def shelves(self) -> list[Shelf | None]:
        return _shelves()

    @strawberry.field
    def first(self) -> Item | None:
        return _items()[0]

    @strawberry.field
    def named(self) -> list[Named]:
        return [*_items(2), Person(name="ada", age=36)]

    @strawberry.field
    def echo(self, word: str = "hi", times: int = 1) -> str:
        CALLS["echo"] += 1
        return word * times


def schemas() -> tuple[strawberry.Schema, strawberry.Schema, PlanCache]:
    plans = PlanCache(compile_after=1)
    compiled = strawberry.Schema(
        query=Query, types=[Person], execution_context_class=compiled_executor(plans)
    )
    return strawberry.Schema(query=Query, types=[Person]), compiled, plans


PLAIN, COMPILED, PLANS = schemas()


def formatted(result: Any) -> dict[str, Any]:
    return {
        "data": result.data,
        "errors": [error.formatted for error in result.errors or []],
    }


async def both(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer, after checking it is the same both ways and the plan ran."""
    answers = []
    for schema in (PLAIN, COMPILED):
        BATCHES.clear()
        before = PLANS.compiled_runs
        result = await schema.execute(
            query, variable_values=variables, context_value={"scores": DataLoader(load_scores)}
        )
        answers.append(formatted(result))
    assert PLANS.compiled_runs == before + 1, "the compiled plan did not run"
    # as JSON text: dict equality would not see the keys' order
    assert json.dumps(answers[1]) == json.dumps(answers[0])
    return answers[1]


async def test_a_non_null_field_failing_in_a_list_nulls_the_nearest_nullable_parent() -> None:
    answer = await both("{ maybeItems { id strict loose } first { id } }")
    assert answer["data"]["maybeItems"][1] is None  # item 2's strict failed: the item nulls
    assert answer["data"]["maybeItems"][0] == {"id": 1, "strict": 1, "loose": None}
    assert [e["path"] for e in answer["errors"]] == [
        ["maybeItems", 0, "loose"],
        ["maybeItems", 1, "strict"],
        ["maybeItems", 2, "loose"],
    ]
    assert answer["errors"][1]["locations"] == [{"line": 1, "column": 19}]


async def test_a_non_null_error_reaches_data_when_nothing_above_is_nullable() -> None:
    answer = await both("{ first { id } items { id strict } }")
    assert answer["data"] is None
    assert [e["path"] for e in answer["errors"]] == [["items", 1, "strict"]]


async def test_late_errors_propagate_from_async_resolvers() -> None:
    answer = await both("{ asyncItems { id lateStrict score } maybeItems { loose } }")
    assert answer["data"]["asyncItems"][2] is None
    assert answer["data"]["asyncItems"][0] == {"id": 1, "lateStrict": 1, "score": 10}
    assert len(answer["errors"]) == 3


async def test_a_null_for_a_non_null_field_is_an_error_there() -> None:
    answer = await both("{ maybeItems { id required } }")
    assert answer["data"]["maybeItems"][3] is None
    assert answer["errors"][0]["message"] == (
        "Cannot return null for non-nullable field Item.required."
    )
    assert answer["errors"][0]["path"] == ["maybeItems", 3, "required"]


async def test_plain_attribute_leaves_keep_graphql_cores_answers() -> None:
    """Each stored row but the first holds something wrong or unusual in a leaf: null
    for a non-null field, an Int out of range, a wrong type, a value the enum does not
    know, NaN; or awaitables and a bool for an Int, which are fine."""
    answer = await both(
        "{ stored { key text count flag ratio maybe day amount colour"
        " part { label } spare { label } alias: spare { label } } }"
    )
    rows = answer["data"]["stored"]
    assert rows[0] == {
        "key": 1,
        "text": "one",
        "count": 1,
        "flag": True,
        "ratio": 0.5,
        "maybe": None,
        "day": "2026-01-02",
        "amount": "1.50",
        "colour": "RED",
        "part": {"label": "p"},
        "spare": None,
        "alias": None,
    }
    assert rows[4] == rows[0] | {"key": 5, "text": "late", "maybe": "later", "count": 1}
    assert rows[1:4] + rows[5:9] == [None] * 7
    assert rows[9] == rows[0] | {"key": 10, "part": {"label": "late"}}
    assert rows[10]["spare"] == rows[10]["alias"] == {"label": "s"}
    paths = [e["path"] for e in answer["errors"]]
    assert ["stored", 9, "spare", "label"] in paths
    assert ["stored", 9, "alias", "label"] in paths


SHELVES = (
    "{ shelves { key items { id name tags } maybe { id strict } featured { __typename id }"
    " parts { label } } }"
)


async def test_objects_and_lists_of_plain_attributes_keep_graphql_cores_answers() -> None:
    """The first shelf's objects and lists run inline; each other shelf holds something
    that must take graphql-core's way: a cast object, an awaitable item, a null item in
    a non-null list, a tuple, an item whose field fails, an object of another type."""
    answer = await both(SHELVES)
    shelves = answer["data"]["shelves"]
    assert shelves[0] == {
        "key": 1,
        "items": [{"id": 1, "name": "item-1", "tags": ["t1", "x"]}],
        "maybe": [{"id": 1, "strict": 1}, None],
        "featured": {"__typename": "Item", "id": 1},
        "parts": [{"label": "a"}, {"label": "b"}],
    }
    assert shelves[1]["items"] == [{"id": 7, "name": "like-7", "tags": ["cast"]}]
    assert shelves[2]["maybe"] == [{"id": 1, "strict": 1}, {"id": 3, "strict": 3}]
    assert [shelves[i] for i in (3, 4, 5)] == [None] * 3
    assert shelves[7]["maybe"] == [None]  # a Person passes Item.is_type_of (Named), lacks id
    assert shelves[6]["maybe"] == [{"id": 1, "strict": 1}, None, {"id": 3, "strict": 3}]
    paths = [e["path"] for e in answer["errors"]]
    assert ["shelves", 3, "items", 1] in paths and ["shelves", 6, "maybe", 1, "strict"] in paths


async def test_a_wrong_inline_list_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliberately break the inline lists (an item's error no longer nulls the item):
    the comparison with graphql-core must then fail."""

    def careless(self: Any) -> Any:
        execute = self.execute
        if self.items is None:
            return execute

        def run_items(run: Any, values: list[Any], path: Any, slot: Any) -> list[Any]:
            items: list[Any] = []
            for index, value in enumerate(values):
                here = plan.Path(path, index, None)
                try:
                    items.append(execute(run, value, here, slot))
                except Exception:
                    items.append(None)
            return items

        return run_items

    monkeypatch.setattr(straight.InlineObject, "runner", careless)
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both(SHELVES)
    finally:
        PLAIN, COMPILED, PLANS = saved


DOCS = "{ docs { id title again: id } tickets { id } }"


async def test_node_ids_keep_graphql_cores_answers() -> None:
    """A Node's global ID inline, beside a subclass's, NodeIDs that are not text (one
    missing: an error there) and a type with its own ``resolve_id``."""
    answer = await both(DOCS)
    docs = answer["data"]["docs"]
    assert docs[0] == {"id": "RG9jOmE=", "title": "A", "again": "RG9jOmE="}  # Doc:a
    assert docs[1]["id"] == "RG9jOmI=" and docs[2]["id"] == "RG9jOjc=" and docs[3] is None
    assert answer["data"]["tickets"] == [{"id": "VGlja2V0OnQteA=="}]  # Ticket:t-x
    assert [e["path"] for e in answer["errors"]] == [["docs", 3, "id"]]


async def test_a_wrong_node_id_short_way_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliberately encode inline global IDs wrongly: the comparison must fail."""
    monkeypatch.setattr(straight, "to_base64", lambda type_name, node_id: f"{type_name}:{node_id}")
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both(DOCS)
    finally:
        PLAIN, COMPILED, PLANS = saved


async def test_errors_come_in_graphql_cores_order() -> None:
    answer = await both("{ b: maybeItems { loose strict } a: first { loose strict } }")
    assert [e["message"] for e in answer["errors"]] == [
        "loose 1 failed",
        "strict 2 failed",
        "loose 3 failed",
        "loose 1 failed",
    ]


async def test_skip_and_include_follow_the_variables() -> None:
    query = """query Q($yes: Boolean!, $no: Boolean!) {
      first { a: id @include(if: $yes) b: name @skip(if: $yes)
              ... on Item @include(if: $no) { tags } ...F @skip(if: $no) }
    }
    fragment F on Item { loose name }"""
    for yes, no in ((True, False), (False, True), (True, True), (False, False)):
        answer = await both(query, {"yes": yes, "no": no})
        first = answer["data"]["first"]
        assert ("a" in first) == yes and ("b" in first) == (not yes)
        assert ("tags" in first) == no and ("loose" in first) == (not no)


async def test_aliases_and_key_order_are_the_documents() -> None:
    answer = await both(
        '{ first { z: name id a: id name __typename y: echo } e2: echo(word: "ab", times: 2) '
        'e1: echo(word: "c") }'.replace("y: echo", "tags")
    )
    assert list(answer["data"]["first"]) == ["z", "id", "a", "name", "__typename", "tags"]
    assert list(answer["data"]) == ["first", "e2", "e1"]
    assert answer["data"]["e2"] == "abab"


async def test_abstract_types_resolve_as_graphql_core_does() -> None:
    answer = await both(
        "{ named { __typename name ... on Item { id strict } ... on Person { age } } }"
    )
    assert answer["data"] is None  # item 2's strict, named: [Named!]!
    answer = await both("{ named { __typename name ... on Person { age } ... on Item { id } } }")
    assert [n["__typename"] for n in answer["data"]["named"]] == ["Item", "Item", "Person"]


async def test_each_resolver_runs_once_per_field_occurrence() -> None:
    CALLS.clear()
    await COMPILED.execute(
        '{ maybeItems { loose l2: loose } items { id } e: echo x: echo(word: "x") }',
        context_value={"scores": DataLoader(load_scores)},
    )
    assert CALLS["maybe_items"] == 1 and CALLS["items"] == 1 and CALLS["echo"] == 2
    assert all(CALLS[f"loose:{i}"] == 2 for i in range(1, 5))  # two aliases, two calls


async def test_async_resolvers_of_one_level_batch_in_one_loader_call() -> None:
    answer = await both("{ maybeItems { score } asyncItems { score } }")
    assert BATCHES == [[1, 2, 3, 4]]  # the compiled run's own: one batch per level
    assert answer["data"]["maybeItems"][3] == {"score": 40}


async def test_resolvers_see_the_callers_context_variables() -> None:
    token = REQUEST_ID.set("req-7")
    try:
        answer = await both("{ first { request asyncRequest } }")
    finally:
        REQUEST_ID.reset(token)
    assert answer["data"]["first"] == {"request": "req-7", "asyncRequest": "req-7"}


async def test_unsupported_operations_fall_back_before_running() -> None:
    before = PLANS.fallback_runs
    CALLS.clear()
    result = await COMPILED.execute("{ __schema { queryType { name } } items { id } }")
    assert PLANS.fallback_runs == before + 1 and CALLS["items"] == 1
    assert result.data is not None and result.data["__schema"]["queryType"]["name"] == "Query"


async def test_a_broken_plan_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliberately break the plan's non-null check: the comparison must then fail."""

    def broken_non_null(inner: Any, message: str) -> Any:
        return inner

    monkeypatch.setattr(plan, "non_null", broken_non_null)
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both("{ maybeItems { id required } }")
    finally:
        PLAIN, COMPILED, PLANS = saved


# every field that holds an awaitable in some row, so that all are awaited
STORED_COLOURS = "{ stored { key colour text maybe part { label } } }"


async def test_a_wrong_enum_short_way_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enum members are serialized inline by a table made from strawberry's serializer;
    a wrong table (deliberately) must make the comparison fail."""
    real = straight.enum_names

    def wrong(leaf: Any) -> dict[str, str] | None:
        names = real(leaf)
        return {"RED": "BLUE"} if names is not None and "RED" in names else names

    monkeypatch.setattr(straight, "enum_names", wrong)
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both(STORED_COLOURS)
    finally:
        PLAIN, COMPILED, PLANS = saved
    monkeypatch.undo()
    assert (await both(STORED_COLOURS))["data"]["stored"][0]["colour"] == "RED"


# Stored and Part answer by their flat way (every field short) when every value allows.
STORED_FLAT = "{ stored { __typename key text colour part { label } labels shades } }"


async def test_flat_ways_keep_graphql_cores_answers() -> None:
    """Rows that allow it answer by the flat way; the others (nulls in non-null places,
    values of the wrong class, a null in a non-null list of leaves, a tuple, awaitables)
    fall back to the full way, which answers as graphql-core does."""
    answer = await both(STORED_FLAT)
    rows = answer["data"]["stored"]
    assert rows[0] == {
        "__typename": "Stored",
        "key": 1,
        "text": "one",
        "colour": "RED",
        "part": {"label": "p"},
        "labels": ["l", "m"],
        "shades": ["BLUE", None],
    }
    assert rows[11] is None and rows[12]["shades"] == [None]
    assert rows[13]["labels"] == ["a"] and rows[13]["shades"] is None
    paths = [e["path"] for e in answer["errors"]]
    assert ["stored", 11, "labels", 1] in paths and ["stored", 12, "shades", 0] in paths


@pytest.mark.parametrize(
    "wrong",
    [
        # the flat way gives up with an empty answer instead of falling back
        lambda lines: [line.replace("return MISS", "return {}") for line in lines],
        # a null item of a non-null list of leaves is let through
        lambda lines: [line.replace("if v is not None:", "if False:") for line in lines],
    ],
)
async def test_a_wrong_flat_way_is_caught(monkeypatch: pytest.MonkeyPatch, wrong: Any) -> None:
    """Deliberately break the flat way: the comparison with graphql-core must fail."""
    real = straight.flat_line
    made: list[list[str]] = []

    def broken(keys: list[str], shorts: list[Any]) -> list[str] | None:
        lines = real(keys, shorts)
        made.append(keys if lines is not None else [])
        return None if lines is None else wrong(lines)

    monkeypatch.setattr(straight, "flat_line", broken)
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both(STORED_FLAT)
        assert ["__typename", "key", "text", "colour", "part", "labels", "shades"] in made
    finally:
        PLAIN, COMPILED, PLANS = saved


async def test_a_wrong_typename_short_way_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """``__typename`` is answered by the plan: a wrong name (deliberately) must show."""
    monkeypatch.setattr(plan, "Typename", lambda name: straight.Typename(name.lower()))
    global PLAIN, COMPILED, PLANS
    saved = PLAIN, COMPILED, PLANS
    PLAIN, COMPILED, PLANS = schemas()
    try:
        with pytest.raises(AssertionError):
            await both(SHELVES)
    finally:
        PLAIN, COMPILED, PLANS = saved
