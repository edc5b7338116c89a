"""The operations console's files and its exports: the page comes with a policy that
lets the browser load and ask only this origin; ``/console/export`` answers any figure
as CSV or XLSX for a staff token with ANALYTICS_READ, with the same numbers as
``serviceDashboard``, and refuses anyone else, unknown figures and formats, long
ranges, and too many exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from api.services import Services
from models.claims import ClaimStatus
from models.clock import local_today
from models.staff import StaffRole
from tests.factories import make_claim, make_customer, make_policy, make_staff, staff_token
from workflows.analytics.tables import FIGURES


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"limit_dashboard_exports_per_staff": "25/1m"}


async def bearer(services: Services, role: StaffRole) -> dict[str, str]:
    return {"authorization": f"Bearer {await staff_token(services, await make_staff(role))}"}


async def test_the_page_and_its_vendored_scripts(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/")
    assert page.status_code == 200 and "运营看板" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "http" not in page.text.split("<footer>")[0]  # no script from elsewhere
    echarts = await client.get("/console/echarts.min.js")
    assert echarts.status_code == 200 and len(echarts.content) > 500_000
    assert "Apache" in echarts.text[:400]
    script = await client.get("/console/console.js")
    assert "serviceDashboard" in script.text and "staffLogin" in script.text
    assert (await client.get("/console/LICENSES.txt")).status_code == 200


async def test_exports(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer, installments=0)
    adjuster = await make_staff(StaffRole.ADJUSTER)
    await make_claim(customer, policy, ClaimStatus.REPORTED, assignee=adjuster)
    await make_claim(customer, policy, ClaimStatus.REPORTED, assignee=adjuster)
    today = local_today().isoformat()
    window = {"period": "DAY", "from": today, "to": today}
    boss = await bearer(services, StaffRole.SUPERVISOR)

    def export(headers: dict[str, str], **params: str) -> Any:
        return client.get("/console/export", params=window | params, headers=headers)

    assert (await export({}, figure="funnel")).status_code == 401
    agent = await bearer(services, StaffRole.AGENT)
    refused = await export(agent, figure="funnel")
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "NOT_ALLOWED"

    answer = await export(boss, figure="funnel", format="csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert f"anxin-funnel-day-{today}-{today}.csv" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    assert header[:6] == ["period", "segment", "reported", "complete", "decided", "paid"]
    assert (first["period"], first["segment"], first["reported"]) == (today, "ALL", "2")
    assert first["complete_rate"] == "0.0"

    book = await export(boss, figure="workload", format="xlsx")
    assert book.status_code == 200 and book.headers["content-type"].endswith("sheet")
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0].startswith("团队工作量")  # type: ignore[union-attr]
    assert values[1][:3] == ("staff", "team", "claims")
    assert values[2][0] == "测试员工" and values[2][2] == 2

    for figure in FIGURES:
        for kind in ("csv", "xlsx"):
            if (figure, kind) in (("funnel", "csv"), ("workload", "xlsx")):
                continue
            got = await export(boss, figure=figure, format=kind)
            assert got.status_code == 200, (figure, kind)
            assert got.headers["content-disposition"].endswith(f'.{kind}"')

    boss2 = await bearer(services, StaffRole.ADMIN)
    for params, field in (
        ({"figure": "passwords"}, "figure"),
        ({"figure": "funnel", "format": "pdf"}, "format"),
        ({"figure": "funnel", "period": "YEAR"}, "period"),
        ({"figure": "funnel", "to": "2000-01-01"}, "to"),
        ({"figure": "funnel", "from": "2020-01-01"}, "to"),
        ({"figure": "funnel", "from": "yesterday"}, "from"),
    ):
        bad = await export(boss2, **params)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == field, params

    for _ in range(5):  # 20 so far; 25 a minute
        assert (await export(boss, figure="funnel")).status_code == 200
    throttled = await export(boss, figure="funnel")
    assert throttled.status_code == 429 and throttled.headers["retry-after"]
    assert throttled.json()["errors"][0]["code"] == "THROTTLED"
