"""Exchange with a third-party survey company (第三方满意度调查).

The export holds one row per invitation of one survey in a date range: the invitation's
id, the customer as a pseudonym (a keyed hash the company cannot reverse, the same for
the same customer in every export), what was surveyed and the answers so far. No name,
phone, ID number or e-mail: free-text answers have digit runs and e-mail addresses
blanked, since customers type their phone numbers into comments.

The company sends the file back with the answers it collected. The import checks every
row first (the invitation exists, its customer has that pseudonym, the answers fit the
template version) and then records all rows in one transaction, or none: a file with
one bad row changes nothing and says which row and column. Importing the same file again
changes nothing. Spreadsheet cells that would start a formula (``=``, ``+``, ``-``,
``@``) are written with a leading apostrophe, which the import removes again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import logging
import re
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from anyio import to_thread
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.clock import local_date
from models.surveys import (
    QuestionKind,
    SurveyChannel,
    SurveyExport,
    SurveyInvitation,
    SurveyResponse,
    SurveyTemplate,
)
from storage.base import ObjectStorage
from workflows.batches import fetch_in
from workflows.jobs import MINUTE, Job
from workflows.surveys import (
    Answer,
    SurveyError,
    SurveyErrorCode,
    record,
    validate,
)

log = logging.getLogger("anxin.security")
EXPORT_KEEP = timedelta(days=1)
FIXED_COLUMNS = (
    "invitation",
    "customer",
    "survey",
    "version",
    "trigger",
    "product_kind",
    "invited_on",
    "answered_on",
    "channel",
)
CHOICE_SEPARATOR = "|"
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DIGITS = re.compile(r"\d(?:[\s-]?\d){5,}[\dXx]?")


class ExportFormat(StrEnum):
    CSV = "CSV"
    XLSX = "XLSX"


class ImportErrorCode(StrEnum):
    UNREADABLE = "UNREADABLE"
    TOO_LARGE = "TOO_LARGE"
    MISSING_COLUMN = "MISSING_COLUMN"
    UNKNOWN_INVITATION = "UNKNOWN_INVITATION"
    CUSTOMER_MISMATCH = "CUSTOMER_MISMATCH"
    INVALID_ANSWER = "INVALID_ANSWER"
    ALREADY_ANSWERED = "ALREADY_ANSWERED"
    DUPLICATE_ROW = "DUPLICATE_ROW"
    CONFLICT = "CONFLICT"


class ImportTooLarge(Exception):
    pass


@dataclass(frozen=True)
class RowError:
    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str | None
    code: ImportErrorCode
    message: str


@dataclass
class ImportResult:
    imported: int = 0
    unchanged: int = 0  # answered the same before (e.g. the same file imported twice)
    skipped: int = 0  # rows without answers: the company did not reach the customer
    errors: list[RowError] = field(default_factory=list)


def pseudonym(key: bytes, customer_id: uuid.UUID) -> str:
    """A stable, irreversible name for a customer in third-party files."""
    digest = hmac.new(key, b"survey-pseudonym:" + customer_id.bytes, hashlib.sha256).digest()
    return "C" + base64.b32encode(digest[:15]).decode()


def scrub(text: str) -> str:
    """Free text without e-mail addresses or phone/ID-like digit runs."""
    return _DIGITS.sub("***", _EMAIL.sub("***", text))


def _cell_text(value: str) -> str:
    """Safe in a spreadsheet: no control characters (XLSX refuses them), no formula."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value


def _answer_cell(kind: QuestionKind | None, value: Any) -> str | int:
    if value is None or kind is None:
        return ""
    if kind in (QuestionKind.RATING, QuestionKind.NPS):
        return int(value)
    if kind is QuestionKind.MULTIPLE_CHOICE:
        return CHOICE_SEPARATOR.join(value)
    if kind is QuestionKind.TEXT:
        return _cell_text(scrub(str(value)))
    return _cell_text(str(value))


@dataclass(frozen=True)
class ExportTable:
    columns: list[str]
    rows: list[list[str | int]]
    questions: list[tuple[int, dict[str, Any]]]  # (version, question) for the legend


