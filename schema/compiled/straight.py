"""Straight-line source for an object plan: one generated function per object type at
one place of the document, instead of a loop over one closure per field.

Why: a page's ~450 leaves (scalars and enums read from plain attributes) each cost six
Python calls through the closures (the field, its attribute reader, the awaitable
check, the non-null and leaf completers, the serializer). Here a leaf is read and
serialized inline, guarded so that only the ordinary case takes the short way: the
attribute reads without error, its value's class is one that cannot be awaited or be
an exception, and the serializer gives a value. Anything else - an error, ``None``
for a non-null field, an awaitable, a value the serializer refuses - goes to the
field's own closure, which reads the attribute again (a plain attribute: no side
effect) and does what it always did: locate the error, null the position, park the
awaitable. Likewise an object-typed plain attribute (``Money``, a connection's edges and
``node``, a policy's product): a value of exactly its type's class runs the object's
plan inline, with the path and slot its closure would make; and a plain ``list`` of
such values (a policy's coverages, installments) runs each item's plan in one loop,
where the closures would call four completers and ``is_type_of`` per item. "Exactly its
class" stands for ``is_type_of``: the class strawberry made the type from (or the
generic one it specialises), and for a type with strawberry's generated ``is_type_of``
(every ``Node``) no ``strawberry.cast`` mark, so ``is_type_of`` would say yes. Other
fields call their closure as before, in order, so the response keys keep
graphql-core's order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from types import GeneratorType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLString,
)
from graphql.error import located_error
from graphql.language import FieldNode
from graphql.pyutils import Path, Undefined
from strawberry.relay.utils import to_base64
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from schema.compiled.run import Slot

if TYPE_CHECKING:
    from schema.compiled.plan import FieldExecutor
    from schema.compiled.run import Run

# Classes whose values are never awaited nor raised by the executor (learned as met).
PLAIN: set[type] = {str, int, float, bool, Decimal, datetime, date, time, UUID}
_NEVER_PLAIN = (BaseException, Awaitable, GeneratorType, type(None), type(Undefined))
_MAX_INT = 2**31 - 1


def learn(cls: type) -> bool:
    """Whether ``cls`` is plain (then remembered): not awaitable, not an exception."""
    if issubclass(cls, _NEVER_PLAIN) or hasattr(cls, "__await__"):
        return False
    PLAIN.add(cls)
    return True


class _Miss:
    """No short-way value: the field's closure decides."""

    __slots__ = ()


MISS = _Miss()


@dataclass(frozen=True)
class Leaf:
    """A field that can take the short way: a plain attribute of a leaf type."""

    attribute: str
    leaf: GraphQLLeafType
    nullable: bool


@dataclass(frozen=True)
class InlineObject:
    """A field that can take the short way: a plain attribute of an object type (or of
    a list of them: ``items`` says whether an item may be null) whose values are
    instances of exactly one of ``classes`` (strawberry's class, or the generic class it
    specialises), not cast (``marked``: the type's ``is_type_of`` is strawberry's, which
    reads the cast mark first)."""

    attribute: str
    classes: tuple[type, ...]
    marked: bool
    execute: Callable[..., dict[str, Any]]  # the object's own plan
    nodes: list[FieldNode]
    nullable: bool
    parent_name: str
    message: str  # graphql-core's, for a null where the field is non-null
    items: bool | None = None  # a list: whether its items may be null
    flat: Callable[[Any], Any] | None = None  # the object's flat way (``flat_line``), if any

    def guard(self) -> Callable[[Any], bool]:
        """Whether a value (every item of a list, checked before any item runs) may
        take the short way; else the field's closure takes the value."""
        classes = self.classes
        if len(classes) == 1:
            cls = classes[0]
            if self.marked:

                def one(v: Any) -> bool:
                    return v.__class__ is cls and getattr(v, TYPE_CAST_ATTRIBUTE, None) is None
            else:

                def one(v: Any) -> bool:
                    return v.__class__ is cls
        elif self.marked:

            def one(v: Any) -> bool:
                return v.__class__ in classes and getattr(v, TYPE_CAST_ATTRIBUTE, None) is None
        else:

            def one(v: Any) -> bool:
                return v.__class__ in classes

        if self.items is None:
            return one
        if self.items:
            return lambda values: (
                values.__class__ is list and all(v is None or one(v) for v in values)
            )
        return lambda values: values.__class__ is list and all(one(v) for v in values)

    def runner(self) -> Callable[..., Any]:
        """``execute(run, value, path, slot)`` for the field's value: the object's plan,
        or graphql-core's list completion of object items (an item's error nulls it, or
        the list when items are non-null: ``non_null`` and ``list_completer``)."""
        if self.items is None:
            return self.execute
        execute, nodes, nullable, message = self.execute, self.nodes, self.items, self.message
        flat = self.flat

        def run_items(run: Run, values: list[Any], path: Path, slot: Slot) -> list[Any]:
            items: list[Any] = []
            append = items.append
            for index, value in enumerate(values):
                if value is None:  # only where items may be null (the guard)
                    append(None)
                    continue
                if flat is not None and (done := flat(value)) is not MISS:
                    append(done)
                    continue
                here = Path(path, index, None)
                try:
                    append(
                        execute(run, value, here, Slot(items, index, here, nullable, slot, message))
                    )
                except Exception as raw:
                    error = located_error(raw, nodes, here.as_list())
                    if not nullable:
                        raise error from raw
                    run.errors.add(error, here)
                    append(None)
            return items

        return run_items


