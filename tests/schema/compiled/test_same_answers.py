"""Every query the project documents or its clients send, run both ways on the demo data
(graphql-core alone, then the compiled plan) with a customer's and a staff session:
``data`` and every error's message, path, locations and extensions must be identical.

Where the operations come from: the README's ```graphql blocks, the GraphiQL tabs
(``api/static/graphiql/anxin-graphiql.js``), ``tests/clients/operations``, the inline
operations of the JS clients under ``tests/clients`` and of the client tests in
``tests/api``. Mutations and subscriptions are not compiled (they run through
graphql-core either way), so only queries are compared; variables are filled from the
demo data by name and type.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    print_ast,
)
from starlette.applications import Starlette
from strawberry import relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.app import schema_options
from api.demo import seed_everything
from api.persisted_queries import operations_of, sources_in
from api.services import Services
from api.settings import Settings
from models.claims import Claim
from models.customers import Customer
from models.policies import Policy, Product
from models.staff import StaffUser
from schema import build_schema
from schema.compiled import CompiledExecutor
from storage.local import LocalStorage
from tests.schema.compiled.helpers import both_ways, customer_token, plans_of, staff_token

ROOT = Path(__file__).resolve().parents[3]
DEMO_PHONE = "13800000001"  # 张伟: holder, insured or beneficiary of ten policies


def _with_fragments(texts: list[str]) -> list[str]:
    """A client file's operations with the fragments it defines in its other strings
    (``${FIELDS}`` interpolations dropped: the fragments are appended instead)."""
    texts = [re.sub(r"\$\{\w+\}", "", text) for text in texts]
    fragments = "\n".join(t for t in texts if t.lstrip().startswith("fragment"))
    return [f"{text}\n{fragments}" for text in texts if not text.lstrip().startswith("fragment")]


def _documented_texts() -> dict[str, list[str]]:
    tabs = (ROOT / "api" / "static" / "graphiql" / "anxin-graphiql.js").read_text()
    scripts = sorted(
        [*ROOT.glob("tests/clients/*.mjs"), *ROOT.glob("tests/clients/miniprogram/*.js")]
    )
    python_tests = [p.read_text() for p in sorted(ROOT.glob("tests/api/*.py"))]
    return {
        "README": sources_in([ROOT / "README.md"]),
        "GraphiQL tabs": re.findall(r"query: `(.*?)`,", tabs, flags=re.DOTALL),
        "tests/clients/operations": sources_in([ROOT / "tests" / "clients" / "operations"]),
        "JS clients": [
            text
            for script in scripts
            for text in _with_fragments(
                re.findall(r"`\s*((?:query|fragment)\b[^`]*)`", script.read_text())
            )
        ],
        "tests/api": [
            text
            for source in python_tests
            for text in _with_fragments(
                re.findall(r'"""\s*((?:query|fragment)\b.*?|\{.*?)"""', source, re.S)
                + re.findall(r'"((?:query)\b[^"\n]*\{[^"\n]*)"', source)
            )
        ],
    }


def documented_queries() -> list[tuple[str, DocumentNode]]:
    """(where, document) for every query operation, each once."""
    found: dict[str, tuple[str, DocumentNode]] = {}
    for where, texts in _documented_texts().items():
        for text in texts:
            try:
                documents = operations_of(text)
            except GraphQLError:
                continue
            for document in documents:
                operation = _operation(document)
                if operation.operation is OperationType.QUERY:
                    found.setdefault(print_ast(document), (where, document))
    return list(found.values())


def _operation(document: DocumentNode) -> OperationDefinitionNode:
    return next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))


def _global_id(type_name: str, value: Any) -> str:
    return relay.to_base64(type_name, str(value))


async def demo_ids(services: Services) -> dict[str, str]:
    customer = await Customer.get(phone_hash=services.pii.phone_hash(DEMO_PHONE))
    policy = await Policy.filter(holder_id=customer.id).order_by("number").first()
    claim = await Claim.all().order_by("report_number").first()
    product = await Product.all().order_by("code").first()
    staff = await StaffUser.get(username="adjuster.wang")
    assert policy and claim and product
    return {
        "Policy": _global_id("Policy", policy.id),
        "Claim": _global_id("Claim", claim.id),
        "Product": _global_id("Product", product.id),
        "Customer": _global_id("Customer", customer.id),
        "StaffMember": _global_id("StaffMember", staff.id),
    }


ID_BY_NAME = {
    "policyId": "Policy",
    "claimId": "Claim",
    "productId": "Product",
    "customerId": "Customer",
    "staffId": "StaffMember",
}


def variables_for(document: DocumentNode, ids: dict[str, str]) -> dict[str, Any]:
    """Values for the operation's variables from the demo data (the documented queries
    use IDs, dates and page sizes)."""
    operation = _operation(document)
    text = print_ast(document)
    today = date.today()
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_name = print_ast(definition.type).rstrip("!")
        if type_name == "ID":
            fragment = re.search(r"\.\.\. on (\w+)", text)
            wanted = ID_BY_NAME.get(name) or (fragment.group(1) if fragment else "Policy")
            values[name] = ids.get(wanted, ids["Policy"])
        elif type_name == "Date":
            early = name in ("day", "firstDay", "from", "since", "startDate")
            values[name] = (today - timedelta(days=30) if early else today).isoformat()
        elif type_name == "Int":
            values[name] = 5
    return values


QUERIES = documented_queries()


def test_the_documented_queries_are_found() -> None:
    where = {w for w, _ in QUERIES}
    assert where >= {"README", "GraphiQL tabs", "tests/clients/operations", "JS clients"}
    assert len(QUERIES) >= 60


async def test_every_documented_query_answers_the_same_compiled(
    settings: Settings,
    services: Services,
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_everything(settings, services, activity=False)
    # A signed download URL expires a whole number of seconds from now: the two runs of
    # a query must sign at the same second, or a loaded machine makes them differ.
    signed_at = time.time()
    monkeypatch.setattr(services.storage, "clock", lambda: signed_at)
    ids = await demo_ids(services)
    # Signed download URLs carry an expiry in whole seconds: on a busy machine the two
    # runs of one query straddled a second and differed there. One instant for both.
    if isinstance(services.storage, LocalStorage):
        instant = services.storage.clock()
        monkeypatch.setattr(services.storage, "clock", lambda: instant)
    sessions = {
        "customer": await customer_token(services, DEMO_PHONE),
        "staff": await staff_token(services, "supervisor.zhao"),
    }
    plans = plans_of(app)
    plans.compile_after = 1
    compiled = 0
    differences = []
    for where, document in QUERIES:
        query = print_ast(document)
        name = _operation(document).name
        variables = variables_for(document, ids)
        for who, token in sessions.items():
            plain, answer, ran = await both_ways(
                client, plans, query, variables, name.value if name else None, token
            )
            introspects = "__schema" in query or "__type(" in query
            body = json.loads(plain)
            request_error = body.get("data") is None and "errors" in body
            if ran == introspects and not request_error:
                differences.append(f"{where} {name and name.value} ({who}): compiled ran {ran}")
            compiled += ran
            if answer != plain:
                differences.append(f"{where} {name and name.value} ({who}):\n{plain}\n{answer}")
    assert not differences, "\n".join(differences)
    assert compiled >= len(QUERIES)  # most ran compiled for both sessions


def test_the_setting_turns_compiled_execution_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build_schema(schema_options(settings)).compiled_plans is not None  # type: ignore[attr-defined]
    monkeypatch.setenv("ANXIN_COMPILED_EXECUTION", "false")
    off = Settings(**settings.model_dump(exclude={"compiled_execution"}))
    assert off.compiled_execution is False
    schema = build_schema(schema_options(off))
    assert schema.compiled_plans is None  # type: ignore[attr-defined]
    executor = schema.execution_context_class
    # strawberry's own executor (wrapped only by the shared subscription events), no plans
    assert issubclass(executor, StrawberryGraphQLCoreExecutionContext)
    assert not issubclass(executor, CompiledExecutor)
