"""The operations console for managers: ``/console/`` (a static page that logs staff in
with ``staffLogin`` and reads ``serviceDashboard`` from ``/graphql`` with the staff
token, drawing with the vendored Apache ECharts) and ``GET /console/export``, any
dashboard figure as CSV or XLSX for the same token.

The page is served with a Content-Security-Policy that allows this origin only: the
browser itself refuses any script, style, image or request from elsewhere (no CDN).
The export takes the token in the ``Authorization`` header (the page fetches the file
and saves it), never in the URL, where access logs would keep it."""

from __future__ import annotations

import logging
from datetime import date
from http import HTTPStatus
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from api.graphql_view import bearer_token
from api.services import Services
from workflows import analytics
from workflows.access import ANONYMOUS, Permission
from workflows.analytics import tables
from workflows.auth import authenticate
from workflows.limits import wait_text

log = logging.getLogger("anxin.console")

CONSOLE_DIR = Path(__file__).parent / "static" / "console"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
E = analytics.AnalyticsErrorCode


class ConsoleFiles:
    """The page's files (``index.html`` at ``/console/``) with the console's CSP."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=CONSOLE_DIR, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CSP.encode()),
                    (b"cache-control", b"no-cache"),
                ]
            await send(message)

        await self.files(scope, receive, with_policy)


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"field": field, "message": message, "code": code}]}, status_code=status
    )


def _day(request: Request, name: str) -> date | None:
    try:
        return date.fromisoformat(request.query_params.get(name, "")[:10])
    except ValueError:
        return None


async def export_figure(request: Request) -> Response:
    """``?figure=funnel&format=csv|xlsx&period=DAY|WEEK|MONTH&from=YYYY-MM-DD&to=...``"""
    services: Services = request.app.state.services
    token = bearer_token(request.headers.get("authorization"))
    actor = await authenticate(services, token) if token else ANONYMOUS
    if actor.kind is None:
        return _error(HTTPStatus.UNAUTHORIZED, "UNAUTHENTICATED", "请先登录")
    if not actor.can(Permission.ANALYTICS_READ):
        return _error(HTTPStatus.FORBIDDEN, E.NOT_ALLOWED, "导出运营数据需要数据分析权限")
    rate = services.settings.limit_dashboard_exports_per_staff
    decision = await services.limiter.hit("dashboard_export", str(actor.subject_id), rate)
    if not decision.allowed:
        wait = decision.retry_after
        return JSONResponse(
            {
                "errors": [
                    {
                        "field": None,
                        "message": f"导出过于频繁，请{wait_text(wait)}后再试",
                        "code": "THROTTLED",
                        "retryAfterSeconds": wait,
                    }
                ]
            },
            status_code=HTTPStatus.TOO_MANY_REQUESTS,
            headers={"retry-after": str(wait)},
        )
    params = request.query_params
    figure, kind = params.get("figure", "")[:40], params.get("format", "csv")
    if kind not in FORMATS:
        return _error(HTTPStatus.BAD_REQUEST, E.UNKNOWN_FIGURE, "格式只能是 csv 或 xlsx", "format")
    if figure not in tables.FIGURES:
        return _error(HTTPStatus.BAD_REQUEST, E.UNKNOWN_FIGURE, "没有这项数据", "figure")
    try:
        period = analytics.Period(params.get("period", "MONTH"))
    except ValueError:
        return _error(
            HTTPStatus.BAD_REQUEST, E.INVALID_RANGE, "周期只能是 DAY、WEEK 或 MONTH", "period"
        )
    first, last = _day(request, "from"), _day(request, "to")
    if first is None or last is None:
        return _error(HTTPStatus.BAD_REQUEST, E.INVALID_RANGE, "请给出开始和结束日期", "from")
    try:
        board = await analytics.service_dashboard(actor, period, first, last)
    except analytics.AnalyticsError as error:
        status = HTTPStatus.FORBIDDEN if error.code is E.NOT_ALLOWED else HTTPStatus.BAD_REQUEST
        return _error(status, error.code, error.message, error.field)
    table = tables.table(board, figure)
    body = tables.to_csv(table) if kind == "csv" else tables.to_xlsx(table)
    log.info(
        "dashboard export",
        extra={"staff_id": str(actor.subject_id), "figure": figure, "format": kind},
    )
    name = f"anxin-{figure}-{period.value.lower()}-{first}-{last}.{kind}"
    return Response(
        body,
        media_type=FORMATS[kind],
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )
