"""The ``graphql-http`` server audits (GraphQL over HTTP) against the gateway process:
no MUST failure and no SHOULD warning. Before ``application/graphql-response+json`` was
served, eight SHOULD audits warned. The three notices left are the MAY audits of GET
queries, which the gateway refuses on purpose (queries in URLs land in access logs)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.gateway_process import needs_node_clients, node_script, running_gateway

GET_QUERIES = {"5A70", "D6D5", "6A70"}  # MAY accept queries by GET: refused by design


@needs_node_clients
async def test_graphql_http_audits_pass(database_url: str, tmp_path: Path) -> None:
    async with (
        running_gateway(database_url, tmp_path, relay=False) as url,
        node_script("audit.mjs", url) as audit,
    ):
        assert audit.process.stdout is not None
        report = json.loads(await audit.process.stdout.readline())
        await audit.process.wait()
    problems = {p["id"]: p for p in report["problems"]}
    assert report["counts"]["error"] == 0, problems
    assert report["counts"]["warn"] == 0, problems
    assert set(problems) == GET_QUERIES, problems
