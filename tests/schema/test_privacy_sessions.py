"""Staff sessions: a staff token unused for longer than the idle timeout is refused with
a typed error (and cannot be refreshed); admins list the live staff sessions and
revoke one, after which its token is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.auth import AuthSession, SubjectKind
from models.staff import StaffRole
from tests.factories import customer_token, make_customer, make_staff
from tests.graphql import gql
from workflows.auth import AuthError, Channel, refresh_session, start_session

IDLE = 600
ME = "{ staffMembers { totalCount } }"
SESSIONS = """query { activeStaffSessions { totalCount edges { node {
  id staffId username channel lastUsedAt revokedAt } } } }"""
REVOKE = """mutation($input: RevokeStaffSessionInput!) { revokeStaffSession(input: $input) {
  session { id revokedAt revokedReason } errors { field code } } }"""


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"staff_idle_timeout_seconds": IDLE}


async def _login(services: Services, staff: Any) -> Any:
    return await start_session(
        services, SubjectKind.STAFF, staff.id, Channel.STAFF_CONSOLE, role=staff.role
    )


async def _idle(session_id: Any, seconds: int) -> None:
    at = datetime.now(UTC) - timedelta(seconds=seconds)
    await AuthSession.filter(id=session_id).update(last_used_at=at, created_at=at)


async def test_an_idle_staff_token_is_refused_with_a_typed_error(
    client: httpx.AsyncClient, services: Services
) -> None:
    supervisor = await make_staff(StaffRole.SUPERVISOR)
    tokens = await _login(services, supervisor)
    assert "errors" not in await gql(client, ME, token=tokens.access_token)
    used = await AuthSession.get(id=tokens.actor.session_id)
    assert used.last_used_at is None  # used within the first minute: not written again

    await _idle(tokens.actor.session_id, IDLE - 30)  # idle, but not for long enough
    assert "errors" not in await gql(client, ME, token=tokens.access_token)
    touched = await AuthSession.get(id=tokens.actor.session_id)
    assert touched.last_used_at is not None
    assert datetime.now(UTC) - touched.last_used_at < timedelta(seconds=5)  # its use counted

    await _idle(tokens.actor.session_id, IDLE + 1)
    refused = await gql(client, ME, token=tokens.access_token, allow_errors=True)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "STAFF_SESSION_IDLE"
    assert "重新登录" in refused["errors"][0]["message"]
    with pytest.raises(AuthError) as refresh:
        await refresh_session(services, tokens.refresh_token)
    assert refresh.value.code.value == "INVALID_REFRESH_TOKEN"
    assert (await AuthSession.get(id=tokens.actor.session_id)).revoked_reason == "idle"

    # Customers' sessions have no idle timeout (the app keeps them logged in).
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    session = await AuthSession.get(subject_id=customer.id)
    await _idle(session.id, IDLE * 10)
    mine = await gql(client, "{ myPolicies { totalCount } }", token=token, allow_errors=True)
    assert "errors" not in mine


async def test_admins_list_live_staff_sessions_and_revoke_one(
    client: httpx.AsyncClient, services: Services
) -> None:
    admin = await make_staff(StaffRole.ADMIN)
    admin_login = await _login(services, admin)
    agent = await make_staff(StaffRole.AGENT, username="agent.wu")
    agent_login = await _login(services, agent)
    stale = await _login(services, agent)
    await _idle(stale.actor.session_id, IDLE + 60)
    ended = await _login(services, agent)
    await AuthSession.filter(id=ended.actor.session_id).update(
        revoked_at=datetime.now(UTC), revoked_reason="logout"
    )
    await customer_token(services, await make_customer(services))  # not a staff session

    listed = (await gql(client, SESSIONS, token=admin_login.access_token))["data"]
    ids = {e["node"]["id"] for e in listed["activeStaffSessions"]["edges"]}
    gid = str(relay.GlobalID("StaffSession", str(agent_login.actor.session_id)))
    assert ids == {gid, str(relay.GlobalID("StaffSession", str(admin_login.actor.session_id)))}
    row = next(e["node"] for e in listed["activeStaffSessions"]["edges"] if e["node"]["id"] == gid)
    assert row["username"] == "agent.wu" and row["channel"] == "staff_console"

    supervisor = await _login(services, await make_staff(StaffRole.SUPERVISOR))
    for query, variables in ((SESSIONS, None), (REVOKE, {"input": {"sessionId": gid}})):
        forbidden = await gql(
            client, query, variables, token=supervisor.access_token, allow_errors=True
        )
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    own = str(relay.GlobalID("StaffSession", str(admin_login.actor.session_id)))
    refused = await gql(
        client, REVOKE, {"input": {"sessionId": own}}, token=admin_login.access_token
    )
    assert refused["data"]["revokeStaffSession"]["errors"] == [
        {"field": "sessionId", "code": "OWN_SESSION"}
    ]
    done = await gql(client, REVOKE, {"input": {"sessionId": gid}}, token=admin_login.access_token)
    answer = done["data"]["revokeStaffSession"]
    assert answer["errors"] == [] and answer["session"]["revokedReason"] == "revoked_by_admin"
    assert answer["session"]["revokedAt"]
    gone = await gql(client, ME, token=agent_login.access_token, allow_errors=True)
    assert gone["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    again = await gql(client, REVOKE, {"input": {"sessionId": gid}}, token=admin_login.access_token)
    assert again["data"]["revokeStaffSession"]["errors"][0]["code"] == "ALREADY_ENDED"
    customer_session = await AuthSession.get(subject_kind=SubjectKind.CUSTOMER)
    other = str(relay.GlobalID("StaffSession", str(customer_session.id)))
    missing = await gql(
        client, REVOKE, {"input": {"sessionId": other}}, token=admin_login.access_token
    )
    assert missing["data"]["revokeStaffSession"]["errors"][0]["code"] == "NOT_FOUND"
