"""``POST /uploads/claim-documents``: one claim file as the WeChat mini-program sends it.

``wx.uploadFile`` sends one file as ``multipart/form-data`` with flat string fields and
cannot build a GraphQL multipart request (``operations``/``map``). This route takes its
form as it is — ``claimId`` (the claim's global ID), ``checklistCode`` and the file in
the field ``file`` — with the same Bearer token as ``/graphql``, and hands it to the
very workflow ``uploadClaimDocuments`` uses: the same access rules (the claimant, or
staff with CLAIM_REPORT), the same limits (size, pixels, type by magic bytes), the same
re-encoding, reused-photo signal and checklist. It answers JSON: the claim and the new
document, or ``errors: [{field, message, code}]`` with the codes of ``ClaimErrorCode``
and an HTTP status that says the same (401, 403, 404, 409, 413, 429 or 400).

A form posted by a hostile page cannot carry an ``Authorization`` header, so requiring
the Bearer token here does what the preflight header does for ``/graphql``."""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry import relay

from api.graphql_view import bearer_token
from api.services import Services
from schema.common import NOTHING, node_uuid
from storage.base import StorageError
from workflows import claim_documents
from workflows.access import ANONYMOUS, Actor
from workflows.auth import authenticate
from workflows.claims import ClaimError, ClaimErrorCode
from workflows.limits import wait_text

log = logging.getLogger("anxin.uploads")

UPLOAD_PATH = "/uploads/claim-documents"
FILE_FIELD = "file"
MAX_FORM_FIELDS = 10  # claimId, checklistCode and a few a client may add
MAX_FIELD_CHARS = 200

# The workflow names the fields of a GraphQL input; the form has three flat fields.
_FIELDS = {
    "files": FILE_FIELD,
    "files.0.file": FILE_FIELD,
    "files.0.checklistCode": "checklistCode",
}
_STATUS = {
    ClaimErrorCode.CLAIM_NOT_FOUND: HTTPStatus.NOT_FOUND,
    ClaimErrorCode.NOT_ALLOWED: HTTPStatus.FORBIDDEN,
    ClaimErrorCode.ILLEGAL_TRANSITION: HTTPStatus.CONFLICT,
}


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    retry_after: int | None = None,
) -> JSONResponse:
    error: dict[str, object] = {"field": field, "message": message, "code": code}
    headers = {}
    if retry_after is not None:
        error["retryAfterSeconds"] = retry_after
        headers["retry-after"] = str(retry_after)
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def _claim_id(value: str) -> uuid.UUID:
    """The claim behind a global ID; anything else answers as a missing claim."""
    try:
        return node_uuid(relay.GlobalID.from_id(value), "Claim")
    except ValueError:  # not base64, not TYPE:ID (GlobalIDValueError)
        return NOTHING


async def upload_claim_document(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    token = bearer_token(request.headers.get("authorization"))
    actor = await authenticate(services, token) if token else ANONYMOUS
    if actor.kind is None:
        return _error(HTTPStatus.UNAUTHORIZED, "UNAUTHENTICATED", "请先登录")
    rate = services.settings.limit_uploads_per_account
    decision = await services.limiter.hit("claim_upload", str(actor.subject_id), rate)
    if not decision.allowed:
        wait = decision.retry_after
        return _error(
            HTTPStatus.TOO_MANY_REQUESTS,
            "THROTTLED",
            f"上传过于频繁，请{wait_text(wait)}后再试",
            retry_after=wait,
        )
    try:
        async with request.form(
            max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_CHARS * 4
        ) as form:
            return await _attach(services, actor, form)
    except HTTPException as refused:  # Starlette's: a malformed or oversized form
        return _error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", f"上传格式有误：{refused.detail}")


async def _attach(services: Services, actor: Actor, form: FormData) -> JSONResponse:
    file = form.get(FILE_FIELD)
    if not isinstance(file, UploadFile):
        return _error(HTTPStatus.BAD_REQUEST, "REQUIRED", "请选择要上传的文件", FILE_FIELD)
    upload = claim_documents.Upload(
        checklist_code=_text(form, "checklistCode"),
        file_name=file.filename or "file",
        source=file,
    )
    try:
        added = await claim_documents.attach_documents(
            services.document_intake, actor, _claim_id(_text(form, "claimId")), [upload]
        )
    except ClaimError as error:
        status = _STATUS.get(ClaimErrorCode(error.code), HTTPStatus.BAD_REQUEST)
        field = _FIELDS.get(error.field or "", error.field)
        return _error(status, str(error.code), error.message, field)
    except StorageError:
        log.exception("storing an uploaded claim document failed")
        return _error(
            HTTPStatus.SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", "文件服务暂时不可用，请稍后重试"
        )
    claim, document = added.claim, added.documents[0]
    return JSONResponse(
        {
            "claim": {"id": str(relay.GlobalID("Claim", str(claim.id))), "status": claim.status},
            "document": {
                "id": str(relay.GlobalID("ClaimDocument", str(document.id))),
                "checklistCode": document.checklist_code,
                "fileName": document.file_name,
                "contentType": document.content_type,
                "size": document.size,
            },
            "errors": [],
        }
    )