async def export_table(key: bytes, code: str, first_day: str, last_day: str) -> ExportTable:
    """Invitations of survey ``code`` made between the two days (Asia/Shanghai)."""
    templates = {t.id: t for t in await SurveyTemplate.filter(code=code).order_by("version")}
    if not templates:
        raise SurveyError(SurveyErrorCode.NOT_FOUND, "未找到该问卷", "templateCode")
    invitations = await SurveyInvitation.filter(
        template_id__in=list(templates), day__gte=first_day, day__lte=last_day
    ).order_by("day", "created_at")
    responses = {
        r.invitation_id: r
        for r in await fetch_in(SurveyResponse, "invitation_id", [i.id for i in invitations])
    }
    # A column per question id of any version (newest first); each answer is read with
    # the kind its own version gave that question.
    kinds = {
        t.id: {q["id"]: QuestionKind(q["kind"]) for q in t.questions} for t in templates.values()
    }
    legend: list[tuple[int, dict[str, Any]]] = []
    question_ids: list[str] = []
    for template in sorted(templates.values(), key=lambda t: -t.version):
        for question in template.questions:
            legend.append((template.version, question))
            if question["id"] not in question_ids:
                question_ids.append(question["id"])
    rows: list[list[str | int]] = []
    for invitation in invitations:
        template = templates[invitation.template_id]
        response = responses.get(invitation.id)
        answers = response.answers if response else {}
        rows.append(
            [
                str(invitation.id),
                pseudonym(key, invitation.customer_id),
                template.code,
                template.version,
                invitation.trigger,
                invitation.product_kind or "",
                invitation.day,
                local_date(invitation.answered_at).isoformat() if invitation.answered_at else "",
                response.channel if response else "",
                *(_answer_cell(kinds[template.id].get(q), answers.get(q)) for q in question_ids),
            ]
        )
    return ExportTable([*FIXED_COLUMNS, *question_ids], rows, legend)


def to_csv(table: ExportTable) -> bytes:
    """UTF-8 with a byte-order mark, so Excel in China opens it without garbling."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: ExportTable) -> bytes:
    """Answers on the first sheet, what each question id means on the second."""
    book = Workbook(write_only=True)
    answers = book.create_sheet("answers")
    answers.append(table.columns)
    for row in table.rows:
        answers.append(row)
    legend = book.create_sheet("questions")
    legend.append(["version", "question", "kind", "text", "options"])
    for version, question in table.questions:
        options = CHOICE_SEPARATOR.join(
            f"{o['id']}={o['text']}" for o in question.get("options", [])
        )
        legend.append([version, question["id"], question["kind"], question["text"], options])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Sheet:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number as the spreadsheet shows it, cells)


def read_sheet(content: bytes) -> Sheet:
    """A CSV (UTF-8, or GB18030 as Excel saves it in China) or XLSX file as its header
    and non-blank rows; ImportTooLarge past the limits, another exception for a file
    that is not one of them (the caller treats any as unreadable)."""
    if content.startswith(b"PK\x03\x04"):
        return _as_sheet(_xlsx_records(content))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("gb18030")
    records = list(csv.reader(io.StringIO(text)))
    if len(records) > MAX_IMPORT_ROWS + 1:
        raise ImportTooLarge(f"more than {MAX_IMPORT_ROWS} rows")
    return _as_sheet(records)


def _xlsx_records(content: bytes) -> list[list[str]]:
    """Rows of the first (or ``answers``) sheet; a workbook that would unpack to more
    than ``MAX_UNPACKED_BYTES`` (a zip bomb) or hold too many rows is refused unread."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        if sum(item.file_size for item in archive.infolist()) > MAX_UNPACKED_BYTES:
            raise ImportTooLarge("the workbook unpacks to too much data")
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        sheet = book["answers"] if "answers" in book.sheetnames else book.worksheets[0]
        records: list[list[str]] = []
        for row in sheet.iter_rows(values_only=True):
            if len(records) > MAX_IMPORT_ROWS:  # the header and MAX_IMPORT_ROWS rows
                raise ImportTooLarge(f"more than {MAX_IMPORT_ROWS} rows")
            records.append(["" if cell is None else str(cell) for cell in row])
        return records
    finally:
        book.close()


