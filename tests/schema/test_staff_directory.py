"""``staffMembers``: the colleagues an assignment picker offers, by role and team."""

from __future__ import annotations

import httpx

from api.services import Services
from models.staff import StaffRole, StaffUser
from tests.factories import make_staff, staff_token
from tests.graphql import gql

DIRECTORY = """query($filter: StaffFilter) {
  staffMembers(filter: $filter, first: 20) {
    totalCount edges { node { username displayName role team active } } } }"""


async def _names(client: httpx.AsyncClient, token: str, **filter: object) -> list[str]:
    body = await gql(client, DIRECTORY, {"filter": filter}, token=token)
    return [edge["node"]["username"] for edge in body["data"]["staffMembers"]["edges"]]


async def test_a_supervisor_lists_adjusters_by_team(
    client: httpx.AsyncClient, services: Services
) -> None:
    supervisor = await make_staff(StaffRole.SUPERVISOR, username="sup")
    for username, role, team in [
        ("adj.a", StaffRole.ADJUSTER, "理赔一组"),
        ("adj.b", StaffRole.ADJUSTER, "理赔二组"),
        ("agent.c", StaffRole.AGENT, "理赔一组"),
        ("adj.gone", StaffRole.ADJUSTER, "理赔一组"),
    ]:
        member = await make_staff(role, username=username)
        await StaffUser.filter(id=member.id).update(team=team)
    await StaffUser.filter(username="adj.gone").update(is_active=False)
    token = await staff_token(services, supervisor)
    assert await _names(client, token, roles=["ADJUSTER"]) == ["adj.a", "adj.b"]
    assert await _names(client, token, roles=["ADJUSTER"], team="理赔一组") == ["adj.a"]
    assert await _names(client, token, team="理赔一组", includeInactive=True) == [
        "adj.a",
        "adj.gone",
        "agent.c",
    ]


async def test_agents_and_customers_do_not_read_the_directory(
    client: httpx.AsyncClient, services: Services
) -> None:
    agent = await make_staff(StaffRole.AGENT)
    body = await gql(client, DIRECTORY, token=await staff_token(services, agent), allow_errors=True)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
