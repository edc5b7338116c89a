"""Documents as PDF pages, with ReportLab and its built-in CJK font (``STSong-Light``, a
CID font every PDF reader has: no font file is shipped or embedded).

A document is a ``Sheet`` of plain values — a title, label/value lines, tables and
paragraphs — so every kind (e-policy, receipt, settlement notice, statement, 批单) is
drawn by the same code and the same data always makes the same bytes (ReportLab's
``invariant`` mode: no creation time or random ID in the file). Each page carries the
document number, and the first a QR code that opens the verification page.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
ISSUER = "安心财产保险股份有限公司"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=24, alignment=1)
_HEADING = ParagraphStyle("heading", fontName=FONT, fontSize=12, leading=18, spaceBefore=6)
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=14)
_SMALL = ParagraphStyle("small", fontName=FONT, fontSize=8, leading=11, textColor=colors.grey)


@dataclass(frozen=True)
class SheetTable:
    heading: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Sheet:
    """What a document says. ``number`` and ``issued_on`` are filled when it is issued;
    the rest is its content (``content_digest``)."""

    title: str
    lines: list[tuple[str, str]]
    tables: list[SheetTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def content_digest(sheet: Sheet) -> str:
    """SHA-256 of what the sheet says: equal for equal content, whenever it is issued."""
    text = json.dumps(asdict(sheet), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def verification_code(digest: str, number: str) -> str:
    """The code printed on a document and in its QR: its content and its number."""
    return hashlib.sha256(f"{number}:{digest}".encode()).hexdigest()


def _p(text: str, style: ParagraphStyle = _BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _qr(url: str, size: float = 30 * mm) -> Drawing:
    widget = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def render(sheet: Sheet, *, number: str, issued_on: str, code: str, verify_url: str) -> bytes:
    """The sheet as PDF bytes (A4); the same arguments always give the same bytes."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        invariant=True,
        title=f"{sheet.title} {number}",
        author=ISSUER,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
    )
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.95, 0.98)),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
    )
    head = Table(
        [
            [
                [
                    _p(ISSUER, _HEADING),
                    _p(sheet.title, _TITLE),
                    _p(f"单证号码：{number}"),
                    _p(f"签发日期：{issued_on}"),
                ],
                _qr(verify_url),
            ]
        ],
        colWidths=[document.width - 34 * mm, 34 * mm],
    )
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story: list[object] = [head, Spacer(1, 4 * mm)]
    facts = Table(
        [[_p(label), _p(value)] for label, value in sheet.lines],
        colWidths=[36 * mm, document.width - 36 * mm],
    )
    facts.setStyle(grid)
    story.append(facts)
    for table in sheet.tables:
        story.append(_p(table.heading, _HEADING))
        rows = [[_p(cell) for cell in table.header]]
        rows.extend([_p(cell) for cell in row] for row in table.rows)
        if not table.rows:
            rows.append([_p("无")] + [_p("") for _ in table.header[1:]])
        grid_table = Table(rows, repeatRows=1)
        grid_table.setStyle(grid)
        story.append(grid_table)
    if sheet.notes:
        story.append(_p("说明", _HEADING))
        story.extend(_p(note) for note in sheet.notes)
    story.append(Spacer(1, 6 * mm))
    story.append(
        _p(
            f"本单证由{ISSUER}以电子方式签发，与纸质单证具有同等效力。"
            f"验真：扫描右上角二维码，或访问 {verify_url}",
            _SMALL,
        )
    )
    story.append(_p(f"验真码：{code}", _SMALL))

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(18 * mm, 10 * mm, f"{sheet.title}  {number}")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
