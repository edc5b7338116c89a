"""Turn one operation of a validated document into a plan: per object type met, the list
of its response keys, each with a small closure made for that field only.

Why: graphql-core decides, for every one of a page's ~660 fields, what kind of type it
completes, builds a resolve info and a path, calls strawberry's wrapper, which calls
``getattr``, and wraps awaitables in coroutines. Almost all of those decisions depend
only on the document, so they are made once here:

- a *plain attribute* (a strawberry field without resolver, extension, permission or
  exception handler: strawberry's own ``_get_basic_result`` fast path) is read with the
  schema's default resolver (``getattr``) and no info;
- every other field calls its ``GraphQLField.resolve`` (strawberry's wrapper: argument
  conversion, permission classes, field extensions stay), with graphql-core's info
  (strawberry's subclass) and ``get_argument_values``;
- leaves are coerced with the type's own ``coerce_output_value`` (scalars and enums);
- abstract types use the type's ``resolve_type`` (or the executor's) and graphql-core's
  ``ensure_valid_runtime_type``; objects call ``is_type_of`` where strawberry set one.

Fields are collected with graphql-core's own ``collect_fields``/``collect_subfields``
under the request's ``@skip``/``@include`` values, so merging, aliases and key order
are graphql-core's; the plan cache is keyed by those values. Whatever this module does
not handle raises ``Unsupported`` while the plan is built - before any resolver runs -
and the operation runs through graphql-core instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLAbstractType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_subfields
from graphql.execution.executor import Executor, invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.language import FieldNode, ValueNode, VariableNode
from graphql.pyutils import Path, Undefined, is_iterable
from graphql.type import is_abstract_type, is_leaf_type, is_non_null_type
from strawberry import relay

from schema.compiled.run import PENDING, Complete, Run, Slot
from schema.compiled.straight import (
    MISS,
    InlineObject,
    Leaf,
    LeafList,
    NodeId,
    Short,
    Typename,
    straight_line,
)

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor

# complete_leaf_value raises graphql-core's own message when a serializer gives nothing.
_leaf_error = Executor.complete_leaf_value
_IMMUTABLE = (str, int, float, bool, type(None))


class Unsupported(Exception):
    """The operation uses something the plan does not handle: graphql-core runs it."""


# execute(run, source, parent_path, parent_slot, result) sets result[key]
FieldExecutor = Callable[[Run, Any, "Path | None", "Slot | None", dict[str, Any]], None]


Execute = Callable[[Run, Any, "Path | None", "Slot | None"], dict[str, Any]]


class ObjectPlan:
    """The fields of one object type at one place of the document; ``execute(run,
    source, path, slot)`` gives its result (straight-line source: ``straight``): the
    flat way first when the type has one (``flat``), else or failing that ``full``."""

    __slots__ = ("execute", "fields", "flat", "full", "type")

    def __init__(
        self,
        object_type: GraphQLObjectType,
        fields: list[FieldExecutor],
        full: Execute,
        flat: Callable[[Any], Any] | None = None,
    ) -> None:
        self.type = object_type
        self.fields = fields
        self.full = full
        self.flat = flat
        self.execute = full if flat is None else flat_first(flat, full)


def flat_first(flat: Callable[[Any], Any], full: Execute) -> Execute:
    def execute(run: Run, source: Any, path: Path | None, slot: Slot | None) -> dict[str, Any]:
        result = flat(source)
        return full(run, source, path, slot) if result is MISS else result

    return execute


class Planner:
    """Builds the plan of one operation for one executor's fragments and variables."""

    def __init__(self, executor: CompiledExecutor) -> None:
        self.executor = executor
        self.schema = executor.schema
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        config = getattr(strawberry_schema, "config", None)
        self.default_resolver = getattr(config, "default_resolver", getattr)
        self.made: dict[tuple[Any, ...], ObjectPlan] = {}

    # ---------------------------------------------------------------- objects

    def object_plan(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> ObjectPlan:
        """Made once per planner for one type at one place (``short_way`` asks too)."""
        key = (object_type.name, *(id(d.node) for d in details))
        plan = self.made.get(key)
        if plan is None:
            plan = self.made[key] = self.new_object_plan(object_type, details)
        return plan

    def new_object_plan(
        self, object_type: GraphQLObjectType, details: FieldDetailsList
    ) -> ObjectPlan:
        executor = self.executor
        grouped, defer_usages, _ = collect_subfields(
            self.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            object_type,
            details,
            executor.hide_suggestions,
        )
        return self.fields_plan(object_type, grouped, bool(defer_usages))

    def fields_plan(
        self, object_type: GraphQLObjectType, grouped: dict[str, FieldDetailsList], deferred: bool
    ) -> ObjectPlan:
        if deferred:
            raise Unsupported("@defer")
        fields = [self.field_executor(object_type, key, d) for key, d in grouped.items()]
        shorts = [self.short_way(object_type, details) for details in grouped.values()]
        full, flat = straight_line(object_type.name, fields, list(grouped), shorts)
        return ObjectPlan(object_type, fields, full, flat)

    def short_way(self, parent: GraphQLObjectType, details: FieldDetailsList) -> Short | None:
        """How the field may take the short way: ``__typename``; if it is a plain
        attribute (read by ``getattr``): a ``Leaf`` of a scalar or enum type (or a
        ``LeafList`` of one), an ``InlineObject`` of an object type (or a list of one)
        whose ``is_type_of`` is none or strawberry's own (an exact class then stands for
        it)."""
        name = details[0].node.name.value
        if name == "__typename":
            return Typename(parent.name)
        if name.startswith("__") or self.default_resolver is not getattr:
            return None
        field_def = self.schema.get_field(parent, name)
        if field_def is None:
            return None
        inner = nullable_of(field_def.type)
        nullable = not is_non_null_type(field_def.type)
        node_id = relay_node_id(parent, field_def)
        if node_id is not None:
            return node_id
        attribute = self.plain_attribute(field_def)
        if attribute is None or not attribute.isidentifier():
            return None
        if is_leaf_type(inner):
            return Leaf(attribute, inner, nullable)
        items = None
        if isinstance(inner, GraphQLList):
            items = not is_non_null_type(inner.of_type)
            inner = nullable_of(inner.of_type)
            if is_leaf_type(inner):
                return LeafList(attribute, inner, nullable, items)
        if not isinstance(inner, GraphQLObjectType):
            return None
        classes = exact_classes(inner)
        if classes is None:
            return None
        plan = self.object_plan(inner, details)
        return InlineObject(
            attribute,
            classes,
            inner.is_type_of is not None,
            plan.full,
            [d.node for d in details],
            nullable,
            parent.name,
            f"Cannot return null for non-nullable field {parent.name}.{name}.",
            items,
            plan.flat,
        )

    # ---------------------------------------------------------------- fields

    def field_executor(
        self, parent: GraphQLObjectType, key: str, details: FieldDetailsList
    ) -> FieldExecutor:
        if any(d.fragment_variable_values is not None or d.defer_usage for d in details):
            raise Unsupported("fragment arguments or @defer")
        node = details[0].node
        name = node.name.value
        nodes = [d.node for d in details]
        parent_name = parent.name
        if name == "__typename":
            return typename_field(key, parent_name)
        if name.startswith("__"):
            raise Unsupported("introspection")
        field_def = self.schema.get_field(parent, name)
        if field_def is None:
            raise Unsupported(f"unknown field {parent_name}.{name}")
        return_type = field_def.type
        message = f"Cannot return null for non-nullable field {parent_name}.{name}."
        complete = self.completer(return_type, details, field_def, parent, message)
        # lists and objects need their path and slot (their items and fields have some)
        composite = not is_leaf_type(nullable_of(return_type))
        nullable = not is_non_null_type(return_type)
        attribute = self.plain_attribute(field_def)
        if attribute is not None:
            read = attribute_reader(self.default_resolver, attribute)
            return value_field(
                key, parent_name, nodes, read, complete, composite, nullable, message
            )
        resolve = field_def.resolve or self.executor.field_resolver
        arguments = self.arguments(field_def, details)
        return resolver_field(
            key,
            parent,
            field_def,
            nodes,
            resolve,
            arguments,
            complete,
            composite,
            nullable,
            message,
        )

    def plain_attribute(self, field_def: GraphQLField) -> str | None:
        """The attribute a field reads, when it is strawberry's basic field: no resolver,
        no extension (permissions are extensions), no exception handler (strawberry then
        uses ``_get_basic_result``, which only calls ``default_resolver``)."""
        field = (field_def.extensions or {}).get("strawberry-definition")
        resolve = field_def.resolve
        if (
            field is None
            or resolve is None
            or getattr(resolve, "__name__", "") != "_get_basic_result"
            or not field.is_basic_field
        ):
            return None
        name: str = field.python_name
        return name

    def arguments(
        self, field_def: GraphQLField, details: FieldDetailsList
    ) -> Callable[[CompiledExecutor], dict[str, Any]]:
        node = details[0].node
        if not field_def.args and not node.arguments:
            return no_arguments
        hide = self.executor.hide_suggestions

        def coerce(executor: CompiledExecutor) -> dict[str, Any]:
            return get_argument_values(field_def, node, executor.variable_values, None, hide)

        if any(has_variable(argument.value) for argument in node.arguments or ()):
            return coerce
        return constant_arguments(coerce)

    # ---------------------------------------------------------------- completion

    def completer(
        self,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        field_def: GraphQLField,
        parent: GraphQLObjectType,
        message: str,
    ) -> Complete:
        nodes = [d.node for d in details]
        if isinstance(return_type, GraphQLNonNull):
            inner = self.completer(return_type.of_type, details, field_def, parent, message)
            return non_null(inner, message)
        if isinstance(return_type, GraphQLList):
            item_type = return_type.of_type
            item = self.completer(item_type, details, field_def, parent, message)
            return list_completer(
                item,
                nodes,
                not is_non_null_type(item_type),
                not is_leaf_type(nullable_of(item_type)),
                message,
                "Expected Iterable, but did not find one for field"
                f" '{parent}.{field_def_name(details)}'.",
            )
        if is_leaf_type(return_type):
            return leaf_completer(return_type)
        if isinstance(return_type, GraphQLObjectType):
            return object_completer(
                return_type, self.object_plan(return_type, details), details, field_def, parent
            )
        if is_abstract_type(return_type):
            abstract: GraphQLAbstractType = return_type
            plans = {
                possible.name: object_completer(
                    possible, self.object_plan(possible, details), details, field_def, parent
                )
                for possible in self.schema.get_possible_types(abstract)
            }
            resolve_type = abstract.resolve_type or self.executor.type_resolver
            return abstract_completer(abstract, resolve_type, plans, details, field_def, parent)
        raise Unsupported(f"output type {return_type}")


_NODE_ID = relay.Node.__dict__["_id"].__func__
_RESOLVE_ID = relay.Node.__dict__["resolve_id"].__func__
_RESOLVE_TYPENAME = relay.Node.__dict__["resolve_typename"].__func__


def relay_node_id(parent: GraphQLObjectType, field_def: GraphQLField) -> NodeId | None:
    """strawberry's ``Node.id`` field (``ID!``, its resolver alone: no extension, no
    permission) of a type whose class keeps the default ``resolve_id`` and
    ``resolve_typename``: then its answer is ``to_base64(parent name, NodeID attribute)``
    for an instance of exactly that class (``NodeId``)."""
    field = (field_def.extensions or {}).get("strawberry-definition")
    resolver = getattr(field, "base_resolver", None)
    wrapped = getattr(getattr(resolver, "wrapped_func", None), "__func__", None)
    if wrapped is not _NODE_ID or field.extensions or field.permission_classes:  # type: ignore[union-attr]
        return None
    if not (isinstance(field_def.type, GraphQLNonNull) and field_def.type.of_type is GraphQLID):
        return None
    definition = (parent.extensions or {}).get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if not isinstance(origin, type) or not issubclass(origin, relay.Node):
        return None
    if (
        getattr(origin.resolve_id, "__func__", None) is not _RESOLVE_ID
        or getattr(origin.resolve_typename, "__func__", None) is not _RESOLVE_TYPENAME
    ):
        return None
    try:
        attribute = origin.resolve_id_attr()
    except Exception:
        return None
    if not isinstance(attribute, str) or not attribute.isidentifier():
        return None
    return NodeId(origin, attribute, parent.name)


def exact_classes(object_type: GraphQLObjectType) -> tuple[type, ...] | None:
    """The classes whose instances need no ``is_type_of`` call: strawberry's class of
    the type and, for a generic type's specialisation (``PolicyEdge``), the generic
    class; None when the type has an ``is_type_of`` of its own (not strawberry's), or
    its class could be awaited or raised."""
    is_type_of = object_type.is_type_of
    if is_type_of is not None and not strawberry_generated(is_type_of):
        return None
    definition = (object_type.extensions or {}).get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if not isinstance(origin, type):
        return None
    classes: tuple[type, ...] = (origin,)
    generic = getattr(getattr(definition, "concrete_of", None), "origin", None)
    if isinstance(generic, type) and generic is not origin:
        if is_type_of is not None:
            return None  # strawberry's then also accepts any specialisation: keep it
        classes += (generic,)
    for cls in classes:
        if issubclass(cls, BaseException) or hasattr(cls, "__await__"):
            return None
        if hasattr(cls, "__aiter__"):
            return None
    return classes


def unwrap(type_: GraphQLOutputType) -> GraphQLOutputType:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def nullable_of(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def field_def_name(details: FieldDetailsList) -> str:
    return details[0].node.name.value


def has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    children = getattr(value, "values", None) or [
        field.value for field in getattr(value, "fields", None) or ()
    ]
    return any(has_variable(child) for child in children)


def no_arguments(executor: CompiledExecutor) -> dict[str, Any]:
    return {}


def constant_arguments(
    coerce: Callable[[CompiledExecutor], dict[str, Any]],
) -> Callable[[CompiledExecutor], dict[str, Any]]:
    """Literal arguments coerce to the same values every time: once, if they are plain
    values (a resolver gets its own dict by ``**``; lists and inputs are coerced anew)."""
    cached: list[dict[str, Any]] = []

    def arguments(executor: CompiledExecutor) -> dict[str, Any]:
        if cached:
            return cached[0]
        values = coerce(executor)
        if all(isinstance(v, _IMMUTABLE) for v in values.values()):
            cached.append(values)
        return values

    return arguments


def attribute_reader(default_resolver: Callable[..., Any], name: str) -> Callable[[Any], Any]:
    if default_resolver is getattr:

        def read(source: Any) -> Any:
            return getattr(source, name)

        return read

    def read_with(source: Any) -> Any:
        return default_resolver(source, name)

    return read_with


# ------------------------------------------------------------------ field closures


def typename_field(key: str, type_name: str) -> FieldExecutor:
    def execute(
        run: Run, source: Any, path: Path | None, slot: Slot | None, result: dict[str, Any]
    ) -> None:
        result[key] = type_name

    return execute


def value_field(
    key: str,
    parent_name: str,
    nodes: list[FieldNode],
    read: Callable[[Any], Any],
    complete: Complete,
    composite: bool,
    nullable: bool,
    message: str,
) -> FieldExecutor:
    """A plain attribute: read it, complete it; no info, and a path only when needed."""

    def execute(
        run: Run,
        source: Any,
        parent_path: Path | None,
        parent_slot: Slot | None,
        result: dict[str, Any],
    ) -> None:
        path = None
        try:
            value = read(source)
            if composite or run.is_awaitable(value):
                here = path = Path(parent_path, key, parent_name)
                slot = Slot(result, key, here, nullable, parent_slot, message)
                if run.is_awaitable(value):
                    run.park(
                        value, slot, nodes, lambda r, v: complete(r, v, here, slot, here), here
                    )
                    result[key] = None
                    return
                completed = complete(run, value, here, slot, here)
                result[key] = None if completed is PENDING else completed
            else:
                result[key] = complete(run, value, parent_path, None, parent_path)  # type: ignore[arg-type]
        except Exception as raw:
            if path is None:
                path = Path(parent_path, key, parent_name)
            run.field_failed(raw, nodes, path, nullable, result, key)

    return execute


def resolver_field(
    key: str,
    parent: GraphQLObjectType,
    field_def: GraphQLField,
    nodes: list[FieldNode],
    resolve: Callable[..., Any],
    arguments: Callable[[CompiledExecutor], dict[str, Any]],
    complete: Complete,
    composite: bool,
    nullable: bool,
    message: str,
) -> FieldExecutor:
    """A field with a real resolver: strawberry's wrapper with graphql-core's info."""
    parent_name = parent.name

    def execute(
        run: Run,
        source: Any,
        parent_path: Path | None,
        parent_slot: Slot | None,
        result: dict[str, Any],
    ) -> None:
        path = Path(parent_path, key, parent_name)
        try:
            executor = run.executor
            info = executor.build_resolve_info(field_def, nodes, parent, path)
            value = resolve(source, info, **arguments(executor))
            if run.is_awaitable(value):
                slot = Slot(result, key, path, nullable, parent_slot, message)
                run.park(value, slot, nodes, lambda r, v: complete(r, v, path, slot, path), path)
                result[key] = None
                return
            position = (
                Slot(result, key, path, nullable, parent_slot, message) if composite else None
            )
            completed = complete(run, value, path, position, path)
            result[key] = None if completed is PENDING else completed
        except Exception as raw:
            run.field_failed(raw, nodes, path, nullable, result, key)

    return execute


# ------------------------------------------------------------------ completers


def non_null(inner: Complete, message: str) -> Complete:
    def complete(run: Run, value: Any, path: Path, slot: Slot | None, field_path: Path) -> Any:
        if isinstance(value, Exception):
            raise value
        completed = inner(run, value, path, slot, field_path)
        if completed is None:
            raise TypeError(message)
        return completed

    return complete


def leaf_completer(leaf: GraphQLLeafType) -> Complete:
    coerce = leaf.coerce_output_value

    def complete(run: Run, value: Any, path: Path, slot: Slot | None, field_path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            _leaf_error(leaf, value)
        return coerced

    return complete


def list_completer(
    item: Complete,
    nodes: list[FieldNode],
    item_nullable: bool,
    item_composite: bool,
    message: str,
    not_iterable: str,
) -> Complete:
    def complete(run: Run, value: Any, path: Path, slot: Slot | None, field_path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        if run.executor.is_async_iterable(value):
            collected = collect_async(value)
            return run.park(
                collected,
                slot,  # type: ignore[arg-type]
                nodes,
                lambda r, items: complete(r, items, path, slot, field_path),
                field_path,
            )
        if not is_iterable(value):
            raise GraphQLError(not_iterable)
        items: list[Any] = []
        append = items.append
        is_awaitable = run.is_awaitable
        for index, element in enumerate(value):
            item_path = None
            try:
                if item_composite or is_awaitable(element):
                    item_path = Path(path, index, None)
                    item_slot = Slot(items, index, item_path, item_nullable, slot, message)
                    if is_awaitable(element):
                        run.park(
                            element,
                            item_slot,
                            nodes,
                            item_continuation(item, item_path, item_slot, field_path),
                            field_path,
                        )
                        append(None)
                        continue
                    completed = item(run, element, item_path, item_slot, field_path)
                    append(None if completed is PENDING else completed)
                else:
                    append(item(run, element, path, None, field_path))
            except Exception as raw:
                if item_path is None:
                    item_path = Path(path, index, None)
                error = located_error(raw, nodes, item_path.as_list())
                if not item_nullable:
                    raise error from raw
                run.errors.add(error, item_path)
                append(None)
        return items

    return complete


def item_continuation(
    item: Complete, path: Path, slot: Slot, field_path: Path
) -> Callable[[Run, Any], Any]:
    return lambda run, value: item(run, value, path, slot, field_path)


async def collect_async(iterable: Any) -> list[Any]:
    return [element async for element in iterable]


def object_completer(
    object_type: GraphQLObjectType,
    plan: ObjectPlan,
    details: FieldDetailsList,
    field_def: GraphQLField,
    parent: GraphQLObjectType,
) -> Complete:
    is_type_of = object_type.is_type_of
    nodes = [d.node for d in details]
    # strawberry's generated is_type_of ignores its info: skip building one per object.
    needs_info = is_type_of is not None and not strawberry_generated(is_type_of)
    execute = plan.execute

    def complete(run: Run, value: Any, path: Path, slot: Slot | None, field_path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        if is_type_of is not None:
            info = (
                run.executor.build_resolve_info(field_def, nodes, parent, field_path)
                if needs_info
                else None
            )
            matches = is_type_of(value, info)  # type: ignore[arg-type]
            if run.is_awaitable(matches):

                def then(run: Run, matched: Any) -> Any:
                    if not matched:
                        raise invalid_return_type_error(object_type, value, details)
                    return execute(run, value, path, slot)

                return run.park(matches, slot, nodes, then, field_path)  # type: ignore[arg-type]
            if not matches:
                raise invalid_return_type_error(object_type, value, details)
        return execute(run, value, path, slot)

    return complete


def abstract_completer(
    abstract: GraphQLAbstractType,
    resolve_type: Callable[..., Any],
    plans: dict[str, Complete],
    details: FieldDetailsList,
    field_def: GraphQLField,
    parent: GraphQLObjectType,
) -> Complete:
    nodes = [d.node for d in details]

    def complete(run: Run, value: Any, path: Path, slot: Slot | None, field_path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if isinstance(value, Exception):
            raise value
        executor = run.executor
        info = executor.build_resolve_info(field_def, nodes, parent, field_path)
        runtime = resolve_type(value, info, abstract)

        def finish(run: Run, name: Any) -> Any:
            object_type = executor.ensure_valid_runtime_type(name, abstract, details, info, value)
            return plans[object_type.name](run, value, path, slot, field_path)

        if run.is_awaitable(runtime):
            return run.park(runtime, slot, nodes, finish, field_path)  # type: ignore[arg-type]
        return finish(run, runtime)

    return complete


def strawberry_generated(function: Callable[..., Any]) -> bool:
    code = getattr(function, "__code__", None)
    return (
        getattr(function, "__module__", "") == "strawberry.schema.schema_converter"
        and code is not None
        and code.co_varnames[1:2] == ("_info",)
    )