def _inline(index: int, key: str, inline: InlineObject, slow: str) -> list[str]:
    """Read the attribute; a value the guard lets through takes the object's flat way
    (if it has one) or runs inline, with the path and slot the field's closure would
    make and graphql-core's handling of an error it raises; a null where allowed;
    anything else goes to the closure."""
    nullable = inline.nullable
    flat = inline.items is None and inline.flat is not None
    return [
        "    v = MISS",
        "    try:",
        f"        v = source.{inline.attribute}",
        "    except Exception:",
        "        pass",
        *(
            [
                f"    if guard_{index}(v) and (r := flat_{index}(v)) is not MISS:",
                f"        result[{key!r}] = r",
                f"    elif guard_{index}(v):",
            ]
            if flat
            else [f"    if guard_{index}(v):"]
        ),
        f"        here = Path(path, {key!r}, {inline.parent_name!r})",
        "        try:",
        f"            result[{key!r}] = object_{index}(",
        f"                run, v, here, Slot(result, {key!r}, here, {nullable}, slot, "
        f"{inline.message!r})",
        "            )",
        "        except Exception as raw:",
        f"            run.field_failed(raw, nodes_{index}, here, {nullable}, result, {key!r})",
        *(["    elif v is None:", f"        result[{key!r}] = None"] if nullable else []),
        "    else:",
        f"        {slow}",
    ]


@dataclass(frozen=True)
class NodeId:
    """A field that can take the short way: strawberry's ``Node.id`` on a type that
    keeps the default ``resolve_id`` and ``resolve_typename``. For a source of exactly
    class ``cls`` whose ``attribute`` (the ``NodeID``) is text, the answer is what the
    resolver's ``GlobalID`` serializes to: ``to_base64(type name, id)``."""

    cls: type
    attribute: str
    type_name: str


def _node_id(index: int, key: str, short: NodeId, slow: str) -> list[str]:
    return [
        "    r = MISS",
        f"    if source.__class__ is node_{index}:",
        "        try:",
        f"            v = source.{short.attribute}",
        f"            r = to_base64({short.type_name!r}, v) if v.__class__ is str else MISS",
        "        except Exception:",
        "            r = MISS",
        "    if r is MISS:",
        f"        {slow}",
        "    else:",
        f"        result[{key!r}] = r",
    ]


def _value_expression(index: int, leaf: GraphQLLeafType) -> str:
    """The serialized value of ``v`` (class ``c``), or MISS: built-in scalars that give
    a value back as it is are checked by class; others call their serializer."""
    if leaf is GraphQLString or leaf is GraphQLID:
        return "v if c is str else MISS"
    if leaf is GraphQLBoolean:
        return "v if c is bool else MISS"
    if leaf is GraphQLInt:
        return f"v if c is int and -{_MAX_INT + 1} <= v <= {_MAX_INT} else MISS"
    if enum_names(leaf) is not None:
        return f"names_{index}.get(v._name_, MISS) if c is enum_{index} else MISS"
    return f"coerce_{index}(v) if c in PLAIN or learn(c) else MISS"


