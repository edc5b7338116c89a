"""The ``anxin`` command end to end, as an operator runs it: demo data, tokens, schema
export and the worker, against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api import demo_activity, demo_complaints, demo_crisis
from api.app import create_app
from api.settings import Settings
from tests.api.demo_database import DemoLoad
from tests.api.test_settings import REAL
from tests.graphql import gql

ROOT = Path(__file__).parents[2]
STORAGE_ROOT = tempfile.mkdtemp(prefix="anxin-cli-files-")


def anxin(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANXIN_DATABASE_URL": database_url,
        "ANXIN_ENV": "development",
        "ANXIN_STORAGE_ROOT": STORAGE_ROOT,  # never the repository's data/
    }
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_demo_token_and_my_policies(
    demo_load: DemoLoad, demo_database_url: str, settings: Settings
) -> None:
    """``anxin demo`` ran once for the run (``demo_database``, as the console test reads
    the same data); this test's database is a copy of what it loaded."""
    database_url = demo_database_url
    assert demo_load.returncode == 0, demo_load.stderr
    assert "13800000001  张伟" in demo_load.stdout and "agent.li" in demo_load.stdout
    again = anxin(database_url, "demo", "--if-empty")
    assert again.returncode == 0 and "already loaded" in again.stdout

    customer_token = anxin(database_url, "token", "--phone", "13800000001").stdout.strip()
    as_json = json.loads(anxin(database_url, "token", "--phone", "13800000002", "--json").stdout)
    assert set(as_json) == {"accessToken", "accessTokenExpiresAt", "refreshToken"}
    staff_token = anxin(database_url, "token", "--staff", "supervisor.zhao").stdout.strip()
    unknown = anxin(database_url, "token", "--phone", "13999999999")
    assert unknown.returncode != 0 and "no customer" in unknown.stderr

    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        mine = await gql(
            client,
            "{ myPolicies(first: 20) { totalCount edges { node { myRoles product { kind } } } } }",
            token=customer_token,
        )
        policies = mine["data"]["myPolicies"]
        assert (
            policies["totalCount"] == 11
        )  # with the accident policy bought online (demo_policy_buy)
        kinds = {edge["node"]["product"]["kind"] for edge in policies["edges"]}
        assert kinds == {"AUTO", "HEALTH", "ACCIDENT", "PROPERTY", "TRAVEL"}
        roles = {role for edge in policies["edges"] for role in edge["node"]["myRoles"]}
        assert roles == {"HOLDER", "INSURED", "BENEFICIARY"}
        claims = await gql(
            client, "{ myClaims { edges { node { status } } } }", token=customer_token
        )
        statuses = {e["node"]["status"] for e in claims["data"]["myClaims"]["edges"]}
        # PAID: the fast-tracked small claim of the commitments demo (demo_commitments)
        assert statuses == {"DOCUMENTS_PENDING", "SUBMITTED", "UNDER_REVIEW", "PAID"}
        # The demo complaints, made through the workflow, in every state.
        queue = await gql(
            client,
            "{ complaintQueue(first: 50) { edges { node { status overdue } } } }",
            token=staff_token,
        )
        nodes = [e["node"] for e in queue["data"]["complaintQueue"]["edges"]]
        # the dozen of the complaint demo, those the closed crisis incident links, and the
        # dashboard's three months (demo_activity)
        assert len(nodes) == len(demo_complaints.COMPLAINTS) + len(demo_crisis.TEXTS) + len(
            demo_activity.COMPLAINTS
        )
        assert {n["status"] for n in nodes} == {
            "RECEIVED",
            "ASSIGNED",
            "IN_PROGRESS",
            "INFO_REQUESTED",
            "ANSWERED",  # (accepted ones are closed by the clock sweep, as the job does)
            "REVIEW_REQUESTED",
            "CLOSED",
            "WITHDRAWN",
        }
        assert [n for n in nodes if n["overdue"]]
        mine = await gql(client, "{ myComplaints { number } }", token=customer_token)
        own = [c for c in demo_complaints.COMPLAINTS if c.phone == "13800000001"]
        in_crisis = 1  # the crisis demo's first complaint is by the holder of the first policy
        assert len(mine["data"]["myComplaints"]) == len(own) + in_crisis
        queue = await gql(client, "{ claimQueue { totalCount } }", token=staff_token)
        # six demo claims, the commitments demo's two fast-tracked small claims, and the
        # dashboard's three months of claims (demo_activity)
        assert queue["data"]["claimQueue"]["totalCount"] == 8 + demo_activity.CLAIMS
        staff = await gql(client, "{ me { staffMember { role } } }", token=staff_token)
        assert staff["data"]["me"]["staffMember"]["role"] == "SUPERVISOR"
        renewed = await gql(
            client,
            "mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { "
            "session { viewer { customer { name } } } errors { code } } }",
            {"t": as_json["refreshToken"]},
        )
        assert renewed["data"]["refreshToken"]["session"]["viewer"]["customer"]["name"] == "李娜"
        # Service quality: two months of answers, and visits in the work list.
        figures = await gql(
            client,
            "query($a: Date!, $b: Date!) { surveyFigures(groupBy: MONTH, firstDay: $a, "
            "lastDay: $b) { responses csat nps responseRate } }",
            {"a": "2000-01-01", "b": "2999-12-31"},
            token=staff_token,
        )
        months = figures["data"]["surveyFigures"]
        assert sum(m["responses"] for m in months) > 150
        assert all(m["csat"] is not None and m["responseRate"] is not None for m in months)
        visits = await gql(
            client,
            "{ followUpVisits { totalCount } visitRules { enabled } }",
            token=staff_token,
        )
        assert visits["data"]["followUpVisits"]["totalCount"] >= 3
        # four planned kinds, CALLBACK, NEW_POLICY_INTEREST (asked for) and
        # RETENTION_RISK (a risk signal's call): the last three never planned
        assert len(visits["data"]["visitRules"]) == 7
        upcoming = await gql(
            client, "{ myVisits { purpose changeRequested } }", token=customer_token
        )
        # The quality demo's visit he asked to move, and the one his service plan's
        # interest arranged (the service-plan demo).
        assert sorted(
            (v["purpose"].startswith("新保单意向回访"), v["changeRequested"])
            for v in upcoming["data"]["myVisits"]
        ) == [(False, True), (True, False)]
        plan = await gql(client, "{ myServicePlan { gaps { code } } }", token=customer_token)
        assert plan["data"]["myServicePlan"]["gaps"]


