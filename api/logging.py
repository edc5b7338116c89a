"""Logging set-up, with a formatter that redacts personal data and secrets that slipped
into a log line anyway (tracebacks included): mobile numbers, ID numbers, bearer tokens,
JWTs and secret query parameters, also when URL-encoded.

Numbers are matched with separators between their digits (spaces, dashes, line breaks:
"138 0000 0003"), and masked in place so the line keeps its shape. A GraphQL error is
printed from a redacted copy of its source: graphql-core cuts a query line longer than
120 characters into 80-column pieces, which split a number or a token across lines
where no pattern could find it after the fact."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from graphql import GraphQLError, Source, print_source_location

from api.shedding import RefusedHandshakeFilter

# Between two digits of a number: nothing, or a few spaces, dashes or line breaks.
_SEP = r"[\s\-]{0,3}"


def _number(first: str, rest: str, count: int, last: str = r"\d") -> re.Pattern[str]:
    """``first``, then ``count`` more digits (``rest``, the final one ``last``), each
    optionally preceded by a separator; never inside a longer number."""
    middle = rf"(?:{_SEP}{rest}){{{count - 1}}}"
    return re.compile(rf"(?<![\d])(?:{first}){middle}{_SEP}{last}(?![\d])")


def _mask(head: int, tail: int) -> Callable[[re.Match[str]], str]:
    """Keep the first ``head`` and last ``tail`` characters of the number, star the
    others, leave the separators where they were."""

    def replace(match: re.Match[str]) -> str:
        text = match.group()
        positions = [i for i, c in enumerate(text) if c.isalnum()]
        hidden = set(positions[head : len(positions) - tail])
        return "".join("*" if i in hidden else c for i, c in enumerate(text))

    return replace


ID_NUMBER = _number(r"\d", r"\d", 17, last=r"[\dXx]")  # 18 characters, the last may be X
MOBILE = _number(r"1" + _SEP + r"[3-9]", r"\d", 9)  # 11 digits: 1[3-9] and 9 more

REDACTIONS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"), "[jwt]"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[token]"),
    (ID_NUMBER, _mask(6, 4)),
    (MOBILE, _mask(3, 4)),
    (
        re.compile(r"(?i)((?:secret|password|js_code|access_token|sign(?:ature)?)=)[^&\s]+"),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    if "%" in text or "+" in text:
        text = unquote_plus(text)
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def graphql_error_text(error: GraphQLError) -> str:
    """What ``str(error)`` prints (message, then an excerpt per location), with the
    source redacted *before* graphql-core wraps its long lines."""
    parts = [error.message]
    source = error.source
    if source is not None and error.locations:
        clean = Source(redact(source.body), source.name, source.location_offset)
        parts += [print_source_location(clean, location) for location in error.locations]
    return "\n\n".join(parts)


def _printable(value: Any) -> Any:
    return graphql_error_text(value) if isinstance(value, GraphQLError) else value


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, GraphQLError) or (
            isinstance(record.args, tuple) and any(isinstance(a, GraphQLError) for a in record.args)
        ):
            # A copy: other handlers of the same record see it unchanged.
            record = logging.makeLogRecord(record.__dict__)
            record.msg = _printable(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_printable(a) for a in record.args)
        return redact(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    """Install the redacting handler once per process (the CLI, each uvicorn worker)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, RedactingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every URL at INFO, query string included (WeChat's appsecret travels there).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    logging.getLogger("hpack").setLevel(logging.WARNING)  # logs HTTP/2 headers: APNs JWTs
    logging.getLogger("uvicorn.error").addFilter(RefusedHandshakeFilter())
