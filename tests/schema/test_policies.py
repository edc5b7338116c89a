"""Policy lookup: the answer's content, paging, filters, staff search and query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.services import Services
from models import policies as m
from models.staff import StaffRole
from tests.factories import (
    customer_token,
    make_customer,
    make_policy,
    make_product,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from tests.sql_counter import QueryCounter

FULL_PAGE = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: PolicyFilter) {
  myPolicies(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      id number status myRoles startsAt endsAt daysToExpiry renewable
      product { name kind lossTypes { code documents { name required } } }
      sumInsured { amount currency } premium { amount }
      holder { name phone idNumber }
      coverages { name sumInsured { amount } deductible { amount } usedAmount { amount }
                  remainingAmount { amount } }
      insuredPersons { name idNumber relationToHolder }
      beneficiaries { name idNumber sharePercent }
      installments { sequence dueDate status amount { amount } }
      nextPremiumDue { sequence status }
    } }
  }
}"""


async def test_a_policy_answer_is_complete_and_masked(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(
        services, "张伟", phone="13800000001", id_number_value="110105198503122173"
    )
    child = await make_customer(services, "张浩然")
    policy = await make_policy(services, holder, beneficiaries=[child])
    token = await customer_token(services, holder)
    body = await gql(client, FULL_PAGE, token=token)
    node = body["data"]["myPolicies"]["edges"][0]["node"]
    assert node["number"] == policy.number
    assert node["holder"] == {
        "name": "张伟",
        "phone": "138****0001",
        "idNumber": "110***********2173",
    }
    assert node["sumInsured"] == {"amount": "100000.00", "currency": "CNY"}
    assert node["coverages"] == [
        {
            "name": "主险",
            "sumInsured": {"amount": "100000.00"},
            "deductible": {"amount": "500.00"},
            "usedAmount": {"amount": "1000.00"},
            "remainingAmount": {"amount": "99000.00"},
        }
    ]
    assert node["beneficiaries"][0]["sharePercent"] == "100.00"
    assert node["beneficiaries"][0]["idNumber"].count("*") == 11
    # First installment paid, the second fell due 150 days from now.
    assert [i["status"] for i in node["installments"]] == ["PAID", "UNPAID"]
    assert node["nextPremiumDue"] == {"sequence": 2, "status": "UNPAID"}
    assert node["startsAt"].endswith("+08:00")
    assert node["daysToExpiry"] in (334, 335, 336)
    assert node["renewable"] is False  # renewal opens 60 days before the end


async def test_overdue_installments_and_expiry_counters(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder, installments=1)
    await m.PremiumInstallment.filter(policy_id=policy.id).update(
        paid_at=None, due_date=(datetime.now(UTC) - timedelta(days=3)).date()
    )
    await m.Policy.filter(id=policy.id).update(ends_at=datetime.now(UTC) + timedelta(days=20))
    body = await gql(client, FULL_PAGE, token=await customer_token(services, holder))
    node = body["data"]["myPolicies"]["edges"][0]["node"]
    assert node["installments"][0]["status"] == "OVERDUE"
    assert node["daysToExpiry"] in (19, 20, 21)
    assert node["renewable"] is True


async def test_paging_forwards_and_backwards(client: httpx.AsyncClient, services: Services) -> None:
    holder = await make_customer(services)
    for _ in range(5):
        await make_policy(services, holder, installments=1)
    token = await customer_token(services, holder)

    def numbers(body: dict[str, Any]) -> list[str]:
        return [e["node"]["number"] for e in body["data"]["myPolicies"]["edges"]]

    everything = numbers(await gql(client, FULL_PAGE, {"first": 10}, token=token))
    assert len(everything) == 5
    page1 = await gql(client, FULL_PAGE, {"first": 2}, token=token)
    info1 = page1["data"]["myPolicies"]["pageInfo"]
    assert info1["hasNextPage"] and not info1["hasPreviousPage"]
    page2 = await gql(client, FULL_PAGE, {"first": 2, "after": info1["endCursor"]}, token=token)
    page3 = await gql(
        client,
        FULL_PAGE,
        {"first": 2, "after": page2["data"]["myPolicies"]["pageInfo"]["endCursor"]},
        token=token,
    )
    assert numbers(page1) + numbers(page2) + numbers(page3) == everything
    assert page3["data"]["myPolicies"]["pageInfo"]["hasNextPage"] is False
    last2 = await gql(client, FULL_PAGE, {"last": 2}, token=token)
    assert numbers(last2) == everything[-2:]
    before = await gql(
        client,
        FULL_PAGE,
        {"last": 2, "before": last2["data"]["myPolicies"]["pageInfo"]["startCursor"]},
        token=token,
    )
    assert numbers(before) == everything[1:3]
    assert page1["data"]["myPolicies"]["totalCount"] == 5
    assert last2["data"]["myPolicies"]["pageInfo"]["hasPreviousPage"] is True
    assert last2["data"]["myPolicies"]["pageInfo"]["hasNextPage"] is False
    cursors = [e["cursor"] for e in page2["data"]["myPolicies"]["edges"]]
    window = await gql(
        client,
        FULL_PAGE,
        {
            "first": 10,
            "after": info1["startCursor"],
            "before": last2["data"]["myPolicies"]["pageInfo"]["endCursor"],
        },
        token=token,
    )
    assert numbers(window) == everything[1:4]
    first_before = await gql(client, FULL_PAGE, {"first": 1, "before": cursors[1]}, token=token)
    assert numbers(first_before) == everything[:1]
    last_after = await gql(client, FULL_PAGE, {"last": 1, "after": cursors[0]}, token=token)
    assert numbers(last_after) == everything[-1:]
    empty = await gql(client, FULL_PAGE, {"first": 0}, token=token)
    assert numbers(empty) == [] and empty["data"]["myPolicies"]["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": 101}, "`first` must be between 0 and 100."),
        ({"last": -1}, "`last` must be between 0 and 100."),
        ({"after": "bm9wZQ=="}, "`after` is not a cursor of this list."),
    ],
)
async def test_bad_paging_arguments_are_clear_errors(
    client: httpx.AsyncClient, services: Services, variables: dict[str, Any], message: str
) -> None:
    token = await customer_token(services, await make_customer(services))
    body = await gql(client, FULL_PAGE, variables, token=token, allow_errors=True)
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_filters_by_status_and_product_kind(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    health = await make_product(m.ProductKind.HEALTH)
    await make_policy(services, holder, installments=1)
    await make_policy(services, holder, product=health, installments=1)
    await make_policy(services, holder, status=m.PolicyStatus.EXPIRED, installments=1)
    token = await customer_token(services, holder)

    async def count(where: dict[str, Any]) -> int:
        body = await gql(client, FULL_PAGE, {"filter": where}, token=token)
        return body["data"]["myPolicies"]["totalCount"]

    assert await count({}) == 3
    assert await count({"status": ["ACTIVE"]}) == 2
    assert await count({"productKind": ["HEALTH"]}) == 1
    assert await count({"status": ["ACTIVE", "EXPIRED"], "productKind": ["AUTO"]}) == 2


SEARCH = """
query($input: PolicySearchInput!) {
  searchPolicies(input: $input) { totalCount edges { node { number holder { name phone } } } }
}"""


async def test_staff_search_by_number_phone_and_id_number(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(
        services, "李娜", phone="13800000002", id_number_value="110105198706210484"
    )
    policy = await make_policy(services, holder)
    other = await make_policy(services, await make_customer(services))
    token = await staff_token(services, await make_staff(StaffRole.AGENT))

    async def found(search: dict[str, str]) -> list[str]:
        body = await gql(client, SEARCH, {"input": search}, token=token)
        return [e["node"]["number"] for e in body["data"]["searchPolicies"]["edges"]]

    assert await found({"number": policy.number.lower()}) == [policy.number]
    assert await found({"holderPhone": "138 0000 0002"}) == [policy.number]
    assert await found({"idNumber": "110105198706210484"}) == [policy.number]
    assert await found({"number": other.number, "holderPhone": "13800000002"}) == []
    # Insured persons are found by their ID number too.
    insured = await m.InsuredPerson.get(policy_id=other.id)
    assert insured.id_number_hash  # stored as a keyed hash, searched without decrypting
    body = await gql(client, SEARCH, {"input": {}}, token=token, allow_errors=True)
    assert body["errors"][0]["message"] == "请至少填写保单号、手机号或身份证号之一"
    body = await gql(client, SEARCH, {"input": {"idNumber": "123"}}, token=token, allow_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_listing_policies_takes_a_constant_number_of_queries(
    client: httpx.AsyncClient, services: Services, sql_counter: QueryCounter
) -> None:
    holder = await make_customer(services)
    friend = await make_customer(services)
    token = await customer_token(services, holder)

    async def statements_for_page(query: str = FULL_PAGE, first: int = 50) -> int:
        sql_counter.statements.clear()
        body = await gql(client, query, {"first": first}, token=token)
        assert body["data"]["myPolicies"]["edges"]
        return len(sql_counter.statements)

    await make_policy(services, holder, beneficiaries=[friend])
    one = await statements_for_page()
    for _ in range(49):
        await make_policy(services, holder, insured=[holder, friend], beneficiaries=[friend])
    fifty = await statements_for_page()
    ten = await statements_for_page(first=10)
    # session, page (with product, holder and the total), one for the coverages, insured
    # persons, beneficiaries and installments of the whole page: what the hand-written
    # endpoint of bench/policy_lookup.py sends.
    assert one == fifty == ten == 3, sql_counter.statements
    # A page that asks for none of the lists does not read them.
    numbers = "query($first: Int) { myPolicies(first: $first) { edges { node { number } } } }"
    assert await statements_for_page(numbers) == 2, sql_counter.statements


async def test_money_is_exact(client: httpx.AsyncClient, services: Services) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    await m.Policy.filter(id=policy.id).update(premium=Decimal("0.10") + Decimal("0.20"))
    body = await gql(client, FULL_PAGE, token=await customer_token(services, holder))
    assert body["data"]["myPolicies"]["edges"][0]["node"]["premium"] == {"amount": "0.30"}
