"""The third-party survey files in GraphQL: staff export a pseudonymised file and get a
short-lived download link, and import the company's answers as a multipart upload."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from models.clock import local_time
from schema.errors import payload_errors
from schema.permissions import staff_only
from schema.surveys import SurveyError
from workflows import survey_exchange as exchange
from workflows.access import Permission
from workflows.surveys import SurveyError as SurveyFailure
from workflows.surveys import SurveyErrorCode

log = logging.getLogger("anxin.security")
MAX_EXPORT_DAYS = 366

strawberry.enum(exchange.ExportFormat, description="The file format of a survey export.")
strawberry.enum(exchange.ImportErrorCode, description="Why a survey import was refused.")


@strawberry.input(description="Staff: which survey answers to export for the survey company.")
class ExportSurveyResultsInput:
    template_code: str = strawberry.field(description="The survey, e.g. `CLAIM_SERVICE`.")
    first_day: date = strawberry.field(description="Invitations from this day (Asia/Shanghai).")
    last_day: date = strawberry.field(description="To this day, inclusive (at most 366 days).")
    format: exchange.ExportFormat = strawberry.field(description="CSV or XLSX.")


@strawberry.type(description="A pseudonymised export, ready to download for a short while.")
class ExportSurveyResultsPayload:
    download_url: str | None = strawberry.field(description="A signed, short-lived link.")
    file_name: str | None = strawberry.field(description="The file's name.")
    rows: int | None = strawberry.field(description="Invitations in the file.")
    expires_at: datetime | None = strawberry.field(description="When the link stops working.")
    errors: list[SurveyError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Staff: the survey company's file with the answers it collected.")
class ImportSurveyResultsInput:
    file: Upload = strawberry.field(
        description="The exported CSV or XLSX with answers filled in (multipart upload)."
    )


@strawberry.type(description="A row of an import that was refused, and why.")
class SurveyImportError:
    row: int = strawberry.field(description="The row as the spreadsheet numbers it (header 1).")
    column: str | None = strawberry.field(description="The column, when one is to blame.")
    code: exchange.ImportErrorCode = strawberry.field(description="Stable code for programs.")
    message: str = strawberry.field(description="What is wrong, in Chinese.")


@strawberry.type(description="The result of an import: all rows recorded, or none.")
class ImportSurveyResultsPayload:
    imported: int = strawberry.field(description="Answers recorded now.")
    unchanged: int = strawberry.field(description="Rows recorded before with the same answers.")
    skipped: int = strawberry.field(description="Rows without answers (customer not reached).")
    errors: list[SurveyImportError] = strawberry.field(
        description="Empty on success; otherwise nothing was recorded."
    )


@strawberry.type
class SurveyExchangeMutations:
    @strawberry.mutation(
        description="Staff (SURVEY_EXPORT): export a survey's invitations and answers for the "
        "third-party survey company: customers as pseudonyms, no phone, ID or e-mail. The "
        "link works for a few minutes, the file is deleted after a day.",
        permission_classes=staff_only(Permission.SURVEY_EXPORT),
    )
    async def export_survey_results(
        self,
        info: Info,
        input: Annotated[
            ExportSurveyResultsInput,
            strawberry.argument(
                description="Which survey, which days of invitations, and the file format."
            ),
        ],
    ) -> ExportSurveyResultsPayload:
        services = info.context.services
        try:
            if not 0 <= (input.last_day - input.first_day).days < MAX_EXPORT_DAYS:
                raise SurveyFailure(
                    SurveyErrorCode.OUT_OF_RANGE, "导出区间须在一年以内且起止有序", "lastDay"
                )
            export = await exchange.export_file(
                services.storage,
                services.settings.survey_pseudonym_key,
                info.context.actor.subject_id,
                input.template_code,
                input.first_day,
                input.last_day,
                input.format,
            )
        except SurveyFailure as error:
            return ExportSurveyResultsPayload(
                download_url=None,
                file_name=None,
                rows=None,
                expires_at=None,
                errors=payload_errors(error, SurveyError),
            )
        ttl = services.settings.signed_url_ttl_seconds
        return ExportSurveyResultsPayload(
            download_url=services.storage.signed_url(
                export.storage_key, expires_in=ttl, filename=export.file_name
            ),
            file_name=export.file_name,
            rows=export.rows,
            expires_at=local_time(datetime.now(UTC) + timedelta(seconds=ttl)),
            errors=[],
        )

    @strawberry.mutation(
        description="Staff (SURVEY_EXPORT): import the survey company's answers, mapped back "
        "by invitation and pseudonym. Every row is checked first: one bad row and nothing "
        "is recorded. Importing the same file twice changes nothing.",
        permission_classes=staff_only(Permission.SURVEY_EXPORT),
    )
    async def import_survey_results(
        self,
        info: Info,
        input: Annotated[
            ImportSurveyResultsInput,
            strawberry.argument(
                description="The survey company's filled-in file (a multipart upload)."
            ),
        ],
    ) -> ImportSurveyResultsPayload:
        upload: UploadFile = input.file  # type: ignore[assignment]  # what Starlette passes
        content = await upload.read(exchange.MAX_IMPORT_BYTES + 1)
        result = await exchange.import_results(
            info.context.services.settings.survey_pseudonym_key, content
        )
        log.info(
            "survey import by staff %s: %d imported, %d refused rows",
            info.context.actor.subject_id,
            result.imported,
            len(result.errors),
        )
        return ImportSurveyResultsPayload(
            imported=result.imported,
            unchanged=result.unchanged,
            skipped=result.skipped,
            errors=[
                SurveyImportError(row=e.row, column=e.column, code=e.code, message=e.message)
                for e in result.errors
            ],
        )
