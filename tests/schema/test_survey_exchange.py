"""Third-party survey files: a pseudonymised export (CSV and XLSX) with no phone, ID,
name or e-mail, and an import of the company's answers that maps back by invitation and
pseudonym, all rows or none, and changes nothing when repeated."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from tortoise.transactions import in_transaction

from api.services import Services
from models.customers import Customer
from models.staff import StaffRole
from models.surveys import SurveyExport, SurveyInvitation, SurveyResponse
from tests.factories import make_customer, make_staff, staff_token
from tests.graphql import gql
from workflows import survey_exchange as exchange
from workflows import surveys

EXPORT = """mutation($input: ExportSurveyResultsInput!) { exportSurveyResults(input: $input) {
  downloadUrl fileName rows expiresAt errors { field code message } } }"""
IMPORT = """mutation($input: ImportSurveyResultsInput!) { importSurveyResults(input: $input) {
  imported unchanged skipped errors { row column code message } } }"""
PHONE = "13912345678"


@dataclass(frozen=True)
class Surveyed:
    invitations: list[SurveyInvitation]  # the first answered in the app
    customers: list[Customer]  # 陈小明 (the first two invitations), 吴丽
    supervisor: str


@pytest.fixture
async def surveyed(services: Services) -> Surveyed:
    """Three invitations: one answered in the app (with a phone number and an e-mail in
    its comment), two not; two of them belong to the same customer."""
    chen = await make_customer(services, name="陈小明", phone=PHONE)
    wu = await make_customer(services, name="吴丽")
    made = []
    for n, customer in enumerate([chen, chen, wu]):
        async with in_transaction():
            invitation = await surveys.invite(
                customer.id, "claim.closed", "claim", f"x-{n}", "CLAIM_SERVICE", product_kind="AUTO"
            )
        assert invitation is not None
        made.append(invitation)
    await surveys.submit(
        made[0],
        [
            surveys.Answer("q1", 4),
            surveys.Answer("q2", 8),
            surveys.Answer("q3", None, ("ok",)),
            surveys.Answer("q5", text=f"=HYPERLINK(1) 请打{PHONE}或写信 chen@example.com"),
        ],
        "APP",
    )
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    return Surveyed(invitations=made, customers=[chen, wu], supervisor=supervisor)


async def export(client: httpx.AsyncClient, token: str, file_format: str) -> dict[str, Any]:
    today = datetime.now(UTC).astimezone().date().isoformat()
    day = surveys.period_keys(datetime.now(UTC))["day"]
    body = await gql(
        client,
        EXPORT,
        {
            "input": {
                "templateCode": "claim_service",
                "firstDay": min(today, day),
                "lastDay": day,
                "format": file_format,
            }
        },
        token=token,
    )
    return body["data"]["exportSurveyResults"]


async def upload(client: httpx.AsyncClient, token: str, name: str, content: bytes) -> Any:
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content)},
        headers={"authorization": f"Bearer {token}", "apollo-require-preflight": "true"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["importSurveyResults"]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 byte-order mark"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def to_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def xlsx_rows(content: bytes) -> list[dict[str, str]]:
    """The cells as they are (the survey company edits these)."""
    sheet = load_workbook(io.BytesIO(content))["answers"]
    header, *records = [
        ["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)
    ]
    return [dict(zip(header, record, strict=True)) for record in records]


def to_xlsx(rows: list[dict[str, str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "answers"
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def is_personal(content: str, customers: list[Customer]) -> bool:
    return any(c.name in content for c in customers) or PHONE in content or "@" in content


@pytest.mark.parametrize("file_format", ["CSV", "XLSX"])
async def test_export_then_import_round_trip(
    client: httpx.AsyncClient, services: Services, surveyed: Surveyed, file_format: str
) -> None:
    made = await export(client, surveyed.supervisor, file_format)
    assert made["errors"] == [] and made["rows"] == 3
    assert made["fileName"].endswith(file_format.lower())
    download = await client.get(made["downloadUrl"])
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    if file_format == "CSV":
        rows = csv_rows(download.content)
        assert not is_personal(download.content.decode("utf-8-sig"), surveyed.customers)
    else:
        rows = xlsx_rows(download.content)
        book = load_workbook(io.BytesIO(download.content))
        assert book.sheetnames == ["answers", "questions"]
        cells = " ".join(
            str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row
        )
        assert not is_personal(cells, surveyed.customers)

    chen_rows = [r for r in rows if r["invitation"] != str(surveyed.invitations[2].id)]
    assert chen_rows[0]["customer"] == chen_rows[1]["customer"]  # stable pseudonym
    assert rows[2]["customer"] != rows[0]["customer"]
    answered = next(r for r in rows if r["answered_on"])
    assert answered["q1"] == "4" and answered["channel"] == "APP"
    assert answered["q5"].startswith("'=HYPERLINK")  # text, not a formula, in Excel
    assert answered["q5"].count("***") == 2
    # The survey company reached the second invitation, not the third.
    second = next(r for r in rows if r["invitation"] == str(surveyed.invitations[1].id))
    second.update({"q1": "5", "q2": "10", "q3": "fast", "q4": "staff|online", "q5": "谢谢=好"})
    returned = to_csv(rows) if file_format == "CSV" else to_xlsx(rows)

    result = await upload(client, surveyed.supervisor, f"back.{file_format}", returned)
    assert result == {"imported": 1, "unchanged": 1, "skipped": 1, "errors": []}
    stored = await SurveyResponse.get(invitation_id=surveyed.invitations[1].id)
    assert stored.channel == "THIRD_PARTY"
    assert stored.answers == {
        "q1": 5,
        "q2": 10,
        "q3": "fast",
        "q4": ["staff", "online"],
        "q5": "谢谢=好",
    }
    by_channel = await surveys.figures(surveys.FigureGroup.CHANNEL, "2000-01-01", "2999-12-31")
    assert {f.key: f.responses for f in by_channel} == {"APP": 1, "THIRD_PARTY": 1}

    again = await upload(client, surveyed.supervisor, f"again.{file_format}", returned)
    assert again == {"imported": 0, "unchanged": 2, "skipped": 1, "errors": []}


async def test_a_file_with_one_bad_row_changes_nothing(
    client: httpx.AsyncClient, surveyed: Surveyed
) -> None:
    rows = csv_rows(
        (
            await client.get((await export(client, surveyed.supervisor, "CSV"))["downloadUrl"])
        ).content
    )
    rows[1].update({"q1": "5", "q2": "9", "q3": "ok"})  # fine on its own
    rows[2].update({"q1": "7", "q2": "9", "q3": "ok"})  # a rating of 7 does not exist
    result = await upload(client, surveyed.supervisor, "bad.csv", to_csv(rows))
    assert result["imported"] == 0
    assert [(e["row"], e["column"], e["code"]) for e in result["errors"]] == [
        (4, "q1", "INVALID_ANSWER")
    ]
    assert await SurveyResponse.all().count() == 1

    rows[2].update({"q1": "5", "customer": rows[0]["customer"]})  # someone else's pseudonym
    rows.append(dict(rows[1]))  # and the same invitation twice
    rows.append(dict(rows[1], invitation="not-an-id"))
    rows[0]["q1"] = "1"  # a different answer to one already given in the app
    result = await upload(client, surveyed.supervisor, "bad.csv", to_csv(rows))
    assert [(e["row"], e["code"]) for e in result["errors"]] == [
        (2, "ALREADY_ANSWERED"),
        (4, "CUSTOMER_MISMATCH"),
        (5, "DUPLICATE_ROW"),
        (6, "UNKNOWN_INVITATION"),
    ]
    assert await SurveyResponse.all().count() == 1

    rows[0]["q1"] = "4"  # as answered in the app again
    for bad in ("4.5", "1e400", "nan", "五"):
        rows[1]["q1"] = bad
        result = await upload(client, surveyed.supervisor, "bad.csv", to_csv(rows[:2]))
        assert [(e["row"], e["code"]) for e in result["errors"]] == [(3, "INVALID_ANSWER")], bad
    rows[1].update({"q1": "5", "invitation": rows[1]["invitation"].upper()})
    blank = {k: "" for k in rows[0]}
    result = await upload(client, surveyed.supervisor, "ok.csv", to_csv([rows[0], blank, rows[1]]))
    assert result == {"imported": 1, "unchanged": 1, "skipped": 0, "errors": []}

    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types")
    for name, content, code in [
        ("x.csv", b"\xff\xfe\x00garbage\x00\xff", "UNREADABLE"),
        ("x.xlsx", b"PK\x03\x04not a zip", "UNREADABLE"),
        ("x.xlsx", broken.getvalue(), "UNREADABLE"),
        ("x.csv", b"", "MISSING_COLUMN"),
        ("x.csv", "邀请,客户\r\n1,2\r\n".encode(), "MISSING_COLUMN"),
        ("x.csv", b"invitation,customer\r\n1,2\r\n", "MISSING_COLUMN"),
        ("x.csv", b"invitation,customer,q1\r\n", "UNREADABLE"),
        ("x.csv", b'invitation,customer,q1\r\n"' + b"x" * 200_000 + b"\r\n", "UNREADABLE"),
    ]:
        result = await upload(client, surveyed.supervisor, name, content)
        assert [e["code"] for e in result["errors"]] == [code]


async def test_oversized_files_are_refused_unread(
    client: httpx.AsyncClient, surveyed: Surveyed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exchange, "MAX_UNPACKED_BYTES", 1_000_000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 200_000)  # 1.2 MB unpacked
    assert len(bomb.getvalue()) < 20_000
    result = await upload(client, surveyed.supervisor, "bomb.xlsx", bomb.getvalue())
    assert [e["code"] for e in result["errors"]] == ["TOO_LARGE"]
    monkeypatch.setattr(exchange, "MAX_IMPORT_ROWS", 2)
    rows = "invitation,customer\r\n" + "x,y\r\n" * 3
    result = await upload(client, surveyed.supervisor, "long.csv", rows.encode())
    assert [e["code"] for e in result["errors"]] == ["TOO_LARGE"]
    book = Workbook()
    for _ in range(4):
        book.active.append(["x", "y"])  # type: ignore[union-attr]
    out = io.BytesIO()
    book.save(out)
    result = await upload(client, surveyed.supervisor, "long.xlsx", out.getvalue())
    assert [e["code"] for e in result["errors"]] == ["TOO_LARGE"]


async def test_excel_saved_gb18030_csv_is_read() -> None:
    content = "invitation,customer,q5\r\n,,\r\nabc,C1,'=很好\r\n".encode("gb18030")
    sheet = exchange.read_sheet(content)
    assert sheet.header == ["invitation", "customer", "q5"]
    assert sheet.rows == [(3, {"invitation": "abc", "customer": "C1", "q5": "=很好"})]


async def test_only_staff_with_the_export_permission(
    client: httpx.AsyncClient, services: Services, surveyed: Surveyed
) -> None:
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    body = await gql(
        client,
        EXPORT,
        {
            "input": {
                "templateCode": "CLAIM_SERVICE",
                "firstDay": "2026-01-01",
                "lastDay": "2026-01-02",
                "format": "CSV",
            }
        },
        token=agent,
        allow_errors=True,
    )
    assert body["data"] is None and "errors" in body
    assert await SurveyExport.all().count() == 0
    too_long = await gql(
        client,
        EXPORT,
        {
            "input": {
                "templateCode": "CLAIM_SERVICE",
                "firstDay": "2024-01-01",
                "lastDay": "2026-01-02",
                "format": "CSV",
            }
        },
        token=surveyed.supervisor,
    )
    assert too_long["data"]["exportSurveyResults"]["errors"][0]["code"] == "OUT_OF_RANGE"


async def test_control_characters_and_unknown_surveys(
    client: httpx.AsyncClient, surveyed: Surveyed
) -> None:
    invitation = surveyed.invitations[1]
    await surveys.submit(
        invitation,
        [
            surveys.Answer("q1", 5),
            surveys.Answer("q2", 9),
            surveys.Answer("q3", None, ("ok",)),
            surveys.Answer("q5", text="好\x0b评\x1b"),
        ],
        "APP",
    )
    made = await export(client, surveyed.supervisor, "XLSX")
    rows = xlsx_rows((await client.get(made["downloadUrl"])).content)
    assert next(r for r in rows if r["invitation"] == str(invitation.id))["q5"] == "好评"
    body = await gql(
        client,
        EXPORT,
        {
            "input": {
                "templateCode": "NO_SUCH",
                "firstDay": "2026-01-01",
                "lastDay": "2026-01-02",
                "format": "CSV",
            }
        },
        token=surveyed.supervisor,
    )
    assert body["data"]["exportSurveyResults"]["errors"][0]["code"] == "NOT_FOUND"
    assert await SurveyExport.all().count() == 1


async def test_export_files_are_deleted_after_a_day(
    client: httpx.AsyncClient, services: Services, surveyed: Surveyed
) -> None:
    made = await export(client, surveyed.supervisor, "XLSX")
    [record] = await SurveyExport.all()
    assert record.rows == 3 and await services.storage.exists(record.storage_key)
    assert await exchange.delete_old_exports(services.storage) == 0
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert await exchange.delete_old_exports(services.storage, later) == 1
    assert not await services.storage.exists(record.storage_key)
    assert (await client.get(made["downloadUrl"])).status_code == 404
    assert await exchange.delete_old_exports(services.storage, later) == 0
    assert await SurveyInvitation.all().count() == 3  # only the file goes


async def test_versions_with_other_questions_share_one_export(
    services: Services, surveyed: Surveyed
) -> None:
    """Version 2 turns q1 into a text question and adds q9: one column each, every
    answer read with its own version's kind."""
    await surveys.new_template_version(
        "CLAIM_SERVICE",
        "理赔服务调查（新版）",
        [
            {"id": "q1", "kind": "TEXT", "text": "您的感受？", "required": True},
            {"id": "q9", "kind": "NPS", "text": "推荐意愿？", "required": True},
        ],
    )
    newcomer = await make_customer(services)
    async with in_transaction():
        made = await surveys.invite(newcomer.id, "claim.closed", "claim", "v2", "CLAIM_SERVICE")
    assert made is not None
    await surveys.submit(made, [surveys.Answer("q1", text="挺好"), surveys.Answer("q9", 10)], "APP")
    day = surveys.period_keys(datetime.now(UTC))["day"]
    table = await exchange.export_table(b"k" * 32, "CLAIM_SERVICE", day, day)
    assert table.columns[len(exchange.FIXED_COLUMNS) :] == ["q1", "q9", "q2", "q3", "q4", "q5"]
    answered = [dict(zip(table.columns, row, strict=True)) for row in table.rows if row[7]]
    rows = {row["version"]: row for row in answered}
    assert (rows[1]["q1"], rows[1]["q9"]) == (4, "")
    assert (rows[2]["q1"], rows[2]["q9"], rows[2]["q2"]) == ("挺好", 10, "")
