"""Validation rules of our own, run with graphql-core's before anything executes.

``OneCostlyMutationPerRequest``: every anonymous mutation that costs us real work (an
SMS, an argon2 hash, a call to WeChat, a token rotation) may appear once per operation.
Aliases (``a: staffLogin(...) b: staffLogin(...)``) and fragments cannot multiply the
work of one request; each call is rate-limited per client on top of that.
"""

from __future__ import annotations

import hashlib
from typing import Any

from graphql import (
    BREAK,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    print_ast,
)

# The root mutation fields (schema names) that cost work and need no login.
COSTLY_ANONYMOUS_MUTATIONS = frozenset(
    {
        "requestLoginCode",
        "loginWithCode",
        "wechatLogin",
        "bindWechatPhone",
        "staffLogin",
        "refreshToken",
    }
)


class OneCostlyMutationPerRequest(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if node.operation is not OperationType.MUTATION:
            return
        costly = [
            field
            for field in self._root_fields(node.selection_set, set())
            if field.name.value in COSTLY_ANONYMOUS_MUTATIONS
        ]
        # Fields with one response key are merged into one call (same arguments).
        calls = {(field.alias or field.name).value for field in costly}
        if len(calls) > 1:
            self.report_error(
                GraphQLError(
                    "一个请求只能包含一个登录类操作"
                    f"（{', '.join(sorted({f.name.value for f in costly}))}）",
                    costly,
                    extensions={"code": "ONE_LOGIN_PER_REQUEST"},
                )
            )

    def _root_fields(self, selection_set: SelectionSetNode, seen: set[str]) -> list[FieldNode]:
        """The operation's root fields, through inline fragments and fragment spreads."""
        fields: list[FieldNode] = []
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                fields.extend(self._root_fields(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in seen:  # cycles are refused elsewhere
                    seen.add(name)
                    fields.extend(self._root_fields(fragment.selection_set, seen))
        return fields


def allow_list_rule(allowed: frozenset[str]) -> type[ValidationRule]:
    """Only the manifest's operations run (``ANXIN_PERSISTED_QUERIES=allowlist``): a
    document is compared by the SHA-256 of its printed form (graphql's ``print``; the
    manifest holds every operation so printed), over HTTP and WebSocket alike. Made once
    per schema: the validation cache is keyed by the rule classes."""

    class OnlyAllowListedOperations(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> Any:
            printed = print_ast(node)
            if hashlib.sha256(printed.encode()).hexdigest() not in allowed:
                self.report_error(
                    GraphQLError(
                        "该操作不在允许的操作清单中",
                        extensions={"code": "OPERATION_NOT_ALLOWED"},
                    )
                )
            return BREAK

    return OnlyAllowListedOperations
