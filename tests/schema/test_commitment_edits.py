"""Staff edit the promises (SURVEY_MANAGE) at the version they saw; a case keeps the
terms (minutes, title, goodwill points) it was opened with, new cases get the new ones;
a promise switched off opens no new case and lets the open ones run to their end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from api.services import Services
from models.commitments import CaseStatus, CommitmentCase, ServiceCommitment
from models.ids import global_id
from models.staff import StaffRole
from tests.factories import customer_token, make_customer, make_staff, staff_token
from tests.graphql import gql
from tests.workflows.test_roadside_commitment import requested, requested_again
from workflows import commitments
from workflows.membership import points_balance

EDIT = """mutation($input: EditServiceCommitmentInput!) { editServiceCommitment(input: $input) {
  changed errors { code field }
  commitment { code minutes title goodwillPoints enabled version } } }"""
CASES = """query($id: ID!) { node(id: $id) { ... on ServiceBooking {
  commitments { title minutes status } } } }"""


async def edit(
    client: httpx.AsyncClient, token: str, row: ServiceCommitment, **values: Any
) -> dict[str, Any]:
    variables = {"commitmentId": global_id("ServiceCommitment", row.id)}
    variables |= {"expectedVersion": row.version} | values
    answer = await gql(client, EDIT, {"input": variables}, token=token, allow_errors=True)
    return answer["data"]["editServiceCommitment"] if answer.get("data") else answer


async def test_an_edit_applies_to_new_cases_and_opened_ones_keep_their_terms(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await requested(services)
    await commitments.evaluate_events()
    roadside = await ServiceCommitment.get(code="ROADSIDE_ARRIVAL")
    token = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))

    changed = await edit(
        client, token, roadside, minutes=45, goodwillPoints=300, title="承诺45分钟内到达救援现场"
    )
    assert changed["errors"] == [] and changed["commitment"] == {
        "code": "ROADSIDE_ARRIVAL",
        "minutes": 45,
        "title": "承诺45分钟内到达救援现场",
        "goodwillPoints": 300,
        "enabled": True,
        "version": roadside.version + 1,
    }
    # The same version again: somebody else's edit came first.
    stale = await edit(client, token, roadside, minutes=30, title="承诺30分钟内到达救援现场")
    assert stale["errors"] == [{"code": "CONFLICT", "field": "expectedVersion"}]

    second = await requested_again(services, first)
    await commitments.evaluate_events()
    old = await CommitmentCase.get(subject_id=first.id)
    new = await CommitmentCase.get(subject_id=second.id)
    assert old.deadline == first.requested_at + timedelta(minutes=60) and old.minutes == 60
    assert new.deadline == second.requested_at + timedelta(minutes=45) and new.minutes == 45
    mine = await customer_token(services, await first.customer)
    shown = await gql(client, CASES, {"id": global_id("ServiceBooking", first.id)}, token=mine)
    assert shown["data"]["node"]["commitments"] == [
        {"title": "承诺60分钟内到达救援现场", "minutes": 60, "status": "PENDING"}
    ]
    # Broken after the edit: compensated as promised when opened (200, not 300).
    await commitments.sweep(now=first.requested_at + timedelta(minutes=61))
    assert (await CommitmentCase.get(id=old.id)).status is CaseStatus.BROKEN
    assert await points_balance(first.customer_id) == 200


async def test_switched_off_opens_no_case_and_the_open_ones_run_on(
    client: httpx.AsyncClient, services: Services
) -> None:
    first = await requested(services)
    await commitments.evaluate_events()
    roadside = await ServiceCommitment.get(code="ROADSIDE_ARRIVAL")
    token = await staff_token(services, await make_staff(StaffRole.ADMIN))
    assert (await edit(client, token, roadside, enabled=False))["commitment"]["enabled"] is False
    second = await requested_again(services, first)
    await commitments.evaluate_events()
    assert not await CommitmentCase.filter(subject_id=second.id).exists()
    assert await commitments.sweep(now=first.requested_at + timedelta(minutes=61)) == 1


async def test_terms_are_checked_and_only_quality_managers_edit(
    client: httpx.AsyncClient, services: Services
) -> None:
    await commitments.ensure_defaults()
    rows = {c.code: c for c in await ServiceCommitment.all()}
    token = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    decision = rows["SMALL_CLAIM_DECISION"]
    cases: list[tuple[ServiceCommitment, dict[str, Any], list[dict[str, str]]]] = [
        (decision, {"minutes": 30}, [{"code": "NOT_MEASURED_SO", "field": "minutes"}]),
        (decision, {"workingDays": 0}, [{"code": "OUT_OF_RANGE", "field": "workingDays"}]),
        (decision, {"workingDays": 2}, [{"code": "TITLE_STATES_OLD_TERMS", "field": "title"}]),
        (
            rows["COMPLAINT_FIRST_RESPONSE"],
            {"workingDays": 2},
            [{"code": "NOT_MEASURED_SO", "field": "workingDays"}],
        ),
        (
            decision,
            {"goodwillPoints": 10_001},
            [{"code": "OUT_OF_RANGE", "field": "goodwillPoints"}],
        ),
        (decision, {"title": "承" * 65}, [{"code": "TOO_LONG", "field": "title"}]),
    ]
    for row, values, errors in cases:
        assert (await edit(client, token, row, **values))["errors"] == errors, values
    assert (await ServiceCommitment.get(id=decision.id)).version == decision.version
    ok = await edit(client, token, decision, workingDays=2, title="承诺2个工作日内审核")
    assert ok["changed"] is True
    for who in (
        await staff_token(services, await make_staff(StaffRole.ADJUSTER)),
        await customer_token(services, await make_customer(services)),
    ):
        refused = await edit(client, who, rows["AGENT_ANSWER"], goodwillPoints=0)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
