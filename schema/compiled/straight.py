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
awaitable. Likewise an object-typed plain attribute whose type needs no ``is_type_of``
(``Money``): an instance of exactly its class runs the object's plan inline, with the
path and slot its closure would make. Other fields call their closure as before, in
order, so the response keys keep graphql-core's order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from types import GeneratorType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from graphql import (
    GraphQLBoolean,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLString,
)
from graphql.language import FieldNode
from graphql.pyutils import Path, Undefined

from schema.compiled.run import Slot

if TYPE_CHECKING:
    from schema.compiled.plan import FieldExecutor

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
    """A field that can take the short way: a plain attribute of an object type that
    has no ``is_type_of``, whose values are instances of ``cls`` (strawberry's class)."""

    attribute: str
    cls: type
    execute: Callable[..., dict[str, Any]]  # the object's own plan
    nodes: list[FieldNode]
    nullable: bool
    parent_name: str
    message: str  # graphql-core's, for a null where the field is non-null


def _value_expression(index: int, leaf: GraphQLLeafType) -> str:
    """The serialized value of ``v`` (class ``c``), or MISS: built-in scalars that give
    a value back as it is are checked by class; others call their serializer."""
    if leaf is GraphQLString or leaf is GraphQLID:
        return "v if c is str else MISS"
    if leaf is GraphQLBoolean:
        return "v if c is bool else MISS"
    if leaf is GraphQLInt:
        return f"v if c is int and -{_MAX_INT + 1} <= v <= {_MAX_INT} else MISS"
    return f"coerce_{index}(v) if c in PLAIN or learn(c) else MISS"


def _inline_object(index: int, key: str, inline: InlineObject, slow: str) -> list[str]:
    message = inline.message
    return [
        "    v = MISS",
        "    try:",
        f"        v = source.{inline.attribute}",
        "    except Exception:",
        "        pass",
        f"    if v.__class__ is cls_{index}:",
        f"        here = Path(path, {key!r}, {inline.parent_name!r})",
        "        try:",
        f"            result[{key!r}] = object_{index}(",
        f"                run, v, here, Slot(result, {key!r}, here, {inline.nullable}, slot, "
        f"{message!r})",
        "            )",
        "        except Exception as raw:",
        f"            run.field_failed(raw, nodes_{index}, here, {inline.nullable}, result, "
        f"{key!r})",
        *(["    elif v is None:", f"        result[{key!r}] = None"] if inline.nullable else []),
        "    else:",
        f"        {slow}",
    ]


def straight_line(
    type_name: str,
    fields: list[FieldExecutor],
    keys: list[str],
    shorts: list[Leaf | InlineObject | None],
) -> Callable[..., dict[str, Any]]:
    """``execute(run, source, path, slot) -> result`` for these fields, in order."""
    namespace: dict[str, Any] = {"MISS": MISS, "PLAIN": PLAIN, "learn": learn}
    namespace |= {"Undefined": Undefined, "Path": Path, "Slot": Slot}
    lines = ["def execute(run, source, path, slot):", "    result = {}"]
    for index, (field, key, leaf) in enumerate(zip(fields, keys, shorts, strict=True)):
        namespace[f"field_{index}"] = field
        slow = f"field_{index}(run, source, path, slot, result)"
        if leaf is None:
            lines.append(f"    {slow}")
            continue
        if isinstance(leaf, InlineObject):
            namespace |= {f"cls_{index}": leaf.cls, f"object_{index}": leaf.execute}
            namespace[f"nodes_{index}"] = leaf.nodes
            lines += _inline_object(index, key, leaf, slow)
            continue
        namespace[f"coerce_{index}"] = leaf.leaf.coerce_output_value
        lines += [
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
        lines += ["    else:", f"        result[{key!r}] = r"]
    lines.append("    return result")
    source = "\n".join(lines)
    exec(compile(source, f"<plan of {type_name}>", "exec"), namespace)  # noqa: S102
    execute: Callable[..., dict[str, Any]] = namespace["execute"]
    return execute
