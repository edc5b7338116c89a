"""urql with graphcache (its normalized cache) under Node, against the gateway on
127.0.0.1, through the README's urql client (``tests/clients/anxin-urql.mjs``;
``urql-cache.mjs`` drives it): surveys, premiums and the inbox read from the cache equal
a plain request's answer, before and after the mutations that change them; keyed by
their template-local key, two surveys' questions get mixed up, as in Apollo's cache.

Found: urql sends a short query by GET by default (``preferGetMethod``), which the
gateway refuses (queries in URLs land in access logs): the snippet turns it off."""

from __future__ import annotations

import json
from pathlib import Path

from api.services import Services
from tests.api.gateway_process import CLIENTS, needs_node_clients, node_script, running_gateway
from tests.api.test_apollo_client import QUIET_JOBS, journey

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_urql_client_the_tests_run() -> None:
    module = (CLIENTS / "anxin-urql.mjs").read_text()
    body = module[module.index("import { Client") :]
    assert body in (ROOT / "README.md").read_text()


@needs_node_clients
async def test_graphcache_equals_the_server_after_each_mutation(
    database_url: str, services: Services, tmp_path: Path
) -> None:
    plan = await journey(services, tmp_path)
    async with running_gateway(database_url, tmp_path, job_intervals=QUIET_JOBS) as url:
        plan["graphqlUrl"] = url
        async with node_script("urql-cache.mjs", ANXIN_PLAN=json.dumps(plan)) as script:
            events = await script.rest(60)
            assert script.process.returncode == 0, events[-1:]
    steps = {event["step"]: event for event in events}
    mixed = steps.pop("surveys.keyedByLocalId")
    assert mixed["cached"] != mixed["fresh"]
    assert set(steps) == {
        "surveys",
        "submitSurvey",
        "policies",
        "completeSandboxPayment",
        "inbox",
        "markNotificationsRead",
    }
    for step, event in steps.items():
        assert event["cached"] is not None, f"{step}: not complete in the cache"
        assert event["cached"] == event["fresh"], step
    assert steps["submitSurvey"]["cached"]["answered"] is True
    paid = [
        edge["node"]
        for edge in steps["completeSandboxPayment"]["cached"]["myPolicies"]["edges"]
        if edge["node"]["id"] == plan["paidPolicyId"]
    ]
    assert [i["status"] for i in paid[0]["installments"]] == ["PAID", "PAID"]
    read = steps["markNotificationsRead"]["cached"]["notifications"]["edges"][0]["node"]
    assert read["read"] is True