def enum_class(leaf: GraphQLLeafType) -> type[Enum] | None:
    """The Python enum strawberry made an enum type from (``wrapped_cls``), if any."""
    wrapped = getattr(leaf, "wrapped_cls", None)
    if isinstance(leaf, GraphQLEnumType) and isinstance(wrapped, type):
        return wrapped if issubclass(wrapped, Enum) else None
    return None


def enum_names(leaf: GraphQLLeafType) -> dict[str, str] | None:
    """For strawberry's enum types (which serialize a member of their Python enum by
    the first GraphQL value equal to the member's value): each member's answer, by the
    member's name, worked out by strawberry's own serializer (a member it refuses is
    left out, and goes to the field's closure)."""
    wrapped = enum_class(leaf)
    if wrapped is None:
        return None
    names: dict[str, str] = {}
    for member in wrapped:
        with suppress(Exception):
            names[member._name_] = leaf.coerce_output_value(member)
    return names


@dataclass(frozen=True)
class Typename:
    """``__typename``: the type's name, whatever the source."""

    name: str


@dataclass(frozen=True)
class LeafList:
    """A plain attribute holding a list of leaves (a policy's roles): only the flat way
    takes it short (``items``: whether an item may be null)."""

    attribute: str
    leaf: GraphQLLeafType
    nullable: bool
    items: bool


Short = Leaf | InlineObject | NodeId | Typename | LeafList
_NULL_ITEM = [
    "            if w is None:",
    "                items.append(None)",
    "                continue",
]


def _leaf_lines(index: int, key: str, leaf: Leaf, slow: str) -> list[str]:
    lines = [
        "    v = MISS",
        "    try:",
        f"        v = source.{leaf.attribute}",
        "        c = v.__class__",
        f"        r = {_value_expression(index, leaf.leaf)}",
        "    except Exception:",
        "        r = MISS",
        "    if r is MISS or r is None or r is Undefined:",
    ]
    if leaf.nullable:
        lines += [
            "        if v is None:",
            f"            result[{key!r}] = None",
            "        else:",
            f"            {slow}",
        ]
    else:
        lines.append(f"        {slow}")
    return [*lines, "    else:", f"        result[{key!r}] = r"]


def _leaf_namespace(index: int, leaf: GraphQLLeafType) -> dict[str, Any]:
    namespace: dict[str, Any] = {f"coerce_{index}": leaf.coerce_output_value}
    if (names := enum_names(leaf)) is not None:
        namespace |= {f"names_{index}": names, f"enum_{index}": enum_class(leaf)}
    return namespace


def straight_line(
    type_name: str,
    fields: list[FieldExecutor],
    keys: list[str],
    shorts: list[Short | None],
) -> tuple[Callable[..., dict[str, Any]], Callable[[Any], Any] | None]:
    """``execute(run, source, path, slot) -> result`` for these fields, in order, and
    the flat way when every field has a short one (``flat_line``)."""
    namespace: dict[str, Any] = {"MISS": MISS, "PLAIN": PLAIN, "learn": learn}
    namespace["to_base64"] = to_base64
    namespace |= {"Undefined": Undefined, "Path": Path, "Slot": Slot}
    lines = ["def execute(run, source, path, slot):", "    result = {}"]
    for index, (field, key, leaf) in enumerate(zip(fields, keys, shorts, strict=True)):
        namespace[f"field_{index}"] = field
        slow = f"field_{index}(run, source, path, slot, result)"
        if leaf is None or isinstance(leaf, LeafList):
            lines.append(f"    {slow}")
            continue
        if isinstance(leaf, Typename):
            lines.append(f"    result[{key!r}] = {leaf.name!r}")
            continue
        if isinstance(leaf, NodeId):
            namespace[f"node_{index}"] = leaf.cls
            lines += _node_id(index, key, leaf, slow)
            continue
        if isinstance(leaf, InlineObject):
            namespace |= {f"guard_{index}": leaf.guard(), f"object_{index}": leaf.runner()}
            namespace |= {f"nodes_{index}": leaf.nodes, f"flat_{index}": leaf.flat}
            lines += _inline(index, key, leaf, slow)
            continue
        namespace |= _leaf_namespace(index, leaf.leaf)
        lines += _leaf_lines(index, key, leaf, slow)
    lines.append("    return result")
    flat = flat_line(keys, shorts)
    if flat is not None:
        lines += flat
        for index, leaf in enumerate(shorts):
            if isinstance(leaf, LeafList):
                namespace |= _leaf_namespace(index, leaf.leaf)
    source = "\n".join(lines)
    exec(compile(source, f"<plan of {type_name}>", "exec"), namespace)  # noqa: S102
    execute: Callable[..., dict[str, Any]] = namespace["execute"]
    return execute, namespace.get("flat")


