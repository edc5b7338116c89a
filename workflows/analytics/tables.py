"""Any dashboard figure as a table (a title, column headers, rows of plain values) for
the CSV and XLSX exports: the same numbers the page draws, with the counts behind
every rate as their own columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from workflows.analytics.dashboard import Dashboard
from workflows.analytics.rules import AnalyticsError, AnalyticsErrorCode, Durations, Ratio

Cell = str | int | Decimal | None


@dataclass(frozen=True)
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]]


def _ratio(r: Ratio) -> list[Cell]:
    return [r.count, r.total, r.rate]


def _durations(d: Durations) -> list[Cell]:
    return [d.count, d.median_hours, d.p90_hours]


def _funnel(b: Dashboard) -> Table:
    steps = ["reported", "complete", "decided", "paid"]
    spans = [
        f"{s}_{x}"
        for s in ("to_complete", "to_decision", "to_payment")
        for x in ("count", "median_hours", "p90_hours")
    ]
    return Table(
        "理赔漏斗 Claims funnel",
        ["period", "segment", *steps, "complete_rate", "decided_rate", "paid_rate", *spans],
        [
            [
                f.key,
                f.segment,
                f.reported,
                f.complete,
                f.decided,
                f.paid,
                f.complete_ratio.rate,
                f.decided_ratio.rate,
                f.paid_ratio.rate,
                *_durations(f.to_complete),
                *_durations(f.to_decision),
                *_durations(f.to_payment),
            ]
            for f in b.funnel
        ],
    )


def _breaches(b: Dashboard) -> Table:
    return Table(
        "时效超限 Clock breaches",
        [
            "period",
            "decision_breached",
            "decision_due",
            "decision_rate",
            "payment_breached",
            "payment_due",
            "payment_rate",
        ],
        [[x.key, *_ratio(x.decision), *_ratio(x.payment)] for x in b.breaches],
    )


def _payouts(b: Dashboard) -> Table:
    return Table(
        "赔款 Payouts by loss type",
        ["period", "loss_type", "count", "total", "average"],
        [[x.key, x.loss_type, x.count, x.total, x.average] for x in b.payouts],
    )


def _collection(b: Dashboard) -> Table:
    return Table(
        "保费收取 Premium collection",
        [
            "period",
            "due",
            "due_amount",
            "paid_on_time",
            "on_time_rate",
            "paid_late",
            "overdue",
            "overdue_amount",
            "lapsed",
            "grace_ended",
            "lapse_rate",
        ],
        [
            [
                x.key,
                x.due,
                x.due_amount,
                x.paid_on_time.count,
                x.paid_on_time.rate,
                x.paid_late,
                x.overdue,
                x.overdue_amount,
                *_ratio(x.lapsed),
            ]
            for x in b.collection
        ],
    )


def _deliveries(b: Dashboard) -> Table:
    return Table(
        "通知送达 Notification deliveries",
        ["period", "channel", "total", "sent", "failed", "skipped", "pending", "delivered_rate"],
        [
            [x.key, x.channel, x.total, x.sent, x.failed, x.skipped, x.pending, x.delivered.rate]
            for x in b.deliveries
        ],
    )


def _surveys(b: Dashboard) -> Table:
    return Table(
        "满意度 CSAT / NPS",
        [
            "period",
            "invitations",
            "responses",
            "satisfied",
            "ratings",
            "csat",
            "nps_answers",
            "promoters",
            "detractors",
            "nps",
        ],
        [
            [
                x.key,
                x.invitations,
                x.responses,
                *_ratio(x.csat),
                x.nps_answers,
                x.promoters,
                x.detractors,
                x.nps,
            ]
            for x in b.surveys
        ],
    )


def _complaints(b: Dashboard) -> Table:
    return Table(
        "投诉 Complaints",
        [
            "period",
            "received",
            "answered",
            "answer_median_hours",
            "answer_p90_hours",
            "answer_late",
            "answer_due",
            "answer_late_rate",
            "reopened",
            "answered_total",
            "reopen_rate",
            "satisfied",
            "ratings",
            "satisfied_rate",
        ],
        [
            [
                x.key,
                x.received,
                *_durations(x.answer),
                *_ratio(x.answer_late),
                *_ratio(x.reopened),
                *_ratio(x.satisfied),
            ]
            for x in b.complaints
        ],
    )


def _root_causes(b: Dashboard) -> Table:
    return Table(
        "投诉根因 Top root causes",
        ["category", "name", "count", "total"],
        [[x.category, x.name, x.count, x.total] for x in b.root_causes],
    )


def _conversations(b: Dashboard) -> Table:
    return Table(
        "在线服务 Conversations",
        [
            "period",
            "started",
            "handed_off",
            "handed_off_rate",
            "answered_by_agent",
            "wait_count",
            "wait_median_hours",
            "wait_p90_hours",
        ],
        [
            [
                x.key,
                x.started,
                x.handed_off.count,
                x.handed_off.rate,
                x.answered_by_agent,
                *_durations(x.wait),
            ]
            for x in b.conversations
        ],
    )


def _workload(b: Dashboard) -> Table:
    return Table(
        "团队工作量 Team workload",
        [
            "staff",
            "team",
            "claims",
            "claims_overdue",
            "complaints",
            "visits",
            "conversations",
            "total",
        ],
        [
            [
                x.display_name,
                x.team,
                x.claims,
                x.claims_overdue,
                x.complaints,
                x.visits,
                x.conversations,
                x.total,
            ]
            for x in b.workload
        ],
    )


FIGURES: dict[str, Callable[[Dashboard], Table]] = {
    "funnel": _funnel,
    "breaches": _breaches,
    "payouts": _payouts,
    "collection": _collection,
    "deliveries": _deliveries,
    "surveys": _surveys,
    "complaints": _complaints,
    "root_causes": _root_causes,
    "conversations": _conversations,
    "workload": _workload,
}


def table(board: Dashboard, figure: str) -> Table:
    build = FIGURES.get(figure)
    if build is None:
        raise AnalyticsError(
            AnalyticsErrorCode.UNKNOWN_FIGURE, f"没有这项数据：{figure[:40]}", "figure"
        )
    return build(board)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Cell) -> str | int | float | None:
    """Safe in a spreadsheet: text never starts a formula nor carries control
    characters; money and rates stay numbers (XLSX has no decimal type: a float)."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_csv(t: Table) -> bytes:
    """UTF-8 with a byte-order mark, so Excel in China opens it without garbling;
    decimals written exactly as counted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(t.headers)
    for row in t.rows:
        writer.writerow(
            ["" if v is None else v if isinstance(v, Decimal) else _cell(v) for v in row]
        )
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(t: Table) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("figure")
    sheet.append([t.title])
    sheet.append(t.headers)
    for row in t.rows:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
