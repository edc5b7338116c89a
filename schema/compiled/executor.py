"""The executor strawberry hands graphql-core (``Schema(execution_context_class=...)``):
strawberry's own, which runs a *known* query from its compiled plan and everything else
exactly as before.

Which queries are compiled: any query operation of a document the schema's
``ParserCache`` hands out again, i.e. the same query text seen a second time (a
persisted query by hash is the same text every time). The first run of a document goes
through graphql-core, so an ad-hoc GraphiQL query never pays for planning. The plan is
kept per (document, operation name, values of the ``@skip``/``@include`` variables),
holding the document so that its ``id`` cannot be reused while cached.

Decided before anything runs: the plan is built (or found unsupported) before the first
resolver is called, so nothing runs twice. Falls back to graphql-core: mutations and
subscriptions, introspection fields (``__schema``, ``__type``; ``__typename`` is
compiled), directives other than ``@skip``/``@include``, fragment arguments,
``@defer``/``@stream``, schema extensions that act as resolver middleware, an abort
signal or execution hooks, and the error-propagation opt-out directive.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    visit,
)
from graphql.execution import ExecutionResult
from graphql.execution.collect_fields import collect_fields
from graphql.language import VariableNode
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.compiled.plan import ObjectPlan, Planner, Unsupported
from schema.compiled.run import Run, Slot

CONDITIONS = frozenset({"skip", "include"})


class _DocumentScan(Visitor):
    """What a plan's key and eligibility need from the document: the variables that
    ``@skip``/``@include`` read, and whether any other directive is used."""

    def __init__(self) -> None:
        super().__init__()
        self.condition_variables: list[str] = []
        self.other_directive = False

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value not in CONDITIONS:
            self.other_directive = True
            return
        for argument in node.arguments or ():
            value = argument.value
            if isinstance(value, VariableNode) and value.name.value not in self.condition_variables:
                self.condition_variables.append(value.name.value)


@dataclass
class _Known:
    """One operation of one parsed document: how often it ran, and its plans."""

    operation: OperationDefinitionNode
    runs: int = 0
    supported: bool = True
    condition_variables: tuple[str, ...] = ()
    plans: dict[tuple[Any, ...], ObjectPlan | None] = field(default_factory=dict)


@dataclass
class PlanCache:
    """The plans of one schema; counts say what ran how (tests and benches read them)."""

    enabled: bool = True
    compile_after: int = 2  # runs of the same document before it is compiled
    max_documents: int = 500
    known: OrderedDict[int, _Known] = field(default_factory=OrderedDict)
    compiled_runs: int = 0
    fallback_runs: int = 0

    def entry(
        self,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
    ) -> _Known:
        """The operation node is the parsed document's own (``ParserCache`` gives the
        same document for the same text), so its identity names (document, operation)."""
        key = id(operation)
        known = self.known.get(key)
        if known is None or known.operation is not operation:
            known = _Known(operation)
            scan = _DocumentScan()
            for node in (operation, *fragments.values()):
                visit(node, scan)
            known.supported = not scan.other_directive
            known.condition_variables = tuple(scan.condition_variables)
            self.known[key] = known
            while len(self.known) > self.max_documents:
                self.known.popitem(last=False)
        else:
            self.known.move_to_end(key)
        known.runs += 1
        return known


class CompiledExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor; ``execute_operation`` runs a compiled plan when there is
    one (``plans`` is set per schema by ``compiled_executor``)."""

    plans: PlanCache

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Any]:
        plan = self._plan() if serially is None else None
        if plan is None:
            self.plans.fallback_runs += 1
            return super().execute_operation(serially)
        self.plans.compiled_runs += 1
        return self._run(plan)

    def _plan(self) -> ObjectPlan | None:
        cache = self.plans
        operation = self.operation
        if (
            not cache.enabled
            or operation.operation is not OperationType.QUERY
            or not self.error_propagation
            or self.abort_signal is not None
            or self.hooks is not None
            or (self.middleware_manager is not None and self.middleware_manager.middlewares)
        ):
            return None
        known = cache.entry(operation, self.fragment_definitions)
        if not known.supported or known.runs < cache.compile_after:
            return None
        coerced = self.variable_values.coerced
        key = tuple(coerced.get(variable) for variable in known.condition_variables)
        if key in known.plans:
            return known.plans[key]
        try:
            plan = self._build()
        except (Unsupported, GraphQLError, RecursionError):
            plan = None
        known.plans[key] = plan
        return plan

    def _build(self) -> ObjectPlan:
        schema = self.schema
        root_type = schema.get_root_type(self.operation.operation)
        if root_type is None:
            raise Unsupported("no root type")
        grouped, defer_usages, _ = collect_fields(
            schema,
            self.fragments,
            self.variable_values,
            root_type,
            self.operation,
            self.hide_suggestions,
        )
        return Planner(self).fields_plan(root_type, grouped, bool(defer_usages))

    def _run(self, plan: ObjectPlan) -> AwaitableOrValue[ExecutionResult]:
        run = Run(self)
        holder: dict[str, Any] = {"data": None}
        root = Slot(holder, "data", None, True, None, "")
        try:
            holder["data"] = plan.execute(run, self.root_value, None, root)
        except GraphQLError as error:  # a non-null root field failed
            run.settle()
            self.collected_errors.add(error, None)
            return self.build_response(None)  # type: ignore[return-value]
        if not run.parked:
            return self.build_response(holder["data"])  # type: ignore[return-value]
        return run.drive(holder)