def flat_line(keys: list[str], shorts: list[Short | None]) -> list[str] | None:
    """Source of ``flat(source) -> result or MISS``, when every field has a short way:
    the object's answer when every field, and every field of the objects and lists below
    it, takes its short way (so no path, slot, error or awaitable is ever needed); MISS
    as soon as one would not, and the caller then runs the object the full way, which
    reads the same plain attributes again and does what graphql-core does. Uses the
    names ``straight_line`` puts in the namespace for the same fields."""
    lines = ["def flat(source):", "    result = {}"]
    for index, (key, short) in enumerate(zip(keys, shorts, strict=True)):
        if short is None or (isinstance(short, InlineObject) and short.flat is None):
            return None
        if isinstance(short, Typename):
            lines.append(f"    result[{key!r}] = {short.name!r}")
            continue
        read = ["    try:", f"        v = source.{short.attribute}", "    except Exception:"]
        read.append("        return MISS")
        nullable = getattr(short, "nullable", False)
        null = ["    elif v is None:", f"        result[{key!r}] = None"] if nullable else []
        if isinstance(short, NodeId):
            lines += [
                f"    if source.__class__ is not node_{index}:",
                "        return MISS",
                "    try:",
                f"        v = source.{short.attribute}",
                f"        r = to_base64({short.type_name!r}, v) if v.__class__ is str else MISS",
                "    except Exception:",
                "        return MISS",
                "    if r is MISS:",
                "        return MISS",
                f"    result[{key!r}] = r",
            ]
        elif isinstance(short, Leaf):
            lines += [
                "    try:",
                f"        v = source.{short.attribute}",
                "        c = v.__class__",
                f"        r = {_value_expression(index, short.leaf)}",
                "    except Exception:",
                "        return MISS",
                "    if r is MISS or r is None or r is Undefined:",
                *(["        if v is not None:"] if short.nullable else []),
                f"{'    ' if short.nullable else ''}        return MISS",
                *([f"        result[{key!r}] = None"] if short.nullable else []),
                "    else:",
                f"        result[{key!r}] = r",
            ]
        elif isinstance(short, InlineObject) and short.items is None:
            lines += [
                *read,
                f"    if guard_{index}(v):",
                f"        r = flat_{index}(v)",
                "        if r is MISS:",
                "            return MISS",
                f"        result[{key!r}] = r",
                *null,
                "    else:",
                "        return MISS",
            ]
        elif isinstance(short, InlineObject):
            lines += [
                *read,
                f"    if guard_{index}(v):",
                "        items = []",
                "        for w in v:",
                *(_NULL_ITEM if short.items else []),
                f"            r = flat_{index}(w)",
                "            if r is MISS:",
                "                return MISS",
                "            items.append(r)",
                f"        result[{key!r}] = items",
                *null,
                "    else:",
                "        return MISS",
            ]
        else:  # a list of leaves: each item as a Leaf's value
            lines += [
                *read,
                "    if v.__class__ is list:",
                "        items = []",
                "        for v in v:",  # the list is not read again
                "            try:",
                "                c = v.__class__",
                f"                r = {_value_expression(index, short.leaf)}",
                "            except Exception:",
                "                return MISS",
                "            if r is MISS or r is None or r is Undefined:",
                *(["                if v is not None:"] if short.items else []),
                f"{'    ' if short.items else ''}                return MISS",
                *(["                r = None"] if short.items else []),
                "            items.append(r)",
                f"        result[{key!r}] = items",
                *null,
                "    else:",
                "        return MISS",
            ]
    return [*lines, "    return result"]
