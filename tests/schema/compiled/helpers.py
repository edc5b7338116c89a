"""Running one operation both ways (graphql-core alone, then the compiled plan) on the
app's own schema, and what to compare: ``data`` and each error's message, path,
locations and extensions."""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.applications import Starlette

from api.app import _schema, schema_options
from api.services import Services
from models.auth import SubjectKind
from models.customers import Customer
from models.staff import StaffRole, StaffUser
from schema.compiled import PlanCache
from workflows.auth import Channel, start_session


def plans_of(app: Starlette) -> PlanCache:
    services: Services = app.state.services
    plans = _schema(schema_options(services.settings)).compiled_plans  # type: ignore[attr-defined]
    assert plans is not None, "the compiled executor is on by default"
    return plans


async def customer_token(services: Services, phone: str = "13800000001") -> str:
    customer = await Customer.get(phone_hash=services.pii.phone_hash(phone))
    tokens = await start_session(services, SubjectKind.CUSTOMER, customer.id, Channel.CLI)
    return tokens.access_token


async def staff_token(services: Services, username: str) -> str:
    staff = await StaffUser.get(username=username)
    tokens = await start_session(
        services, SubjectKind.STAFF, staff.id, Channel.CLI, StaffRole(staff.role)
    )
    return tokens.access_token


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    token: str | None,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name:
        payload["operationName"] = operation_name
    response = await client.post("/graphql", json=payload, headers=headers)
    body: dict[str, Any] = response.json()
    return body


async def both_ways(
    client: httpx.AsyncClient,
    plans: PlanCache,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    token: str | None = None,
) -> tuple[str, str, bool]:
    """(graphql-core's answer, the compiled answer, whether the plan ran); the answers
    as JSON text, so that comparing them sees the keys' order too."""
    plans.enabled = False
    try:
        plain = json.dumps(await post(client, query, variables, operation_name, token))
    finally:
        plans.enabled = True
    before = plans.compiled_runs
    compiled = json.dumps(await post(client, query, variables, operation_name, token))
    return plain, compiled, plans.compiled_runs > before