def _as_sheet(records: list[list[str]]) -> Sheet:
    if not records:
        return Sheet([], [])
    header = [h.strip() for h in records[0]]
    rows = []
    for number, line in enumerate(records[1:], start=2):
        cells = {name: _uncell(value.strip()) for name, value in zip(header, line, strict=False)}
        if any(cells.values()):  # Excel keeps formatted empty rows
            rows.append((number, cells))
    return Sheet(header, rows)


def _answers_of(row: dict[str, str], questions: list[dict[str, Any]]) -> list[Answer]:
    answers = []
    for question in questions:
        raw = row.get(question["id"], "").strip()
        if not raw:
            continue
        kind = QuestionKind(question["kind"])
        if kind in (QuestionKind.RATING, QuestionKind.NPS):
            try:
                value = float(raw)  # Excel may turn 4 into "4.0"
                if not value.is_integer():
                    raise ValueError(raw)
                number = int(value)
            except (ValueError, OverflowError) as error:
                raise SurveyError(
                    SurveyErrorCode.OUT_OF_RANGE, "分数须为整数", question["id"]
                ) from error
            answers.append(Answer(question["id"], number=number))
        elif kind is QuestionKind.TEXT:
            answers.append(Answer(question["id"], text=raw))
        else:
            choices = tuple(c.strip() for c in raw.split(CHOICE_SEPARATOR) if c.strip())
            answers.append(Answer(question["id"], choice_ids=choices))
    return answers


async def import_results(key: bytes, content: bytes) -> ImportResult:
    """Check every row, then record all answered rows in one transaction, or none."""
    result = ImportResult()
    if len(content) > MAX_IMPORT_BYTES:
        return _failed(result, ImportErrorCode.TOO_LARGE, "文件不能超过10MB")
    try:
        sheet = await to_thread.run_sync(read_sheet, content)  # parsing is CPU-bound
    except ImportTooLarge:
        return _failed(result, ImportErrorCode.TOO_LARGE, f"每次最多导入{MAX_IMPORT_ROWS}行")
    except Exception as error:  # whatever a malformed file makes a parser raise
        log.info("survey import: unreadable file (%s)", type(error).__name__)
        return _failed(result, ImportErrorCode.UNREADABLE, "请上传导出的CSV或XLSX文件")
    for column in ("invitation", "customer"):
        if column not in sheet.header:
            return _failed(result, ImportErrorCode.MISSING_COLUMN, "缺少该列", column)
    if not set(sheet.header) - set(FIXED_COLUMNS):
        return _failed(result, ImportErrorCode.MISSING_COLUMN, "没有答案列（问题编号）")
    if not sheet.rows:
        return _failed(result, ImportErrorCode.UNREADABLE, "文件中没有数据行")
    invitations = await _invitations(row for _, row in sheet.rows)
    responses = {
        r.invitation_id: r
        for r in await fetch_in(
            SurveyResponse, "invitation_id", [i.id for i in invitations.values()]
        )
    }
    templates = {
        t.id: t
        for t in await SurveyTemplate.filter(id__in={i.template_id for i in invitations.values()})
    }
    to_record: list[tuple[SurveyInvitation, SurveyTemplate, dict[str, Any]]] = []
    seen: set[uuid.UUID] = set()
    for number, row in sheet.rows:
        invitation_id = _uuid(row.get("invitation", ""))
        invitation = invitations.get(invitation_id) if invitation_id else None
        if invitation is None:
            result.errors.append(
                RowError(number, "invitation", ImportErrorCode.UNKNOWN_INVITATION, "未找到该邀请")
            )
            continue
        if row.get("customer", "").strip() != pseudonym(key, invitation.customer_id):
            result.errors.append(
                RowError(number, "customer", ImportErrorCode.CUSTOMER_MISMATCH, "客户代码不符")
            )
            continue
        if invitation.id in seen:
            result.errors.append(
                RowError(number, "invitation", ImportErrorCode.DUPLICATE_ROW, "该邀请重复出现")
            )
            continue
        seen.add(invitation.id)
        template = templates[invitation.template_id]
        try:
            answers = _answers_of(row, template.questions)
            values = validate(template.questions, answers) if answers else {}
        except SurveyError as error:
            where = (error.field or "").removeprefix("answers.") or None
            result.errors.append(
                RowError(number, where, ImportErrorCode.INVALID_ANSWER, error.message)
            )
            continue
        existing = responses.get(invitation.id)
        if not values:
            result.skipped += 1
        elif existing is None:
            to_record.append((invitation, template, values))
        elif _as_exported(existing.answers, template.questions) == _as_exported(
            values, template.questions
        ):
            result.unchanged += 1
        else:
            result.errors.append(
                RowError(number, None, ImportErrorCode.ALREADY_ANSWERED, "客户已作答，答案不同")
            )
    if result.errors:
        return result
    try:
        async with in_transaction():
            for invitation, template, values in to_record:
                await record(invitation, template, values, SurveyChannel.THIRD_PARTY)
    except IntegrityError:  # answered in the app while importing: nothing was kept
        return _failed(ImportResult(), ImportErrorCode.CONFLICT, "导入期间有客户作答，请重新导入")
    result.imported = len(to_record)
    return result


