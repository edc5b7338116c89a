"""Money inputs under attack: ``NaN``, ``sNaN``, infinities, huge exponents and fractions
of a fen are refused by the ``Amount`` scalar with a clear, typed error before any
resolver runs (they used to reach the workflows and crash in ``decimal``), and no input
of the schema takes a bare ``Decimal``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLType,
)
from strawberry import relay

from api.services import Services
from models.payments import PaymentOrder, Refund
from models.staff import StaffRole
from schema import build_schema
from tests.factories import (
    customer_token,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql

BAD_AMOUNTS: list[Any] = [
    "NaN",
    "nan",
    "sNaN",
    "-sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1E+100000",
    "1e2",
    "100.001",
    "0.005",
    "1" * 40,
    "1000000000000.00",  # 13 integer digits: more than the database column holds
    " 12.00",
    "12,00",
    "",
    1e300,
    100.001,
    True,
]

REFUND = """mutation($input: RefundPaymentInput!) { refundPayment(input: $input) {
  order { status } errors { field code } } }"""


def _named(type_: GraphQLType) -> GraphQLNamedType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    assert isinstance(type_, GraphQLNamedType)
    return type_


def test_no_input_of_the_schema_takes_a_bare_decimal() -> None:
    """Every input field and argument that carries a decimal uses the safe ``Amount``."""
    schema = build_schema()._schema
    inputs: list[tuple[str, str]] = []
    for type_ in schema.type_map.values():
        if type_.name.startswith("__"):
            continue
        if isinstance(type_, GraphQLInputObjectType):
            for name, field in type_.fields.items():
                inputs.append((f"{type_.name}.{name}", _named(field.type).name))
        if isinstance(type_, GraphQLObjectType):
            for field_name, field in type_.fields.items():
                for arg_name, arg in field.args.items():
                    inputs.append((f"{type_.name}.{field_name}({arg_name})", _named(arg.type).name))
    decimal_inputs = [where for where, named in inputs if named == "Decimal"]
    assert decimal_inputs == []
    amounts = {where for where, named in inputs if named == "Amount"}
    assert {
        "RefundPaymentInput.amount",
        "DecisionLineInput.claimedAmount",
        "DecisionLineInput.approvedAmount",
        "UpdateVisitRuleInput.minAnnualPremium",
    } <= amounts


@dataclass(frozen=True)
class PaidOrder:
    order_id: str  # global ID of a paid premium order
    token: str  # a supervisor's, who may refund it


@pytest.fixture
async def paid_order(client: httpx.AsyncClient, services: Services) -> PaidOrder:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    from models.policies import PremiumInstallment

    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    token = await customer_token(services, holder)
    started = await gql(
        client,
        """mutation($input: CreatePremiumPaymentInput!) { createPremiumPayment(input: $input) {
        order { id } errors { code } } }""",
        {
            "input": {
                "installmentId": str(relay.GlobalID("PremiumInstallment", str(installment.id))),
                "method": "SANDBOX",
                "idempotencyKey": "money-key-0001",
            }
        },
        token=token,
    )
    order_id = started["data"]["createPremiumPayment"]["order"]["id"]
    await gql(
        client,
        "mutation($id: ID!) { completeSandboxPayment(input: {orderId: $id}) { errors { code } } }",
        {"id": order_id},
        token=token,
    )
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    return PaidOrder(order_id=order_id, token=supervisor)


def _assert_refused_as_bad_amount(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID_AMOUNT", error
    assert "金额" in error["message"], error
    assert "Unexpected error" not in error["message"]
    assert "decimal" not in error["message"].lower()


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_refund_refuses_bad_amounts_in_variables(
    client: httpx.AsyncClient, paid_order: PaidOrder, amount: Any
) -> None:
    body = await gql(
        client,
        REFUND,
        {
            "input": {
                "orderId": paid_order.order_id,
                "amount": amount,
                "reason": "PAID_IN_ERROR",
                "idempotencyKey": "refund-key-bad-1",
            }
        },
        token=paid_order.token,
        allow_errors=True,
    )
    _assert_refused_as_bad_amount(body)
    assert await Refund.all().count() == 0
    assert (await PaymentOrder.get()).status.value == "PAID"


@pytest.mark.parametrize(
    "literal", ['"NaN"', '"sNaN"', '"Infinity"', '"1E+100000"', "1.001", "1e400"]
)
async def test_refund_refuses_bad_amounts_in_literals(
    client: httpx.AsyncClient, paid_order: PaidOrder, literal: str
) -> None:
    query = (
        "mutation { refundPayment(input: {orderId: "
        f'"{paid_order.order_id}", amount: {literal}, reason: PAID_IN_ERROR, '
        'idempotencyKey: "refund-key-bad-2"}) { errors { code } } }'
    )
    body = await gql(client, query, token=paid_order.token, allow_errors=True)
    _assert_refused_as_bad_amount(body)
    assert await Refund.all().count() == 0


async def test_good_amounts_still_pass(client: httpx.AsyncClient, paid_order: PaidOrder) -> None:
    for amount, key in (("100.5", "refund-key-ok-1"), (99, "refund-key-ok-2"), (0.5, "refund-k3")):
        body = await gql(
            client,
            REFUND,
            {
                "input": {
                    "orderId": paid_order.order_id,
                    "amount": amount,
                    "reason": "PAID_IN_ERROR",
                    "idempotencyKey": key + "-abcdef",
                }
            },
            token=paid_order.token,
        )
        assert body["data"]["refundPayment"]["errors"] == []
    amounts = sorted(str(r.amount) for r in await Refund.all())
    assert amounts == ["0.50", "100.50", "99.00"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            """mutation($input: DecideClaimInput!) { decideClaim(input: $input) {
            errors { code } } }""",
            {
                "input": {
                    "claimId": "Q2xhaW06MQ==",
                    "expectedVersion": 1,
                    "lines": [
                        {
                            "coverageId": "Q292ZXJhZ2U6MQ==",
                            "claimedAmount": "100.00",
                            "approvedAmount": "sNaN",
                            "reason": "x",
                        }
                    ],
                }
            },
        ),
        (
            """mutation($input: UpdateVisitRuleInput!) { updateVisitRule(input: $input) {
            errors { code } } }""",
            {
                "input": {
                    "trigger": "HIGH_VALUE",
                    "expectedVersion": 1,
                    "enabled": True,
                    "channel": "PHONE",
                    "days": 1,
                    "maxAttempts": 1,
                    "retryAfterDays": 1,
                    "minAnnualPremium": "Infinity",
                }
            },
        ),
    ],
    ids=["decideClaim", "updateVisitRule"],
)
async def test_every_money_input_refuses_non_finite_values(
    client: httpx.AsyncClient, services: Services, query: str, variables: dict[str, Any]
) -> None:
    token = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    body = await gql(client, query, variables, token=token, allow_errors=True)
    _assert_refused_as_bad_amount(body)


async def test_production_answers_the_typed_error_not_a_masked_one(database_url: str) -> None:
    from asgi_lifespan import LifespanManager

    from api.app import create_app
    from api.settings import Settings
    from tests.api.test_settings import REAL

    settings = Settings(**REAL).model_copy(
        update={"database_url": database_url, "background_jobs": False}
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        variables = {
            "input": {
                "orderId": "UGF5bWVudE9yZGVyOjE=",
                "amount": "sNaN",
                "reason": "PAID_IN_ERROR",
                "idempotencyKey": "refund-key-prod-1",
            }
        }
        _assert_refused_as_bad_amount(await gql(client, REFUND, variables, allow_errors=True))
        literal = REFUND.replace("$input: RefundPaymentInput!", "").replace(
            "(input: $input)",
            '(input: {orderId: "x", amount: "NaN", reason: PAID_IN_ERROR, idempotencyKey: "k"})',
        )
        literal = literal.replace("mutation()", "mutation")
        _assert_refused_as_bad_amount(await gql(client, literal, allow_errors=True))
