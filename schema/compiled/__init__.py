"""A compiled executor for known queries (issue 19): see ``executor`` for which queries
and what falls back to graphql-core, ``plan`` for how a plan is made, ``run`` for how it
runs."""

from __future__ import annotations

from schema.compiled.executor import CompiledExecutor, PlanCache


def compiled_executor(plans: PlanCache) -> type[CompiledExecutor]:
    """An executor class of its own per schema: each schema keeps its own plans."""
    return type("SchemaCompiledExecutor", (CompiledExecutor,), {"plans": plans})


__all__ = ["CompiledExecutor", "PlanCache", "compiled_executor"]
