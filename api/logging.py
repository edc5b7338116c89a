"""Logging set-up, with a formatter that redacts personal data and secrets that slipped
into a log line anyway (tracebacks included): mobile numbers, ID numbers, bearer tokens,
JWTs and secret query parameters, also when URL-encoded."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTIONS = [
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"), "[jwt]"),
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1[token]"),
    (re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)"), r"\1********\2"),
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
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


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
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