def _as_exported(values: dict[str, Any], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Answers as the export showed them (texts scrubbed), to recognise a row sent back."""
    texts = {q["id"] for q in questions if q["kind"] == QuestionKind.TEXT}
    return {k: scrub(v) if k in texts else v for k, v in values.items()}


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


async def _invitations(rows: Iterable[dict[str, str]]) -> dict[uuid.UUID, SurveyInvitation]:
    ids = [found for row in rows if (found := _uuid(row.get("invitation", "")))]
    return {i.id: i for i in await fetch_in(SurveyInvitation, "id", list(set(ids)))}


def _failed(
    result: ImportResult, code: ImportErrorCode, message: str, column: str | None = None
) -> ImportResult:
    result.errors.append(RowError(1, column, code, message))
    return result


async def export_file(
    storage: ObjectStorage,
    key: bytes,
    staff_id: uuid.UUID,
    template_code: str,
    first_day: date,
    last_day: date,
    file_format: ExportFormat,
) -> SurveyExport:
    """Write the export to storage and remember who made it (housekeeping deletes it)."""
    code = template_code.strip().upper()
    table = await export_table(key, code, first_day.isoformat(), last_day.isoformat())
    extension = file_format.lower()
    write = to_csv if file_format is ExportFormat.CSV else to_xlsx
    content = await to_thread.run_sync(write, table)  # seconds for a big XLSX: off the loop
    storage_key = f"exports/surveys/{uuid.uuid4()}.{extension}"
    await storage.put(storage_key, _once(content), "")
    log.info("survey export by staff %s: %s, %d rows", staff_id, code, len(table.rows))
    try:
        return await SurveyExport.create(
            staff_id=staff_id,
            template_code=code,
            first_day=first_day.isoformat(),
            last_day=last_day.isoformat(),
            file_format=str(file_format),
            rows=len(table.rows),
            storage_key=storage_key,
            file_name=f"{code}_{first_day:%Y%m%d}-{last_day:%Y%m%d}.{extension}",
        )
    except BaseException:  # no record, so housekeeping would never find the file
        await storage.delete(storage_key)
        raise


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def delete_old_exports(storage: ObjectStorage, now: datetime | None = None) -> int:
    """Housekeeping: export files are deleted a day after they were made."""
    now = now or datetime.now(UTC)
    old = await SurveyExport.filter(deleted_at=None, created_at__lt=now - EXPORT_KEEP)
    for export in old:
        await storage.delete(export.storage_key)
        await SurveyExport.filter(id=export.id).update(deleted_at=now)
    return len(old)


JOBS = (Job("export-files", 5 * MINUTE, lambda deps: delete_old_exports(deps.storage)),)