def test_export_schema_prints_the_committed_sdl(database_url: str) -> None:
    exported = anxin(database_url, "export-schema")
    assert exported.returncode == 0
    assert exported.stdout == (ROOT / "schema.graphql").read_text()


def test_token_outside_the_project_says_where_it_looked_and_creates_nothing(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "token", "--phone", "13800000001"],
        cwd=elsewhere,
        env={**os.environ, "ANXIN_DATABASE_URL": "sqlite://data/anxin.sqlite3"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"no database at {elsewhere / 'data' / 'anxin.sqlite3'}" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(elsewhere.iterdir()) == []  # no stray empty database


def test_the_default_database_is_found_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import config

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "anxin.sqlite3").write_bytes(b"")
    monkeypatch.setattr(config, "PROJECT_ROOT", project)
    monkeypatch.chdir(tmp_path)
    found = config.existing_database(config.DEFAULT_DATABASE_URL)
    assert found == f"sqlite://{project / 'data' / 'anxin.sqlite3'}"
    assert config.existing_database("sqlite://other.sqlite3") is None
    assert config.existing_database("postgres://db/anxin") == "postgres://db/anxin"


def test_demo_refuses_production() -> None:
    production = {f"ANXIN_{key.upper()}": str(value) for key, value in REAL.items()}
    refused = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo"],
        cwd=ROOT,
        env={**os.environ, **production},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "refusing to load demo data outside ANXIN_ENV=development" in refused.stderr


def test_a_half_configured_wechat_pay_is_one_line_naming_what_is_missing() -> None:
    """Was a ValueError traceback from building the provider, at the first command."""
    for command in (["demo"], ["serve", "--port", "9"]):
        refused = subprocess.run(
            [sys.executable, "-m", "api.cli", *command],
            cwd=ROOT,
            env={
                **os.environ,
                "ANXIN_STORAGE_ROOT": STORAGE_ROOT,
                "ANXIN_DATABASE_URL": f"sqlite://{STORAGE_ROOT}/never.sqlite3",
                "ANXIN_WECHATPAY_MERCHANT_ID": "1900000001",
                "ANXIN_WECHAT_APP_ID": "wx-app",
                "ANXIN_WECHATPAY_APIV3_KEY": "an-apiv3-secret-of-32-characters",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1
        assert "Traceback" not in refused.stderr
        [line] = refused.stderr.strip().splitlines()
        assert line == (
            "anxin: invalid settings: ANXIN_WECHATPAY_MERCHANT_ID is set, so WeChat Pay also "
            "needs ANXIN_WECHATPAY_MERCHANT_SERIAL_NO, ANXIN_WECHATPAY_PRIVATE_KEY, "
            "ANXIN_WECHATPAY_PLATFORM_PUBLIC_KEY, ANXIN_WECHATPAY_PLATFORM_SERIAL_NO"
        )
        assert "an-apiv3-secret" not in refused.stderr
